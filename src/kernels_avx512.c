/* AVX-512F kernels: the f32 linear layer over weight panels prepared at load
 * (gitci_panels_pack: 32 outputs x K inputs, K-major), a 12x32 register tile
 * that broadcasts x and multiplies two 16-lane panel rows per input. The
 * other kernels (attention, layer norm, elementwise) are the AVX2 set's: they
 * are a small part of the time. This file alone is compiled with -mavx512f
 * (CMakeLists.txt); nothing in it may run before the CPU check in kernels.c.
 * Sums are reordered relative to gitci_linear_ref (K sequential per output
 * within a KC chunk, chunks added in order), never computed in lower
 * precision. */
#include "kernel_set.h"
#include "kernels_portable.h"
#include "internal.h"
#include "kernels_exp.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)

#include <immintrin.h>

#define GITC_INLINE static inline __attribute__((always_inline))
#define PN GITC_PANEL_N

/* Rows per register tile: 2 x MR accumulators + 2 panel rows + 1 broadcast <= 32 zmm. */
#define MR 12
/* Inputs per pass over a panel: its KC x 32 slice (32 KiB) stays in L1 while
 * every row tile of the block uses it. */
#ifndef KC
#define KC 256
#endif
/* Rows per block: MC x KC floats of x (240 KiB) stay in L2 across the panels. */
#ifndef MC
#define MC 240
#endif

/* y[mr, 32] (masked to the panel's real columns) = or += x[mr, kc] . b[kc, 32] (+ bias). */
GITC_INLINE void tile(const int mr, const float *x, size_t ldx, const float *b, int kc, float *y,
                      size_t ldy, __mmask16 m0, __mmask16 m1, const float *bias, int first)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b + (size_t)k * PN);
        __m512 b1 = _mm512_load_ps(b + (size_t)k * PN + 16);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(x[(size_t)i * ldx + k]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (first && bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *yr = y + (size_t)i * ldy;
        __m512 v0, v1;
        if (first) {
            v0 = _mm512_add_ps(c0[i], bias0);
            v1 = _mm512_add_ps(c1[i], bias1);
        } else {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), c0[i]);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), c1[i]);
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}

/* One compiled tile per row count, so the accumulators stay in registers. */
#define TILE(R)                                                                                    \
    static void tile_##R(const float *x, size_t ldx, const float *b, int kc, float *y, size_t ldy, \
                         __mmask16 m0, __mmask16 m1, const float *bias, int first)                 \
    {                                                                                              \
        tile(R, x, ldx, b, kc, y, ldy, m0, m1, bias, first);                                       \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11) TILE(12)
#undef TILE

typedef void (*tile_fn)(const float *, size_t, const float *, int, float *, size_t, __mmask16,
                        __mmask16, const float *, int);
static const tile_fn tiles[MR + 1] = {
    NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6,
    tile_7, tile_8, tile_9, tile_10, tile_11, tile_12,
};

typedef struct panel_ctx {
    float *y;
    const float *x;
    const gitc_matrix *w;
    const float *bias;
    int M;
} panel_ctx;

/* Output panels [p0, p1) for all rows, in chunks of KC inputs: every output
 * is bias + chunk 0, then + chunk 1, ..., whatever M is (so a row's result
 * does not depend on the rows beside it: batches equal single runs). Few
 * rows (decode): panel by panel, one sequential pass over the weights. Many
 * rows: blocks of MC rows, and each KC slice of a panel is reused from L1 by
 * every row tile of the block. */
static void panel_range(const panel_ctx *c, int p0, int p1)
{
    int M = c->M, N = c->w->n_out, K = c->w->n_in;
    int few = M <= MR;
    for (int m0 = 0; m0 < M; m0 += MC) {
        int mc = GITC_MIN(MC, M - m0);
        for (int kk = 0; kk < (few ? 1 : K); kk += KC) {
            for (int p = p0; p < p1; p++) {
                int n0 = p * PN, nr = GITC_MIN(PN, N - n0);
                __mmask16 mk0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
                __mmask16 mk1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
                const float *bias = c->bias ? c->bias + n0 : NULL;
                for (int k0 = few ? 0 : kk; k0 < (few ? K : kk + 1); k0 += KC) {
                    int kc = GITC_MIN(KC, K - k0);
                    const float *b = c->w->panels + ((size_t)p * K + k0) * PN;
                    for (int i = 0; i < mc; i += MR) {
                        int mr = GITC_MIN(MR, mc - i);
                        size_t row = (size_t)(m0 + i);
                        tiles[mr](c->x + row * K + k0, (size_t)K, b, kc, c->y + row * N + n0, (size_t)N,
                                  mk0, mk1, bias, k0 == 0);
                    }
                }
            }
        }
    }
}

