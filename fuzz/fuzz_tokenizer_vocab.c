/*
 * libFuzzer target for vocab.txt: the input is the vocabulary file of a
 * folder with no other tokenizer file; a loaded tokenizer then encodes and
 * decodes a fixed text (ids inside the vocabulary, decoding succeeds).
 * FUZZ_SEEDS: fuzz/seeds/tokenizer_vocab
 * FUZZ_DICT: fuzz/dict/tokenizer.dict
 * FUZZ_MAX_LEN: 4096
 */
#include "tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmp_dir();
    fuzz_write(dir, "vocab.txt", data, size);
    tok_load_and_use(dir);
    return 0;
}
