/*
 * libFuzzer target for generation_config.json: parses the input over the
 * default generate params. Traps when an invariant breaks:
 *   - a failure sets a message naming generation_config.json;
 *   - accepted values are within the ranges the parser documents (lengths
 *     0..65536, beams and returned sequences 1..64, finite floats, top_p in
 *     [0, 1]) -- nothing reaches generate() out of range.
 * FUZZ_SEEDS: fuzz/seeds/generation
 * FUZZ_DICT: fuzz/dict/json.dict
 * FUZZ_MAX_LEN: 4096
 */
#include <math.h>

#include "common.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gitc_generate_params p = gitc_generate_default_params();
    gitc_error err = {0};
    gitc_status st = gitci_generation_config_parse((const char *)data, size, "generation_config.json", &p, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK) {
        FUZZ_CHECK(strstr(err.message, "generation_config.json") != NULL, "message: %s", err.message);
        return 0;
    }
    FUZZ_CHECK(p.max_length >= 0 && p.max_length <= 65536, "max_length %d", p.max_length);
    FUZZ_CHECK(p.max_new_tokens >= 0 && p.max_new_tokens <= 65536, "max_new_tokens %d", p.max_new_tokens);
    FUZZ_CHECK(p.min_length >= 0 && p.min_new_tokens >= 0, "min lengths");
    FUZZ_CHECK(p.num_beams >= 1 && p.num_beams <= 64, "num_beams %d", p.num_beams);
    FUZZ_CHECK(p.num_return_sequences >= 1 && p.num_return_sequences <= 64, "num_return_sequences");
    FUZZ_CHECK(p.no_repeat_ngram_size >= 0 && p.top_k >= 0, "ngram / top_k");
    FUZZ_CHECK(isfinite(p.length_penalty) && isfinite(p.temperature) && p.temperature >= 0, "floats");
    FUZZ_CHECK(isfinite(p.repetition_penalty) && p.repetition_penalty > 0, "repetition_penalty");
    FUZZ_CHECK(p.top_p >= 0 && p.top_p <= 1, "top_p %g", (double)p.top_p);
    return 0;
}
