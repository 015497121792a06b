/* Benchmark of the bf16 / int8 linear kernels (lowp.h) against the f32
 * gitci_linear, on the shapes of git-base: wall clock, median of reps, 1 and 2
 * threads. Built by hand (see notes/kernels.md); not a test.
 * BENCH_REPS (default 15), BENCH_THREADS (default "1 2"), BENCH_CPU=1 (one
 * thread, CPU time, best of reps: robust on a busy machine), BENCH_SHAPES=n (first n shapes). */
#include "kernels_registry.h"
#include "kernels.h"
#include "lowp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cpu_time; /* BENCH_CPU=1: this thread's CPU time (1 thread; immune to preemption), best of reps */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    static const int shapes[][3] = {
        {197, 768, 768}, {197, 3072, 768}, {197, 768, 3072}, {1576, 768, 768},
        {1, 768, 768},   {1, 3072, 768},   {1, 768, 3072},   {1, 30522, 768}, {8, 30522, 768},
    };
    cpu_time = getenv("BENCH_CPU") && atoi(getenv("BENCH_CPU"));
    size_t n_shapes = sizeof shapes / sizeof shapes[0];
    if (getenv("BENCH_SHAPES") && (size_t)atoi(getenv("BENCH_SHAPES")) < n_shapes)
        n_shapes = (size_t)atoi(getenv("BENCH_SHAPES"));
    int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 15;
    const char *thr = cpu_time ? "1" : getenv("BENCH_THREADS") ? getenv("BENCH_THREADS") : "1 2";
    int threads[4], n_thr = 0;
    for (const char *p = thr; *p && n_thr < 4;) {
        threads[n_thr++] = atoi(p);
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    printf("kernels: f32 %s, bf16 %s, int8 %s\n", gitci_kernels_default()->f32.name, gitci_kernels_default()->bf16->name,
           gitci_kernels_default()->int8->name);
    printf("%-18s %-4s %3s %9s %9s %9s\n", "M,N,K", "type", "thr", "ms", "GFLOP/s", "GB/s(W)");
    for (size_t s = 0; s < n_shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *wf = malloc((size_t)N * K * sizeof *wf), *x = malloc((size_t)M * K * sizeof *x);
        float *y = malloc((size_t)M * N * sizeof *y), *bias = calloc((size_t)N, sizeof *bias);
        for (size_t i = 0; i < (size_t)N * K; i++)
            wf[i] = (float)((i * 2654435761u) % 1000) * 1e-4f - 0.05f;
        for (size_t i = 0; i < (size_t)M * K; i++)
            x[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
        gitc_matrix w = {wf, GITC_W_F32, N, K, NULL, NULL};
        float *panels = NULL;
        if (gitci_kernels_default()->f32.uses_panels) {
            size_t bytes = (gitci_panels_floats(&w) * sizeof(float) + 63) / 64 * 64;
            panels = aligned_alloc(64, bytes);
            gitci_panels_pack(&w, panels);
        }
        gitc_lowp_matrix *lp[2] = {NULL, NULL};
        gitci_lowp_prepare(GITC_LOWP_BF16, &w, &lp[0], NULL);
        gitci_lowp_prepare(GITC_LOWP_INT8, &w, &lp[1], NULL);
        for (int t = 0; t < n_thr; t++) {
            gitc_pool *pool = gitci_pool_create(threads[t]);
            for (int type = 0; type < 3; type++) {
                gitc_matrix wm = w;
                size_t wbytes = (size_t)N * K * 4;
                if (type == 0) {
                    wm.panels = panels;
                } else {
                    wm.lowp = lp[type - 1];
                    wbytes = gitci_lowp_bytes(lp[type - 1]);
                }
                double *ms = malloc((size_t)reps * sizeof *ms);
                gitci_linear(pool, y, x, &wm, bias, M); /* warm */
                for (int r = 0; r < reps; r++) {
                    double t0 = now_ms();
                    gitci_linear(pool, y, x, &wm, bias, M);
                    ms[r] = now_ms() - t0;
                }
                qsort(ms, (size_t)reps, sizeof *ms, cmp);
                double med = cpu_time ? ms[0] : ms[reps / 2];
                char shape[32];
                snprintf(shape, sizeof shape, "%d,%d,%d", M, N, K);
                printf("%-18s %-4s %3d %9.3f %9.1f %9.1f\n", shape, type == 0 ? "f32" : type == 1 ? "bf16" : "int8",
                       threads[t], med, 2.0 * M * N * K / med / 1e6, wbytes / med / 1e6);
                free(ms);
            }
            gitci_pool_free(pool);
        }
        gitci_lowp_free(lp[0]);
        gitci_lowp_free(lp[1]);
        free(panels);
        free(wf);
        free(x);
        free(y);
        free(bias);
    }
    return 0;
}
