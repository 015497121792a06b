/* Request parsing of `gitc serve` (see serve_parse.h): pure functions over
 * request bodies, with limits checked before anything is allocated. */
#include "serve_parse.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Writes a message and returns 400. */
static int bad(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, SERVE_MSG, fmt, ap);
    va_end(ap);
    return 400;
}

void serve_request_free(serve_request *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_images; i++)
        free(r->images[i].owned);
    free(r->question);
    memset(r, 0, sizeof *r);
}

/* ---- base64 and data: URLs ---- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int serve_base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len, char *msg)
{
    *out = NULL;
    *out_len = 0;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return bad(msg, "base64: out of memory");
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t n = 0, symbols = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) {
            free(buf);
            return pad ? bad(msg, "base64: data after '=' padding at offset %zu", i)
                       : bad(msg, "base64: invalid character 0x%02x at offset %zu", c, i);
        }
        symbols++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (symbols % 4 == 1 || pad > 2 || (pad && (symbols + pad) % 4)) {
        free(buf);
        return bad(msg, "base64: truncated data (%zu symbols, %d padding)", symbols, pad);
    }
    if (n == 0) {
        free(buf);
        return bad(msg, "base64: no data");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && !strncasecmp(s, prefix, n);
}

int serve_image_ref(const char *ref, size_t len, const char *what, serve_blob *blob, char *msg)
{
    memset(blob, 0, sizeof *blob);
    snprintf(blob->name, sizeof blob->name, "%s", what);
    if (has_prefix(ref, len, "http://") || has_prefix(ref, len, "https://"))
        return bad(msg, "%s: remote URLs are refused (the server never fetches); send the image as a "
                        "data: URL with base64", what);
    const char *data = ref;
    size_t n = len;
    if (has_prefix(ref, len, "data:")) {
        const char *comma = memchr(ref, ',', len);
        if (!comma)
            return bad(msg, "%s: a data: URL needs a ',' before its data", what);
        const char *meta = ref + 5;
        size_t meta_len = (size_t)(comma - meta);
        if (meta_len < 7 || strncasecmp(comma - 7, ";base64", 7))
            return bad(msg, "%s: only base64 data: URLs are accepted (data:image/png;base64,...)", what);
        const char *semi = memchr(meta, ';', meta_len);
        size_t type_len = (size_t)(semi - meta);
        if (type_len > 0 && !has_prefix(meta, type_len, "image/") && !has_prefix(meta, type_len, "video/"))
            return bad(msg, "%s: the data: URL holds %.*s, not an image", what, (int)((type_len) < 64 ? (type_len) : 64),
                       meta);
        if (type_len < sizeof blob->type)
            snprintf(blob->type, sizeof blob->type, "%.*s", (int)type_len, meta);
        data = comma + 1;
        n = len - (size_t)(data - ref);
    } else if (memchr(ref, ':', len < 16 ? len : 16)) {
        return bad(msg, "%s: only data: URLs and base64 are accepted", what);
    }
    char sub[SERVE_MSG];
    if (serve_base64_decode(data, n, &blob->owned, &blob->len, sub))
        return bad(msg, "%s: %s", what, sub);
    blob->data = blob->owned;
    return 0;
}

/* ---- multipart/form-data ---- */

/* Copies a header parameter value (`key="value"` or `key=value`) found in [s, end). */
static int header_param(const char *s, const char *end, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = s; p + kl < end; p++) {
        if (strncasecmp(p, key, kl) || p[kl] != '=' || (p > s && p[-1] != ' ' && p[-1] != ';'))
            continue;
        const char *v = p + kl + 1, *ve;
        if (v < end && *v == '"') {
            v++;
            ve = memchr(v, '"', (size_t)(end - v));
            if (!ve)
                return -1;
        } else {
            ve = v;
            while (ve < end && *ve != ';' && *ve != ' ' && *ve != '\r')
                ve++;
        }
        if ((size_t)(ve - v) >= cap)
            return -1;
        memcpy(out, v, (size_t)(ve - v));
        out[ve - v] = '\0';
        return 1;
    }
    return 0;
}

