/* Loading a GIT model folder: config, mmapped safetensors (single file or
 * shards), tensor checks against the config, tokenizer and processor. */
#include "model.h"
#include "backend.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

gitc_model_params gitc_model_default_params(void)
{
    gitc_model_params p = {.load_tokenizer = 1, .load_processor = 1};
    return p;
}

gitc_generate_params gitc_generate_default_params(void)
{
    gitc_generate_params p = {
        .max_length = 20, .num_beams = 1, .length_penalty = 1.0f,
        .early_stopping = GITC_EARLY_STOPPING_FALSE, .num_return_sequences = 1,
        .repetition_penalty = 1.0f, .temperature = 1.0f, .top_k = 50, .top_p = 1.0f,
    };
    return p;
}

const gitc_config *gitc_model_config(const gitc_model *m) { return &m->cfg; }
const gitc_tokenizer *gitc_model_tokenizer(const gitc_model *m) { return m->tokenizer; }
const gitc_processor *gitc_model_processor(const gitc_model *m) { return m->processor; }
gitc_generate_params gitc_model_generate_params(const gitc_model *m) { return m->gen_defaults; }

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
    gitc_backend_free(m->backend);
    for (int i = 0; i < m->n_files; i++)
        st_close(m->files[i]);
    for (int i = 0; i < m->n_aligned_copies; i++)
        free(m->aligned_copies[i]);
    free(m->aligned_copies);
    free(m->files);
    free(m->small);
    free(m->vlayers);
    free(m->tlayers);
    gitc_tokenizer_free(m->tokenizer);
    gitc_processor_free(m->processor);
    free(m->dir);
    free(m);
}

/* ---- opening the weight files ---- */

/* Opens model.safetensors, or the shards named by model.safetensors.index.json. */
static gitc_status open_weights(gitc_model *m, gitc_error *err)
{
    char *single = gitc_path_join(m->dir, "model.safetensors");
    char *index = gitc_path_join(m->dir, "model.safetensors.index.json");
    gitc_status s = GITC_OK;
    char *json = NULL;
    cJSON *root = NULL;
    if (!single || !index) {
        s = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    if (gitc_file_exists(single)) {
        m->files = calloc(1, sizeof *m->files);
        if (!m->files) {
            s = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
            goto done;
        }
        s = st_open(single, &m->files[0], err);
        if (s == GITC_OK)
            m->n_files = 1;
        goto done;
    }
    if (!gitc_file_exists(index)) {
        char *bin = gitc_path_join(m->dir, "pytorch_model.bin");
        int has_bin = bin && gitc_file_exists(bin);
        free(bin);
        s = gitc_fail(err, GITC_ERR_IO,
                      has_bin ? "%s: no model.safetensors (only pytorch_model.bin, which gitc does not read; "
                                "the hub's model.safetensors of the same checkpoint works)"
                              : "%s: no model.safetensors or model.safetensors.index.json",
                      m->dir);
        goto done;
    }
    size_t len;
    s = gitc_read_file(index, &json, &len, err);
    if (s != GITC_OK)
        goto done;
    root = cJSON_ParseWithLength(json, len);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        s = gitc_fail(err, GITC_ERR_FORMAT, "%s: malformed JSON or no weight_map object", index);
        goto done;
    }
    int n = cJSON_GetArraySize(map);
    m->files = calloc((size_t)(n ? n : 1), sizeof *m->files);
    if (!m->files) {
        s = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    /* Open each distinct shard once. */
    for (const cJSON *it = map->child; it; it = it->next) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/') || strcmp(it->valuestring, "..") == 0) {
            s = gitc_fail(err, GITC_ERR_FORMAT, "%s: weight_map entry %s is not a file name in the folder",
                          index, it->string);
            goto done;
        }
        char *path = gitc_path_join(m->dir, it->valuestring);
        if (!path) {
            s = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < m->n_files && !seen; i++)
            seen = strcmp(m->files[i]->path, path) == 0;
        if (!seen) {
            s = st_open(path, &m->files[m->n_files], err);
            if (s == GITC_OK)
                m->n_files++;
        }
        free(path);
        if (s != GITC_OK)
            goto done;
    }
done:
    cJSON_Delete(root);
    free(json);
    free(single);
    free(index);
    return s;
}

/* ---- checking tensors against the config ---- */

typedef struct param_check {
    gitc_model *m;
    gitc_error *err;
    gitc_status status;
    char **names; /* expected names, for finding extra tensors */
    int n_names, cap_names;
    size_t small_floats; /* floats needed for the tensors converted to float32 */
} param_check;

static const st_tensor *find_tensor(const gitc_model *m, const char *name, const st_file **file)
{
    for (int i = 0; i < m->n_files; i++) {
        const st_tensor *t = st_find(m->files[i], name);
        if (t) {
            if (file)
                *file = m->files[i];
            return t;
        }
    }
    return NULL;
}

