/*
 * BERT WordPiece tokenizer: transformers 4.39.3's slow BertTokenizer in C.
 *
 * Encode follows PreTrainedTokenizer.tokenize + BertTokenizer._tokenize:
 *   1. (do_lower_case) every character except the special-token strings is
 *      lower-cased one character at a time (the regex pass of tokenize()).
 *   2. The text is split at the special-token strings (the added-token trie):
 *      those become their ids, the pieces between them go to BasicTokenizer.
 *   3. BasicTokenizer: clean (drop NUL, U+FFFD, C* except \t\n\r; BERT
 *      whitespace -> ' '), space out CJK ideographs, NFC, split like
 *      str.split(), lower + strip accents (NFD, drop Mn) per word, split off
 *      punctuation.
 *   4. WordPiece greedy longest match, '##' continuations, words longer than
 *      max_input_chars_per_word (100) or with an unmatched rest -> [UNK].
 * Unicode data comes from utf8proc; where it is newer than Python 3.11's
 * unicodedata (Unicode 14.0), the code points it adds count as unassigned
 * (category Cn), as Python sees them.
 *
 * Decode: ids -> tokens (skipping every special id when asked),
 * " ".join(tokens).replace(" ##", "").strip(), then the clean-up replacements.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define TOK_MAX_TEXT_BYTES ((size_t)1 << 28) /* 256 MiB: refuse larger texts */
#define TOK_MAX_WORD_CHARS 10000             /* cap on max_input_chars_per_word */
#define TOK_MAX_VOCAB (1 << 22)              /* tokens in a vocabulary (config.json's vocab_size cap) */
#define TOK_MAX_TOKEN_BYTES 1024             /* bytes in one vocabulary token */

/* Special-token roles, in transformers' SPECIAL_TOKENS_ATTRIBUTES order. */
enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_COUNT };
static const char *const sp_names[SP_COUNT] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                               "pad_token", "cls_token", "mask_token"};
static const char *const sp_defaults[SP_COUNT] = {NULL, NULL, "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

/* A string as code points (special tokens and never_split entries). */
typedef struct cpstr {
    uint32_t *cp; /* [n] */
    size_t n;
    int32_t id; /* vocab id for special tokens, -1 for never_split entries */
} cpstr;

struct gitc_tokenizer {
    char *dir;        /* model folder, for messages */
    char *vocab_name; /* "vocab.txt" or "tokenizer.json" */
    int n_vocab;
    char **tokens;    /* [n_vocab] NUL-terminated, point into pool */
    uint32_t *lens;   /* [n_vocab] byte lengths */
    char *pool;       /* storage of the token strings */
    int32_t *table;   /* [table_mask + 1] open-addressing hash: id or -1 */
    size_t table_mask;
    size_t max_token_bytes; /* longest token: longer substrings are never looked up */
    uint8_t *is_special; /* [n_vocab] 1 for all_special_ids */
    uint8_t *is_dup;     /* [n_vocab] 1 when the token string appears twice */

    int do_lower_case;
    int strip_accents; /* -1 null (follow do_lower_case), 0 false, 1 true */
    int tokenize_chinese_chars;
    int do_basic_tokenize;
    int clean_up;
    int max_chars;

    char *sp_str[SP_COUNT]; /* role strings, NULL when absent */
    int32_t unk_id, cls_id, sep_id;
    cpstr *specials; /* all special tokens in all_special_tokens order */
    size_t n_specials;
    cpstr *never_split; /* config never_split (BasicTokenizer.never_split) */
    size_t n_never_split;
};

/* ------------------------------------------------------------------ */
/* Small growable buffers                                              */
/* ------------------------------------------------------------------ */

typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

typedef struct idbuf {
    int32_t *v;
    size_t n, cap;
} idbuf;

/* Makes room for `extra` more code points; -1 on OOM. */
static int cpbuf_reserve(cpbuf *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra)
        cap *= 2;
    uint32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v)
        return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

static int cpbuf_push(cpbuf *b, uint32_t c)
{
    if (cpbuf_reserve(b, 1))
        return -1;
    b->v[b->n++] = c;
    return 0;
}