int serve_multipart(const uint8_t *body, size_t len, const char *content_type, serve_part *parts,
                    int *n_parts, char *msg)
{
    *n_parts = 0;
    char boundary[80];
    if (!content_type || !has_prefix(content_type, strlen(content_type), "multipart/form-data"))
        return bad(msg, "Content-Type must be multipart/form-data");
    const char *ct_end = content_type + strlen(content_type);
    if (header_param(content_type, ct_end, "boundary", boundary + 2, sizeof boundary - 2) != 1 || !boundary[2])
        return bad(msg, "multipart/form-data without a usable boundary (1..70 characters)");
    boundary[0] = boundary[1] = '-';
    size_t bl = strlen(boundary);
    const uint8_t *end = body + len;
    const uint8_t *p = memmem(body, len, boundary, bl);
    if (!p)
        return bad(msg, "multipart body has no boundary line");
    for (;;) {
        p += bl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* closing boundary */
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            p += 2;
        else
            return bad(msg, "multipart: a boundary line is not followed by CRLF");
        const uint8_t *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end)
            return bad(msg, "multipart: part %d has no end of headers", *n_parts);
        if (*n_parts >= SERVE_MAX_PARTS)
            return bad(msg, "multipart: more than %d parts", SERVE_MAX_PARTS);
        serve_part *part = &parts[*n_parts];
        memset(part, 0, sizeof *part);
        for (const uint8_t *line = p; line < hdr_end;) {
            const uint8_t *eol = memmem(line, (size_t)(hdr_end + 2 - line), "\r\n", 2);
            const char *l = (const char *)line, *le = (const char *)eol;
            if (has_prefix(l, (size_t)(le - l), "content-disposition:")) {
                if (header_param(l, le, "name", part->name, sizeof part->name) < 0)
                    return bad(msg, "multipart: part %d has an unreadable or too long name", *n_parts);
                int f = header_param(l, le, "filename", part->filename, sizeof part->filename);
                if (f < 0)
                    return bad(msg, "multipart: part %d has an unreadable or too long filename", *n_parts);
                part->has_filename = f == 1;
            } else if (has_prefix(l, (size_t)(le - l), "content-type:")) {
                const char *v = l + 13;
                while (v < le && *v == ' ')
                    v++;
                snprintf(part->type, sizeof part->type, "%.*s", (int)(((size_t)(le - v)) < 63 ? ((size_t)(le - v)) : 63), v);
            }
            line = eol + 2;
        }
        if (!part->name[0])
            return bad(msg, "multipart: part %d has no Content-Disposition name", *n_parts);
        const uint8_t *data = hdr_end + 4;
        const uint8_t *next = NULL;
        for (const uint8_t *s = data; s < end;) {
            const uint8_t *hit = memmem(s, (size_t)(end - s), boundary, bl);
            if (!hit)
                break;
            if (hit - data >= 2 && hit[-2] == '\r' && hit[-1] == '\n') {
                next = hit;
                break;
            }
            s = hit + 1;
        }
        if (!next)
            return bad(msg, "multipart: part '%s' is not closed by a boundary (truncated body?)", part->name);
        part->data = data;
        part->len = (size_t)(next - 2 - data);
        (*n_parts)++;
        p = next;
    }
}

/* ---- generation settings ---- */

/* Reads a JSON number into [lo, hi]; integers only when `integer`. 0 absent, 1 read, 400 bad. */
static int json_number(const cJSON *o, const char *key, double lo, double hi, int integer, double *v, char *msg)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it))
        return 0;
    if (cJSON_IsBool(it) && integer) {
        *v = cJSON_IsTrue(it);
    } else if (!cJSON_IsNumber(it)) {
        return bad(msg, "\"%s\" must be a number", key);
    } else {
        *v = it->valuedouble;
    }
    if (!isfinite(*v) || *v < lo || *v > hi)
        return bad(msg, "\"%s\" = %g is out of range [%g, %g]", key, *v, lo, hi);
    if (integer && *v != floor(*v))
        return bad(msg, "\"%s\" must be an integer (got %g)", key, *v);
    return 1;
}

