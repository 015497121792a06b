/*
 * libFuzzer target for image decoding only, every format (sniffed from the
 * magic bytes), with a small pixel limit (256 x 256) so it runs thousands of
 * executions per second; no processor (fuzz_image runs it). Invariants: see
 * image_common.h.
 * FUZZ_SEEDS: tests/data/images/fuzz-seeds tests/data/limits fuzz/seeds/image
 * FUZZ_DICT: fuzz/dict/image.dict
 * FUZZ_MAX_LEN: 16384
 */
#include "image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return image_decode_check(data, size, NULL, 0, 1 << 16);
}