static int idbuf_push(idbuf *b, int32_t id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = id;
    return 0;
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */
/* ------------------------------------------------------------------ */

/* Decodes one strict UTF-8 sequence (no overlongs, surrogates or > U+10FFFF).
 * Returns its length, or 0 when the bytes at s are not valid UTF-8. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2, c = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3, c = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4, c = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

size_t gitc_utf8_sequence_length(const char *s, size_t n)
{
    uint32_t cp;
    return s && n ? utf8_next((const uint8_t *)s, n, &cp) : 0;
}

/* Writes the UTF-8 form of cp (a valid scalar value) to out; returns its length. */
static size_t utf8_put(uint32_t c, uint8_t *out)
{
    if (c < 0x80) {
        out[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (uint8_t)(0xC0 | (c >> 6));
        out[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (c >> 12));
        out[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (c >> 18));
    out[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* Decodes all of s into b (appending); returns the byte offset of the first
 * invalid sequence, or SIZE_MAX when s is valid UTF-8. Sets *oom on OOM. */
static size_t utf8_decode_all(const char *s, size_t n, cpbuf *b, int *oom)
{
    const uint8_t *u = (const uint8_t *)s;
    *oom = 0;
    if (cpbuf_reserve(b, n + 1)) {
        *oom = 1;
        return 0;
    }
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = utf8_next(u + i, n - i, &c);
        if (!k)
            return i;
        b->v[b->n++] = c;
        i += k;
    }
    return SIZE_MAX;
}

/* ------------------------------------------------------------------ */
/* Character classes as Python 3.11 (Unicode 14.0) and BertTokenizer see them */
/* ------------------------------------------------------------------ */

/* Code points assigned in Unicode 15.0 (utf8proc 2.8) that Python 3.11's
 * unicodedata (Unicode 14.0) reports as unassigned (Cn). */
static const uint32_t unicode15_new[][2] = {
    {0x0CF3, 0x0CF3},   {0x0ECE, 0x0ECE},   {0x10EFD, 0x10EFF}, {0x1123F, 0x11241}, {0x11B00, 0x11B09},
    {0x11F00, 0x11F10}, {0x11F12, 0x11F3A}, {0x11F3E, 0x11F59}, {0x1342F, 0x1342F}, {0x13439, 0x13455},
    {0x1B132, 0x1B132}, {0x1B155, 0x1B155}, {0x1D2C0, 0x1D2D3}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D},
    {0x1E08F, 0x1E08F}, {0x1E4D0, 0x1E4F9}, {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F776}, {0x1F77B, 0x1F77F},
    {0x1F7D9, 0x1F7D9}, {0x1FA75, 0x1FA77}, {0x1FA87, 0x1FA88}, {0x1FAAD, 0x1FAAF}, {0x1FABB, 0x1FABD},
    {0x1FABF, 0x1FABF}, {0x1FACE, 0x1FACF}, {0x1FADA, 0x1FADB}, {0x1FAE8, 0x1FAE8}, {0x1FAF7, 0x1FAF8},
    {0x2B739, 0x2B739}, {0x31350, 0x323AF},
};

/* 1 when Python 3.11 does not know c but utf8proc does. */
static int is_post_unicode14(uint32_t c)
{
    size_t lo = 0, hi = sizeof unicode15_new / sizeof unicode15_new[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < unicode15_new[mid][0])
            hi = mid;
        else if (c > unicode15_new[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* unicodedata.category(chr(c)) of Python 3.11. */
static utf8proc_category_t py_category(uint32_t c)
{
    if (c < 0x80) /* fast path: ASCII categories are the same everywhere */
        return utf8proc_category((utf8proc_int32_t)c);
    if (is_post_unicode14(c))
        return UTF8PROC_CATEGORY_CN;
    return utf8proc_category((utf8proc_int32_t)c);
}

/* BertTokenizer's _is_control: category C* except \t \n \r. */
static int is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return 0;
    switch (py_category(c)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
        return 1;
    default:
        return 0;
    }
}

/* BertTokenizer's _is_whitespace: " \t\n\r" or category Zs. */
static int is_bert_space(uint32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return 1;
    return py_category(c) == UTF8PROC_CATEGORY_ZS;
}

/* Python's str.isspace() for one character (what str.split() and strip() use). */
static int is_py_space(uint32_t c)
{
    if (c < 0x80)
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* BertTokenizer's _is_punctuation: the ASCII symbol ranges or category P*. */
static int is_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return 1;
    if (c < 0x80)
        return 0;
    switch (py_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* BertTokenizer's _is_chinese_char: the CJK Unified Ideograph blocks. */
static int is_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) ||
           (c >= 0x2B820 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Appends Python's str.lower() of one character (no context: each character
 * is lowered alone, as tokenize()'s regex pass does). Only U+0130 has a
 * multi-character lower case; utf8proc's simple mapping equals Python 3.11's
 * for every other code point Python knows. */
static int push_lower(cpbuf *b, uint32_t c)
{
    if (c < 0x80)
        return cpbuf_push(b, (c >= 'A' && c <= 'Z') ? c + 32 : c);
    if (c == 0x130)
        return cpbuf_push(b, 'i') || cpbuf_push(b, 0x307);
    if (is_post_unicode14(c))
        return cpbuf_push(b, c);
    return cpbuf_push(b, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
}

/* Replaces b->v[from..] by its NFC (compose=1) or NFD (compose=0) form.
 * Returns 0, or -1 on OOM or an utf8proc failure. */
static int normalize_tail(cpbuf *b, size_t from, int compose)
{
    size_t n = b->n - from;
    int trivial = 1;
    for (size_t i = from; i < b->n && trivial; i++) /* below U+00C0 nothing decomposes or composes */
        trivial = b->v[i] < 0xC0;
    if (trivial || n == 0)
        return 0;
    uint8_t *u8 = malloc(n * 4 + 1);
    if (!u8)
        return -1;
    size_t k = 0;
    for (size_t i = from; i < b->n; i++)
        k += utf8_put(b->v[i], u8 + k);
    utf8proc_uint8_t *dst = NULL;
    int opts = UTF8PROC_STABLE | (compose ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    utf8proc_ssize_t m = utf8proc_map(u8, (utf8proc_ssize_t)k, &dst, (utf8proc_option_t)opts);
    free(u8);
    if (m < 0)
        return -1;
    b->n = from;
    int oom = 0;
    size_t bad = utf8_decode_all((const char *)dst, (size_t)m, b, &oom);
    free(dst);
    return (oom || bad != SIZE_MAX) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Vocabulary hash table                                               */
/* ------------------------------------------------------------------ */

/* FNV-1a of an optional "##" prefix followed by len bytes. */
static uint64_t hash_bytes(int prefix, const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    if (prefix) {
        h = (h ^ '#') * 1099511628211ull;
        h = (h ^ '#') * 1099511628211ull;
    }
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* The id of ("##" if prefix) + s[0..len), or -1. */
static int32_t vocab_find(const gitc_tokenizer *t, int prefix, const char *s, size_t len)
{
    size_t full = len + (prefix ? 2 : 0);
    size_t i = (size_t)hash_bytes(prefix, s, len) & t->table_mask;
    for (;;) {
        int32_t id = t->table[i];
        if (id < 0)
            return -1;
        const char *tok = t->tokens[id];
        if (t->lens[id] == full && (!prefix || (tok[0] == '#' && tok[1] == '#')) &&
            memcmp(tok + (prefix ? 2 : 0), s, len) == 0)
            return id;
        i = (i + 1) & t->table_mask;
    }
}

/* Builds the table; a repeated token maps to its last id (as Python's dict). */
static gitc_status vocab_build_table(gitc_tokenizer *t, gitc_error *err)
{
    size_t size = 16;
    while (size < (size_t)t->n_vocab * 2)
        size *= 2;
    t->table = malloc(size * sizeof *t->table);
    t->is_special = calloc((size_t)t->n_vocab, 1);
    t->is_dup = calloc((size_t)t->n_vocab, 1);
    if (!t->table || !t->is_special || !t->is_dup)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for the vocabulary", t->dir);
    memset(t->table, 0xFF, size * sizeof *t->table);
    t->table_mask = size - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->max_token_bytes = GITC_MAX(t->max_token_bytes, (size_t)t->lens[id]);
        size_t i = (size_t)hash_bytes(0, t->tokens[id], t->lens[id]) & t->table_mask;
        for (;;) {
            int32_t old = t->table[i];
            if (old < 0) {
                t->table[i] = id;
                break;
            }
            if (t->lens[old] == t->lens[id] && memcmp(t->tokens[old], t->tokens[id], t->lens[id]) == 0) {
                t->is_dup[old] = t->is_dup[id] = 1;
                t->table[i] = id;
                break;
            }
            i = (i + 1) & t->table_mask;
        }
    }
    return GITC_OK;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* Reads vocab.txt: one token per line, lines split as Python's universal
 * newlines do (\n, \r\n, \r); a final line without a newline counts. */
static gitc_status load_vocab_txt(gitc_tokenizer *t, const char *path, gitc_error *err)
{
    size_t size = 0;
    gitc_status st = gitci_read_file_max(path, GITC_TOKENIZER_MAX_BYTES, &t->pool, &size, err);
    if (st)
        return st;
    char *s = t->pool;
    size_t n_lines = 0;
    for (size_t i = 0; i < size; i++) {
        if (s[i] == '\n' || (s[i] == '\r' && (i + 1 >= size || s[i + 1] != '\n')))
            n_lines++;
    }
    if (size && s[size - 1] != '\n' && s[size - 1] != '\r')
        n_lines++;
    if (n_lines == 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: empty vocabulary", path);
    if (n_lines > TOK_MAX_VOCAB)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: %zu tokens, more than the limit of %d", path, n_lines,
                          TOK_MAX_VOCAB);
    t->tokens = malloc(n_lines * sizeof *t->tokens);
    t->lens = malloc(n_lines * sizeof *t->lens);
    if (!t->tokens || !t->lens)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for %zu tokens", path, n_lines);
    size_t start = 0, line = 0;
    for (size_t i = 0; i <= size && line < n_lines; i++) {
        int end = (i == size) || s[i] == '\n' || s[i] == '\r';
        if (!end)
            continue;
        size_t len = i - start;
        if (len > TOK_MAX_TOKEN_BYTES)
            return gitci_fail(err, GITC_ERR_LIMIT, "%s: line %zu is a token of %zu bytes, more than the limit of %d",
                              path, line + 1, len, TOK_MAX_TOKEN_BYTES);
        int crlf = i < size && s[i] == '\r' && i + 1 < size && s[i + 1] == '\n';
        if (i < size)
            s[i] = 0;
        t->tokens[line] = s + start;
        t->lens[line] = (uint32_t)len;
        size_t pos = 0;
        while (pos < len) {
            uint32_t c;
            size_t k = utf8_next((const uint8_t *)s + start + pos, len - pos, &c);
            if (!k)
                return gitci_fail(err, GITC_ERR_FORMAT, "%s: line %zu is not valid UTF-8 (byte %zu)", path,
                                  line + 1, start + pos);
            pos += k;
        }
        line++;
        if (crlf)
            i++;
        start = i + 1;
    }
    t->n_vocab = (int)n_lines;
    return GITC_OK;
}

/* Reads and parses a JSON file of at most max_bytes; a malformed file is an error naming the byte offset. */
static gitc_status read_json(const char *path, size_t max_bytes, cJSON **out, gitc_error *err)
{
    char *data = NULL;
    size_t size = 0;
    *out = NULL;
    gitc_status st = gitci_read_file_max(path, max_bytes, &data, &size, err);
    if (st)
        return st;
    st = gitci_json_parse(data, size, path, out, err);
    free(data);
    return st;
}

/* Reads model.vocab ({token: id}, ids 0..n-1) and the BertNormalizer settings of tokenizer.json. */
static gitc_status load_vocab_json(gitc_tokenizer *t, const char *path, gitc_error *err)
{
    cJSON *json = NULL;
    gitc_status st = read_json(path, GITC_TOKENIZER_MAX_BYTES, &json, err);
    if (st)
        return st;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(json, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(model) || !cJSON_IsObject(vocab)) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: no model.vocab object", path);
        goto done;
    }
    if (cJSON_IsString(type) && strcmp(type->valuestring, "WordPiece") != 0) {
        st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: model type %s is not WordPiece", path, type->valuestring);
        goto done;
    }
    int n = cJSON_GetArraySize(vocab);
    if (n <= 0) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: empty vocabulary", path);
        goto done;
    }
    if (n > TOK_MAX_VOCAB) {
        st = gitci_fail(err, GITC_ERR_LIMIT, "%s: %d tokens, more than the limit of %d", path, n, TOK_MAX_VOCAB);
        goto done;
    }
    size_t pool_size = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        size_t len = strlen(e->string);
        if (len > TOK_MAX_TOKEN_BYTES) {
            st = gitci_fail(err, GITC_ERR_LIMIT, "%s: token \"%.32s...\" has %zu bytes, more than the limit of %d",
                            path, e->string, len, TOK_MAX_TOKEN_BYTES);
            goto done;
        }
        pool_size += len + 1;
    }
    t->pool = malloc(pool_size);
    t->tokens = calloc((size_t)n, sizeof *t->tokens);
    t->lens = calloc((size_t)n, sizeof *t->lens);
    if (!t->pool || !t->tokens || !t->lens) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for %d tokens", path, n);
        goto done;
    }
    size_t off = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v < n) || v != (double)(int)v) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: token \"%.64s\" has id %s, expected an integer in [0, %d)",
                            path, e->string, cJSON_IsNumber(e) ? "out of range" : "that is not a number", n);
            goto done;
        }
        int id = (int)v;
        if (t->tokens[id]) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: id %d is given to \"%.64s\" and \"%.64s\"", path, id,
                            t->tokens[id], e->string);
            goto done;
        }
        size_t len = strlen(e->string);
        size_t pos = 0;
        while (pos < len) {
            uint32_t c;
            size_t k = utf8_next((const uint8_t *)e->string + pos, len - pos, &c);
            if (!k) {
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s: token with id %d is not valid UTF-8", path, id);
                goto done;
            }
            pos += k;
        }
        memcpy(t->pool + off, e->string, len + 1);
        t->tokens[id] = t->pool + off;
        t->lens[id] = (uint32_t)len;
        off += len + 1;
    }
    t->n_vocab = n; /* n entries with distinct ids in [0, n): every id is used */

    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (cJSON_IsNumber(mc)) {
        if (!(mc->valuedouble >= 1 && mc->valuedouble <= TOK_MAX_WORD_CHARS)) {
            st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: max_input_chars_per_word %g is outside [1, %d]", path,
                            mc->valuedouble, TOK_MAX_WORD_CHARS);
            goto done;
        }
        t->max_chars = (int)mc->valuedouble;
    }
    /* BertNormalizer settings are defaults that tokenizer_config.json may override. */
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(json, "normalizer");
    const cJSON *ntype = cJSON_GetObjectItemCaseSensitive(norm, "type");
    if (cJSON_IsString(ntype) && strcmp(ntype->valuestring, "BertNormalizer") == 0) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(norm, "lowercase");
        if (cJSON_IsBool(x))
            t->do_lower_case = cJSON_IsTrue(x);
        x = cJSON_GetObjectItemCaseSensitive(norm, "handle_chinese_chars");
        if (cJSON_IsBool(x))
            t->tokenize_chinese_chars = cJSON_IsTrue(x);
        x = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
        if (cJSON_IsBool(x))
            t->strip_accents = cJSON_IsTrue(x);
    }
