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
 * Activations are packed per call (rounded to bf16, or quantized per block of
 * 32 by the reference's gitc_lowp_quant_block) into a per-thread scratch,
 * row-major [M, G] groups padded to a multiple of 4. Each function carries
 * its own target attribute: nothing here runs unless lowp.c found the HWCAP
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

#define MR_B 4 /* bf16: 4 rows x 16 outputs = 16 accumulators + 4 weight + 4 x registers */
#define MR_I 2 /* int8: 2 rows x 16 outputs = 8 int32 + 8 float32 accumulators */

#define PACK_PARALLEL_MIN 65536

typedef struct lowp_job {
    float *y;          /* [M, N] */
    const float *x;    /* [M, K] */
    const gitc_lowp_matrix *w;
    const float *bias; /* [N] or NULL */
    int M, MR;
    int G4;            /* groups per packed row: n_groups rounded up to 4 */
    uint32_t *xp;      /* packed activations [M, G4] (bf16 pairs or 4 int8) */
    float *sx;         /* int8: block scales [M, n_blocks] */
} lowp_job;

/* ---- packing (plain NEON) ---- */

/* Row m rounded to bf16 pairs (nearest even, NaN quieted, as
 * gitc_lowp_bf16_round), zero past K. */
static void pack_row_bf16(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups;
    uint32_t *dst = j->xp + (size_t)m * j->G4;
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
        vst1q_u32(dst + g, vreinterpretq_u32_u16(vcombine_u16(h[0], h[1])));
    }
    for (; g < G; g++) {
        uint32_t a = gitc_lowp_bf16_round(xr[2 * g]);
        uint32_t b = 2 * g + 1 < K ? gitc_lowp_bf16_round(xr[2 * g + 1]) : 0;
        dst[g] = a | b << 16;
    }
    for (; g < j->G4; g++)
        dst[g] = 0;
}

/* Row m quantized per block of 32 (the reference's own quantizer). */
static void pack_row_int8(const lowp_job *j, int m)
{
    int K = j->w->n_in, nb = j->w->n_blocks;
    uint32_t *dst = j->xp + (size_t)m * j->G4;
    float *sx = j->sx + (size_t)m * nb;
    const float *xr = j->x + (size_t)m * K;
    for (int b = 0; b < nb; b++) {
        int8_t q[GITC_LOWP_BLOCK];
        int32_t sum;
        int k = b * GITC_LOWP_BLOCK;
        gitc_lowp_quant_block(xr + k, GITC_MIN(GITC_LOWP_BLOCK, K - k), q, &sx[b], &sum);
        memcpy(dst + (size_t)b * 8, q, GITC_LOWP_BLOCK);
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

/* ---- bf16: BFDOT ---- */

/* One group (an input pair) of the panel row wg against lane `lane` of x. */
#define BF_STEP(lane)                                                                              \
    do {                                                                                           \
        const uint32_t *wr = wp + (size_t)(g + (lane)) * GITC_LOWP_PANEL;                          \
        bfloat16x8_t w0 = vreinterpretq_bf16_u32(vld1q_u32(wr));                                   \
        bfloat16x8_t w1 = vreinterpretq_bf16_u32(vld1q_u32(wr + 4));                               \
        bfloat16x8_t w2 = vreinterpretq_bf16_u32(vld1q_u32(wr + 8));                               \
        bfloat16x8_t w3 = vreinterpretq_bf16_u32(vld1q_u32(wr + 12));                              \
        for (int r = 0; r < mr; r++) {                                                             \
            acc[r][0] = vbfdotq_laneq_f32(acc[r][0], w0, xv[r], lane);                             \
            acc[r][1] = vbfdotq_laneq_f32(acc[r][1], w1, xv[r], lane);                             \
            acc[r][2] = vbfdotq_laneq_f32(acc[r][2], w2, xv[r], lane);                             \
            acc[r][3] = vbfdotq_laneq_f32(acc[r][3], w3, xv[r], lane);                             \
        }                                                                                          \
    } while (0)

T_BF16 INLINE void tile_bf16(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups;
    const uint32_t *xp = j->xp + (size_t)m0 * j->G4;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    float32x4_t acc[MR_B][4];
    for (int r = 0; r < mr; r++)
        acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vdupq_n_f32(0.0f);
    int g = 0;
    for (; g + 4 <= G; g += 4) {
        bfloat16x8_t xv[MR_B];
        for (int r = 0; r < mr; r++)
            xv[r] = vreinterpretq_bf16_u32(vld1q_u32(xp + (size_t)r * j->G4 + g));
        BF_STEP(0);
        BF_STEP(1);
        BF_STEP(2);
        BF_STEP(3);
    }
    if (g < G) { /* 1 to 3 groups left; the packed rows are zero past G */
        bfloat16x8_t xv[MR_B];
        for (int r = 0; r < mr; r++)
            xv[r] = vreinterpretq_bf16_u32(vld1q_u32(xp + (size_t)r * j->G4 + g));
        BF_STEP(0);
        if (g + 1 < G)
            BF_STEP(1);
        if (g + 2 < G)
            BF_STEP(2);
    }
    float out[MR_B][16];
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++)
            vst1q_f32(out[r] + 4 * t, acc[r][t]);
    store_rows(j, m0, p, mr, out);
}
#undef BF_STEP

T_BF16 static void run_tile_bf16(const lowp_job *j, int m0, int p, int mr)
{
    switch (mr) {
    case 1: tile_bf16(j, m0, p, 1); break;
    case 2: tile_bf16(j, m0, p, 2); break;
    case 3: tile_bf16(j, m0, p, 3); break;
    default: tile_bf16(j, m0, p, 4); break;
    }
}

/* ---- int8 shared: per-block scaling ---- */

/* accf[r][t] = fma(float(dot[r][t]), sx_r * sw_t, accf[r][t]) for block b. */
INLINE void scale_block(const lowp_job *j, int m0, int p, int b, const int mr, int32x4_t (*dot)[4],
                        float32x4_t (*accf)[4])
{
    int nb = j->w->n_blocks;
    const uint16_t *s = j->w->scales + ((size_t)p * nb + b) * GITC_LOWP_PANEL;
    float32x4_t sw[4];
    for (int t = 0; t < 4; t++)
        sw[t] = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(s + 4 * t), 16));
    for (int r = 0; r < mr; r++) {
        float32x4_t xs = vdupq_n_f32(j->sx[(size_t)(m0 + r) * nb + b]);
        for (int t = 0; t < 4; t++)
            accf[r][t] = vfmaq_f32(accf[r][t], vcvtq_f32_s32(dot[r][t]), vmulq_f32(xs, sw[t]));
    }
}

