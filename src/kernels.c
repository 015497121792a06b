/* Kernel dispatch: each call runs on the kernel set the pool's owner (a
 * model's backend) chose at load, or the process default for pools outside
 * a model (tests, benchmarks). */
#include "kernels.h"
#include "kernels_registry.h"
#include "lowp.h"

#include <stdlib.h>
#include <time.h>

/* The set that runs on `pool`. */
static const gitc_kernels *set_of(gitc_pool *pool)
{
    const gitc_kernels *k = pool ? gitci_pool_kernels(pool) : NULL;
    return k ? k : gitci_kernels_default();
}

void gitci_linear(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                 const float *bias, int M)
{
    const gitc_kernels *k = set_of(pool);
    if (w->lowp)
        gitci_lowp_run(gitci_lowp_matrix_kind(w->lowp) == GITC_LOWP_BF16 ? k->bf16 : k->int8, pool, y, x,
                      w->lowp, bias, M);
    else
        k->f32.linear(pool, y, x, w, bias, M);
}

void gitci_attention(gitc_pool *pool, const gitc_attention_args *a, float *scratch)
{
    set_of(pool)->f32.attention(pool, a, scratch);
}

void gitci_layernorm(gitc_pool *pool, float *out, const float *x, const float *gamma,
                    const float *beta, int M, int C, float eps)
{
    set_of(pool)->f32.layernorm(pool, out, x, gamma, beta, M, C, eps);
}

void gitci_gelu(gitc_pool *pool, float *x, size_t n) { set_of(pool)->f32.gelu(pool, x, n); }
void gitci_quick_gelu(gitc_pool *pool, float *x, size_t n) { set_of(pool)->f32.quick_gelu(pool, x, n); }
void gitci_add(gitc_pool *pool, float *x, const float *y, size_t n) { set_of(pool)->f32.add(pool, x, y, n); }

float gitci_log_sum_exp(const float *x, int n)
{
    return gitci_kernels_default()->f32.log_sum_exp(x, n);
}

typedef struct peak_task {
    const gitc_kernel_table *t;
    double ms;
    double *flops; /* [shares] */
} peak_task;

static double clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void peak_worker(void *p, int ith, int nth)
{
    const peak_task *t = p;
    (void)nth;
    double flops = 0.0, t0 = clock_ms();
    while (clock_ms() - t0 < t->ms)
        flops += t->t->fma_loop(20000);
    t->flops[ith] = flops;
}

double gitci_kernels_peak_gflops(gitc_pool *pool, int ms)
{
    int n = gitci_pool_size(pool);
    double *flops = calloc((size_t)n, sizeof *flops);
    if (!flops)
        return 0.0;
    peak_task t = {&set_of(pool)->f32, ms > 0 ? ms : 1, flops};
    /* FLOPs of all shares over the wall time of the task: shares that did
     * not run side by side (a thread without a core) do not count twice. */
    double t0 = clock_ms();
    gitci_pool_run(pool, peak_worker, &t);
    double wall = clock_ms() - t0, sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += flops[i];
    free(flops);
    return sum / wall * 1e-6; /* FLOP/ms -> GFLOP/s */
}
