/* The portable kernel set (plain C loops, threaded), the scalar references
 * (`*_ref`, the oracles of every other set) and the weight-matrix helpers
 * (row conversion, f32 panels) that preparation and the references share. */
#include "kernels_portable.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float w_at(const gitc_matrix *w, size_t i)
{
    switch (w->type) {
    case GITC_W_F16: return gitci_f16_to_f32(((const uint16_t *)w->data)[i]);
    case GITC_W_BF16: return gitci_bf16_to_f32(((const uint16_t *)w->data)[i]);
    default: return ((const float *)w->data)[i];
    }
}

void gitci_matrix_row(const gitc_matrix *w, int r, float *out)
{
    size_t base = (size_t)r * (size_t)w->n_in;
    if (w->type == GITC_W_F32) {
        memcpy(out, (const float *)w->data + base, (size_t)w->n_in * sizeof(float));
        return;
    }
    for (int k = 0; k < w->n_in; k++)
        out[k] = w_at(w, base + (size_t)k);
}

size_t gitci_panels_floats(const gitc_matrix *w)
{
    size_t panels = ((size_t)w->n_out + GITC_PANEL_N - 1) / GITC_PANEL_N;
    return panels * (size_t)w->n_in * GITC_PANEL_N;
}

void gitci_panels_pack(const gitc_matrix *w, float *dst)
{
    int N = w->n_out, K = w->n_in;
    int n_panels = (N + GITC_PANEL_N - 1) / GITC_PANEL_N;
    for (int p = 0; p < n_panels; p++) {
        float *panel = dst + (size_t)p * K * GITC_PANEL_N;
        for (int j = 0; j < GITC_PANEL_N; j++) {
            int n = p * GITC_PANEL_N + j;
            if (n >= N) {
                for (int k = 0; k < K; k++)
                    panel[(size_t)k * GITC_PANEL_N + j] = 0.0f;
                continue;
            }
            size_t base = (size_t)n * K;
            for (int k = 0; k < K; k++)
                panel[(size_t)k * GITC_PANEL_N + j] = w_at(w, base + (size_t)k);
        }
    }
}

void gitci_linear_ref(float *y, const float *x, const gitc_matrix *w, const float *bias, int M)
{
    int N = w->n_out, K = w->n_in;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double acc = bias ? bias[n] : 0.0;
            for (int k = 0; k < K; k++)
                acc += (double)x[(size_t)m * K + k] * w_at(w, (size_t)n * K + k);
            y[(size_t)m * N + n] = (float)acc;
        }
    }
}

typedef struct linear_task {
    float *y;
    const float *x;
    const gitc_matrix *w;
    const float *bias;
    int M;
} linear_task;

static void linear_worker(void *p, int ith, int nth)
{
    const linear_task *t = p;
    int N = t->w->n_out, K = t->w->n_in;
    int n0, n1;
    gitc_split(N, ith, nth, &n0, &n1);
    for (int n = n0; n < n1; n++) {
        for (int m = 0; m < t->M; m++) {
            float acc = 0.0f;
            const float *xr = t->x + (size_t)m * K;
            for (int k = 0; k < K; k++)
                acc += xr[k] * w_at(t->w, (size_t)n * K + k);
            t->y[(size_t)m * N + n] = acc + (t->bias ? t->bias[n] : 0.0f);
        }
    }
}

static void linear_portable(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                            const float *bias, int M)
{
    linear_task t = {y, x, w, bias, M};
    gitci_pool_run(pool, linear_worker, &t);
}

static void layernorm_portable(gitc_pool *pool, float *out, const float *x, const float *gamma,
                               const float *beta, int M, int C, float eps)
{
    (void)pool;
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * C;
        float *o = out + (size_t)m * C;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < C; c++)
            mean += xr[c];
        mean /= C;
        for (int c = 0; c < C; c++)
            var += (xr[c] - mean) * (xr[c] - mean);
        var /= C;
        float rstd = (float)(1.0 / sqrt(var + eps));
        float fmean = (float)mean;
        for (int c = 0; c < C; c++)
            o[c] = (xr[c] - fmean) * rstd * gamma[c] + beta[c];
    }
}

