/* Synthetic weights: FNV-1a name seeds and splitmix64 streams, and the model
 * folders written from them with the safetensors writer (a developer tool:
 * built into the gitc CLI and the tests, not into libgitc). */
#include "synth.h"
#include "tensor_file.h"
#include "tool_files.h"

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

/* The parameters of a config, declared to a safetensors writer in table order. */
typedef struct param_list {
    tf_writer *w;
    char **names;
    int *ndim;
    int64_t (*shape)[TF_MAX_DIMS];
    int n, cap;
    gitc_status st;
    gitc_error *err;
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
        int64_t(*sh)[TF_MAX_DIMS] = realloc(l->shape, (size_t)cap * sizeof *sh);
        if (sh)
            l->shape = sh;
        if (!names || !nd || !sh) {
            l->st = tool_fail(l->err, GITC_ERR_MEMORY, "out of memory");
            return 0;
        }
        l->cap = cap;
    }
    if (ndim > TF_MAX_DIMS || !(l->names[l->n] = strdup(name))) {
        l->st = tool_fail(l->err, GITC_ERR_MEMORY, "out of memory");
        return 0;
    }
    l->ndim[l->n] = ndim;
    memcpy(l->shape[l->n], shape, (size_t)ndim * sizeof(int64_t));
    l->n++;
    l->st = tf_writer_add(l->w, name, TF_F32, ndim, shape, NULL, l->err);
    return l->st == GITC_OK;
}

/* The writer's fill callback: parameter `index` computed when it is written. */
static gitc_status fill_param(void *user, int index, void *buf, size_t nbytes, gitc_error *err)
{
    (void)nbytes;
    (void)err;
    const param_list *l = user;
    gitc_synth_param(l->names[index], l->ndim[index], l->shape[index], buf);
    return GITC_OK;
}

gitc_status gitc_synth_write(const char *config_json, size_t len, const char *config_path,
                             const char *dir, gitc_error *err)
{
    gitc_config cfg;
    gitc_status st = gitc_config_from_json(config_json, len, config_path, &cfg, err);
    if (st != GITC_OK)
        return st;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return tool_fail(err, GITC_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    param_list l = {.w = tf_writer_new(), .st = GITC_OK, .err = err};
    char *weights = tool_path_join(dir, "model.safetensors");
    char *cfg_out = tool_path_join(dir, "config.json");
    if (!l.w || !weights || !cfg_out) {
        st = tool_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    gitc_config_for_each_parameter(&cfg, collect, &l);
    st = l.st;
    /* F32 tensors streamed one at a time: memory is the largest tensor. */
    if (st == GITC_OK)
        st = tf_writer_write_stream(l.w, weights, fill_param, &l, err);
    if (st == GITC_OK)
        st = tool_write_file_atomic(cfg_out, config_json, len, err);
done:
    for (int i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    free(l.ndim);
    free(l.shape);
    tf_writer_free(l.w);
    free(weights);
    free(cfg_out);
    return st;
}
