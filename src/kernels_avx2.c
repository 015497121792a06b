/* AVX2+FMA+F16C kernels: register-blocked linear layers that read F32, F16 or
 * BF16 weights in place (converted exactly on the fly), attention, layer norm
 * and the elementwise ops. This file is compiled with -mavx2 -mfma -mf16c
 * (see CMakeLists.txt); nothing in it may run before the CPU check in
 * kernels.c. Sums are reordered relative to the `*_ref` oracles, never
 * computed in lower precision. */
#include "kernel_set.h"
#include "internal.h"
#include "kernels_exp.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define GITC_INLINE static inline __attribute__((always_inline))

/* ---- helpers ---------------------------------------------------------- */

/* Sums of four vectors: lane i of the result is the sum of the i-th argument. */
GITC_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 ab = _mm256_hadd_ps(a, b);
    __m256 cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

GITC_INLINE float hsum(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

GITC_INLINE float hmax(__m256 a)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane mask selecting the first n (0..8) lanes. */
GITC_INLINE __m256i lane_mask(int n)
{
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - n));
}

/* expf for 8 lanes: Cephes' range reduction and degree-5 polynomial (about
 * 1 ulp from libm), with the 2^n scale split in two so that overflow gives
 * inf and underflow degrades gradually like expf. */