done:
    cJSON_Delete(json);
    return st;
}

/* Reads an optional boolean setting; absent keeps *dst. null sets *dst to
 * `null_value` when allowed (null_value >= -1), else it is an error. */
static gitc_status json_flag(const cJSON *obj, const char *key, int *dst, int allow_null, const char *path,
                             gitc_error *err)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!x)
        return GITC_OK;
    if (cJSON_IsBool(x)) {
        *dst = cJSON_IsTrue(x);
        return GITC_OK;
    }
    if (cJSON_IsNull(x) && allow_null) {
        *dst = -1;
        return GITC_OK;
    }
    return gitci_fail(err, GITC_ERR_FORMAT, "%s: %s must be true or false%s", path, key,
                      allow_null ? " or null" : "");
}

/* The text of a special-token entry: a string or an AddedToken object {"content": ...}.
 * Returns 1 with *s set, 0 for null, -1 when malformed. */
static int json_token_string(const cJSON *x, const char **s)
{
    if (cJSON_IsNull(x))
        return 0;
    if (cJSON_IsString(x)) {
        *s = x->valuestring;
        return 1;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
    if (cJSON_IsObject(x) && cJSON_IsString(c)) {
        *s = c->valuestring;
        return 1;
    }
    return -1;
}

/* Converts a UTF-8 string to a cpstr; -1 when not UTF-8 or on OOM. */
static int cpstr_from(cpstr *out, const char *s, int32_t id)
{
    cpbuf b = {0};
    int oom = 0;
    size_t bad = utf8_decode_all(s, strlen(s), &b, &oom);
    if (oom || bad != SIZE_MAX) {
        free(b.v);
        return -1;
    }
    out->cp = b.v;
    out->n = b.n;
    out->id = id;
    return 0;
}

/* Adds a special token string (kept once) to the all_special_tokens list. */
static gitc_status add_special(gitc_tokenizer *t, const char *s, const char *role, gitc_error *err)
{
    for (size_t i = 0; i < t->n_specials; i++) {
        const cpstr *p = &t->specials[i];
        if (t->lens[p->id] == strlen(s) && memcmp(t->tokens[p->id], s, t->lens[p->id]) == 0)
            return GITC_OK;
    }
    int32_t id = vocab_find(t, 0, s, strlen(s));
    if (id < 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s/%s: special token %s \"%.64s\" is missing", t->dir,
                          t->vocab_name, role, s);
    if (t->is_dup[id])
        return gitci_fail(err, GITC_ERR_FORMAT, "%s/%s: special token %s \"%.64s\" appears more than once", t->dir,
                          t->vocab_name, role, s);
    cpstr *v = realloc(t->specials, (t->n_specials + 1) * sizeof *v);
    if (!v)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", t->dir);
    t->specials = v;
    if (cpstr_from(&t->specials[t->n_specials], s, id))
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", t->dir);
    t->n_specials++;
    t->is_special[id] = 1;
    return GITC_OK;
}

/* Reads the special-token strings (role keys and additional_special_tokens) of a config object. */
static gitc_status read_special_strings(gitc_tokenizer *t, const cJSON *cfg, const char *path, gitc_error *err)
{
    for (int r = 0; r < SP_COUNT; r++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(cfg, sp_names[r]);
        if (!x)
            continue;
        const char *s = NULL;
        int k = json_token_string(x, &s);
        if (k < 0)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: %s must be a string, null or {\"content\": ...}", path,
                              sp_names[r]);
        free(t->sp_str[r]);
        t->sp_str[r] = k ? strdup(s) : NULL;
        if (k && !t->sp_str[r])
            return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    return GITC_OK;
}

/* Applies tokenizer_config.json: flags, special token strings, never_split, added tokens. */
static gitc_status load_config(gitc_tokenizer *t, const char *path, cJSON **additional, gitc_error *err)
{
    cJSON *cfg = NULL;
    gitc_status st = read_json(path, GITC_CONFIG_MAX_BYTES, &cfg, err);
    if (st)
        return st;
    if (!cJSON_IsObject(cfg)) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    if ((st = json_flag(cfg, "do_lower_case", &t->do_lower_case, 0, path, err)) ||
        (st = json_flag(cfg, "strip_accents", &t->strip_accents, 1, path, err)) ||
        (st = json_flag(cfg, "tokenize_chinese_chars", &t->tokenize_chinese_chars, 0, path, err)) ||
        (st = json_flag(cfg, "do_basic_tokenize", &t->do_basic_tokenize, 0, path, err)) ||
        (st = json_flag(cfg, "clean_up_tokenization_spaces", &t->clean_up, 0, path, err)) ||
        (st = read_special_strings(t, cfg, path, err)))
        goto done;

    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(cfg, "never_split");
    if (ns && !cJSON_IsNull(ns)) {
        if (!cJSON_IsArray(ns)) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: never_split must be a list of strings or null", path);
            goto done;
        }
        int n = cJSON_GetArraySize(ns);
        t->never_split = calloc((size_t)n + 1, sizeof *t->never_split);
        if (!t->never_split) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
            goto done;
        }
        for (const cJSON *e = ns->child; e; e = e->next) {
            if (!cJSON_IsString(e)) {
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s: never_split must be a list of strings or null", path);
                goto done;
            }
            const char *v = e->valuestring;
            if (cpstr_from(&t->never_split[t->n_never_split], v, vocab_find(t, 0, v, strlen(v)))) {
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s: a never_split entry is not valid UTF-8", path);
                goto done;
            }
            t->n_never_split++;
        }
    }

    /* Added tokens must be the vocabulary's own special tokens at their ids. */
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    if (added && !cJSON_IsObject(added)) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: added_tokens_decoder must be an object", path);
        goto done;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        char *endp = NULL;
        long id = strtol(e->string, &endp, 10);
        const char *content = NULL;
        if (!*e->string || *endp || json_token_string(e, &content) != 1) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: added_tokens_decoder entry \"%.32s\" is malformed", path,
                            e->string);
            goto done;
        }
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"))) {
            st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: added token %ld \"%.64s\" is not special (unsupported)",
                            path, id, content);
            goto done;
        }
        if (id < 0 || id >= t->n_vocab || strcmp(t->tokens[id], content) != 0) {
            st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: added token %ld \"%.64s\" is not that id of %s", path, id,
                            content, t->vocab_name);
            goto done;
        }
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens");
    if (extra && !cJSON_IsNull(extra)) {
        if (!cJSON_IsArray(extra)) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: additional_special_tokens must be a list", path);
            goto done;
        }
        cJSON_Delete(*additional);
        *additional = cJSON_Duplicate(extra, 1);
        if (!*additional) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
            goto done;
        }
    }