/* ---- int8: SDOT ---- */

#define DOT_STEP(lane)                                                                             \
    do {                                                                                           \
        const uint32_t *wr = wp + (size_t)(g + (lane)) * GITC_LOWP_PANEL;                          \
        int8x16_t w0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8((const uint8_t *)wr), flip));         \
        int8x16_t w1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8((const uint8_t *)(wr + 4)), flip));   \
        int8x16_t w2 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8((const uint8_t *)(wr + 8)), flip));   \
        int8x16_t w3 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8((const uint8_t *)(wr + 12)), flip));  \
        for (int r = 0; r < mr; r++) {                                                             \
            dot[r][0] = vdotq_laneq_s32(dot[r][0], w0, xv[r], lane);                               \
            dot[r][1] = vdotq_laneq_s32(dot[r][1], w1, xv[r], lane);                               \
            dot[r][2] = vdotq_laneq_s32(dot[r][2], w2, xv[r], lane);                               \
            dot[r][3] = vdotq_laneq_s32(dot[r][3], w3, xv[r], lane);                               \
        }                                                                                          \
    } while (0)

T_DOT INLINE void tile_sdot(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, nb = j->w->n_blocks;
    const uint32_t *xp = j->xp + (size_t)m0 * j->G4;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    float32x4_t accf[MR_I][4];
    for (int r = 0; r < mr; r++)
        accf[r][0] = accf[r][1] = accf[r][2] = accf[r][3] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        int32x4_t dot[MR_I][4];
        for (int r = 0; r < mr; r++)
            dot[r][0] = dot[r][1] = dot[r][2] = dot[r][3] = vdupq_n_s32(0);
        for (int g = b * 8; g < b * 8 + 8; g += 4) {
            int8x16_t xv[MR_I];
            for (int r = 0; r < mr; r++)
                xv[r] = vreinterpretq_s8_u32(vld1q_u32(xp + (size_t)r * j->G4 + g));
            DOT_STEP(0);
            DOT_STEP(1);
            DOT_STEP(2);
            DOT_STEP(3);
        }
        scale_block(j, m0, p, b, mr, dot, accf);
    }
    float out[MR_I][16];
    for (int r = 0; r < mr; r++)
        for (int t = 0; t < 4; t++)
            vst1q_f32(out[r] + 4 * t, accf[r][t]);
    store_rows(j, m0, p, mr, out);
}
#undef DOT_STEP

T_DOT static void run_tile_sdot(const lowp_job *j, int m0, int p, int mr)
{
    if (mr == 1)
        tile_sdot(j, m0, p, 1);
    else
        tile_sdot(j, m0, p, 2);
}

/* ---- int8: SMMLA ---- */

/* Rows m0 and m0 + 1 (a copy of m0 when mr is 1, its result dropped) times
 * 16 outputs: per 8 inputs, SMMLA multiplies the two rows' 8 bytes by two
 * outputs' 8 bytes (zip of two consecutive panel groups) into a 2x2 block. */
