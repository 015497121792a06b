/* The BERT WordPiece tokenizer against transformers 4.39.3's slow BertTokenizer
 * (tests/data/tokenizer/tokenizer_cases.json), the git-shapes model folders,
 * bad input, and regression inputs found by fuzzing. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gitc.h"
#include "internal.h"

/* The UTF-8 of U+10FFFF, which stands in for U+0000 in the parsed reference texts. */
#define NUL_STAND_IN "\xF4\x8F\xBF\xBF"

/* Counters of what was compared, printed in the summary. */
static int n_id_lists, n_id_mismatch, n_token_lists, n_token_mismatch, n_texts, n_text_mismatch;

/* Reads a JSON array of integers into a malloc'd array; -1 when malformed. */
static int json_ids(const cJSON *arr, int32_t **out)
{
    int n = cJSON_GetArraySize(arr);
    *out = malloc(((size_t)n + 1) * sizeof **out);
    if (!cJSON_IsArray(arr) || !*out)
        return -1;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next)
        (*out)[i++] = (int32_t)e->valueint;
    return n;
}

/* Prints a string with non-printable bytes escaped (for failure messages). */
static const char *shown(const char *s)
{
    static char buf[4][400];
    static int k;
    char *b = buf[k++ & 3];
    size_t j = 0;
    for (; *s && j + 5 < sizeof buf[0]; s++) {
        unsigned char c = (unsigned char)*s;
        j += (size_t)snprintf(b + j, sizeof buf[0] - j, (c < 0x20 || c == 0x7f) ? "\\x%02x" : "%c", c);
    }
    b[j] = 0;
    return b;
}

/* Compares encode(text) with a reference id list. */
static void check_encode(const gitc_tokenizer *tok, const char *label, const char *text, size_t len, int add_special,
                         const cJSON *want_json)
{
    int32_t *want = NULL, *got = NULL;
    size_t n_got = 0;
    gitc_error err = {0};
    int n_want = json_ids(want_json, &want);
    gitc_status st = gitc_tokenizer_encode(tok, text, len, add_special, &got, &n_got, &err);
    n_id_lists++;
    int ok = st == GITC_OK && n_want >= 0 && (size_t)n_want == n_got &&
             (n_got == 0 || memcmp(got, want, n_got * sizeof *got) == 0);
    if (!ok) {
        n_id_mismatch++;
        size_t at = 0;
        while (st == GITC_OK && at < n_got && (int)at < n_want && got[at] == want[at])
            at++;
        check_true(0, "%s: encode(add_special=%d) of \"%s\": status %d (%s), %zu ids vs %d, first difference at %zu",
                   label, add_special, shown(text), st, st ? err.message : "", n_got, n_want, at);
    } else {
        check_true(1, "encode");
    }
    free(want);
    free(got);
}

/* Compares the token strings of ids with a reference list of strings. */
static void check_tokens(const gitc_tokenizer *tok, const char *label, const cJSON *ids_json, const cJSON *want)
{
    int32_t *ids = NULL;
    int n = json_ids(ids_json, &ids);
    n_token_lists++;
    int ok = n >= 0 && n == cJSON_GetArraySize(want);
    const cJSON *e = want ? want->child : NULL;
    for (int i = 0; ok && i < n; i++, e = e->next) {
        const char *s = gitc_tokenizer_id_to_token(tok, ids[i]);
        if (!s || !cJSON_IsString(e) || strcmp(s, e->valuestring) != 0) {
            check_true(0, "%s: token %d is \"%s\", want \"%s\"", label, i, s ? shown(s) : "(null)",
                       cJSON_IsString(e) ? shown(e->valuestring) : "?");
            ok = -1;
        }
    }
    if (ok == 0)
        check_true(0, "%s: %d tokens, want %d", label, n, cJSON_GetArraySize(want));
    else if (ok == 1)
        check_true(1, "tokens");
    if (ok != 1)
        n_token_mismatch++;
    free(ids);
}

