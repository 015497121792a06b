/*
 * libFuzzer target for preprocessor_config.json: parses the input with
 * gitc_processor_from_json and, when the output is small (at most 64 x 64),
 * runs the processor on a fixed 9 x 7 image. Traps when an invariant breaks:
 *   - a failure sets a message;
 *   - an accepted processor with a crop has a positive output size, and the
 *     run succeeds or refuses with GITC_ERR_LIMIT (values are not checked:
 *     a config may legitimately scale them past float range).
 * FUZZ_SEEDS: fuzz/seeds/preprocessor
 * FUZZ_DICT: fuzz/dict/json.dict
 * FUZZ_MAX_LEN: 4096
 */
#include "common.h"

static uint8_t rgb[9 * 7 * 3];
static float out[3 * 64 * 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gitc_processor *p = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_processor_from_json((const char *)data, size, "preprocessor_config.json", &p, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK) {
        FUZZ_CHECK(p == NULL, "failure returned a processor");
        return 0;
    }
    int h = -1, w = -1;
    gitc_processor_output_size(p, &h, &w);
    FUZZ_CHECK((h > 0 && w > 0) || (h == 0 && w == 0), "output size %dx%d", h, w);
    if (h > 0 && w > 0 && h <= 64 && w <= 64) {
        if (!rgb[1])
            for (size_t i = 0; i < sizeof rgb; i++)
                rgb[i] = (uint8_t)(i * 37 + 11);
        gitc_image im = {.width = 9, .height = 7, .rgb = rgb};
        st = gitc_processor_run(p, &im, out, sizeof out / sizeof out[0], &err);
        FUZZ_CHECK(st == GITC_OK || st == GITC_ERR_LIMIT, "run: %s", err.message);
    }
    gitc_processor_free(p);
    return 0;
}