int serve_params_json(const void *obj, gitc_generate_params *p, char *msg)
{
    const cJSON *o = obj;
    if (!cJSON_IsObject(o))
        return bad(msg, "parameters must be a JSON object");
    double v;
    int r, max_len_set = 0, max_new_set = 0;
#define NUM(key, lo, hi, integer, action)                                   \
    if ((r = json_number(o, key, lo, hi, integer, &v, msg)) == 400) return 400; \
    if (r == 1) { action; }
    NUM("max_new_tokens", 1, 1e6, 1, p->max_new_tokens = (int)v; max_new_set = 1)
    NUM("max_length", 1, 1e6, 1, p->max_length = (int)v; max_len_set = 1)
    NUM("min_length", 0, 1e6, 1, p->min_length = (int)v)
    NUM("min_new_tokens", 0, 1e6, 1, p->min_new_tokens = (int)v)
    NUM("num_beams", 1, 64, 1, p->num_beams = (int)v)
    NUM("num_return_sequences", 1, 64, 1, p->num_return_sequences = (int)v)
    NUM("do_sample", 0, 1, 1, p->do_sample = (int)v)
    NUM("temperature", 0, 1e6, 0, p->temperature = (float)v)
    NUM("top_k", 0, 1e9, 1, p->top_k = (int)v)
    NUM("top_p", 0, 1, 0, p->top_p = (float)v)
    NUM("seed", 0, 9007199254740992.0, 1, p->seed = (uint64_t)v)
    NUM("repetition_penalty", 1e-6, 1e6, 0, p->repetition_penalty = (float)v)
    NUM("no_repeat_ngram_size", 0, 1e6, 1, p->no_repeat_ngram_size = (int)v)
    NUM("length_penalty", -1e6, 1e6, 0, p->length_penalty = (float)v)
#undef NUM
    if (max_len_set && !max_new_set)
        p->max_new_tokens = 0; /* as the CLI: an explicit max_length wins over the config's max_new_tokens */
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(o, "early_stopping");
    if (es && !cJSON_IsNull(es)) {
        if (cJSON_IsBool(es))
            p->early_stopping = cJSON_IsTrue(es) ? GITC_EARLY_STOPPING_TRUE : GITC_EARLY_STOPPING_FALSE;
        else if (cJSON_IsString(es) && !strcmp(es->valuestring, "never"))
            p->early_stopping = GITC_EARLY_STOPPING_NEVER;
        else
            return bad(msg, "\"early_stopping\" must be true, false or \"never\"");
    }
    return 0;
}

/* Parses a form value as a number in [lo, hi]. */
static int field_number(const char *name, const char *value, size_t len, double lo, double hi, int integer,
                        double *v, char *msg)
{
    char buf[64];
    if (len >= sizeof buf)
        return bad(msg, "%s: value too long", name);
    memcpy(buf, value, len);
    buf[len] = '\0';
    char *end = NULL;
    *v = strtod(buf, &end);
    if (end == buf || *end || !isfinite(*v))
        return bad(msg, "%s: '%s' is not a number", name, buf);
    if (*v < lo || *v > hi || (integer && *v != floor(*v)))
        return bad(msg, "%s: %s must be %s in [%g, %g]", name, buf, integer ? "an integer" : "a number", lo, hi);
    return 0;
}

int serve_param_field(const char *name, const char *value, size_t len, gitc_generate_params *p, char *msg)
{
    static const struct {
        const char *name;
        double lo, hi;
        int integer;
    } fields[] = {
        {"max-length", 1, 1e6, 1},     {"max-new-tokens", 1, 1e6, 1}, {"min-length", 0, 1e6, 1},
        {"min-new-tokens", 0, 1e6, 1}, {"beams", 1, 64, 1},           {"num-beams", 1, 64, 1},
        {"length-penalty", -1e6, 1e6, 0}, {"temperature", 1e-6, 1e6, 0}, {"top-k", 0, 1e9, 1},
        {"top-p", 1e-9, 1, 0},         {"seed", 0, 9007199254740992.0, 1},
        {"repetition-penalty", 1e-6, 1e6, 0}, {"no-repeat-ngram-size", 0, 1e6, 1},
        {"num-return-sequences", 1, 64, 1},
    };
    if (!strcmp(name, "sample")) {
        /* A checkbox: present means on, unless it says 0/false/off. */
        p->do_sample = !(len == 1 && value[0] == '0') && !(len == 5 && !strncasecmp(value, "false", 5)) &&
                       !(len == 3 && !strncasecmp(value, "off", 3));
        return 0;
    }
    if (!strcmp(name, "early-stopping")) {
        if (len == 4 && !strncmp(value, "true", 4)) p->early_stopping = GITC_EARLY_STOPPING_TRUE;
        else if (len == 5 && !strncmp(value, "false", 5)) p->early_stopping = GITC_EARLY_STOPPING_FALSE;
        else if (len == 5 && !strncmp(value, "never", 5)) p->early_stopping = GITC_EARLY_STOPPING_NEVER;
        else if (len) return bad(msg, "early-stopping must be true, false or never");
        return 0;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(name, fields[i].name))
            continue;
        if (len == 0)
            return 0; /* an empty form input keeps the default */
        double v = 0;
        if (field_number(name, value, len, fields[i].lo, fields[i].hi, fields[i].integer, &v, msg))
            return 400;
        switch (i) {
        case 0: p->max_length = (int)v; p->max_new_tokens = 0; break;
        case 1: p->max_new_tokens = (int)v; break;
        case 2: p->min_length = (int)v; break;
        case 3: p->min_new_tokens = (int)v; break;
        case 4: case 5: p->num_beams = (int)v; break;
        case 6: p->length_penalty = (float)v; break;
        case 7: p->temperature = (float)v; break;
        case 8: p->top_k = (int)v; break;
        case 9: p->top_p = (float)v; break;
        case 10: p->seed = (uint64_t)v; break;
        case 11: p->repetition_penalty = (float)v; break;
        case 12: p->no_repeat_ngram_size = (int)v; break;
        default: p->num_return_sequences = (int)v; break;
        }
        return 0;
    }
    return -1;
}

