/* AdamW, learning-rate schedules and gradient clipping (see optim.h). */
#include "optim.h"

#include "train_kernels.h"

#include <math.h>
#include <stdlib.h>

/* Elements one thread share of the elementwise work covers at least. */
#define OPTIM_CHUNK 65536

typedef struct adamw_task {
    gitci_tk_adamw args;
    const gitci_tk_products *set;
    size_t n;
} adamw_task;

/* Thread ith's share of one AdamW tensor update, through the best set's loop. */
static void adamw_worker(void *ctx, int ith, int nth)
{
    const adamw_task *t = ctx;
    int n_chunks = (int)((t->n + OPTIM_CHUNK - 1) / OPTIM_CHUNK), c0, c1;
    gitc_split(n_chunks, ith, nth, &c0, &c1);
    size_t i0 = (size_t)c0 * OPTIM_CHUNK, i1 = (size_t)c1 * OPTIM_CHUNK;
    if (i1 > t->n)
        i1 = t->n;
    if (i0 < i1)
        t->set->adamw(&t->args, i0, i1);
}

void gitci_adamw_update(float *param, float *m, float *v, const float *grad, float gscale, size_t n,
                       const gitc_adamw *opt, double lr, int decay, long step, gitc_pool *pool)
{
    adamw_task t = {
        .args = {
            .param = param, .m = m, .v = v, .grad = grad, .gscale = gscale,
            .decay_factor = decay ? 1.0 - lr * opt->weight_decay : 1.0,
            .beta1 = opt->beta1, .beta2 = opt->beta2,
            .step_size = lr / (1.0 - pow(opt->beta1, (double)step)),
            .bc2_sqrt = sqrt(1.0 - pow(opt->beta2, (double)step)),
            .eps = opt->eps,
        },
        .set = gitci_tk_best_products(),
        .n = n,
    };
    if (n <= OPTIM_CHUNK)
        adamw_worker(&t, 0, 1);
    else
        gitci_pool_run(pool, adamw_worker, &t);
}

double gitci_schedule_factor(gitc_schedule schedule, long step, long warmup, long total)
{
    if (step < warmup)
        return (double)step / (double)(warmup > 1 ? warmup : 1);
    if (schedule == GITC_SCHEDULE_CONSTANT)
        return 1.0;
    long span = total - warmup > 1 ? total - warmup : 1;
    if (schedule == GITC_SCHEDULE_COSINE) {
        double progress = (double)(step - warmup) / (double)span;
        double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress)); /* num_cycles 0.5 */
        return f > 0.0 ? f : 0.0;
    }
    double f = (double)(total - step) / (double)span;
    return f > 0.0 ? f : 0.0;
}

typedef struct squares_task {
    const float *x;
    size_t n;
    double *partial; /* one sum per chunk */
} squares_task;

/* Thread ith's chunks of a sum of squares. */
static void squares_worker(void *ctx, int ith, int nth)
{
    const squares_task *t = ctx;
    int n_chunks = (int)((t->n + OPTIM_CHUNK - 1) / OPTIM_CHUNK), c0, c1;
    gitc_split(n_chunks, ith, nth, &c0, &c1);
    for (int c = c0; c < c1; c++) {
        size_t i0 = (size_t)c * OPTIM_CHUNK, i1 = i0 + OPTIM_CHUNK < t->n ? i0 + OPTIM_CHUNK : t->n;
        /* eight interleaved sums (i mod 8 from the chunk's start) added in
         * a fixed order: vector lanes instead of one chain of additions */
        double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, tail = 0.0;
        size_t i = i0;
        for (; i + 8 <= i1; i += 8)
            for (int r = 0; r < 8; r++)
                s[r] += (double)t->x[i + r] * (double)t->x[i + r];
        for (; i < i1; i++)
            tail += (double)t->x[i] * (double)t->x[i];
        t->partial[c] = (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + tail;
    }
}

double gitci_sum_squares(const float *x, size_t n, gitc_pool *pool)
{
    size_t n_chunks = (n + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
    double one, *partial = n_chunks > 1 ? malloc(n_chunks * sizeof *partial) : &one;
    squares_task t = {x, n, partial};
    if (!partial) { /* out of memory: the same sums, one thread */
        double s = 0.0;
        for (size_t c = 0; c < n_chunks; c++) {
            t.partial = &one;
            t.x = x + c * OPTIM_CHUNK;
            t.n = n - c * OPTIM_CHUNK < OPTIM_CHUNK ? n - c * OPTIM_CHUNK : OPTIM_CHUNK;
            squares_worker(&t, 0, 1);
            s += one;
        }
        return s;
    }
    if (n_chunks <= 1) {
        one = 0.0;
        if (n_chunks == 1)
            squares_worker(&t, 0, 1);
    } else {
        gitci_pool_run(pool, squares_worker, &t);
    }
    double s = 0.0;
    for (size_t c = 0; c < n_chunks; c++)
        s += partial[c];
    if (partial != &one)
        free(partial);
    return s;
}

float gitci_clip_coef(double total_norm, double max_norm)
{
    float coef = (float)(max_norm / ((double)(float)total_norm + 1e-6));
    return coef < 1.0f ? coef : 1.0f;
}

double gitci_optim_step(gitc_tparam *params, int n_params, float *const *m, float *const *v,
                       const gitc_adamw *opt, double clip, double lr, long step, gitc_pool *pool)
{
    double sq = 0.0;
    for (int i = 0; i < n_params; i++)
        if (params[i].grad)
            sq += gitci_sum_squares(params[i].grad, params[i].numel, pool);
    double norm = sqrt(sq);
    if (!isfinite(norm))
        return norm;
    /* clip_grad_norm_ scales the gradients in place; the update reads them
     * scaled instead (the same float products, one pass less) */
    float coef = clip > 0 ? gitci_clip_coef(norm, clip) : 1.0f;
    for (int i = 0; i < n_params; i++) {
        gitc_tparam *p = &params[i];
        if (p->grad && m[i] && v[i])
            gitci_adamw_update(p->value, m[i], v[i], p->grad, coef, p->numel, opt, lr, p->decay, step, pool);
    }
    return norm;
}