static void panel_worker(void *p, int ith, int nth)
{
    const panel_ctx *c = p;
    int n_panels = (c->w->n_out + PN - 1) / PN;
    int p0, p1;
    gitc_split(n_panels, ith, nth, &p0, &p1);
    if (p0 < p1)
        panel_range(c, p0, p1);
}

static void linear_avx512(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                          const float *bias, int M)
{
    if (!w->panels) { /* not prepared (a matrix outside a model): W in place */
        gitci_kernels_avx2_set.linear(pool, y, x, w, bias, M);
        return;
    }
    if (M <= 0 || w->n_out <= 0)
        return;
    if (w->n_in <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < w->n_out; n++)
                y[(size_t)m * w->n_out + n] = bias ? bias[n] : 0.0f;
        return;
    }
    panel_ctx c = {y, x, w, bias, M};
    gitci_pool_run(pool, panel_worker, &c);
}

/* ---- attention over one block of keys (the image rows) ---------------- */

/* Queries per work item (two 16-lane vectors), keys per score tile, queries
 * per weighted-sum tile, and the largest head this path takes. */
#define AQ 32
#define AJ 12
#define AI 6
#define AHD 128

/* e^x, the avx2 set's exp8 at 16 lanes (same range reduction and polynomial). */
GITC_INLINE __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(GITC_EXP_X_MIN)), _mm512_set1_ps(GITC_EXP_X_MAX));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(GITC_EXP_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(GITC_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(GITC_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(gitc_exp_poly[0]);
    for (int i = 1; i < 6; i++)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(gitc_exp_poly[i]));
    __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    __m512i ni = _mm512_cvtps_epi32(n);
    __m512i n1 = _mm512_srai_epi32(ni, 1);
    __m512i n2 = _mm512_sub_epi32(ni, n1);
    __m512i bias = _mm512_set1_epi32(127);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    return _mm512_mul_ps(_mm512_mul_ps(y, s1), s2);
}

/* pt[j][0..AQ) = scale * q . k_j for keys [j0, j0 + nj), all the item's
 * queries at once: qt holds them transposed ([hd][AQ]), so each input
 * broadcasts one key value against 16 queries (no horizontal sums). */
GITC_INLINE void scores_tile(const float *qt, const float *k, size_t ldk, int hd, float scale,
                             float *pt, int j0, const int nj)
{
    __m512 acc[AJ][2];
#pragma GCC unroll 12
    for (int j = 0; j < nj; j++)
        acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    const float *kr = k + (size_t)j0 * ldk;
    for (int d = 0; d < hd; d++) {
        __m512 q0 = _mm512_load_ps(qt + (size_t)d * AQ), q1 = _mm512_load_ps(qt + (size_t)d * AQ + 16);
#pragma GCC unroll 12
        for (int j = 0; j < nj; j++) {
            __m512 kb = _mm512_set1_ps(kr[(size_t)j * ldk + d]);
            acc[j][0] = _mm512_fmadd_ps(kb, q0, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(kb, q1, acc[j][1]);
        }
    }
    __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 12
    for (int j = 0; j < nj; j++) {
        _mm512_store_ps(pt + (size_t)(j0 + j) * AQ, _mm512_mul_ps(acc[j][0], sc));
        _mm512_store_ps(pt + (size_t)(j0 + j) * AQ + 16, _mm512_mul_ps(acc[j][1], sc));
    }
}

#define SCORES(R)                                                                                  \
    static void scores_##R(const float *qt, const float *k, size_t ldk, int hd, float scale,      \
                           float *pt, int j0)                                                      \
    {                                                                                              \
        scores_tile(qt, k, ldk, hd, scale, pt, j0, R);                                             \
    }
SCORES(1) SCORES(2) SCORES(3) SCORES(4) SCORES(5) SCORES(6) SCORES(7) SCORES(8) SCORES(9) SCORES(10) SCORES(11) SCORES(12)
#undef SCORES
typedef void (*scores_fn)(const float *, const float *, size_t, int, float, float *, int);
static const scores_fn score_tiles[AJ + 1] = {
    NULL, scores_1, scores_2, scores_3, scores_4, scores_5, scores_6,
    scores_7, scores_8, scores_9, scores_10, scores_11, scores_12,
};

/* out_i[d0, d0 + 16 nv) = inv_i * sum_j pt[j][i0 + i] v_j[d0..] for ni queries. */
GITC_INLINE void values_tile(const float *pt, const float *v, size_t ldv, int n, int i0, const int ni,
                             const int nv, int d0, const float *inv, float *const *out)
{
    __m512 acc[AI][4];
#pragma GCC unroll 6
    for (int i = 0; i < ni; i++)
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            acc[i][c] = _mm512_setzero_ps();
    for (int j = 0; j < n; j++) {
        const float *vr = v + (size_t)j * ldv + d0;
        __m512 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            vv[c] = _mm512_loadu_ps(vr + 16 * c);
#pragma GCC unroll 6
        for (int i = 0; i < ni; i++) {
            __m512 pb = _mm512_set1_ps(pt[(size_t)j * AQ + i0 + i]);
#pragma GCC unroll 4
            for (int c = 0; c < nv; c++)
                acc[i][c] = _mm512_fmadd_ps(pb, vv[c], acc[i][c]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < ni; i++) {
        __m512 s = _mm512_set1_ps(inv[i0 + i]);
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            _mm512_storeu_ps(out[i0 + i] + d0 + 16 * c, _mm512_mul_ps(acc[i][c], s));
    }
}

#define VALUES(I, C)                                                                               \
    static void values_##I##_##C(const float *pt, const float *v, size_t ldv, int n, int i0, int d0, \
                                 const float *inv, float *const *out)                              \
    {                                                                                              \
        values_tile(pt, v, ldv, n, i0, I, C, d0, inv, out);                                        \
    }
#define VALUES_C(I) VALUES(I, 1) VALUES(I, 2) VALUES(I, 3) VALUES(I, 4)
VALUES_C(1) VALUES_C(2) VALUES_C(3) VALUES_C(4) VALUES_C(5) VALUES_C(6)
#undef VALUES_C
#undef VALUES
typedef void (*values_fn)(const float *, const float *, size_t, int, int, int, const float *, float *const *);
#define VALUES_ROW(I) {values_##I##_1, values_##I##_2, values_##I##_3, values_##I##_4}
static const values_fn value_tiles[AI + 1][4] = {
    {NULL, NULL, NULL, NULL}, VALUES_ROW(1), VALUES_ROW(2), VALUES_ROW(3),
    VALUES_ROW(4), VALUES_ROW(5), VALUES_ROW(6),
};
#undef VALUES_ROW

typedef struct attn_ctx {
    const gitc_attention_args *a;
    float *scratch; /* AQ x n1 floats per share */
} attn_ctx;

/* Up to AQ queries [i0, i0 + nq) of head h against block 1: scores for all
 * of them, softmax along the keys (16 queries per vector), weighted sum. */
static void attend_item(const gitc_attention_args *a, int h, int i0, int nq, float *pt)
{
    int hd = a->head_dim, n = a->n1;
    float qt[AHD * AQ] __attribute__((aligned(64)));
    float inv[AQ];
    float *out[AQ];
    for (int d = 0; d < hd; d++)
        for (int i = 0; i < AQ; i++)
            qt[(size_t)d * AQ + i] = i < nq ? a->q[(size_t)(i0 + i) * a->ldq + (size_t)h * hd + d] : 0.0f;
    const float *k = a->k1 + (size_t)h * hd, *v = a->v1 + (size_t)h * hd;
    for (int j = 0; j < n; j += AJ)
        score_tiles[GITC_MIN(AJ, n - j)](qt, k, (size_t)a->ld1, hd, a->scale, pt, j);
    for (int c = 0; c < AQ / 16; c++) {
        __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
        for (int j = 0; j < n; j++)
            mx = _mm512_max_ps(mx, _mm512_load_ps(pt + (size_t)j * AQ + 16 * c));
        for (int j = 0; j < n; j++) {
            __m512 e = exp16(_mm512_sub_ps(_mm512_load_ps(pt + (size_t)j * AQ + 16 * c), mx));
            _mm512_store_ps(pt + (size_t)j * AQ + 16 * c, e);
            sum = _mm512_add_ps(sum, e);
        }
        _mm512_storeu_ps(inv + 16 * c, _mm512_div_ps(_mm512_set1_ps(1.0f), sum));
    }
    for (int i = 0; i < nq; i++)
        out[i] = a->out + (size_t)(i0 + i) * a->ldo + (size_t)h * hd;
    for (int d0 = 0; d0 < hd; d0 += 64) {
        int nv = GITC_MIN(4, (hd - d0) / 16);
        for (int i = 0; i < nq; i += AI)
            value_tiles[GITC_MIN(AI, nq - i)][nv - 1](pt, v, (size_t)a->ld1, n, i, d0, inv, out);
    }
}

static void attn_worker(void *p, int ith, int nth)
{
    const attn_ctx *c = p;
    const gitc_attention_args *a = c->a;
    int chunks = (a->n_q + AQ - 1) / AQ, r0, r1;
    float *pt = c->scratch + (size_t)ith * AQ * (size_t)a->n1;
    gitc_split(chunks * a->n_heads, ith, nth, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        int i0 = (r / a->n_heads) * AQ, h = r % a->n_heads;
        attend_item(a, h, i0, GITC_MIN(AQ, a->n_q - i0), pt);
    }
}

/* ---- attention of one query (a decode step) --------------------------- */

/* A decode step's query reads every key and value row once. The rows are cut
 * into chunks of SC keys; a chunk walks its rows whole (all heads of a row
 * are adjacent, so the reads stream) and keeps, per head, its max, sum of
 * exponentials and weighted sum; the caller merges the chunks in order.
 * Chunks do not depend on the thread count, so neither does the result.
 * (Head by head, a pass would read 256 bytes of every 3 KiB row.) */
#define SC 64
/* Chunks one merge takes (64 x 64 = 4096 keys). */
#define GITC_STEP_CHUNKS_MAX 64

typedef struct step_ctx {
    const gitc_attention_args *a;
    int n;           /* visible keys: block 1, then block 2's causal prefix */
    int n_chunks;
    float *results;  /* per chunk: [heads] max, [heads] sum, [heads x hd] weighted sums */
    size_t rstride;
    float *scores;   /* per share: [heads x SC] */
    size_t sstride;
} step_ctx;

static void step_chunk(const step_ctx *c, int chunk, float *sc)
{
    const gitc_attention_args *a = c->a;
    int H = a->n_heads, hd = a->head_dim, nv = hd / 16;
    float *mx = c->results + (size_t)chunk * c->rstride, *sum = mx + H, *acc = sum + H;
    int j0 = chunk * SC, j1 = GITC_MIN(c->n, j0 + SC), nj = j1 - j0;
    for (int h = 0; h < H; h++)
        mx[h] = -INFINITY;
    memset(acc, 0, (size_t)H * hd * sizeof(float));
    /* Scores, row by row: scale * q_h . k_j,h for every head. */
    for (int j = j0; j < j1; j++) {
        const float *k = gitc_attention_kv_row(a, j, 0);
        for (int h = 0; h < H; h++) {
            const float *qh = a->q + (size_t)h * hd, *kh = k + (size_t)h * hd;
            __m512 d = _mm512_mul_ps(_mm512_loadu_ps(qh), _mm512_loadu_ps(kh));
            for (int t = 1; t < nv; t++)
                d = _mm512_fmadd_ps(_mm512_loadu_ps(qh + 16 * t), _mm512_loadu_ps(kh + 16 * t), d);
            float v = _mm512_reduce_add_ps(d) * a->scale;
            sc[(size_t)h * SC + (j - j0)] = v;
            mx[h] = v > mx[h] ? v : mx[h];
        }
    }
    /* Exponentials against this chunk's max (nj <= SC: four vectors). */
    for (int h = 0; h < H; h++) {
        float *e = sc + (size_t)h * SC;
        __m512 m = _mm512_set1_ps(mx[h]), s = _mm512_setzero_ps();
        for (int j = 0; j < nj; j += 16) {
            __mmask16 k = nj - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (nj - j)) - 1u);
            __m512 x = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, e + j), m)));
            _mm512_mask_storeu_ps(e + j, k, x);
            s = _mm512_add_ps(s, x);
        }
        sum[h] = _mm512_reduce_add_ps(s);
    }
    /* Weighted sums, row by row. */
    for (int j = j0; j < j1; j++) {
        const float *v = gitc_attention_kv_row(a, j, 1);
        for (int h = 0; h < H; h++) {
            __m512 w = _mm512_set1_ps(sc[(size_t)h * SC + (j - j0)]);
            float *o = acc + (size_t)h * hd;
            const float *vh = v + (size_t)h * hd;
            for (int t = 0; t < nv; t++)
                _mm512_storeu_ps(o + 16 * t, _mm512_fmadd_ps(w, _mm512_loadu_ps(vh + 16 * t),
                                                             _mm512_loadu_ps(o + 16 * t)));
        }
    }
}

