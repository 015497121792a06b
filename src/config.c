/* config.json (GitConfig + GitVisionConfig) and generation_config.json. */
#include "model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Reads an integer field; absent or null keeps *out. Non-integers are an error. */
static int get_int(const cJSON *obj, const char *key, int *out, const char *path, gitc_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return 1;
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
        fabs(it->valuedouble) > 1e9) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: \"%s\" must be an integer", path, key);
        return 0;
    }
    *out = (int)it->valuedouble;
    return 1;
}

static int get_double(const cJSON *obj, const char *key, double *out, const char *path,
                      gitc_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it))
        return 1;
    if (!cJSON_IsNumber(it)) {
        gitc_fail(err, GITC_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
        return 0;
    }
    *out = it->valuedouble;
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

gitc_status gitc_config_parse(const char *json, size_t len, const char *path, gitc_config *cfg,
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
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return gitc_fail(err, GITC_ERR_FORMAT, "%s: malformed JSON near byte %ld", path,
                         (long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0));
    gitc_status s = GITC_ERR_FORMAT;
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
    if (!get_int(root, "vocab_size", &c.vocab_size, path, err) ||
        !get_int(root, "hidden_size", &c.hidden_size, path, err) ||
        !get_int(root, "num_hidden_layers", &c.num_hidden_layers, path, err) ||
        !get_int(root, "num_attention_heads", &c.num_attention_heads, path, err) ||
        !get_int(root, "intermediate_size", &c.intermediate_size, path, err) ||
        !get_int(root, "max_position_embeddings", &c.max_position_embeddings, path, err) ||
        !get_double(root, "layer_norm_eps", &c.layer_norm_eps, path, err) ||
        !get_int(root, "bos_token_id", &c.bos_token_id, path, err) ||
        !get_int(root, "eos_token_id", &c.eos_token_id, path, err) ||
        !get_int(root, "pad_token_id", &c.pad_token_id, path, err) ||
        !get_int(root, "num_image_with_embedding", &c.num_image_with_embedding, path, err))
        goto done;
    if (!check_act(root, "hidden_act", "gelu", path, err) ||
        !check_act(root, "position_embedding_type", "absolute", path, err)) {
        s = GITC_ERR_UNSUPPORTED;
        goto done;
    }
    if (vc && cJSON_IsObject(vc)) {
        if (!get_int(vc, "hidden_size", &c.vision_hidden_size, path, err) ||
            !get_int(vc, "intermediate_size", &c.vision_intermediate_size, path, err) ||
            !get_int(vc, "num_hidden_layers", &c.vision_num_hidden_layers, path, err) ||
            !get_int(vc, "num_attention_heads", &c.vision_num_attention_heads, path, err) ||
            !get_int(vc, "image_size", &c.vision_image_size, path, err) ||
            !get_int(vc, "patch_size", &c.vision_patch_size, path, err) ||
            !get_int(vc, "num_channels", &c.vision_num_channels, path, err) ||
            !get_double(vc, "layer_norm_eps", &c.vision_layer_norm_eps, path, err))
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
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gitc_fail(err, GITC_ERR_FORMAT, "%s: malformed JSON", path);
    }
    gitc_status s = GITC_ERR_FORMAT;
    double lp = p->length_penalty, rp = p->repetition_penalty, t = p->temperature, tp = p->top_p;
    int sample = p->do_sample;
    if (!get_int(root, "max_length", &p->max_length, path, err) ||
        !get_int(root, "max_new_tokens", &p->max_new_tokens, path, err) ||
        !get_int(root, "min_length", &p->min_length, path, err) ||
        !get_int(root, "min_new_tokens", &p->min_new_tokens, path, err) ||
        !get_int(root, "num_beams", &p->num_beams, path, err) ||
        !get_int(root, "num_return_sequences", &p->num_return_sequences, path, err) ||
        !get_int(root, "no_repeat_ngram_size", &p->no_repeat_ngram_size, path, err) ||
        !get_int(root, "top_k", &p->top_k, path, err) ||
        !get_double(root, "length_penalty", &lp, path, err) ||
        !get_double(root, "repetition_penalty", &rp, path, err) ||
        !get_double(root, "temperature", &t, path, err) ||
        !get_double(root, "top_p", &tp, path, err))
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

/* Parameter table: the HF state-dict names and shapes implied by a config. */
int gitc_config_for_each_param(const gitc_config *c, gitc_param_fn fn, void *user)
{
    char name[256];
    int64_t D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int64_t Dv = c->vision_hidden_size, Iv = c->vision_intermediate_size;
    int64_t P = c->vision_patch_size, T = c->image_tokens_per_frame;
#define PARAM(nd, ...)                                                                           \
    do {                                                                                         \
        int64_t shp[] = {__VA_ARGS__};                                                           \
        if (!fn(user, name, nd, shp))                                                            \
            return 0;                                                                            \
    } while (0)
#define NAME(...) snprintf(name, sizeof name, __VA_ARGS__)
    NAME("git.embeddings.word_embeddings.weight"); PARAM(2, V, D);
    NAME("git.embeddings.position_embeddings.weight"); PARAM(2, c->max_position_embeddings, D);
    NAME("git.embeddings.LayerNorm.weight"); PARAM(1, D);
    NAME("git.embeddings.LayerNorm.bias"); PARAM(1, D);
    const char *vm = "git.image_encoder.vision_model";
    NAME("%s.embeddings.class_embedding", vm); PARAM(1, Dv);
    NAME("%s.embeddings.patch_embedding.weight", vm); PARAM(4, Dv, 3, P, P);
    NAME("%s.embeddings.position_embedding.weight", vm); PARAM(2, T, Dv);
    NAME("%s.pre_layrnorm.weight", vm); PARAM(1, Dv);
    NAME("%s.pre_layrnorm.bias", vm); PARAM(1, Dv);
    for (int l = 0; l < c->vision_num_hidden_layers; l++) {
        static const char *proj[] = {"k_proj", "v_proj", "q_proj", "out_proj"};
        for (int j = 0; j < 4; j++) {
            NAME("%s.encoder.layers.%d.self_attn.%s.weight", vm, l, proj[j]); PARAM(2, Dv, Dv);
            NAME("%s.encoder.layers.%d.self_attn.%s.bias", vm, l, proj[j]); PARAM(1, Dv);
        }
        NAME("%s.encoder.layers.%d.layer_norm1.weight", vm, l); PARAM(1, Dv);
        NAME("%s.encoder.layers.%d.layer_norm1.bias", vm, l); PARAM(1, Dv);
        NAME("%s.encoder.layers.%d.mlp.fc1.weight", vm, l); PARAM(2, Iv, Dv);
        NAME("%s.encoder.layers.%d.mlp.fc1.bias", vm, l); PARAM(1, Iv);
        NAME("%s.encoder.layers.%d.mlp.fc2.weight", vm, l); PARAM(2, Dv, Iv);
        NAME("%s.encoder.layers.%d.mlp.fc2.bias", vm, l); PARAM(1, Dv);
        NAME("%s.encoder.layers.%d.layer_norm2.weight", vm, l); PARAM(1, Dv);
        NAME("%s.encoder.layers.%d.layer_norm2.bias", vm, l); PARAM(1, Dv);
    }
    NAME("%s.post_layernorm.weight", vm); PARAM(1, Dv);
    NAME("%s.post_layernorm.bias", vm); PARAM(1, Dv);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const char *p = "git.encoder.layer";
        static const char *qkv[] = {"query", "key", "value"};
        for (int j = 0; j < 3; j++) {
            NAME("%s.%d.attention.self.%s.weight", p, l, qkv[j]); PARAM(2, D, D);
            NAME("%s.%d.attention.self.%s.bias", p, l, qkv[j]); PARAM(1, D);
        }
        NAME("%s.%d.attention.output.dense.weight", p, l); PARAM(2, D, D);
        NAME("%s.%d.attention.output.dense.bias", p, l); PARAM(1, D);
        NAME("%s.%d.attention.output.LayerNorm.weight", p, l); PARAM(1, D);
        NAME("%s.%d.attention.output.LayerNorm.bias", p, l); PARAM(1, D);
        NAME("%s.%d.intermediate.dense.weight", p, l); PARAM(2, I, D);
        NAME("%s.%d.intermediate.dense.bias", p, l); PARAM(1, I);
        NAME("%s.%d.output.dense.weight", p, l); PARAM(2, D, I);
        NAME("%s.%d.output.dense.bias", p, l); PARAM(1, D);
        NAME("%s.%d.output.LayerNorm.weight", p, l); PARAM(1, D);
        NAME("%s.%d.output.LayerNorm.bias", p, l); PARAM(1, D);
    }
    NAME("git.visual_projection.visual_projection.0.weight"); PARAM(2, D, Dv);
    NAME("git.visual_projection.visual_projection.0.bias"); PARAM(1, D);
    NAME("git.visual_projection.visual_projection.1.weight"); PARAM(1, D);
    NAME("git.visual_projection.visual_projection.1.bias"); PARAM(1, D);
    for (int f = 0; f < c->num_image_with_embedding; f++) {
        NAME("git.img_temperal_embedding.%d", f); PARAM(3, 1, 1, Dv);
    }
    NAME("output.weight"); PARAM(2, V, D);
    NAME("output.bias"); PARAM(1, V);
#undef PARAM
#undef NAME
    return 1;
}
