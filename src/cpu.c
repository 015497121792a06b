/* CPU feature probe (see cpu.h). Plain C: it runs before any SIMD code. */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define GITC_CPU_X86 1
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define GITC_CPU_ARM64 1
#endif

#ifdef GITC_CPU_X86
/* XCR0: which register states the OS saves on a context switch. */
static unsigned long long read_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static unsigned probe(void)
{
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx)
        return 0;
    unsigned long long xcr0 = read_xcr0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;    /* SSE + AVX state */
    int zmm_ok = (xcr0 & 0xe6) == 0xe6;  /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok || __get_cpuid_max(0, NULL) < 7)
        return 0;
    unsigned b7, c7, d7, a7;
    __cpuid_count(7, 0, a7, b7, c7, d7);
    unsigned a71 = 0, b71, c71, d71;
    if (a7 >= 1)
        __cpuid_count(7, 1, a71, b71, c71, d71);
    if (((b7 >> 5) & 1) && fma && f16c)
        f |= GITC_CPU_AVX2;
    if ((f & GITC_CPU_AVX2) && ((a71 >> 4) & 1))
        f |= GITC_CPU_AVX_VNNI;
    /* F (b16), DQ (b17), BW (b30), VL (b31) */
    if ((f & GITC_CPU_AVX2) && zmm_ok && ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) &&
        ((b7 >> 31) & 1)) {
        f |= GITC_CPU_AVX512;
        if ((c7 >> 11) & 1)
            f |= GITC_CPU_AVX512_VNNI;
        if ((a71 >> 5) & 1)
            f |= GITC_CPU_AVX512_BF16;
    }
    return f;
}
#elif defined(GITC_CPU_ARM64)
static unsigned probe(void)
{
    /* Bit numbers from the kernel's uapi asm/hwcap.h (stable ABI). */
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    unsigned f = 0;
    if (hw & (1ul << 1)) /* HWCAP_ASIMD */
        f |= GITC_CPU_NEON;
    if ((f & GITC_CPU_NEON) && (hw & (1ul << 20))) /* HWCAP_ASIMDDP */
        f |= GITC_CPU_DOTPROD;
    if ((f & GITC_CPU_NEON) && (hw2 & (1ul << 14))) /* HWCAP2_BF16 */
        f |= GITC_CPU_ARM_BF16;
    if ((f & GITC_CPU_NEON) && (hw2 & (1ul << 13))) /* HWCAP2_I8MM */
        f |= GITC_CPU_I8MM;
    return f;
}
#else
static unsigned probe(void)
{
    return 0;
}
#endif

static unsigned features;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void find(void)
{
    features = probe();
}

unsigned gitci_cpu_features(void)
{
    pthread_once(&once, find); /* cpuid traps to the hypervisor in VMs: once */
    return features;
}

void gitci_cpu_feature_names(unsigned mask, char *buf, size_t cap)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {GITC_CPU_AVX2, "avx2"},           {GITC_CPU_AVX512, "avx512"},
        {GITC_CPU_AVX512_BF16, "avx512_bf16"}, {GITC_CPU_AVX512_VNNI, "avx512_vnni"},
        {GITC_CPU_AVX_VNNI, "avx_vnni"},   {GITC_CPU_NEON, "neon"},
        {GITC_CPU_DOTPROD, "dotprod"},     {GITC_CPU_ARM_BF16, "bf16"},
        {GITC_CPU_I8MM, "i8mm"},
    };
    if (!cap)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(mask & names[i].bit))
            continue;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "", names[i].name);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
    if (!used)
        snprintf(buf, cap, "none");
}
