/* AVX2 + FMA kernels of the low-precision linear layer (lowp.h), for CPUs
 * without AVX-512 (e.g. Zen 3): the same prepared weights and the same
 * numerics as the AVX-512 sets, bit-identical to the reference.
 * - bf16: each 32-bit weight pair is split into two float32 vectors (shift /
 *   mask), multiplied by the broadcast bf16 activation pair with FMA, odd
 *   input first as vdpbf16ps (bf16 products are exact in float32).
 * - int8: activations quantized 8 lanes at a time (the packing is shared
 *   with the AVX-VNNI set), vpmaddubsw on |w| and sign(w)·x (no int16
 *   overflow: |q| <= 127), vpmaddwd to int32 per block, then
 *   acc = fma(dot, sx * sw, acc); tiles of 4 rows x 16 outputs.
 * Layout and threading as kernels_lowp_avx512.c (row tiles of MR, units of
 * one 16-output panel). Functions carry their own target attributes. */
#include "lowp.h"

#include "internal.h"

#include <stddef.h>
#include <string.h>

#ifdef GITC_HAVE_X86_SIMD

#include <immintrin.h>

#define T_AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

#define MR_B 4 /* bf16: 4 rows x 16 outputs = 8 accumulators */
#define MR_I GITC_LOWP_AVX2_MR_I /* int8: 4 rows x 16 outputs = 8 int32 accumulators */

typedef gitc_lowp_job lowp_job;

/* ---- bf16 ---- */

/* Row m of x into its tile, each input as the float32 value of its bfloat16
 * rounding (nearest even, NaN quieted): group g of row r is the pair
 * (x[2g], x[2g+1]) at xp[2 * (m0 * G + g * mr + r)], so the tile broadcasts
 * them straight from memory (two words per group: xp_words 2). */
T_AVX2 static void pack_row_bf16(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups;
    int m0 = m / MR_B * MR_B, mr = GITC_MIN(MR_B, j->M - m0), r = m - m0;
    float *dst = (float *)j->xp + 2 * ((size_t)m0 * G + r);
    const float *xr = j->x + (size_t)m * K;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u), quiet = _mm256_set1_epi32(0x400000);
    int g = 0;
    for (; 2 * g + 8 <= K; g += 4) {
        /* 8 floats (4 groups) -> bf16 (nearest even; NaN: top half | 0x40) as float32 */
        __m256i u = _mm256_loadu_si256((const __m256i *)(xr + 2 * g));
        __m256i rr = _mm256_and_si256(
            _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), hi);
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
        __m256i q = _mm256_or_si256(_mm256_and_si256(u, hi), quiet);
        __m256i v = _mm256_blendv_epi8(rr, q, nan);
        __m128i lo = _mm256_castsi256_si128(v), h1 = _mm256_extracti128_si256(v, 1);
        _mm_storel_epi64((__m128i *)(dst + 2 * (size_t)(g + 0) * mr), lo);
        _mm_storeh_pd((double *)(dst + 2 * (size_t)(g + 1) * mr), _mm_castsi128_pd(lo));
        _mm_storel_epi64((__m128i *)(dst + 2 * (size_t)(g + 2) * mr), h1);
        _mm_storeh_pd((double *)(dst + 2 * (size_t)(g + 3) * mr), _mm_castsi128_pd(h1));
    }
    for (; g < G; g++) {
        float *d = dst + 2 * (size_t)g * mr;
        d[0] = gitc_lowp_bf16_f32(gitc_lowp_bf16_round(xr[2 * g]));
        d[1] = 2 * g + 1 < K ? gitc_lowp_bf16_f32(gitc_lowp_bf16_round(xr[2 * g + 1])) : 0.0f;
    }
}