/* Compares decode(ids, skip, clean) with a reference string (when the case has that key). */
static void check_decode(const gitc_tokenizer *tok, const char *label, const cJSON *c, const char *key,
                         const cJSON *ids_json, int skip, int clean)
{
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!want)
        return;
    int32_t *ids = NULL;
    int n = json_ids(ids_json, &ids);
    char *got = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_tokenizer_decode(tok, ids, n < 0 ? 0 : (size_t)n, skip, clean, &got, &err);
    n_texts++;
    if (st != GITC_OK || !cJSON_IsString(want) || strcmp(got, want->valuestring) != 0) {
        n_text_mismatch++;
        check_true(0, "%s: %s: got \"%s\" want \"%s\" (%s)", label, key, got ? shown(got) : "(none)",
                   cJSON_IsString(want) ? shown(want->valuestring) : "?", st ? err.message : "ok");
    } else {
        check_true(1, "decode");
    }
    free(got);
    free(ids);
}

/* Every encode and decode case of tokenizer_cases.json. */
static void test_reference_cases(const gitc_tokenizer *tok)
{
    char *data = NULL;
    size_t size = 0;
    gitc_error err = {0};
    if (!check_true(gitci_read_file(check_path("tests/data/tokenizer/tokenizer_cases.json"), &data, &size, &err) ==
                        GITC_OK,
                    "read tokenizer_cases.json: %s", err.message))
        return;
    /* "\u0000" in a JSON string would end the cJSON string: stand U+10FFFF in for it. */
    char *json = malloc(size * 2 + 1);
    size_t m = 0;
    for (size_t i = 0; json && i < size; i++) {
        size_t bs = 0; /* an odd number of backslashes before it makes the escape literal text */
        while (bs < i && data[i - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 0 && strncmp(data + i, "\\u0000", 6) == 0) {
            memcpy(json + m, "\\udbff\\udfff", 12);
            m += 12;
            i += 5;
        } else {
            json[m++] = data[i];
        }
    }
    free(data);
    data = json;
    size = m;
    cJSON *root = cJSON_ParseWithLength(data, size);
    free(data);
    if (!check_true(root != NULL, "tokenizer_cases.json parses"))
        return;
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(root, "encode_cases");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decode_cases");
    int n_enc = 0, n_dec = 0;
    for (const cJSON *c = enc ? enc->child : NULL; c; c = c->next, n_enc++) {
        char label[32];
        snprintf(label, sizeof label, "encode_cases[%d]", n_enc);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "input_ids");
        const cJSON *ids_ns = cJSON_GetObjectItemCaseSensitive(c, "input_ids_no_special");
        if (!check_true(cJSON_IsString(text) && ids && ids_ns, "%s: malformed case", label))
            continue;
        /* cJSON strings end at NUL: U+0000 was swapped for U+10FFFF before parsing (see below). */
        char *s = strdup(text->valuestring);
        size_t len = 0;
        for (const char *r = s; *r;) {
            if (strncmp(r, NUL_STAND_IN, 4) == 0) {
                s[len++] = 0;
                r += 4;
            } else {
                s[len++] = *r++;
            }
        }
        check_encode(tok, label, s, len, 1, ids);
        check_encode(tok, label, s, len, 0, ids_ns);
        check_tokens(tok, label, ids_ns, cJSON_GetObjectItemCaseSensitive(c, "tokens"));
        check_decode(tok, label, c, "decode_skip_special", ids, 1, -1);
        check_decode(tok, label, c, "decode_skip_special_cleanup", ids, 1, 1);
        check_decode(tok, label, c, "decode_skip_special_no_cleanup", ids, 1, 0);
        check_decode(tok, label, c, "decode_keep_special", ids, 0, -1);
        check_decode(tok, label, c, "decode_keep_special_no_cleanup", ids, 0, 0);
        check_decode(tok, label, c, "decode_classic_v4", ids, 1, 1);
        free(s);
    }
    for (const cJSON *c = dec ? dec->child : NULL; c; c = c->next, n_dec++) {
        char label[32];
        snprintf(label, sizeof label, "decode_cases[%d]", n_dec);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
        check_tokens(tok, label, ids, cJSON_GetObjectItemCaseSensitive(c, "tokens"));
        check_decode(tok, label, c, "decode_skip_special", ids, 1, -1);
        check_decode(tok, label, c, "decode_skip_special_cleanup", ids, 1, 1);
        check_decode(tok, label, c, "decode_skip_special_no_cleanup", ids, 1, 0);
        check_decode(tok, label, c, "decode_keep_special", ids, 0, -1);
        check_decode(tok, label, c, "decode_keep_special_no_cleanup", ids, 0, 0);
        check_decode(tok, label, c, "decode_classic_v4", ids, 1, 1);
    }
    check_true(n_enc == 51 && n_dec == 8, "tokenizer_cases.json has %d encode and %d decode cases, want 51 and 8",
               n_enc, n_dec);
    printf("reference cases: %d encode + %d decode cases\n", n_enc, n_dec);
    printf("  id lists compared   %4d, mismatches %d\n", n_id_lists, n_id_mismatch);
    printf("  token lists compared%4d, mismatches %d\n", n_token_lists, n_token_mismatch);
    printf("  decoded texts       %4d, mismatches %d\n", n_texts, n_text_mismatch);
    cJSON_Delete(root);
}

