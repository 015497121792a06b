/* Tensor sources (see tensors.h): folder rules, shards, strided conversion. */
#include "pytorch.h"
#include "tensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gitci_tensors_format_name(tensor_format f)
{
    return f == TENSORS_PYTORCH ? "pytorch" : "safetensors";
}

void gitci_tensor_set_contiguous(gitc_tensor *t)
{
    int64_t n = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = n;
        n *= t->shape[i];
    }
    t->numel = n;
    t->contiguous = 1;
}

void gitci_tensors_close(tensor_source *src)
{
    if (!src)
        return;
    for (int i = 0; i < src->n_paths; i++) {
        if (src->st)
            gitci_st_close(src->st[i]);
        if (src->pt)
            gitci_pt_close(src->pt[i]);
        free(src->paths[i]);
    }
    if (src->format == TENSORS_SAFETENSORS)
        for (int i = 0; i < src->n_tensors; i++)
            free(src->tensors[i].name);
    free(src->st);
    free(src->pt);
    free(src->paths);
    free(src->tensors);
    free(src);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const gitc_tensor *)a)->name, ((const gitc_tensor *)b)->name);
}

const gitc_tensor *gitci_tensors_find(const tensor_source *src, const char *name)
{
    gitc_tensor key = {.name = (char *)name};
    return bsearch(&key, src->tensors, (size_t)src->n_tensors, sizeof key, cmp_name);
}

/* Opens one file of the source (index i of paths) and appends its tensors. */
static gitc_status open_one(tensor_source *src, const char *path, gitc_error *err)
{
    int i = src->n_paths;
    src->paths[i] = strdup(path);
    if (!src->paths[i])
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    src->n_paths++;
    gitc_status s;
    int n = 0;
    if (src->format == TENSORS_SAFETENSORS) {
        s = gitci_st_open(path, &src->st[i], err);
        if (s == GITC_OK)
            n = src->st[i]->n_tensors, src->file_bytes += src->st[i]->map_size;
    } else {
        s = gitci_pt_open(path, &src->pt[i], err);
        if (s == GITC_OK)
            n = src->pt[i]->n_tensors, src->file_bytes += src->pt[i]->map_size;
    }
    if (s != GITC_OK)
        return s;
    gitc_tensor *t = realloc(src->tensors, (size_t)(src->n_tensors + n + 1) * sizeof *t);
    if (!t)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    src->tensors = t;
    for (int k = 0; k < n; k++) {
        gitc_tensor *o = &src->tensors[src->n_tensors];
        if (src->format == TENSORS_SAFETENSORS) {
            const st_tensor *x = &src->st[i]->tensors[k];
            memset(o, 0, sizeof *o);
            if (!(o->name = strdup(x->name)))
                return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
            o->dtype = x->dtype;
            o->ndim = x->ndim;
            memcpy(o->shape, x->shape, sizeof o->shape);
            gitci_tensor_set_contiguous(o);
            o->data = x->data;
            o->nbytes = x->nbytes;
            o->path = src->st[i]->path;
        } else {
            *o = src->pt[i]->tensors[k]; /* the name stays owned by the pt_file */
        }
        src->n_tensors++;
    }
    return GITC_OK;
}

/* Lists the folder's entries for the "no weights" message. */
static void list_dir(const char *dir, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && k + 1 < size) {
        if (e->d_name[0] == '.')
            continue;
        k += (size_t)snprintf(buf + k, size - k, "%s%s", k ? ", " : "", e->d_name);
    }
    if (d)
        closedir(d);
    if (!buf[0])
        snprintf(buf, size, "nothing");
    else if (k >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

static gitc_status open_index(tensor_source *src, const char *dir, const char *index, gitc_error *err)
{
    char *json = NULL;
    size_t len;
    gitc_status s = gitci_read_file(index, &json, &len, err);
    if (s != GITC_OK)
        return s;
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: malformed JSON or no weight_map object", index);
    }
    int n = cJSON_GetArraySize(map);
    src->paths = calloc((size_t)(n ? n : 1), sizeof *src->paths);
    if (src->format == TENSORS_SAFETENSORS)
        src->st = calloc((size_t)(n ? n : 1), sizeof *src->st);
    else
        src->pt = calloc((size_t)(n ? n : 1), sizeof *src->pt);
    if (!src->paths || (!src->st && !src->pt)) {
        cJSON_Delete(root);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    /* Open each distinct shard once. */
    for (const cJSON *it = map->child; it && s == GITC_OK; it = it->next) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/') || strcmp(it->valuestring, "..") == 0 ||
            !it->valuestring[0]) {
            s = gitci_fail(err, GITC_ERR_FORMAT, "%s: weight_map entry %s is not a file name in the folder",
                           index, it->string);
            break;
        }
        char *path = gitci_path_join(dir, it->valuestring);
        if (!path) {
            s = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
            break;
        }
        int seen = 0;
        for (int i = 0; i < src->n_paths && !seen; i++)
            seen = strcmp(src->paths[i], path) == 0;
        if (!seen)
            s = open_one(src, path, err);
        free(path);
    }
    cJSON_Delete(root);
    return s;
}

