/* Kernels of training (train_model.c): the forward pieces that keep what the
 * backward pass needs (LayerNorm statistics, attention probabilities), the
 * backward of every operation, and dropout. Each threaded kernel splits its
 * work so that every output element is summed in one fixed order by one
 * thread: results are bit-identical for any thread count. Each has a scalar
 * reference (`*_ref`, the oracle of tests/test_train_kernels.c).
 * Dimension letters: M rows of activations, N outputs, K inputs, C columns
 * of a LayerNorm, S tokens of a sequence, H heads, E head size. */
#ifndef GITC_TRAIN_KERNELS_H
#define GITC_TRAIN_KERNELS_H

#include "pool.h"
#include "train_products.h"

#include <stddef.h>
#include <stdint.h>

/* Most tokens of one attention sequence (the backward keeps a row of
 * probabilities on the stack). */
#define GITC_TK_MAX_S 4096

/* Dropout of one site: element i of the site is kept (scaled by 1/(1-rate))
 * unless the hash of (seed, site, i) falls below rate. rate 0: no dropout. */
typedef struct gitci_tk_drop {
    float rate;
    uint64_t seed;
    uint64_t site;
    /* gitci_tk_dropout over some rows of a site (group > 0): x holds rows of
     * `cols` floats, and its row r is row (r / group) * (group + skip) + skip +
     * r % group of the site (GIT's text rows, group = T, of samples whose
     * first skip = I rows are the image's), so that it gets that row's masks. */
    int cols, group, skip;
} gitci_tk_drop;

/* The multiplier element i gets: 0 or 1/(1-rate) (1 when rate is 0). */
float gitci_tk_drop_scale(const gitci_tk_drop *d, uint64_t i);

/* In place x[i] *= gitci_tk_drop_scale(d, i) for i < n (forward and backward alike). */
void gitci_tk_dropout(gitc_pool *pool, float *x, size_t n, const gitci_tk_drop *d);

/* out[M,C] = LayerNorm(x) * gamma + beta, keeping mean[M] and rstd[M]. */
void gitci_tk_layernorm(gitc_pool *pool, float *out, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int M, int C, float eps);

/* LayerNorm backward: dx[M,C] += d(out)/dx · dy; dgamma[C], dbeta[C] += their
 * gradients (each may be NULL). x, mean, rstd as the forward kept them. */
void gitci_tk_layernorm_bwd(gitc_pool *pool, float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd, const float *gamma,
                           int M, int C);
void gitci_tk_layernorm_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *mean, const float *rstd,
                               const float *gamma, int M, int C);

/* Every product set this build and CPU run, portable first, best last (for
 * tests); *sets is static storage. GITC_KERNELS=portable caps it as it caps
 * the forward kernels. */
int gitci_tk_product_sets(const gitci_tk_products *const **sets);

/* The best set for this CPU (capped like the forward kernels by GITC_KERNELS):
 * the one every training kernel and the optimizer use. */
const gitci_tk_products *gitci_tk_best_products(void);

/* Floats of scratch the products need on a pool of nth threads (packed
 * blocks of both operands, one set per thread). */
size_t gitci_tk_linear_scratch(int nth);

/* The products through a given set (tests; NULL: the best); the functions
 * below use the best. */
void gitci_tk_linear_set(const gitci_tk_products *set, gitc_pool *pool, float *scratch, float *y, const float *x,
                         const float *w, const float *b, int M, int N, int K);
void gitci_tk_linear_dx_set(const gitci_tk_products *set, gitc_pool *pool, float *scratch, float *dx,
                            const float *dy, const float *w, int M, int N, int K, int add);
void gitci_tk_linear_dw_set(const gitci_tk_products *set, gitc_pool *pool, float *scratch, float *dw, float *db,
                            const float *dy, const float *x, int M, int N, int K);

/* Linear forward: y[M,N] = x[M,K] · W[N,K]ᵀ + b (b may be NULL). */
void gitci_tk_linear(gitc_pool *pool, float *scratch, float *y, const float *x, const float *w, const float *b,
                     int M, int N, int K);
void gitci_tk_linear_ref(float *y, const float *x, const float *w, const float *b, int M, int N, int K);

/* Linear backward, input side: dx[M,K] += dy[M,N] · W[N,K]. */
void gitci_tk_linear_dx(gitc_pool *pool, float *scratch, float *dx, const float *dy, const float *w, int M, int N,
                        int K);
void gitci_tk_linear_dx_ref(float *dx, const float *dy, const float *w, int M, int N, int K);
/* dx[M,K] = dy[M,N] · W[N,K] (dx only written: no zeroing pass before it). */
void gitci_tk_linear_dx_store(gitc_pool *pool, float *scratch, float *dx, const float *dy, const float *w, int M,
                              int N, int K);

