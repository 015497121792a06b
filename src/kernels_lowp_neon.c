/* AArch64 kernels of the low-precision linear layer (lowp.h), on the same
 * prepared weights (16-output panels of 32-bit groups; int8 stored as q + 128)
 * and with the same numerics contract as the x86 sets:
 * - bf16 (FEAT_BF16, HWCAP2_BF16): BFDOT by lane, 4 rows x 16 outputs; each
 *   BFDOT adds a pair of exact bf16 products to a float32 accumulator, so the
 *   sums differ from the reference's only in order and rounding (the kernel
 *   tests' 2·K·u·Σ|x·w| bound).
 * - int8 with SDOT (FEAT_DotProd, HWCAP_ASIMDDP): 2 rows x 16 outputs; the
 *   stored q + 128 is flipped back to signed q (xor 0x80), each block's dot
 *   product is exact in int32, then acc = fma(dot, sx * sw, acc) per block in
 *   order: bit-identical to the reference.
 * - int8 with SMMLA (FEAT_I8MM, HWCAP2_I8MM): 2x8 by 8x2 int8 matrix products,
 *   2 rows x 16 outputs; same exact block dot products and the same float32
 *   steps, so also bit-identical.
 * The driver is lowp.c's: pack_row rounds a row to bf16 (or quantizes it per
 * block of 32 with the reference's gitci_lowp_quant_block) into its tile's
 * interleaved place (group g of tile row r at xp[m0 * G + g * mr + r], so one
 * 16-byte load holds a group of 4 rows, or 2 groups of 2 rows, used by lane),
 * and tile runs one row tile on one panel. Each function carries its own
 * target attribute: nothing here runs unless the registry found the HWCAP
 * bit. Built only for aarch64 (CMakeLists.txt). */
#include "lowp.h"

#include "internal.h"

#include <stddef.h>
#include <string.h>

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__GNUC__)

#include <arm_neon.h>

/* Each extension on top of ARMv8.2-A, the architecture that introduced it
 * (so every CPU reporting it implements 8.2 too); arm_neon.h declares the
 * intrinsics for exactly these targets. */
#define T_DOT __attribute__((target("arch=armv8.2-a+dotprod")))
#define T_I8MM __attribute__((target("arch=armv8.2-a+i8mm")))
#define T_BF16 __attribute__((target("arch=armv8.2-a+bf16")))
#define INLINE static inline __attribute__((always_inline))

#define MR_B 4 /* bf16: 4 rows x 16 outputs = 16 accumulators + 4 weight + 1 x register */
#define MR_I 2 /* int8: 2 rows x 16 outputs = 8 int32 + 8 float32 accumulators */

typedef gitc_lowp_job lowp_job;

/* ---- packing (plain NEON) ---- */

/* Row m rounded to bf16 pairs (nearest even, NaN quieted, as
 * gitc_lowp_bf16_round), zero past K, at its tile's interleaved place. */
static void pack_row_bf16(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups;
    int m0 = m / MR_B * MR_B, mr = GITC_MIN(MR_B, j->M - m0), r = m - m0;
    uint32_t *dst = j->xp + (size_t)m0 * G + r;
    const float *xr = j->x + (size_t)m * K;
    const uint32x4_t one = vdupq_n_u32(1), bias = vdupq_n_u32(0x7fff);
    const uint32x4_t absm = vdupq_n_u32(0x7fffffff), inf = vdupq_n_u32(0x7f800000), quiet = vdupq_n_u32(0x40);
    int g = 0;
    for (; 2 * g + 8 <= K; g += 4) {
        uint16x4_t h[2];
        for (int t = 0; t < 2; t++) {
            uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(xr + 2 * g + 4 * t));
            uint32x4_t rr = vshrq_n_u32(vaddq_u32(u, vaddq_u32(bias, vandq_u32(vshrq_n_u32(u, 16), one))), 16);
            uint32x4_t nan = vcgtq_u32(vandq_u32(u, absm), inf);
            uint32x4_t q = vorrq_u32(vshrq_n_u32(u, 16), quiet);
            h[t] = vmovn_u32(vbslq_u32(nan, q, rr));
        }
        /* 8 bf16 in input order are 4 pairs x0 | x1 << 16 (little-endian) */
        uint32_t pairs[4];
        vst1q_u32(pairs, vreinterpretq_u32_u16(vcombine_u16(h[0], h[1])));
        for (int i = 0; i < 4; i++)
            dst[(size_t)(g + i) * mr] = pairs[i];
    }
    for (; g < G; g++) {
        uint32_t a = gitc_lowp_bf16_round(xr[2 * g]);
        uint32_t b = 2 * g + 1 < K ? gitc_lowp_bf16_round(xr[2 * g + 1]) : 0;
        dst[(size_t)g * mr] = a | b << 16;
    }
}