T_AVX2 INLINE void tile_bf16(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, N = j->w->n_out;
    const float *xp = (const float *)j->xp + 2 * (size_t)m0 * G;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const __m256i himask = _mm256_set1_epi32((int)0xffff0000u);
    __m256 acc[MR_B][2];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int g = 0; g < G; g++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(wp + (size_t)g * GITC_LOWP_PANEL));
        __m256i w1 = _mm256_load_si256((const __m256i *)(wp + (size_t)g * GITC_LOWP_PANEL + 8));
        __m256 we0 = _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16));
        __m256 wo0 = _mm256_castsi256_ps(_mm256_and_si256(w0, himask));
        __m256 we1 = _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16));
        __m256 wo1 = _mm256_castsi256_ps(_mm256_and_si256(w1, himask));
        const float *xg = xp + 2 * (size_t)g * mr;
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            __m256 xe = _mm256_broadcast_ss(xg + 2 * r), xo = _mm256_broadcast_ss(xg + 2 * r + 1);
            acc[r][0] = _mm256_fmadd_ps(wo0, xo, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(wo1, xo, acc[r][1]);
            acc[r][0] = _mm256_fmadd_ps(we0, xe, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(we1, xe, acc[r][1]);
        }
    }
    int n = p * GITC_LOWP_PANEL, left = GITC_MIN(16, N - n);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        float out[16];
        _mm256_storeu_ps(out, acc[r][0]);
        _mm256_storeu_ps(out + 8, acc[r][1]);
        float *yr = j->y + (size_t)(m0 + r) * N + n;
        for (int i = 0; i < left; i++)
            yr[i] = j->bias ? out[i] + j->bias[n + i] : out[i];
    }
}

T_AVX2 static void run_tile_bf16(const lowp_job *j, int m0, int p, int mr)
{
    switch (mr) {
    case 1: tile_bf16(j, m0, p, 1); break;
    case 2: tile_bf16(j, m0, p, 2); break;
    case 3: tile_bf16(j, m0, p, 3); break;
    default: tile_bf16(j, m0, p, 4); break;
    }
}

/* ---- int8 ---- */

/* 8 lanes of |x| maxed into mx; a NaN lane keeps mx (maxps returns its
 * second operand then), as the reference skips NaN. */
T_AVX2 INLINE __m256 absmax8(__m256 x, __m256 mx)
{
    return _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), mx);
}

/* 8 lanes of x * inv clamped to [-127, 127] (NaN -> -127, as fmaxf), rounded
 * to nearest even (cvtps under the default rounding mode = rintf). */
T_AVX2 INLINE __m256i quant8(__m256 x, __m256 inv)
{
    __m256 t = _mm256_max_ps(_mm256_mul_ps(x, inv), _mm256_set1_ps(-127.0f));
    return _mm256_cvtps_epi32(_mm256_min_ps(t, _mm256_set1_ps(127.0f)));
}

/* Row m of x quantized per block of 32 into its tile (lowp.h's layout, mr_max
 * MR_I), with the block scales and the -128 * sum(q) corrections the AVX-VNNI
 * set needs: gitci_lowp_quant_block's arithmetic, 8 lanes at a time (the same
 * float32 operations in the same order, so the same bits). */
T_AVX2 void gitci_lowp_avx2_pack_int8(const gitc_lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups, nb = j->w->n_blocks;
    int m0 = m / MR_I * MR_I, mr = GITC_MIN(MR_I, j->M - m0), r = m - m0;
    uint32_t *dst = j->xp + (size_t)m0 * G + r;
    float *sx = j->sx + (size_t)m0 * nb + r;
    int32_t *corr = j->corr + (size_t)m0 * nb + r;
    const float *xr = j->x + (size_t)m * K;
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    uint32_t tmp[8];
    for (int b = 0; b < nb; b++) {
        int k = b * GITC_LOWP_BLOCK, n = GITC_MIN(GITC_LOWP_BLOCK, K - k);
        __m256 v[4];
        if (n == GITC_LOWP_BLOCK) {
            for (int i = 0; i < 4; i++)
                v[i] = _mm256_loadu_ps(xr + k + 8 * i);
        } else { /* the tail block: zeros past K, as the reference */
            float pad[GITC_LOWP_BLOCK] = {0};
            memcpy(pad, xr + k, (size_t)n * sizeof *pad);
            for (int i = 0; i < 4; i++)
                v[i] = _mm256_loadu_ps(pad + 8 * i);
        }
        __m256 mx = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++)
            mx = absmax8(v[i], mx);
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h); /* NaN-free: every lane started at 0 */
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m256 vi = _mm256_set1_ps(inv);
        __m256i q0 = quant8(v[0], vi), q1 = quant8(v[1], vi), q2 = quant8(v[2], vi), q3 = quant8(v[3], vi);
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        /* 4 x 8 int32 -> 32 int8 in input order (the packs work per 128-bit half) */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
        _mm256_storeu_si256((__m256i *)tmp, _mm256_permutevar8x32_epi32(p, order));
        uint32_t *d = dst + (size_t)b * 8 * mr;
        for (int i = 0; i < 8; i++)
            d[(size_t)i * mr] = tmp[i];
        sx[(size_t)b * mr] = amax / 127.0f;
        corr[(size_t)b * mr] = -128 * _mm_cvtsi128_si32(s4);
    }
}