/* The git-shapes model: vocab.txt and tokenizer.json-only folders agree and encode the demo question. */
static void test_git_shapes(void)
{
    static const char text[] = "what color is the background?";
    static const int32_t want[] = {139, 112, 117, 133, 108, 142};
    const char *dirs[2] = {"models/git-shapes", "tests/data/tokenizer/git-shapes-json"};
    gitc_tokenizer *tok[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        gitc_error err = {0};
        gitc_status st = gitc_tokenizer_load(check_path(dirs[k]), &tok[k], &err);
        if (!check_true(st == GITC_OK, "load %s: %s", dirs[k], err.message))
            continue;
        int32_t *ids = NULL;
        size_t n = 0;
        st = gitc_tokenizer_encode(tok[k], text, strlen(text), 0, &ids, &n, &err);
        char what[96];
        snprintf(what, sizeof what, "%s: \"%s\"", dirs[k], text);
        if (check_true(st == GITC_OK, "%s: %s", what, err.message))
            check_ids(what, ids, (int)n, want, 6);
        free(ids);
    }
    if (tok[0] && tok[1]) {
        int n = gitc_tokenizer_vocab_size(tok[0]), same = n == gitc_tokenizer_vocab_size(tok[1]);
        for (int i = 0; same && i < n; i++)
            same = strcmp(gitc_tokenizer_id_to_token(tok[0], i), gitc_tokenizer_id_to_token(tok[1], i)) == 0;
        printf("git-shapes vocab.txt vs tokenizer.json: %d tokens, %s\n", n, same ? "identical" : "DIFFERENT");
        check_true(same && n == 145, "git-shapes vocab.txt and tokenizer.json vocabularies agree (%d tokens)", n);
    }
    gitc_tokenizer_free(tok[0]);
    gitc_tokenizer_free(tok[1]);
}

/* A folder that must fail to load with `status` and a message containing `needle`. */
static void check_load_fails(const char *dir, gitc_status status, const char *needle)
{
    gitc_tokenizer *tok = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_tokenizer_load(check_path(dir), &tok, &err);
    printf("load %-45s -> %s\n", dir, err.message);
    check_true(st == status && tok == NULL && strstr(err.message, needle) != NULL,
               "load %s: status %d (want %d), message \"%s\" should contain \"%s\"", dir, st, status, err.message,
               needle);
    gitc_tokenizer_free(tok);
}

