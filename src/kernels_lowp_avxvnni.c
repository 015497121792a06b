/* AVX-VNNI kernels of the int8 linear layer (lowp.h): vpdpbusd on 256-bit
 * registers (VEX encoding: Intel Alder Lake and later, AMD Zen 5 desktop),
 * for CPUs with AVX2 and AVX-VNNI but no AVX-512. The same prepared weights
 * and numerics as every int8 set, bit-identical to the reference.
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes and adds groups of four
 * products to int32 without saturation: the weights are stored as q + 128
 * (unsigned), the activations are signed, and each block's accumulator starts
 * at -128 * sum(q_x) (the packing's correction), so it ends at the signed dot
 * product, as in the AVX512_VNNI set. Packing: the avx2 int8 set's (the same
 * row tiles of 4). Tile: 4 rows x 16 outputs, per group 2 weight loads, 4
 * broadcasts, 8 vpdpbusd; per block of 8 groups, acc = fma(dot, sx * sw, acc).
 *
 * The tile is compiled twice: with the instruction (the registered set) and
 * with vpdpbusd emulated exactly by AVX2 instructions (a test-only set), so
 * the layout and correction logic is checked on machines without AVX-VNNI.
 * Functions carry their own target attributes. */
#include "lowp.h"

#include "internal.h"

#include <stddef.h>

#ifdef GITC_HAVE_X86_SIMD

#include <immintrin.h>

#define T_VNNI __attribute__((target("avx2,fma,avxvnni")))
#define T_AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

#define MR GITC_LOWP_AVX2_MR_I

typedef gitc_lowp_job lowp_job;

/* acc + sum over each 32-bit lane's four u8(a) * s8(b) products, as
 * vpdpbusd: even and odd bytes widened to int16 (exact), vpmaddwd on each
 * (int16 products of |a| <= 255, |b| <= 128 and their pair sums fit int32). */
T_AVX2 INLINE __m256i dpbusd_emulated(__m256i acc, __m256i a, __m256i b)
{
    const __m256i lo = _mm256_set1_epi16(0xff);
    __m256i a_even = _mm256_and_si256(a, lo), a_odd = _mm256_srli_epi16(a, 8);
    __m256i b_even = _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8), b_odd = _mm256_srai_epi16(b, 8);
    __m256i s = _mm256_add_epi32(_mm256_madd_epi16(a_even, b_even), _mm256_madd_epi16(a_odd, b_odd));
    return _mm256_add_epi32(acc, s);
}

/* The instruction itself (VEX vpdpbusd on ymm). */
T_VNNI INLINE __m256i dpbusd_vnni(__m256i acc, __m256i a, __m256i b)
{
    return _mm256_dpbusd_avx_epi32(acc, a, b);
}

/* The mr x 16 tile at rows m0.., panel p, with DP as the dot product;
 * defined once per target. The float accumulators stay in accf (L1), touched
 * once per block; 8 int32 accumulators and 2 weight vectors in registers. */