done:
    cJSON_Delete(cfg);
    return st;
}

/* Applies special_tokens_map.json (it overrides tokenizer_config.json's token strings). */
static gitc_status load_special_map(gitc_tokenizer *t, const char *path, cJSON **additional, gitc_error *err)
{
    cJSON *map = NULL;
    gitc_status st = read_json(path, GITC_CONFIG_MAX_BYTES, &map, err);
    if (st)
        return st;
    if (!cJSON_IsObject(map))
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", path);
    else
        st = read_special_strings(t, map, path, err);
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(map, "additional_special_tokens");
    if (!st && cJSON_IsArray(extra)) {
        cJSON_Delete(*additional);
        *additional = cJSON_Duplicate(extra, 1);
        if (!*additional)
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    cJSON_Delete(map);
    return st;
}

/* Loads an optional JSON file through fn when it exists. */
static gitc_status load_optional(gitc_tokenizer *t, const char *name, cJSON **additional,
                                 gitc_status (*fn)(gitc_tokenizer *, const char *, cJSON **, gitc_error *),
                                 gitc_error *err)
{
    char *path = gitci_path_join(t->dir, name);
    if (!path)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", t->dir);
    gitc_status st = gitci_file_exists(path) ? fn(t, path, additional, err) : GITC_OK;
    free(path);
    return st;
}

/* Resolves the special-token ids and the all_special_tokens list. */
static gitc_status resolve_specials(gitc_tokenizer *t, const cJSON *additional, gitc_error *err)
{
    static const int order[SP_COUNT] = {SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK};
    for (int k = 0; k < SP_COUNT; k++) {
        int r = order[k];
        if (!t->sp_str[r]) {
            if (r == SP_UNK || r == SP_CLS || r == SP_SEP)
                return gitci_fail(err, GITC_ERR_FORMAT, "%s: the tokenizer config sets %s to null", t->dir,
                                  sp_names[r]);
            continue;
        }
        gitc_status st = add_special(t, t->sp_str[r], sp_names[r], err);
        if (st)
            return st;
    }
    for (const cJSON *e = additional ? additional->child : NULL; e; e = e->next) {
        const char *s = NULL;
        if (json_token_string(e, &s) != 1)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: additional_special_tokens has an entry that is not a string",
                              t->dir);
        gitc_status st = add_special(t, s, "additional_special_tokens", err);
        if (st)
            return st;
    }
    t->unk_id = vocab_find(t, 0, t->sp_str[SP_UNK], strlen(t->sp_str[SP_UNK]));
    t->cls_id = vocab_find(t, 0, t->sp_str[SP_CLS], strlen(t->sp_str[SP_CLS]));
    t->sep_id = vocab_find(t, 0, t->sp_str[SP_SEP], strlen(t->sp_str[SP_SEP]));
    return GITC_OK;
}

