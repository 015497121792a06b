/*
 * libFuzzer target for tokenizer.json: the input is the only tokenizer file
 * of a folder; a loaded tokenizer then encodes and decodes a fixed text (ids
 * inside the vocabulary, decoding succeeds).
 * FUZZ_SEEDS: fuzz/seeds/tokenizer_json
 * FUZZ_DICT: fuzz/dict/json.dict
 * FUZZ_MAX_LEN: 8192
 */
#include "tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmp_dir();
    fuzz_write(dir, "tokenizer.json", data, size);
    tok_load_and_use(dir);
    return 0;
}