#define DEFINE_TILE(NAME, TARGET, DP)                                                              \
    TARGET INLINE void NAME(const lowp_job *j, int m0, int p, const int mr)                        \
    {                                                                                              \
        int G = j->w->n_groups, N = j->w->n_out, nb = j->w->n_blocks;                              \
        const uint32_t *xp = j->xp + (size_t)m0 * G;                                               \
        const float *sx = j->sx + (size_t)m0 * nb;                                                 \
        const int32_t *corr = j->corr + (size_t)m0 * nb;                                           \
        const uint32_t *wp = j->w->w + (size_t)p * G * GITC_LOWP_PANEL;                            \
        const uint16_t *sw = j->w->scales + (size_t)p * nb * GITC_LOWP_PANEL;                      \
        float accf[MR][16] __attribute__((aligned(32)));                                           \
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                       \
        {                                                                                          \
            _mm256_store_ps(accf[r], _mm256_setzero_ps());                                         \
            _mm256_store_ps(accf[r] + 8, _mm256_setzero_ps());                                     \
        }                                                                                          \
        for (int b = 0; b < nb; b++) {                                                             \
            __m256i acc[MR][2];                                                                    \
            _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                   \
                acc[r][0] = acc[r][1] = _mm256_set1_epi32(corr[(size_t)b * mr + r]);               \
            const uint32_t *xb = xp + (size_t)b * 8 * mr;                                          \
            const uint32_t *wb = wp + (size_t)b * 8 * GITC_LOWP_PANEL;                             \
            _Pragma("GCC unroll 2") for (int g = 0; g < 8; g++)                                    \
            {                                                                                      \
                __m256i w0 = _mm256_load_si256((const __m256i *)(wb + (size_t)g * GITC_LOWP_PANEL)); \
                __m256i w1 =                                                                       \
                    _mm256_load_si256((const __m256i *)(wb + (size_t)g * GITC_LOWP_PANEL + 8));    \
                _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                               \
                {                                                                                  \
                    __m256i xv = _mm256_set1_epi32((int)xb[(size_t)g * mr + r]);                   \
                    acc[r][0] = DP(acc[r][0], w0, xv);                                             \
                    acc[r][1] = DP(acc[r][1], w1, xv);                                             \
                }                                                                                  \
            }                                                                                      \
            const uint16_t *s = sw + (size_t)b * GITC_LOWP_PANEL;                                  \
            __m256 s0 = _mm256_castsi256_ps(                                                       \
                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)s)), 16)); \
            __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(                                     \
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + 8))), 16));            \
            _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                   \
            {                                                                                      \
                __m256 xs = _mm256_set1_ps(sx[(size_t)b * mr + r]);                                \
                _mm256_store_ps(accf[r], _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][0]),            \
                                                         _mm256_mul_ps(xs, s0),                    \
                                                         _mm256_load_ps(accf[r])));                \
                _mm256_store_ps(accf[r] + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][1]),        \
                                                             _mm256_mul_ps(xs, s1),                \
                                                             _mm256_load_ps(accf[r] + 8)));        \
            }                                                                                      \
        }                                                                                          \
        int n = p * GITC_LOWP_PANEL, left = GITC_MIN(16, N - n);                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++)                                       \
        {                                                                                          \
            float *yr = j->y + (size_t)(m0 + r) * N + n;                                           \
            for (int i = 0; i < left; i++)                                                         \
                yr[i] = j->bias ? accf[r][i] + j->bias[n + i] : accf[r][i];                        \
        }                                                                                          \
    }

DEFINE_TILE(tile_vnni, T_VNNI, dpbusd_vnni)
DEFINE_TILE(tile_emulated, T_AVX2, dpbusd_emulated)

/* The driver's tile entry (units of one panel): mr as a compiled constant. */
T_VNNI static void run_tile_vnni(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    (void)nv;
    switch (mr) {
    case 1: tile_vnni(j, m0, p0, 1); break;
    case 2: tile_vnni(j, m0, p0, 2); break;
    case 3: tile_vnni(j, m0, p0, 3); break;
    default: tile_vnni(j, m0, p0, 4); break;
    }
}

/* The same entry for the emulated twin (tests only). */
T_AVX2 static void run_tile_emulated(const lowp_job *j, int m0, int p0, int mr, int nv)
{
    (void)nv;
    switch (mr) {
    case 1: tile_emulated(j, m0, p0, 1); break;
    case 2: tile_emulated(j, m0, p0, 2); break;
    case 3: tile_emulated(j, m0, p0, 3); break;
    default: tile_emulated(j, m0, p0, 4); break;
    }
}

const gitc_lowp_kernels gitci_lowp_avxvnni = {"avx_vnni", GITC_LOWP_INT8, MR, 1, gitci_lowp_avx2_pack_int8,
                                             run_tile_vnni, 1};
const gitc_lowp_kernels gitci_lowp_avxvnni_emulated = {"avx_vnni (emulated)", GITC_LOWP_INT8, MR, 1,
                                                      gitci_lowp_avx2_pack_int8, run_tile_emulated, 1};

#endif
