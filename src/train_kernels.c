/* Kernels of training: forward pieces that keep statistics, backward of every
 * operation, dropout (see train_kernels.h). Portable C; the matrix products
 * are blocked so that the compiler vectorizes their inner loops. */
#include "train_kernels.h"

#include "train_act.h"
#include "train_adamw.h"

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

/* A site's key: element i's hash is mix64(key ^ i). */
static uint64_t drop_key(const gitci_tk_drop *d)
{
    return mix64(d->seed ^ mix64(d->site));
}

/* The multiplier of element i of a site with rate > 0: 0 or keep = 1/(1 - rate). */
static inline float drop_mult(float rate, float keep, uint64_t key, uint64_t i)
{
    float u = (float)(mix64(key ^ i) >> 40) * (1.0f / 16777216.0f); /* 24 bits: uniform in [0, 1) */
    return u < rate ? 0.0f : keep;
}

float gitci_tk_drop_scale(const gitci_tk_drop *d, uint64_t i)
{
    if (!d || d->rate <= 0.0f)
        return 1.0f;
    return drop_mult(d->rate, 1.0f / (1.0f - d->rate), drop_key(d), i);
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
    float rate = c->d->rate, keep = 1.0f / (1.0f - rate);
    uint64_t key = drop_key(c->d);
    if (c->d->group <= 0) {
        for (size_t i = a; i < b; i++)
            c->x[i] *= drop_mult(rate, keep, key, i);
        return;
    }
    /* some rows of the site: element (r, col) is element (row r stands for, col) */
    size_t cols = (size_t)c->d->cols, group = (size_t)c->d->group, skip = (size_t)c->d->skip;
    for (size_t i = a; i < b;) {
        size_t r = i / cols, col = i % cols, end = (r + 1) * cols < b ? (r + 1) * cols : b;
        uint64_t site_row = (r / group) * (group + skip) + skip + r % group;
        for (uint64_t at = site_row * cols + col; i < end; i++, at++)
            c->x[i] *= drop_mult(rate, keep, key, at);
    }
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

/* gamma/beta gradients of columns [c0, c1), each summed over every row in
 * order (256 columns at a time, rows outer: a vector loop along each row). */
static void ln_bwd_cols(const ln_ctx *c, int c0, int c1)
{
    for (int j0 = c0; j0 < c1; j0 += 256) {
        int nj = c1 - j0 < 256 ? c1 - j0 : 256;
        float sg[256] = {0}, sb[256] = {0};
        for (int m = 0; m < c->M; m++) {
            const float *dy = c->dy + (size_t)m * (size_t)c->C + (size_t)j0;
            const float *x = c->x + (size_t)m * (size_t)c->C + (size_t)j0;
            float mu = c->cmean[m], rs = c->crstd[m];
            for (int j = 0; j < nj; j++) {
                sg[j] += dy[j] * (x[j] - mu) * rs;
                sb[j] += dy[j];
            }
        }
        for (int j = 0; j < nj; j++) {
            if (c->dgamma)
                c->dgamma[j0 + j] += sg[j];
            if (c->dbeta)
                c->dbeta[j0 + j] += sb[j];
        }
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

/* ---- matrix products ---- */

/* Blocks of the products (GotoBLAS order): a KC x NC block of the right
 * operand is packed once per thread (NC covers every column of the model's
 * products but the vocabulary), an MC x KC block of the left operand, read in
 * place by the tiles when its rows are contiguous (packed otherwise), stays
 * in L2, and each NR-wide panel of the right block stays in L1 while the
 * tiles sweep it.
 * Every output element sums its products KC at a time in k order, so its bits
 * depend only on its position, never on the part a thread was given. */
#define TK_KC 256
#define TK_MC 96
#define TK_NC 3072
#define TK_SCRATCH ((size_t)TK_MC * TK_KC + (size_t)TK_KC * TK_NC)

size_t gitci_tk_linear_scratch(int nth)
{
    return (size_t)(nth > 0 ? nth : 1) * TK_SCRATCH;
}

/* The portable tile: 4 x 16, the same order as the SIMD tiles (separate
 * multiply and add where the compiler has no FMA). */
static void tile_portable(int kc, const float *a, size_t ars, size_t acs, const float *bp, float *c, size_t ldc,
                          int mb, int nb, int add)
{
    float acc[4][16] = {{0}};
    for (int i = 0; i < 4; i++) { /* c's rows, read after the k loop (as in the SIMD tiles) */
        __builtin_prefetch(c + (size_t)i * ldc);
        __builtin_prefetch(c + (size_t)i * ldc + 15);
    }
    for (int k = 0; k < kc; k++, a += acs, bp += 16)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 16; j++)
                acc[i][j] += a[(size_t)i * ars] * bp[j];
    for (int i = 0; i < mb; i++)
        for (int j = 0; j < nb; j++)
            c[(size_t)i * ldc + (size_t)j] = add ? c[(size_t)i * ldc + (size_t)j] + acc[i][j] : acc[i][j];
}

static const gitci_tk_products products_portable = {.name = "portable", .mr = 4, .nr = 16, .tile = tile_portable,
                                                     .act = tk_act, .adamw = tk_adamw};

/* A strided operand: element (i, k) is p[i * rs + k * cs]. */
typedef struct tk_mat {
    const float *p;
    size_t rs, cs;
} tk_mat;

/* Packs rows [i0, i0 + mb) x columns [k0, k0 + kc) of a into panels of `mr`
 * rows: panel q holds element (q*mr + i, k) at q*kc*mr + k*mr + i, zero past mb. */
static void pack_panels(float *dst, const tk_mat *a, int i0, int mb, int k0, int kc, int mr)
{
    if (a->rs == 1 && a->cs != 1) {
        /* columns contiguous along i: read each column of the block in one
         * sweep (a long contiguous run the prefetcher streams) and deal it
         * out to the panels */
        int whole = mb / mr * mr;
        for (int k = 0; k < kc; k++) {
            const float *src = a->p + (size_t)i0 + (size_t)(k0 + k) * a->cs;
            float *d = dst + (size_t)k * (size_t)mr;
            for (int q = 0; q < whole; q += mr, d += (size_t)kc * (size_t)mr)
                memcpy(d, src + q, (size_t)mr * sizeof(float));
            if (whole < mb) {
                memcpy(d, src + whole, (size_t)(mb - whole) * sizeof(float));
                memset(d + (mb - whole), 0, (size_t)(mr - (mb - whole)) * sizeof(float));
            }
        }
        return;
    }
    for (int q = 0; q < mb; q += mr, dst += (size_t)kc * (size_t)mr) {
        int rows = mb - q < mr ? mb - q : mr;
        const float *src = a->p + (size_t)(i0 + q) * a->rs + (size_t)k0 * a->cs;
        if (a->cs == 1) { /* rows contiguous along k */
            for (int i = 0; i < rows; i++)
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * (size_t)mr + (size_t)i] = src[(size_t)i * a->rs + (size_t)k];
        } else if (a->rs == 1) { /* columns contiguous along i */
            for (int k = 0; k < kc; k++)
                for (int i = 0; i < rows; i++)
                    dst[(size_t)k * (size_t)mr + (size_t)i] = src[(size_t)k * a->cs + (size_t)i];
        } else {
            for (int k = 0; k < kc; k++)
                for (int i = 0; i < rows; i++)
                    dst[(size_t)k * (size_t)mr + (size_t)i] = src[(size_t)i * a->rs + (size_t)k * a->cs];
        }
        if (rows < mr)
            for (int k = 0; k < kc; k++)
                memset(dst + (size_t)k * (size_t)mr + (size_t)rows, 0, (size_t)(mr - rows) * sizeof(float));
    }
}

/* c[i0..i1, j0..j1) += a · b (add 1) or = a · b (add 0: c is only written)
 * for a [., K] and b [K, .] (strided), through the set's tile: b packed a
 * KC x NC block at a time; a read in place when its rows are contiguous (its
 * last rows, fewer than a tile's, packed with zeros), else packed an MC x KC
 * block at a time (a tile's rows of a column would lie a row of the matrix
 * apart). scratch holds TK_SCRATCH floats. */
static void gemm_part(const gitci_tk_products *set, float *scratch, float *c, size_t ldc, const tk_mat *a,
                      const tk_mat *b, int K, int i0, int i1, int j0, int j1, int add)
{
    if (K == 0 && !add)
        for (int i = i0; i < i1; i++)
            memset(c + (size_t)i * ldc + (size_t)j0, 0, (size_t)(j1 - j0) * sizeof(float));
    float *ap = scratch, *bp = scratch + (size_t)TK_MC * TK_KC;
    /* b's columns are a's rows of bᵀ: pack them with the same routine */
    tk_mat bt = {b->p, b->cs, b->rs};
    int mr = set->mr, nr = set->nr, in_place = a->cs == 1;
    int full = in_place ? i0 + (i1 - i0) / mr * mr : i0; /* rows before it are read in place */
    for (int jc = j0; jc < j1; jc += TK_NC) {
        int nc = j1 - jc < TK_NC ? j1 - jc : TK_NC;
        for (int pc = 0; pc < K; pc += TK_KC) {
            int kc = K - pc < TK_KC ? K - pc : TK_KC, add_c = add || pc > 0;
            pack_panels(bp, &bt, jc, nc, pc, kc, nr);
            if (in_place && full < i1)
                pack_panels(ap, a, full, i1 - full, pc, kc, mr);
            for (int ic = i0; ic < i1; ic += TK_MC) {
                int mc = i1 - ic < TK_MC ? i1 - ic : TK_MC;
                if (!in_place)
                    pack_panels(ap, a, ic, mc, pc, kc, mr);
                for (int jr = 0; jr < nc; jr += nr) {
                    int nb = nc - jr < nr ? nc - jr : nr;
                    for (int ir = 0; ir < mc; ir += mr) {
                        int row = ic + ir, mb = mc - ir < mr ? mc - ir : mr;
                        float *ct = c + (size_t)row * ldc + (size_t)(jc + jr);
                        const float *bt_ = bp + (size_t)jr * (size_t)kc;
                        if (row < full)
                            set->tile(kc, a->p + (size_t)row * a->rs + (size_t)pc, a->rs, 1, bt_, ct, ldc, mb, nb, add_c);
                        else if (in_place)
                            set->tile(kc, ap, 1, (size_t)mr, bt_, ct, ldc, mb, nb, add_c);
                        else
                            set->tile(kc, ap + (size_t)ir * (size_t)kc, 1, (size_t)mr, bt_, ct, ldc, mb, nb, add_c);
                    }
                }
            }
        }
    }
}

typedef struct gemm_ctx {
    const gitci_tk_products *set;
    float *scratch, *c;
    size_t ldc;
    tk_mat a, b;
    int M, N, K;
    int add; /* 0: c = a · b (c only written) */
    /* dw's bias gradient: db[j] += Σ_m dy[m, j] */
    float *db;
    const float *dy;
    int dy_rows;
} gemm_ctx;

/* Share ith of c[M, N] += a · b: whole tiles of columns (each thread then
 * packs only its part of b, and all threads read a in place), or of rows when
 * the columns are too few to give every thread several tiles. */
static void gemm_task(void *arg, int ith, int nth)
{
    gemm_ctx *g = arg;
    int mr = g->set->mr, nr = g->set->nr;
    int by_rows = g->N < 4 * nr * nth && g->M >= mr * nth;
    int unit = by_rows ? mr : nr, n = by_rows ? g->M : g->N;
    int t0, t1;
    gitc_split((n + unit - 1) / unit, ith, nth, &t0, &t1);
    int u0 = t0 * unit, u1 = t1 * unit < n ? t1 * unit : n;
    if (u0 < u1) {
        float *s = g->scratch + (size_t)ith * TK_SCRATCH;
        if (by_rows)
            gemm_part(g->set, s, g->c, g->ldc, &g->a, &g->b, g->K, u0, u1, 0, g->N, g->add);
        else
            gemm_part(g->set, s, g->c, g->ldc, &g->a, &g->b, g->K, 0, g->M, u0, u1, g->add);
    }
    if (!g->db)
        return;
    /* the bias gradient: each thread a range of columns, each column summed
     * over TK_KC rows at a time in row order (rows outer, so the loop over a
     * block of columns is a vector loop) */
    int c0, c1;
    gitc_split(g->M, ith, nth, &c0, &c1);
    for (int j0 = c0; j0 < c1; j0 += 256) {
        int nj = c1 - j0 < 256 ? c1 - j0 : 256;
        for (int m0 = 0; m0 < g->dy_rows; m0 += TK_KC) {
            int m1 = m0 + TK_KC < g->dy_rows ? m0 + TK_KC : g->dy_rows;
            float s[256] = {0};
            for (int m = m0; m < m1; m++) {
                const float *r = g->dy + (size_t)m * (size_t)g->M + (size_t)j0;
                for (int j = 0; j < nj; j++)
                    s[j] += r[j];
            }
            for (int j = 0; j < nj; j++)
                g->db[j0 + j] += s[j];
        }
    }
}

/* The best set for this CPU, capped like the forward kernels by
 * GITC_KERNELS (the default choice's level). */

static void gemm_run(const gitci_tk_products *set, gitc_pool *pool, float *scratch, gemm_ctx *g)
{
    g->set = set ? set : gitci_tk_best_products();
    g->scratch = scratch;
    gitci_pool_run(pool, gemm_task, g);
}

void gitci_tk_linear_set(const gitci_tk_products *set, gitc_pool *pool, float *scratch, float *y, const float *x,
                         const float *w, const float *b, int M, int N, int K)
{
    for (int m = 0; m < M; m++) {
        float *r = y + (size_t)m * (size_t)N;
        if (b)
            memcpy(r, b, (size_t)N * sizeof(float));
        else
            memset(r, 0, (size_t)N * sizeof(float));
    }
    gemm_ctx g = {.c = y, .ldc = (size_t)N, .a = {x, (size_t)K, 1}, .b = {w, 1, (size_t)K}, .M = M, .N = N, .K = K,
                  .add = 1};
    gemm_run(set, pool, scratch, &g);
}

void gitci_tk_linear_dx_set(const gitci_tk_products *set, gitc_pool *pool, float *scratch, float *dx,
                            const float *dy, const float *w, int M, int N, int K, int add)
{
    gemm_ctx g = {.c = dx, .ldc = (size_t)K, .a = {dy, (size_t)N, 1}, .b = {w, (size_t)K, 1}, .M = M, .N = K, .K = N,
                  .add = add};
    gemm_run(set, pool, scratch, &g);
}

void gitci_tk_linear_dw_set(const gitci_tk_products *set, gitc_pool *pool, float *scratch, float *dw, float *db,
                            const float *dy, const float *x, int M, int N, int K)
{
    gemm_ctx g = {.c = dw, .ldc = (size_t)K, .a = {dy, 1, (size_t)N}, .b = {x, (size_t)K, 1}, .M = N, .N = K, .K = M,
                  .add = 1, .db = db, .dy = dy, .dy_rows = M};
    gemm_run(set, pool, scratch, &g);
}

void gitci_tk_linear(gitc_pool *pool, float *scratch, float *y, const float *x, const float *w, const float *b,
                     int M, int N, int K)
{
    gitci_tk_linear_set(NULL, pool, scratch, y, x, w, b, M, N, K);
}

void gitci_tk_linear_dx(gitc_pool *pool, float *scratch, float *dx, const float *dy, const float *w, int M, int N,
                        int K)
{
    gitci_tk_linear_dx_set(NULL, pool, scratch, dx, dy, w, M, N, K, 1);
}

void gitci_tk_linear_dx_store(gitc_pool *pool, float *scratch, float *dx, const float *dy, const float *w, int M,
                              int N, int K)
{
    gitci_tk_linear_dx_set(NULL, pool, scratch, dx, dy, w, M, N, K, 0);
}

void gitci_tk_linear_dw(gitc_pool *pool, float *scratch, float *dw, float *db, const float *dy, const float *x,
                        int M, int N, int K)
{
    gitci_tk_linear_dw_set(NULL, pool, scratch, dw, db, dy, x, M, N, K);
}

void gitci_tk_linear_ref(float *y, const float *x, const float *w, const float *b, int M, int N, int K)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++)
                s += (double)x[(size_t)m * (size_t)K + (size_t)k] * w[(size_t)n * (size_t)K + (size_t)k];
            y[(size_t)m * (size_t)N + (size_t)n] = (float)s;
        }
}

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