/* Row m quantized per block of 32 (the reference's own quantizer). */
static void pack_row_int8(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups, nb = j->w->n_blocks;
    int m0 = m / MR_I * MR_I, mr = GITC_MIN(MR_I, j->M - m0), r = m - m0;
    uint32_t *dst = j->xp + (size_t)m0 * G + r;
    float *sx = j->sx + (size_t)m0 * nb + r;
    const float *xr = j->x + (size_t)m * K;
    for (int b = 0; b < nb; b++) {
        int8_t q[GITC_LOWP_BLOCK];
        int32_t sum;
        int k = b * GITC_LOWP_BLOCK;
        gitci_lowp_quant_block(xr + k, GITC_MIN(GITC_LOWP_BLOCK, K - k), q, &sx[(size_t)b * mr], &sum);
        for (int i = 0; i < 8; i++)
            memcpy(&dst[(size_t)(b * 8 + i) * mr], q + 4 * i, 4);
    }
}

/* y[r, n..n+left) = out[r] (+ bias) for the tile's rows. */
INLINE void store_rows(const lowp_job *j, int m0, int p, const int mr, float (*out)[16])
{
    int N = j->w->n_out, n = p * GITC_LOWP_PANEL, left = GITC_MIN(16, N - n);
    for (int r = 0; r < mr; r++) {
        float *yr = j->y + (size_t)(m0 + r) * N + n;
        for (int i = 0; i < left; i++)
            yr[i] = j->bias ? out[r][i] + j->bias[n + i] : out[r][i];
    }
}

/* The 4 u32 at src when the tile has 4 rows, else its mr (zero-padded). */
INLINE uint32x4_t load_rows(const uint32_t *src, const int mr)
{
    if (mr == 4)
        return vld1q_u32(src);
    uint32_t t[4] = {0, 0, 0, 0};
    memcpy(t, src, (size_t)mr * sizeof(uint32_t));
    return vld1q_u32(t);
}

/* ---- bf16: BFDOT ---- */

/* Rows r of the tile += the panel row (16 outputs) times lane r of xv. */
#define BF_ROW(r)                                                                                  \
    if (mr > (r)) {                                                                                \
        acc[r][0] = vbfdotq_laneq_f32(acc[r][0], w0, xv, r);                                       \
        acc[r][1] = vbfdotq_laneq_f32(acc[r][1], w1, xv, r);                                       \
        acc[r][2] = vbfdotq_laneq_f32(acc[r][2], w2, xv, r);                                       \
        acc[r][3] = vbfdotq_laneq_f32(acc[r][3], w3, xv, r);                                       \
    }

T_BF16 INLINE void tile_bf16(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    float32x4_t acc[MR_B][4];
    for (int r = 0; r < mr; r++)
        acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_f32(0.0f);
    for (int g = 0; g < G; g++) {
        /* lane r: the input pair of group g for row r */
        bfloat16x8_t xv = vreinterpretq_bf16_u32(load_rows(xp + (size_t)g * mr, mr));
        const uint32_t *wr = wp + (size_t)g * GITC_LOWP_PANEL;
        bfloat16x8_t w0 = vreinterpretq_bf16_u32(vld1q_u32(wr));
        bfloat16x8_t w1 = vreinterpretq_bf16_u32(vld1q_u32(wr + 4));
        bfloat16x8_t w2 = vreinterpretq_bf16_u32(vld1q_u32(wr + 8));
        bfloat16x8_t w3 = vreinterpretq_bf16_u32(vld1q_u32(wr + 12));
        BF_ROW(0) BF_ROW(1) BF_ROW(2) BF_ROW(3)
    }
    float out[MR_B][16];
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++)
            vst1q_f32(out[r] + 4 * t, acc[r][t]);
    store_rows(j, m0, p, mr, out);
}
#undef BF_ROW

