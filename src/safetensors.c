/* Safetensors reading: mmap + header validation (the library never writes
 * a model; the tools' writer is tools/tensor_file.c). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[ST_N_DTYPES] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2},   [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};

size_t gitci_st_dtype_size(st_dtype dtype) { return dtype_info[dtype].size; }

const char *gitci_st_dtype_name(st_dtype dtype) { return dtype_info[dtype].name; }

static int dtype_parse(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_N_DTYPES; i++) {
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (st_dtype)i;
            return 1;
        }
    }
    return 0;
}

void gitci_st_shape_string(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (int i = 0; i < ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
}

static int cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    return (px > py) - (px < py);
}

void gitci_st_close(st_file *file)
{
    if (!file)
        return;
    for (int i = 0; i < file->n_tensors; i++)
        free(file->tensors[i].name);
    free(file->tensors);
    if (file->map)
        munmap(file->map, file->map_size);
    free(file->path);
    free(file);
}

/* The number of keys of the top-level object of JSON text (strings skipped),
 * counted before the parser builds a node per entry. */
static size_t count_top_level_keys(const char *s, size_t n)
{
    size_t keys = 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ':' && depth == 1) {
            keys++;
        }
    }
    return keys;
}

/* Parses one header entry into t; `data` is the start of the data section of `data_size` bytes. */
static gitc_status parse_entry(const char *path, const cJSON *item, const uint8_t *data,
                               uint64_t data_size, st_tensor *t, gitc_error *err)
{
    const char *name = item->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) ||
        !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: tensor %s: header entry needs dtype, shape and data_offsets", path,
                          name);
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: tensor %s: unknown dtype \"%s\"", path,
                          name, dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: %d dimensions (at most %d)", path,
                          name, nd, ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: bad shape entry", path, name);
        t->shape[i] = (int64_t)d->valuedouble;
        if (t->shape[i] && numel > UINT64_MAX / (uint64_t)t->shape[i] / 8)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: shape too large", path, name);
        numel *= (uint64_t)t->shape[i];
    }
    t->numel = (int64_t)numel;
    const cJSON *ob = cJSON_GetArrayItem(offs, 0), *oe = cJSON_GetArrayItem(offs, 1);
    if (!cJSON_IsNumber(ob) || !cJSON_IsNumber(oe))
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: data_offsets are not numbers", path,
                          name);
    double b = ob->valuedouble, e = oe->valuedouble;
    if (!(b >= 0 && e >= b) || b != floor(b) || e != floor(e))
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: tensor %s: data_offsets [%.17g,%.17g] are not a range of byte offsets",
                          path, name, b, e);
    /* Range before the conversion: a double beyond uint64_t's range is undefined to convert. */
    if (e > (double)data_size)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: tensor %s: data_offsets [%.17g,%.17g] past the end of the data (%llu bytes)",
                          path, name, b, e, (unsigned long long)data_size);
    uint64_t begin = (uint64_t)b, end = (uint64_t)e;
    if (end > data_size)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: tensor %s: data_offsets [%llu,%llu] past the end of the data (%llu bytes)",
                          path, name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)data_size);
    if (end - begin != numel * gitci_st_dtype_size(t->dtype)) {
        char s[128];
        gitci_st_shape_string(t->shape, nd, s, sizeof s);
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: tensor %s: %llu bytes for shape %s of %s (expected %llu)", path, name,
                          (unsigned long long)(end - begin), s, gitci_st_dtype_name(t->dtype),
                          (unsigned long long)(numel * gitci_st_dtype_size(t->dtype)));
    }
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    t->name = strdup(name);
    if (!t->name)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    return GITC_OK;
}

gitc_status gitci_st_open(const char *path, st_file **out, gitc_error *err)
{
    *out = NULL;
    gitc_status s = GITC_OK;
    cJSON *root = NULL;
    char *header = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        s = gitci_fail(err, GITC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        s = gitci_fail(err, GITC_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_size < 8) {
        close(fd);
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: truncated: %lld bytes, no safetensors header",
                       path, (long long)st.st_size);
        goto done;
    }
    f->map_size = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        s = gitci_fail(err, GITC_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        goto done;
    }
    const uint8_t *bytes = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | bytes[i];
    if (hlen > f->map_size - 8) {
        s = gitci_fail(err, GITC_ERR_FORMAT,
                       "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                       (unsigned long long)hlen, f->map_size);
        goto done;
    }
    if (hlen > ST_MAX_HEADER_BYTES) {
        s = gitci_fail(err, GITC_ERR_LIMIT, "%s: header length %llu is over the limit of %d bytes",
                       path, (unsigned long long)hlen, ST_MAX_HEADER_BYTES);
        goto done;
    }
    header = malloc(hlen + 1);
    if (!header) {
        s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        goto done;
    }
    memcpy(header, bytes + 8, hlen);
    header[hlen] = 0;
    size_t n_keys = count_top_level_keys(header, hlen);
    if (n_keys > ST_MAX_TENSORS + 1) { /* + __metadata__ */
        s = gitci_fail(err, GITC_ERR_LIMIT, "%s: header lists %zu entries, more than the limit of %d tensors",
                       path, n_keys, ST_MAX_TENSORS);
        goto done;
    }
    s = gitci_json_parse(header, hlen, path, &root, err);
    if (s != GITC_OK)
        goto done;
    if (!cJSON_IsObject(root)) {
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto done;
    }
    int n = 0;
    for (cJSON *it = root->child; it; it = it->next)
        n += strcmp(it->string, "__metadata__") != 0;
    if (n > ST_MAX_TENSORS) {
        s = gitci_fail(err, GITC_ERR_LIMIT, "%s: header lists %d tensors, more than the limit of %d",
                       path, n, ST_MAX_TENSORS);
        goto done;
    }
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        goto done;
    }
    const uint8_t *data = bytes + 8 + hlen;
    uint64_t data_size = f->map_size - 8 - hlen;
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0)
            continue;
        s = parse_entry(path, it, data, data_size, &f->tensors[f->n_tensors], err);
        if (s != GITC_OK)
            goto done;
        f->n_tensors++;
    }
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_offset);
    for (int i = 1; i < f->n_tensors; i++) {
        const st_tensor *a = &f->tensors[i - 1], *b = &f->tensors[i];
        if ((const uint8_t *)a->data + a->nbytes > (const uint8_t *)b->data) {
            s = gitci_fail(err, GITC_ERR_FORMAT, "%s: tensors %s and %s overlap in the data", path,
                           a->name, b->name);
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    free(header);
    if (s != GITC_OK) {
        gitci_st_close(f);
        return s;
    }
    *out = f;
    return GITC_OK;
}

const st_tensor *gitci_st_find(const st_file *file, const char *name)
{
    for (int i = 0; i < file->n_tensors; i++)
        if (strcmp(file->tensors[i].name, name) == 0)
            return &file->tensors[i];
    return NULL;
}

gitc_status gitci_st_to_f32(const st_file *file, const st_tensor *t, float *out, gitc_error *err)
{
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case ST_F32: memcpy(&out[i], p + 4 * i, 4); break;
        case ST_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = gitci_f16_to_f32(h);
            break;
        }
        case ST_BF16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = gitci_bf16_to_f32(h);
            break;
        }
        case ST_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
            break;
        }
        default:
            return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: tensor %s: dtype %s is not a float type",
                              file->path, t->name, gitci_st_dtype_name(t->dtype));
        }
    }
    return GITC_OK;
}