static void step_worker(void *p, int ith, int nth)
{
    const step_ctx *c = p;
    for (int chunk = ith; chunk < c->n_chunks; chunk += nth)
        step_chunk(c, chunk, c->scores + (size_t)ith * c->sstride);
}

/* Merges the chunks in order: out_h = sum_c e^(m_c - M) acc_c / sum_c e^(m_c - M) l_c. */
static void step_merge(const step_ctx *c)
{
    const gitc_attention_args *a = c->a;
    int H = a->n_heads, hd = a->head_dim;
    for (int h = 0; h < H; h++) {
        float M = -INFINITY, l = 0.0f, f[GITC_STEP_CHUNKS_MAX];
        for (int t = 0; t < c->n_chunks; t++)
            M = fmaxf(M, c->results[(size_t)t * c->rstride + h]);
        for (int t = 0; t < c->n_chunks; t++) {
            const float *r = c->results + (size_t)t * c->rstride;
            f[t] = expf(r[h] - M);
            l += f[t] * r[H + h];
        }
        float *o = a->out + (size_t)h * hd;
        for (int d = 0; d < hd; d++) {
            float x = 0.0f;
            for (int t = 0; t < c->n_chunks; t++)
                x += f[t] * c->results[(size_t)t * c->rstride + 2 * H + (size_t)h * hd + d];
            o[d] = x / l;
        }
    }
}

