/* AVX512_BF16 (vdpbf16ps) and AVX512_VNNI (vpdpbusd) kernels of the
 * low-precision linear layer (lowp.h). Each function carries its own target
 * attribute, so this file needs no special compiler flags; lowp.c calls these
 * sets only after checking the CPU.
 *
 * One call: (1) the activations are rounded/quantized into a per-thread
 * scratch, rows grouped in tiles of MR and interleaved so a tile's inputs are
 * one contiguous stream: element (g, r) of the tile at row m0 lies at
 * xp[m0 * G + g * mr + r] (G 32-bit groups per row; mr rows in the tile);
 * (2) threads split the outputs in units of NV weight panels (16 outputs
 * each); each unit runs every row tile over the whole K with an MR x NV
 * register tile: per group, NV vector loads of weights, MR broadcasts of
 * activations, MR * NV dot-product instructions. A unit's weights (NV * 16 * K
 * values) stay in L2 while its row tiles pass; for M = 1..8 it is one pass
 * over the weights. */
#include "lowp.h"

#include "internal.h"

#include <stddef.h>
#include <string.h>

#ifdef GITC_HAVE_X86_SIMD

#include <immintrin.h>

#define T_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define T_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))

#define MR_B 6 /* bf16 tile: 6 rows x 4 panels = 24 accumulators */
#define NV_B 4
#define MR_I 4 /* int8 tile: 4 rows x 3 panels = 12 int32 + 12 float accumulators */
#define NV_I 3

typedef gitc_lowp_job lowp_job;

/* ---- bf16 ---- */

/* 16 floats to bfloat16 (nearest even, NaN kept), one per 32-bit lane. */
T_BF16 INLINE __m512i bf16_round16(__m512 v)
{
    __m512i u = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_mask_blend_epi32(nan, r, q);
}

/* Row m of x into its tile: pairs (x[2g], x[2g+1]) as one 32-bit group. */
T_BF16 static void pack_row_bf16(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups;
    int m0 = m / MR_B * MR_B, mr = GITC_MIN(MR_B, j->M - m0), r = m - m0;
    uint32_t *dst = j->xp + (size_t)m0 * G + r;
    const float *xr = j->x + (size_t)m * K;
    uint32_t tmp[8];
    for (int k = 0; k < K; k += 16) {
        int n = GITC_MIN(16, K - k);
        __mmask16 mask = (__mmask16)((1u << n) - 1u);
        __m512i b = bf16_round16(_mm512_maskz_loadu_ps(mask, xr + k));
        _mm256_storeu_si256((__m256i *)tmp, _mm512_cvtepi32_epi16(b));
        int g0 = k / 2, ng = (n + 1) / 2;
        for (int i = 0; i < ng; i++)
            dst[(size_t)(g0 + i) * mr] = tmp[i];
    }
}

/* An mr x nv tile over all K: y[m0.., 16 * p0 ..] (+ bias). Constant mr, nv. */
T_BF16 INLINE void tile_bf16(const lowp_job *j, int m0, int p0, const int mr, const int nv)
{
    int G = j->w->n_groups, N = j->w->n_out;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    size_t ps = (size_t)G * GITC_LOWP_PANEL;
    const uint32_t *wp = j->w->w + (size_t)p0 * ps;
    __m512 acc[MR_B][NV_B];
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int g = 0; g < G; g++) {
        __m512bh wv[NV_B];
        #pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            wv[v] = (__m512bh)_mm512_load_si512((const void *)(wp + v * ps + (size_t)g * GITC_LOWP_PANEL));
        #pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            __m512bh xb = (__m512bh)_mm512_set1_epi32((int)xp[(size_t)g * mr + r]);
            #pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_dpbf16_ps(acc[r][v], wv[v], xb);
        }
    }
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
        int n = (p0 + v) * GITC_LOWP_PANEL, left = N - n;
        __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __m512 b = j->bias ? _mm512_maskz_loadu_ps(mask, j->bias + n) : _mm512_setzero_ps();
        #pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            __m512 o = j->bias ? _mm512_add_ps(acc[r][v], b) : acc[r][v];
            _mm512_mask_storeu_ps(j->y + (size_t)(m0 + r) * N + n, mask, o);
        }
    }
}