GITC_INLINE __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(GITC_EXP_X_MIN)), _mm256_set1_ps(GITC_EXP_X_MAX));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(GITC_EXP_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(GITC_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(GITC_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(gitc_exp_poly[0]);
    for (int i = 1; i < 6; i++)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(gitc_exp_poly[i]));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

/* ---- linear ----------------------------------------------------------- */

/* Register tile: MR rows of x times NR rows of W, 8-wide accumulators along K. */
#define MR 4
#define NR 3
/* K chunk (a multiple of 8) and the x rows per chunk, sized so that an x
 * panel of MC x KC floats stays in L2 and an NR x KC slice of W in L1. */
#ifndef KC_MAX
#define KC_MAX 768
#endif
#ifndef X_PANEL_FLOATS
#define X_PANEL_FLOATS (48 * 1024)
#endif

/* 8 weights from w[i..i+8) converted exactly to float32. */
GITC_INLINE __m256 load_w(const void *w, size_t i, const int type)
{
    if (type == GITC_W_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    if (type == GITC_W_BF16) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    return _mm256_loadu_ps((const float *)w + i);
}

/* Up to 8 weights w[i..i+n) converted, zero-padded to 8 lanes. */
GITC_INLINE __m256 load_w_tail(const void *w, size_t i, int n, const int type)
{
    if (type == GITC_W_F32)
        return _mm256_maskload_ps((const float *)w + i, lane_mask(n));
    uint16_t h[8] = {0};
    memcpy(h, (const uint16_t *)w + i, (size_t)n * sizeof(uint16_t));
    return load_w(h, 0, type);
}

typedef struct linear_ctx {
    float *y;         /* [M, N] */
    const float *x;   /* [M, K] */
    const gitc_matrix *w;
    const float *bias; /* [N] or NULL */
    int M;
} linear_ctx;

/* y[m0..m0+mr, n0..n0+nr) (+)= x · Wᵀ over k in [k0, k0+kc); the first chunk
 * starts from the bias, later ones add to y. */
GITC_INLINE void linear_tile(const linear_ctx *c, const int mr, const int nr, const int type,
                             int m0, int n0, int k0, int kc, int first)
{
    const size_t K = (size_t)c->w->n_in, N = (size_t)c->w->n_out;
    const float *x = c->x + (size_t)m0 * K + (size_t)k0;
    const void *w = c->w->data;
    size_t wrow = (size_t)n0 * K + (size_t)k0;
    __m256 acc[MR][NR];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm256_setzero_ps();
    int kfull = kc & ~7;
    for (int k = 0; k < kfull; k += 8) {
        __m256 wv[NR];
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            wv[j] = load_w(w, wrow + (size_t)j * K + (size_t)k, type);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            __m256 xv = _mm256_loadu_ps(x + (size_t)i * K + (size_t)k);
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (kc > kfull) {
        int rem = kc - kfull;
        __m256i mask = lane_mask(rem);
        __m256 wv[NR];
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            wv[j] = load_w_tail(w, wrow + (size_t)j * K + (size_t)kfull, rem, type);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            __m256 xv = _mm256_maskload_ps(x + (size_t)i * K + (size_t)kfull, mask);
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        float s[4];
        _mm_storeu_ps(s, hsum4(acc[i][0], nr > 1 ? acc[i][1] : zero, nr > 2 ? acc[i][2] : zero, zero));
        float *y = c->y + (size_t)(m0 + i) * N + (size_t)n0;
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++) {
            float base = first ? (c->bias ? c->bias[n0 + j] : 0.0f) : y[j];
            y[j] = base + s[j];
        }
    }
}

/* Dispatches an edge tile (mr < MR or nr < NR) to its compiled shape. */
GITC_INLINE void linear_edge(const linear_ctx *c, int mr, int nr, const int type, int m0, int n0,
                             int k0, int kc, int first)
{
#define EDGE(a, b)                                                                                 \
    case (a) * 4 + (b): linear_tile(c, a, b, type, m0, n0, k0, kc, first); break;
    switch (mr * 4 + nr) {
        EDGE(1, 1) EDGE(1, 2) EDGE(1, 3)
        EDGE(2, 1) EDGE(2, 2) EDGE(2, 3)
        EDGE(3, 1) EDGE(3, 2) EDGE(3, 3)
        EDGE(4, 1) EDGE(4, 2) EDGE(4, 3)
    default: break;
    }
#undef EDGE
}

/* Thread share: output features [n0, n1), all rows; chunks of K, then of M
 * (x panel in L2), then W tiles (reused from L1 by every row tile). */
GITC_INLINE void linear_range(const linear_ctx *c, int n0, int n1, const int type)
{
    int K = c->w->n_in, M = c->M;
    int kc_max = (M <= 2 * MR || K <= KC_MAX) ? K : KC_MAX;
    int mc = X_PANEL_FLOATS / (kc_max > 0 ? kc_max : 1);
    mc = mc < MR ? MR : mc - mc % MR;
    for (int k0 = 0; k0 < K || k0 == 0; k0 += kc_max) {
        int kc = GITC_MIN(kc_max, K - k0);
        for (int m0 = 0; m0 < M; m0 += mc) {
            int m1 = GITC_MIN(m0 + mc, M);
            for (int n = n0; n < n1; n += NR) {
                int nr = GITC_MIN(NR, n1 - n);
                for (int m = m0; m < m1; m += MR) {
                    int mr = GITC_MIN(MR, m1 - m);
                    if (mr == MR && nr == NR)
                        linear_tile(c, MR, NR, type, m, n, k0, kc, k0 == 0);
                    else
                        linear_edge(c, mr, nr, type, m, n, k0, kc, k0 == 0);
                }
            }
        }
        if (K == 0)
            break;
    }
}

/* Many rows and long rows (M >= PACK_MIN_M, K > PACK_MIN_K): W is converted and transposed, one panel of
 * PN output features x PK inputs at a time, into a K-major buffer on the
 * stack (L1-sized), and a PM x PN register tile accumulates broadcasts of x
 * times panel rows: no horizontal sums, and F16/BF16 are converted once per
 * panel instead of once per row tile. */
#ifndef PACK_MIN_M
#define PACK_MIN_M 16
#endif
/* Measured on Zen 3 (notes/kernels.md): the panel path wins for K = 3072,
 * the dot-product tiles are as fast or faster for K = 768. */
#ifndef PACK_MIN_K
#define PACK_MIN_K 1024
#endif
#define PM 6
#define PN 16
#ifndef PK
#define PK 256
#endif
#define PACK_X_FLOATS (64 * 1024) /* x rows per M chunk: PACK_X_FLOATS / PK */

/* Transposes an 8x8 block: rows r[0..8) become columns. */
GITC_INLINE void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* panel[k][c] = W[n0 + c][k0 + k] for k < kc, c < PN (zero for c >= nr). */
GITC_INLINE void pack_panel(const gitc_matrix *w, const int type, int n0, int nr, int k0, int kc,
                            float *panel)
{
    const size_t K = (size_t)w->n_in;
    int kfull = kc & ~7;
    for (int cb = 0; cb < PN; cb += 8) {
        for (int k = 0; k < kc; k += 8) {
            __m256 r[8];
            int rem = k < kfull ? 8 : kc - k;
            for (int c = 0; c < 8; c++) {
                if (cb + c >= nr)
                    r[c] = _mm256_setzero_ps();
                else if (rem == 8)
                    r[c] = load_w(w->data, (size_t)(n0 + cb + c) * K + (size_t)(k0 + k), type);
                else
                    r[c] = load_w_tail(w->data, (size_t)(n0 + cb + c) * K + (size_t)(k0 + k), rem, type);
            }
            transpose8(r);
            for (int t = 0; t < rem; t++)
                _mm256_storeu_ps(panel + (size_t)(k + t) * PN + cb, r[t]);
        }
    }
}

/* y[m0..m0+mr, n0..n0+nr) (+)= x[m0.., k0..k0+kc) · panel; the first K chunk
 * starts from the bias. */
GITC_INLINE void packed_tile(const linear_ctx *c, const int mr, int m0, int n0, int nr, int k0,
                             int kc, const float *panel, int first)
{
    const size_t K = (size_t)c->w->n_in, N = (size_t)c->w->n_out;
    const float *x = c->x + (size_t)m0 * K + (size_t)k0;
    __m256 acc[PM][2];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(panel + (size_t)k * PN);
        __m256 b1 = _mm256_loadu_ps(panel + (size_t)k * PN + 8);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 a = _mm256_broadcast_ss(x + (size_t)i * K + (size_t)k);
            acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
        }
    }
    __m256 base0 = _mm256_setzero_ps(), base1 = base0;
    __m256i mask0 = lane_mask(GITC_MIN(nr, 8)), mask1 = lane_mask(GITC_MAX(nr - 8, 0));
    if (first && c->bias) {
        base0 = _mm256_maskload_ps(c->bias + n0, mask0);
        base1 = _mm256_maskload_ps(c->bias + n0 + 8, mask1);
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        float *y = c->y + (size_t)(m0 + i) * N + (size_t)n0;
        __m256 y0 = first ? base0 : _mm256_maskload_ps(y, mask0);
        __m256 y1 = first ? base1 : _mm256_maskload_ps(y + 8, mask1);
        _mm256_maskstore_ps(y, mask0, _mm256_add_ps(y0, acc[i][0]));
        _mm256_maskstore_ps(y + 8, mask1, _mm256_add_ps(y1, acc[i][1]));
    }
}

/* Thread share [n0, n1) of a many-row product: M chunks (x slice in L2),
 * K chunks, W panels (packed into L1), row tiles. */
GITC_INLINE void packed_range(const linear_ctx *c, int n0, int n1, const int type)
{
    float panel[PK * PN] __attribute__((aligned(32)));
    int K = c->w->n_in, M = c->M;
    int mc = PACK_X_FLOATS / PK;
    for (int m0 = 0; m0 < M; m0 += mc) {
        int m1 = GITC_MIN(m0 + mc, M);
        for (int k0 = 0; k0 < K || k0 == 0; k0 += PK) {
            int kc = GITC_MIN(PK, K - k0);
            for (int n = n0; n < n1; n += PN) {
                int nr = GITC_MIN(PN, n1 - n);
                pack_panel(c->w, type, n, nr, k0, kc, panel);
                int m = m0;
                for (; m + PM <= m1; m += PM)
                    packed_tile(c, PM, m, n, nr, k0, kc, panel, k0 == 0);
                switch (m1 - m) {
                case 5: packed_tile(c, 5, m, n, nr, k0, kc, panel, k0 == 0); break;
                case 4: packed_tile(c, 4, m, n, nr, k0, kc, panel, k0 == 0); break;
                case 3: packed_tile(c, 3, m, n, nr, k0, kc, panel, k0 == 0); break;
                case 2: packed_tile(c, 2, m, n, nr, k0, kc, panel, k0 == 0); break;
                case 1: packed_tile(c, 1, m, n, nr, k0, kc, panel, k0 == 0); break;
                default: break;
                }
            }
            if (K == 0)
                break;
        }
    }
}

static void linear_range_f32(const linear_ctx *c, int n0, int n1) { linear_range(c, n0, n1, GITC_W_F32); }
static void linear_range_f16(const linear_ctx *c, int n0, int n1) { linear_range(c, n0, n1, GITC_W_F16); }
static void linear_range_bf16(const linear_ctx *c, int n0, int n1) { linear_range(c, n0, n1, GITC_W_BF16); }
static void packed_range_f32(const linear_ctx *c, int n0, int n1) { packed_range(c, n0, n1, GITC_W_F32); }
static void packed_range_f16(const linear_ctx *c, int n0, int n1) { packed_range(c, n0, n1, GITC_W_F16); }
static void packed_range_bf16(const linear_ctx *c, int n0, int n1) { packed_range(c, n0, n1, GITC_W_BF16); }

static void linear_worker(void *p, int ith, int nth)
{
    const linear_ctx *c = p;
    int N = c->w->n_out;
    int packed = c->M >= PACK_MIN_M && c->w->n_in > PACK_MIN_K;
    /* Threads own whole tiles (NR or PN output features). */
    int unit = packed ? PN : NR;
    int t0, t1;
    gitc_split((N + unit - 1) / unit, ith, nth, &t0, &t1);
    int n0 = t0 * unit, n1 = GITC_MIN(t1 * unit, N);
    if (n0 >= n1)
        return;
    switch (c->w->type) {
    case GITC_W_F16: packed ? packed_range_f16(c, n0, n1) : linear_range_f16(c, n0, n1); break;
    case GITC_W_BF16: packed ? packed_range_bf16(c, n0, n1) : linear_range_bf16(c, n0, n1); break;
    default: packed ? packed_range_f32(c, n0, n1) : linear_range_f32(c, n0, n1); break;
    }
}

static void linear_avx2(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                        const float *bias, int M)
{
    if (M <= 0 || w->n_out <= 0)
        return;
    linear_ctx c = {y, x, w, bias, M};
    /* Below ~64k multiply-adds a thread hand-off costs more than it saves. */
    if ((double)M * w->n_out * w->n_in < 65536.0)
        linear_worker(&c, 0, 1);
    else
        gitci_pool_run(pool, linear_worker, &c);
}

/* ---- attention -------------------------------------------------------- */

typedef struct attention_ctx {
    const gitc_attention_args *a;
    float *scratch;
} attention_ctx;

/* Row j of keys (or values when v) for head h, over both blocks. */
GITC_INLINE const float *kv_row(const gitc_attention_args *a, int j, int h, int v)
{
    return gitc_attention_kv_row(a, j, v) + (size_t)h * (size_t)a->head_dim;
}

/* Queries per attention work item: scores and the weighted sum are computed
 * as QB x (keys) and QB x (head_dim) register tiles. */
#define QB 4

/* scores[i][j0..j0+nr) = scale * q_i · k_j for mr queries and nr keys. */
GITC_INLINE void qk_tile(const int mr, const int nr, const float *const *q, const float *const *k,
                         int hd, float scale, float *scores, int ld, int j0)
{
    __m256 acc[QB][3];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm256_setzero_ps();
    int dfull = hd & ~7;
    for (int d = 0; d <= dfull; d += 8) {
        __m256 kv[3];
        if (d == dfull) {
            if (d == hd)
                break;
            __m256i m = lane_mask(hd - d);
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                kv[j] = _mm256_maskload_ps(k[j] + d, m);
#pragma GCC unroll 4
            for (int i = 0; i < mr; i++) {
                __m256 qv = _mm256_maskload_ps(q[i] + d, m);
#pragma GCC unroll 4
                for (int j = 0; j < nr; j++)
                    acc[i][j] = _mm256_fmadd_ps(qv, kv[j], acc[i][j]);
            }
            break;
        }
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            kv[j] = _mm256_loadu_ps(k[j] + d);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            __m256 qv = _mm256_loadu_ps(q[i] + d);
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm256_fmadd_ps(qv, kv[j], acc[i][j]);
        }
    }
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        float t[4];
        __m128 sum = hsum4(acc[i][0], nr > 1 ? acc[i][1] : zero, nr > 2 ? acc[i][2] : zero, zero);
        _mm_storeu_ps(t, _mm_mul_ps(sum, _mm_set1_ps(scale)));
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            scores[(size_t)i * ld + j0 + j] = t[j];
    }
}

