/* Compute kernels of the forward pass. gitc_linear and gitc_attention have
 * scalar references (`*_ref`, the oracles in tests); layer norm, gelu,
 * quick_gelu and add are checked against the portable set (kernels.c), which
 * is itself the plain scalar loop. The fast threaded SIMD sets are chosen at
 * run time. Dimension letters: M rows of activations, N outputs, K inputs. */
#ifndef GITC_KERNELS_H
#define GITC_KERNELS_H

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
    const float *panels; /* [ceil(N/GITC_PANEL_N), K, GITC_PANEL_N] (gitc_panels_pack), or NULL */
    const struct gitc_lowp_matrix *lowp; /* non-NULL: gitc_linear runs gitc_lowp_linear */
} gitc_matrix;

/* Outputs per f32 weight panel: panel p holds rows [p*32, p*32+32) of W
 * transposed, K-major (32 consecutive floats per input k), zero-padded. */
#define GITC_PANEL_N 32

/* Floats of w's panels, and the packing itself (exact conversion of F16/BF16).
 * dst must be 64-byte aligned and hold gitc_panels_floats(w) floats. */
size_t gitc_panels_floats(const gitc_matrix *w);
void gitc_panels_pack(const gitc_matrix *w, float *dst);

/* Row r of a matrix converted to float32 (n_in values). */
void gitc_matrix_row(const gitc_matrix *w, int r, float *out);

/* y[M,N] = x[M,K] · Wᵀ + bias (bias may be NULL). Rows of x and y are contiguous.
 * A matrix with w->lowp set runs gitc_lowp_linear (bf16 / int8); otherwise the
 * best f32 set (panels when prepared, else W read in place). The reference
 * reads w->data and ignores panels and lowp. */
void gitc_linear(gitc_pool *pool, float *y, const float *x, const gitc_matrix *w,
                 const float *bias, int M);
void gitc_linear_ref(float *y, const float *x, const gitc_matrix *w, const float *bias, int M);

/* out[M,C] = LayerNorm(x[M,C]) * gamma + beta (out may equal x). */
void gitc_layernorm(gitc_pool *pool, float *out, const float *x, const float *gamma,
                    const float *beta, int M, int C, float eps);

/* In place: x = gelu(x) with the exact erf form (hidden_act "gelu"). */
void gitc_gelu(gitc_pool *pool, float *x, size_t n);
/* In place: x = x * sigmoid(1.702 x) (hidden_act "quick_gelu"). */
void gitc_quick_gelu(gitc_pool *pool, float *x, size_t n);
/* In place: x += y. */
void gitc_add(gitc_pool *pool, float *x, const float *y, size_t n);

/* log(sum(exp(x[i]))) over n values (max subtracted first; the sum of the
 * exponentials is accumulated in float64). Returns -inf when every x is -inf. */
float gitc_log_sum_exp(const float *x, int n);
float gitc_log_sum_exp_ref(const float *x, int n);

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

/* Scratch floats gitc_attention needs for n_threads threads and n_keys keys in all. */
size_t gitc_attention_scratch(int n_threads, int n_keys);
void gitc_attention(gitc_pool *pool, const gitc_attention_args *a, float *scratch);
void gitc_attention_ref(const gitc_attention_args *a, float *scratch);

/* One complete set of f32 kernels. */
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

/* Peak f32 FMA rate of the pool's set on all of its threads, measured for
 * about `ms` milliseconds, in GFLOP/s. */
double gitc_kernels_peak_gflops(gitc_pool *pool, int ms);

/* The kernel sets chosen for one model (or the process default): the f32
 * set (complete: every entry filled) and the bf16 and int8 linear sets. The
 * functions above run the set of the pool they are given (gitc_pool_kernels),
 * the default for a NULL pool or one without a set; gitc_log_sum_exp (called
 * outside any pool) runs the default's. */
struct gitc_lowp_kernels;
typedef struct gitc_kernels {
    gitc_kernel_table f32;
    const struct gitc_lowp_kernels *bf16, *int8;
    unsigned cpu;      /* GITC_CPU_* features seen (cpu.h) */
    const char *level; /* the highest level allowed: "portable", "avx2", "avx512", "neon" */
} gitc_kernels;

/* Chooses the best sets this build and CPU run, capped by GITC_KERNELS
 * (portable|avx2|avx512|neon: that level and the ones below it; unset or
 * empty: no cap). A GITC_KERNELS naming no level of this build is
 * GITC_ERR_ARGUMENT naming the value and the choices. */
gitc_status gitc_kernels_choose(gitc_kernels *out, gitc_error *err);

/* The process default (gitc_kernels_choose once; an invalid GITC_KERNELS
 * means no cap here: model loading is where it is reported). */
const gitc_kernels *gitc_kernels_default(void);

/* Every f32 set this build and CPU can run (each complete), portable first,
 * best last, ignoring GITC_KERNELS (for tests and benchmarks). Returns the
 * count; *tables is static storage. */
int gitc_kernel_tables(const gitc_kernel_table *const **tables);

/* The sets (kernels_portable.c, and kernels_avx2.c / kernels_avx512.c where
 * CMake defines GITC_HAVE_X86_SIMD). Files built for a wider instruction set
 * export only const data, so nothing compiled for it can run before the CPU
 * check: a NULL entry means "the set below's", filled in by generic code
 * (kernels_registry.c) after the check passes. */
extern const gitc_kernel_table gitc_kernels_portable_set;
extern const gitc_kernel_table gitc_kernels_avx2_set;
extern const gitc_kernel_table gitc_kernels_avx512_set;
/* The AArch64 Advanced SIMD set (kernels_neon.c; compiled in where CMake
 * defines GITC_HAVE_NEON_SIMD): complete, no NULL entry. */
extern const gitc_kernel_table gitc_kernels_neon_set;

#endif /* GITC_KERNELS_H */
