/* The backward products' kernel sets (types and const data only, so that the
 * files compiled for wider instruction sets include nothing that declares
 * functions of train_kernels.c). Dimension letters as in train_kernels.h. */
#ifndef GITC_TRAIN_PRODUCTS_H
#define GITC_TRAIN_PRODUCTS_H

/* One set of the backward products (portable, AVX2, AVX-512): the share of rows a
 * thread computes. A set's functions run only after the CPU check. */
typedef struct gitci_tk_products {
    const char *name; /* NULL: the set is not compiled in */
    /* dx rows [r0, r1) += dy[M,N] · W[N,K] */
    void (*linear_dx_rows)(float *dx, const float *dy, const float *w, int N, int K, int r0, int r1);
    /* dw rows [n0, n1) += dyᵀ · x, db[n0..n1) += column sums of dy (db may be NULL) */
    void (*linear_dw_rows)(float *dw, float *db, const float *dy, const float *x, int M, int N, int K,
                           int n0, int n1);
} gitci_tk_products;

/* The AVX2+FMA and AVX-512F sets (train_kernels_avx2.c, train_kernels_avx512.c:
 * const data only). */
extern const gitci_tk_products gitci_tk_products_avx2;
extern const gitci_tk_products gitci_tk_products_avx512;

#endif /* GITC_TRAIN_PRODUCTS_H */
