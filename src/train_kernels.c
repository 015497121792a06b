/* Kernels of training: forward pieces that keep statistics, backward of every
 * operation, dropout (see train_kernels.h). Portable C; the matrix products
 * are blocked so that the compiler vectorizes their inner loops. */
#include "train_kernels.h"

#include "kernels.h"
#include "kernels_registry.h"

#include <math.h>
#include <string.h>

/* One splitmix64 step: a well-mixed 64-bit hash of x. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

float gitci_tk_drop_scale(const gitci_tk_drop *d, uint64_t i)
{
    if (!d || d->rate <= 0.0f)
        return 1.0f;
    uint64_t h = mix64(mix64(d->seed ^ mix64(d->site)) ^ i);
    float u = (float)(h >> 40) * (1.0f / 16777216.0f); /* 24 bits: uniform in [0, 1) */
    return u < d->rate ? 0.0f : 1.0f / (1.0f - d->rate);
}

typedef struct drop_ctx {
    float *x;
    size_t n;
    const gitci_tk_drop *d;
} drop_ctx;

/* Share ith of a dropout pass: a contiguous slice of the elements. */
static void drop_task(void *arg, int ith, int nth)
{
    drop_ctx *c = arg;
    size_t per = (c->n + (size_t)nth - 1) / (size_t)nth;
    size_t a = per * (size_t)ith, b = a + per < c->n ? a + per : c->n;
    for (size_t i = a; i < b; i++)
        c->x[i] *= gitci_tk_drop_scale(c->d, i);
}

void gitci_tk_dropout(gitc_pool *pool, float *x, size_t n, const gitci_tk_drop *d)
{
    if (!d || d->rate <= 0.0f)
        return;
    drop_ctx c = {x, n, d};
    gitci_pool_run(pool, drop_task, &c);
}

/* ---- LayerNorm ---- */

typedef struct ln_ctx {
    float *out, *mean, *rstd, *dx, *dgamma, *dbeta;
    const float *x, *gamma, *beta, *dy;
    const float *cmean, *crstd; /* the statistics the backward pass reads */
    int M, C;
    float eps;
} ln_ctx;

/* Forward rows [r0, r1): statistics in float64, then the affine output. */
static void ln_rows(const ln_ctx *c, int r0, int r1)
{
    for (int m = r0; m < r1; m++) {
        const float *x = c->x + (size_t)m * (size_t)c->C;
        float *o = c->out + (size_t)m * (size_t)c->C;
        double s = 0.0, ss = 0.0;
        for (int i = 0; i < c->C; i++)
            s += x[i];
        double mu = s / c->C;
        for (int i = 0; i < c->C; i++) {
            double d = x[i] - mu;
            ss += d * d;
        }
        float rs = (float)(1.0 / sqrt(ss / c->C + (double)c->eps));
        float mf = (float)mu;
        for (int i = 0; i < c->C; i++)
            o[i] = (x[i] - mf) * rs * c->gamma[i] + c->beta[i];
        c->mean[m] = mf;
        c->rstd[m] = rs;
    }
}

/* Share ith of the LayerNorm forward: a range of rows. */
static void ln_task(void *arg, int ith, int nth)
{
    ln_ctx *c = arg;
    int r0, r1;
    gitc_split(c->M, ith, nth, &r0, &r1);
    ln_rows(c, r0, r1);
}

void gitci_tk_layernorm(gitc_pool *pool, float *out, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int M, int C, float eps)
{
    ln_ctx c = {.out = out, .mean = mean, .rstd = rstd, .x = x, .gamma = gamma, .beta = beta,
                .M = M, .C = C, .eps = eps};
    gitci_pool_run(pool, ln_task, &c);
}

