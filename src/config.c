/* config.json (GitConfig + GitVisionConfig) and generation_config.json. */
#include "model.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The JSON text being read, for messages that show a value as written. */
typedef struct json_src {
    const char *text;
    size_t len;
    const char *path;
    const char *parent; /* the object the keys are in ("vision_config"), NULL at the top level */
} json_src;

/* Formats the value of `key` as written in the file (or, failing that, the parsed double). */
static const char *as_written(const json_src *src, const char *key, double v, char *buf, size_t size)
{
    if (!gitc_json_literal(src->text, src->len, src->parent, key, buf, size))
        snprintf(buf, size, "%.17g", v);
    return buf;
}

/* Reads an integer field in [lo, hi]; absent or null keeps *out. Anything else
 * is an error naming the file, the key and the value as written; the range is
 * checked on the double, before the conversion. */
static int get_int(const json_src *src, const cJSON *obj, const char *key, int *out, double lo,
                   double hi, gitc_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return 1;
    const char *pre = src->parent ? src->parent : "", *dot = src->parent ? "." : "";
    if (!cJSON_IsNumber(it)) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" must be an integer", src->path, pre, dot, key);
        return 0;
    }
    double v = it->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v)) {
        char text[48];
        gitc_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" = %s must be an integer in %.0f..%.0f",
                  src->path, pre, dot, key, as_written(src, key, v, text, sizeof text), lo, hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* Reads a number field in [lo, hi] (inclusive unless lo_open); absent or null keeps *out. */
static int get_double(const json_src *src, const cJSON *obj, const char *key, double *out, double lo,
                      int lo_open, double hi, gitc_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return 1;
    const char *pre = src->parent ? src->parent : "", *dot = src->parent ? "." : "";
    if (!cJSON_IsNumber(it)) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" must be a number", src->path, pre, dot, key);
        return 0;
    }
    double v = it->valuedouble;
    if (!(lo_open ? v > lo : v >= lo) || !(v <= hi)) {
        char text[48];
        gitc_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" = %s is out of range %s%g, %g]", src->path,
                  pre, dot, key, as_written(src, key, v, text, sizeof text), lo_open ? "(" : "[", lo,
                  hi);
        return 0;
    }
    *out = v;
    return 1;
}

/* Checks that a string field, when present, is one of the accepted values. */
static int check_act(const cJSON *obj, const char *key, const char *want, const char *path,
                     gitc_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return 1;
    if (!cJSON_IsString(it) || strcmp(it->valuestring, want) != 0) {
        gitc_fail(err, GITC_ERR_UNSUPPORTED, "%s: \"%s\" is %s%s%s; gitc supports \"%s\"", path,
                  key, cJSON_IsString(it) ? "\"" : "", cJSON_IsString(it) ? it->valuestring : "not a string",
                  cJSON_IsString(it) ? "\"" : "", want);
        return 0;
    }
    return 1;
}