/* out_i[d0..d0+16) = inv_i * Σ_j p_i[j] v_j[d0..] for mr queries; rem (< 16
 * when masked) is the number of dimensions left in the head. */
GITC_INLINE void pv_tile(const gitc_attention_args *a, const int mr, const int masked, int h, int d0,
                         int rem, const float *p, int ld, int n, const float *inv, float *const *out)
{
    __m256 acc[QB][2];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    __m256i m0 = lane_mask(masked ? GITC_MIN(rem, 8) : 8);
    __m256i m1 = lane_mask(masked ? GITC_MAX(rem - 8, 0) : 8);
    for (int j = 0; j < n; j++) {
        const float *v = kv_row(a, j, h, 1) + d0;
        __m256 v0 = masked ? _mm256_maskload_ps(v, m0) : _mm256_loadu_ps(v);
        __m256 v1 = masked ? _mm256_maskload_ps(v + 8, m1) : _mm256_loadu_ps(v + 8);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            __m256 pi = _mm256_broadcast_ss(p + (size_t)i * ld + j);
            acc[i][0] = _mm256_fmadd_ps(pi, v0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(pi, v1, acc[i][1]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        __m256 s = _mm256_set1_ps(inv[i]);
        float *o = out[i] + d0;
        if (masked) {
            _mm256_maskstore_ps(o, m0, _mm256_mul_ps(acc[i][0], s));
            _mm256_maskstore_ps(o + 8, m1, _mm256_mul_ps(acc[i][1], s));
        } else {
            _mm256_storeu_ps(o, _mm256_mul_ps(acc[i][0], s));
            _mm256_storeu_ps(o + 8, _mm256_mul_ps(acc[i][1], s));
        }
    }
}

/* Softmax numerators of p[0..n) in place, zero in [n, n_pad); returns 1/sum. */
static float softmax_row(float *p, int n, int n_pad)
{
    int nfull = n & ~7;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < nfull; j += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(p + j));
    float mx = hmax(vmax);
    for (int j = nfull; j < n; j++)
        mx = p[j] > mx ? p[j] : mx;
    __m256 vmx = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
    for (int j = 0; j < nfull; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + j), vmx));
        _mm256_storeu_ps(p + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    if (n > nfull) {
        __m256i m = lane_mask(n - nfull);
        __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(p + nfull, m), vmx));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(p + nfull, m, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    for (int j = n; j < n_pad; j++)
        p[j] = 0.0f;
    return 1.0f / hsum(vsum);
}

