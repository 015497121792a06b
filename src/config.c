/* config.json (GitConfig + GitVisionConfig) and generation_config.json. */
#include "config.h"

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
    if (!gitci_json_literal(src->text, src->len, src->parent, key, buf, size))
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
        gitci_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" must be an integer", src->path, pre, dot, key);
        return 0;
    }
    double v = it->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v)) {
        char text[48];
        gitci_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" = %s must be an integer in %.0f..%.0f",
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
        gitci_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" must be a number", src->path, pre, dot, key);
        return 0;
    }
    double v = it->valuedouble;
    if (!(lo_open ? v > lo : v >= lo) || !(v <= hi)) {
        char text[48];
        gitci_fail(err, GITC_ERR_FORMAT, "%s: \"%s%s%s\" = %s is out of range %s%g, %g]", src->path,
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
        gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: \"%s\" is %s%s%s; gitc supports \"%s\"", path,
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
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s: gitc_config_from_json needs the text and an output",
                          path);
    cJSON *root = NULL;
    gitc_status s = gitci_json_parse_config(json, len, path, &root, err);
    if (s != GITC_OK)
        return s;
    s = GITC_ERR_FORMAT;
    json_src top = {json, len, path, NULL}, vis = {json, len, path, "vision_config"};
    if (!cJSON_IsObject(root)) {
        gitci_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "git") != 0)) {
        s = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: model_type is %s%s%s, not \"git\"", path,
                       cJSON_IsString(mt) ? "\"" : "", cJSON_IsString(mt) ? mt->valuestring : "not a string",
                       cJSON_IsString(mt) ? "\"" : "");
        goto done;
    }
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if (vc && !cJSON_IsNull(vc) && !cJSON_IsObject(vc)) {
        gitci_fail(err, GITC_ERR_FORMAT, "%s: vision_config must be an object", path);
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
            gitci_fail(err, GITC_ERR_FORMAT, "%s: %s = %d is out of range (1..%d)", path,
                       pos[i].name, pos[i].v, pos[i].max);
            goto done;
        }
    }
    if (c.vision_num_channels != 3) {
        s = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: vision_config.num_channels = %d (gitc supports 3)",
                       path, c.vision_num_channels);
        goto done;
    }
    if (c.hidden_size % c.num_attention_heads || c.vision_hidden_size % c.vision_num_attention_heads) {
        gitci_fail(err, GITC_ERR_FORMAT, "%s: hidden_size must be a multiple of num_attention_heads",
                   path);
        goto done;
    }
    if (c.vision_patch_size > c.vision_image_size) {
        gitci_fail(err, GITC_ERR_FORMAT, "%s: patch_size %d exceeds image_size %d", path,
                   c.vision_patch_size, c.vision_image_size);
        goto done;
    }
    if (c.num_image_with_embedding < 0 || c.num_image_with_embedding > 64) {
        gitci_fail(err, GITC_ERR_FORMAT, "%s: num_image_with_embedding = %d is out of range", path,
                   c.num_image_with_embedding);
        goto done;
    }
    if (!(c.layer_norm_eps > 0) || !(c.vision_layer_norm_eps > 0)) {
        gitci_fail(err, GITC_ERR_FORMAT, "%s: layer_norm_eps must be positive", path);
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

gitc_status gitci_generation_config_parse(const char *json, size_t len, const char *path,
                                          gitc_generate_params *p, gitc_error *err)
{
    cJSON *root = NULL;
    gitc_status s = gitci_json_parse_config(json, len, path, &root, err);
    if (s != GITC_OK)
        return s;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", path);
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
