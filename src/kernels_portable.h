/* The portable kernel set's file: the scalar references (`*_ref`, the
 * oracles of every set), the f32 panel packing and matrix-row helpers that
 * preparation shares, and the attention scratch size every set uses. */
#ifndef GITC_KERNELS_PORTABLE_H
#define GITC_KERNELS_PORTABLE_H

#include "kernel_set.h"

/* Floats of w's panels, and the packing itself (exact conversion of F16/BF16).
 * dst must be 64-byte aligned and hold gitci_panels_floats(w) floats. */
size_t gitci_panels_floats(const gitc_matrix *w);
void gitci_panels_pack(const gitc_matrix *w, float *dst);

/* Row r of a matrix converted to float32 (n_in values). */
void gitci_matrix_row(const gitc_matrix *w, int r, float *out);

/* The references (single thread, no allocation). gitci_linear_ref reads
 * w->data and ignores panels and lowp. */
void gitci_linear_ref(float *y, const float *x, const gitc_matrix *w, const float *bias, int M);

float gitci_log_sum_exp_ref(const float *x, int n);

/* Scratch floats gitci_attention needs for n_threads threads and n_keys keys in all. */
size_t gitci_attention_scratch(int n_threads, int n_keys);
void gitci_attention_ref(const gitc_attention_args *a, float *scratch);

#endif /* GITC_KERNELS_PORTABLE_H */
