/* bf16 and int8 weight modes (lowp.h): the scalar reference against exact
 * float64 arithmetic within the quantization error bound, and every kernel set
 * the CPU runs against the reference (int8: bit-identical; bf16: within the
 * float32 summation-order bound), over odd shapes (K not a multiple of 32, N
 * tails, M = 1, 3, 8, 197), with and without bias, with 1 and 2 threads.
 * Also: preparation from F16/BF16 sources, prepared sizes, bad weights. */
#include "kernels.h"
#include "kernels_registry.h"
#include "check.h"
#include "internal.h"
#include "lowp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x243F6A8885A308D3ull;

/* Uniform in [-1, 1). */
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Random values with a spread of magnitudes (some rows/blocks much larger than
 * others, some exact zeros), as real activations have. */
static void fill(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) {
        float r = frand();
        float mag = (i % 97 == 5) ? 8.0f : (i % 13 == 0 ? 0.01f : 1.0f);
        x[i] = (i % 29 == 3) ? 0.0f : r * mag * scale;
    }
}

/* Largest differences seen, printed at the end: [kind - 1] */
static double max_ref_vs_exact[2], max_ref_bound_ratio[2], max_set_vs_ref[2], max_set_ratio[2];

static const char *kind_name(gitc_lowp_kind k)
{
    return k == GITC_LOWP_BF16 ? "bf16" : "int8";
}

/* The value the prepared matrix holds for weight (n, k), as float. */
static double prepared_weight(const gitc_lowp_matrix *w, int n, int k)
{
    int p = n / GITC_LOWP_PANEL, j = n % GITC_LOWP_PANEL;
    if (w->kind == GITC_LOWP_BF16) {
        uint32_t g = w->w[((size_t)p * w->n_groups + k / 2) * GITC_LOWP_PANEL + j];
        return gitc_lowp_bf16_f32((uint16_t)(k % 2 ? g >> 16 : g & 0xffff));
    }
    const uint8_t *b = (const uint8_t *)w->w;
    int q = (int)b[(((size_t)p * w->n_groups + k / 4) * GITC_LOWP_PANEL + j) * 4 + k % 4] - 128;
    float s = gitc_lowp_bf16_f32(w->scales[((size_t)p * w->n_blocks + k / GITC_LOWP_BLOCK) * GITC_LOWP_PANEL + j]);
    return (double)q * s;
}

/* Reference vs exact math: |ref - x·Wᵀ| within the quantization bound, and the
 * prepared weights within half a step of the originals. */
static void check_ref_accuracy(gitc_lowp_kind kind, const float *x, const float *wf, const float *bias,
                               const gitc_lowp_matrix *w, const float *y, int M, int N, int K)
{
    double worst_w = 0.0, worst = 0.0;
    int bad_w = 0, bad = 0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double v = wf[(size_t)n * K + k], q = prepared_weight(w, n, k);
            double tol;
            if (kind == GITC_LOWP_BF16) {
                tol = fabs(v) * (1.0 / 256.0);
            } else {
                int k0 = k / GITC_LOWP_BLOCK * GITC_LOWP_BLOCK;
                double amax = 0.0;
                for (int i = k0; i < K && i < k0 + GITC_LOWP_BLOCK; i++)
                    amax = fmax(amax, fabs(wf[(size_t)n * K + i]));
                tol = amax / 127.0 * (1.0 + 1.0 / 128.0) * 0.5;
            }
            worst_w = fmax(worst_w, fabs(v - q));
            if (fabs(v - q) > tol * (1.0 + 1e-6))
                bad_w++;
        }
    check_true(bad_w == 0, "%s prepared weights [%d,%d]: %d outside half a quantization step (max |dw| %.3g)",
               kind_name(kind), N, K, bad_w, worst_w);
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        for (int n = 0; n < N; n++) {
            double exact = bias ? bias[n] : 0.0, bound = 0.0, absum = 0.0;
            for (int k0 = 0; k0 < K; k0 += GITC_LOWP_BLOCK) {
                int k1 = k0 + GITC_LOWP_BLOCK < K ? k0 + GITC_LOWP_BLOCK : K;
                double xmax = 0.0;
                for (int k = k0; k < k1; k++)
                    xmax = fmax(xmax, fabs(xr[k]));
                for (int k = k0; k < k1; k++) {
                    double xv = xr[k], wv = wf[(size_t)n * K + k], wq = prepared_weight(w, n, k);
                    exact += xv * wv;
                    absum += fabs(xv * wv);
                    /* |x w - x' w'| <= |x - x'| |w'| + |x| |w - w'| */
                    double dx = kind == GITC_LOWP_BF16 ? fabs(xv) / 256.0 : xmax / 127.0 * 0.5;
                    bound += dx * fabs(wq) + fabs(xv) * fabs(wv - wq);
                }
            }
            bound = bound * 1.001 + absum * K * 1.2e-7 + 1e-30;
            double d = fabs((double)y[(size_t)m * N + n] - exact);
            worst = fmax(worst, d);
            max_ref_bound_ratio[kind - 1] = fmax(max_ref_bound_ratio[kind - 1], d / bound);
            if (d > bound)
                bad++;
        }
    }
    max_ref_vs_exact[kind - 1] = fmax(max_ref_vs_exact[kind - 1], worst);
    check_true(bad == 0, "%s ref vs float64 M=%d N=%d K=%d: %d outputs outside the quantization bound (max |dy| %.3g)",
               kind_name(kind), M, N, K, bad, worst);
}