const gitci_tk_products *gitci_tk_best_products(void)
{
    const gitci_tk_products *const *sets;
    int n = gitci_tk_product_sets(&sets);
    const char *level = gitci_kernels_default()->level;
    int cap = strcmp(level, "portable") == 0 ? 1 : strcmp(level, "avx2") == 0 ? 2 : 3;
    return sets[(n < cap ? n : cap) - 1];
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

typedef struct act_ctx {
    const gitci_tk_products *set;
    float *dx;
    const float *dy, *u;
    size_t n;
    int kind; /* GITCI_TK_* of train_products.h */
} act_ctx;

/* Share ith of an activation pass: a contiguous slice, through the best
 * set's loop (train_act.h: the same bits in every set). The backward passes
 * scale dx in place, after copying dy there when they differ. */
static void act_task(void *arg, int ith, int nth)
{
    act_ctx *c = arg;
    size_t per = (c->n + (size_t)nth - 1) / (size_t)nth;
    size_t a = per * (size_t)ith, b = a + per < c->n ? a + per : c->n;
    if (b <= a)
        return;
    if (c->kind < GITCI_TK_QUICK_GELU && c->dx != c->dy)
        memmove(c->dx + a, c->dy + a, (b - a) * sizeof(float));
    c->set->act(c->kind, c->dx + a, c->u + a, b - a);
}

void gitci_tk_gelu(gitc_pool *pool, float *y, const float *u, size_t n)
{
    act_ctx c = {gitci_tk_best_products(), y, NULL, u, n, GITCI_TK_GELU};
    gitci_pool_run(pool, act_task, &c);
}

void gitci_tk_quick_gelu(gitc_pool *pool, float *y, const float *u, size_t n)
{
    act_ctx c = {gitci_tk_best_products(), y, NULL, u, n, GITCI_TK_QUICK_GELU};
    gitci_pool_run(pool, act_task, &c);
}

void gitci_tk_gelu_bwd(gitc_pool *pool, float *dx, const float *dy, const float *u, size_t n)
{
    act_ctx c = {gitci_tk_best_products(), dx, dy, u, n, GITCI_TK_GELU_BWD};
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
    act_ctx c = {gitci_tk_best_products(), dx, dy, u, n, GITCI_TK_QUICK_GELU_BWD};
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

/* c[M, N] = a · b for one (sequence, head) pair through the best set's tile
 * (c only written; the caller's thread alone; pack holds TK_SCRATCH floats). */
static void pair_gemm(float *pack, float *c, size_t ldc, tk_mat a, tk_mat b, int M, int N, int K)
{
    gemm_part(gitci_tk_best_products(), pack, c, ldc, &a, &b, K, 0, M, 0, N, 0);
}

/* Per-thread scratch of the attention: the products' packing, then three
 * S x S matrices (the probabilities after dropout, the score gradients, the
 * dropout multipliers). */
static size_t attn_thread_floats(const gitci_tk_attn *a)
{
    return TK_SCRATCH + 3 * (size_t)a->S * (size_t)a->S;
}

/* The probabilities after dropout: P itself without dropout, else pd[i, j] =
 * P[i, j] mult[i, j] for the keys query q0 + i sees (0 past them), with mult
 * (when not NULL) keeping each multiplier. P, pd, mult: [Q, S]. */
static const float *probs_dropped(float *pd, float *mult, const float *P, const gitci_tk_attn *a, uint64_t base)
{
    size_t S = (size_t)a->S, Q = S - (size_t)a->q0;
    if (a->drop.rate <= 0.0f)
        return P;
    float rate = a->drop.rate, keep = 1.0f / (1.0f - rate);
    uint64_t key = drop_key(&a->drop);
    for (size_t i = 0; i < Q; i++) {
        size_t nk = (size_t)attn_keys(a, a->q0 + (int)i), r = i * S;
        uint64_t at = base + ((uint64_t)a->q0 + i) * S;
        for (size_t j = 0; j < nk; j++) {
            float m = drop_mult(rate, keep, key, at + j);
            if (mult)
                mult[r + j] = m;
            pd[r + j] = P[r + j] * m;
        }
        memset(pd + r + nk, 0, (S - nk) * sizeof(float));
    }
    return pd;
}

/* Σ x[j] for j < n in float64, in four interleaved sums (j mod 4) added
 * in a fixed order: the same bits for the same row wherever it is. */
static double sum4(const float *x, int n)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0}, t = 0.0;
    int j = 0;
    for (; j + 4 <= n; j += 4)
        for (int r = 0; r < 4; r++)
            s[r] += x[j + r];
    for (; j < n; j++)
        t += x[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + t;
}

/* Σ x[j] y[j] for j < n in float64, summed as sum4 does. */
static double dot4(const float *x, const float *y, int n)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0}, t = 0.0;
    int j = 0;
    for (; j + 4 <= n; j += 4)
        for (int r = 0; r < 4; r++)
            s[r] += (double)x[j + r] * y[j + r];
    for (; j < n; j++)
        t += (double)x[j] * y[j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + t;
}