/* Input gradient of rows [r0, r1). */
static void ln_bwd_rows(const ln_ctx *c, int r0, int r1)
{
    int C = c->C;
    for (int m = r0; m < r1; m++) {
        const float *x = c->x + (size_t)m * (size_t)C, *dy = c->dy + (size_t)m * (size_t)C;
        float *dx = c->dx + (size_t)m * (size_t)C;
        float mu = c->cmean[m], rs = c->crstd[m];
        double s1 = 0.0, s2 = 0.0;
        for (int i = 0; i < C; i++) {
            double g = (double)dy[i] * c->gamma[i];
            s1 += g;
            s2 += g * ((double)(x[i] - mu) * rs);
        }
        float m1 = (float)(s1 / C), m2 = (float)(s2 / C);
        for (int i = 0; i < C; i++) {
            float xh = (x[i] - mu) * rs;
            dx[i] += rs * (dy[i] * c->gamma[i] - m1 - xh * m2);
        }
    }
}

/* gamma/beta gradients of columns [c0, c1), summed over every row in order. */
static void ln_bwd_cols(const ln_ctx *c, int c0, int c1)
{
    for (int i = c0; i < c1; i++) {
        float sg = 0.0f, sb = 0.0f;
        for (int m = 0; m < c->M; m++) {
            float dy = c->dy[(size_t)m * (size_t)c->C + (size_t)i];
            sg += dy * (c->x[(size_t)m * (size_t)c->C + (size_t)i] - c->cmean[m]) * c->crstd[m];
            sb += dy;
        }
        if (c->dgamma)
            c->dgamma[i] += sg;
        if (c->dbeta)
            c->dbeta[i] += sb;
    }
}

/* Share ith of the LayerNorm backward: a range of rows (dx), then of columns (dgamma, dbeta). */
static void ln_bwd_task(void *arg, int ith, int nth)
{
    ln_ctx *c = arg;
    int a, b;
    if (c->dx) {
        gitc_split(c->M, ith, nth, &a, &b);
        ln_bwd_rows(c, a, b);
    }
    if (c->dgamma || c->dbeta) {
        gitc_split(c->C, ith, nth, &a, &b);
        ln_bwd_cols(c, a, b);
    }
}

void gitci_tk_layernorm_bwd(gitc_pool *pool, float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd, const float *gamma,
                           int M, int C)
{
    ln_ctx c = {.dx = dx, .dgamma = dgamma, .dbeta = dbeta, .dy = dy, .x = x, .cmean = mean,
                .crstd = rstd, .gamma = gamma, .M = M, .C = C};
    gitci_pool_run(pool, ln_bwd_task, &c);
}

void gitci_tk_layernorm_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *mean, const float *rstd,
                               const float *gamma, int M, int C)
{
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * (size_t)C, *g = dy + (size_t)m * (size_t)C;
        double s1 = 0.0, s2 = 0.0;
        for (int i = 0; i < C; i++) {
            double xh = ((double)xr[i] - mean[m]) * rstd[m];
            s1 += (double)g[i] * gamma[i];
            s2 += (double)g[i] * gamma[i] * xh;
            if (dgamma)
                dgamma[i] += (float)(g[i] * xh);
            if (dbeta)
                dbeta[i] += g[i];
        }
        if (!dx)
            continue;
        for (int i = 0; i < C; i++) {
            double xh = ((double)xr[i] - mean[m]) * rstd[m];
            dx[(size_t)m * (size_t)C + (size_t)i] +=
                (float)(rstd[m] * ((double)g[i] * gamma[i] - s1 / C - xh * s2 / C));
        }
    }
}

/* ---- linear backward ---- */

/* Rows per block of the portable products: each loaded weight (or input) row
 * is used for this many output rows while it is in cache. */
#define TK_BLOCK 4
/* Outputs per block of the input-gradient product (a block of W stays in L2). */
#define TK_NBLOCK 256