/* One row tile on panel p0 (units of one panel: nv is 1). */
T_BF16 static void tile_bf16_any(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    (void)nv;
    switch (mr) {
    case 1: tile_bf16(j, m0, p0, 1); break;
    case 2: tile_bf16(j, m0, p0, 2); break;
    case 3: tile_bf16(j, m0, p0, 3); break;
    default: tile_bf16(j, m0, p0, 4); break;
    }
}

/* ---- int8 shared: per-block scaling ---- */

/* accf[r][t] = fma(float(dot[r][t]), sx_r * sw_t, accf[r][t]) for block b. */
INLINE void scale_block(const lowp_job *j, int m0, int p, int b, const int mr, int32x4_t (*dot)[4],
                        float32x4_t (*accf)[4])
{
    int nb = j->w->n_blocks;
    const uint16_t *s = j->w->scales + ((size_t)p * nb + b) * GITC_LOWP_PANEL;
    const float *sx = j->sx + (size_t)m0 * nb + (size_t)b * mr;
    float32x4_t sw[4];
    for (int t = 0; t < 4; t++)
        sw[t] = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(s + 4 * t), 16));
    for (int r = 0; r < mr; r++) {
        float32x4_t xs = vdupq_n_f32(sx[r]);
        for (int t = 0; t < 4; t++)
            accf[r][t] = vfmaq_f32(accf[r][t], vcvtq_f32_s32(dot[r][t]), vmulq_f32(xs, sw[t]));
    }
}

/* The 16 signed weights of group g of a panel for outputs 4t..4t+3. */
#define W_GROUP(g, t)                                                                              \
    vreinterpretq_s8_u8(veorq_u8(vld1q_u8((const uint8_t *)(wp + (size_t)(g) * GITC_LOWP_PANEL + 4 * (t))), flip))

/* ---- int8: SDOT ---- */

/* Row 0 (and row 1 when two) += group g's weights times lane l0 (l1) of xv. */
#define DOT_GROUP(g, rows, l0, l1)                                                                 \
    do {                                                                                           \
        int8x16_t w0 = W_GROUP(g, 0), w1 = W_GROUP(g, 1), w2 = W_GROUP(g, 2), w3 = W_GROUP(g, 3);  \
        dot[0][0] = vdotq_laneq_s32(dot[0][0], w0, xv, l0);                                        \
        dot[0][1] = vdotq_laneq_s32(dot[0][1], w1, xv, l0);                                        \
        dot[0][2] = vdotq_laneq_s32(dot[0][2], w2, xv, l0);                                        \
        dot[0][3] = vdotq_laneq_s32(dot[0][3], w3, xv, l0);                                        \
        if ((rows) == 2) {                                                                         \
            dot[1][0] = vdotq_laneq_s32(dot[1][0], w0, xv, l1);                                    \
            dot[1][1] = vdotq_laneq_s32(dot[1][1], w1, xv, l1);                                    \
            dot[1][2] = vdotq_laneq_s32(dot[1][2], w2, xv, l1);                                    \
            dot[1][3] = vdotq_laneq_s32(dot[1][3], w3, xv, l1);                                    \
        }                                                                                          \
    } while (0)

T_DOT INLINE void tile_sdot(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, nb = j->w->n_blocks;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    float32x4_t accf[MR_I][4];
    for (int r = 0; r < mr; r++)
        accf[r][0] = accf[r][1] = accf[r][2] = accf[r][3] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        int32x4_t dot[MR_I][4];
        for (int r = 0; r < mr; r++)
            dot[r][0] = dot[r][1] = dot[r][2] = dot[r][3] = vdupq_n_s32(0);
        if (mr == 2) {
            /* lanes: (g, row 0), (g, row 1), (g+1, row 0), (g+1, row 1) */
            for (int g = b * 8; g < b * 8 + 8; g += 2) {
                int8x16_t xv = vreinterpretq_s8_u32(vld1q_u32(xp + (size_t)g * 2));
                DOT_GROUP(g, 2, 0, 1);
                DOT_GROUP(g + 1, 2, 2, 3);
            }
        } else {
            /* one row: lanes are groups g..g+3 */
            for (int g = b * 8; g < b * 8 + 8; g += 4) {
                int8x16_t xv = vreinterpretq_s8_u32(vld1q_u32(xp + g));
                DOT_GROUP(g, 1, 0, 0);
                DOT_GROUP(g + 1, 1, 1, 1);
                DOT_GROUP(g + 2, 1, 2, 2);
                DOT_GROUP(g + 3, 1, 3, 3);
            }
        }
        scale_block(j, m0, p, b, mr, dot, accf);
    }
    float out[MR_I][16];
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++)
            vst1q_f32(out[r] + 4 * t, accf[r][t]);
    store_rows(j, m0, p, mr, out);
}
#undef DOT_GROUP

