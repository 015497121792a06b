/* Shared by the image fuzz targets: decode (no processor) with a pixel limit
 * and check the result. */
#ifndef GITC_FUZZ_IMAGE_COMMON_H
#define GITC_FUZZ_IMAGE_COMMON_H

#include "common.h"

/* Decodes data with max_pixels and EXIF orientation on; traps when a failure
 * leaves an image or no message, or a success breaks the size limit. Inputs
 * that do not start with `magic` (of magic_len bytes; NULL: any) are rejected
 * (-1: not added to the corpus), so a per-decoder target stays on its decoder. */
static inline int image_decode_check(const uint8_t *data, size_t size, const char *magic,
                                     size_t magic_len, uint64_t max_pixels)
{
    if (magic && (size < magic_len || memcmp(data, magic, magic_len) != 0))
        return -1;
    gitc_image_params params = gitc_image_default_params();
    params.max_pixels = max_pixels;
    params.exif_transpose = 1;
    gitc_image im = {0};
    gitc_error err = {0};
    gitc_status st = gitc_image_decode(data, size, "fuzz-input", &params, &im, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK) {
        FUZZ_CHECK(im.rgb == NULL, "failure left pixels");
        return 0;
    }
    FUZZ_CHECK(im.width > 0 && im.height > 0 && im.rgb, "image %dx%d", im.width, im.height);
    FUZZ_CHECK((uint64_t)im.width * (uint64_t)im.height <= max_pixels, "image %dx%d over the limit",
               im.width, im.height);
    /* Every pixel byte is readable (ASan checks the buffer's size). */
    unsigned sum = 0;
    size_t n = (size_t)im.width * (size_t)im.height * 3;
    sum += im.rgb[0] + im.rgb[n - 1];
    (void)sum;
    gitc_image_free(&im);
    return 0;
}

#endif /* GITC_FUZZ_IMAGE_COMMON_H */
