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

/* Cache sizes in bytes (0 = unknown) and where they came from: "cpuid"
 * (x86 leaf 4, or 0x8000001D on AMD), "sysconf" (glibc's figures), or
 * "default" (32 KiB L1 data, 256 KiB L2: the smallest of current x86 and
 * ARM cores, so blocks chosen from them fit anywhere). l1d and l2 are one
 * core's; l3 is the whole cache as the CPU reports it (shared). */
typedef struct gitc_caches {
    long l1d, l2, l3;
    const char *source;
} gitc_caches;

/* This CPU's caches (probed on the first call; plain C, no SIMD). */
const gitc_caches *gitci_cpu_caches(void);

#endif /* GITC_CPU_H */
