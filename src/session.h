/* Per-session state: the activation workspace (sized once when the session is
 * created) and the key/value caches of the decoder. A session runs one call
 * at a time; the model it borrows is shared and read-only. */
#ifndef GITC_SESSION_H
#define GITC_SESSION_H

#include "internal.h"
#include "pool.h"

/* Most samples encoded in one pass (rows = samples x image tokens). */
#define GITC_ENCODE_BATCH_MAX 8

/* Most text rows one decode step runs through the decoder in one pass. */
#define GITC_STEP_ROWS_MAX 64

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

/* Scratch a layer function may overwrite: contents are undefined on entry
 * and on return (nothing is handed from one function to the next through
 * it). W = max(D, Dv), I = max(I, Iv). */
typedef struct scratch {
    float *h, *q, *k, *v, *attn;     /* [rows, W] */
    float *mlp;                      /* [rows, I] */
    float *attn_scratch;             /* [attn_scratch_len], gitci_attention's */
} scratch;

/* The activation buffers of a session, sized once by gitc_session_create for
 * the largest pass the session runs (GITC_ENCODE_BATCH_MAX samples' image
 * tokens, a full-length prompt, GITC_STEP_ROWS_MAX step rows). Passes never
 * grow it; they check their rows against `rows`. */
typedef struct workspace {
    int rows;
    float *x;                        /* [rows, W] the residual stream of the pass in progress */
    scratch t;
    float *patches;                  /* [patches_len] image patches of an encoding pass */
    size_t patches_len;              /* floats of room in patches */
    size_t attn_scratch_len;         /* floats of room in t.attn_scratch */
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

/* Gives the workspace room for `rows` rows and `n_keys` attention keys; called
 * once by gitc_session_create. All or nothing: on failure the workspace is as
 * it was. The buffers' contents are not kept when they grow. */
gitc_status gitci_workspace_reserve(gitc_session *s, int rows, int n_keys, gitc_error *err);

/* GITC_ERR_LIMIT naming `what` when a pass of `rows` rows exceeds the workspace. */
gitc_status gitci_workspace_check(const gitc_session *s, int rows, const char *what, gitc_error *err);

/* 1 when the abort callback asks to stop. */
int gitci_session_aborted(const gitc_session *s);

/* Allocates the image keys and values of n_img tokens for every layer. */
gitc_status gitci_image_kv_init(image_kv *kv, const gitc_config *cfg, int n_img, gitc_error *err);
/* Frees kv's buffers (an all-zero kv is fine). */
void gitci_image_kv_free(image_kv *kv);
/* Allocates an empty text cache of `cap` tokens for every layer. */
gitc_status gitci_text_kv_init(text_kv *kv, const gitc_config *cfg, int cap, gitc_error *err);
/* Frees kv's buffers (an all-zero kv is fine). */
void gitci_text_kv_free(text_kv *kv);
/* Copies the first `len` cached tokens of src into dst (same capacity). */
void gitci_text_kv_copy(text_kv *dst, const text_kv *src, const gitc_config *cfg);

#endif /* GITC_SESSION_H */
