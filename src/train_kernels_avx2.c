/* AVX2+FMA tile of training's matrix products (train_products.h): 6 rows x 16
 * columns in 12 registers, one broadcast from the left operand (in place) and
 * two loads of the packed right panel per 12 FMAs; and the activations of
 * train_act.h and AdamW at 8 lanes. Compiled with -mavx2 -mfma
 * (CMakeLists.txt); it exports const data only, and train_kernels.c calls it
 * only after the CPU check of kernels.c says the AVX2 set runs. */
#include "train_products.h"

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#include "train_act.h"
#include "train_adamw.h"

#define MR 6
#define NR 16

static void tile_avx2(int kc, const float *a, size_t ars, size_t acs, const float *bp, float *c, size_t ldc, int mb,
                      int nb, int add)
{
    __m256 acc[MR][2]; /* every loop over them unrolled: GCC keeps them in registers only then */
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        /* c's rows are read after the k loop: ask for them now, so that
         * the loads do not stall on memory then (~10 % of a product) */
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + NR - 1), _MM_HINT_T0);
    }
    const float *a0 = a;
    for (int k = 0; k < kc; k++, a0 += acs, bp += NR) {
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m256 x = _mm256_broadcast_ss(a0 + i * ars);
            acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
        }
    }
    if (mb == MR && nb == NR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            float *o = c + (size_t)i * ldc;
            _mm256_storeu_ps(o, add ? _mm256_add_ps(_mm256_loadu_ps(o), acc[i][0]) : acc[i][0]);
            _mm256_storeu_ps(o + 8, add ? _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[i][1]) : acc[i][1]);
        }
        return;
    }
    float t[MR][NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(t[i], acc[i][0]);
        _mm256_storeu_ps(t[i] + 8, acc[i][1]);
    }
    for (int i = 0; i < mb; i++)
        for (int j = 0; j < nb; j++)
            c[(size_t)i * ldc + (size_t)j] = add ? c[(size_t)i * ldc + (size_t)j] + t[i][j] : t[i][j];
}

const gitci_tk_products gitci_tk_products_avx2 = {.name = "avx2", .mr = MR, .nr = NR, .tile = tile_avx2,
                                                  .act = tk_act,
                                                  .adamw = tk_adamw};

#else

const gitci_tk_products gitci_tk_products_avx2 = {.name = NULL};

#endif