gitc_status gitc_tokenizer_load(const char *model_dir, gitc_tokenizer **out, gitc_error *err)
{
    if (!out)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_tokenizer_load: out is NULL");
    *out = NULL;
    if (!model_dir)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_tokenizer_load: model_dir is NULL");
    gitc_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", model_dir);
    t->do_lower_case = 1;
    t->strip_accents = -1;
    t->tokenize_chinese_chars = 1;
    t->do_basic_tokenize = 1;
    t->clean_up = 1;
    t->max_chars = 100;
    cJSON *additional = NULL;
    char *vocab_txt = gitci_path_join(model_dir, "vocab.txt");
    char *tok_json = gitci_path_join(model_dir, "tokenizer.json");
    t->dir = strdup(model_dir);
    gitc_status st = GITC_OK;
    if (!vocab_txt || !tok_json || !t->dir) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", model_dir);
        goto done;
    }
    for (int r = 0; r < SP_COUNT; r++) {
        if (sp_defaults[r] && !(t->sp_str[r] = strdup(sp_defaults[r]))) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", model_dir);
            goto done;
        }
    }
    if (gitci_file_exists(vocab_txt)) {
        t->vocab_name = "vocab.txt";
        st = load_vocab_txt(t, vocab_txt, err);
    } else if (gitci_file_exists(tok_json)) {
        t->vocab_name = "tokenizer.json";
        st = load_vocab_json(t, tok_json, err);
    } else {
        st = gitci_fail(err, GITC_ERR_IO, "%s: no vocab.txt or tokenizer.json in this folder", model_dir);
    }
    if (st || (st = vocab_build_table(t, err)) ||
        (st = load_optional(t, "tokenizer_config.json", &additional, load_config, err)) ||
        (st = load_optional(t, "special_tokens_map.json", &additional, load_special_map, err)) ||
        (st = resolve_specials(t, additional, err)))
        goto done;