T_I8MM INLINE void tile_i8mm(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, nb = j->w->n_blocks;
    const int8_t *x0 = (const int8_t *)(j->xp + (size_t)m0 * j->G4);
    const int8_t *x1 = mr > 1 ? x0 + (size_t)j->G4 * 4 : x0;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    float32x4_t accf[MR_I][4];
    for (int r = 0; r < MR_I; r++)
        accf[r][0] = accf[r][1] = accf[r][2] = accf[r][3] = vdupq_n_f32(0.0f);
    for (int b = 0; b < nb; b++) {
        int32x4_t mm[4][2]; /* outputs 4t..4t+1 and 4t+2..4t+3: [r0 a, r0 b, r1 a, r1 b] */
        for (int t = 0; t < 4; t++)
            mm[t][0] = mm[t][1] = vdupq_n_s32(0);
        for (int g = b * 8; g < b * 8 + 8; g += 2) {
            int8x16_t a = vcombine_s8(vld1_s8(x0 + 4 * g), vld1_s8(x1 + 4 * g));
            const uint32_t *r0 = wp + (size_t)g * GITC_LOWP_PANEL, *r1 = r0 + GITC_LOWP_PANEL;
            for (int t = 0; t < 4; t++) {
                uint32x4_t g0 = vreinterpretq_u32_u8(veorq_u8(vld1q_u8((const uint8_t *)(r0 + 4 * t)), flip));
                uint32x4_t g1 = vreinterpretq_u32_u8(veorq_u8(vld1q_u8((const uint8_t *)(r1 + 4 * t)), flip));
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

T_I8MM static void run_tile_i8mm(const lowp_job *j, int m0, int p, int mr)
{
    if (mr == 1)
        tile_i8mm(j, m0, p, 1);
    else
        tile_i8mm(j, m0, p, 2);
}

/* ---- Driver ---- */

typedef void (*tile_fn)(const lowp_job *j, int m0, int p, int mr);

typedef struct lowp_task {
    lowp_job job;
    tile_fn tile;
} lowp_task;

static void pack_rows(const lowp_job *j, int r0, int r1)
{
    for (int m = r0; m < r1; m++) {
        if (j->w->kind == GITC_LOWP_BF16)
            pack_row_bf16(j, m);
        else
            pack_row_int8(j, m);
    }
}

static void pack_task(void *ctx, int ith, int nth)
{
    const lowp_task *t = ctx;
    int r0, r1;
    gitc_split(t->job.M, ith, nth, &r0, &r1);
    pack_rows(&t->job, r0, r1);
}

static void compute_task(void *ctx, int ith, int nth)
{
    const lowp_task *t = ctx;
    const lowp_job *j = &t->job;
    int p0, p1;
    gitc_split(j->w->n_panels, ith, nth, &p0, &p1);
    for (int p = p0; p < p1; p++)
        for (int m0 = 0; m0 < j->M; m0 += j->MR)
            t->tile(j, m0, p, GITC_MIN(j->MR, j->M - m0));
}

/* Packs the activations into the thread's scratch, then runs `tile` over
 * panels (threads) and row tiles. */
static void run(gitc_pool *pool, float *y, const float *x, const gitc_lowp_matrix *w,
                const float *bias, int M, int mr, tile_fn tile)
{
    if (M <= 0)
        return;
    int G4 = (w->n_groups + 3) / 4 * 4;
    size_t xp_bytes = ((size_t)M * (size_t)G4 * 4 + 63) / 64 * 64;
    size_t sx_bytes = (size_t)M * (size_t)w->n_blocks * 4;
    unsigned char *s = gitc_lowp_scratch(xp_bytes + sx_bytes);
    if (!s) {
        gitc_lowp_linear_ref(y, x, w, bias, M); /* out of memory: slow but correct */
        return;
    }
    lowp_task t = {{y, x, w, bias, M, mr, G4, (uint32_t *)s, (float *)(s + xp_bytes)}, tile};
    if ((size_t)M * (size_t)w->n_in < PACK_PARALLEL_MIN || !pool)
        pack_rows(&t.job, 0, M);
    else
        gitc_pool_run(pool, pack_task, &t);
    gitc_pool_run(pool, compute_task, &t);
}

static void linear_bf16(gitc_pool *pool, float *y, const float *x, const gitc_lowp_matrix *w,
                        const float *bias, int M)
{
    run(pool, y, x, w, bias, M, MR_B, run_tile_bf16);
}

static void linear_sdot(gitc_pool *pool, float *y, const float *x, const gitc_lowp_matrix *w,
                        const float *bias, int M)
{
    run(pool, y, x, w, bias, M, MR_I, run_tile_sdot);
}

static void linear_i8mm(gitc_pool *pool, float *y, const float *x, const gitc_lowp_matrix *w,
                        const float *bias, int M)
{
    run(pool, y, x, w, bias, M, MR_I, run_tile_i8mm);
}

const gitc_lowp_kernels gitc_lowp_neon_bf16 = {"neon_bf16", GITC_LOWP_BF16, linear_bf16};
const gitc_lowp_kernels gitc_lowp_neon_sdot = {"neon_sdot", GITC_LOWP_INT8, linear_sdot};
const gitc_lowp_kernels gitc_lowp_neon_i8mm = {"neon_i8mm", GITC_LOWP_INT8, linear_i8mm};

#endif
