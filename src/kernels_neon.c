/* NEON (AArch64 Advanced SIMD) f32 kernels: the linear layer over weight
 * panels prepared at load (gitci_panels_pack: 32 outputs x K inputs, K-major)
 * with a 5-row x 16-output register tile, the linear layer on W in place
 * (F32/F16/BF16 converted exactly on the fly) for matrices outside a model,
 * attention, layer norm and the elementwise ops. Advanced SIMD is part of
 * every AArch64 CPU Linux runs on; kernels.c still checks HWCAP_ASIMD before
 * it uses this set. Built only for aarch64 (CMakeLists.txt). Numerics as the
 * AVX2/AVX-512 sets: sums are reordered relative to the `*_ref` oracles,
 * never computed in lower precision; layer norm keeps the oracle's float64
 * statistics and its float operations; gelu is libm's erff per element.
 * Dimension letters as kernels.h: M rows, N outputs, K inputs. */
#include "kernel_set.h"
#include "internal.h"
#include "kernels_exp.h"

#if defined(__aarch64__) && defined(__ARM_NEON)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define GITC_INLINE static inline __attribute__((always_inline))
#define PN GITC_PANEL_N

/* ---- helpers ---------------------------------------------------------- */

/* expf for 4 lanes: the other sets' exp8/exp16 (kernels_exp.h: Cephes'
 * range reduction and degree-5 polynomial, fused multiply-adds, about 1 ulp
 * from libm), with the 2^n scale split in two so that overflow gives inf and
 * underflow degrades gradually like expf. */
GITC_INLINE float32x4_t exp4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(GITC_EXP_X_MIN)), vdupq_n_f32(GITC_EXP_X_MAX));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(GITC_EXP_LOG2E)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(GITC_EXP_LN2_HI));
    r = vfmsq_f32(r, n, vdupq_n_f32(GITC_EXP_LN2_LO));
    float32x4_t p = vdupq_n_f32(gitc_exp_poly[0]);
    for (int i = 1; i < 6; i++)
        p = vfmaq_f32(vdupq_n_f32(gitc_exp_poly[i]), p, r);
    float32x4_t y = vaddq_f32(vfmaq_f32(r, vmulq_f32(p, r), r), vdupq_n_f32(1.0f));
    int32x4_t ni = vcvtq_s32_f32(n); /* n is integral: exact */
    int32x4_t n1 = vshrq_n_s32(ni, 1);
    int32x4_t n2 = vsubq_s32(ni, n1);
    int32x4_t bias = vdupq_n_s32(127);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(y, s1), s2);
}

/* ---- linear over prepared panels --------------------------------------- */

/* Register tile: MR rows x 16 outputs (half a panel): 4·MR accumulators, 4
 * panel vectors and MR vectors of x (4 inputs each, used by lane) make 29
 * of the 32 NEON registers at MR = 5. */
#define MR 5
/* Inputs per pass over a panel: its KC x 32 slice (32 KiB) stays in L1 while
 * every row tile of the block uses it. */
#define KC 256
/* Rows per block: MC x KC floats of x (240 KiB) stay in L2 across the panels. */
#define MC 240

/* Four outputs += x_lane · b over one input: the lane-indexed FMLA. */
#define FMA_LANE(acc, b, xv, lane) vfmaq_laneq_f32(acc, b, xv, lane)

/* y[mr, nc] = or += x[mr, kc] · b[kc, 16 of 32] (+ bias on the first chunk);
 * nc (<= 16) columns are stored, the rest of the tile is zero padding. */