static void gelu_portable(gitc_pool *pool, float *x, size_t n)
{
    (void)pool;
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752440f));
}

static void quick_gelu_portable(gitc_pool *pool, float *x, size_t n)
{
    (void)pool;
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

static void add_portable(gitc_pool *pool, float *x, const float *y, size_t n)
{
    (void)pool;
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

size_t gitci_attention_scratch(int n_threads, int n_keys)
{
    /* The SIMD sets keep scores for blocks of up to 32 queries per thread
     * (avx512: 32 queries of one block, 64-byte aligned; avx2: 4). */
    return (size_t)(n_threads > 0 ? n_threads : 1) * 32 * (size_t)(n_keys > 0 ? n_keys : 1) + 16;
}

/* One query row of one head: scores over the visible keys, softmax, weighted sum. */
static void attend_row(const gitc_attention_args *a, int i, int h, float *scores)
{
    int hd = a->head_dim;
    const float *q = a->q + (size_t)i * a->ldq + (size_t)h * hd;
    int n2 = a->k2 ? GITC_MIN(a->n2, a->q_start + i + 1) : 0;
    int n = a->n1 + n2;
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *k = gitc_attention_kv_row(a, j, 0) + (size_t)h * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; d++)
            s += q[d] * k[d];
        scores[j] = s * a->scale;
        mx = scores[j] > mx ? scores[j] : mx;
    }
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        scores[j] = expf(scores[j] - mx);
        sum += scores[j];
    }
    float *o = a->out + (size_t)i * a->ldo + (size_t)h * hd;
    for (int d = 0; d < hd; d++)
        o[d] = 0.0f;
    for (int j = 0; j < n; j++) {
        const float *v = gitc_attention_kv_row(a, j, 1) + (size_t)h * hd;
        float p = scores[j] / sum;
        for (int d = 0; d < hd; d++)
            o[d] += p * v[d];
    }
}

void gitci_attention_ref(const gitc_attention_args *a, float *scratch)
{
    for (int i = 0; i < a->n_q; i++)
        for (int h = 0; h < a->n_heads; h++)
            attend_row(a, i, h, scratch);
}

typedef struct attention_task {
    const gitc_attention_args *a;
    float *scratch;
} attention_task;

static void attention_worker(void *p, int ith, int nth)
{
    const attention_task *t = p;
    const gitc_attention_args *a = t->a;
    int n_keys = a->n1 + (a->k2 ? a->n2 : 0);
    float *scores = t->scratch + (size_t)ith * (size_t)(n_keys > 0 ? n_keys : 1);
    int r0, r1;
    gitc_split(a->n_q * a->n_heads, ith, nth, &r0, &r1);
    for (int r = r0; r < r1; r++)
        attend_row(a, r / a->n_heads, r % a->n_heads, scores);
}

static void attention_portable(gitc_pool *pool, const gitc_attention_args *a, float *scratch)
{
    attention_task t = {a, scratch};
    gitci_pool_run(pool, attention_worker, &t);
}

float gitci_log_sum_exp_ref(const float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY)
        return -INFINITY;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += exp((double)x[i] - mx);
    return (float)(mx + log(sum));
}

/* Eight independent scalar FMA chains (what the compiler makes of them). */
static double fma_loop_portable(long n)
{
    volatile float seed = 1.0f;
    float a[8], m = 0.999f, c = 0.001f;
    for (int i = 0; i < 8; i++)
        a[i] = seed + (float)i;
    for (long r = 0; r < n; r++)
        for (int i = 0; i < 8; i++)
            a[i] = fmaf(a[i], m, c);
    seed = a[0] + a[7];
    return 16.0 * (double)n;
}

const gitc_kernel_table gitci_kernels_portable_set = {
    "portable", linear_portable, attention_portable, layernorm_portable,
    gelu_portable, quick_gelu_portable, add_portable, 0, fma_loop_portable, gitci_log_sum_exp_ref,
};