/* Queries [i0, i0+mr) of head h (same semantics as attend_row in kernels.c):
 * every query sees block 1 and its causal prefix of block 2. */
GITC_INLINE void attend_block(const gitc_attention_args *a, const int mr, int i0, int h, float *p)
{
    int hd = a->head_dim;
    const float *q[QB];
    float *o[QB];
    int n[QB];
    float inv[QB];
    int n_max = 0;
    for (int i = 0; i < mr; i++) {
        q[i] = a->q + (size_t)(i0 + i) * (size_t)a->ldq + (size_t)h * (size_t)hd;
        o[i] = a->out + (size_t)(i0 + i) * (size_t)a->ldo + (size_t)h * (size_t)hd;
        int n2 = a->k2 ? GITC_MIN(a->n2, a->q_start + i0 + i + 1) : 0;
        n[i] = a->n1 + (n2 > 0 ? n2 : 0);
        n_max = GITC_MAX(n_max, n[i]);
    }
    if (n_max == 0) {
        for (int i = 0; i < mr; i++)
            memset(o[i], 0, (size_t)hd * sizeof(float));
        return;
    }
    int ld = n_max;
    for (int j = 0; j < n_max; j += 3) {
        const float *k[3];
        int nr = GITC_MIN(3, n_max - j);
        for (int t = 0; t < 3; t++)
            k[t] = kv_row(a, j + (t < nr ? t : 0), h, 0);
        if (nr == 3)
            qk_tile(mr, 3, q, k, hd, a->scale, p, ld, j);
        else if (nr == 2)
            qk_tile(mr, 2, q, k, hd, a->scale, p, ld, j);
        else
            qk_tile(mr, 1, q, k, hd, a->scale, p, ld, j);
    }
    for (int i = 0; i < mr; i++) {
        if (n[i] == 0) { /* sees no key: zero output, as the oracle */
            memset(p + (size_t)i * ld, 0, (size_t)ld * sizeof(float));
            inv[i] = 0.0f;
        } else {
            inv[i] = softmax_row(p + (size_t)i * ld, n[i], ld);
        }
    }
    int d0 = 0;
    for (; d0 + 16 <= hd; d0 += 16)
        pv_tile(a, mr, 0, h, d0, 16, p, ld, n_max, inv, o);
    if (d0 < hd)
        pv_tile(a, mr, 1, h, d0, hd - d0, p, ld, n_max, inv, o);
}