/* Matrices stay in the mapping; everything else is converted to float32 at load. */
static int stays_mapped(const char *name, int ndim)
{
    return (ndim == 2 && strstr(name, "vision_model.embeddings.position_embedding") == NULL) ||
           ndim == 4;
}

static int check_param(void *user, const char *name, int ndim, const int64_t *shape)
{
    param_check *pc = user;
    const st_file *file = NULL;
    const st_tensor *t = find_tensor(pc->m, name, &file);
    if (!t) {
        pc->status = gitc_fail(pc->err, GITC_ERR_SHAPE, "%s: missing tensor %s", pc->m->dir, name);
        return 0;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char got[128], want[128];
        st_shape_string(t->shape, t->ndim, got, sizeof got);
        st_shape_string(shape, ndim, want, sizeof want);
        pc->status = gitc_fail(pc->err, GITC_ERR_SHAPE, "%s: tensor %s has shape %s, config says %s",
                               file->path, name, got, want);
        return 0;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        pc->status = gitc_fail(pc->err, GITC_ERR_UNSUPPORTED,
                               "%s: tensor %s has dtype %s (gitc reads F32, F16 and BF16)",
                               file->path, name, st_dtype_name(t->dtype));
        return 0;
    }
    if (pc->n_names == pc->cap_names) {
        int cap = pc->cap_names ? 2 * pc->cap_names : 512;
        char **n = realloc(pc->names, (size_t)cap * sizeof *n);
        if (!n) {
            pc->status = gitc_fail(pc->err, GITC_ERR_MEMORY, "out of memory");
            return 0;
        }
        pc->names = n;
        pc->cap_names = cap;
    }
    if (!(pc->names[pc->n_names] = strdup(name))) {
        pc->status = gitc_fail(pc->err, GITC_ERR_MEMORY, "out of memory");
        return 0;
    }
    pc->n_names++;
    if (!stays_mapped(name, ndim))
        pc->small_floats += (size_t)t->numel;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_position_ids(const char *name)
{
    size_t len = strlen(name);
    return len >= 13 && strcmp(name + len - 13, ".position_ids") == 0;
}

/* Every tensor in the files must be an expected parameter (position_ids buffers aside). */
static gitc_status check_no_extra(gitc_model *m, param_check *pc, gitc_error *err)
{
    qsort(pc->names, (size_t)pc->n_names, sizeof *pc->names, cmp_str);
    int n_found = 0;
    for (int f = 0; f < m->n_files; f++) {
        for (int i = 0; i < m->files[f]->n_tensors; i++) {
            const char *name = m->files[f]->tensors[i].name;
            if (is_position_ids(name))
                continue;
            n_found++;
            if (!bsearch(&name, pc->names, (size_t)pc->n_names, sizeof *pc->names, cmp_str))
                return gitc_fail(err, GITC_ERR_SHAPE,
                                 "%s: unexpected tensor %s (not a parameter of this config)",
                                 m->files[f]->path, name);
        }
    }
    if (n_found != pc->n_names)
        return gitc_fail(err, GITC_ERR_SHAPE,
                         "%s: %d tensors in the weights for %d parameters (a tensor is stored twice)",
                         m->dir, n_found, pc->n_names);
    return GITC_OK;
}

/* ---- binding tensors to the model struct ---- */

typedef struct binder {
    gitc_model *m;
    float *next_small; /* cursor in m->small */
    gitc_error *err;
    gitc_status status;
} binder;

/* A float32 copy of a small tensor (in m->small). */
static float *bind_small(binder *b, const char *name)
{
    if (b->status != GITC_OK)
        return NULL;
    const st_file *file = NULL;
    const st_tensor *t = find_tensor(b->m, name, &file);
    float *out = b->next_small;
    b->status = st_to_f32(file, t, out, b->err);
    b->next_small += t->numel;
    return out;
}

/* A matrix view of a mapped tensor, copied when its data is misaligned for its dtype. */
static gitc_matrix bind_matrix(binder *b, const char *name)
{
    gitc_matrix w = {0};
    if (b->status != GITC_OK)
        return w;
    const st_tensor *t = find_tensor(b->m, name, NULL);
    w.type = t->dtype == ST_F16 ? GITC_W_F16 : t->dtype == ST_BF16 ? GITC_W_BF16 : GITC_W_F32;
    w.n_out = (int)t->shape[0];
    w.n_in = (int)(t->numel / (t->shape[0] ? t->shape[0] : 1));
    w.data = t->data;
    size_t align = st_dtype_size(t->dtype);
    if ((uintptr_t)t->data % align != 0) {
        void **list = realloc(b->m->aligned_copies, (size_t)(b->m->n_aligned_copies + 1) * sizeof *list);
        void *copy = list ? malloc(t->nbytes ? t->nbytes : 1) : NULL;
        if (list)
            b->m->aligned_copies = list;
        if (!copy) {
            b->status = gitc_fail(b->err, GITC_ERR_MEMORY, "out of memory copying %s", name);
            return w;
        }
        memcpy(copy, t->data, t->nbytes);
        list[b->m->n_aligned_copies++] = copy;
        w.data = copy;
    }
    return w;
}

static gitc_status bind_weights(gitc_model *m, size_t small_floats, gitc_error *err)
{
    const gitc_config *c = &m->cfg;
    m->small = malloc((small_floats ? small_floats : 1) * sizeof(float));
    m->vlayers = calloc((size_t)c->vision_num_hidden_layers, sizeof *m->vlayers);
    m->tlayers = calloc((size_t)c->num_hidden_layers, sizeof *m->tlayers);
    if (!m->small || !m->vlayers || !m->tlayers)
        return gitc_fail(err, GITC_ERR_MEMORY, "%s: out of memory", m->dir);
    binder b = {m, m->small, err, GITC_OK};
    char n[256];
    const char *vm = "git.image_encoder.vision_model";
#define SMALL(...) (snprintf(n, sizeof n, __VA_ARGS__), bind_small(&b, n))
#define MATRIX(...) (snprintf(n, sizeof n, __VA_ARGS__), bind_matrix(&b, n))
    m->word_emb = MATRIX("git.embeddings.word_embeddings.weight");
    m->pos_emb = MATRIX("git.embeddings.position_embeddings.weight");
    m->emb_ln_g = SMALL("git.embeddings.LayerNorm.weight");
    m->emb_ln_b = SMALL("git.embeddings.LayerNorm.bias");
    m->class_emb = SMALL("%s.embeddings.class_embedding", vm);
    m->patch = MATRIX("%s.embeddings.patch_embedding.weight", vm);
    m->vis_pos = SMALL("%s.embeddings.position_embedding.weight", vm);
    m->pre_ln_g = SMALL("%s.pre_layrnorm.weight", vm);
    m->pre_ln_b = SMALL("%s.pre_layrnorm.bias", vm);
    for (int l = 0; l < c->vision_num_hidden_layers; l++) {
        vision_layer *L = &m->vlayers[l];
        const char *p = "git.image_encoder.vision_model.encoder.layers";
        L->q = MATRIX("%s.%d.self_attn.q_proj.weight", p, l);
        L->k = MATRIX("%s.%d.self_attn.k_proj.weight", p, l);
        L->v = MATRIX("%s.%d.self_attn.v_proj.weight", p, l);
        L->o = MATRIX("%s.%d.self_attn.out_proj.weight", p, l);
        L->q_b = SMALL("%s.%d.self_attn.q_proj.bias", p, l);
        L->k_b = SMALL("%s.%d.self_attn.k_proj.bias", p, l);
        L->v_b = SMALL("%s.%d.self_attn.v_proj.bias", p, l);
        L->o_b = SMALL("%s.%d.self_attn.out_proj.bias", p, l);
        L->ln1_g = SMALL("%s.%d.layer_norm1.weight", p, l);
        L->ln1_b = SMALL("%s.%d.layer_norm1.bias", p, l);
        L->ln2_g = SMALL("%s.%d.layer_norm2.weight", p, l);
        L->ln2_b = SMALL("%s.%d.layer_norm2.bias", p, l);
        L->fc1 = MATRIX("%s.%d.mlp.fc1.weight", p, l);
        L->fc1_b = SMALL("%s.%d.mlp.fc1.bias", p, l);
        L->fc2 = MATRIX("%s.%d.mlp.fc2.weight", p, l);
        L->fc2_b = SMALL("%s.%d.mlp.fc2.bias", p, l);
    }
    m->post_ln_g = SMALL("%s.post_layernorm.weight", vm);
    m->post_ln_b = SMALL("%s.post_layernorm.bias", vm);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        text_layer *L = &m->tlayers[l];
        const char *p = "git.encoder.layer";
        L->q = MATRIX("%s.%d.attention.self.query.weight", p, l);
        L->k = MATRIX("%s.%d.attention.self.key.weight", p, l);
        L->v = MATRIX("%s.%d.attention.self.value.weight", p, l);
        L->o = MATRIX("%s.%d.attention.output.dense.weight", p, l);
        L->q_b = SMALL("%s.%d.attention.self.query.bias", p, l);
        L->k_b = SMALL("%s.%d.attention.self.key.bias", p, l);
        L->v_b = SMALL("%s.%d.attention.self.value.bias", p, l);
        L->o_b = SMALL("%s.%d.attention.output.dense.bias", p, l);
        L->attn_ln_g = SMALL("%s.%d.attention.output.LayerNorm.weight", p, l);
        L->attn_ln_b = SMALL("%s.%d.attention.output.LayerNorm.bias", p, l);
        L->fc1 = MATRIX("%s.%d.intermediate.dense.weight", p, l);
        L->fc1_b = SMALL("%s.%d.intermediate.dense.bias", p, l);
        L->fc2 = MATRIX("%s.%d.output.dense.weight", p, l);
        L->fc2_b = SMALL("%s.%d.output.dense.bias", p, l);
        L->out_ln_g = SMALL("%s.%d.output.LayerNorm.weight", p, l);
        L->out_ln_b = SMALL("%s.%d.output.LayerNorm.bias", p, l);
    }
    m->proj = MATRIX("git.visual_projection.visual_projection.0.weight");
    m->proj_b = SMALL("git.visual_projection.visual_projection.0.bias");
    m->proj_ln_g = SMALL("git.visual_projection.visual_projection.1.weight");
    m->proj_ln_b = SMALL("git.visual_projection.visual_projection.1.bias");
    if (c->num_image_with_embedding > 0) {
        /* The temporal embeddings are consecutive in m->small: frame f at f * Dv. */
        for (int f = 0; f < c->num_image_with_embedding; f++) {
            float *t = SMALL("git.img_temperal_embedding.%d", f);
            if (f == 0)
                m->temporal = t;
        }
    }
    m->lm_head = MATRIX("output.weight");
    m->lm_head_b = SMALL("output.bias");
#undef SMALL
#undef MATRIX
    return b.status;
}

