/* Sessions: thread pool, workspace buffers and KV caches. */
#include "session.h"
#include "backend.h"
#include "kernels.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gitc_session_params_init(gitc_session_params *p, size_t size)
{
    gitc_session_params d = {.size = sizeof d};
    gitci_params_fill(p, size, &d, sizeof d);
}

/* Frees the workspace's buffers and empties it. */
static void workspace_free(workspace *ws)
{
    free(ws->x);
    free(ws->t.h);
    free(ws->t.q);
    free(ws->t.k);
    free(ws->t.v);
    free(ws->t.attn);
    free(ws->t.mlp);
    free(ws->patches);
    free(ws->t.attn_scratch);
    memset(ws, 0, sizeof *ws);
}

gitc_status gitci_workspace_reserve(gitc_session *s, int rows, int n_keys, gitc_error *err)
{
    workspace *ws = &s->ws;
    const gitc_config *c = &s->model->cfg;
    size_t need_scratch = gitci_attention_scratch(s->n_threads, n_keys);
    if (rows <= ws->rows && need_scratch <= ws->attn_scratch_len)
        return GITC_OK;
    /* New buffers are allocated first and swapped in only when all of them
     * exist: a failure leaves the workspace as it was. */
    if (rows > ws->rows) {
        size_t W = (size_t)GITC_MAX(c->hidden_size, c->vision_hidden_size);
        size_t I = (size_t)GITC_MAX(c->intermediate_size, c->vision_intermediate_size);
        float **bufs[] = {&ws->x, &ws->t.h, &ws->t.q, &ws->t.k, &ws->t.v, &ws->t.attn, &ws->t.mlp};
        enum { N_BUFS = sizeof bufs / sizeof bufs[0] };
        float *fresh[N_BUFS];
        int ok = 1;
        for (int i = 0; i < N_BUFS; i++) {
            fresh[i] = malloc((size_t)rows * (bufs[i] == &ws->t.mlp ? I : W) * sizeof(float));
            ok = ok && fresh[i];
        }
        if (!ok) {
            for (int i = 0; i < N_BUFS; i++)
                free(fresh[i]);
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory for %d activation rows", rows);
        }
        for (int i = 0; i < N_BUFS; i++) {
            free(*bufs[i]);
            *bufs[i] = fresh[i];
        }
        ws->rows = rows;
    }
    if (need_scratch > ws->attn_scratch_len) {
        float *scratch = malloc(need_scratch * sizeof(float));
        if (!scratch)
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory for attention over %d keys",
                              n_keys);
        free(ws->t.attn_scratch);
        ws->t.attn_scratch = scratch;
        ws->attn_scratch_len = need_scratch;
    }
    return GITC_OK;
}

gitc_status gitci_workspace_check(const gitc_session *s, int rows, const char *what, gitc_error *err)
{
    if (rows > s->ws.rows)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s of %d rows exceeds the session's workspace (%d rows)",
                          what, rows, s->ws.rows);
    return GITC_OK;
}

/* Sizes the workspace once for every pass the session can run: an encoding
 * pass of GITC_ENCODE_BATCH_MAX samples, a full-length prompt, a step of
 * GITC_STEP_ROWS_MAX rows; attention over an image and a full-length text. */
static gitc_status workspace_init(gitc_session *s, gitc_error *err)
{
    const gitc_config *c = &s->model->cfg;
    int frames = gitc_model_num_frames(s->model), T = c->image_tokens_per_frame;
    int n_img = frames * T;
    int rows = GITC_MAX(GITC_ENCODE_BATCH_MAX * n_img, GITC_MAX(c->max_position_embeddings, GITC_STEP_ROWS_MAX));
    int keys = GITC_MAX(T, n_img + c->max_position_embeddings);
    gitc_status st = gitci_workspace_reserve(s, rows, keys, err);
    if (st != GITC_OK)
        return st;
    size_t P = (size_t)c->vision_patch_size;
    size_t n = (size_t)GITC_ENCODE_BATCH_MAX * (size_t)frames * (size_t)(T - 1) * 3 * P * P;
    s->ws.patches = malloc(n * sizeof(float));
    if (!s->ws.patches)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory for %zu image patch values", n);
    s->ws.patches_len = n;
    return GITC_OK;
}