/* One row tile on panel p0 (units of one panel: nv is 1). */
T_DOT static void tile_sdot_any(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    (void)nv;
    if (mr == 1)
        tile_sdot(j, m0, p0, 1);
    else
        tile_sdot(j, m0, p0, 2);
}

/* ---- int8: SMMLA ---- */

/* Rows m0 and m0 + 1 (row m0 twice when mr is 1, the copy's result dropped)
 * times 16 outputs: per 8 inputs, SMMLA multiplies the two rows' 8 bytes by
 * two outputs' 8 bytes (a zip of two consecutive panel groups) into a 2x2
 * block [r0 a, r0 b, r1 a, r1 b]. */
T_I8MM INLINE void tile_i8mm(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, nb = j->w->n_blocks;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    float32x4_t accf[MR_I][4];
    for (int r = 0; r < MR_I; r++)
        accf[r][0] = accf[r][1] = accf[r][2] = accf[r][3] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        int32x4_t mm[4][2]; /* outputs 4t, 4t+1 and 4t+2, 4t+3 */
        for (int t = 0; t < 4; t++)
            mm[t][0] = mm[t][1] = vdupq_n_s32(0);
        for (int g = b * 8; g < b * 8 + 8; g += 2) {
            int8x16_t a;
            if (mr == 2) { /* (g, r0) (g, r1) (g+1, r0) (g+1, r1) -> row 0's 8 bytes, row 1's */
                uint32x4_t v = vld1q_u32(xp + (size_t)g * 2);
                a = vreinterpretq_s8_u32(vcombine_u32(vget_low_u32(vuzp1q_u32(v, v)),
                                                      vget_low_u32(vuzp2q_u32(v, v))));
            } else {
                uint32x2_t v = vld1_u32(xp + g);
                a = vreinterpretq_s8_u32(vcombine_u32(v, v));
            }
            for (int t = 0; t < 4; t++) {
                uint32x4_t g0 = vreinterpretq_u32_s8(W_GROUP(g, t));
                uint32x4_t g1 = vreinterpretq_u32_s8(W_GROUP(g + 1, t));
                mm[t][0] = vmmlaq_s32(mm[t][0], a, vreinterpretq_s8_u32(vzip1q_u32(g0, g1)));
                mm[t][1] = vmmlaq_s32(mm[t][1], a, vreinterpretq_s8_u32(vzip2q_u32(g0, g1)));
            }
        }
        int32x4_t dot[MR_I][4];
        for (int t = 0; t < 4; t++) {
            int64x2_t lo = vreinterpretq_s64_s32(mm[t][0]), hi = vreinterpretq_s64_s32(mm[t][1]);
            dot[0][t] = vreinterpretq_s32_s64(vuzp1q_s64(lo, hi));
            dot[1][t] = vreinterpretq_s32_s64(vuzp2q_s64(lo, hi));
        }
        scale_block(j, m0, p, b, mr, dot, accf);
    }
    float out[MR_I][16];
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++)
            vst1q_f32(out[r] + 4 * t, accf[r][t]);
    store_rows(j, m0, p, mr, out);
}
#undef W_GROUP

/* One row tile on panel p0 (units of one panel: nv is 1). */
T_I8MM static void tile_i8mm_any(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    (void)nv;
    if (mr == 1)
        tile_i8mm(j, m0, p0, 1);
    else
        tile_i8mm(j, m0, p0, 2);
}

const gitc_lowp_kernels gitci_lowp_neon_bf16 = {"neon_bf16", GITC_LOWP_BF16, MR_B, 1, pack_row_bf16, tile_bf16_any, 1};
const gitc_lowp_kernels gitci_lowp_neon_sdot = {"neon_sdot", GITC_LOWP_INT8, MR_I, 1, pack_row_int8, tile_sdot_any, 1};
const gitc_lowp_kernels gitci_lowp_neon_i8mm = {"neon_i8mm", GITC_LOWP_INT8, MR_I, 1, pack_row_int8, tile_i8mm_any, 1};

#endif
