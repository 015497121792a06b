/*
 * libFuzzer target for the PNG decoder alone: inputs start with the format's
 * magic bytes (others are rejected), are decoded with a 1-megapixel limit and
 * EXIF orientation, no processor (see image_common.h for the invariants).
 * FUZZ_SEEDS: tests/data/images/fuzz-seeds tests/data/limits fuzz/seeds/image
 * FUZZ_DICT: fuzz/dict/image.dict
 * FUZZ_MAX_LEN: 65536
 */
#include "image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return image_decode_check(data, size, "\x89PNG\r\n\x1a\n", 8, 1 << 20);
}