/* Reads an optional JSON file of the folder; *text is NULL when it does not exist. */
static gitc_status read_optional(const char *dir, const char *name, char **path, char **text,
                                 size_t *len, gitc_error *err)
{
    *text = NULL;
    *path = gitc_path_join(dir, name);
    if (!*path)
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
    if (!gitc_file_exists(*path))
        return GITC_OK;
    return gitc_read_file(*path, text, len, err);
}

gitc_status gitc_model_load(const char *dir, const gitc_model_params *params, gitc_model **out,
                            gitc_error *err)
{
    *out = NULL;
    gitc_model_params p = params ? *params : gitc_model_default_params();
    gitc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    m->gen_defaults = gitc_generate_default_params();
    param_check pc = {m, err, GITC_OK, NULL, 0, 0, 0};
    char *path = NULL, *text = NULL;
    size_t len = 0;
    gitc_status s;
    if (access(dir, F_OK) != 0) {
        s = gitc_fail(err, GITC_ERR_IO, "%s: no such model folder", dir);
        goto done;
    }
    s = read_optional(dir, "config.json", &path, &text, &len, err);
    if (s == GITC_OK && !text)
        s = gitc_fail(err, GITC_ERR_IO, "%s: missing (not a GIT model folder?)", path);
    if (s == GITC_OK)
        s = gitc_config_parse(text, len, path, &m->cfg, err);
    free(path);
    free(text);
    path = text = NULL;
    if (s != GITC_OK)
        goto done;
    s = read_optional(dir, "generation_config.json", &path, &text, &len, err);
    if (s == GITC_OK && text)
        s = gitc_generation_config_parse(text, len, path, &m->gen_defaults, err);
    free(path);
    free(text);
    path = text = NULL;
    if (s != GITC_OK)
        goto done;
    s = open_weights(m, err);
    if (s != GITC_OK)
        goto done;
    if (!gitc_config_for_each_param(&m->cfg, check_param, &pc)) {
        s = pc.status;
        goto done;
    }
    s = check_no_extra(m, &pc, err);
    if (s == GITC_OK)
        s = bind_weights(m, pc.small_floats, err);
    if (s != GITC_OK)
        goto done;
    char *vocab = gitc_path_join(dir, "vocab.txt"), *tokjson = gitc_path_join(dir, "tokenizer.json");
    int has_tok = (vocab && gitc_file_exists(vocab)) || (tokjson && gitc_file_exists(tokjson));
    free(vocab);
    free(tokjson);
    if (p.load_tokenizer && has_tok)
        s = gitc_tokenizer_load(dir, &m->tokenizer, err);
    if (s != GITC_OK)
        goto done;
    char *pre = gitc_path_join(dir, "preprocessor_config.json");
    int has_pre = pre && gitc_file_exists(pre);
    free(pre);
    if (p.load_processor && has_pre)
        s = gitc_processor_load(dir, &m->processor, err);
    if (s == GITC_OK)
        s = gitc_backend_prepare(m, &p, err);
done:
    for (int i = 0; i < pc.n_names; i++)
        free(pc.names[i]);
    free(pc.names);
    if (s != GITC_OK) {
        gitc_model_free(m);
        return s;
    }
    *out = m;
    return GITC_OK;
}