/* dx rows [r0, r1) += dy · W, blocked by TK_BLOCK rows and TK_NBLOCK outputs. */
static void linear_dx_rows(float *dx_, const float *dy_, const float *w_, int N_, int K_, int r0, int r1)
{
    size_t K = (size_t)K_, N = (size_t)N_;
    for (int n0 = 0; n0 < N_; n0 += TK_NBLOCK) {
        int n1 = n0 + TK_NBLOCK < N_ ? n0 + TK_NBLOCK : N_;
        for (int m0 = r0; m0 < r1; m0 += TK_BLOCK) {
            int mb = m0 + TK_BLOCK <= r1 ? TK_BLOCK : r1 - m0;
            for (int n = n0; n < n1; n++) {
                const float *w = w_ + (size_t)n * K;
                for (int i = 0; i < mb; i++) {
                    float g = dy_[(size_t)(m0 + i) * N + (size_t)n];
                    if (g == 0.0f)
                        continue;
                    float *dx = dx_ + (size_t)(m0 + i) * K;
                    for (size_t k = 0; k < K; k++)
                        dx[k] += g * w[k];
                }
            }
        }
    }
}

/* dw rows [n0, n1) += dyᵀ · x (and db), every row summed over m in order. */
static void linear_dw_rows(float *dw_, float *db, const float *dy_, const float *x_, int M, int N_, int K_, int n0,
                           int n1)
{
    size_t K = (size_t)K_, N = (size_t)N_;
    for (int nb = n0; nb < n1; nb += TK_BLOCK) {
        int cnt = nb + TK_BLOCK <= n1 ? TK_BLOCK : n1 - nb;
        for (int m = 0; m < M; m++) {
            const float *x = x_ + (size_t)m * K;
            const float *dy = dy_ + (size_t)m * N + (size_t)nb;
            for (int i = 0; i < cnt; i++) {
                float g = dy[i];
                if (g == 0.0f)
                    continue;
                float *dw = dw_ + (size_t)(nb + i) * K;
                for (size_t k = 0; k < K; k++)
                    dw[k] += g * x[k];
            }
        }
        if (db)
            for (int i = 0; i < cnt; i++) {
                float s = 0.0f;
                for (int m = 0; m < M; m++)
                    s += dy_[(size_t)m * N + (size_t)(nb + i)];
                db[nb + i] += s;
            }
    }
}

static const gitci_tk_products products_portable = {
    .name = "portable",
    .linear_dx_rows = linear_dx_rows,
    .linear_dw_rows = linear_dw_rows,
};

/* How many product sets run here: 1 portable, 2 + AVX2, 3 + AVX-512, from the
 * forward kernels' CPU check (cached in kernels.c; GITC_KERNELS caps it). */
static int sets_running(void)
{
    const gitc_kernel_table *const *tables;
    int nt = gitci_kernel_tables(&tables), avx2 = 0, avx512 = 0;
    for (int i = 0; i < nt; i++) {
        avx2 |= strcmp(tables[i]->name, "avx2") == 0;
        avx512 |= strcmp(tables[i]->name, "avx512") == 0;
    }
    if (!avx2 || !gitci_tk_products_avx2.name)
        return 1;
    return avx512 && gitci_tk_products_avx512.name ? 3 : 2;
}

int gitci_tk_product_sets(const gitci_tk_products *const **sets)
{
    static const gitci_tk_products *const all[3] = {&products_portable, &gitci_tk_products_avx2,
                                                    &gitci_tk_products_avx512};
    *sets = all;
    return sets_running();
}

/* The best set for this CPU, capped like the forward kernels by
 * GITC_KERNELS (the default choice's level). */
static const gitci_tk_products *best_products(void)
{
    const gitci_tk_products *const *sets;
    int n = gitci_tk_product_sets(&sets);
    const char *level = gitci_kernels_default()->level;
    int cap = strcmp(level, "portable") == 0 ? 1 : strcmp(level, "avx2") == 0 ? 2 : 3;
    return sets[(n < cap ? n : cap) - 1];
}

typedef struct lin_ctx {
    const gitci_tk_products *set;
    float *dx, *dw, *db;
    const float *dy, *w, *x;
    int M, N, K;
} lin_ctx;