/* Every set vs the reference on one shape. */
static void check_sets(gitc_lowp_kind kind, const gitc_lowp_matrix *w, const float *x, const float *bias,
                       const float *ref, float *y, int M, gitc_pool *pool)
{
    const gitc_lowp_kernels *const *sets;
    int n_sets = gitci_lowp_kernel_sets(kind, &sets);
    int N = w->n_out, K = w->n_in;
    for (int s = 0; s < n_sets; s++) {
        for (size_t i = 0; i < (size_t)M * N; i++)
            y[i] = NAN;
        gitci_lowp_run(sets[s], pool, y, x, w, bias, M);
        double worst = 0.0, worst_ratio = 0.0;
        int bad = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double got = y[(size_t)m * N + n], want = ref[(size_t)m * N + n];
                double d = fabs(got - want);
                double tol = 0.0;
                if (kind == GITC_LOWP_BF16) {
                    /* float32 sums in another order: <= 2 K u sum |x' w'| */
                    double absum = 0.0;
                    for (int k = 0; k < K; k++)
                        absum += fabs(gitc_lowp_bf16_f32(gitc_lowp_bf16_round(x[(size_t)m * K + k])) *
                                      prepared_weight(w, n, k));
                    tol = 2.0 * K * 5.96e-8 * absum + (bias ? fabs(bias[n]) * 1.2e-7 : 0.0) + 1e-35;
                    if (absum > 0.0)
                        worst_ratio = fmax(worst_ratio, d / absum);
                }
                if (!(d <= tol))
                    bad++;
                worst = fmax(worst, d);
            }
        if (s > 0) {
            max_set_vs_ref[kind - 1] = fmax(max_set_vs_ref[kind - 1], worst);
            max_set_ratio[kind - 1] = fmax(max_set_ratio[kind - 1], worst_ratio);
        }
        check_true(bad == 0, "%s set %s M=%d N=%d K=%d%s%s: %d outputs differ from the reference (max %.3g, max |dy|/sum|xw| %.3g)",
                   kind_name(kind), sets[s]->name, M, N, K, bias ? " bias" : "", pool ? " 2 threads" : "",
                   bad, worst, worst_ratio);
    }
}

static void run_shape(gitc_lowp_kind kind, gitc_wtype type, int M, int N, int K, int with_bias,
                      gitc_pool *pool)
{
    size_t nw = (size_t)N * K;
    float *wf = malloc(nw * sizeof *wf), *x = malloc((size_t)M * K * sizeof *x);
    float *bias = malloc((size_t)N * sizeof *bias), *ref = malloc((size_t)M * N * sizeof *ref);
    float *y = malloc((size_t)M * N * sizeof *y);
    uint16_t *w16 = malloc(nw * sizeof *w16);
    fill(wf, nw, 0.05f);
    fill(x, (size_t)M * K, 1.0f);
    fill(bias, (size_t)N, 0.5f);
    gitc_matrix src = {wf, GITC_W_F32, N, K, NULL, NULL};
    if (type == GITC_W_BF16) {
        for (size_t i = 0; i < nw; i++) {
            w16[i] = gitc_lowp_bf16_round(wf[i]);
            wf[i] = gitc_lowp_bf16_f32(w16[i]);
        }
        src.data = w16;
        src.type = GITC_W_BF16;
    }
    gitc_lowp_matrix *w = NULL;
    gitc_error err = {0};
    if (!check_true(gitci_lowp_prepare(kind, &src, &w, &err) == GITC_OK, "prepare %s [%d,%d]: %s",
                    kind_name(kind), N, K, err.message))
        goto done;
    const float *b = with_bias ? bias : NULL;
    gitci_lowp_linear_ref(ref, x, w, b, M);
    if (pool == NULL) /* the float64 comparison once per shape */
        check_ref_accuracy(kind, x, wf, b, w, ref, M, N, K);
    check_sets(kind, w, x, b, ref, y, M, pool);
    /* the dispatching entry point (a matrix with prepared weights) runs one of the sets */
    gitc_matrix wm = {.n_out = N, .n_in = K, .lowp = w};
    gitci_linear(pool, y, x, &wm, b, M);
    if (kind == GITC_LOWP_INT8)
        check_true(memcmp(y, ref, (size_t)M * N * sizeof *y) == 0, "int8 gitci_linear (%s) M=%d N=%d K=%d bit-identical to the reference",
                   gitci_kernels_default()->int8->name, M, N, K);
done:
    gitci_lowp_free(w);
    free(wf);
    free(x);
    free(bias);
    free(ref);
    free(y);
    free(w16);
}

