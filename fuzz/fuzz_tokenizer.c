/*
 * libFuzzer target for the tokenizer: encodes the input bytes as text, then
 * decodes the ids (keeping and skipping special tokens, with and without the
 * clean-up), and traps when an invariant breaks:
 *   - encode succeeds exactly when the input is valid UTF-8 (else GITC_ERR_FORMAT);
 *   - every id is inside the vocabulary, and [CLS] ... [SEP] frame them;
 *   - decoding those ids succeeds and gives valid UTF-8.
 *
 * Data: the bert-base-uncased vocabulary folder, loaded once, found at
 *   $GITC_FUZZ_DATA/tokenizer/bert-base-uncased   (GITC_FUZZ_DATA = the repo's tests/data), or else
 *   <dir of the executable>/../../tests/data/...  (build-fuzz/fuzz/fuzz_tokenizer; up to 4 levels up).
 * Run it with scripts/fuzz.sh tokenizer SECONDS.
 * FUZZ_SEEDS: tests/data/tokenizer/fuzz-seeds
 * FUZZ_DICT: fuzz/dict/tokenizer.dict
 * FUZZ_MAX_LEN: 1024
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitc.h"

#define VOCAB_REL "tokenizer/bert-base-uncased"

static gitc_tokenizer *tok;

/* Loads the tokenizer from $GITC_FUZZ_DATA or from tests/data above the executable. */
static gitc_tokenizer *load_once(void)
{
    char path[PATH_MAX];
    gitc_error err = {0};
    gitc_tokenizer *t = NULL;
    const char *env = getenv("GITC_FUZZ_DATA");
    if (env) {
        snprintf(path, sizeof path, "%s/%s", env, VOCAB_REL);
        if (gitc_tokenizer_load(path, &t, &err) == GITC_OK)
            return t;
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.message);
        abort();
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 1; up <= 4; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = 0;
            snprintf(path, sizeof path, "%s/tests/data/%s", exe, VOCAB_REL);
            if (gitc_tokenizer_load(path, &t, &err) == GITC_OK)
                return t;
        }
    }
    fprintf(stderr, "fuzz_tokenizer: cannot find tests/data/%s; set GITC_FUZZ_DATA to the repo's tests/data\n",
            VOCAB_REL);
    abort();
}

/* Strict UTF-8 check (the same rules the tokenizer promises). */
static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len;
        uint32_t c, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            len = 2, c = b & 0x1F, min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3, c = b & 0x0F, min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4, c = b & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok)
        tok = load_once();
    int32_t *ids = NULL;
    size_t n = 0;
    gitc_error err = {0};
    gitc_status st = gitc_tokenizer_encode(tok, (const char *)data, size, 1, &ids, &n, &err);
    int valid = valid_utf8(data, size);
    if (!valid) {
        if (st != GITC_ERR_FORMAT || ids)
            __builtin_trap();
        return 0;
    }
    if (st != GITC_OK || !ids || n < 2)
        __builtin_trap();
    int vocab = gitc_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            __builtin_trap();
    if (strcmp(gitc_tokenizer_id_to_token(tok, ids[0]), "[CLS]") != 0 ||
        strcmp(gitc_tokenizer_id_to_token(tok, ids[n - 1]), "[SEP]") != 0)
        __builtin_trap();
    for (int mode = 0; mode < 4; mode++) {
        char *text = NULL;
        if (gitc_tokenizer_decode(tok, ids, n, mode & 1, (mode & 2) ? 1 : 0, &text, &err) != GITC_OK || !text)
            __builtin_trap();
        if (!valid_utf8((const uint8_t *)text, strlen(text)))
            __builtin_trap();
        free(text);
    }
    free(ids);
    return 0;
}
