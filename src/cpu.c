/* CPU feature probe (see cpu.h). Plain C: it runs before any SIMD code. */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* ---- Caches ---- */

/* Plausible per-core figures; anything else (a hypervisor's odd cpuid or
 * glibc's L3 sums) falls through to the next source. */
static int caches_plausible(const gitc_caches *c)
{
    return c->l1d >= (8L << 10) && c->l1d <= (1L << 20) && c->l2 >= c->l1d && c->l2 <= (64L << 20);
}

#ifdef GITC_CPU_X86
/* Walks the deterministic cache parameters (leaf 4 on Intel, 0x8000001D on
 * AMD/Hygon with TOPOEXT): size = ways x partitions x line x sets. */
static int caches_cpuid(gitc_caches *c)
{
    unsigned a, b, cx, d, leaf = 4;
    char vendor[13] = {0};
    if (!__get_cpuid(0, &a, &b, &cx, &d))
        return 0;
    unsigned max_leaf = a;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &cx, 4);
    if (strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0) {
        unsigned e1;
        if (__get_cpuid_max(0x80000000u, NULL) < 0x8000001Du ||
            !__get_cpuid(0x80000001u, &a, &b, &e1, &d) || !((e1 >> 22) & 1)) /* TOPOEXT */
            return 0;
        leaf = 0x8000001Du;
    } else if (max_leaf < 4) {
        return 0;
    }
    for (unsigned i = 0; i < 16; i++) {
        __cpuid_count(leaf, i, a, b, cx, d);
        unsigned type = a & 0x1f, level = (a >> 5) & 7;
        if (type == 0)
            break;
        if (type == 2) /* instructions */
            continue;
        long size = (long)(((b >> 22) & 0x3ff) + 1) * (long)(((b >> 12) & 0x3ff) + 1) *
                    (long)((b & 0xfff) + 1) * (long)(cx + 1);
        if (level == 1)
            c->l1d = size;
        else if (level == 2)
            c->l2 = size;
        else if (level == 3)
            c->l3 = size;
    }
    return 1;
}
#endif

static gitc_caches caches;
static pthread_once_t caches_once = PTHREAD_ONCE_INIT;

/* cpuid, else sysconf, else the defaults (see cpu.h), once. */
static void find_caches(void)
{
    gitc_caches c = {0};
#ifdef GITC_CPU_X86
    if (caches_cpuid(&c) && caches_plausible(&c)) {
        c.source = "cpuid";
        caches = c;
        return;
    }
#endif
    memset(&c, 0, sizeof c);
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    c.l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    c.l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#ifdef _SC_LEVEL3_CACHE_SIZE
    c.l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    if (c.l3 < 0)
        c.l3 = 0;
    if (caches_plausible(&c)) {
        c.source = "sysconf";
        caches = c;
        return;
    }
#endif
    caches.l1d = 32L << 10;
    caches.l2 = 256L << 10;
    caches.l3 = 0;
    caches.source = "default";
}

const gitc_caches *gitci_cpu_caches(void)
{
    pthread_once(&caches_once, find_caches);
    return &caches;
}