gitc_status gitc_config_from_json(const char *json, size_t len, const char *path, gitc_config *cfg,
                                  gitc_error *err)
{
    /* GitConfig defaults (transformers 4.39.3). */
    gitc_config c = {
        .vocab_size = 30522, .hidden_size = 768, .num_hidden_layers = 6,
        .num_attention_heads = 12, .intermediate_size = 3072, .max_position_embeddings = 1024,
        .layer_norm_eps = 1e-12, .bos_token_id = 101, .eos_token_id = 102, .pad_token_id = 0,
        .num_image_with_embedding = 0,
        /* GitVisionConfig defaults */
        .vision_hidden_size = 768, .vision_intermediate_size = 3072,
        .vision_num_hidden_layers = 12, .vision_num_attention_heads = 12,
        .vision_image_size = 224, .vision_patch_size = 16, .vision_num_channels = 3,
        .vision_layer_norm_eps = 1e-5,
    };
    if (!path)
        path = "config.json";
    if (!json || !cfg)
        return gitc_fail(err, GITC_ERR_ARGUMENT, "%s: gitc_config_from_json needs the text and an output",
                         path);
    cJSON *root = NULL;
    gitc_status s = gitc_json_parse_config(json, len, path, &root, err);
    if (s != GITC_OK)
        return s;
    s = GITC_ERR_FORMAT;
    json_src top = {json, len, path, NULL}, vis = {json, len, path, "vision_config"};
    if (!cJSON_IsObject(root)) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "git") != 0)) {
        s = gitc_fail(err, GITC_ERR_UNSUPPORTED, "%s: model_type is %s%s%s, not \"git\"", path,
                      cJSON_IsString(mt) ? "\"" : "", cJSON_IsString(mt) ? mt->valuestring : "not a string",
                      cJSON_IsString(mt) ? "\"" : "");
        goto done;
    }
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if (vc && !cJSON_IsNull(vc) && !cJSON_IsObject(vc)) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: vision_config must be an object", path);
        goto done;
    }
    if (!get_int(&top, root, "vocab_size", &c.vocab_size, -1e9, 1e9, err) ||
        !get_int(&top, root, "hidden_size", &c.hidden_size, -1e9, 1e9, err) ||
        !get_int(&top, root, "num_hidden_layers", &c.num_hidden_layers, -1e9, 1e9, err) ||
        !get_int(&top, root, "num_attention_heads", &c.num_attention_heads, -1e9, 1e9, err) ||
        !get_int(&top, root, "intermediate_size", &c.intermediate_size, -1e9, 1e9, err) ||
        !get_int(&top, root, "max_position_embeddings", &c.max_position_embeddings, -1e9, 1e9, err) ||
        !get_double(&top, root, "layer_norm_eps", &c.layer_norm_eps, -DBL_MAX, 0, DBL_MAX, err) ||
        !get_int(&top, root, "bos_token_id", &c.bos_token_id, -1e9, 1e9, err) ||
        !get_int(&top, root, "eos_token_id", &c.eos_token_id, -1e9, 1e9, err) ||
        !get_int(&top, root, "pad_token_id", &c.pad_token_id, -1e9, 1e9, err) ||
        !get_int(&top, root, "num_image_with_embedding", &c.num_image_with_embedding, -1e9, 1e9, err))
        goto done;
    if (!check_act(root, "hidden_act", "gelu", path, err) ||
        !check_act(root, "position_embedding_type", "absolute", path, err)) {
        s = GITC_ERR_UNSUPPORTED;
        goto done;
    }
    if (vc && cJSON_IsObject(vc)) {
        if (!get_int(&vis, vc, "hidden_size", &c.vision_hidden_size, -1e9, 1e9, err) ||
            !get_int(&vis, vc, "intermediate_size", &c.vision_intermediate_size, -1e9, 1e9, err) ||
            !get_int(&vis, vc, "num_hidden_layers", &c.vision_num_hidden_layers, -1e9, 1e9, err) ||
            !get_int(&vis, vc, "num_attention_heads", &c.vision_num_attention_heads, -1e9, 1e9, err) ||
            !get_int(&vis, vc, "image_size", &c.vision_image_size, -1e9, 1e9, err) ||
            !get_int(&vis, vc, "patch_size", &c.vision_patch_size, -1e9, 1e9, err) ||
            !get_int(&vis, vc, "num_channels", &c.vision_num_channels, -1e9, 1e9, err) ||
            !get_double(&vis, vc, "layer_norm_eps", &c.vision_layer_norm_eps, -DBL_MAX, 0, DBL_MAX, err))
            goto done;
        if (!check_act(vc, "hidden_act", "quick_gelu", path, err)) {
            s = GITC_ERR_UNSUPPORTED;
            goto done;
        }
    }
    /* Sanity: positive sizes, heads dividing widths, sizes that fit in memory. */
    struct { const char *name; int v; int max; } pos[] = {
        {"vocab_size", c.vocab_size, 1 << 22},
        {"hidden_size", c.hidden_size, 1 << 15},
        {"num_hidden_layers", c.num_hidden_layers, 1024},
        {"num_attention_heads", c.num_attention_heads, 1024},
        {"intermediate_size", c.intermediate_size, 1 << 17},
        {"max_position_embeddings", c.max_position_embeddings, 1 << 16},
        {"vision_config.hidden_size", c.vision_hidden_size, 1 << 15},
        {"vision_config.intermediate_size", c.vision_intermediate_size, 1 << 17},
        {"vision_config.num_hidden_layers", c.vision_num_hidden_layers, 1024},
        {"vision_config.num_attention_heads", c.vision_num_attention_heads, 1024},
        {"vision_config.image_size", c.vision_image_size, 4096},
        {"vision_config.patch_size", c.vision_patch_size, 4096},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        if (pos[i].v <= 0 || pos[i].v > pos[i].max) {
            gitc_fail(err, GITC_ERR_FORMAT, "%s: %s = %d is out of range (1..%d)", path,
                      pos[i].name, pos[i].v, pos[i].max);
            goto done;
        }
    }
    if (c.vision_num_channels != 3) {
        s = gitc_fail(err, GITC_ERR_UNSUPPORTED, "%s: vision_config.num_channels = %d (gitc supports 3)",
                      path, c.vision_num_channels);
        goto done;
    }
    if (c.hidden_size % c.num_attention_heads || c.vision_hidden_size % c.vision_num_attention_heads) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: hidden_size must be a multiple of num_attention_heads",
                  path);
        goto done;
    }
    if (c.vision_patch_size > c.vision_image_size) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: patch_size %d exceeds image_size %d", path,
                  c.vision_patch_size, c.vision_image_size);
        goto done;
    }
    if (c.num_image_with_embedding < 0 || c.num_image_with_embedding > 64) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: num_image_with_embedding = %d is out of range", path,
                  c.num_image_with_embedding);
        goto done;
    }
    if (!(c.layer_norm_eps > 0) || !(c.vision_layer_norm_eps > 0)) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: layer_norm_eps must be positive", path);
        goto done;
    }
    int g = c.vision_image_size / c.vision_patch_size;
    c.image_tokens_per_frame = g * g + 1;
    *cfg = c;
    s = GITC_OK;