#define TILE_CASES(fn, NVM)                                                                        \
    switch (mr * 8 + nv) {                                                                         \
    case 1 * 8 + 1: fn(j, m0, p0, 1, 1); break;                                                    \
    case 1 * 8 + 2: fn(j, m0, p0, 1, 2); break;                                                    \
    case 1 * 8 + 3: fn(j, m0, p0, 1, 3); break;                                                    \
    case 2 * 8 + 1: fn(j, m0, p0, 2, 1); break;                                                    \
    case 2 * 8 + 2: fn(j, m0, p0, 2, 2); break;                                                    \
    case 2 * 8 + 3: fn(j, m0, p0, 2, 3); break;                                                    \
    case 3 * 8 + 1: fn(j, m0, p0, 3, 1); break;                                                    \
    case 3 * 8 + 2: fn(j, m0, p0, 3, 2); break;                                                    \
    case 3 * 8 + 3: fn(j, m0, p0, 3, 3); break;                                                    \
    case 4 * 8 + 1: fn(j, m0, p0, 4, 1); break;                                                    \
    case 4 * 8 + 2: fn(j, m0, p0, 4, 2); break;                                                    \
    case 4 * 8 + 3: fn(j, m0, p0, 4, 3); break;                                                    \
    NVM                                                                                            \
    default: break;                                                                                \
    }

#define BF16_EXTRA                                                                                 \
    case 1 * 8 + 4: tile_bf16(j, m0, p0, 1, 4); break;                                             \
    case 2 * 8 + 4: tile_bf16(j, m0, p0, 2, 4); break;                                             \
    case 3 * 8 + 4: tile_bf16(j, m0, p0, 3, 4); break;                                             \
    case 4 * 8 + 4: tile_bf16(j, m0, p0, 4, 4); break;                                             \
    case 5 * 8 + 1: tile_bf16(j, m0, p0, 5, 1); break;                                             \
    case 5 * 8 + 2: tile_bf16(j, m0, p0, 5, 2); break;                                             \
    case 5 * 8 + 3: tile_bf16(j, m0, p0, 5, 3); break;                                             \
    case 5 * 8 + 4: tile_bf16(j, m0, p0, 5, 4); break;                                             \
    case 6 * 8 + 1: tile_bf16(j, m0, p0, 6, 1); break;                                             \
    case 6 * 8 + 2: tile_bf16(j, m0, p0, 6, 2); break;                                             \
    case 6 * 8 + 3: tile_bf16(j, m0, p0, 6, 3); break;                                             \
    case 6 * 8 + 4: tile_bf16(j, m0, p0, 6, 4); break;

T_BF16 static void run_tile_bf16(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    TILE_CASES(tile_bf16, BF16_EXTRA)
}

/* ---- int8 ---- */

/* Row m of x quantized per block of 32 into its tile (see lowp.h). */
T_VNNI static void pack_row_int8(const lowp_job *j, int m)
{
    int K = j->w->n_in, G = j->w->n_groups, nb = j->w->n_blocks;
    int m0 = m / MR_I * MR_I, mr = GITC_MIN(MR_I, j->M - m0), r = m - m0;
    uint32_t *dst = j->xp + (size_t)m0 * G + r;
    float *sx = j->sx + (size_t)m0 * nb + r;
    int32_t *corr = j->corr + (size_t)m0 * nb + r;
    const float *xr = j->x + (size_t)m * K;
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    uint32_t tmp[8];
    for (int b = 0; b < nb; b++) {
        int k = b * GITC_LOWP_BLOCK, n = GITC_MIN(GITC_LOWP_BLOCK, K - k);
        __mmask16 m1 = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
        __mmask16 m2 = n >= 32 ? (__mmask16)0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
        __m512 a = _mm512_maskz_loadu_ps(m1, xr + k);
        __m512 c = _mm512_maskz_loadu_ps(m2, xr + k + 16);
        /* max(|x|, acc) keeps acc when |x| is NaN, as the reference skips NaN */
        __m512 mx = _mm512_max_ps(_mm512_abs_ps(a), _mm512_setzero_ps());
        mx = _mm512_max_ps(_mm512_abs_ps(c), mx);
        float amax = _mm512_reduce_max_ps(mx);
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m512 vi = _mm512_set1_ps(inv);
        __m512i qa = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(a, vi), lo), hi));
        __m512i qc = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(c, vi), lo), hi));
        int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
        _mm_storeu_si128((__m128i *)tmp, _mm512_cvtepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(tmp + 4), _mm512_cvtepi32_epi8(qc));
        uint32_t *d = dst + (size_t)b * 8 * mr;
        for (int i = 0; i < 8; i++)
            d[(size_t)i * mr] = tmp[i];
        sx[(size_t)b * mr] = amax / 127.0f;
        corr[(size_t)b * mr] = -128 * sum;
    }
}