/* Forward of one (sequence, head) pair: scores q kᵀ, softmax per row in
 * place (train_act.h's exp, float64 sum), out = (P with dropout) v. */
static void attn_pair(const attn_ctx *c, int seq, int h, float *mine)
{
    const gitci_tk_attn *a = c->a;
    size_t ld = (size_t)a->H * (size_t)a->E, S = (size_t)a->S, Q = S - (size_t)a->q0;
    size_t row0 = (size_t)seq * S, qrow0 = (size_t)seq * Q, col = (size_t)h * (size_t)a->E;
    float *P = c->probs + ((size_t)seq * (size_t)a->H + (size_t)h) * Q * S, *pd = mine + TK_SCRATCH;
    uint64_t base = ((uint64_t)seq * (uint64_t)a->H + (uint64_t)h) * S * S;
    const float *q = c->q + qrow0 * ld + col, *k = c->k + row0 * ld + col, *v = c->v + row0 * ld + col;
    pair_gemm(mine, P, S, (tk_mat){q, ld, 1}, (tk_mat){k, 1, ld}, (int)Q, a->S, a->E);
    for (size_t i = 0; i < Q; i++) {
        int nk = attn_keys(a, a->q0 + (int)i);
        float *p = P + i * S;
        float mx = -INFINITY;
        for (int j = 0; j < nk; j++) {
            p[j] *= a->scale;
            mx = p[j] > mx ? p[j] : mx;
        }
        for (int j = 0; j < nk; j++)
            p[j] = tk_exp(p[j] - mx);
        float inv = (float)(1.0 / sum4(p, nk));
        for (int j = 0; j < nk; j++)
            p[j] *= inv;
        for (int j = nk; j < a->S; j++)
            p[j] = 0.0f;
    }
    const float *pw = probs_dropped(pd, NULL, P, a, base);
    pair_gemm(mine, c->out + qrow0 * ld + col, ld, (tk_mat){pw, S, 1}, (tk_mat){v, ld, 1}, (int)Q, a->E, a->S);
}