static void attention_worker(void *ptr, int ith, int nth)
{
    const attention_ctx *t = ptr;
    const gitc_attention_args *a = t->a;
    int n_keys = a->n1 + (a->k2 ? a->n2 : 0);
    float *p = t->scratch + (size_t)ith * QB * (size_t)(n_keys > 0 ? n_keys : 1);
    int n_blocks = (a->n_q + QB - 1) / QB;
    int r0, r1;
    gitc_split(n_blocks * a->n_heads, ith, nth, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        int i0 = (r / a->n_heads) * QB, h = r % a->n_heads;
        switch (GITC_MIN(QB, a->n_q - i0)) {
        case 4: attend_block(a, 4, i0, h, p); break;
        case 3: attend_block(a, 3, i0, h, p); break;
        case 2: attend_block(a, 2, i0, h, p); break;
        default: attend_block(a, 1, i0, h, p); break;
        }
    }
}

static void attention_avx2(gitc_pool *pool, const gitc_attention_args *a, float *scratch)
{
    attention_ctx t = {a, scratch};
    if (a->n_q <= 0 || a->n_heads <= 0 || a->head_dim <= 0)
        return;
    gitci_pool_run(pool, attention_worker, &t);
}

/* ---- layer norm ------------------------------------------------------- */

typedef struct layernorm_ctx {
    float *out;
    const float *x, *gamma, *beta;
    int M, C;
    float eps;
} layernorm_ctx;

