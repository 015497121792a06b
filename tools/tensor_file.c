/* Safetensors reading and writing for the tools (see tensor_file.h). */
#include "tensor_file.h"
#include "tool_files.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[TF_N_DTYPES] = {
    [TF_F32] = {"F32", 4}, [TF_F16] = {"F16", 2}, [TF_BF16] = {"BF16", 2}, [TF_F64] = {"F64", 8},
    [TF_I64] = {"I64", 8}, [TF_I32] = {"I32", 4}, [TF_I16] = {"I16", 2},   [TF_I8] = {"I8", 1},
    [TF_U8] = {"U8", 1},   [TF_BOOL] = {"BOOL", 1},
};

size_t tf_dtype_size(tf_dtype dtype) { return dtype_info[dtype].size; }

const char *tf_dtype_name(tf_dtype dtype) { return dtype_info[dtype].name; }

int tf_dtype_parse(const char *name, tf_dtype *out)
{
    for (int i = 0; i < TF_N_DTYPES; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (tf_dtype)i;
            return 1;
        }
    }
    return 0;
}

/* ---- reader ---- */

void tf_close(tf_file *file)
{
    if (!file)
        return;
    for (int i = 0; i < file->n_tensors; i++)
        free(file->tensors[i].name);
    free(file->tensors);
    free(file->bytes);
    free(file->path);
    free(file);
}

/* A JSON number that is an integer in [0, max], into *out; 0 when it is not. */
static int json_count(const cJSON *v, double max, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > max ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (int64_t)v->valuedouble;
    return 1;
}

/* Checks one header entry and fills t (its name not yet set); data is the data section. */
static gitc_status read_entry(const char *path, const cJSON *e, const char *data, size_t data_size, tf_tensor *t,
                              gitc_error *err)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return tool_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: needs dtype, shape and data_offsets [begin, end]",
                         path, e->string);
    if (!tf_dtype_parse(dt->valuestring, &t->dtype))
        return tool_fail(err, GITC_ERR_UNSUPPORTED, "%s: tensor %s: unknown dtype %s", path, e->string,
                         dt->valuestring);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > TF_MAX_DIMS)
        return tool_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: %d dimensions, at most %d", path, e->string,
                         t->ndim, TF_MAX_DIMS);
    /* numel * size stays below 2^62: no dimension or product past the file's size. */
    double limit = (double)data_size + 1;
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (!json_count(cJSON_GetArrayItem(shape, d), 4e18, &t->shape[d]))
            return tool_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: dimension %d is not a count", path, e->string,
                             d);
        if (t->shape[d] && (double)t->numel * (double)t->shape[d] > limit)
            t->numel = (int64_t)limit; /* too large for the file: the range check below says so */
        else
            t->numel *= t->shape[d];
    }
    int64_t begin, end;
    if (!json_count(cJSON_GetArrayItem(offs, 0), (double)data_size, &begin) ||
        !json_count(cJSON_GetArrayItem(offs, 1), (double)data_size, &end) || end < begin)
        return tool_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: data_offsets outside the %zu data bytes", path,
                         e->string, data_size);
    t->nbytes = (size_t)t->numel * tf_dtype_size(t->dtype);
    if ((double)t->numel * (double)tf_dtype_size(t->dtype) != (double)(end - begin))
        return tool_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: shape and dtype give %.0f bytes, data_offsets %lld",
                         path, e->string, (double)t->numel * (double)tf_dtype_size(t->dtype),
                         (long long)(end - begin));
    t->data = data + begin;
    return GITC_OK;
}

gitc_status tf_open(const char *path, tf_file **out, gitc_error *err)
{
    *out = NULL;
    tf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return tool_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    cJSON *root = NULL;
    gitc_status st = tool_read_file(path, TF_MAX_FILE_BYTES, &f->bytes, &f->size, err);
    if (st != GITC_OK)
        goto fail;
    uint64_t hlen = 0;
    for (int i = 0; f->size >= 8 && i < 8; i++)
        hlen |= (uint64_t)(uint8_t)f->bytes[i] << (8 * i);
    if (f->size < 8 || hlen > TF_MAX_HEADER_BYTES || hlen > f->size - 8) {
        st = tool_fail(err, GITC_ERR_FORMAT, "%s: not a safetensors file (header length %llu, file %zu bytes)",
                       path, (unsigned long long)hlen, f->size);
        goto fail;
    }
    root = cJSON_ParseWithLength(f->bytes + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        st = tool_fail(err, GITC_ERR_FORMAT, "%s: the header is not a JSON object", path);
        goto fail;
    }
    const char *data = f->bytes + 8 + hlen;
    size_t data_size = f->size - 8 - (size_t)hlen;
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!f->tensors) {
        st = tool_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        tf_tensor *t = &f->tensors[f->n_tensors];
        if ((st = read_entry(path, e, data, data_size, t, err)) != GITC_OK)
            goto fail;
        if (!(t->name = strdup(e->string))) {
            st = tool_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
            goto fail;
        }
        f->n_tensors++;
    }
    cJSON_Delete(root);
    *out = f;
    return GITC_OK;
fail:
    cJSON_Delete(root);
    tf_close(f);
    return st;
}

const tf_tensor *tf_find(const tf_file *file, const char *name)
{
    for (int i = 0; i < file->n_tensors; i++)
        if (strcmp(file->tensors[i].name, name) == 0)
            return &file->tensors[i];
    return NULL;
}

