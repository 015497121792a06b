/* Block sizes of the f32 linear sets, from the CPU's caches
 * (kernels_blocking.c; plain C, so the sets and the backend can ask before
 * and while any SIMD code runs). */
#ifndef GITC_KERNELS_BLOCKING_H
#define GITC_KERNELS_BLOCKING_H

/* Block sizes of the avx2 f32 linear. The K chunks (kc, pk) set the order of
 * the float32 sums, so they are fixed; the M chunks (rows of x kept in the L2
 * while every W tile passes over them) come from the CPU's L2 size and never
 * change a result bit: each output is still bias + chunk 0 + chunk 1 + ...
 * Dot-product tiles (K <= 1024 or few rows): a dot_rows x kc x panel;
 * packed panels (K > 1024, >= 16 rows): a pack_rows x pk x slice, and a
 * 16 x pk W panel on the stack (16 KiB: L1). */
#define GITC_AVX2_KC 768
#define GITC_AVX2_PK 256
typedef struct gitc_f32_blocking {
    int kc, dot_rows;  /* dot tiles: inputs per K chunk, x rows per M chunk */
    int pk, pack_rows; /* packed panels: inputs per K chunk, x rows per M chunk */
    long l2;           /* the L2 bytes they were chosen for */
} gitc_f32_blocking;

/* Blocks for an L2 of l2 bytes: the x panel takes half of it (the other half
 * holds the W tiles streaming through and y), rows rounded down to the
 * register tiles (4 and 6), at least one tile. */
void gitci_f32_blocking_for(gitc_f32_blocking *out, long l2);
/* The blocks the avx2 linear uses: from this CPU's L2 (gitci_cpu_caches),
 * unless a test set others with gitci_f32_blocking_set (NULL: back to the
 * CPU's). Not thread-safe against running linears: tests only. */
const gitc_f32_blocking *gitci_f32_blocking_get(void);
void gitci_f32_blocking_set(const gitc_f32_blocking *b);

/* The avx512 linear's blocks (fixed): KC inputs per pass, MC rows per block. */
#define GITC_AVX512_KC 256
#define GITC_AVX512_MC 240

#endif /* GITC_KERNELS_BLOCKING_H */
