/* Compute kernels of the forward pass, as the layer code calls them: each
 * runs the kernel set of the pool it is given (a model's choice; kernels.c).
 * gitci_linear and gitci_attention have scalar references (`*_ref`,
 * kernels_portable.h); layer norm, gelu, quick_gelu and add are checked
 * against the portable set, which is itself the plain scalar loop.
 * Dimension letters: M rows of activations, N outputs, K inputs. */
#ifndef GITC_KERNELS_H
#define GITC_KERNELS_H

#include "kernel_set.h"
#include "kernels_portable.h"

/* y[M,N] = x[M,K] · Wᵀ + bias (bias may be NULL). Rows of x and y are contiguous.
 * A matrix with w->lowp set runs gitc_lowp_linear (bf16 / int8); otherwise the
 * best f32 set (panels when prepared, else W read in place). The reference
 * reads w->data and ignores panels and lowp. */
void gitci_linear(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                 const float *bias, int M);

/* out[M,C] = LayerNorm(x[M,C]) * gamma + beta (out may equal x). */
void gitci_layernorm(gitc_pool *pool, float *out, const float *x, const float *gamma,
                    const float *beta, int M, int C, float eps);

/* In place: x = gelu(x) with the exact erf form (hidden_act "gelu"). */
void gitci_gelu(gitc_pool *pool, float *x, size_t n);
/* In place: x = x * sigmoid(1.702 x) (hidden_act "quick_gelu"). */
void gitci_quick_gelu(gitc_pool *pool, float *x, size_t n);
/* In place: x += y. */
void gitci_add(gitc_pool *pool, float *x, const float *y, size_t n);

/* log(sum(exp(x[i]))) over n values (max subtracted first; the sum of the
 * exponentials is accumulated in float64). Returns -inf when every x is -inf. */
float gitci_log_sum_exp(const float *x, int n);

/* Multi-head attention (gitc_attention_args, kernel_set.h) into a->out;
 * scratch holds gitci_attention_scratch(threads, keys) floats. */
void gitci_attention(gitc_pool *pool, const gitc_attention_args *a, float *scratch);

/* Peak f32 FMA rate of the pool's set on all of its threads, measured for
 * about `ms` milliseconds, in GFLOP/s. */
double gitci_kernels_peak_gflops(gitc_pool *pool, int ms);

#endif /* GITC_KERNELS_H */