/* ---- request bodies ---- */

/* Parses a JSON body; the caller deletes the result. */
static int parse_json(const uint8_t *body, size_t len, cJSON **root, char *msg)
{
    *root = NULL;
    if (len == 0)
        return bad(msg, "empty body: a JSON object is expected");
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)body, len, &end, 0);
    if (!j) {
        size_t at = end && end >= (const char *)body ? (size_t)(end - (const char *)body) : 0;
        return bad(msg, "invalid JSON at byte %zu of %zu", at, len);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return bad(msg, "the JSON body must be an object");
    }
    *root = j;
    return 0;
}

static int looks_like_json(const uint8_t *body, size_t len, const char *content_type)
{
    if (content_type && has_prefix(content_type, strlen(content_type), "application/json"))
        return 1;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    return i < len && body[i] == '{';
}

/* The visual-question-answering task's inputs: {"question": "...", "image": "<base64 or data URL>"}. */
static int hf_vqa_inputs(const cJSON *inputs, serve_request *out, char *msg)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(inputs, "question");
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(inputs, "image");
    if (!cJSON_IsString(q) || !q->valuestring[0])
        return bad(msg, "\"inputs\".\"question\" must be a non-empty string");
    if (!cJSON_IsString(img))
        return bad(msg, "\"inputs\".\"image\" must be a string (the image as base64 or a data: URL)");
    if (serve_image_ref(img->valuestring, strlen(img->valuestring), "inputs.image", &out->images[0], msg))
        return 400;
    out->n_images = 1;
    out->question = strdup(q->valuestring);
    if (!out->question)
        return bad(msg, "out of memory");
    out->hf_vqa = 1;
    return 0;
}

int serve_parse_hf(const uint8_t *body, size_t len, const char *content_type,
                   const gitc_generate_params *base, serve_request *out, char *msg)
{
    memset(out, 0, sizeof *out);
    out->params = *base;
    out->n = 1;
    if (!looks_like_json(body, len, content_type)) {
        if (len == 0)
            return bad(msg, "empty body: send the image bytes, or JSON {\"inputs\": \"<base64>\"}");
        out->images[0] = (serve_blob){.data = body, .len = len};
        snprintf(out->images[0].name, sizeof out->images[0].name, "body");
        out->n_images = 1;
        return 0;
    }
    cJSON *root;
    if (parse_json(body, len, &root, msg))
        return 400;
    int st = 0;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (!inputs)
        st = bad(msg, "missing field \"inputs\" (the image as base64 or a data: URL)");
    else if (cJSON_IsObject(inputs))
        st = hf_vqa_inputs(inputs, out, msg);
    else if (!cJSON_IsString(inputs))
        st = bad(msg, "\"inputs\" must be a string (the image as base64 or a data: URL) or, to ask a question, "
                      "an object {\"question\", \"image\"}");
    else if ((st = serve_image_ref(inputs->valuestring, strlen(inputs->valuestring), "inputs", &out->images[0], msg)) == 0)
        out->n_images = 1;
    if (!st && params && !cJSON_IsNull(params)) {
        st = serve_params_json(params, &out->params, msg);
        /* transformers' kwargs as the HF clients nest them */
        const char *nested[] = {"generate_kwargs", "generation_parameters"};
        for (int i = 0; i < 2 && !st && cJSON_IsObject(params); i++) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(params, nested[i]);
            if (n && !cJSON_IsNull(n))
                st = serve_params_json(n, &out->params, msg);
        }
    }
    cJSON_Delete(root);
    if (st)
        serve_request_free(out);
    return st;
}