/* Σ x (squares 0) or Σ (x - shift)² (squares 1) over x[0..n) in float64, as
 * the oracle computes them, 8 lanes at a time. */
GITC_INLINE double sum_f64(const float *x, int n, double shift, const int squares)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, sh = _mm256_set1_pd(shift);
    int c = 0;
    if (!squares) {
        for (; c + 8 <= n; c += 8) {
            __m256 v = _mm256_loadu_ps(x + c);
            a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
            a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        }
    } else {
        for (; c + 8 <= n; c += 8) {
            __m256 v = _mm256_loadu_ps(x + c);
            __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), sh);
            __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), sh);
            a0 = _mm256_add_pd(a0, _mm256_mul_pd(d0, d0));
            a1 = _mm256_add_pd(a1, _mm256_mul_pd(d1, d1));
        }
    }
    double s[4];
    _mm256_storeu_pd(s, _mm256_add_pd(a0, a1));
    double r = (s[0] + s[1]) + (s[2] + s[3]);
    for (; c < n; c++)
        r += squares ? ((double)x[c] - shift) * ((double)x[c] - shift) : (double)x[c];
    return r;
}

static void layernorm_worker(void *p, int ith, int nth)
{
    const layernorm_ctx *t = p;
    int C = t->C, r0, r1;
    gitc_split(t->M, ith, nth, &r0, &r1);
    for (int m = r0; m < r1; m++) {
        const float *xr = t->x + (size_t)m * C;
        float *o = t->out + (size_t)m * C;
        double mean = sum_f64(xr, C, 0.0, 0) / C;
        double var = sum_f64(xr, C, mean, 1) / C;
        float rstd = (float)(1.0 / sqrt(var + t->eps));
        float fmean = (float)mean;
        __m256 vm = _mm256_set1_ps(fmean), vr = _mm256_set1_ps(rstd);
        int c = 0;
        /* Same float operations and order as the oracle: ((x - mean) * rstd) * g + b. */
        for (; c + 8 <= C; c += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + c), vm), vr);
            v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(t->gamma + c)), _mm256_loadu_ps(t->beta + c));
            _mm256_storeu_ps(o + c, v);
        }
        for (; c < C; c++)
            o[c] = (xr[c] - fmean) * rstd * t->gamma[c] + t->beta[c];
    }
}

