/* Low-precision weight modes: bf16 and int8 copies of a weight matrix,
 * prepared once at load and owned by the model (backend.c), and the linear
 * layer y = x·Wᵀ + b over them.
 *
 * Numerics (what every kernel set computes; the scalar reference is the oracle):
 * - bf16: weights and activations rounded to bfloat16 (round to nearest even),
 *   products accumulated in float32 (as PyTorch autocast). Sets differ only in
 *   the order of the float32 sums.
 * - int8: weights quantized symmetrically per output row and block of 32
 *   inputs (q in [-127, 127], one bfloat16 scale per block, rounded up so no
 *   weight clips); activations quantized the same way per row and block at run
 *   time (float32 scale amax/127). Each block's dot product is exact in int32;
 *   blocks are summed in float32 in order as acc = fma(dot, sx * sw, acc).
 *   Every set gives bit-identical results to the reference.
 * Dimension letters: M rows of activations, N outputs, K inputs. */
#ifndef GITC_LOWP_H
#define GITC_LOWP_H

#include "gitc.h"
#include "kernel_set.h"
#include "pool.h"

#include <stddef.h>
#include <stdint.h>

typedef struct gitc_lowp_matrix gitc_lowp_matrix; /* opaque prepared weights */

typedef enum gitc_lowp_kind { GITC_LOWP_BF16 = 1, GITC_LOWP_INT8 = 2 } gitc_lowp_kind;

/* Converts src (F32/F16/BF16, any shape) into a new prepared matrix (*out,
 * caller frees with gitci_lowp_free). src's data is only read during the call.
 * Fails with GITC_ERR_FORMAT on a non-finite weight (int8 only) and
 * GITC_ERR_MEMORY when out of memory. */
gitc_status gitci_lowp_prepare(gitc_lowp_kind kind, const gitc_matrix *src, gitc_lowp_matrix **out,
                              gitc_error *err);
/* Bytes of storage a prepared [n_out, n_in] matrix of this kind takes (a
 * multiple of 64); 0 when the shape cannot be prepared. */
size_t gitci_lowp_storage_bytes(gitc_lowp_kind kind, int n_out, int n_in);
/* gitci_lowp_prepare writing the weights and scales into `storage` (64-byte
 * aligned, gitci_lowp_storage_bytes long, owned by the caller and outliving
 * *out) instead of allocating them: the backend puts every matrix of a model
 * in one huge-page arena. gitci_lowp_free leaves the storage alone. */
gitc_status gitci_lowp_prepare_in(gitc_lowp_kind kind, const gitc_matrix *src, void *storage,
                                 gitc_lowp_matrix **out, gitc_error *err);
/* Frees m (NULL is fine). */
void gitci_lowp_free(gitc_lowp_matrix *m);
/* Bytes of prepared weights and scales that m holds. */
size_t gitci_lowp_bytes(const gitc_lowp_matrix *m);
gitc_lowp_kind gitci_lowp_matrix_kind(const gitc_lowp_matrix *m);

/* y[M,N] = x[M,K] · Wᵀ + bias (bias may be NULL) with kernel set k (of w's
 * kind), threaded over pool (NULL: the caller's thread). The packed
 * activations live in a per-thread scratch that grows to the largest M·K seen
 * (one allocation per calling thread, not per call); if that allocation fails
 * the reference runs instead. */
struct gitc_lowp_kernels;
void gitci_lowp_run(const struct gitc_lowp_kernels *k, gitc_pool *pool, float *y, const float *x,
                   const gitc_lowp_matrix *w, const float *bias, int M);
/* The scalar reference (single thread, no allocation). */
void gitci_lowp_linear_ref(float *y, const float *x, const gitc_lowp_matrix *w, const float *bias,
                          int M);

/* ---- Internals shared by lowp.c, the kernel files and tests ---- */

/* Outputs per weight panel (one 512-bit vector of float32 lanes). */
#define GITC_LOWP_PANEL 16
/* Inputs per int8 quantization block. */
#define GITC_LOWP_BLOCK 32

/* Prepared layout. K is cut into 32-bit groups: 2 bf16 inputs or 4 int8
 * inputs. Panel p holds outputs [16p, 16p+16) as w[(p * n_groups + g) * 16 + j]
 * = group g of output 16p + j (zero past N and past K). int8 weights are
 * stored as q + 128 (unsigned, 1..255); scales[(p * n_blocks + b) * 16 + j] is
 * the bfloat16 scale of block b of output 16p + j. */