done:
    cJSON_Delete(additional);
    free(vocab_txt);
    free(tok_json);
    if (st) {
        gitc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return GITC_OK;
}

void gitc_tokenizer_free(gitc_tokenizer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_specials; i++)
        free(t->specials[i].cp);
    for (size_t i = 0; i < t->n_never_split; i++)
        free(t->never_split[i].cp);
    for (int r = 0; r < SP_COUNT; r++)
        free(t->sp_str[r]);
    free(t->specials);
    free(t->never_split);
    free(t->table);
    free(t->is_special);
    free(t->is_dup);
    free(t->tokens);
    free(t->lens);
    free(t->pool);
    free(t->dir);
    free(t);
}

const char *gitc_tokenizer_id_to_token(const gitc_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return NULL;
    return t->tokens[id];
}

int gitc_tokenizer_vocab_size(const gitc_tokenizer *t)
{
    return t ? t->n_vocab : 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* Per-call scratch buffers. */
typedef struct encoder {
    const gitc_tokenizer *t;
    cpbuf clean;    /* the cleaned segment */
    cpbuf word;     /* one word after lower/strip */
    uint8_t *bytes; /* UTF-8 of one piece: [max_chars * 4] */
    size_t *offs;   /* byte offset of each code point: [max_chars + 1] */
    idbuf *out;
} encoder;

/* 1 when s[0..n) equals the code points of p. */
static int cp_equal(const uint32_t *s, size_t n, const cpstr *p)
{
    return n == p->n && memcmp(s, p->cp, n * sizeof *s) == 0;
}

/* The never_split entry equal to the word (config list, or all special tokens when `specials`), or NULL. */
static const cpstr *find_never_split(const gitc_tokenizer *t, const uint32_t *s, size_t n, int specials)
{
    for (size_t i = 0; i < t->n_never_split; i++)
        if (cp_equal(s, n, &t->never_split[i]))
            return &t->never_split[i];
    for (size_t i = 0; specials && i < t->n_specials; i++)
        if (cp_equal(s, n, &t->specials[i]))
            return &t->specials[i];
    return NULL;
}

/* WordPiece of one piece (no whitespace inside), appending ids. -1 on OOM. */
static int wordpiece(encoder *e, const uint32_t *s, size_t n)
{
    const gitc_tokenizer *t = e->t;
    if (n == 0)
        return 0;
    if (n > (size_t)t->max_chars)
        return idbuf_push(e->out, t->unk_id);
    e->offs[0] = 0;
    for (size_t i = 0; i < n; i++)
        e->offs[i + 1] = e->offs[i] + utf8_put(s[i], e->bytes + e->offs[i]);
    size_t mark = e->out->n;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n, prefix = start > 0 ? 2 : 0;
        while (end > start && e->offs[end] - e->offs[start] + prefix > t->max_token_bytes)
            end--; /* no token is that long */
        for (; end > start; end--) {
            id = vocab_find(t, start > 0, (const char *)e->bytes + e->offs[start], e->offs[end] - e->offs[start]);
            if (id >= 0)
                break;
        }
        if (id < 0) {
            e->out->n = mark; /* the whole word becomes [UNK] */
            return idbuf_push(e->out, t->unk_id);
        }
        if (idbuf_push(e->out, id))
            return -1;
        start = end;
    }
    return 0;
}

