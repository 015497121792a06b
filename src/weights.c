/* The weight table: every tensor of a GIT checkpoint, its name, its shape
 * from the config, its kind and the field of gitc_model it is bound to.
 * Checking and binding (model.c), conversion (tensor sources) and the
 * synthetic writer (tools/synth.c) all read this one table. */
#include "weights.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* One row: a name pattern (%d = layer or frame), its shape from the config
 * (one letter per dimension, see dim_value), its kind and its field. */
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

int gitci_weight_is_ignored(const char *name)
{
    /* The int64 position_ids buffers transformers saved with some checkpoints. */
    size_t len = strlen(name);
    return len >= 13 && strcmp(name + len - 13, ".position_ids") == 0;
}

int gitci_weights_for_each(const gitc_config *c, gitc_model *m, gitc_weight_fn fn, void *user)
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
    return gitci_weights_for_each(c, NULL, adapt_param, &a);
}

typedef struct matrix_iter {
    gitc_matrix_fn fn;
    void *user;
} matrix_iter;

static int each_matrix(void *user, const weight_spec *w)
{
    const matrix_iter *it = user;
    if (w->matrix)
        it->fn(it->user, w->name, w->matrix);
    return 1;
}

void gitci_model_for_each_matrix(gitc_model *m, gitc_matrix_fn fn, void *user)
{
    matrix_iter it = {fn, user};
    gitci_weights_for_each(&m->cfg, m, each_matrix, &it);
}