/* Linear backward, weight side: dw[N,K] += dyᵀ[N,M] · x[M,K] and db[N] += the
 * column sums of dy (db may be NULL). */
void gitci_tk_linear_dw(gitc_pool *pool, float *scratch, float *dw, float *db, const float *dy, const float *x,
                        int M, int N, int K);
void gitci_tk_linear_dw_ref(float *dw, float *db, const float *dy, const float *x, int M, int N,
                           int K);

/* y[i] = quick_gelu(u[i]) = u / (1 + exp(-1.702 u)), every element computed
 * the same way (the inference kernels' vector body and scalar tail differ in
 * the last bit, which would make a result depend on the batch size). */
void gitci_tk_quick_gelu(gitc_pool *pool, float *y, const float *u, size_t n);

/* y[i] = gelu(u[i]) = u Φ(u) (the exact-erf GELU, in float32 within ~2e-7
 * relative, every element computed the same way). */
void gitci_tk_gelu(gitc_pool *pool, float *y, const float *u, size_t n);

/* dx[i] = dy[i] · gelu'(u[i]) (exact erf GELU); dx may equal dy. */
void gitci_tk_gelu_bwd(gitc_pool *pool, float *dx, const float *dy, const float *u, size_t n);
void gitci_tk_gelu_bwd_ref(float *dx, const float *dy, const float *u, size_t n);
/* dx[i] = dy[i] · quick_gelu'(u[i]) (u · sigmoid(1.702 u)); dx may equal dy. */
void gitci_tk_quick_gelu_bwd(gitc_pool *pool, float *dx, const float *dy, const float *u, size_t n);
void gitci_tk_quick_gelu_bwd_ref(float *dx, const float *dy, const float *u, size_t n);

/* Attention of n_seq sequences of S tokens each (rows seq*S .. seq*S+S-1 of
 * k, v, dk, dv, all [n_seq*S, H*E]). Query i sees key j when j < n_full (a
 * bidirectional prefix: GIT's image rows, or every key when n_full = S) or
 * when i >= n_full and j <= i (causal text rows). scale multiplies the scores.
 * Only queries q0..S-1 are computed: q, out, dq and dout hold Q = S - q0 rows
 * per sequence (row seq*Q + i - q0 is query i; q0 = 0: every query). */
typedef struct gitci_tk_attn {
    int n_seq, S, H, E, n_full, q0;
    float scale;
    gitci_tk_drop drop; /* dropout on the probabilities (element index (seq*H+h)*S*S + i*S + j) */
} gitci_tk_attn;

/* Scratch floats gitci_tk_attention and gitci_tk_attention_bwd need on a pool
 * of n_threads threads (per thread: the products' packing and three S x S matrices). */
size_t gitci_tk_attention_scratch(int n_threads, const gitci_tk_attn *a);

/* out = softmax(q kᵀ · scale + mask) v per head; probs [n_seq, H, Q, S] keeps
 * the probabilities before dropout (0 where masked). */
void gitci_tk_attention(gitc_pool *pool, const gitci_tk_attn *a, float *out, float *probs,
                       const float *q, const float *k, const float *v, float *scratch);

/* Attention backward from dout: dq, dk, dv [n_seq*S, H*E] are overwritten. */
void gitci_tk_attention_bwd(gitc_pool *pool, const gitci_tk_attn *a, float *dq, float *dk, float *dv,
                           const float *dout, const float *probs, const float *q, const float *k,
                           const float *v, float *scratch);
void gitci_tk_attention_bwd_ref(const gitci_tk_attn *a, float *dq, float *dk, float *dv,
                               const float *dout, const float *probs, const float *q,
                               const float *k, const float *v);

/* Cross-entropy of M rows of logits [M,V] against targets[M] (each in [0,V)):
 * loss[m] = logsumexp(row) - row[target], and the row is overwritten with
 * scale · (softmax(row) - onehot(target)), its gradient. */
void gitci_tk_cross_entropy(gitc_pool *pool, double *loss, float *logits, const int32_t *targets,
                           int M, int V, float scale);
void gitci_tk_cross_entropy_ref(double *loss, float *logits, const int32_t *targets, int M, int V,
                               float scale);

/* Embedding backward: dtable[ids[m], :] += dy[m, :] for m < M (rows in order). */
void gitci_tk_embedding_bwd(gitc_pool *pool, float *dtable, const float *dy, const int32_t *ids,
                           int M, int C);

/* dsum[C] += Σ_m dy[m, :] over M rows of stride ld (rows in order, split by columns). */
void gitci_tk_sum_rows(gitc_pool *pool, float *dsum, const float *dy, int M, int C, int ld);

#endif /* GITC_TRAIN_KERNELS_H */
