/* Error reporting, file helpers and number conversions used across the library. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void gitc_free(void *ptr) { free(ptr); }

void *gitci_alloc_large(size_t bytes)
{
    size_t huge = (size_t)2 << 20, align = bytes >= huge ? huge : 64;
    if (bytes > SIZE_MAX - align)
        return NULL;
    size_t size = bytes ? (bytes + align - 1) / align * align : align;
    void *p = aligned_alloc(align, size);
#ifdef MADV_HUGEPAGE
    if (p && align == huge)
        madvise(p, size, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    return p;
}

#if defined(__SANITIZE_ADDRESS__)
#define GITC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GITC_ASAN 1
#endif
#endif

/* What a mapping of gitci_calloc_large is, just before the buffer. */
typedef struct large_head {
    void *base;
    size_t len;
} large_head;

void *gitci_calloc_large(size_t bytes)
{
    size_t huge = (size_t)2 << 20;
    if (bytes > SIZE_MAX / 2 - 3 * huge)
        return NULL;
#ifdef GITC_ASAN
    void *q = gitci_alloc_large(bytes);
    if (q)
        memset(q, 0, bytes);
    return q;
#else
    size_t len = bytes + 3 * huge;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)base + sizeof(large_head) + huge - 1) & ~(uintptr_t)(huge - 1));
    large_head h = {base, len};
    memcpy(p - sizeof h, &h, sizeof h);
#ifdef MADV_HUGEPAGE
    if (bytes >= huge)
        madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
    return p;
#endif
}

void gitci_free_large(void *p)
{
    if (!p)
        return;
#ifdef GITC_ASAN
    free(p);
#else
    large_head h;
    memcpy(&h, (char *)p - sizeof h, sizeof h);
    munmap(h.base, h.len);
#endif
}

const char *gitc_status_string(gitc_status status)
{
    switch (status) {
    case GITC_OK: return "success";
    case GITC_ERR_IO: return "I/O error";
    case GITC_ERR_FORMAT: return "malformed input";
    case GITC_ERR_UNSUPPORTED: return "unsupported";
    case GITC_ERR_SHAPE: return "shape mismatch";
    case GITC_ERR_ARGUMENT: return "invalid argument";
    case GITC_ERR_LIMIT: return "limit exceeded";
    case GITC_ERR_MEMORY: return "out of memory";
    case GITC_ERR_ABORTED: return "aborted";
    }
    return "unknown status";
}

gitc_status gitci_fail(gitc_error *err, gitc_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void gitci_error_prefix(gitc_error *err, const char *prefix)
{
    if (!err || !prefix)
        return;
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof err->message)
        n = sizeof err->message - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t room = sizeof err->message - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->message + n + 2, old, m);
    err->message[n + 2 + m] = 0;
}

gitc_status gitci_read_file(const char *path, char **data, size_t *size, gitc_error *err)
{
    return gitci_read_file_max(path, SIZE_MAX - 1, data, size, err);
}

gitc_status gitci_read_file_max(const char *path, size_t max_bytes, char **data, size_t *size,
                                gitc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return gitci_fail(err, GITC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gitci_fail(err, GITC_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: %lld bytes, more than the limit of %zu for this file",
                          path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return gitci_fail(err, GITC_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    if (size)
        *size = n;
    return GITC_OK;
}

gitc_status gitci_json_parse_config(const char *text, size_t len, const char *name, cJSON **out,
                                    gitc_error *err)
{
    if (len > GITC_CONFIG_MAX_BYTES)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: %zu bytes, more than the limit of %zu for this file",
                          name, len, GITC_CONFIG_MAX_BYTES);
    return gitci_json_parse(text, len, name, out, err);
}

gitc_status gitci_json_parse(const char *text, size_t len, const char *name, cJSON **out,
                             gitc_error *err)
{
    *out = NULL;
    /* Depth scan (strings skipped, escapes honoured) before cJSON recurses. */
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            if (++depth > GITC_JSON_MAX_DEPTH)
                return gitci_fail(err, GITC_ERR_LIMIT,
                                  "%s: JSON nested deeper than %d levels (at byte %zu)", name,
                                  GITC_JSON_MAX_DEPTH, i);
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!json)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: malformed JSON near byte %zu", name,
                          end && end >= text ? (size_t)(end - text) : (size_t)0);
    *out = json;
    return GITC_OK;
}

int gitci_json_literal(const char *text, size_t len, const char *parent, const char *key, char *buf,
                       size_t size)
{
    int depth = 0, in_parent = parent == NULL, want = parent ? 2 : 1;
    size_t keylen = strlen(key), parentlen = parent ? strlen(parent) : 0;
    if (size)
        buf[0] = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == '"') {
            size_t start = ++i;
            for (; i < len && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
            if (i >= len)
                return 0;
            size_t n = i - start, j = i + 1;
            while (j < len && isspace((unsigned char)text[j]))
                j++;
            if (j >= len || text[j] != ':')
                continue; /* a string value, not a key */
            if (parent && depth == 1) {
                in_parent = n == parentlen && memcmp(text + start, parent, n) == 0;
            } else if (depth == want && in_parent && n == keylen &&
                       memcmp(text + start, key, n) == 0) {
                for (j++; j < len && isspace((unsigned char)text[j]); j++)
                    ;
                size_t k = 0;
                while (j < len && k + 1 < size && !strchr(",}] \t\r\n", text[j]) && text[j])
                    buf[k++] = text[j++];
                if (size)
                    buf[k] = 0;
                return k > 0;
            }
        }
    }
    return 0;
}

char *gitci_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int gitci_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

float gitci_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float gitci_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
