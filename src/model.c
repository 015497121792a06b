/* Loading a GIT model folder: config, mmapped safetensors (single file or
 * shards), tensor checks against the config, tokenizer and processor. */
#include "model.h"
#include "backend.h"
#include "config.h"
#include "pytorch.h"
#include "weights.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const gitc_config *gitc_model_config(const gitc_model *m) { return &m->cfg; }
const gitc_tokenizer *gitc_model_tokenizer(const gitc_model *m) { return m->tokenizer; }
const gitc_processor *gitc_model_processor(const gitc_model *m) { return m->processor; }

int gitc_model_num_frames(const gitc_model *m)
{
    return m->cfg.num_image_with_embedding > 0 ? m->cfg.num_image_with_embedding : 1;
}

int gitc_model_num_image_tokens(const gitc_model *m)
{
    return gitc_model_num_frames(m) * m->cfg.image_tokens_per_frame;
}

void gitc_model_free(gitc_model *m)
{
    if (!m)
        return;
    gitci_backend_free(m->backend);
    gitci_tensors_close(m->weights);
    for (int i = 0; i < m->n_aligned_copies; i++)
        free(m->aligned_copies[i]);
    free(m->aligned_copies);
    free(m->small);
    free(m->vlayers);
    free(m->tlayers);
    gitc_tokenizer_free(m->tokenizer);
    gitc_processor_free(m->processor);
    free(m->dir);
    free(m);
}

/* ---- checking and binding, both driven by the weight table (config.c) ---- */

typedef struct binder {
    gitc_model *m;
    gitc_error *err;
    gitc_status status;
    size_t small_floats; /* check pass: floats needed in m->small */
    float *next_small;   /* bind pass: cursor in m->small */
    int n_expected;      /* check pass: weights the table names */
    char *seen;          /* check pass: per tensor of the source, 1 when the table names it */
} binder;

/* Check pass: the tensor exists with the table's shape and a float dtype. */
static int check_weight(void *user, const weight_spec *w)
{
    binder *b = user;
    const gitc_tensor *t = gitci_tensors_find(b->m->weights, w->name);
    if (!t) {
        b->status = gitci_fail(b->err, GITC_ERR_SHAPE, "%s: missing tensor %s", b->m->dir, w->name);
        return 0;
    }
    int same = t->ndim == w->ndim;
    for (int i = 0; same && i < w->ndim; i++)
        same = t->shape[i] == w->shape[i];
    if (!same) {
        char got[128], want[128];
        gitci_st_shape_string(t->shape, t->ndim, got, sizeof got);
        gitci_st_shape_string(w->shape, w->ndim, want, sizeof want);
        b->status = gitci_fail(b->err, GITC_ERR_SHAPE, "%s: tensor %s has shape %s, config says %s",
                               t->path, w->name, got, want);
        return 0;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64) {
        b->status = gitci_fail(b->err, GITC_ERR_UNSUPPORTED,
                               "%s: tensor %s has dtype %s (gitc reads F32, F16, BF16 and F64)",
                               t->path, w->name, gitci_st_dtype_name(t->dtype));
        return 0;
    }
    b->n_expected++;
    b->seen[t - b->m->weights->tensors] = 1;
    b->m->n_params += t->numel;
    if (w->kind == WEIGHT_VECTOR || w->kind == WEIGHT_TABLE) {
        b->small_floats += (size_t)t->numel;
        b->m->weight_bytes += (size_t)t->numel * sizeof(float);
    } else {
        b->m->weight_bytes += t->dtype == ST_F64 ? (size_t)t->numel * sizeof(float) : t->nbytes;
    }
    return 1;
}

/* Every tensor in the files must be a weight of the table (ignored buffers aside). */
static gitc_status check_no_extra(gitc_model *m, const binder *b, gitc_error *err)
{
    const tensor_source *src = m->weights;
    for (int i = 0; i < src->n_tensors; i++) {
        const gitc_tensor *t = &src->tensors[i];
        if (!b->seen[i] && !gitci_weight_is_ignored(t->name))
            return gitci_fail(err, GITC_ERR_SHAPE,
                              "%s: unexpected tensor %s (not a parameter of this config)", t->path,
                              t->name);
    }
    return GITC_OK;
}

static void *keep_copy(binder *b, size_t bytes, const char *name)
{
    void **list = realloc(b->m->aligned_copies, (size_t)(b->m->n_aligned_copies + 1) * sizeof *list);
    void *copy = list ? malloc(bytes ? bytes : 1) : NULL;
    if (list)
        b->m->aligned_copies = list;
    if (!copy) {
        free(copy);
        b->status = gitci_fail(b->err, GITC_ERR_MEMORY, "out of memory copying %s", name);
        return NULL;
    }
    list[b->m->n_aligned_copies++] = copy;
    return copy;
}

/* Bind pass: matrices point into the mapping (copied when strided, misaligned
 * or float64); vectors and tables are converted to float32 in m->small. */
