/* The types every kernel set shares: weight matrices, attention arguments,
 * the f32 set's table and a model's choice of sets, and the sets themselves
 * (const data). Declares no function, so a kernel set that includes it
 * depends on nothing above it. Dimension letters: M rows of activations,
 * N outputs, K inputs. */
#ifndef GITC_KERNEL_SET_H
#define GITC_KERNEL_SET_H

#include "gitc.h"
#include "pool.h"

#include <stddef.h>
#include <stdint.h>

/* Storage type of a weight matrix as it lies in the (mmapped) checkpoint. */
typedef enum gitc_wtype { GITC_W_F32 = 0, GITC_W_F16, GITC_W_BF16 } gitc_wtype;

struct gitc_lowp_matrix; /* bf16 / int8 weights prepared at load (lowp.h) */

/* A weight matrix [n_out, n_in], row-major (PyTorch Linear layout); borrowed.
 * The backend (backend.c) may attach a prepared form, owned by the model:
 * f32 panels for the AVX-512 set, or a low-precision copy that replaces the
 * f32 path entirely. */
typedef struct gitc_matrix {
    const void *data;
    gitc_wtype type;
    int n_out; /* N */
    int n_in;  /* K */
    const float *panels; /* [ceil(N/GITC_PANEL_N), K, GITC_PANEL_N] (gitci_panels_pack), or NULL */
    const struct gitc_lowp_matrix *lowp; /* non-NULL: gitci_linear runs gitc_lowp_linear */
} gitc_matrix;

/* Outputs per f32 weight panel: panel p holds rows [p*32, p*32+32) of W
 * transposed, K-major (32 consecutive floats per input k), zero-padded. */
#define GITC_PANEL_N 32

/* Multi-head attention over two key blocks.
 * Block 1 (n1 keys): seen by every query (image tokens).
 * Block 2 (n2 keys, may be 0): causal; query i sees its first q_start + i + 1 keys
 *   (text tokens; q_start = text tokens before this call's first query).
 * q [n_q, ldq], k/v [n, ld] hold head h in columns [h*head_dim, (h+1)*head_dim).
 * out [n_q, ldo] gets softmax(q·kᵀ·scale) · v per head. */
typedef struct gitc_attention_args {
    float *out;
    int ldo;
    const float *q;
    int ldq;
    int n_q;
    const float *k1, *v1;
    int ld1, n1;
    const float *k2, *v2;
    int ld2, n2;
    int q_start;
    int n_heads, head_dim;
    float scale;
} gitc_attention_args;

/* Row j of the keys (v = 0) or values (v = 1) over both blocks: block 1's
 * rows first, then block 2's. */
static inline const float *gitc_attention_kv_row(const gitc_attention_args *a, int j, int v)
{
    return j < a->n1 ? (v ? a->v1 : a->k1) + (size_t)j * (size_t)a->ld1
                     : (v ? a->v2 : a->k2) + (size_t)(j - a->n1) * (size_t)a->ld2;
}

/* One set of f32 kernels (complete once composed by the registry). */
typedef struct gitc_kernel_table {
    const char *name;
    void (*linear)(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                   const float *bias, int M);
    void (*attention)(gitc_pool *pool, const gitc_attention_args *a, float *scratch);
    void (*layernorm)(gitc_pool *pool, float *out, const float *x, const float *gamma,
                      const float *beta, int M, int C, float eps);
    void (*gelu)(gitc_pool *pool, float *x, size_t n);
    void (*quick_gelu)(gitc_pool *pool, float *x, size_t n);
    void (*add)(gitc_pool *pool, float *x, const float *y, size_t n);
    int uses_panels; /* 1: linear is fastest with gitc_matrix.panels prepared */
    /* Runs n rounds of independent f32 FMAs at the set's full width (a peak
     * measurement); returns the FLOPs done. */
    double (*fma_loop)(long n);
    float (*log_sum_exp)(const float *x, int n);
} gitc_kernel_table;

/* The kernel sets chosen for one model (or the process default): the f32
 * set (complete: every entry filled) and the bf16 and int8 linear sets. The
 * functions above run the set of the pool they are given (gitci_pool_kernels),
 * the default for a NULL pool or one without a set; gitci_log_sum_exp (called
 * outside any pool) runs the default's. */
struct gitc_lowp_kernels;
typedef struct gitc_kernels {
    gitc_kernel_table f32;
    const struct gitc_lowp_kernels *bf16, *int8;
    unsigned cpu;      /* GITC_CPU_* features seen (cpu.h) */
    const char *level; /* the highest level allowed: "portable", "avx2", "avx512", "neon" */
} gitc_kernels;

/* The sets (kernels_portable.c, and kernels_avx2.c / kernels_avx512.c where
 * CMake defines GITC_HAVE_X86_SIMD). Files built for a wider instruction set
 * export only const data, so nothing compiled for it can run before the CPU
 * check: a NULL entry means "the set below's", filled in by generic code
 * (kernels_registry.c) after the check passes. */
extern const gitc_kernel_table gitci_kernels_portable_set;
extern const gitc_kernel_table gitci_kernels_avx2_set;
extern const gitc_kernel_table gitci_kernels_avx512_set;
/* The AArch64 Advanced SIMD set (kernels_neon.c; compiled in where CMake
 * defines GITC_HAVE_NEON_SIMD): complete, no NULL entry. */
extern const gitc_kernel_table gitci_kernels_neon_set;

#endif /* GITC_KERNEL_SET_H */