/* Share ith of dx += dy · W: a range of rows. */
static void linear_dx_task(void *arg, int ith, int nth)
{
    lin_ctx *c = arg;
    int r0, r1;
    gitc_split(c->M, ith, nth, &r0, &r1);
    if (r0 < r1)
        c->set->linear_dx_rows(c->dx, c->dy, c->w, c->N, c->K, r0, r1);
}

void gitci_tk_linear_dx_set(const gitci_tk_products *set, gitc_pool *pool, float *dx, const float *dy,
                           const float *w, int M, int N, int K)
{
    lin_ctx c = {.set = set, .dx = dx, .dy = dy, .w = w, .M = M, .N = N, .K = K};
    gitci_pool_run(pool, linear_dx_task, &c);
}

void gitci_tk_linear_dx(gitc_pool *pool, float *dx, const float *dy, const float *w, int M, int N,
                       int K)
{
    gitci_tk_linear_dx_set(best_products(), pool, dx, dy, w, M, N, K);
}

void gitci_tk_linear_dx_ref(float *dx, const float *dy, const float *w, int M, int N, int K)
{
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (int n = 0; n < N; n++)
                s += (double)dy[(size_t)m * (size_t)N + (size_t)n] * w[(size_t)n * (size_t)K + (size_t)k];
            dx[(size_t)m * (size_t)K + (size_t)k] += (float)s;
        }
}

/* Share ith of dw += dyᵀ · x: a range of whole blocks of dw's rows. */
static void linear_dw_task(void *arg, int ith, int nth)
{
    lin_ctx *c = arg;
    /* whole blocks per thread (the sums of an element never depend on the split) */
    int blocks = (c->N + TK_BLOCK - 1) / TK_BLOCK, b0, b1;
    gitc_split(blocks, ith, nth, &b0, &b1);
    int n0 = b0 * TK_BLOCK, n1 = b1 * TK_BLOCK < c->N ? b1 * TK_BLOCK : c->N;
    if (n0 < n1)
        c->set->linear_dw_rows(c->dw, c->db, c->dy, c->x, c->M, c->N, c->K, n0, n1);
}

void gitci_tk_linear_dw_set(const gitci_tk_products *set, gitc_pool *pool, float *dw, float *db,
                           const float *dy, const float *x, int M, int N, int K)
{
    lin_ctx c = {.set = set, .dw = dw, .db = db, .dy = dy, .x = x, .M = M, .N = N, .K = K};
    gitci_pool_run(pool, linear_dw_task, &c);
}

void gitci_tk_linear_dw(gitc_pool *pool, float *dw, float *db, const float *dy, const float *x,
                       int M, int N, int K)
{
    gitci_tk_linear_dw_set(best_products(), pool, dw, db, dy, x, M, N, K);
}

void gitci_tk_linear_dw_ref(float *dw, float *db, const float *dy, const float *x, int M, int N,
                           int K)
{
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            double s = 0.0;
            for (int m = 0; m < M; m++)
                s += (double)dy[(size_t)m * (size_t)N + (size_t)n] * x[(size_t)m * (size_t)K + (size_t)k];
            dw[(size_t)n * (size_t)K + (size_t)k] += (float)s;
        }
        if (db) {
            double s = 0.0;
            for (int m = 0; m < M; m++)
                s += dy[(size_t)m * (size_t)N + (size_t)n];
            db[n] += (float)s;
        }
    }
}

/* ---- activations ---- */

/* gelu'(u) = Φ(u) + u φ(u), computed in float64. */
static float gelu_grad(float u)
{
    double x = u;
    double cdf = 0.5 * (1.0 + erf(x * 0.70710678118654752440));
    double pdf = 0.39894228040143267794 * exp(-0.5 * x * x);
    return (float)(cdf + x * pdf);
}

