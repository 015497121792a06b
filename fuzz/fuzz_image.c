/*
 * libFuzzer target for image decoding and preprocessing: decodes the input
 * bytes (any format, sniffed from the magic bytes) with a 64-kilopixel limit
 * and EXIF orientation on, and on success runs a CLIP processor (GIT's
 * settings, bicubic, at shortest edge 64 and a 64x64 crop so it runs a few
 * hundred times a second; the code paths are those of 224) on the image. Traps
 * when an invariant breaks:
 *   - a failure leaves the output image empty and sets a message;
 *   - a decoded image has a positive size within the pixel limit;
 *   - the processor succeeds (or refuses with GITC_ERR_LIMIT) and writes finite values.
 * No data files are needed. Run it with scripts/fuzz.sh image SECONDS.
 * FUZZ_SEEDS: tests/data/images/fuzz-seeds tests/data/limits fuzz/seeds/image
 * FUZZ_DICT: fuzz/dict/image.dict
 * FUZZ_MAX_LEN: 65536
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gitc.h"

#define MAX_PIXELS (1 << 16)
#define SIDE 64

static const char clip_json[] =
    "{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": {\"shortest_edge\": 64},"
    " \"crop_size\": {\"height\": 64, \"width\": 64}, \"resample\": 3,"
    " \"rescale_factor\": 0.00392156862745098,"
    " \"image_mean\": [0.48145466, 0.4578275, 0.40821073],"
    " \"image_std\": [0.26862954, 0.26130258, 0.27577711]}";

static gitc_processor *processor;
static float pixels[3 * SIDE * SIDE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gitc_error err = {0};
    if (!processor &&
        gitc_processor_from_json(clip_json, sizeof clip_json - 1, "fuzz", &processor, &err) !=
            GITC_OK)
        __builtin_trap();
    gitc_image_params params = gitc_image_default_params();
    params.max_pixels = MAX_PIXELS;
    params.exif_transpose = 1;
    gitc_image im = {0};
    gitc_status st = gitc_image_decode(data, size, "fuzz-input", &params, &im, &err);
    if (st != GITC_OK) {
        if (im.rgb || err.message[0] == 0)
            __builtin_trap();
        return 0;
    }
    if (im.width <= 0 || im.height <= 0 || !im.rgb ||
        (uint64_t)im.width * (uint64_t)im.height > MAX_PIXELS)
        __builtin_trap();
    st = gitc_processor_run(processor, &im, pixels, sizeof pixels / sizeof pixels[0], &err);
    if (st != GITC_OK && st != GITC_ERR_LIMIT)
        __builtin_trap();
    if (st == GITC_OK)
        for (size_t i = 0; i < sizeof pixels / sizeof pixels[0]; i += 97)
            if (!isfinite(pixels[i]))
                __builtin_trap();
    gitc_image_free(&im);
    return 0;
}