struct gitc_lowp_matrix {
    gitc_lowp_kind kind;
    int n_out, n_in;   /* N, K */
    int n_panels;      /* ceil(N / 16) */
    int n_groups;      /* bf16: ceil(K / 2); int8: n_blocks * 8 */
    int n_blocks;      /* int8: ceil(K / 32); bf16: 0 */
    uint32_t *w;       /* [n_panels, n_groups, 16], 64-byte aligned */
    uint16_t *scales;  /* int8: [n_panels, n_blocks, 16] bfloat16; bf16: NULL */
    size_t bytes;
    int owns_storage;  /* w and scales were allocated here (not a caller's arena) */
};

/* Rounds a float32 to bfloat16, nearest even (NaN stays NaN). */
static inline uint16_t gitc_lowp_bf16_round(float f)
{
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((v.u >> 16) | 0x40u);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}

static inline float gitc_lowp_bf16_f32(uint16_t b)
{
    union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
    return v.f;
}

/* Quantizes one block of n <= 32 activations (the rest of the block is zero):
 * q[0..31] (signed), returns the float32 scale; *sum = sum of q. */
void gitci_lowp_quant_block(const float *x, int n, int8_t *q, float *scale, int32_t *sum);

/* A per-thread scratch buffer of at least `bytes` bytes, 64-byte aligned,
 * kept for the calling thread's lifetime; NULL when out of memory. */
void *gitci_lowp_scratch(size_t bytes);

/* One call of the linear layer as the shared driver (lowp.c) hands it to a
 * kernel set: (1) pack_row packs each row of x into xp (and, for int8, its
 * block scales into sx and corrections into corr), rows grouped in tiles of
 * mr_max and interleaved so a tile's inputs are one stream: element (g, r) of
 * the tile at row m0 lies at xp[m0 * G + g * mr + r], (b, r) of its int8
 * metadata at sx[m0 * n_blocks + b * mr + r]; (2) threads split the outputs in
 * units of nv_max weight panels and run tile() for every row tile of a unit. */
typedef struct gitc_lowp_job {
    float *y;
    const float *x;
    const gitc_lowp_matrix *w;
    const float *bias;
    int M;
    int mr_max, nv_max;
    uint32_t *xp;   /* packed activations */
    float *sx;      /* int8: [M, n_blocks] scales, tile-interleaved like xp */
    int32_t *corr;  /* int8: -128 * sum of the block's q, same layout (sets that need it) */
} gitc_lowp_job;

/* One low-precision kernel set, for one kind. A set without pack_row (the
 * reference) runs gitci_lowp_linear_ref. Sets in files compiled for wider
 * instruction sets export this as const data only (see kernels_registry.c). */
typedef struct gitc_lowp_kernels {
    const char *name;
    gitc_lowp_kind kind;
    int mr, nv; /* rows per register tile, panels per unit of work */
    void (*pack_row)(const gitc_lowp_job *j, int m);
    void (*tile)(const gitc_lowp_job *j, int m0, int p0, int mr, int nv);
    int xp_words; /* 32-bit words pack_row writes per group and row (0: one) */
} gitc_lowp_kernels;

/* The sets (kernels_lowp_*.c; the x86 ones where GITC_HAVE_X86_SIMD, the
 * AArch64 ones where GITC_HAVE_NEON_SIMD: bf16 with BFDOT, int8 with SDOT and
 * with SMMLA, kernels_lowp_neon.c). */
extern const gitc_lowp_kernels gitci_lowp_ref_bf16, gitci_lowp_ref_int8;
extern const gitc_lowp_kernels gitci_lowp_avx2_bf16, gitci_lowp_avx2_int8;
extern const gitc_lowp_kernels gitci_lowp_avx512_bf16, gitci_lowp_avx512_vnni;
/* AVX-VNNI (vpdpbusd on ymm, kernels_lowp_avxvnni.c), and the same tile with
 * vpdpbusd emulated by AVX2 instructions: not registered, it lets test_lowp
 * check the set's layout and correction terms on CPUs without AVX-VNNI. */
extern const gitc_lowp_kernels gitci_lowp_avxvnni, gitci_lowp_avxvnni_emulated;
/* gitci_lowp_avxvnni_emulated where this build and CPU run AVX2, else NULL
 * (for tests; kernels_registry.c). */
const gitc_lowp_kernels *gitci_lowp_avxvnni_emulated_set(void);

/* Rows per tile of the AVX2 int8 packing, shared by the avx2 and AVX-VNNI
 * int8 sets. */
#define GITC_LOWP_AVX2_MR_I 4
/* The AVX2 int8 packing (pack_row of both sets; AVX2 code: runs only through
 * a set chosen after the CPU check). */
void gitci_lowp_avx2_pack_int8(const gitc_lowp_job *j, int m);
extern const gitc_lowp_kernels gitci_lowp_neon_bf16, gitci_lowp_neon_sdot, gitci_lowp_neon_i8mm;

#endif /* GITC_LOWP_H */