/* Backward of one (sequence, head) pair: dv = Pdᵀ dout, dP = dout vᵀ (times
 * the dropout multipliers), dS = P (dP - Σ_j dP P) scale, dq = dS k,
 * dk = dSᵀ q. */
static void attn_bwd_pair(const attn_ctx *c, int seq, int h, float *mine)
{
    const gitci_tk_attn *a = c->a;
    size_t ld = (size_t)a->H * (size_t)a->E, S = (size_t)a->S, Q = S - (size_t)a->q0;
    size_t col = (size_t)h * (size_t)a->E, off = (size_t)seq * S * ld + col, qoff = (size_t)seq * Q * ld + col;
    const float *P = c->cprobs + ((size_t)seq * (size_t)a->H + (size_t)h) * Q * S;
    uint64_t base = ((uint64_t)seq * (uint64_t)a->H + (uint64_t)h) * S * S;
    float *pd = mine + TK_SCRATCH, *ds = pd + S * S, *mult = ds + S * S;
    const float *pw = probs_dropped(pd, mult, P, a, base);
    pair_gemm(mine, c->dv + off, ld, (tk_mat){pw, 1, S}, (tk_mat){c->dout + qoff, ld, 1}, a->S, a->E, (int)Q);
    pair_gemm(mine, ds, S, (tk_mat){c->dout + qoff, ld, 1}, (tk_mat){c->v + off, 1, ld}, (int)Q, a->S, a->E);
    for (size_t i = 0; i < Q; i++) {
        int nk = attn_keys(a, a->q0 + (int)i);
        const float *p = P + i * S;
        float *dp = ds + i * S;
        if (a->drop.rate > 0.0f)
            for (int j = 0; j < nk; j++)
                dp[j] *= mult[i * S + (size_t)j];
        double dot = dot4(dp, p, nk);
        /* dp - dot cancels when one key dominates: take the difference in float64 */
        for (int j = 0; j < nk; j++)
            dp[j] = (float)((double)p[j] * ((double)dp[j] - dot) * a->scale);
        for (int j = nk; j < a->S; j++)
            dp[j] = 0.0f;
    }
    pair_gemm(mine, c->dq + qoff, ld, (tk_mat){ds, S, 1}, (tk_mat){c->k + off, ld, 1}, (int)Q, a->E, a->S);
    pair_gemm(mine, c->dk + off, ld, (tk_mat){ds, 1, S}, (tk_mat){c->q + qoff, ld, 1}, a->S, a->E, (int)Q);
}