/* One piece after the punctuation split: a config never_split word is looked up whole. */
static int emit_piece(encoder *e, const uint32_t *s, size_t n)
{
    const gitc_tokenizer *t = e->t;
    if (n == 0)
        return 0;
    const cpstr *ns = t->n_never_split ? find_never_split(t, s, n, 0) : NULL;
    if (ns)
        return idbuf_push(e->out, ns->id >= 0 ? ns->id : t->unk_id);
    return wordpiece(e, s, n);
}

/* Lower-cases / strips accents of one whitespace-separated word, splits off
 * punctuation and word-pieces the parts. */
static int basic_word(encoder *e, const uint32_t *s, size_t n)
{
    const gitc_tokenizer *t = e->t;
    if (find_never_split(t, s, n, 1))
        return emit_piece(e, s, n);
    int strip = t->do_lower_case ? t->strip_accents != 0 : t->strip_accents == 1;
    const uint32_t *w = s;
    if (t->do_lower_case || strip) {
        cpbuf *b = &e->word;
        b->n = 0;
        for (size_t i = 0; i < n; i++)
            if (t->do_lower_case ? push_lower(b, s[i]) : cpbuf_push(b, s[i]))
                return -1;
        if (strip) {
            if (normalize_tail(b, 0, 0))
                return -1;
            size_t k = 0;
            for (size_t i = 0; i < b->n; i++)
                if (b->v[i] < 0x300 || py_category(b->v[i]) != UTF8PROC_CATEGORY_MN)
                    b->v[k++] = b->v[i];
            b->n = k;
        }
        w = b->v;
        n = b->n;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_punct(w[i])) {
            if (emit_piece(e, w + start, i - start) || emit_piece(e, w + i, 1))
                return -1;
            start = i + 1;
        }
    }
    return emit_piece(e, w + start, n - start);
}

/* BasicTokenizer + WordPiece on a text segment without special tokens. */
static int basic_segment(encoder *e, const uint32_t *s, size_t n)
{
    const gitc_tokenizer *t = e->t;
    if (n == 0)
        return 0;
    cpbuf *b = &e->clean;
    b->n = 0;
    if (!t->do_basic_tokenize) {
        if (cpbuf_reserve(b, n))
            return -1;
        memcpy(b->v, s, n * sizeof *s);
        b->n = n;
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t c = s[i];
            if (c == 0 || c == 0xFFFD || is_control(c))
                continue;
            if (is_bert_space(c))
                c = ' ';
            int r = (t->tokenize_chinese_chars && is_cjk(c))
                        ? (cpbuf_push(b, ' ') || cpbuf_push(b, c) || cpbuf_push(b, ' '))
                        : cpbuf_push(b, c);
            if (r)
                return -1;
        }
        if (normalize_tail(b, 0, 1))
            return -1;
    }
    for (size_t i = 0; i < b->n;) {
        while (i < b->n && is_py_space(b->v[i]))
            i++;
        size_t j = i;
        while (j < b->n && !is_py_space(b->v[j]))
            j++;
        if (j > i) {
            int r = t->do_basic_tokenize ? basic_word(e, b->v + i, j - i) : wordpiece(e, b->v + i, j - i);
            if (r)
                return -1;
        }
        i = j;
    }
    return 0;
}

/* The special token matching at s[0..n): longest (trie) or first in list order (regex). */
static const cpstr *match_special(const gitc_tokenizer *t, const uint32_t *s, size_t n, int longest)
{
    const cpstr *best = NULL;
    for (size_t k = 0; k < t->n_specials; k++) {
        const cpstr *p = &t->specials[k];
        if (p->n == 0 || p->n > n || s[0] != p->cp[0] || memcmp(s, p->cp, p->n * sizeof *s) != 0)
            continue;
        if (!longest)
            return p;
        if (!best || p->n > best->n)
            best = p;
    }
    return best;
}