done:
    cJSON_Delete(root);
    return s;
}

gitc_status gitc_generation_config_parse(const char *json, size_t len, const char *path,
                                         gitc_generate_params *p, gitc_error *err)
{
    cJSON *root = NULL;
    gitc_status s = gitc_json_parse_config(json, len, path, &root, err);
    if (s != GITC_OK)
        return s;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gitc_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", path);
    }
    s = GITC_ERR_FORMAT;
    json_src src = {json, len, path, NULL};
    double lp = p->length_penalty, rp = p->repetition_penalty, t = p->temperature, tp = p->top_p;
    int sample = p->do_sample;
    /* Ranges a model file may set, checked on the value as parsed (a double), before any
     * conversion: lengths up to the largest max_position_embeddings a config may have,
     * beams and returned sequences as generate allows, floats finite as floats. */
    const double max_len = 1 << 16;
    if (!get_int(&src, root, "max_length", &p->max_length, 0, max_len, err) ||
        !get_int(&src, root, "max_new_tokens", &p->max_new_tokens, 0, max_len, err) ||
        !get_int(&src, root, "min_length", &p->min_length, 0, max_len, err) ||
        !get_int(&src, root, "min_new_tokens", &p->min_new_tokens, 0, max_len, err) ||
        !get_int(&src, root, "num_beams", &p->num_beams, 1, 64, err) ||
        !get_int(&src, root, "num_return_sequences", &p->num_return_sequences, 1, 64, err) ||
        !get_int(&src, root, "no_repeat_ngram_size", &p->no_repeat_ngram_size, 0, max_len, err) ||
        !get_int(&src, root, "top_k", &p->top_k, 0, 1 << 30, err) ||
        !get_double(&src, root, "length_penalty", &lp, -FLT_MAX, 0, FLT_MAX, err) ||
        !get_double(&src, root, "repetition_penalty", &rp, 0, 1, FLT_MAX, err) ||
        !get_double(&src, root, "temperature", &t, 0, 0, FLT_MAX, err) ||
        !get_double(&src, root, "top_p", &tp, 0, 0, 1, err))
        goto done;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if (cJSON_IsBool(ds))
        sample = cJSON_IsTrue(ds);
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(root, "early_stopping");
    if (cJSON_IsBool(es))
        p->early_stopping = cJSON_IsTrue(es) ? GITC_EARLY_STOPPING_TRUE : GITC_EARLY_STOPPING_FALSE;
    else if (cJSON_IsString(es) && strcmp(es->valuestring, "never") == 0)
        p->early_stopping = GITC_EARLY_STOPPING_NEVER;
    p->length_penalty = (float)lp;
    p->repetition_penalty = (float)rp;
    p->temperature = (float)t;
    p->top_p = (float)tp;
    p->do_sample = sample;
    s = GITC_OK;
done:
    cJSON_Delete(root);
    return s;
}

/* ---- the weight table ----
 * Every tensor of a GIT checkpoint: its name pattern (%d = layer or frame),
 * its shape from the config (one letter per dimension, see dim_value), its
 * kind and the field it is bound to. Checking (model.c), binding (model.c),
 * conversion (tensor sources) and the synthetic writer (synth.c) all read
 * this one table. */

enum { SCOPE_MODEL, SCOPE_VISION_LAYER, SCOPE_TEXT_LAYER, SCOPE_FRAME };

typedef struct weight_row {
    const char *pattern;
    int scope;
    weight_kind kind;
    const char *dims; /* D hidden, I intermediate, V vocab, M max positions, d vision hidden,
                         i vision intermediate, P patch size, T tokens per frame, 1 and 3 */
    size_t field;     /* offsetof in gitc_model, vision_layer or text_layer */
} weight_row;