/* Bad folders, invalid UTF-8 and out-of-range ids. */
static void test_bad_input(const gitc_tokenizer *tok)
{
    check_load_fails("tests/data/tokenizer/no-vocab", GITC_ERR_IO, "tests/data/tokenizer/no-vocab");
    check_load_fails("tests/data/tokenizer/bad-config", GITC_ERR_FORMAT, "bad-config/tokenizer_config.json");
    check_load_fails("tests/data/tokenizer/empty-vocab", GITC_ERR_FORMAT, "empty-vocab/vocab.txt: empty vocabulary");
    check_load_fails("tests/data/tokenizer/missing-special", GITC_ERR_FORMAT, "\"[MASK]\" is missing");

    static const struct {
        const char *what, *text;
        size_t offset;
    } bad[] = {
        {"truncated 3-byte sequence", "ab\xE4\xB8", 2},
        {"overlong encoding of '/'", "abc\xC0\xAF", 3},
        {"lone surrogate U+D800", "a\xED\xA0\x80z", 1},
        {"byte above U+10FFFF", "\xF4\x90\x80\x80", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        gitc_error err = {0};
        gitc_status st = gitc_tokenizer_encode(tok, bad[i].text, strlen(bad[i].text), 1, &ids, &n, &err);
        char needle[64];
        snprintf(needle, sizeof needle, "byte offset %zu", bad[i].offset);
        printf("encode %-30s -> %s\n", bad[i].what, err.message);
        check_true(st == GITC_ERR_FORMAT && ids == NULL && strstr(err.message, needle),
                   "encode %s: status %d, message \"%s\" should contain \"%s\"", bad[i].what, st, err.message, needle);
        free(ids);
    }
    static const int32_t bad_ids[][3] = {{101, 30522, 102}, {101, -1, 102}};
    for (size_t i = 0; i < 2; i++) {
        char *text = NULL;
        gitc_error err = {0};
        gitc_status st = gitc_tokenizer_decode(tok, bad_ids[i], 3, 1, -1, &text, &err);
        printf("decode id %-27d -> %s\n", bad_ids[i][1], err.message);
        check_true(st == GITC_ERR_ARGUMENT && text == NULL && strstr(err.message, "position 1"),
                   "decode of id %d: status %d, message \"%s\"", bad_ids[i][1], st, err.message);
        free(text);
    }
    check_true(gitc_tokenizer_id_to_token(tok, 30522) == NULL && gitc_tokenizer_id_to_token(tok, -1) == NULL,
               "id_to_token is NULL out of range");
}

/* Edge inputs that must encode and decode cleanly (hand-picked; the fuzzer found no crash to add). */
static void test_regressions(const gitc_tokenizer *tok)
{
    static const struct {
        const char *text;
        size_t len;
    } cases[] = {
        {"\xC4\xB0\xC4\xB0[CLS]\xC4\xB0", 11}, /* U+0130 grows under lower() next to a special token */
        {"[CLS][SEP][MASK]", 16},
        {"\xCC\x81\xCC\x81 x", 6}, /* a word of combining marks only: empty after accent stripping */
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *text = NULL;
        gitc_error err = {0};
        gitc_status st = gitc_tokenizer_encode(tok, cases[i].text, cases[i].len, 1, &ids, &n, &err);
        if (st == GITC_OK)
            st = gitc_tokenizer_decode(tok, ids, n, 0, 1, &text, &err);
        check_true(st == GITC_OK, "regression case %zu: %s", i, err.message);
        free(ids);
        free(text);
    }
    printf("regression inputs: %zu encoded and decoded\n", sizeof cases / sizeof cases[0]);
}

/* Encoding speed of the 600-word case (a sanity bound: a linear vocabulary scan would be far slower). */
static void test_speed(const gitc_tokenizer *tok)
{
    static const char *words[] = {"wave", "cats", "with", "street", "fox", "remotes", "two", "jumps",
                                  "man", "on", "over", "sleeping", "top", "a", "riding", "brown"};
    char text[8192];
    size_t len = 0;
    for (int i = 0; i < 600; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? " " : "", words[(i * 7 + i / 3) % 16]);
    const int reps = 200;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    size_t total = 0;
    for (int r = 0; r < reps; r++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (gitc_tokenizer_encode(tok, text, len, 1, &ids, &n, NULL) == GITC_OK)
            total += n;
        free(ids);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / reps;
    printf("encode of a 600-word text (%zu ids): %.3f ms CPU time per call (bound 10 ms)\n", total / reps, ms);
    check_true(total / reps >= 600 && ms < 10.0, "600-word encode took %.3f ms", ms);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_tokenizer *tok = NULL;
    gitc_error err = {0};
    const char *dir = check_path("tests/data/tokenizer/bert-base-uncased");
    if (!check_true(gitc_tokenizer_load(dir, &tok, &err) == GITC_OK, "load %s: %s", dir, err.message))
        return check_done("test_tokenizer");
    check_true(gitc_tokenizer_vocab_size(tok) == 30522, "vocab size %d", gitc_tokenizer_vocab_size(tok));
    check_true(strcmp(gitc_tokenizer_id_to_token(tok, 101), "[CLS]") == 0, "id 101 is [CLS]");
    test_reference_cases(tok);
    test_git_shapes();
    test_bad_input(tok);
    test_regressions(tok);
    test_speed(tok);
    gitc_tokenizer_free(tok);
    return check_done("test_tokenizer");
}
