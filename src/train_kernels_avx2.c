/* AVX2+FMA products of the backward pass: dx += dy · W and dw += dyᵀ · x,
 * register-blocked (6 rows x 16 columns) and cache-blocked (256 products per
 * chunk). Compiled with -mavx2 -mfma (CMakeLists.txt); it exports const data
 * only, and train_kernels.c calls it only after the CPU check of kernels.c
 * says the AVX2 set runs. Every output element is summed in an order that
 * depends on its position only (never on the rows a thread was given), so
 * results are the same on any thread count. */
#include "train_products.h"

#include <stddef.h>

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

/* Products summed per chunk before they are added to the output. */
#define CHUNK 256

/* dx[m, k0..k0+16) += Σ_{n in [n0,n1)} dy[m,n] W[n, k0..] for MB rows (MB <= 6), 16 columns. */
static inline void dx_tile16(float *dx, const float *dy, const float *w, int MB, int n0, int n1, size_t N,
                             size_t K, int k0)
{
    __m256 acc[6][2];
    for (int i = 0; i < 6; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int n = n0; n < n1; n++) {
        const float *wr = w + (size_t)n * K + (size_t)k0;
        __m256 w0 = _mm256_loadu_ps(wr), w1 = _mm256_loadu_ps(wr + 8);
        for (int i = 0; i < MB; i++) {
            __m256 b = _mm256_broadcast_ss(dy + (size_t)i * N + (size_t)n);
            acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
        }
    }
    for (int i = 0; i < MB; i++) {
        float *o = dx + (size_t)i * K + (size_t)k0;
        _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), acc[i][0]));
        _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[i][1]));
    }
}

/* The same for the last K % 16 columns, one column at a time (fmaf chain). */
static inline void dx_tail(float *dx, const float *dy, const float *w, int MB, int n0, int n1, size_t N, size_t K,
                           int k0, int k1)
{
    for (int i = 0; i < MB; i++)
        for (int k = k0; k < k1; k++) {
            float s = 0.0f;
            for (int n = n0; n < n1; n++)
                s = __builtin_fmaf(dy[(size_t)i * N + (size_t)n], w[(size_t)n * K + (size_t)k], s);
            dx[(size_t)i * K + (size_t)k] += s;
        }
}

/* dx rows [r0, r1) += dy · W (dy [M,N], W [N,K]). */
static void linear_dx_rows_avx2(float *dx, const float *dy, const float *w, int N, int K, int r0, int r1)
{
    size_t Nz = (size_t)N, Kz = (size_t)K;
    int K16 = K - K % 16;
    for (int n0 = 0; n0 < N; n0 += CHUNK) {
        int n1 = n0 + CHUNK < N ? n0 + CHUNK : N;
        for (int m = r0; m < r1; m += 6) {
            int MB = r1 - m < 6 ? r1 - m : 6;
            float *dxm = dx + (size_t)m * Kz;
            const float *dym = dy + (size_t)m * Nz;
            for (int k0 = 0; k0 < K16; k0 += 16)
                dx_tile16(dxm, dym, w, MB, n0, n1, Nz, Kz, k0);
            if (K16 < K)
                dx_tail(dxm, dym, w, MB, n0, n1, Nz, Kz, K16, K);
        }
    }
}

/* dw[n0+i, k0..k0+16) += Σ_{m in [m0,m1)} dy[m, n0+i] x[m, k0..] for NB rows (NB <= 6). */
static inline void dw_tile16(float *dw, const float *dy, const float *x, int NB, int m0, int m1, size_t N, size_t K,
                             int n0, int k0)
{
    __m256 acc[6][2];
    for (int i = 0; i < 6; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int m = m0; m < m1; m++) {
        const float *xr = x + (size_t)m * K + (size_t)k0;
        const float *g = dy + (size_t)m * N + (size_t)n0;
        __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8);
        for (int i = 0; i < NB; i++) {
            __m256 b = _mm256_broadcast_ss(g + i);
            acc[i][0] = _mm256_fmadd_ps(b, x0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(b, x1, acc[i][1]);
        }
    }
    for (int i = 0; i < NB; i++) {
        float *o = dw + (size_t)(n0 + i) * K + (size_t)k0;
        _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), acc[i][0]));
        _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[i][1]));
    }
}

/* dw rows [n0, n1) += dyᵀ · x (dy [M,N], x [M,K]) and db[n] += Σ_m dy[m,n]. */
static void linear_dw_rows_avx2(float *dw, float *db, const float *dy, const float *x, int M, int N, int K,
                                int n0, int n1)
{
    size_t Nz = (size_t)N, Kz = (size_t)K;
    int K16 = K - K % 16;
    for (int m0 = 0; m0 < M; m0 += CHUNK) {
        int m1 = m0 + CHUNK < M ? m0 + CHUNK : M;
        for (int n = n0; n < n1; n += 6) {
            int NB = n1 - n < 6 ? n1 - n : 6;
            for (int k0 = 0; k0 < K16; k0 += 16)
                dw_tile16(dw, dy, x, NB, m0, m1, Nz, Kz, n, k0);
            if (db) /* the chunk's column sums, read along the rows the tiles just used */
                for (int i = 0; i < NB; i++) {
                    float s = 0.0f;
                    for (int m = m0; m < m1; m++)
                        s += dy[(size_t)m * Nz + (size_t)(n + i)];
                    db[n + i] += s;
                }
            for (int i = 0; i < NB; i++)
                for (int k = K16; k < K; k++) {
                    float s = 0.0f;
                    for (int m = m0; m < m1; m++)
                        s = __builtin_fmaf(dy[(size_t)m * Nz + (size_t)(n + i)], x[(size_t)m * Kz + (size_t)k], s);
                    dw[(size_t)(n + i) * Kz + (size_t)k] += s;
                }
        }
    }
}

const gitci_tk_products gitci_tk_products_avx2 = {
    .name = "avx2",
    .linear_dx_rows = linear_dx_rows_avx2,
    .linear_dw_rows = linear_dw_rows_avx2,
};

#else

const gitci_tk_products gitci_tk_products_avx2 = {.name = NULL};

#endif
