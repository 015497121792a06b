/* The kernel registry (kernels_registry.c): every set of the build, what
 * each needs of the CPU, and the choice of sets for a model. */
#ifndef GITC_KERNELS_REGISTRY_H
#define GITC_KERNELS_REGISTRY_H

#include "kernel_set.h"
#include "lowp.h"

/* Chooses the best sets this build and CPU run, capped by GITC_KERNELS
 * (portable|avx2|avx512|neon: that level and the ones below it; unset or
 * empty: no cap). A GITC_KERNELS naming no level of this build is
 * GITC_ERR_ARGUMENT naming the value and the choices. */
gitc_status gitci_kernels_choose(gitc_kernels *out, gitc_error *err);

/* The process default (gitci_kernels_choose once; an invalid GITC_KERNELS
 * means no cap here: model loading is where it is reported). */
const gitc_kernels *gitci_kernels_default(void);

/* Every f32 set this build and CPU can run (each complete), portable first,
 * best last, ignoring GITC_KERNELS (for tests and benchmarks). Returns the
 * count; *tables is static storage. */
int gitci_kernel_tables(const gitc_kernel_table *const **tables);

/* Every set this build and CPU run for kind, reference first, best last,
 * ignoring GITC_KERNELS (for tests and benchmarks). *sets is static storage. */
int gitci_lowp_kernel_sets(gitc_lowp_kind kind, const gitc_lowp_kernels *const **sets);

#endif /* GITC_KERNELS_REGISTRY_H */
