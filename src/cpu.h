/* The CPU features kernel sets need, found once per process: one probe for
 * x86 (cpuid + xgetbv: the OS must save the vector state too) and ARM64
 * (getauxval). Anything else, or a build without either, reports none. */
#ifndef GITC_CPU_H
#define GITC_CPU_H

#include <stddef.h>

enum {
    GITC_CPU_AVX2 = 1u << 0,        /* AVX2 + FMA + F16C, ymm state saved by the OS */
    GITC_CPU_AVX512 = 1u << 1,      /* AVX-512 F/BW/VL/DQ, zmm and opmask state saved */
    GITC_CPU_AVX512_BF16 = 1u << 2, /* vdpbf16ps */
    GITC_CPU_AVX512_VNNI = 1u << 3, /* vpdpbusd on zmm */
    GITC_CPU_AVX_VNNI = 1u << 4,    /* vpdpbusd on ymm (VEX) */
    GITC_CPU_NEON = 1u << 8,        /* Advanced SIMD (every ARMv8-A) */
    GITC_CPU_DOTPROD = 1u << 9,     /* SDOT/UDOT (HWCAP_ASIMDDP) */
    GITC_CPU_ARM_BF16 = 1u << 10,   /* BFDOT/BFMMLA (HWCAP2_BF16) */
    GITC_CPU_I8MM = 1u << 11,       /* SMMLA (HWCAP2_I8MM) */
};

/* The GITC_CPU_* bits this CPU and OS run (probed on the first call). */
unsigned gitci_cpu_features(void);

/* Writes the names of the features in `mask` ("avx2 avx512 ...", or "none")
 * into buf (cap bytes, NUL-terminated, truncated to fit). */
void gitci_cpu_feature_names(unsigned mask, char *buf, size_t cap);

#endif /* GITC_CPU_H */
