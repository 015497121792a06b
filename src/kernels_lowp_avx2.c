/* AVX2 + FMA kernels of the low-precision linear layer (lowp.h), for CPUs
 * without AVX-512 (e.g. Zen 3): the same prepared weights and the same
 * numerics as the AVX-512 sets, bit-identical to the reference.
 * - bf16: each 32-bit weight pair is split into two float32 vectors (shift /
 *   mask), multiplied by the broadcast bf16 activation pair with FMA, odd
 *   input first as vdpbf16ps (bf16 products are exact in float32).
 * - int8: vpmaddubsw on |x| and sign(x)·w (no int16 overflow: |q| <= 127),
 *   vpmaddwd to int32 per block, then acc = fma(dot, sx * sw, acc).
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
#define MR_I 2 /* int8: 2 rows x 16 outputs = 4 int32 + 4 float accumulators */

typedef gitc_lowp_job lowp_job;

/* ---- bf16 ---- */

T_AVX2 static void pack_row_bf16(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups;
    int m0 = m / MR_B * MR_B, mr = GITC_MIN(MR_B, j->M - m0), r = m - m0;
    uint32_t *dst = j->xp + (size_t)m0 * G + r;
    const float *xr = j->x + (size_t)m * K;
    int g = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    uint32_t tmp[8];
    for (; 2 * g + 16 <= K; g += 8) {
        /* 16 floats -> 8 pairs: round each to bf16 (nearest even, NaN quieted) */
        __m256i lo = _mm256_loadu_si256((const __m256i *)(xr + 2 * g));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(xr + 2 * g + 8));
        __m256i out[2];
        __m256i in[2] = {lo, hi};
        for (int h = 0; h < 2; h++) {
            __m256i u = in[h];
            __m256i rr = _mm256_srli_epi32(
                _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), 16);
            __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
            __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
            out[h] = _mm256_blendv_epi8(rr, q, nan);
        }
        /* lanes (x0, x1, ..., x7) as 32-bit -> pairs x0 | x1 << 16 */
        __m256i p = _mm256_packus_epi32(out[0], out[1]); /* per 128-bit half: 4 from out0, 4 from out1 */
        p = _mm256_permute4x64_epi64(p, 0xd8);
        _mm256_storeu_si256((__m256i *)tmp, p);
        for (int i = 0; i < 8; i++)
            dst[(size_t)(g + i) * mr] = tmp[i];
    }
    for (; g < j->w->n_groups; g++) {
        uint32_t a = gitc_lowp_bf16_round(xr[2 * g]);
        uint32_t b = 2 * g + 1 < K ? gitc_lowp_bf16_round(xr[2 * g + 1]) : 0;
        dst[(size_t)g * mr] = a | b << 16;
    }
}

T_AVX2 INLINE void tile_bf16(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, N = j->w->n_out;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
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
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            uint32_t pr = xp[(size_t)g * mr + r];
            uint32_t ue = pr << 16, uo = pr & 0xffff0000u;
            float fe, fo;
            memcpy(&fe, &ue, 4);
            memcpy(&fo, &uo, 4);
            __m256 xe = _mm256_set1_ps(fe), xo = _mm256_set1_ps(fo);
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

T_AVX2 INLINE void tile_int8(const lowp_job *j, int m0, int p, const int mr)
{
    int G = j->w->n_groups, N = j->w->n_out, nb = j->w->n_blocks;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    const float *sx = j->sx + (size_t)m0 * nb;
    const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;
    const uint16_t *sw = j->w->scales + (size_t)p * nb * GITC_LOWP_PANEL;
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256 accf[MR_I][2];
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++)
        accf[r][0] = accf[r][1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i acc[MR_I][2];
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++)
            acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        for (int g = b * 8; g < b * 8 + 8; g++) {
            /* stored q + 128 -> signed q */
            __m256i w0 = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(wp + (size_t)g * GITC_LOWP_PANEL)), flip);
            __m256i w1 = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(wp + (size_t)g * GITC_LOWP_PANEL + 8)), flip);
#pragma GCC unroll 2
            for (int r = 0; r < mr; r++) {
                __m256i xv = _mm256_set1_epi32((int)xp[(size_t)g * mr + r]);
                __m256i ax = _mm256_abs_epi8(xv);
                __m256i d0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xv));
                __m256i d1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xv));
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(d0, ones));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(d1, ones));
            }
        }
        const uint16_t *s = sw + (size_t)b * GITC_LOWP_PANEL;
        __m256 s0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)s)), 16));
        __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + 8))), 16));
#pragma GCC unroll 2
        for (int r = 0; r < mr; r++) {
            __m256 xs = _mm256_set1_ps(sx[(size_t)b * mr + r]);
            accf[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][0]), _mm256_mul_ps(xs, s0), accf[r][0]);
            accf[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][1]), _mm256_mul_ps(xs, s1), accf[r][1]);
        }
    }
    int n = p * GITC_LOWP_PANEL, left = GITC_MIN(16, N - n);
#pragma GCC unroll 2
    for (int r = 0; r < mr; r++) {
        float out[16];
        _mm256_storeu_ps(out, accf[r][0]);
        _mm256_storeu_ps(out + 8, accf[r][1]);
        float *yr = j->y + (size_t)(m0 + r) * N + n;
        for (int i = 0; i < left; i++)
            yr[i] = j->bias ? out[i] + j->bias[n + i] : out[i];
    }
}

T_AVX2 static void run_tile_int8(const lowp_job *j, int m0, int p, int mr)
{
    if (mr == 1)
        tile_int8(j, m0, p, 1);
    else
        tile_int8(j, m0, p, 2);
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

const gitc_lowp_kernels gitci_lowp_avx2_bf16 = {"avx2", GITC_LOWP_BF16, MR_B, 1, pack_row_bf16, tile};
const gitc_lowp_kernels gitci_lowp_avx2_int8 = {"avx2", GITC_LOWP_INT8, MR_I, 1, pack_row_int8, tile};

#endif