static int bind_weight(void *user, const weight_spec *w)
{
    binder *b = user;
    const gitc_tensor *t = gitci_tensors_find(b->m->weights, w->name);
    if (w->kind == WEIGHT_VECTOR || w->kind == WEIGHT_TABLE) {
        float *out = b->next_small;
        b->status = gitci_tensor_to_f32(t, out, b->err);
        b->next_small += t->numel;
        if (w->vector)
            *w->vector = out;
        return b->status == GITC_OK;
    }
    gitc_matrix x = {0};
    x.n_out = (int)t->shape[0];
    x.n_in = (int)(t->numel / (t->shape[0] ? t->shape[0] : 1));
    if (t->dtype == ST_F64) {
        float *copy = keep_copy(b, (size_t)t->numel * sizeof(float), w->name);
        if (!copy)
            return 0;
        b->status = gitci_tensor_to_f32(t, copy, b->err);
        x.type = GITC_W_F32;
        x.data = copy;
    } else {
        x.type = t->dtype == ST_F16 ? GITC_W_F16 : t->dtype == ST_BF16 ? GITC_W_BF16 : GITC_W_F32;
        x.data = t->data;
        if (!t->contiguous || (uintptr_t)t->data % gitci_st_dtype_size(t->dtype) != 0) {
            void *copy = keep_copy(b, t->nbytes, w->name);
            if (!copy)
                return 0;
            gitci_tensor_copy_contiguous(t, copy);
            x.data = copy;
        }
    }
    if (w->matrix)
        *w->matrix = x;
    return b->status == GITC_OK;
}

/* Reads an optional JSON file of the folder; *text is NULL when it does not exist. */
static gitc_status read_optional(const char *dir, const char *name, char **path, char **text,
                                 size_t *len, gitc_error *err)
{
    *text = NULL;
    *path = gitci_path_join(dir, name);
    if (!*path)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    if (!gitci_file_exists(*path))
        return GITC_OK;
    return gitci_read_file_max(*path, GITC_CONFIG_MAX_BYTES, text, len, err);
}

gitc_status gitc_model_load(const char *dir, const gitc_model_params *params, gitc_model **out,
                            gitc_error *err)
{
    *out = NULL;
    if (params && gitci_params_size_check(params->size, sizeof *params, "gitc_model_params", err) != GITC_OK)
        return GITC_ERR_ARGUMENT;
    gitc_model_params p = params ? *params : gitc_model_default_params();
    gitc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    m->gen_defaults = gitc_generate_default_params();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    binder b = {m, err, GITC_OK, 0, NULL, 0, NULL};
    char *path = NULL, *text = NULL;
    size_t len = 0;
    gitc_status s;
    if (access(dir, F_OK) != 0) {
        s = gitci_fail(err, GITC_ERR_IO, "%s: no such model folder", dir);
        goto done;
    }
    s = read_optional(dir, "config.json", &path, &text, &len, err);
    if (s == GITC_OK && !text)
        s = gitci_fail(err, GITC_ERR_IO, "%s: missing (not a GIT model folder?)", path);
    if (s == GITC_OK)
        s = gitc_config_from_json(text, len, path, &m->cfg, err);
    free(path);
    free(text);
    path = text = NULL;
    if (s != GITC_OK)
        goto done;
    s = read_optional(dir, "generation_config.json", &path, &text, &len, err);
    if (s == GITC_OK && text)
        s = gitci_generation_config_parse(text, len, path, &m->gen_defaults, err);
    free(path);
    free(text);
    path = text = NULL;
    if (s != GITC_OK)
        goto done;
    s = gitci_tensors_open_dir(dir, &m->weights, err);
    if (s != GITC_OK)
        goto done;
    b.seen = calloc((size_t)m->weights->n_tensors + 1, 1);
    if (!b.seen) {
        s = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    if (!gitci_weights_for_each(&m->cfg, NULL, check_weight, &b)) {
        s = b.status;
        goto done;
    }
    s = check_no_extra(m, &b, err);
    if (s != GITC_OK)
        goto done;
    m->small = malloc((b.small_floats ? b.small_floats : 1) * sizeof(float));
    m->vlayers = calloc((size_t)m->cfg.vision_num_hidden_layers, sizeof *m->vlayers);
    m->tlayers = calloc((size_t)m->cfg.num_hidden_layers, sizeof *m->tlayers);
    if (!m->small || !m->vlayers || !m->tlayers) {
        s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", m->dir);
        goto done;
    }
    b.next_small = m->small;
    if (!gitci_weights_for_each(&m->cfg, m, bind_weight, &b)) {
        s = b.status;
        goto done;
    }
    char *vocab = gitci_path_join(dir, "vocab.txt"), *tokjson = gitci_path_join(dir, "tokenizer.json");
    int has_tok = (vocab && gitci_file_exists(vocab)) || (tokjson && gitci_file_exists(tokjson));
    free(vocab);
    free(tokjson);
    if (p.load_tokenizer && has_tok)
        s = gitc_tokenizer_load(dir, &m->tokenizer, err);
    if (s != GITC_OK)
        goto done;
    char *pre = gitci_path_join(dir, "preprocessor_config.json");
    int has_pre = pre && gitci_file_exists(pre);
    free(pre);
    if (p.load_processor && has_pre)
        s = gitc_processor_load(dir, &m->processor, err);
    if (s == GITC_OK)
        s = gitci_backend_prepare(m, &p, err);
done:
    free(b.seen);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s == GITC_OK)
        m->load_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (s != GITC_OK) {
        gitc_model_free(m);
        return s;
    }
    *out = m;
    return GITC_OK;
}

