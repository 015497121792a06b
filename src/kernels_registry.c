/* The kernel registry: every kernel set this build has, what each needs of
 * the CPU, and the choice of sets for a model. A new set is one new file
 * (exporting its table as const data) plus one line in `registry` below.
 *
 * Sets are grouped in levels; GITC_KERNELS=LEVEL caps every kind (f32, bf16,
 * int8) at that level. Within a kind the last usable, allowed entry wins, so
 * the entries go from the narrowest instruction set to the widest. An f32
 * table may leave entries NULL: they are taken from the f32 set before it
 * (compose), in this plain-C file, after the CPU check. */
#include "kernels_registry.h"
#include "cpu.h"
#include "internal.h"
#include "lowp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    const char *level;
    unsigned needs;                 /* GITC_CPU_* bits, all required */
    const gitc_kernel_table *f32;   /* an f32 set, or NULL */
    const gitc_lowp_kernels *lowp;  /* a bf16 or int8 set, or NULL */
} entry;

static const char *const levels[] = {
    "portable",
#ifdef GITC_HAVE_X86_SIMD
    "avx2", "avx512",
#endif
#ifdef GITC_HAVE_NEON_SIMD
    "neon",
#endif
};

static const entry registry[] = {
    {"portable", 0, &gitci_kernels_portable_set, NULL},
    {"portable", 0, NULL, &gitci_lowp_ref_bf16},
    {"portable", 0, NULL, &gitci_lowp_ref_int8},
#ifdef GITC_HAVE_X86_SIMD
    {"avx2", GITC_CPU_AVX2, &gitci_kernels_avx2_set, NULL},
    {"avx2", GITC_CPU_AVX2, NULL, &gitci_lowp_avx2_bf16},
    {"avx2", GITC_CPU_AVX2, NULL, &gitci_lowp_avx2_int8},
    {"avx2", GITC_CPU_AVX2 | GITC_CPU_AVX_VNNI, NULL, &gitci_lowp_avxvnni},
    {"avx512", GITC_CPU_AVX512, &gitci_kernels_avx512_set, NULL},
    {"avx512", GITC_CPU_AVX512 | GITC_CPU_AVX512_BF16, NULL, &gitci_lowp_avx512_bf16},
    {"avx512", GITC_CPU_AVX512 | GITC_CPU_AVX512_VNNI, NULL, &gitci_lowp_avx512_vnni},
#endif
#ifdef GITC_HAVE_NEON_SIMD
    {"neon", GITC_CPU_NEON, &gitci_kernels_neon_set, NULL},
    {"neon", GITC_CPU_NEON | GITC_CPU_ARM_BF16, NULL, &gitci_lowp_neon_bf16},
    {"neon", GITC_CPU_NEON | GITC_CPU_DOTPROD, NULL, &gitci_lowp_neon_sdot},
    {"neon", GITC_CPU_NEON | GITC_CPU_I8MM, NULL, &gitci_lowp_neon_i8mm},
#endif
};

#define N_LEVELS ((int)(sizeof levels / sizeof levels[0]))
#define N_ENTRIES ((int)(sizeof registry / sizeof registry[0]))

static int level_index(const char *name)
{
    for (int i = 0; i < N_LEVELS; i++)
        if (strcmp(levels[i], name) == 0)
            return i;
    return -1;
}

/* What the CPU runs, found once: the composed f32 tables (entry i's in
 * f32_of[i], NULL when unusable) and the usable lists for tests. */
static gitc_kernel_table composed[N_ENTRIES];
static const gitc_kernel_table *f32_of[N_ENTRIES];
static const gitc_kernel_table *f32_list[N_ENTRIES];
static const gitc_lowp_kernels *bf16_list[N_ENTRIES], *int8_list[N_ENTRIES];
static int n_f32, n_bf16, n_int8;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* `set` with each NULL entry taken from `base`. */
static void compose(gitc_kernel_table *out, const gitc_kernel_table *set, const gitc_kernel_table *base)
{
    *out = *set;
#define TAKE(f) if (!out->f) out->f = base->f
    TAKE(linear); TAKE(attention); TAKE(layernorm); TAKE(gelu); TAKE(quick_gelu); TAKE(add);
    TAKE(fma_loop); TAKE(log_sum_exp);
#undef TAKE
}

static void find_usable(void)
{
    unsigned cpu = gitci_cpu_features();
    const gitc_kernel_table *below = NULL;
    for (int i = 0; i < N_ENTRIES; i++) {
        const entry *e = &registry[i];
        /* The CPU check comes first: nothing of a wider set runs, and its
         * table is read only by this plain-C code, unless the CPU runs it. */
        if ((cpu & e->needs) != e->needs)
            continue;
        if (e->f32) {
            compose(&composed[i], e->f32, below ? below : e->f32);
            f32_of[i] = below = &composed[i];
            f32_list[n_f32++] = below;
        } else if (e->lowp->kind == GITC_LOWP_BF16) {
            bf16_list[n_bf16++] = e->lowp;
        } else {
            int8_list[n_int8++] = e->lowp;
        }
    }
}

/* The best usable sets at or below level `cap`. */
static void choose_capped(gitc_kernels *out, int cap)
{
    pthread_once(&once, find_usable);
    memset(out, 0, sizeof *out);
    out->cpu = gitci_cpu_features();
    out->level = levels[cap];
    for (int i = 0; i < N_ENTRIES; i++) {
        const entry *e = &registry[i];
        if (level_index(e->level) > cap || (out->cpu & e->needs) != e->needs)
            continue;
        if (e->f32)
            out->f32 = *f32_of[i];
        else if (e->lowp->kind == GITC_LOWP_BF16)
            out->bf16 = e->lowp;
        else
            out->int8 = e->lowp;
    }
}

gitc_status gitci_kernels_choose(gitc_kernels *out, gitc_error *err)
{
    const char *want = getenv("GITC_KERNELS");
    int cap = N_LEVELS - 1;
    if (want && *want) {
        cap = level_index(want);
        if (cap < 0) {
            char choices[128] = "";
            for (int i = 0; i < N_LEVELS; i++)
                snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s",
                         i ? ", " : "", levels[i]);
            return gitci_fail(err, GITC_ERR_ARGUMENT,
                              "GITC_KERNELS=%s is not a kernel level of this build (one of: %s)", want,
                              choices);
        }
    }
    choose_capped(out, cap);
    return GITC_OK;
}

static gitc_kernels default_set;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void find_default(void)
{
    if (gitci_kernels_choose(&default_set, NULL) != GITC_OK)
        choose_capped(&default_set, N_LEVELS - 1); /* an invalid GITC_KERNELS: no cap (model loading reports it) */
}

const gitc_kernels *gitci_kernels_default(void)
{
    pthread_once(&default_once, find_default);
    return &default_set;
}

int gitci_kernel_tables(const gitc_kernel_table *const **tables)
{
    pthread_once(&once, find_usable);
    *tables = f32_list;
    return n_f32;
}

int gitci_lowp_kernel_sets(gitc_lowp_kind kind, const gitc_lowp_kernels *const **sets)
{
    pthread_once(&once, find_usable);
    *sets = kind == GITC_LOWP_BF16 ? bf16_list : int8_list;
    return kind == GITC_LOWP_BF16 ? n_bf16 : n_int8;
}

const gitc_lowp_kernels *gitci_lowp_avxvnni_emulated_set(void)
{
#ifdef GITC_HAVE_X86_SIMD
    if (gitci_cpu_features() & GITC_CPU_AVX2)
        return &gitci_lowp_avxvnni_emulated;
#endif
    return NULL;
}
