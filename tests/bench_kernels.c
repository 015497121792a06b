/* Micro-benchmark of the kernels (not a ctest: built by hand, see notes/kernels.md):
 * machine peak FMA rate and read bandwidth, pool dispatch latency, the model's
 * linear shapes, attention and the elementwise ops, and an estimate of one
 * git-base image caption (encode + 19 greedy tokens).
 *   cc -O2 -mavx2 -mfma -I src -I include tests/bench_kernels.c build-kern/libgitc.a \
 *      $(pkg-config --libs libcjson libutf8proc libjpeg libpng libwebp libavformat \
 *      libavcodec libavutil libswscale) -lgif -lpthread -lm -o build-kern/bench_kernels */
#include "kernels_registry.h"
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds: wall clock, or with BENCH_CPU=1 the calling thread's CPU time
 * (robust on a shared machine, meaningful only for single-thread runs). */
static int use_cpu_clock;
static double now(void)
{
    struct timespec ts;
    clock_gettime(use_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- machine -------------------------------------------------------------- */

typedef struct peak_ctx {
    long iters;
    float sink[4][8];
} peak_ctx;

/* 12 independent FMA chains: enough to cover latency 4 x 2 pipes + slack. */
static void peak_task(void *p, int ith, int nth)
{
    peak_ctx *c = p;
    __m256 m = _mm256_set1_ps(0.999999f), s = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0.f), a1 = _mm256_set1_ps(1.f), a2 = _mm256_set1_ps(2.f);
    __m256 a3 = _mm256_set1_ps(3.f), a4 = _mm256_set1_ps(4.f), a5 = _mm256_set1_ps(5.f);
    __m256 a6 = _mm256_set1_ps(6.f), a7 = _mm256_set1_ps(7.f), a8 = _mm256_set1_ps(8.f);
    __m256 a9 = _mm256_set1_ps(9.f), a10 = _mm256_set1_ps(10.f), a11 = _mm256_set1_ps(11.f);
    for (long it = 0; it < c->iters; it++) {
#define F(a) a = _mm256_fmadd_ps(a, m, s)
        F(a0); F(a1); F(a2); F(a3); F(a4); F(a5); F(a6); F(a7); F(a8); F(a9); F(a10); F(a11);
#undef F
    }
    a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                       _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    a0 = _mm256_add_ps(a0, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    _mm256_storeu_ps(c->sink[ith], a0);
}

typedef struct bw_ctx {
    const float *buf;
    size_t n;
    float sink[4][8];
} bw_ctx;

static void bw_task(void *p, int ith, int nth)
{
    bw_ctx *c = p;
    size_t per = c->n / (size_t)nth, i0 = per * (size_t)ith, i1 = i0 + per;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = i0; i + 32 <= i1; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(c->buf + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(c->buf + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(c->buf + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(c->buf + i + 24));
    }
    _mm256_storeu_ps(c->sink[ith], _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

static void empty_task(void *p, int ith, int nth) { (void)p; (void)ith; (void)nth; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- kernels -------------------------------------------------------------- */

/* Best-of-reps time of one linear call, in seconds. */
static double time_linear(gitc_pool *pool, int M, int N, int K, gitc_wtype type, int reps)
{
    size_t nw = (size_t)N * K;
    void *w = malloc(nw * (type == GITC_W_F32 ? 4 : 2));
    float *x = malloc((size_t)M * K * sizeof *x), *y = malloc((size_t)M * N * sizeof *y);
    float *b = malloc((size_t)N * sizeof *b);
    for (size_t i = 0; i < nw; i++) {
        if (type == GITC_W_F32)
            ((float *)w)[i] = 0.01f * (float)(i % 97);
        else
            ((uint16_t *)w)[i] = (uint16_t)(0x2000 + i % 1000); /* small normal f16/bf16 */
    }
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = 0.001f * (float)(i % 113);
    for (int n = 0; n < N; n++)
        b[n] = 0.5f;
    gitc_matrix mat = {w, type, N, K, NULL, NULL};
    float *panels = NULL;
    if (gitci_kernels_default()->f32.uses_panels) { /* prepared as the backend does at load */
        panels = aligned_alloc(64, (gitci_panels_floats(&mat) * sizeof(float) + 63) / 64 * 64);
        gitci_panels_pack(&mat, panels);
        mat.panels = panels;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        gitci_linear(pool, y, x, &mat, b, M);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    free(w);
    free(panels);
    free(x);
    free(y);
    free(b);
    return best;
}

static double time_attention(gitc_pool *pool, int n_q, int n1, int n2, int reps)
{
    int H = 12, hd = 64, C = H * hd;
    float *q = calloc((size_t)n_q * C, 4), *k = calloc((size_t)(n1 + n2) * C, 4);
    float *v = calloc((size_t)(n1 + n2) * C, 4), *o = calloc((size_t)n_q * C, 4);
    float *scratch = malloc(gitci_attention_scratch(gitci_pool_size(pool), n1 + n2) * 4);
    for (size_t i = 0; i < (size_t)(n1 + n2) * C; i++) {
        k[i] = 0.01f * (float)(i % 31);
        v[i] = 0.02f * (float)(i % 17);
    }
    for (size_t i = 0; i < (size_t)n_q * C; i++)
        q[i] = 0.03f * (float)(i % 13);
    gitc_attention_args a = {o, C, q, C, n_q, k, v, C, n1, n2 ? k + (size_t)n1 * C : NULL,
                             n2 ? v + (size_t)n1 * C : NULL, C, n2, n2 - n_q, H, hd, 0.125f};
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        gitci_attention(pool, &a, scratch);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    free(q);
    free(k);
    free(v);
    free(o);
    free(scratch);
    return best;
}

static double time_elementwise(gitc_pool *pool, int op, size_t n, int reps)
{
    float *x = malloc(n * 4), *y = malloc(n * 4), *g = malloc(768 * 4), *b = malloc(768 * 4);
    for (size_t i = 0; i < n; i++)
        x[i] = y[i] = 0.001f * (float)(i % 2001) - 1.0f;
    for (int i = 0; i < 768; i++)
        g[i] = b[i] = 1.0f;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++)
            x[i] = 0.001f * (float)(i % 2001) - 1.0f;
        double t0 = now();
        if (op == 0)
            gitci_gelu(pool, x, n);
        else if (op == 1)
            gitci_quick_gelu(pool, x, n);
        else if (op == 2)
            gitci_add(pool, x, y, n);
        else
            gitci_layernorm(pool, x, x, g, b, (int)(n / 768), 768, 1e-5f);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    free(x);
    free(y);
    free(g);
    free(b);
    return best;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    use_cpu_clock = getenv("BENCH_CPU") && atoi(getenv("BENCH_CPU"));
    int only_linear = getenv("BENCH_LINEAR") && atoi(getenv("BENCH_LINEAR"));
    int reps_scale = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 1;
    gitc_pool *pools[3] = {NULL, NULL, gitci_pool_create(2)};
    printf("kernels: %s\n", gitci_kernels_default()->f32.name);

    /* Peak: 12 chains x 8 lanes x 2 flops per iteration. */
    for (int t = 1; t <= 2 && !only_linear; t++) {
        peak_ctx c = {20000000, {{0}}};
        double t0 = now();
        gitci_pool_run(pools[t], peak_task, &c);
        double dt = now() - t0;
        printf("peak FMA, %d thread(s): %.1f GFLOP/s\n", t, 12.0 * 16.0 * (double)c.iters * t / dt / 1e9);
    }
    for (int t = 1; t <= 2; t++)
        printf("peak FMA of the %s set, %d thread(s): %.1f GFLOP/s\n", gitci_kernels_default()->f32.name, t,
               gitci_kernels_peak_gflops(pools[t], 300));
    size_t nbw = (size_t)256 << 20; /* 1 GiB of floats */
    bw_ctx bw = {NULL, nbw, {{0}}};
    float *buf = malloc(nbw * sizeof *buf);
    for (size_t i = 0; i < nbw; i++)
        buf[i] = 1.0f;
    bw.buf = buf;
    for (int t = 1; t <= 2 && !only_linear; t++) {
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            gitci_pool_run(pools[t], bw_task, &bw);
            double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        printf("read bandwidth (1 GiB), %d thread(s): %.1f GB/s\n", t, (double)nbw * 4 / best / 1e9);
    }
    free(buf);

    /* Pool dispatch: empty tasks back to back, and spaced by ~20 µs of work
     * on the caller (as between kernel calls of a decode step). Median of
     * single calls, robust to preemption by other processes. */
    for (int spaced = 0; spaced < 2; spaced++) {
        enum { NCALL = 20001 };
        static double dt[NCALL];
        volatile double sink = 0.0;
        for (int i = 0; i < NCALL; i++) {
            if (spaced)
                for (int j = 0; j < 20000; j++)
                    sink += 1e-9 * j;
            double t0 = now();
            gitci_pool_run(pools[2], empty_task, NULL);
            dt[i] = now() - t0;
        }
        qsort(dt, NCALL, sizeof dt[0], cmp_double);
        printf("pool dispatch (2 threads, empty task%s): median %.2f us, 90%% %.2f us\n",
               spaced ? ", calls ~20 us apart" : "", dt[NCALL / 2] * 1e6, dt[NCALL * 9 / 10] * 1e6);
    }

    static const struct { int M, N, K; } shapes[] = {
        {197, 768, 768}, {197, 3072, 768}, {197, 768, 3072}, {1, 30522, 768}, {4, 30522, 768},
        {1, 768, 768}, {1, 3072, 768}, {1, 768, 3072}, {1182, 768, 768},
    };
    double tl[9][2][3]; /* [shape][type f32/f16][threads] */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int ty = 0; ty < 2; ty++) {
            for (int t = 1; t <= 2; t++) {
                int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K;
                int reps = (M >= 197 ? 5 : 20) * reps_scale;
                if (use_cpu_clock && t == 2)
                    continue;
                double dt = time_linear(pools[t], M, N, K, ty ? GITC_W_F16 : GITC_W_F32, reps);
                tl[s][ty][t] = dt;
                double gflops = 2.0 * M * N * K / dt / 1e9;
                double gbs = (double)N * K * (ty ? 2 : 4) / dt / 1e9;
                printf("linear M=%4d N=%5d K=%4d %s t=%d: %8.3f ms  %6.1f GFLOP/s  %6.1f GB/s of W\n", M,
                       N, K, ty ? "f16" : "f32", t, dt * 1e3, gflops, gbs);
            }
        }
    }

    if (only_linear) {
        gitci_pool_free(pools[2]);
        return 0;
    }
    /* With the CPU clock only one thread's time is visible: run those on one. */
    int tt = use_cpu_clock ? 1 : 2;
    gitc_pool *pt = pools[tt];
    double ta_vis = time_attention(pt, 197, 197, 0, 5 * reps_scale);
    double ta_dec = time_attention(pt, 1, 197, 12, 50 * reps_scale);
    double ta_pre = time_attention(pt, 5, 197, 5, 20 * reps_scale);
    printf("attention 12x64 heads, 197 q x 197 keys, t=%d: %.3f ms (%.1f GFLOP/s)\n", tt, ta_vis * 1e3,
           4.0 * 197 * 197 * 768 / ta_vis / 1e9);
    printf("attention decode 1 q x (197+12) keys, t=%d: %.3f ms\n", tt, ta_dec * 1e3);
    double tg = time_elementwise(pt, 0, 197 * 3072, 5 * reps_scale);
    double tq = time_elementwise(pt, 1, 197 * 3072, 5 * reps_scale);
    double tad = time_elementwise(pt, 2, 197 * 768, 5 * reps_scale);
    double tln = time_elementwise(pt, 3, 197 * 768, 5 * reps_scale);
    printf("t=%d: gelu (erff) 197x3072 %.3f ms; quick_gelu 197x3072 %.3f ms; add 197x768 %.3f ms; "
           "layernorm 197x768 %.3f ms\n", tt, tg * 1e3, tq * 1e3, tad * 1e3, tln * 1e3);

    /* git-base, 2 threads: 12 vision layers on 197 rows; 6 decoder layers on
     * the 197 image rows + the prompt; the visual projection (768x768 on 197
     * rows); 19 decode steps (M=1). A decode step streams 6 x 7.08M decoder
     * weights + the 23.4M LM head from DRAM (they do not stay in L3), so it is
     * costed at the LM head's measured GB/s, not with the L3-hot 768-sized
     * timings above. */
    for (int ty = 0; ty < 2 && !use_cpu_clock; ty++) {
        double layer197 = 4 * tl[0][ty][2] + tl[1][ty][2] + tl[2][ty][2];
        double vis = 12 * (layer197 + ta_vis + tq + 2 * tad + 2 * tln);
        double dec_img = 6 * (layer197 + ta_pre + tg + 2 * tad + 2 * tln) + tl[0][ty][2];
        double bytes = (6.0 * (4 * 768 * 768 + 2 * 768 * 3072) + 30522.0 * 768) * (ty ? 2 : 4);
        double gbs = 30522.0 * 768 * (ty ? 2 : 4) / tl[3][ty][2];
        double step = bytes / gbs + 6 * ta_dec;
        printf("estimate git-base %s t=2: vision %.0f ms + decoder image rows %.0f ms + 19 x %.2f ms "
               "decode (%.0f MB at %.1f GB/s) = %.0f ms\n", ty ? "f16" : "f32", vis * 1e3,
               dec_img * 1e3, step * 1e3, bytes / 1e6, gbs / 1e9, (vis + dec_img + 19 * step) * 1e3);
    }
    gitci_pool_free(pools[2]);
    return 0;
}