/* quick_gelu'(u) = σ(1.702u) (1 + 1.702 u (1 - σ(1.702u))). */
static float quick_gelu_grad(float u)
{
    double s = 1.0 / (1.0 + exp(-1.702 * (double)u));
    return (float)(s * (1.0 + 1.702 * (double)u * (1.0 - s)));
}

typedef struct act_ctx {
    float *dx;
    const float *dy, *u;
    size_t n;
    int quick;
} act_ctx;

/* Share ith of an activation backward: a contiguous slice. */
static void act_task(void *arg, int ith, int nth)
{
    act_ctx *c = arg;
    size_t per = (c->n + (size_t)nth - 1) / (size_t)nth;
    size_t a = per * (size_t)ith, b = a + per < c->n ? a + per : c->n;
    for (size_t i = a; i < b; i++)
        c->dx[i] = c->dy[i] * (c->quick ? quick_gelu_grad(c->u[i]) : gelu_grad(c->u[i]));
}

void gitci_tk_gelu_bwd(gitc_pool *pool, float *dx, const float *dy, const float *u, size_t n)
{
    act_ctx c = {dx, dy, u, n, 0};
    gitci_pool_run(pool, act_task, &c);
}

void gitci_tk_gelu_bwd_ref(float *dx, const float *dy, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = u[i];
        double d = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) * 0.39894228040143267794;
        dx[i] = (float)(dy[i] * d);
    }
}

void gitci_tk_quick_gelu_bwd(gitc_pool *pool, float *dx, const float *dy, const float *u, size_t n)
{
    act_ctx c = {dx, dy, u, n, 1};
    gitci_pool_run(pool, act_task, &c);
}

void gitci_tk_quick_gelu_bwd_ref(float *dx, const float *dy, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = u[i], s = 1.0 / (1.0 + exp(-1.702 * x));
        dx[i] = (float)(dy[i] * (s + x * 1.702 * s * (1.0 - s)));
    }
}

/* ---- attention ---- */

typedef struct attn_ctx {
    const gitci_tk_attn *a;
    float *out, *probs, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dout, *cprobs;
} attn_ctx;

/* Keys query i sees. */
static int attn_keys(const gitci_tk_attn *a, int i)
{
    return i < a->n_full ? a->n_full : i + 1;
}

/* xT[e, j] = x[row0 + j, col + e] for j < S, e < E: one head's keys (or
 * values) transposed, so that the scores of a query are a vectorizable loop
 * over keys (summed over e in order for every key). */
static void head_transpose(float *xT, const float *x, size_t row0, size_t col, size_t ld, int S, int E)
{
    for (int j = 0; j < S; j++) {
        const float *r = x + (row0 + (size_t)j) * ld + col;
        for (int e = 0; e < E; e++)
            xT[(size_t)e * (size_t)S + (size_t)j] = r[e];
    }
}

/* dots[j] = Σ_e u[e] · xT[e, j] for j < n (e in order). */
static void dots_T(float *dots, const float *u, const float *xT, int n, int S, int E)
{
    for (int j = 0; j < n; j++)
        dots[j] = 0.0f;
    for (int e = 0; e < E; e++) {
        float ue = u[e];
        const float *row = xT + (size_t)e * (size_t)S;
        for (int j = 0; j < n; j++)
            dots[j] += ue * row[j];
    }
}