gitc_status gitc_session_create(const gitc_model *model, const gitc_session_params *params,
                                gitc_session **out, gitc_error *err)
{
    *out = NULL;
    if (params && gitci_params_size_check(params->size, sizeof *params, "gitc_session_params", err) != GITC_OK)
        return GITC_ERR_ARGUMENT;
    gitc_session_params p = params ? *params : gitc_session_default_params();
    if (p.n_threads < 0 || p.n_threads > 1024)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "n_threads = %d is out of range (0..1024)", p.n_threads);
    int n = p.n_threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    gitc_session *s = calloc(1, sizeof *s);
    if (!s)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    s->model = model;
    s->n_threads = n;
    s->abort_cb = p.abort_callback;
    s->abort_user = p.abort_user;
    s->pool = gitci_backend_pool(model, n);
    if (!s->pool) {
        free(s);
        return gitci_fail(err, GITC_ERR_MEMORY, "cannot start %d threads", n);
    }
    gitc_status st = workspace_init(s, err);
    if (st != GITC_OK) {
        gitc_session_free(s);
        return st;
    }
    *out = s;
    return GITC_OK;
}

void gitc_session_free(gitc_session *s)
{
    if (!s)
        return;
    workspace_free(&s->ws);
    free(s);
}

void gitc_session_stats_get(const gitc_session *s, gitc_session_stats *out) { *out = s->stats; }

void gitc_session_stats_reset(gitc_session *s) { memset(&s->stats, 0, sizeof s->stats); }

double gitc_session_peak_gflops(gitc_session *s, int ms)
{
    return gitci_kernels_peak_gflops(s->pool, ms);
}

double gitc_session_read_gbs(gitc_session *s, size_t bytes)
{
    return gitci_backend_read_gbs(s->pool, bytes);
}

int gitci_session_aborted(const gitc_session *s)
{
    return s->abort_cb && s->abort_cb(s->abort_user);
}

/* The one allocator behind both caches: keys and values of `rows` tokens for
 * every layer, [layers, rows, D] each; on failure both are NULL. */
static gitc_status kv_alloc(float **k, float **v, const gitc_config *cfg, int rows,
                            const char *what, gitc_error *err)
{
    size_t n = (size_t)cfg->num_hidden_layers * (size_t)rows * (size_t)cfg->hidden_size;
    *k = malloc(n * sizeof(float));
    *v = malloc(n * sizeof(float));
    if (*k && *v)
        return GITC_OK;
    free(*k);
    free(*v);
    *k = *v = NULL;
    return gitci_fail(err, GITC_ERR_MEMORY, "out of memory for %s", what);
}

gitc_status gitci_image_kv_init(image_kv *kv, const gitc_config *cfg, int n_img, gitc_error *err)
{
    kv->n_img = n_img;
    return kv_alloc(&kv->k, &kv->v, cfg, n_img, "the image keys and values", err);
}

void gitci_image_kv_free(image_kv *kv)
{
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

gitc_status gitci_text_kv_init(text_kv *kv, const gitc_config *cfg, int cap, gitc_error *err)
{
    kv->len = 0;
    kv->cap = cap;
    return kv_alloc(&kv->k, &kv->v, cfg, cap, "the text cache", err);
}

void gitci_text_kv_free(text_kv *kv)
{
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

void gitci_text_kv_copy(text_kv *dst, const text_kv *src, const gitc_config *cfg)
{
    size_t D = (size_t)cfg->hidden_size;
    for (int l = 0; l < cfg->num_hidden_layers; l++) {
        size_t off = (size_t)l * (size_t)src->cap * D;
        memcpy(dst->k + off, src->k + off, (size_t)src->len * D * sizeof(float));
        memcpy(dst->v + off, src->v + off, (size_t)src->len * D * sizeof(float));
    }
    dst->len = src->len;
}

int gitc_session_threads(const gitc_session *s)
{
    return s ? s->n_threads : 0;
}