/* ---- description (gitc_model_describe_json) ---- */

/* The "image_processor_type" of preprocessor_config.json, or a short word. */
static void processor_kind(const char *dir, char *out, size_t size)
{
    char *path = gitci_path_join(dir, "preprocessor_config.json"), *text = NULL;
    size_t len = 0;
    snprintf(out, size, "none");
    if (path && gitci_file_exists(path) && gitci_read_file(path, &text, &len, NULL) == GITC_OK) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "image_processor_type");
        if (!cJSON_IsString(t))
            t = cJSON_GetObjectItemCaseSensitive(root, "feature_extractor_type");
        snprintf(out, size, "%s", cJSON_IsString(t) ? t->valuestring : "preprocessor_config.json");
        cJSON_Delete(root);
    }
    free(text);
    free(path);
}

char *gitc_model_describe_json(const gitc_model *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const tensor_source *src = m->weights;
    cJSON_AddStringToObject(o, "folder", m->dir);
    cJSON_AddStringToObject(o, "format", gitci_tensors_format_name(src->format));
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (int i = 0; i < src->n_paths; i++) {
        cJSON *f = cJSON_CreateObject();
        const char *slash = strrchr(src->paths[i], '/');
        cJSON_AddStringToObject(f, "name", slash ? slash + 1 : src->paths[i]);
        size_t bytes = src->st ? src->st[i]->map_size : src->pt[i]->map_size;
        cJSON_AddNumberToObject(f, "bytes", (double)bytes);
        cJSON_AddItemToArray(files, f);
    }
    cJSON_AddNumberToObject(o, "file_bytes", (double)src->file_bytes);
    cJSON_AddNumberToObject(o, "tensors", src->n_tensors);
    int count[ST_N_DTYPES] = {0};
    cJSON *ignored = cJSON_CreateArray();
    int strided = 0;
    for (int i = 0; i < src->n_tensors; i++) {
        count[src->tensors[i].dtype]++;
        strided += !src->tensors[i].contiguous;
        if (gitci_weight_is_ignored(src->tensors[i].name))
            cJSON_AddItemToArray(ignored, cJSON_CreateString(src->tensors[i].name));
    }
    cJSON *dtypes = cJSON_AddObjectToObject(o, "dtypes");
    for (int d = 0; d < ST_N_DTYPES; d++)
        if (count[d])
            cJSON_AddNumberToObject(dtypes, gitci_st_dtype_name((st_dtype)d), count[d]);
    cJSON_AddItemToObject(o, "ignored", ignored);
    cJSON_AddNumberToObject(o, "strided_tensors", strided);
    cJSON_AddNumberToObject(o, "parameters", (double)m->n_params);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)m->weight_bytes);
    cJSON_AddNumberToObject(o, "copied_matrices", m->n_aligned_copies);
    cJSON_AddNumberToObject(o, "load_ms", m->load_ms);
    cJSON_AddStringToObject(o, "cpu_features", gitc_model_cpu_features(m));
    cJSON *sets = cJSON_AddObjectToObject(o, "kernel_sets");
    for (int d = GITC_DTYPE_F32; d <= GITC_DTYPE_INT8; d++)
        cJSON_AddStringToObject(sets, gitc_dtype_name((gitc_dtype)d), gitc_model_kernel_set(m, (gitc_dtype)d));
    const gitc_config *c = &m->cfg;
    cJSON *cfg = cJSON_AddObjectToObject(o, "config");
    cJSON_AddNumberToObject(cfg, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(cfg, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(cfg, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(cfg, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(cfg, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(cfg, "vision_hidden_size", c->vision_hidden_size);
    cJSON_AddNumberToObject(cfg, "vision_num_hidden_layers", c->vision_num_hidden_layers);
    cJSON_AddNumberToObject(cfg, "image_size", c->vision_image_size);
    cJSON_AddNumberToObject(cfg, "patch_size", c->vision_patch_size);
    cJSON_AddNumberToObject(cfg, "num_image_with_embedding", c->num_image_with_embedding);
    char *tj = gitci_path_join(m->dir, "tokenizer.json"), *vt = gitci_path_join(m->dir, "vocab.txt");
    const char *tok = !m->tokenizer ? "none"
                      : (tj && gitci_file_exists(tj)) ? "tokenizer.json (BERT WordPiece)"
                      : (vt && gitci_file_exists(vt)) ? "vocab.txt (BERT WordPiece)" : "BERT WordPiece";
    free(tj);
    free(vt);
    cJSON_AddStringToObject(o, "tokenizer", tok);
    char proc[128];
    if (m->processor)
        processor_kind(m->dir, proc, sizeof proc);
    else
        snprintf(proc, sizeof proc, "none");
    cJSON_AddStringToObject(o, "processor", proc);
    char *out = cJSON_Print(o);
    cJSON_Delete(o);
    return out;
}