/* Prepared sizes: bf16 half and int8 about a quarter of float32. */
static void check_sizes(void)
{
    int N = 768, K = 768;
    float *wf = calloc((size_t)N * K, sizeof *wf);
    gitc_matrix src = {wf, GITC_W_F32, N, K, NULL, NULL};
    gitc_lowp_matrix *a = NULL, *b = NULL;
    gitc_error err = {0};
    gitci_lowp_prepare(GITC_LOWP_BF16, &src, &a, &err);
    gitci_lowp_prepare(GITC_LOWP_INT8, &src, &b, &err);
    size_t f32 = (size_t)N * K * 4;
    check_true(a && gitci_lowp_bytes(a) == f32 / 2, "bf16 768x768 takes %zu bytes (f32 %zu)",
               a ? gitci_lowp_bytes(a) : 0, f32);
    check_true(b && gitci_lowp_bytes(b) == f32 / 4 + (size_t)N * (K / 32) * 2,
               "int8 768x768 takes %zu bytes (f32 %zu: a quarter plus a 16-bit scale per 32)",
               b ? gitci_lowp_bytes(b) : 0, f32);
    gitci_lowp_free(a);
    gitci_lowp_free(b);
    free(wf);
}

/* A non-finite weight cannot be quantized to int8: a clear error, no matrix. */
static void check_bad_weights(void)
{
    float wf[2 * 40];
    for (int i = 0; i < 80; i++)
        wf[i] = 0.1f * (float)i;
    wf[57] = INFINITY;
    gitc_matrix src = {wf, GITC_W_F32, 2, 40, NULL, NULL};
    gitc_lowp_matrix *m = (gitc_lowp_matrix *)&src; /* must be reset to NULL */
    gitc_error err = {0};
    gitc_status st = gitci_lowp_prepare(GITC_LOWP_INT8, &src, &m, &err);
    check_true(st == GITC_ERR_FORMAT && m == NULL && strstr(err.message, "row 1") != NULL,
               "int8 of a matrix with an infinite weight fails: %s", err.message);
    st = gitci_lowp_prepare((gitc_lowp_kind)7, &src, &m, &err);
    check_true(st == GITC_ERR_ARGUMENT && m == NULL, "kind 7 is refused: %s", err.message);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const gitc_lowp_kind kinds[2] = {GITC_LOWP_BF16, GITC_LOWP_INT8};
    for (int i = 0; i < 2; i++) {
        const gitc_lowp_kernels *const *sets;
        int n = gitci_lowp_kernel_sets(kinds[i], &sets);
        printf("%s kernel sets:", kind_name(kinds[i]));
        for (int s = 0; s < n; s++)
            printf(" %s", sets[s]->name);
        printf(" (best: %s)\n", (kinds[i] == GITC_LOWP_BF16 ? gitci_kernels_default()->bf16
                                                            : gitci_kernels_default()->int8)->name);
    }
    static const int shapes[][3] = {
        /* M, N, K */
        {1, 1, 1},     {1, 17, 33},   {3, 31, 70},   {1, 64, 768},  {2, 50, 96},
        {3, 48, 31},   {5, 80, 129},  {8, 130, 200}, {7, 33, 64},   {13, 47, 97},
        {197, 49, 97}, {197, 64, 768}, {1, 1000, 768}, {4, 100, 3072}, {33, 96, 65},
    };
    gitc_pool *pool = gitci_pool_create(2);
    check_true(pool != NULL, "pool of 2 threads");
    for (int i = 0; i < 2; i++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            gitc_wtype type = s % 3 == 2 ? GITC_W_BF16 : GITC_W_F32;
            run_shape(kinds[i], type, M, N, K, (int)(s % 2), NULL);
            run_shape(kinds[i], type, M, N, K, (int)(s % 2 == 0), pool);
        }
    gitci_pool_free(pool);
    for (int i = 0; i < 2; i++)
        printf("%s: reference vs float64 max |dy| %.3g (%.2f of the quantization bound); "
               "SIMD sets vs reference max |dy| %.3g (%.3g of sum |x w|)\n",
               kind_name(kinds[i]), max_ref_vs_exact[i], max_ref_bound_ratio[i], max_set_vs_ref[i],
               max_set_ratio[i]);
    check_sizes();
    check_bad_weights();
    return check_done("test_lowp");
}