/* Share ith of the attention forward or backward: a range of (sequence, head) pairs. */
static void attn_task(void *arg, int ith, int nth)
{
    attn_ctx *c = arg;
    int p0, p1;
    float *mine = c->scratch + (size_t)ith * attn_thread_floats(c->a);
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
    return (size_t)(n_threads > 0 ? n_threads : 1) * attn_thread_floats(a);
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
    size_t ld = (size_t)a->H * (size_t)a->E, S = (size_t)a->S, q0 = (size_t)a->q0, Q = S - q0;
    for (int seq = 0; seq < a->n_seq; seq++)
        for (int h = 0; h < a->H; h++) {
            size_t row0 = (size_t)seq * S, qrow0 = (size_t)seq * Q, col = (size_t)h * (size_t)a->E;
            const float *P = probs + ((size_t)seq * (size_t)a->H + (size_t)h) * Q * S; /* [i - q0][j] */
            uint64_t base = ((uint64_t)seq * (uint64_t)a->H + (uint64_t)h) * S * S;
            /* row i of dout, q, dq: query q0 + i */
            const float *dO = dout + qrow0 * ld + col, *qq = q + qrow0 * ld + col;
            /* dS[i][j] = P (dP - Σ_j P dP), dP = (dout vᵀ) ∘ drop, in float64 */
            for (size_t i = 0; i < Q; i++) {
                double dP[GITC_TK_MAX_S], sum = 0.0;
                for (size_t j = 0; j < S; j++) {
                    double g = 0.0;
                    for (int e = 0; e < a->E; e++)
                        g += (double)dO[i * ld + (size_t)e] * v[(row0 + j) * ld + col + (size_t)e];
                    dP[j] = g * gitci_tk_drop_scale(&a->drop, base + (q0 + i) * S + j);
                    sum += dP[j] * P[i * S + j];
                }
                for (int e = 0; e < a->E; e++) {
                    double s = 0.0;
                    for (size_t j = 0; j < S; j++)
                        s += P[i * S + j] * (dP[j] - sum) * k[(row0 + j) * ld + col + (size_t)e];
                    dq[(qrow0 + i) * ld + col + (size_t)e] = (float)(s * a->scale);
                }
            }
            for (size_t j = 0; j < S; j++)
                for (int e = 0; e < a->E; e++) {
                    double sk = 0.0, sv = 0.0;
                    for (size_t i = 0; i < Q; i++) {
                        double g = 0.0, sum = 0.0;
                        for (size_t jj = 0; jj < S; jj++) {
                            double d = 0.0;
                            for (int ee = 0; ee < a->E; ee++)
                                d += (double)dO[i * ld + (size_t)ee] * v[(row0 + jj) * ld + col + (size_t)ee];
                            d *= gitci_tk_drop_scale(&a->drop, base + (q0 + i) * S + jj);
                            if (jj == j)
                                g = d;
                            sum += d * P[i * S + jj];
                        }
                        double ds = P[i * S + j] * (g - sum);
                        sk += ds * qq[i * ld + (size_t)e];
                        sv += (double)P[i * S + j] * gitci_tk_drop_scale(&a->drop, base + (q0 + i) * S + j) *
                              dO[i * ld + (size_t)e];
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