GITC_INLINE void panel_tile(const int mr, const float *x, size_t ldx, const float *b, int kc,
                            float *y, size_t ldy, int nc, const float *bias, int first)
{
    float32x4_t c[MR][4];
#pragma GCC unroll 5
    for (int i = 0; i < mr; i++)
        c[i][0] = c[i][1] = c[i][2] = c[i][3] = vdupq_n_f32(0.0f);
    int k = 0;
    for (; k + 4 <= kc; k += 4) {
        float32x4_t xv[MR];
#pragma GCC unroll 5
        for (int i = 0; i < mr; i++)
            xv[i] = vld1q_f32(x + (size_t)i * ldx + k);
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) {
            const float *bk = b + (size_t)(k + l) * PN;
            float32x4_t b0 = vld1q_f32(bk), b1 = vld1q_f32(bk + 4);
            float32x4_t b2 = vld1q_f32(bk + 8), b3 = vld1q_f32(bk + 12);
#pragma GCC unroll 5
            for (int i = 0; i < mr; i++) {
                /* lane must be a constant: l is, after unrolling */
                switch (l) {
                case 0:
                    c[i][0] = FMA_LANE(c[i][0], b0, xv[i], 0); c[i][1] = FMA_LANE(c[i][1], b1, xv[i], 0);
                    c[i][2] = FMA_LANE(c[i][2], b2, xv[i], 0); c[i][3] = FMA_LANE(c[i][3], b3, xv[i], 0);
                    break;
                case 1:
                    c[i][0] = FMA_LANE(c[i][0], b0, xv[i], 1); c[i][1] = FMA_LANE(c[i][1], b1, xv[i], 1);
                    c[i][2] = FMA_LANE(c[i][2], b2, xv[i], 1); c[i][3] = FMA_LANE(c[i][3], b3, xv[i], 1);
                    break;
                case 2:
                    c[i][0] = FMA_LANE(c[i][0], b0, xv[i], 2); c[i][1] = FMA_LANE(c[i][1], b1, xv[i], 2);
                    c[i][2] = FMA_LANE(c[i][2], b2, xv[i], 2); c[i][3] = FMA_LANE(c[i][3], b3, xv[i], 2);
                    break;
                default:
                    c[i][0] = FMA_LANE(c[i][0], b0, xv[i], 3); c[i][1] = FMA_LANE(c[i][1], b1, xv[i], 3);
                    c[i][2] = FMA_LANE(c[i][2], b2, xv[i], 3); c[i][3] = FMA_LANE(c[i][3], b3, xv[i], 3);
                    break;
                }
            }
        }
    }
    for (; k < kc; k++) {
        const float *bk = b + (size_t)k * PN;
        float32x4_t b0 = vld1q_f32(bk), b1 = vld1q_f32(bk + 4);
        float32x4_t b2 = vld1q_f32(bk + 8), b3 = vld1q_f32(bk + 12);
#pragma GCC unroll 5
        for (int i = 0; i < mr; i++) {
            float32x4_t a = vdupq_n_f32(x[(size_t)i * ldx + k]);
            c[i][0] = vfmaq_f32(c[i][0], a, b0);
            c[i][1] = vfmaq_f32(c[i][1], a, b1);
            c[i][2] = vfmaq_f32(c[i][2], a, b2);
            c[i][3] = vfmaq_f32(c[i][3], a, b3);
        }
    }
    float bias16[16] = {0};
    if (first && bias)
        memcpy(bias16, bias, (size_t)nc * sizeof(float));
#pragma GCC unroll 5
    for (int i = 0; i < mr; i++) {
        float *yr = y + (size_t)i * ldy;
        float out[16];
        const float *base = first ? bias16 : out;
        if (!first)
            memcpy(out, yr, (size_t)nc * sizeof(float));
        if (nc == 16) {
            base = first ? bias16 : yr;
            vst1q_f32(yr, vaddq_f32(vld1q_f32(base), c[i][0]));
            vst1q_f32(yr + 4, vaddq_f32(vld1q_f32(base + 4), c[i][1]));
            vst1q_f32(yr + 8, vaddq_f32(vld1q_f32(base + 8), c[i][2]));
            vst1q_f32(yr + 12, vaddq_f32(vld1q_f32(base + 12), c[i][3]));
        } else {
            float sum[16];
            vst1q_f32(sum, c[i][0]);
            vst1q_f32(sum + 4, c[i][1]);
            vst1q_f32(sum + 8, c[i][2]);
            vst1q_f32(sum + 12, c[i][3]);
            for (int j = 0; j < nc; j++)
                yr[j] = base[j] + sum[j];
        }
    }
}

/* One compiled tile per row count, so the accumulators stay in registers. */
#define TILE(R)                                                                                    \
    static void panel_tile_##R(const float *x, size_t ldx, const float *b, int kc, float *y,       \
                               size_t ldy, int nc, const float *bias, int first)                  \
    {                                                                                              \
        panel_tile(R, x, ldx, b, kc, y, ldy, nc, bias, first);                                     \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5)
#undef TILE

typedef void (*panel_tile_fn)(const float *, size_t, const float *, int, float *, size_t, int,
                              const float *, int);
static const panel_tile_fn panel_tiles[MR + 1] = {
    NULL, panel_tile_1, panel_tile_2, panel_tile_3, panel_tile_4, panel_tile_5,
};

