/* Synthetic weights: FNV-1a name seeds and splitmix64 streams. */
#include "synth.h"
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001B3ull;
    }
    return h;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* r in [-1, 1) for element i of the stream of `seed`. */
static double stream_r(uint64_t seed, uint64_t i)
{
    return (double)(splitmix64(seed + i) >> 40) / 16777216.0 * 2.0 - 1.0;
}

void gitc_synth_param(const char *name, int ndim, const int64_t *shape, float *out)
{
    uint64_t seed = fnv1a64(name);
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    size_t len = strlen(name);
    int gain = ndim == 1 && len >= 7 && strcmp(name + len - 7, ".weight") == 0;
    double scale = ndim >= 2 ? sqrt(3.0 / (double)(n / (size_t)shape[0])) : 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = stream_r(seed, i);
        double v = ndim >= 2 ? r * scale : gain ? 1.0 + 0.1 * r : 0.1 * r;
        out[i] = (float)v;
    }
}

void gitc_synth_pixels(const char *name, size_t numel, float *out)
{
    uint64_t seed = fnv1a64(name);
    for (size_t i = 0; i < numel; i++)
        out[i] = (float)(1.5 * stream_r(seed, i));
}

/* ---- writing a model folder ---- */

typedef struct param_list {
    char **names;
    int *ndim;
    int64_t (*shape)[4];
    int n, cap;
    int oom;
} param_list;

static int collect(void *user, const char *name, int ndim, const int64_t *shape)
{
    param_list *l = user;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        char **names = realloc(l->names, (size_t)cap * sizeof *names);
        if (names)
            l->names = names;
        int *nd = realloc(l->ndim, (size_t)cap * sizeof *nd);
        if (nd)
            l->ndim = nd;
        int64_t(*sh)[4] = realloc(l->shape, (size_t)cap * sizeof *sh);
        if (sh)
            l->shape = sh;
        if (!names || !nd || !sh) {
            l->oom = 1;
            return 0;
        }
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) {
        l->oom = 1;
        return 0;
    }
    l->ndim[l->n] = ndim;
    memcpy(l->shape[l->n], shape, (size_t)ndim * sizeof(int64_t));
    l->n++;
    return 1;
}

static size_t numel_of(const int64_t *shape, int ndim)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    return n;
}

gitc_status gitc_synth_write(const char *config_json, size_t len, const char *config_path,
                             const char *dir, gitc_error *err)
{
    gitc_config cfg;
    gitc_status st = gitc_config_parse(config_json, len, config_path, &cfg, err);
    if (st != GITC_OK)
        return st;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return gitc_fail(err, GITC_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    param_list l = {0};
    char *header = NULL, *tmp = NULL, *final = NULL, *cfg_out = NULL;
    float *buf = NULL;
    FILE *f = NULL;
    gitc_config_for_each_param(&cfg, collect, &l);
    if (l.oom) {
        st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    /* Header JSON: names, shapes, offsets in table order. */
    size_t cap = 256 + (size_t)l.n * 400, k = 0, offset = 0, biggest = 0;
    header = malloc(cap);
    if (!header) {
        st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    k += (size_t)snprintf(header + k, cap - k, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < l.n; i++) {
        size_t n = numel_of(l.shape[i], l.ndim[i]);
        biggest = n > biggest ? n : biggest;
        k += (size_t)snprintf(header + k, cap - k, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", l.names[i]);
        for (int d = 0; d < l.ndim[i]; d++)
            k += (size_t)snprintf(header + k, cap - k, d ? ",%lld" : "%lld", (long long)l.shape[i][d]);
        k += (size_t)snprintf(header + k, cap - k, "],\"data_offsets\":[%zu,%zu]}", offset, offset + 4 * n);
        offset += 4 * n;
    }
    k += (size_t)snprintf(header + k, cap - k, "}");
    while (k % 8)
        header[k++] = ' ';
    final = gitc_path_join(dir, "model.safetensors");
    cfg_out = gitc_path_join(dir, "config.json");
    tmp = final ? malloc(strlen(final) + 8) : NULL;
    buf = malloc((biggest ? biggest : 1) * sizeof(float));
    if (!final || !cfg_out || !tmp || !buf) {
        st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    sprintf(tmp, "%s.part", final);
    f = fopen(tmp, "wb");
    if (!f) {
        st = gitc_fail(err, GITC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    uint8_t hl[8];
    for (int i = 0; i < 8; i++)
        hl[i] = (uint8_t)((uint64_t)k >> (8 * i));
    int ok = fwrite(hl, 1, 8, f) == 8 && fwrite(header, 1, k, f) == k;
    for (int i = 0; ok && i < l.n; i++) {
        size_t n = numel_of(l.shape[i], l.ndim[i]);
        gitc_synth_param(l.names[i], l.ndim[i], l.shape[i], buf);
        ok = fwrite(buf, sizeof(float), n, f) == n;
    }
    ok = (fclose(f) == 0) && ok;
    f = NULL;
    if (!ok || rename(tmp, final) != 0) {
        st = gitc_fail(err, GITC_ERR_IO, "%s: write failed: %s", final, strerror(errno));
        remove(tmp);
        goto done;
    }
    st = gitc_write_file_atomic(cfg_out, config_json, len, err);
done:
    if (f)
        fclose(f);
    for (int i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    free(l.ndim);
    free(l.shape);
    free(header);
    free(tmp);
    free(final);
    free(cfg_out);
    free(buf);
    return st;
}