/* Appends a text part to the question (parts joined with a space). */
static int add_text(serve_request *out, const char *text, char *msg)
{
    size_t have = out->question ? strlen(out->question) : 0, n = strlen(text);
    if (n == 0)
        return 0;
    char *q = realloc(out->question, have + n + 2);
    if (!q)
        return bad(msg, "out of memory");
    if (have)
        q[have++] = ' ';
    memcpy(q + have, text, n + 1);
    out->question = q;
    return 0;
}

/* 1 when a message's content has an image_url part. */
static int has_image(const cJSON *message)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content"), *part;
    if (!cJSON_IsArray(content))
        return 0;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "image_url"))
            return 1;
    }
    return 0;
}

/* The parts of one user message: its text parts when `texts`, its image_url parts when `images`. */
static int chat_content(const cJSON *content, int texts, int images, serve_request *out, char *msg)
{
    if (cJSON_IsString(content))
        return texts ? add_text(out, content->valuestring, msg) : 0;
    if (!cJSON_IsArray(content))
        return bad(msg, "\"content\" must be a string or an array of parts");
    int i = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsString(type))
            return bad(msg, "content part %d has no \"type\"", i);
        if (!strcmp(type->valuestring, "text")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(t))
                return bad(msg, "content part %d: \"text\" must be a string", i);
            if (texts && add_text(out, t->valuestring, msg))
                return 400;
        } else if (!strcmp(type->valuestring, "image_url")) {
            const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
            const cJSON *url = cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
            if (!cJSON_IsString(url))
                return bad(msg, "content part %d: \"image_url\" needs a \"url\" string", i);
            if (!images) {
                i++;
                continue;
            }
            if (out->n_images >= SERVE_MAX_IMAGES)
                return bad(msg, "more than %d images in one message", SERVE_MAX_IMAGES);
            char what[48];
            snprintf(what, sizeof what, "content part %d image_url", i);
            if (serve_image_ref(url->valuestring, strlen(url->valuestring), what, &out->images[out->n_images], msg))
                return 400;
            out->n_images++;
        } else {
            return bad(msg, "content part %d: type \"%.32s\" is not supported (text, image_url)", i,
                       type->valuestring);
        }
        i++;
    }
    return 0;
}

