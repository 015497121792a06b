/* AVX-512F kernels: the f32 linear layer over weight panels prepared at load
 * (gitc_panels_pack: 32 outputs x K inputs, K-major), a 12x32 register tile
 * that broadcasts x and multiplies two 16-lane panel rows per input. The
 * other kernels (attention, layer norm, elementwise) are the AVX2 set's: they
 * are a small part of the time. This file alone is compiled with -mavx512f
 * (CMakeLists.txt); nothing in it may run before the CPU check in kernels.c.
 * Sums are reordered relative to gitc_linear_ref (K sequential per output
 * within a KC chunk, chunks added in order), never computed in lower
 * precision. */
#include "kernels.h"
#include "internal.h"

#if defined(__AVX512F__)

#include <immintrin.h>

#define GITC_INLINE static inline __attribute__((always_inline))
#define PN GITC_PANEL_N

/* Rows per register tile: 2 x MR accumulators + 2 panel rows + 1 broadcast <= 32 zmm. */
#define MR 12
/* Inputs per pass over a panel: its KC x 32 slice (32 KiB) stays in L1 while
 * every row tile of the block uses it. */
#ifndef KC
#define KC 256
#endif
/* Rows per block: MC x KC floats of x (240 KiB) stay in L2 across the panels. */
#ifndef MC
#define MC 240
#endif

/* y[mr, 32] (masked to the panel's real columns) = or += x[mr, kc] . b[kc, 32] (+ bias). */
GITC_INLINE void tile(const int mr, const float *x, size_t ldx, const float *b, int kc, float *y,
                      size_t ldy, __mmask16 m0, __mmask16 m1, const float *bias, int first)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(b + (size_t)k * PN);
        __m512 b1 = _mm512_load_ps(b + (size_t)k * PN + 16);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 a = _mm512_set1_ps(x[(size_t)i * ldx + k]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (first && bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *yr = y + (size_t)i * ldy;
        __m512 v0, v1;
        if (first) {
            v0 = _mm512_add_ps(c0[i], bias0);
            v1 = _mm512_add_ps(c1[i], bias1);
        } else {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), c0[i]);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), c1[i]);
        }
        _mm512_mask_storeu_ps(yr, m0, v0);
        _mm512_mask_storeu_ps(yr + 16, m1, v1);
    }
}

/* One compiled tile per row count, so the accumulators stay in registers. */
#define TILE(R)                                                                                    \
    static void tile_##R(const float *x, size_t ldx, const float *b, int kc, float *y, size_t ldy, \
                         __mmask16 m0, __mmask16 m1, const float *bias, int first)                 \
    {                                                                                              \
        tile(R, x, ldx, b, kc, y, ldy, m0, m1, bias, first);                                       \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11) TILE(12)
#undef TILE

typedef void (*tile_fn)(const float *, size_t, const float *, int, float *, size_t, __mmask16,
                        __mmask16, const float *, int);
static const tile_fn tiles[MR + 1] = {
    NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6,
    tile_7, tile_8, tile_9, tile_10, tile_11, tile_12,
};

typedef struct panel_ctx {
    float *y;
    const float *x;
    const gitc_matrix *w;
    const float *bias;
    int M;
} panel_ctx;

/* Output panels [p0, p1) for all rows, in chunks of KC inputs: every output
 * is bias + chunk 0, then + chunk 1, ..., whatever M is (so a row's result
 * does not depend on the rows beside it: batches equal single runs). Few
 * rows (decode): panel by panel, one sequential pass over the weights. Many
 * rows: blocks of MC rows, and each KC slice of a panel is reused from L1 by
 * every row tile of the block. */
static void panel_range(const panel_ctx *c, int p0, int p1)
{
    int M = c->M, N = c->w->n_out, K = c->w->n_in;
    int few = M <= MR;
    for (int m0 = 0; m0 < M; m0 += MC) {
        int mc = GITC_MIN(MC, M - m0);
        for (int kk = 0; kk < (few ? 1 : K); kk += KC) {
            for (int p = p0; p < p1; p++) {
                int n0 = p * PN, nr = GITC_MIN(PN, N - n0);
                __mmask16 mk0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
                __mmask16 mk1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
                const float *bias = c->bias ? c->bias + n0 : NULL;
                for (int k0 = few ? 0 : kk; k0 < (few ? K : kk + 1); k0 += KC) {
                    int kc = GITC_MIN(KC, K - k0);
                    const float *b = c->w->panels + ((size_t)p * K + k0) * PN;
                    for (int i = 0; i < mc; i += MR) {
                        int mr = GITC_MIN(MR, mc - i);
                        size_t row = (size_t)(m0 + i);
                        tiles[mr](c->x + row * K + k0, (size_t)K, b, kc, c->y + row * N + n0, (size_t)N,
                                  mk0, mk1, bias, k0 == 0);
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

static const gitc_kernel_table *avx2_set;

static void linear_avx512(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                          const float *bias, int M)
{
    if (!w->panels) { /* not prepared (a matrix outside a model): W in place */
        avx2_set->linear(pool, y, x, w, bias, M);
        return;
    }
    if (M <= 0 || w->n_out <= 0)
        return;
    if (w->n_in <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < w->n_out; n++)
                y[(size_t)m * w->n_out + n] = bias ? bias[n] : 0.0f;
        return;
    }
    panel_ctx c = {y, x, w, bias, M};
    gitc_pool_run(pool, panel_worker, &c);
}

/* Twelve independent 16-lane FMA chains. */
static double fma_loop_avx512(long n)
{
    __m512 a[12], m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < n; r++)
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return 12.0 * 32.0 * (double)n;
}

static gitc_kernel_table avx512_table;

const gitc_kernel_table *gitc_kernels_avx512_table(const gitc_kernel_table *avx2)
{
    if (!avx2)
        return NULL;
    avx2_set = avx2;
    avx512_table = *avx2;
    avx512_table.name = "avx512";
    avx512_table.linear = linear_avx512;
    avx512_table.uses_panels = 1;
    avx512_table.fma_loop = fma_loop_avx512;
    return &avx512_table;
}

#else /* no AVX-512 in this build */

const gitc_kernel_table *gitc_kernels_avx512_table(const gitc_kernel_table *avx2)
{
    (void)avx2;
    return NULL;
}

#endif
