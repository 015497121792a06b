/* Training's activations and their derivatives in float32, one source
 * compiled into every product set (train_kernels.c, train_kernels_avx2.c,
 * train_kernels_avx512.c): no libm call and no select that traps (those files
 * build with -fno-trapping-math), so the loops vectorize to each set's width;
 * and with FMA contraction off every element goes through the same float
 * operations in every set, at any vector width and in a loop's scalar tail,
 * so an element's bits never depend on the set, the thread count or where a
 * slice starts. train_kernels.c keeps float64 references; test_train_kernels
 * checks each set against them and against the portable set's bits. */
#ifndef GITC_TRAIN_ACT_H
#define GITC_TRAIN_ACT_H

#include "train_products.h"

#include <stddef.h>
#include <stdint.h>

/* exp(x), x clamped to [-87, 88] (Cephes' expf: ~1 ulp; exp(-87) = 1.6e-38
 * stands for anything smaller, which 1 + it or x times it never notices). */
static inline float tk_exp(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { uint32_t u; float f; } two_n = {(uint32_t)((int32_t)n + 127) << 23};
    return p * two_n.f;
}

/* Φ(u), the standard normal CDF, as 0.5 erfc(-u / √2) with erfc from
 * Numerical Recipes' Chebyshev fit (relative error < 1.2e-7 for every
 * argument, so the left tail keeps its digits). */
static inline float tk_normal_cdf(float u)
{
    float z = u * -0.70710678118654752f, az = z < 0.0f ? -z : z;
    float t = 1.0f / (1.0f + 0.5f * az);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    float e = 0.5f * t * tk_exp(p * t - 1.26551223f - az * az); /* 0.5 erfc(|z|) */
    return z >= 0.0f ? e : 1.0f - e;
}

/* The set's act (train_products.h): x[i] = f(u[i]) for the forwards, x[i] *=
 * f'(u[i]) for the backwards. */
static void tk_act(int kind, float *x, const float *u, size_t n)
{
    switch (kind) {
    case GITCI_TK_GELU_BWD: /* gelu'(u) = Φ(u) + u φ(u) */
        for (size_t i = 0; i < n; i++) {
            float v = u[i];
            x[i] *= tk_normal_cdf(v) + v * 0.39894228040143268f * tk_exp(-0.5f * v * v);
        }
        break;
    case GITCI_TK_QUICK_GELU_BWD: /* quick_gelu'(u) = σ (1 + 1.702 u (1 - σ)), σ = 1 / (1 + e),
                                   * e = exp(-1.702 u), with 1 - σ taken as e σ (no
                                   * cancellation where σ is near 1) */
        for (size_t i = 0; i < n; i++) {
            float v = u[i], e = tk_exp(-1.702f * v), sg = 1.0f / (1.0f + e);
            x[i] *= sg * (1.0f + 1.702f * v * (e * sg));
        }
        break;
    case GITCI_TK_QUICK_GELU: /* u / (1 + exp(-1.702 u)), as the oracle writes it */
        for (size_t i = 0; i < n; i++)
            x[i] = u[i] / (1.0f + tk_exp(-1.702f * u[i]));
        break;
    default: /* GITCI_TK_GELU: u Φ(u) */
        for (size_t i = 0; i < n; i++)
            x[i] = u[i] * tk_normal_cdf(u[i]);
    }
}

#endif /* GITC_TRAIN_ACT_H */
