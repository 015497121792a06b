/*
 * libFuzzer target for tokenizer_config.json and special_tokens_map.json,
 * beside a fixed 145-token BERT vocabulary (models/git-shapes/vocab.txt). The
 * first input byte picks the file (even: tokenizer_config.json, odd:
 * special_tokens_map.json); the rest is its content. A loaded tokenizer then
 * encodes and decodes a fixed text (ids inside the vocabulary, decoding
 * succeeds).
 * FUZZ_SEEDS: fuzz/seeds/tokenizer_config
 * FUZZ_DICT: fuzz/dict/json.dict
 * FUZZ_MAX_LEN: 4096
 */
#include "tok_common.h"

static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmp_dir();
    if (!ready) {
        fuzz_copy_repo_file("models/git-shapes/vocab.txt", dir, "vocab.txt");
        ready = 1;
    }
    if (size < 1)
        return 0;
    const char *name = (data[0] & 1) ? "special_tokens_map.json" : "tokenizer_config.json";
    fuzz_remove(dir, (data[0] & 1) ? "tokenizer_config.json" : "special_tokens_map.json");
    fuzz_write(dir, name, data + 1, size - 1);
    tok_load_and_use(dir);
    return 0;
}