T_VNNI INLINE void tile_int8(const lowp_job *j, int m0, int p0, const int mr, const int nv)
{
    int G = j->w->n_groups, N = j->w->n_out, nb = j->w->n_blocks;
    const uint32_t *xp = j->xp + (size_t)m0 * G;
    const float *sx = j->sx + (size_t)m0 * nb;
    const int32_t *corr = j->corr + (size_t)m0 * nb;
    size_t ps = (size_t)G * GITC_LOWP_PANEL;
    const uint32_t *wp = j->w->w + (size_t)p0 * ps;
    const uint16_t *sw = j->w->scales + (size_t)p0 * nb * GITC_LOWP_PANEL;
    __m512 accf[MR_I][NV_I];
    __m512i acc[MR_I][NV_I];
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
        #pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            accf[r][v] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        #pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            __m512i c = _mm512_set1_epi32(corr[(size_t)b * mr + r]);
            #pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r][v] = c;
        }
        const uint32_t *xb = xp + (size_t)b * 8 * mr;
        const uint32_t *wb = wp + (size_t)b * 8 * GITC_LOWP_PANEL;
#pragma GCC unroll 2
        for (int g = 0; g < 8; g++) {
            __m512i wv[NV_I];
            #pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                wv[v] = _mm512_load_si512((const void *)(wb + v * ps + (size_t)g * GITC_LOWP_PANEL));
            #pragma GCC unroll 8
            for (int r = 0; r < mr; r++) {
                __m512i xv = _mm512_set1_epi32((int)xb[(size_t)g * mr + r]);
                #pragma GCC unroll 8
                for (int v = 0; v < nv; v++)
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], wv[v], xv);
            }
        }
        #pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            const uint16_t *s = sw + ((size_t)v * nb + b) * GITC_LOWP_PANEL;
            __m512 swv = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)s)), 16));
            #pragma GCC unroll 8
            for (int r = 0; r < mr; r++) {
                __m512 scale = _mm512_mul_ps(_mm512_set1_ps(sx[(size_t)b * mr + r]), swv);
                accf[r][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][v]), scale, accf[r][v]);
            }
        }
    }
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
        int n = (p0 + v) * GITC_LOWP_PANEL, left = N - n;
        __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __m512 bv = j->bias ? _mm512_maskz_loadu_ps(mask, j->bias + n) : _mm512_setzero_ps();
        #pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            __m512 o = j->bias ? _mm512_add_ps(accf[r][v], bv) : accf[r][v];
            _mm512_mask_storeu_ps(j->y + (size_t)(m0 + r) * N + n, mask, o);
        }
    }
}

T_VNNI static void run_tile_int8(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    TILE_CASES(tile_int8, )
}

/* ---- The sets (the driver is lowp.c's) ---- */

const gitc_lowp_kernels gitci_lowp_avx512_bf16 = {"avx512_bf16", GITC_LOWP_BF16, MR_B, NV_B,
                                                 pack_row_bf16, run_tile_bf16};
const gitc_lowp_kernels gitci_lowp_avx512_vnni = {"avx512_vnni", GITC_LOWP_INT8, MR_I, NV_I,
                                                 pack_row_int8, run_tile_int8};

#endif