/* Forward of one (sequence, head) pair; kT is E x S floats of scratch. */
static void attn_pair(const attn_ctx *c, int seq, int h, float *kT)
{
    const gitci_tk_attn *a = c->a;
    size_t ld = (size_t)a->H * (size_t)a->E, S = (size_t)a->S;
    size_t row0 = (size_t)seq * S, col = (size_t)h * (size_t)a->E;
    float *P = c->probs + ((size_t)seq * (size_t)a->H + (size_t)h) * S * S;
    uint64_t base = ((uint64_t)seq * (uint64_t)a->H + (uint64_t)h) * S * S;
    head_transpose(kT, c->k, row0, col, ld, a->S, a->E);
    for (int i = 0; i < a->S; i++) {
        int nk = attn_keys(a, i);
        float *p = P + (size_t)i * S;
        dots_T(p, c->q + (row0 + (size_t)i) * ld + col, kT, nk, a->S, a->E);
        float mx = -INFINITY;
        for (int j = 0; j < nk; j++) {
            p[j] *= a->scale;
            mx = p[j] > mx ? p[j] : mx;
        }
        double sum = 0.0;
        for (int j = 0; j < nk; j++) {
            p[j] = expf(p[j] - mx);
            sum += p[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < nk; j++)
            p[j] *= inv;
        for (int j = nk; j < a->S; j++)
            p[j] = 0.0f;
        float *o = c->out + (row0 + (size_t)i) * ld + col;
        memset(o, 0, (size_t)a->E * sizeof(float));
        for (int j = 0; j < nk; j++) {
            float w = p[j] * gitci_tk_drop_scale(&a->drop, base + (uint64_t)i * S + (uint64_t)j);
            const float *v = c->v + (row0 + (size_t)j) * ld + col;
            for (int e = 0; e < a->E; e++)
                o[e] += w * v[e];
        }
    }
}

/* Backward of one (sequence, head) pair: dq, dk, dv of its rows and columns;
 * vT is E x S floats of scratch. */
static void attn_bwd_pair(const attn_ctx *c, int seq, int h, float *vT)
{
    const gitci_tk_attn *a = c->a;
    size_t ld = (size_t)a->H * (size_t)a->E, S = (size_t)a->S, E = (size_t)a->E;
    size_t row0 = (size_t)seq * S, col = (size_t)h * E;
    const float *P = c->cprobs + ((size_t)seq * (size_t)a->H + (size_t)h) * S * S;
    uint64_t base = ((uint64_t)seq * (uint64_t)a->H + (uint64_t)h) * S * S;
    for (size_t i = 0; i < S; i++) {
        memset(c->dq + (row0 + i) * ld + col, 0, E * sizeof(float));
        memset(c->dk + (row0 + i) * ld + col, 0, E * sizeof(float));
        memset(c->dv + (row0 + i) * ld + col, 0, E * sizeof(float));
    }
    head_transpose(vT, c->v, row0, col, ld, a->S, a->E);
    float dp[GITC_TK_MAX_S];
    for (int i = 0; i < a->S; i++) {
        int nk = attn_keys(a, i);
        const float *p = P + (size_t)i * S;
        const float *go = c->dout + (row0 + (size_t)i) * ld + col;
        const float *q = c->q + (row0 + (size_t)i) * ld + col;
        float *dq = c->dq + (row0 + (size_t)i) * ld + col;
        dots_T(dp, go, vT, nk, a->S, a->E);
        double dot = 0.0;
        for (int j = 0; j < nk; j++) {
            float ds = gitci_tk_drop_scale(&a->drop, base + (uint64_t)i * S + (uint64_t)j);
            float w = p[j] * ds;
            float *dv = c->dv + (row0 + (size_t)j) * ld + col;
            for (size_t e = 0; e < E; e++)
                dv[e] += w * go[e];
            dp[j] *= ds;
            dot += (double)dp[j] * p[j];
        }
        for (int j = 0; j < nk; j++) {
            /* dp - dot cancels when one key dominates: take the difference in float64 */
            float s = (float)((double)p[j] * ((double)dp[j] - dot) * a->scale);
            if (s == 0.0f)
                continue;
            const float *k = c->k + (row0 + (size_t)j) * ld + col;
            float *dk = c->dk + (row0 + (size_t)j) * ld + col;
            for (size_t e = 0; e < E; e++) {
                dq[e] += s * k[e];
                dk[e] += s * q[e];
            }
        }
    }
}

/* Share ith of the attention forward or backward: a range of (sequence, head) pairs. */
static void attn_task(void *arg, int ith, int nth)
{
    attn_ctx *c = arg;
    int p0, p1;
    float *mine = c->scratch + (size_t)ith * (size_t)c->a->E * (size_t)c->a->S;
    gitc_split(c->a->n_seq * c->a->H, ith, nth, &p0, &p1);
    for (int p = p0; p < p1; p++) {
        if (c->dq)
            attn_bwd_pair(c, p / c->a->H, p % c->a->H, mine);
        else
            attn_pair(c, p / c->a->H, p % c->a->H, mine);
    }
}

size_t gitci_tk_attention_scratch(int n_threads, const gitci_tk_attn *a)
{
    return (size_t)(n_threads > 0 ? n_threads : 1) * (size_t)a->E * (size_t)a->S;
}

void gitci_tk_attention(gitc_pool *pool, const gitci_tk_attn *a, float *out, float *probs,
                       const float *q, const float *k, const float *v, float *scratch)
{
    attn_ctx c = {.a = a, .out = out, .probs = probs, .q = q, .k = k, .v = v, .scratch = scratch};
    gitci_pool_run(pool, attn_task, &c);
}

void gitci_tk_attention_bwd(gitc_pool *pool, const gitci_tk_attn *a, float *dq, float *dk, float *dv,
                           const float *dout, const float *probs, const float *q, const float *k,
                           const float *v, float *scratch)
{
    attn_ctx c = {.a = a, .dq = dq, .dk = dk, .dv = dv, .dout = dout, .cprobs = probs,
                  .q = q, .k = k, .v = v, .scratch = scratch};
    gitci_pool_run(pool, attn_task, &c);
}

void gitci_tk_attention_bwd_ref(const gitci_tk_attn *a, float *dq, float *dk, float *dv,
                               const float *dout, const float *probs, const float *q,
                               const float *k, const float *v)
{
    size_t ld = (size_t)a->H * (size_t)a->E, S = (size_t)a->S;
    for (int seq = 0; seq < a->n_seq; seq++)
        for (int h = 0; h < a->H; h++) {
            size_t row0 = (size_t)seq * S, col = (size_t)h * (size_t)a->E;
            const float *P = probs + ((size_t)seq * (size_t)a->H + (size_t)h) * S * S;
            uint64_t base = ((uint64_t)seq * (uint64_t)a->H + (uint64_t)h) * S * S;
            /* dS[i][j] = P (dP - Σ_j P dP), dP = (dout vᵀ) ∘ drop, in float64 */
            for (size_t i = 0; i < S; i++) {
                double dP[GITC_TK_MAX_S], sum = 0.0;
                for (size_t j = 0; j < S; j++) {
                    double g = 0.0;
                    for (int e = 0; e < a->E; e++)
                        g += (double)dout[(row0 + i) * ld + col + (size_t)e] * v[(row0 + j) * ld + col + (size_t)e];
                    dP[j] = g * gitci_tk_drop_scale(&a->drop, base + i * S + j);
                    sum += dP[j] * P[i * S + j];
                }
                for (int e = 0; e < a->E; e++) {
                    double s = 0.0;
                    for (size_t j = 0; j < S; j++)
                        s += P[i * S + j] * (dP[j] - sum) * k[(row0 + j) * ld + col + (size_t)e];
                    dq[(row0 + i) * ld + col + (size_t)e] = (float)(s * a->scale);
                }
            }
            for (size_t j = 0; j < S; j++)
                for (int e = 0; e < a->E; e++) {
                    double sk = 0.0, sv = 0.0;
                    for (size_t i = 0; i < S; i++) {
                        double g = 0.0, sum = 0.0;
                        for (size_t jj = 0; jj < S; jj++) {
                            double d = 0.0;
                            for (int ee = 0; ee < a->E; ee++)
                                d += (double)dout[(row0 + i) * ld + col + (size_t)ee] * v[(row0 + jj) * ld + col + (size_t)ee];
                            d *= gitci_tk_drop_scale(&a->drop, base + i * S + jj);
                            if (jj == j)
                                g = d;
                            sum += d * P[i * S + jj];
                        }
                        double ds = P[i * S + j] * (g - sum);
                        sk += ds * q[(row0 + i) * ld + col + (size_t)e];
                        sv += (double)P[i * S + j] * gitci_tk_drop_scale(&a->drop, base + i * S + j) *
                              dout[(row0 + i) * ld + col + (size_t)e];
                    }
                    dk[(row0 + j) * ld + col + (size_t)e] = (float)(sk * a->scale);
                    dv[(row0 + j) * ld + col + (size_t)e] = (float)sv;
                }
        }
}

/* ---- loss ---- */

typedef struct ce_ctx {
    double *loss;
    float *logits;
    const int32_t *targets;
    int M, V;
    float scale;
} ce_ctx;

/* Loss and gradient of one row of logits. */
static void ce_row(const ce_ctx *c, int m)
{
    float *x = c->logits + (size_t)m * (size_t)c->V;
    float mx = -INFINITY;
    for (int i = 0; i < c->V; i++)
        mx = x[i] > mx ? x[i] : mx;
    double s = 0.0;
    for (int i = 0; i < c->V; i++)
        s += exp((double)x[i] - mx);
    double lse = mx + log(s);
    int t = c->targets[m];
    c->loss[m] = lse - x[t];
    for (int i = 0; i < c->V; i++)
        x[i] = c->scale * (float)exp((double)x[i] - lse);
    x[t] -= c->scale;
}

/* Share ith of the cross-entropy: a range of rows. */
static void ce_task(void *arg, int ith, int nth)
{
    ce_ctx *c = arg;
    int r0, r1;
    gitc_split(c->M, ith, nth, &r0, &r1);
    for (int m = r0; m < r1; m++)
        ce_row(c, m);
}

void gitci_tk_cross_entropy(gitc_pool *pool, double *loss, float *logits, const int32_t *targets,
                           int M, int V, float scale)
{
    ce_ctx c = {loss, logits, targets, M, V, scale};
    gitci_pool_run(pool, ce_task, &c);
}

void gitci_tk_cross_entropy_ref(double *loss, float *logits, const int32_t *targets, int M, int V,
                               float scale)
{
    for (int m = 0; m < M; m++) {
        float *x = logits + (size_t)m * (size_t)V;
        double mx = x[0], s = 0.0;
        for (int i = 1; i < V; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < V; i++)
            s += exp(x[i] - mx);
        loss[m] = mx + log(s) - x[targets[m]];
        for (int i = 0; i < V; i++)
            x[i] = (float)(scale * (exp(x[i] - mx) / s - (i == targets[m])));
    }
}

/* ---- embeddings and sums ---- */

typedef struct emb_ctx {
    float *dtable;
    const float *dy;
    const int32_t *ids;
    int M, C, ld;
} emb_ctx;

/* Share ith of a row scatter-add: a range of columns, every row in order. */
static void emb_task(void *arg, int ith, int nth)
{
    emb_ctx *c = arg;
    int c0, c1;
    gitc_split(c->C, ith, nth, &c0, &c1);
    for (int m = 0; m < c->M; m++) {
        float *dst = c->dtable + (c->ids ? (size_t)c->ids[m] * (size_t)c->C : 0);
        const float *src = c->dy + (size_t)m * (size_t)c->ld;
        for (int i = c0; i < c1; i++)
            dst[i] += src[i];
    }
}

void gitci_tk_embedding_bwd(gitc_pool *pool, float *dtable, const float *dy, const int32_t *ids,
                           int M, int C)
{
    emb_ctx c = {dtable, dy, ids, M, C, C};
    gitci_pool_run(pool, emb_task, &c);
}

void gitci_tk_sum_rows(gitc_pool *pool, float *dsum, const float *dy, int M, int C, int ld)
{
    emb_ctx c = {dsum, dy, NULL, M, C, ld};
    gitci_pool_run(pool, emb_task, &c);
}