/* An mr x 16 tile over all K: y[m0.., 16p..] (+ bias). Per block of 32
 * inputs, int32 dot products: vpmaddubsw(|w|, sign(w) * x) (|w| once per
 * group for all rows; pairs of products in int16: |x|, |w| <= 127, so a pair
 * is at most 2 * 127 * 127 = 32258 < 32767 and never saturates), vpmaddwd by 1 (pairs of pairs into int32, no
 * int16 sum of more than two products anywhere); then acc = fma(dot, sx * sw,
 * acc) block by block, as the reference. The float accumulators live in
 * accf (L1) and are touched once per block; the 8 int32 accumulators, the two
 * weight vectors and the temporaries fill the 16 ymm registers. */
T_AVX2 INLINE void tile_int8(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, N = j->w->n_out, nb = j->w->n_blocks;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    const float *sx = j->sx + (size_t)m0 * nb;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const uint16_t *sw = j->w->scales + (size_t)p * nb * GITC_LOWP_PANEL;
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    float accf[MR_I][16] __attribute__((aligned(32)));
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        _mm256_store_ps(accf[r], _mm256_setzero_ps());
        _mm256_store_ps(accf[r] + 8, _mm256_setzero_ps());
    }
    for (int b = 0; b < nb; b++) {
        __m256i acc[MR_I][2];
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        const uint32_t *xb = xp + (size_t)b * 8 * mr;
        const uint32_t *wb = wp + (size_t)b * 8 * GITC_LOWP_PANEL;
#pragma GCC unroll 2
        for (int g = 0; g < 8; g++) {
            /* One half (8 outputs) at a time for all rows, so 8 accumulators,
             * one half's weights and the temporaries fit the 16 registers:
             * stored q + 128 -> signed q, and |q| once for all rows. */
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256i w = _mm256_xor_si256(
                    _mm256_load_si256((const __m256i *)(wb + (size_t)g * GITC_LOWP_PANEL + 8 * h)), flip);
                __m256i aw = _mm256_abs_epi8(w);
#pragma GCC unroll 4
                for (int r = 0; r < mr; r++) {
                    __m256i xv = _mm256_set1_epi32((int)xb[(size_t)g * mr + r]);
                    __m256i d = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, w));
                    acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(d, ones));
                }
            }
        }
        const uint16_t *s = sw + (size_t)b * GITC_LOWP_PANEL;
        __m256 s0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)s)), 16));
        __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + 8))), 16));
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            __m256 xs = _mm256_set1_ps(sx[(size_t)b * mr + r]);
            _mm256_store_ps(accf[r], _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][0]), _mm256_mul_ps(xs, s0),
                                                     _mm256_load_ps(accf[r])));
            _mm256_store_ps(accf[r] + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][1]), _mm256_mul_ps(xs, s1),
                                                         _mm256_load_ps(accf[r] + 8)));
        }
    }
    int n = p * GITC_LOWP_PANEL, left = GITC_MIN(16, N - n);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        float *yr = j->y + (size_t)(m0 + r) * N + n;
        for (int i = 0; i < left; i++)
            yr[i] = j->bias ? accf[r][i] + j->bias[n + i] : accf[r][i];
    }
}

T_AVX2 static void run_tile_int8(const lowp_job *j, int m0, int p, int mr)
{
    switch (mr) {
    case 1: tile_int8(j, m0, p, 1); break;
    case 2: tile_int8(j, m0, p, 2); break;
    case 3: tile_int8(j, m0, p, 3); break;
    default: tile_int8(j, m0, p, 4); break;
    }
}

/* ---- The sets (units of one panel; the driver is lowp.c's) ---- */

static void tile(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    (void)nv;
    if (j->w->kind == GITC_LOWP_BF16)
        run_tile_bf16(j, m0, p0, mr);
    else
        run_tile_int8(j, m0, p0, mr);
}

const gitc_lowp_kernels gitci_lowp_avx2_bf16 = {"avx2", GITC_LOWP_BF16, MR_B, 1, pack_row_bf16, tile, 2};
const gitc_lowp_kernels gitci_lowp_avx2_int8 = {"avx2", GITC_LOWP_INT8, MR_I, 1, gitci_lowp_avx2_pack_int8, tile, 1};

#endif