/* IEEE half to float32 (exact). */
static float f16_to_f32(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

gitc_status tf_to_f32(const tf_file *file, const tf_tensor *t, float *out, gitc_error *err)
{
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case TF_F32:
            memcpy(&out[i], p + 4 * i, 4);
            break;
        case TF_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = f16_to_f32(h);
            break;
        }
        case TF_BF16: {
            uint16_t b;
            memcpy(&b, p + 2 * i, 2);
            uint32_t bits = (uint32_t)b << 16;
            memcpy(&out[i], &bits, 4);
            break;
        }
        case TF_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
            break;
        }
        default:
            return tool_fail(err, GITC_ERR_UNSUPPORTED, "%s: tensor %s: dtype %s is not a float type", file->path,
                             t->name, tf_dtype_name(t->dtype));
        }
    }
    return GITC_OK;
}

/* ---- writer ---- */

typedef struct tf_entry {
    char *name;
    tf_dtype dtype;
    int ndim;
    int64_t shape[TF_MAX_DIMS];
    void *data;
    size_t nbytes;
} tf_entry;

struct tf_writer {
    tf_entry *entries;
    int n, cap;
};

tf_writer *tf_writer_new(void) { return calloc(1, sizeof(tf_writer)); }

void tf_writer_free(tf_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    free(w->entries);
    free(w);
}

gitc_status tf_writer_add(tf_writer *w, const char *name, tf_dtype dtype, int ndim, const int64_t *shape,
                          const void *data, gitc_error *err)
{
    if (ndim > TF_MAX_DIMS)
        return tool_fail(err, GITC_ERR_ARGUMENT, "tensor %s: too many dimensions", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        tf_entry *e = realloc(w->entries, (size_t)cap * sizeof *e);
        if (!e)
            return tool_fail(err, GITC_ERR_MEMORY, "out of memory");
        w->entries = e;
        w->cap = cap;
    }
    tf_entry *e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    e->nbytes = numel * tf_dtype_size(dtype);
    e->name = strdup(name);
    e->data = data ? malloc(e->nbytes ? e->nbytes : 1) : NULL;
    if (!e->name || (data && !e->data)) {
        free(e->name);
        free(e->data);
        return tool_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    if (data && e->nbytes)
        memcpy(e->data, data, e->nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    w->n++;
    return GITC_OK;
}

/* The header: JSON of names, dtypes, shapes and offsets, space-padded to a
 * multiple of 8 so the data stays aligned. Caller frees. */
static char *writer_header(const tf_writer *w, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    size_t offset = 0;
    for (int i = 0; root && i < w->n; i++) {
        const tf_entry *e = &w->entries[i];
        cJSON *o = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = o ? cJSON_AddArrayToObject(o, "shape") : NULL;
        cJSON *offs = o ? cJSON_AddArrayToObject(o, "data_offsets") : NULL;
        if (!shape || !offs || !cJSON_AddStringToObject(o, "dtype", tf_dtype_name(e->dtype))) {
            cJSON_Delete(root);
            return NULL;
        }
        for (int d = 0; d < e->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + e->nbytes)));
        offset += e->nbytes;
    }
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json)
        return NULL;
    size_t hlen = strlen(json);
    size_t padded = (hlen + 7) & ~(size_t)7;
    char *header = realloc(json, padded + 1);
    if (!header) {
        free(json);
        return NULL;
    }
    memset(header + hlen, ' ', padded - hlen);
    header[padded] = '\0';
    *len = padded;
    return header;
}

gitc_status tf_writer_write_stream(tf_writer *w, const char *path, tf_fill_fn fill, void *user, gitc_error *err)
{
    size_t biggest = 0;
    for (int i = 0; i < w->n; i++) {
        if (!w->entries[i].data && !fill)
            return tool_fail(err, GITC_ERR_ARGUMENT, "%s: tensor %s has no data", path, w->entries[i].name);
        if (!w->entries[i].data && w->entries[i].nbytes > biggest)
            biggest = w->entries[i].nbytes;
    }
    size_t hlen = 0;
    char *header = writer_header(w, &hlen);
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    void *buf = biggest ? malloc(biggest) : NULL;
    if (!header || !tmp || (biggest && !buf)) {
        free(header);
        free(tmp);
        free(buf);
        return tool_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    gitc_status st = GITC_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = tool_fail(err, GITC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    uint8_t hl[8];
    for (int i = 0; i < 8; i++)
        hl[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(hl, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
    for (int i = 0; ok && st == GITC_OK && i < w->n; i++) {
        const tf_entry *e = &w->entries[i];
        const void *data = e->data;
        if (!data) {
            st = fill(user, i, buf, e->nbytes, err);
            data = buf;
        }
        if (st == GITC_OK)
            ok = fwrite(data, 1, e->nbytes, f) == e->nbytes;
    }
    ok = (fclose(f) == 0) && ok;
    if (st == GITC_OK && (!ok || rename(tmp, path) != 0))
        st = tool_fail(err, GITC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st != GITC_OK)
        remove(tmp);
done:
    free(header);
    free(tmp);
    free(buf);
    return st;
}

gitc_status tf_writer_write(tf_writer *w, const char *path, gitc_error *err)
{
    return tf_writer_write_stream(w, path, NULL, NULL, err);
}