#define VM "git.image_encoder.vision_model"
#define VL VM ".encoder.layers.%d"
#define TL "git.encoder.layer.%d"
#define M_(f) offsetof(gitc_model, f)
#define V_(f) offsetof(vision_layer, f)
#define T_(f) offsetof(text_layer, f)
static const weight_row weight_table[] = {
    {"git.embeddings.word_embeddings.weight", SCOPE_MODEL, WEIGHT_EMBEDDING, "VD", M_(word_emb)},
    {"git.embeddings.position_embeddings.weight", SCOPE_MODEL, WEIGHT_EMBEDDING, "MD", M_(pos_emb)},
    {"git.embeddings.LayerNorm.weight", SCOPE_MODEL, WEIGHT_VECTOR, "D", M_(emb_ln_g)},
    {"git.embeddings.LayerNorm.bias", SCOPE_MODEL, WEIGHT_VECTOR, "D", M_(emb_ln_b)},
    {VM ".embeddings.class_embedding", SCOPE_MODEL, WEIGHT_VECTOR, "d", M_(class_emb)},
    {VM ".embeddings.patch_embedding.weight", SCOPE_MODEL, WEIGHT_MATRIX, "d3PP", M_(patch)},
    {VM ".embeddings.position_embedding.weight", SCOPE_MODEL, WEIGHT_TABLE, "Td", M_(vis_pos)},
    {VM ".pre_layrnorm.weight", SCOPE_MODEL, WEIGHT_VECTOR, "d", M_(pre_ln_g)},
    {VM ".pre_layrnorm.bias", SCOPE_MODEL, WEIGHT_VECTOR, "d", M_(pre_ln_b)},
    {VL ".self_attn.k_proj.weight", SCOPE_VISION_LAYER, WEIGHT_MATRIX, "dd", V_(k)},
    {VL ".self_attn.k_proj.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(k_b)},
    {VL ".self_attn.v_proj.weight", SCOPE_VISION_LAYER, WEIGHT_MATRIX, "dd", V_(v)},
    {VL ".self_attn.v_proj.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(v_b)},
    {VL ".self_attn.q_proj.weight", SCOPE_VISION_LAYER, WEIGHT_MATRIX, "dd", V_(q)},
    {VL ".self_attn.q_proj.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(q_b)},
    {VL ".self_attn.out_proj.weight", SCOPE_VISION_LAYER, WEIGHT_MATRIX, "dd", V_(o)},
    {VL ".self_attn.out_proj.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(o_b)},
    {VL ".layer_norm1.weight", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(ln1_g)},
    {VL ".layer_norm1.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(ln1_b)},
    {VL ".mlp.fc1.weight", SCOPE_VISION_LAYER, WEIGHT_MATRIX, "id", V_(fc1)},
    {VL ".mlp.fc1.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "i", V_(fc1_b)},
    {VL ".mlp.fc2.weight", SCOPE_VISION_LAYER, WEIGHT_MATRIX, "di", V_(fc2)},
    {VL ".mlp.fc2.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(fc2_b)},
    {VL ".layer_norm2.weight", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(ln2_g)},
    {VL ".layer_norm2.bias", SCOPE_VISION_LAYER, WEIGHT_VECTOR, "d", V_(ln2_b)},
    {VM ".post_layernorm.weight", SCOPE_MODEL, WEIGHT_VECTOR, "d", M_(post_ln_g)},
    {VM ".post_layernorm.bias", SCOPE_MODEL, WEIGHT_VECTOR, "d", M_(post_ln_b)},
    {TL ".attention.self.query.weight", SCOPE_TEXT_LAYER, WEIGHT_MATRIX, "DD", T_(q)},
    {TL ".attention.self.query.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(q_b)},
    {TL ".attention.self.key.weight", SCOPE_TEXT_LAYER, WEIGHT_MATRIX, "DD", T_(k)},
    {TL ".attention.self.key.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(k_b)},
    {TL ".attention.self.value.weight", SCOPE_TEXT_LAYER, WEIGHT_MATRIX, "DD", T_(v)},
    {TL ".attention.self.value.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(v_b)},
    {TL ".attention.output.dense.weight", SCOPE_TEXT_LAYER, WEIGHT_MATRIX, "DD", T_(o)},
    {TL ".attention.output.dense.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(o_b)},
    {TL ".attention.output.LayerNorm.weight", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(attn_ln_g)},
    {TL ".attention.output.LayerNorm.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(attn_ln_b)},
    {TL ".intermediate.dense.weight", SCOPE_TEXT_LAYER, WEIGHT_MATRIX, "ID", T_(fc1)},
    {TL ".intermediate.dense.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "I", T_(fc1_b)},
    {TL ".output.dense.weight", SCOPE_TEXT_LAYER, WEIGHT_MATRIX, "DI", T_(fc2)},
    {TL ".output.dense.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(fc2_b)},
    {TL ".output.LayerNorm.weight", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(out_ln_g)},
    {TL ".output.LayerNorm.bias", SCOPE_TEXT_LAYER, WEIGHT_VECTOR, "D", T_(out_ln_b)},
    {"git.visual_projection.visual_projection.0.weight", SCOPE_MODEL, WEIGHT_MATRIX, "Dd", M_(proj)},
    {"git.visual_projection.visual_projection.0.bias", SCOPE_MODEL, WEIGHT_VECTOR, "D", M_(proj_b)},
    {"git.visual_projection.visual_projection.1.weight", SCOPE_MODEL, WEIGHT_VECTOR, "D", M_(proj_ln_g)},
    {"git.visual_projection.visual_projection.1.bias", SCOPE_MODEL, WEIGHT_VECTOR, "D", M_(proj_ln_b)},
    /* Frame f's temporal embedding; the frames are bound consecutively from m->temporal. */
    {"git.img_temperal_embedding.%d", SCOPE_FRAME, WEIGHT_TABLE, "11d", M_(temporal)},
    {"output.weight", SCOPE_MODEL, WEIGHT_MATRIX, "VD", M_(lm_head)},
    {"output.bias", SCOPE_MODEL, WEIGHT_VECTOR, "V", M_(lm_head_b)},
};
#undef VM
#undef VL
#undef TL
#undef M_
#undef V_
#undef T_

static int64_t dim_value(const gitc_config *c, char d)
{
    switch (d) {
    case 'D': return c->hidden_size;
    case 'I': return c->intermediate_size;
    case 'V': return c->vocab_size;
    case 'M': return c->max_position_embeddings;
    case 'd': return c->vision_hidden_size;
    case 'i': return c->vision_intermediate_size;
    case 'P': return c->vision_patch_size;
    case 'T': return c->image_tokens_per_frame;
    case '3': return 3;
    default: return 1;
    }
}

int gitc_weight_is_ignored(const char *name)
{
    /* The int64 position_ids buffers transformers saved with some checkpoints. */
    size_t len = strlen(name);
    return len >= 13 && strcmp(name + len - 13, ".position_ids") == 0;
}

int gitc_weights_for_each(const gitc_config *c, gitc_model *m, gitc_weight_fn fn, void *user)
{
    char name[256];
    for (size_t r = 0; r < sizeof weight_table / sizeof weight_table[0]; r++) {
        const weight_row *row = &weight_table[r];
        int count = row->scope == SCOPE_VISION_LAYER ? c->vision_num_hidden_layers
                    : row->scope == SCOPE_TEXT_LAYER ? c->num_hidden_layers
                    : row->scope == SCOPE_FRAME      ? c->num_image_with_embedding
                                                     : 1;
        for (int l = 0; l < count; l++) {
            weight_spec w = {.name = name, .kind = row->kind};
            snprintf(name, sizeof name, row->pattern, l);
            w.ndim = (int)strlen(row->dims);
            for (int d = 0; d < w.ndim; d++)
                w.shape[d] = dim_value(c, row->dims[d]);
            char *base = NULL;
            if (m)
                base = row->scope == SCOPE_VISION_LAYER ? (char *)&m->vlayers[l]
                       : row->scope == SCOPE_TEXT_LAYER ? (char *)&m->tlayers[l]
                                                        : (char *)m;
            if (base && (row->scope != SCOPE_FRAME || l == 0)) {
                if (row->kind == WEIGHT_MATRIX || row->kind == WEIGHT_EMBEDDING)
                    w.matrix = (gitc_matrix *)(base + row->field);
                else
                    w.vector = (float **)(base + row->field);
            }
            if (!fn(user, &w))
                return 0;
        }
    }
    return 1;
}

typedef struct param_adapter {
    gitc_parameter_fn fn;
    void *user;
} param_adapter;

static int adapt_param(void *user, const weight_spec *w)
{
    const param_adapter *a = user;
    return a->fn(a->user, w->name, w->ndim, w->shape);
}

int gitc_config_for_each_parameter(const gitc_config *c, gitc_parameter_fn fn, void *user)
{
    if (!c || !fn)
        return 0;
    param_adapter a = {fn, user};
    return gitc_weights_for_each(c, NULL, adapt_param, &a);
}
