/* Block sizes of the avx2 f32 linear (see kernels_blocking.h). */
#include "kernels_blocking.h"
#include "cpu.h"

#include <pthread.h>

void gitci_f32_blocking_for(gitc_f32_blocking *out, long l2)
{
    long half = l2 / 2 / (long)sizeof(float); /* floats of x panel */
    long dot = half / GITC_AVX2_KC, pack = half / GITC_AVX2_PK;
    dot = dot < 4 ? 4 : dot > 4096 ? 4096 : dot - dot % 4;
    pack = pack < 6 ? 6 : pack > 4096 ? 4096 : pack - pack % 6;
    out->kc = GITC_AVX2_KC;
    out->dot_rows = (int)dot;
    out->pk = GITC_AVX2_PK;
    out->pack_rows = (int)pack;
    out->l2 = l2;
}

static gitc_f32_blocking cpu_blocking;
static const gitc_f32_blocking *_Atomic blocking_now;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

/* The CPU's blocks, once (the L2 probe runs here, in plain C). */
static void find_blocking(void)
{
    gitci_f32_blocking_for(&cpu_blocking, gitci_cpu_caches()->l2);
    blocking_now = &cpu_blocking;
}

const gitc_f32_blocking *gitci_f32_blocking_get(void)
{
    pthread_once(&blocking_once, find_blocking);
    return blocking_now;
}

void gitci_f32_blocking_set(const gitc_f32_blocking *b)
{
    pthread_once(&blocking_once, find_blocking);
    blocking_now = b ? b : &cpu_blocking;
}