typedef struct panel_ctx {
    float *y;           /* [M, N] */
    const float *x;     /* [M, K] */
    const gitc_matrix *w;
    const float *bias;  /* [N] or NULL */
    int M;
} panel_ctx;

/* Output panels [p0, p1) for all rows, in chunks of KC inputs: every output
 * is bias + chunk 0, then + chunk 1, ..., whatever M is (a row's result does
 * not depend on the rows beside it: batches equal single runs). Few rows
 * (decode): panel by panel, one pass over the weights. Many rows: blocks of
 * MC rows, each KC slice of a panel reused from L1 by every row tile. */
static void panel_range(const panel_ctx *c, int p0, int p1)
{
    int M = c->M, N = c->w->n_out, K = c->w->n_in;
    int few = M <= MR;
    for (int m0 = 0; m0 < M; m0 += MC) {
        int mc = GITC_MIN(MC, M - m0);
        for (int kk = 0; kk < (few ? 1 : K); kk += KC) {
            for (int p = p0; p < p1; p++) {
                for (int half = 0; half < 2; half++) {
                    int n0 = p * PN + half * 16, nc = GITC_MIN(16, N - n0);
                    if (nc <= 0)
                        break;
                    const float *bias = c->bias ? c->bias + n0 : NULL;
                    for (int k0 = few ? 0 : kk; k0 < (few ? K : kk + 1); k0 += KC) {
                        int kc = GITC_MIN(KC, K - k0);
                        const float *b = c->w->panels + ((size_t)p * K + k0) * PN + half * 16;
                        for (int i = 0; i < mc; i += MR) {
                            int mr = GITC_MIN(MR, mc - i);
                            size_t row = (size_t)(m0 + i);
                            panel_tiles[mr](c->x + row * K + k0, (size_t)K, b, kc, c->y + row * N + n0,
                                            (size_t)N, nc, bias, k0 == 0);
                        }
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

/* ---- linear on W in place ---------------------------------------------- */

/* Dot-product tile: DR rows of x times DN rows of W, 4-lane accumulators
 * along K, summed across lanes at the end (16 accumulators). */
#define DR 4
#define DN 4

/* 4 weights w[i..i+4) converted exactly to float32. */
GITC_INLINE float32x4_t load_w4(const void *w, size_t i, const int type)
{
    if (type == GITC_W_F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
    if (type == GITC_W_BF16)
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16));
    return vld1q_f32((const float *)w + i);
}

/* One weight w[i] converted exactly. */
GITC_INLINE float load_w1(const void *w, size_t i, const int type)
{
    if (type == GITC_W_F16)
        return gitci_f16_to_f32(((const uint16_t *)w)[i]);
    if (type == GITC_W_BF16)
        return gitci_bf16_to_f32(((const uint16_t *)w)[i]);
    return ((const float *)w)[i];
}

typedef struct dot_ctx {
    float *y;
    const float *x;
    const gitc_matrix *w;
    const float *bias;
    int M;
} dot_ctx;

/* y[m0..m0+mr, n0..n0+nr) = bias + x · Wᵀ over all of K. */
GITC_INLINE void dot_tile(const dot_ctx *c, const int mr, const int nr, const int type, int m0, int n0)
{
    const size_t K = (size_t)c->w->n_in, N = (size_t)c->w->n_out;
    const float *x = c->x + (size_t)m0 * K;
    const void *w = c->w->data;
    size_t wrow = (size_t)n0 * K;
    float32x4_t acc[DR][DN];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    size_t kfull = K & ~(size_t)3;
    for (size_t k = 0; k < kfull; k += 4) {
        float32x4_t wv[DN];
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            wv[j] = load_w4(w, wrow + (size_t)j * K + k, type);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            float32x4_t xv = vld1q_f32(x + (size_t)i * K + k);
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = vfmaq_f32(acc[i][j], xv, wv[j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        float *y = c->y + (size_t)(m0 + i) * N + (size_t)n0;
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++) {
            float s = vaddvq_f32(acc[i][j]);
            for (size_t k = kfull; k < K; k++)
                s += x[(size_t)i * K + k] * load_w1(w, wrow + (size_t)j * K + k, type);
            y[j] = (c->bias ? c->bias[n0 + j] : 0.0f) + s;
        }
    }
}

/* Dispatches a tile of mr x nr to its compiled shape. */
GITC_INLINE void dot_any(const dot_ctx *c, int mr, int nr, const int type, int m0, int n0)
{
#define SHAPE(a, b)                                                                                \
    case (a) * 8 + (b): dot_tile(c, a, b, type, m0, n0); break;
    switch (mr * 8 + nr) {
        SHAPE(1, 1) SHAPE(1, 2) SHAPE(1, 3) SHAPE(1, 4)
        SHAPE(2, 1) SHAPE(2, 2) SHAPE(2, 3) SHAPE(2, 4)
        SHAPE(3, 1) SHAPE(3, 2) SHAPE(3, 3) SHAPE(3, 4)
        SHAPE(4, 1) SHAPE(4, 2) SHAPE(4, 3) SHAPE(4, 4)
    default: break;
    }
#undef SHAPE
}

/* Thread share: output features [n0, n1), all rows, W tiles reused by every
 * row tile. */
GITC_INLINE void dot_range(const dot_ctx *c, int n0, int n1, const int type)
{
    for (int n = n0; n < n1; n += DN)
        for (int m = 0; m < c->M; m += DR)
            dot_any(c, GITC_MIN(DR, c->M - m), GITC_MIN(DN, n1 - n), type, m, n);
}

static void dot_range_f32(const dot_ctx *c, int n0, int n1) { dot_range(c, n0, n1, GITC_W_F32); }
static void dot_range_f16(const dot_ctx *c, int n0, int n1) { dot_range(c, n0, n1, GITC_W_F16); }
static void dot_range_bf16(const dot_ctx *c, int n0, int n1) { dot_range(c, n0, n1, GITC_W_BF16); }

static void dot_worker(void *p, int ith, int nth)
{
    const dot_ctx *c = p;
    int N = c->w->n_out, t0, t1;
    gitc_split((N + DN - 1) / DN, ith, nth, &t0, &t1);
    int n0 = t0 * DN, n1 = GITC_MIN(t1 * DN, N);
    if (n0 >= n1)
        return;
    switch (c->w->type) {
    case GITC_W_F16: dot_range_f16(c, n0, n1); break;
    case GITC_W_BF16: dot_range_bf16(c, n0, n1); break;
    default: dot_range_f32(c, n0, n1); break;
    }
}

static void linear_neon(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                        const float *bias, int M)
{
    if (M <= 0 || w->n_out <= 0)
        return;
    if (w->n_in <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < w->n_out; n++)
                y[(size_t)m * w->n_out + n] = bias ? bias[n] : 0.0f;
        return;
    }
    /* Below ~64k multiply-adds a thread hand-off costs more than it saves. */
    int alone = (double)M * w->n_out * w->n_in < 65536.0;
    if (w->panels) {
        panel_ctx c = {y, x, w, bias, M};
        if (alone)
            panel_worker(&c, 0, 1);
        else
            gitci_pool_run(pool, panel_worker, &c);
    } else { /* not prepared (a matrix outside a model): W in place */
        dot_ctx c = {y, x, w, bias, M};
        if (alone)
            dot_worker(&c, 0, 1);
        else
            gitci_pool_run(pool, dot_worker, &c);
    }
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

/* Queries per work item and keys per score tile: QB x KB dot products at once. */
#define QB 4
#define KB 4

/* scores[i][j0..j0+nr) = scale * q_i · k_j for mr queries and nr keys. */
GITC_INLINE void qk_tile(const int mr, const int nr, const float *const *q, const float *const *k,
                         int hd, float scale, float *scores, int ld, int j0)
{
    float32x4_t acc[QB][KB];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            acc[i][j] = vdupq_n_f32(0.0f);
    int dfull = hd & ~3;
    for (int d = 0; d < dfull; d += 4) {
        float32x4_t kv[KB];
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++)
            kv[j] = vld1q_f32(k[j] + d);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            float32x4_t qv = vld1q_f32(q[i] + d);
#pragma GCC unroll 4
            for (int j = 0; j < nr; j++)
                acc[i][j] = vfmaq_f32(acc[i][j], qv, kv[j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nr; j++) {
            float s = vaddvq_f32(acc[i][j]);
            for (int d = dfull; d < hd; d++)
                s += q[i][d] * k[j][d];
            scores[(size_t)i * ld + j0 + j] = s * scale;
        }
}

/* out_i[d0..d0+4·nv) = inv_i * Σ_j p_i[j] v_j[d0..] for mr queries. */
GITC_INLINE void pv_tile(const gitc_attention_args *a, const int mr, const int nv, int h, int d0,
                         const float *p, int ld, int n, const float *inv, float *const *out)
{
    float32x4_t acc[QB][4];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int t = 0; t < nv; t++)
            acc[i][t] = vdupq_n_f32(0.0f);
    for (int j = 0; j < n; j++) {
        const float *v = kv_row(a, j, h, 1) + d0;
        float32x4_t vv[4];
#pragma GCC unroll 4
        for (int t = 0; t < nv; t++)
            vv[t] = vld1q_f32(v + 4 * t);
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            float32x4_t pi = vdupq_n_f32(p[(size_t)i * ld + j]);
#pragma GCC unroll 4
            for (int t = 0; t < nv; t++)
                acc[i][t] = vfmaq_f32(acc[i][t], pi, vv[t]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        float32x4_t s = vdupq_n_f32(inv[i]);
#pragma GCC unroll 4
        for (int t = 0; t < nv; t++)
            vst1q_f32(out[i] + d0 + 4 * t, vmulq_f32(acc[i][t], s));
    }
}

/* The dimensions of the head past the last multiple of 4, one by one. */
static void pv_tail(const gitc_attention_args *a, int mr, int h, int d0, const float *p, int ld,
                    int n, const float *inv, float *const *out)
{
    for (int i = 0; i < mr; i++)
        for (int d = d0; d < a->head_dim; d++) {
            float s = 0.0f;
            for (int j = 0; j < n; j++)
                s += p[(size_t)i * ld + j] * kv_row(a, j, h, 1)[d];
            out[i][d] = s * inv[i];
        }
}

/* Softmax numerators of p[0..n) in place, zero in [n, n_pad); returns 1/sum. */
static float softmax_row(float *p, int n, int n_pad)
{
    int nfull = n & ~3;
    float32x4_t vmax = vdupq_n_f32(-INFINITY);
    for (int j = 0; j < nfull; j += 4)
        vmax = vmaxq_f32(vmax, vld1q_f32(p + j));
    float mx = vmaxvq_f32(vmax);
    for (int j = nfull; j < n; j++)
        mx = p[j] > mx ? p[j] : mx;
    float32x4_t vmx = vdupq_n_f32(mx), vsum = vdupq_n_f32(0.0f);
    for (int j = 0; j < nfull; j += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(p + j), vmx));
        vst1q_f32(p + j, e);
        vsum = vaddq_f32(vsum, e);
    }
    float sum = vaddvq_f32(vsum);
    if (n > nfull) {
        float t[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        memcpy(t, p + nfull, (size_t)(n - nfull) * sizeof(float));
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(t), vmx)); /* exp(-inf) = 0 */
        vst1q_f32(t, e);
        memcpy(p + nfull, t, (size_t)(n - nfull) * sizeof(float));
        sum += vaddvq_f32(e);
    }
    for (int j = n; j < n_pad; j++)
        p[j] = 0.0f;
    return 1.0f / sum;
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
    for (int j = 0; j < n_max; j += KB) {
        const float *k[KB];
        int nr = GITC_MIN(KB, n_max - j);
        for (int t = 0; t < KB; t++)
            k[t] = kv_row(a, j + (t < nr ? t : 0), h, 0);
        switch (nr) {
        case 4: qk_tile(mr, 4, q, k, hd, a->scale, p, ld, j); break;
        case 3: qk_tile(mr, 3, q, k, hd, a->scale, p, ld, j); break;
        case 2: qk_tile(mr, 2, q, k, hd, a->scale, p, ld, j); break;
        default: qk_tile(mr, 1, q, k, hd, a->scale, p, ld, j); break;
        }
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
        pv_tile(a, mr, 4, h, d0, p, ld, n_max, inv, o);
    for (; d0 + 4 <= hd; d0 += 4)
        pv_tile(a, mr, 1, h, d0, p, ld, n_max, inv, o);
    if (d0 < hd)
        pv_tail(a, mr, h, d0, p, ld, n_max, inv, o);
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

static void attention_neon(gitc_pool *pool, const gitc_attention_args *a, float *scratch)
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
 * the oracle computes them, 4 lanes at a time. */
GITC_INLINE double sum_f64(const float *x, int n, double shift, const int squares)
{
    float64x2_t a0 = vdupq_n_f64(0.0), a1 = a0, sh = vdupq_n_f64(shift);
    int c = 0;
    for (; c + 4 <= n; c += 4) {
        float32x4_t v = vld1q_f32(x + c);
        float64x2_t d0 = vcvt_f64_f32(vget_low_f32(v)), d1 = vcvt_high_f64_f32(v);
        if (squares) {
            d0 = vsubq_f64(d0, sh);
            d1 = vsubq_f64(d1, sh);
            a0 = vaddq_f64(a0, vmulq_f64(d0, d0));
            a1 = vaddq_f64(a1, vmulq_f64(d1, d1));
        } else {
            a0 = vaddq_f64(a0, d0);
            a1 = vaddq_f64(a1, d1);
        }
    }
    double r = vaddvq_f64(vaddq_f64(a0, a1));
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
        float32x4_t vm = vdupq_n_f32(fmean), vr = vdupq_n_f32(rstd);
        int c = 0;
        /* Same float operations and order as the oracle: ((x - mean) * rstd) * g + b. */
        for (; c + 4 <= C; c += 4) {
            float32x4_t v = vmulq_f32(vsubq_f32(vld1q_f32(xr + c), vm), vr);
            v = vaddq_f32(vmulq_f32(v, vld1q_f32(t->gamma + c)), vld1q_f32(t->beta + c));
            vst1q_f32(o + c, v);
        }
        for (; c < C; c++)
            o[c] = (xr[c] - fmean) * rstd * t->gamma[c] + t->beta[c];
    }
}

static void layernorm_neon(gitc_pool *pool, float *out, const float *x, const float *gamma,
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
        for (i = i0; i + 4 <= i1; i += 4)
            vst1q_f32(x + i, vaddq_f32(vld1q_f32(x + i), vld1q_f32(t->y + i)));
        for (; i < i1; i++)
            x[i] += t->y[i];
    } else if (t->op == 1) {
        /* x / (1 + exp(-1.702 x)), as the oracle writes it. */
        const float32x4_t k = vdupq_n_f32(-1.702f), one = vdupq_n_f32(1.0f);
        for (i = i0; i + 4 <= i1; i += 4) {
            float32x4_t v = vld1q_f32(x + i);
            vst1q_f32(x + i, vdivq_f32(v, vaddq_f32(one, exp4(vmulq_f32(k, v)))));
        }
        for (; i < i1; i++)
            x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
    } else {
        /* libm's erff per element keeps the exact-erf GELU at libm accuracy
         * (as the avx2 set). */
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

static void gelu_neon(gitc_pool *pool, float *x, size_t n) { elementwise(pool, x, NULL, n, 0); }
static void quick_gelu_neon(gitc_pool *pool, float *x, size_t n) { elementwise(pool, x, NULL, n, 1); }
static void add_neon(gitc_pool *pool, float *x, const float *y, size_t n) { elementwise(pool, x, y, n, 2); }

/* Sixteen independent 4-lane FMA chains: enough for two FMA pipes of
 * latency <= 8 (e.g. Neoverse N1/V1: 2 pipes, latency 4). */
static double fma_loop_neon(long n)
{
    float32x4_t a[16], m = vdupq_n_f32(0.999f), c = vdupq_n_f32(0.001f);
    for (int i = 0; i < 16; i++)
        a[i] = vdupq_n_f32((float)i);
    for (long r = 0; r < n; r++)
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            a[i] = vfmaq_f32(c, a[i], m);
    float32x4_t s = a[0];
    for (int i = 1; i < 16; i++)
        s = vaddq_f32(s, a[i]);
    volatile float sink = vaddvq_f32(s);
    (void)sink;
    return 16.0 * 8.0 * (double)n;
}

/* The max, then exp4 of x - max summed in float64 lanes. */
static float log_sum_exp_neon(const float *x, int n)
{
    float32x4_t vmx = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vmx = vmaxq_f32(vmx, vld1q_f32(x + i));
    float mx = vmaxvq_f32(vmx);
    for (int j = i; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    if (mx == -INFINITY)
        return -INFINITY;
    vmx = vdupq_n_f32(mx);
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0;
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vmx));
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++)
        sum += (double)expf(x[i] - mx);
    return (float)(mx + log(sum));
}

const gitc_kernel_table gitci_kernels_neon_set = {
    "neon", linear_neon, attention_neon, layernorm_neon, gelu_neon, quick_gelu_neon, add_neon,
    1, fma_loop_neon, log_sum_exp_neon,
};

#endif