gitc_status gitc_tokenizer_encode(const gitc_tokenizer *t, const char *text, size_t len, int add_special,
                                  int32_t **ids, size_t *n_ids, gitc_error *err)
{
    if (ids)
        *ids = NULL;
    if (n_ids)
        *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_tokenizer_encode: NULL argument");
    if (len > TOK_MAX_TEXT_BYTES)
        return gitci_fail(err, GITC_ERR_LIMIT, "text: %zu bytes exceeds the limit of %zu", len, TOK_MAX_TEXT_BYTES);
    gitc_status st = GITC_OK;
    cpbuf raw = {0}, low = {0};
    idbuf out = {0};
    encoder e = {.t = t, .out = &out};
    e.bytes = malloc((size_t)t->max_chars * 4 + 4);
    e.offs = malloc(((size_t)t->max_chars + 1) * sizeof *e.offs);
    int oom = !e.bytes || !e.offs;
    size_t bad = oom ? SIZE_MAX : utf8_decode_all(text, len, &raw, &oom);
    if (oom)
        goto oom;
    if (bad != SIZE_MAX) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "text: invalid UTF-8 at byte offset %zu", bad);
        goto done;
    }
    /* tokenize()'s lower-casing pass: everything but the special-token strings. */
    const cpbuf *s = &raw;
    if (t->do_lower_case) {
        if (cpbuf_reserve(&low, raw.n + 1))
            goto oom;
        for (size_t i = 0; i < raw.n;) {
            const cpstr *p = match_special(t, raw.v + i, raw.n - i, 0);
            if (p) {
                if (cpbuf_reserve(&low, p->n))
                    goto oom;
                memcpy(low.v + low.n, p->cp, p->n * sizeof *p->cp);
                low.n += p->n;
                i += p->n;
            } else if (push_lower(&low, raw.v[i++])) {
                goto oom;
            }
        }
        s = &low;
    }
    if (add_special && idbuf_push(&out, t->cls_id))
        goto oom;
    /* The added-token trie: special strings become their ids, the rest is tokenized. */
    size_t seg = 0;
    for (size_t i = 0; i < s->n;) {
        const cpstr *p = match_special(t, s->v + i, s->n - i, 1);
        if (!p) {
            i++;
            continue;
        }
        if (basic_segment(&e, s->v + seg, i - seg) || idbuf_push(&out, p->id))
            goto oom;
        i += p->n;
        seg = i;
    }
    if (basic_segment(&e, s->v + seg, s->n - seg))
        goto oom;
    if (add_special && idbuf_push(&out, t->sep_id))
        goto oom;
    if (!out.v && !(out.v = malloc(sizeof *out.v))) /* never a NULL array on success */
        goto oom;
    *ids = out.v;
    *n_ids = out.n;
    out.v = NULL;
    goto done;
oom:
    st = gitci_fail(err, GITC_ERR_MEMORY, "text: out of memory encoding %zu bytes", len);
done:
    free(raw.v);
    free(low.v);
    free(out.v);
    free(e.clean.v);
    free(e.word.v);
    free(e.bytes);
    free(e.offs);
    return st;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* Python's s.replace(from, to) in place, for len(to) <= len(from). */
static void replace_all(char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to);
    char *r = strstr(s, from), *w;
    if (!r)
        return;
    w = r;
    while (*r) {
        if (strncmp(r, from, nf) == 0) {
            memcpy(w, to, nt);
            w += nt;
            r += nf;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* Python's s.strip() in place (str.isspace characters at both ends). */
static void py_strip(char *s)
{
    size_t n = strlen(s), a = 0, b = n;
    while (a < b) {
        uint32_t c;
        size_t k = utf8_next((const uint8_t *)s + a, b - a, &c);
        if (!k || !is_py_space(c))
            break;
        a += k;
    }
    while (b > a) {
        size_t p = b - 1;
        while (p > a && ((uint8_t)s[p] & 0xC0) == 0x80)
            p--;
        uint32_t c;
        size_t k = utf8_next((const uint8_t *)s + p, b - p, &c);
        if (k != b - p || !is_py_space(c))
            break;
        b = p;
    }
    memmove(s, s + a, b - a);
    s[b - a] = 0;
}

gitc_status gitc_tokenizer_decode(const gitc_tokenizer *t, const int32_t *ids, size_t n_ids, int skip_special,
                                  int clean_up, char **text, gitc_error *err)
{
    if (text)
        *text = NULL;
    if (!t || !text || (!ids && n_ids))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_tokenizer_decode: NULL argument");
    size_t total = 1;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "decode: id %ld at position %zu is outside the vocabulary [0, %d)",
                              (long)ids[i], i, t->n_vocab);
        total += t->lens[ids[i]] + 1;
    }
    char *s = malloc(total);
    if (!s)
        return gitci_fail(err, GITC_ERR_MEMORY, "decode: out of memory for %zu bytes", total);
    size_t k = 0;
    int first = 1;
    for (size_t i = 0; i < n_ids; i++) {
        if (skip_special && t->is_special[ids[i]])
            continue;
        if (!first)
            s[k++] = ' ';
        memcpy(s + k, t->tokens[ids[i]], t->lens[ids[i]]);
        k += t->lens[ids[i]];
        first = 0;
    }
    s[k] = 0;
    replace_all(s, " ##", "");
    py_strip(s);
    if (clean_up < 0 ? t->clean_up : clean_up) {
        static const char *const rep[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},    {" ,", ","},
                                             {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},  {" 's", "'s"},
                                             {" 've", "'ve"}, {" 're", "'re"}};
        for (size_t r = 0; r < sizeof rep / sizeof rep[0]; r++)
            replace_all(s, rep[r][0], rep[r][1]);
    }
    *text = s;
    return GITC_OK;
}