int serve_parse_chat(const uint8_t *body, size_t len, const gitc_generate_params *base, serve_request *out,
                     char *msg)
{
    memset(out, 0, sizeof *out);
    out->params = *base;
    out->n = 1;
    cJSON *root;
    if (parse_json(body, len, &root, msg))
        return 400;
    int st = 0;
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *user = NULL, *with_image = NULL, *m;
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        st = bad(msg, "missing field \"messages\" (a non-empty array)");
        goto done;
    }
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            st = bad(msg, "every message needs a \"role\" string");
            goto done;
        }
        if (!strcmp(role->valuestring, "user")) {
            user = m;
            if (has_image(m))
                with_image = m;
        }
    }
    if (!user) {
        st = bad(msg, "no message with role \"user\"");
        goto done;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(user, "content");
    if (!content) {
        st = bad(msg, "the user message has no \"content\"");
        goto done;
    }
    /* The question of the last user message, about the most recent image sent. */
    if ((st = chat_content(content, 1, with_image == user, out, msg)))
        goto done;
    if (with_image && with_image != user &&
        (st = chat_content(cJSON_GetObjectItemCaseSensitive(with_image, "content"), 0, 1, out, msg)))
        goto done;
    if (out->n_images == 0) {
        st = bad(msg, "no user message has an image: add an image_url part with a data: URL");
        goto done;
    }
    /* transformers' names first (extensions), then the OpenAI ones. */
    if ((st = serve_params_json(root, &out->params, msg)))
        goto done;
    double v;
    int r;
    const char *max_keys[] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < 2; i++) {
        if ((r = json_number(root, max_keys[i], 1, 1e6, 1, &v, msg)) == 400) {
            st = 400;
            goto done;
        }
        if (r == 1)
            out->params.max_new_tokens = (int)v;
    }
    const cJSON *do_sample = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if ((r = json_number(root, "temperature", 0, 1e6, 0, &v, msg)) == 400) {
        st = 400;
        goto done;
    }
    if (r == 1 && !do_sample) {
        out->params.do_sample = v > 0;
        if (v == 0)
            out->params.temperature = 1.0f;
    }
    if ((r = json_number(root, "n", 1, 64, 1, &v, msg)) == 400) {
        st = 400;
        goto done;
    }
    if (r == 1)
        out->n = (int)v;
    out->params.num_return_sequences = out->n;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream && !cJSON_IsNull(stream)) {
        if (!cJSON_IsBool(stream)) {
            st = bad(msg, "\"stream\" must be true or false");
            goto done;
        }
        out->stream = cJSON_IsTrue(stream);
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        const cJSON *iu = cJSON_IsObject(so) ? cJSON_GetObjectItemCaseSensitive(so, "include_usage") : NULL;
        if (!cJSON_IsObject(so) || (iu && !cJSON_IsNull(iu) && !cJSON_IsBool(iu))) {
            st = bad(msg, "\"stream_options\" must be an object whose \"include_usage\" is true or false");
            goto done;
        }
        out->include_usage = cJSON_IsTrue(iu);
    }
done:
    cJSON_Delete(root);
    if (st)
        serve_request_free(out);
    return st;
}

int serve_parse_caption(const uint8_t *body, size_t len, const char *content_type,
                        const gitc_generate_params *base, serve_request *out, char *msg)
{
    memset(out, 0, sizeof *out);
    out->params = *base;
    out->n = 1;
    serve_part *parts = malloc(SERVE_MAX_PARTS * sizeof *parts);
    if (!parts)
        return bad(msg, "out of memory");
    int n = 0, st = serve_multipart(body, len, content_type, parts, &n, msg);
    for (int i = 0; i < n && !st; i++) {
        serve_part *pt = &parts[i];
        if (pt->has_filename) {
            if (pt->len == 0)
                continue; /* an empty file input of a form */
            if (out->n_images >= SERVE_MAX_IMAGES) {
                st = bad(msg, "more than %d files in one request", SERVE_MAX_IMAGES);
                break;
            }
            serve_blob *b = &out->images[out->n_images++];
            *b = (serve_blob){.data = pt->data, .len = pt->len};
            snprintf(b->name, sizeof b->name, "%s", pt->filename[0] ? pt->filename : pt->name);
            snprintf(b->type, sizeof b->type, "%s", pt->type);
        } else if (!strcmp(pt->name, "question")) {
            if (memchr(pt->data, '\0', pt->len)) {
                st = bad(msg, "question: contains a NUL byte");
                break;
            }
            free(out->question);
            out->question = NULL;
            if (pt->len) {
                out->question = malloc(pt->len + 1);
                if (!out->question) {
                    st = bad(msg, "out of memory");
                    break;
                }
                memcpy(out->question, pt->data, pt->len);
                out->question[pt->len] = '\0';
            }
        } else {
            int r = serve_param_field(pt->name, (const char *)pt->data, pt->len, &out->params, msg);
            if (r == -1 && (!strcmp(pt->name, "image") || !strcmp(pt->name, "video") || !strcmp(pt->name, "frame")))
                st = bad(msg, "form field '%s' must be a file, not text: with curl, -F %s=@photo.jpg (the '@' "
                              "uploads the file)", pt->name, pt->name);
            else if (r == -1)
                st = bad(msg, "unknown form field '%s' (files, question, and the CLI's decoding options)", pt->name);
            else
                st = r;
        }
    }
    if (!st && out->n_images == 0)
        st = bad(msg, "no file in the form: upload an image (a form field with a filename)");
    free(parts);
    if (st)
        serve_request_free(out);
    return st;
}

int serve_secret_equal(const char *given, size_t given_len, const char *secret)
{
    size_t n = strlen(secret);
    volatile unsigned char diff = given_len != n;
    for (size_t i = 0; i < n; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)secret[i];
    }
    return diff == 0;
}
