/* The loaded model (weights, config) and per-session state, shared by the
 * forward-pass files (vision.c, decoder.c, generate.c). */
#ifndef GITC_MODEL_H
#define GITC_MODEL_H

#include "internal.h"
#include "kernels.h"
#include "safetensors.h"
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

/* Applies generation_config.json text to params (unknown keys ignored). */
gitc_status gitc_generation_config_parse(const char *json, size_t len, const char *path,
                                         gitc_generate_params *params, gitc_error *err);

/* The weight table (config.c): how each tensor of a checkpoint is used. */
typedef enum weight_kind {
    WEIGHT_MATRIX,    /* a linear layer's weight: stays in the mapping, a gitc_matrix */
    WEIGHT_EMBEDDING, /* an embedding table read by rows: stays in the mapping, a gitc_matrix */
    WEIGHT_VECTOR,    /* a bias, LayerNorm weight or class embedding: converted to float32 */
    WEIGHT_TABLE      /* a small table (vision positions, temporal): converted to float32 */
} weight_kind;

typedef struct weight_spec {
    const char *name;    /* HF state-dict name (valid during the callback) */
    int ndim;
    int64_t shape[4];    /* from the config */
    weight_kind kind;
    gitc_matrix *matrix; /* where a MATRIX/EMBEDDING is bound (NULL without a model) */
    float **vector;      /* where a VECTOR/TABLE is bound (NULL without a model, and for
                            temporal frames > 0, which follow frame 0 in the float32 block) */
} weight_spec;

typedef int (*gitc_weight_fn)(void *user, const weight_spec *w);

/* Calls fn for every weight the config implies, in table order; stops when fn
 * returns 0 (and returns 0). With a model (its vlayers/tlayers allocated) the
 * specs say where each weight is bound. */
int gitc_weights_for_each(const gitc_config *cfg, gitc_model *m, gitc_weight_fn fn, void *user);

/* 1 for the buffers a checkpoint may hold that gitc ignores (position_ids). */
int gitc_weight_is_ignored(const char *name);

/* Calls fn with every bound matrix of a loaded model (linear weights and
 * embedding tables) and its HF name, e.g. to convert weights after loading. */
typedef void (*gitc_matrix_fn)(void *user, const char *name, gitc_matrix *w);
void gitc_model_for_each_matrix(gitc_model *m, gitc_matrix_fn fn, void *user);

/* Per-sample image context in the decoder: the image tokens' keys and values
 * for every layer, computed once per image. */
typedef struct image_kv {
    int n_img;
    float *k; /* [layers, n_img, D] */
    float *v; /* [layers, n_img, D] */
} image_kv;

/* The text keys and values of one sequence (row). */
typedef struct text_kv {
    int len;  /* tokens cached */
    int cap;  /* tokens of room */
    float *k; /* [layers, cap, D] */
    float *v; /* [layers, cap, D] */
} text_kv;

/* Scratch buffers sized for `rows` activation rows. */
typedef struct workspace {
    int rows;
    float *x, *h, *q, *k, *v, *attn; /* [rows, W], W = max(D, Dv) */
    float *mlp;                      /* [rows, max(I, Iv)] */
    float *patches;                  /* [samples * frames * Np, 3*P*P] */
    size_t patches_len;              /* floats of room in patches */
    float *attn_scratch;
    size_t attn_scratch_len;
} workspace;

struct gitc_session {
    const gitc_model *model;
    gitc_pool *pool; /* the model's shared pool (borrowed) */
    int n_threads;
    gitc_session_stats stats;
    int (*abort_cb)(void *);
    void *abort_user;
    workspace ws;
};

/* Makes sure the workspace has room for `rows` rows and `n_keys` attention keys
 * (buffers that grow lose their contents). */
gitc_status gitc_workspace_reserve(gitc_session *s, int rows, int n_keys, gitc_error *err);
/* Makes sure ws.patches holds n floats. */
gitc_status gitc_workspace_reserve_patches(gitc_session *s, size_t n, gitc_error *err);

/* 1 when the abort callback asks to stop. */
int gitc_session_aborted(const gitc_session *s);

gitc_status image_kv_init(image_kv *kv, const gitc_config *cfg, int n_img, gitc_error *err);
void image_kv_free(image_kv *kv);
gitc_status text_kv_init(text_kv *kv, const gitc_config *cfg, int cap, gitc_error *err);
void text_kv_free(text_kv *kv);
/* Copies the first `len` cached tokens of src into dst (same capacity). */
void text_kv_copy(text_kv *dst, const text_kv *src, const gitc_config *cfg);

/* Vision encoder + projection for one sample (see gitc_encode_image). proj_out is required. */
gitc_status gitc_vision_run(gitc_session *s, const float *pixels, float *vision_out,
                            float *proj_out, gitc_error *err);

/* Vision encoder + projection for B samples in one pass; leaves the projected
 * image tokens [B * n_img, D] in s->ws.q. */
gitc_status gitc_vision_batch(gitc_session *s, const float *const *pixels, int B, gitc_error *err);

/* Runs the decoder over the image tokens proj [n_img, D]: fills kv and, when
 * hidden_out is not NULL, writes the image rows' final hidden states. */
gitc_status gitc_decoder_image(gitc_session *s, const float *proj, image_kv *kv,
                               float *hidden_out, gitc_error *err);

/* Most samples encoded in one pass (rows = samples x image tokens). */
#define GITC_ENCODE_BATCH_MAX 8

/* Encodes B samples (vision, projection, the decoder's image rows) in passes
 * of up to GITC_ENCODE_BATCH_MAX samples, filling kv[b] (initialized by the
 * caller) for each. */
gitc_status gitc_encode_batch(gitc_session *s, const float *const *pixels, int B, image_kv *const *kv,
                              gitc_error *err);

/* Runs the decoder over n new text tokens of each of n_rows sequences.
 * Row r has ids[r*n .. r*n+n), image context img[r] and text cache txt[r]
 * (appended to; positions continue from txt[r]->len). hidden_out [n_rows*n, D]
 * receives the final hidden states. */
gitc_status gitc_decoder_text(gitc_session *s, const int32_t *ids, int n, int n_rows,
                              const image_kv *const *img, text_kv *const *txt, float *hidden_out,
                              gitc_error *err);

/* logits[M, V] = LM head of hidden[M, D]. */
void gitc_lm_head(gitc_session *s, const float *hidden, int M, float *logits);

#endif /* GITC_MODEL_H */