/* The image rows' attention (one block of keys, many queries) and a decode
 * step's single query here; prompts (a causal block of several queries) and
 * heads the tiles do not fit on the avx2 kernel. */
static void attention_avx512(gitc_pool *pool, const gitc_attention_args *a, float *scratch)
{
    int one_block = !a->k2 || a->n2 <= 0;
    int fits = a->head_dim % 16 == 0 && a->head_dim <= AHD && a->n_heads > 0;
    /* gitci_attention_scratch leaves 16 floats of slack for this alignment. */
    float *aligned = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    if (fits && a->n_q == 1) {
        int n2 = a->k2 ? GITC_MIN(a->n2, a->q_start + 1) : 0;
        int n = a->n1 + GITC_MAX(n2, 0), n_chunks = (n + SC - 1) / SC;
        size_t rstride = ((size_t)a->n_heads * (2 + (size_t)a->head_dim) + 15) / 16 * 16;
        size_t sstride = (size_t)a->n_heads * SC;
        /* Whether it fits one thread's scratch decides, so that the path (and
         * the bits) never depend on the thread count; each further thread
         * brings more room than its scores take. */
        size_t room1 = gitci_attention_scratch(1, a->n1 + (a->k2 ? a->n2 : 0)) - 16;
        if (n > 0 && n_chunks <= GITC_STEP_CHUNKS_MAX && rstride * (size_t)n_chunks + sstride <= room1) {
            step_ctx c = {a, n, n_chunks, aligned, rstride, aligned + rstride * (size_t)n_chunks, sstride};
            gitci_pool_run(pool, step_worker, &c);
            step_merge(&c);
            return;
        }
    }
    if (!one_block || a->n_q < 16 || a->n1 <= 0 || !fits) {
        gitci_kernels_avx2_set.attention(pool, a, scratch);
        return;
    }
    attn_ctx c = {a, aligned};
    gitci_pool_run(pool, attn_worker, &c);
}

/* Twelve independent 16-lane FMA chains. */
static double fma_loop_avx512(long n)
{
    __m512 a[12], m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < n; r++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return 12.0 * 32.0 * (double)n;
}

/* Only what this set replaces; kernels.c takes the rest from the AVX2 set
 * once the CPU check has passed (nothing here runs before it). */
const gitc_kernel_table gitci_kernels_avx512_set = {
    "avx512", linear_avx512, attention_avx512, NULL, NULL, NULL, NULL, 1, fma_loop_avx512, NULL,
};

#endif