static void layernorm_avx2(gitc_pool *pool, float *out, const float *x, const float *gamma,
                           const float *beta, int M, int C, float eps)
{
    layernorm_ctx t = {out, x, gamma, beta, M, C, eps};
    if ((size_t)M * (size_t)C < 32768)
        layernorm_worker(&t, 0, 1);
    else
        gitci_pool_run(pool, layernorm_worker, &t);
}

/* ---- elementwise ------------------------------------------------------ */

typedef struct elementwise_ctx {
    float *x;
    const float *y;
    size_t n;
    int op; /* 0 gelu, 1 quick_gelu, 2 add */
} elementwise_ctx;

/* The element range [*i0, *i1) of thread ith, split on multiples of 16. */
static void split_elements(size_t n, int ith, int nth, size_t *i0, size_t *i1)
{
    size_t blocks = (n + 15) / 16, per = (blocks + (size_t)nth - 1) / (size_t)nth;
    size_t a = per * (size_t)ith * 16, b = a + per * 16;
    *i0 = a < n ? a : n;
    *i1 = b < n ? b : n;
}

static void elementwise_worker(void *p, int ith, int nth)
{
    const elementwise_ctx *t = p;
    size_t i0, i1, i;
    split_elements(t->n, ith, nth, &i0, &i1);
    float *x = t->x;
    if (t->op == 2) {
        for (i = i0; i + 8 <= i1; i += 8)
            _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(t->y + i)));
        for (; i < i1; i++)
            x[i] += t->y[i];
    } else if (t->op == 1) {
        /* x / (1 + exp(-1.702 x)), as the oracle writes it. */
        const __m256 k = _mm256_set1_ps(-1.702f), one = _mm256_set1_ps(1.0f);
        for (i = i0; i + 8 <= i1; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i);
            _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_mul_ps(k, v)))));
        }
        for (; i < i1; i++)
            x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
    } else {
        /* libm's erff per element keeps the exact-erf GELU at libm accuracy. */
        for (i = i0; i < i1; i++)
            x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752440f));
    }
}

static void elementwise(gitc_pool *pool, float *x, const float *y, size_t n, int op)
{
    elementwise_ctx t = {x, y, n, op};
    /* Cheap ops are worth threading only when large; erff always is. */
    size_t threshold = op == 0 ? 4096 : op == 1 ? 16384 : 65536;
    if (n < threshold)
        elementwise_worker(&t, 0, 1);
    else
        gitci_pool_run(pool, elementwise_worker, &t);
}

static void gelu_avx2(gitc_pool *pool, float *x, size_t n) { elementwise(pool, x, NULL, n, 0); }
static void quick_gelu_avx2(gitc_pool *pool, float *x, size_t n) { elementwise(pool, x, NULL, n, 1); }
static void add_avx2(gitc_pool *pool, float *x, const float *y, size_t n) { elementwise(pool, x, y, n, 2); }

/* Twelve independent 8-lane FMA chains: enough to fill two FMA pipes of latency <= 6. */
static double fma_loop_avx2(long n)
{
    __m256 a[12], m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long r = 0; r < n; r++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, a[i]);
    volatile float sink = hsum(s);
    (void)sink;
    return 12.0 * 16.0 * (double)n;
}

/* The max, then exp8 of x - max summed in float64 lanes (the tail masked to -inf). */
static float log_sum_exp_avx2(const float *x, int n)
{
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(x + i));
    float mx = hmax(vmx);
    for (int j = i; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    if (mx == -INFINITY)
        return -INFINITY;
    vmx = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++)
        sum += (double)expf(x[i] - mx);
    return (float)(mx + log(sum));
}

const gitc_kernel_table gitci_kernels_avx2_set = {
    "avx2", linear_avx2, attention_avx2, layernorm_avx2, gelu_avx2, quick_gelu_avx2, add_avx2,
    0, fma_loop_avx2, log_sum_exp_avx2,
};

#endif
