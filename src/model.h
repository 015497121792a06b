/* The layout of a loaded model: its config and its weights bound to layer
 * structs (types only: the functions that fill and walk it are in weights.h
 * and the public API). Immutable after gitc_model_load; shared by every
 * session. */
#ifndef GITC_MODEL_H
#define GITC_MODEL_H

#include "internal.h"
#include "kernels.h"
#include "tensors.h"

/* One CLIP ViT encoder layer (pre-LN). Dv = vision hidden, Iv = vision MLP. */
typedef struct vision_layer {
    float *ln1_g, *ln1_b;            /* [Dv] */
    gitc_matrix q, k, v, o;          /* [Dv, Dv] */
    float *q_b, *k_b, *v_b, *o_b;    /* [Dv] */
    float *ln2_g, *ln2_b;            /* [Dv] */
    gitc_matrix fc1;                 /* [Iv, Dv] */
    float *fc1_b;                    /* [Iv] */
    gitc_matrix fc2;                 /* [Dv, Iv] */
    float *fc2_b;                    /* [Dv] */
} vision_layer;

/* One BERT decoder layer (post-LN). D = hidden, I = MLP. */
typedef struct text_layer {
    gitc_matrix q, k, v, o;          /* [D, D] */
    float *q_b, *k_b, *v_b, *o_b;    /* [D] */
    float *attn_ln_g, *attn_ln_b;    /* [D] */
    gitc_matrix fc1;                 /* [I, D] */
    float *fc1_b;                    /* [I] */
    gitc_matrix fc2;                 /* [D, I] */
    float *fc2_b;                    /* [D] */
    float *out_ln_g, *out_ln_b;      /* [D] */
} text_layer;

struct gitc_model {
    gitc_config cfg;
    char *dir;
    tensor_source *weights; /* the mapped weight files */
    float *small; /* every vector and small table converted to float32, one block */
    void **aligned_copies; /* matrices copied: misaligned, strided or float64 in the file */
    int n_aligned_copies;
    size_t weight_bytes;  /* bytes of the bound weights as stored (matrices) and as float32 (the rest) */
    int64_t n_params;     /* parameters bound */
    double load_ms;       /* wall time of gitc_model_load */

    /* vision encoder; Np = patches per frame, P = patch size */
    float *class_emb;                /* [Dv] */
    gitc_matrix patch;               /* [Dv, 3*P*P] */
    float *vis_pos;                  /* [Np+1, Dv] */
    float *pre_ln_g, *pre_ln_b;      /* [Dv] */
    vision_layer *vlayers;           /* [vision layers] */
    float *post_ln_g, *post_ln_b;    /* [Dv] */
    float *temporal;                 /* [frames, Dv], NULL for image models */
    gitc_matrix proj;                /* [D, Dv] */
    float *proj_b, *proj_ln_g, *proj_ln_b; /* [D] */

    /* text decoder */
    gitc_matrix word_emb;            /* [V, D] */
    gitc_matrix pos_emb;             /* [max_pos, D] */
    float *emb_ln_g, *emb_ln_b;      /* [D] */
    text_layer *tlayers;             /* [layers] */
    gitc_matrix lm_head;             /* [V, D] */
    float *lm_head_b;                /* [V] */

    struct gitc_backend *backend;    /* kernel set, prepared weights, shared pools (backend.c) */

    gitc_tokenizer *tokenizer;       /* NULL when the folder has none */
    gitc_processor *processor;       /* NULL when the folder has none */
    gitc_generate_params gen_defaults;
};

#endif /* GITC_MODEL_H */
