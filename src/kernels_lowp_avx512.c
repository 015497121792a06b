/* AVX512_BF16 (vdpbf16ps) and AVX512_VNNI (vpdpbusd) kernels of the
 * low-precision linear layer (lowp.h). Work in progress: not compiled in yet. */
#include "lowp.h"

#include <stddef.h>

const gitc_lowp_kernels *gitc_lowp_avx512_bf16(void)
{
    return NULL;
}

const gitc_lowp_kernels *gitc_lowp_avx512_vnni(void)
{
    return NULL;
}
