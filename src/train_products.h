/* The matrix products' kernel sets of training (types and const data only, so
 * that the files compiled for wider instruction sets include nothing that
 * declares functions of train_kernels.c). train_kernels.c drives them: it
 * packs blocks of both operands into panels and calls a set's tile on each
 * MR x NR piece of the output. */
#ifndef GITC_TRAIN_PRODUCTS_H
#define GITC_TRAIN_PRODUCTS_H

#include <stddef.h>

/* One set (portable, AVX2, AVX-512). Its function runs only after the CPU check.
 * tile: c[i, j] += Σ_{k < kc} a[i * ars + k * acs] · bp[k * nr + j] for all
 * i < mr, j < nr (c = the sum when add is 0: c is not read), stored for
 * i < mb, j < nb (mb <= mr, nb <= nr; the caller makes every row i < mr of a
 * readable and bp zero beyond nb), each element's products summed in k order
 * from zero before the sum is added to c. The left
 * operand is read in place (rows or columns contiguous), the right one from
 * packed panels. */
/* One AdamW update over elements [i0, i1) of a tensor (optim.h has the
 * formula): its arrays and the step's constants. */
typedef struct gitci_tk_adamw {
    float *param, *m, *v;
    const float *grad;
    float gscale;        /* the gradient's multiplier (the clip coefficient) */
    double decay_factor; /* 1 - lr * wd */
    double beta1, beta2;
    double step_size;    /* lr / (1 - beta1^t) */
    double bc2_sqrt;     /* sqrt(1 - beta2^t) */
    double eps;
} gitci_tk_adamw;

typedef struct gitci_tk_products {
    const char *name; /* NULL: the set is not compiled in */
    int mr, nr;       /* the tile's rows and columns (mr divides 24, nr divides 32) */
    void (*tile)(int kc, const float *a, size_t ars, size_t acs, const float *bp, float *c, size_t ldc, int mb,
                 int nb, int add);
    /* The activations (train_act.h, the same bits in every set): x[i] = f(u[i])
     * for GITCI_TK_GELU and GITCI_TK_QUICK_GELU, x[i] *= f'(u[i]) for the
     * backwards, i < n. */
    void (*act)(int kind, float *x, const float *u, size_t n);
    /* AdamW (train_adamw.h, the same bits in every set) over [i0, i1). */
    void (*adamw)(const gitci_tk_adamw *t, size_t i0, size_t i1);
} gitci_tk_products;

enum { GITCI_TK_GELU_BWD, GITCI_TK_QUICK_GELU_BWD, GITCI_TK_QUICK_GELU, GITCI_TK_GELU };

/* The AVX2+FMA and AVX-512F sets (train_kernels_avx2.c, train_kernels_avx512.c:
 * const data only). */
extern const gitci_tk_products gitci_tk_products_avx2;
extern const gitci_tk_products gitci_tk_products_avx512;

#endif /* GITC_TRAIN_PRODUCTS_H */