gitc_status gitci_tensors_open_dir(const char *dir, tensor_source **out, gitc_error *err)
{
    *out = NULL;
    static const char *names[] = {"model.safetensors", "model.safetensors.index.json",
                                  "pytorch_model.bin", "pytorch_model.bin.index.json"};
    int pick = -1;
    char *path = NULL;
    for (int i = 0; i < 4 && pick < 0; i++) {
        free(path);
        path = gitci_path_join(dir, names[i]);
        if (!path)
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        if (gitci_file_exists(path))
            pick = i;
    }
    if (pick < 0) {
        free(path);
        char found[512];
        list_dir(dir, found, sizeof found);
        return gitci_fail(err, GITC_ERR_IO,
                          "%s: no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
                          "pytorch_model.bin.index.json (the folder holds: %s)",
                          dir, found);
    }
    tensor_source *src = calloc(1, sizeof *src);
    if (!src) {
        free(path);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    src->format = pick < 2 ? TENSORS_SAFETENSORS : TENSORS_PYTORCH;
    gitc_status s;
    if (pick == 0 || pick == 2) {
        src->paths = calloc(1, sizeof *src->paths);
        src->st = pick == 0 ? calloc(1, sizeof *src->st) : NULL;
        src->pt = pick == 2 ? calloc(1, sizeof *src->pt) : NULL;
        s = src->paths && (src->st || src->pt) ? open_one(src, path, err)
                                               : gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    } else {
        s = open_index(src, dir, path, err);
    }
    free(path);
    if (s == GITC_OK && src->n_tensors > 1) {
        qsort(src->tensors, (size_t)src->n_tensors, sizeof *src->tensors, cmp_name);
        for (int i = 1; i < src->n_tensors && s == GITC_OK; i++)
            if (strcmp(src->tensors[i - 1].name, src->tensors[i].name) == 0)
                s = gitci_fail(err, GITC_ERR_SHAPE, "%s: tensor %s is stored twice (%s and %s)", dir,
                               src->tensors[i].name, src->tensors[i - 1].path, src->tensors[i].path);
    }
    if (s != GITC_OK) {
        gitci_tensors_close(src);
        return s;
    }
    *out = src;
    return GITC_OK;
}

/* Walks a strided tensor in row-major order: calls the copy of element i
 * (byte offset off from data) with an odometer over the indices, no divisions. */
typedef struct walker {
    int64_t idx[ST_MAX_DIMS];
    int64_t off; /* elements */
} walker;

static void walk_next(const gitc_tensor *t, walker *w)
{
    for (int d = t->ndim - 1; d >= 0; d--) {
        w->off += t->stride[d];
        if (++w->idx[d] < t->shape[d])
            return;
        w->off -= t->stride[d] * t->shape[d];
        w->idx[d] = 0;
    }
}

void gitci_tensor_copy_contiguous(const gitc_tensor *t, void *out)
{
    size_t es = gitci_st_dtype_size(t->dtype);
    if (t->contiguous) {
        memcpy(out, t->data, t->nbytes);
        return;
    }
    walker w = {{0}, 0};
    uint8_t *o = out;
    if (es == 4) {
        for (int64_t i = 0; i < t->numel; i++, walk_next(t, &w))
            memcpy(o + (size_t)i * 4, t->data + (size_t)w.off * 4, 4);
    } else if (es == 2) {
        for (int64_t i = 0; i < t->numel; i++, walk_next(t, &w))
            memcpy(o + (size_t)i * 2, t->data + (size_t)w.off * 2, 2);
    } else {
        for (int64_t i = 0; i < t->numel; i++, walk_next(t, &w))
            memcpy(o + (size_t)i * es, t->data + (size_t)w.off * es, es);
    }
}

gitc_status gitci_tensor_to_f32(const gitc_tensor *t, float *out, gitc_error *err)
{
    size_t es = gitci_st_dtype_size(t->dtype);
    walker w = {{0}, 0};
    for (int64_t i = 0; i < t->numel; i++, walk_next(t, &w)) {
        const uint8_t *p = t->data + (size_t)(t->contiguous ? i : w.off) * es;
        switch (t->dtype) {
        case ST_F32: memcpy(&out[i], p, 4); break;
        case ST_F16: {
            uint16_t h;
            memcpy(&h, p, 2);
            out[i] = gitci_f16_to_f32(h);
            break;
        }
        case ST_BF16: {
            uint16_t h;
            memcpy(&h, p, 2);
            out[i] = gitci_bf16_to_f32(h);
            break;
        }
        case ST_F64: {
            double d;
            memcpy(&d, p, 8);
            out[i] = (float)d;
            break;
        }
        default:
            return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: tensor %s: dtype %s is not a float type",
                              t->path, t->name, gitci_st_dtype_name(t->dtype));
        }
    }
    return GITC_OK;
}

int gitci_tensors_in_mapping(const tensor_source *src, const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, e = a + n;
    for (int i = 0; src && i < src->n_paths; i++) {
        const void *map = NULL;
        size_t size = 0;
        if (src->st && src->st[i])
            map = src->st[i]->map, size = src->st[i]->map_size;
        else if (src->pt && src->pt[i])
            map = src->pt[i]->map, size = src->pt[i]->map_size;
        uintptr_t base = (uintptr_t)map;
        if (map && a >= base && e >= a && e <= base + size)
            return 1;
    }
    return 0;
}
