/* Shared by the tokenizer-file fuzz targets: load a folder, then encode and
 * decode a fixed text and check the results. */
#ifndef GITC_FUZZ_TOK_COMMON_H
#define GITC_FUZZ_TOK_COMMON_H

#include "common.h"

/* Loads the tokenizer in dir; on success checks that encoding a fixed text
 * gives ids inside the vocabulary and that decoding them succeeds. */
static inline void tok_load_and_use(const char *dir)
{
    static const char text[] = "Hello, world! A CAT on the mat: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac [CLS] ##ing x";
    gitc_tokenizer *t = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_tokenizer_load(dir, &t, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK) {
        FUZZ_CHECK(t == NULL, "failure returned a tokenizer");
        return;
    }
    int vocab = gitc_tokenizer_vocab_size(t);
    FUZZ_CHECK(vocab > 0 && vocab <= 1 << 22, "vocab size %d", vocab);
    int32_t *ids = NULL;
    size_t n = 0;
    st = gitc_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &n, &err);
    FUZZ_CHECK(st == GITC_OK && ids, "encode: %s", err.message);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < vocab, "id %d outside [0, %d)", ids[i], vocab);
    for (int mode = 0; mode < 2; mode++) {
        char *out = NULL;
        st = gitc_tokenizer_decode(t, ids, n, mode, mode, &out, &err);
        FUZZ_CHECK(st == GITC_OK && out, "decode: %s", err.message);
        free(out);
    }
    free(ids);
    gitc_tokenizer_free(t);
}

#endif /* GITC_FUZZ_TOK_COMMON_H */
