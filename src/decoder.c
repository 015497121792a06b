/* The GIT text decoder: BERT post-LN layers over [image tokens | text tokens]
 * with GIT's mask. Image keys/values are computed once per image; text
 * keys/values are cached, so each generation step costs one token per row. */
#include "model.h"
#include "backend.h"

#include <math.h>
#include <string.h>

/* The attention output projection, residual, LayerNorm and MLP of one layer on M rows of x. */
static void layer_tail(gitc_session *s, const text_layer *L, int M)
{
    const gitc_config *c = &s->model->cfg;
    workspace *ws = &s->ws;
    int D = c->hidden_size;
    float eps = (float)c->layer_norm_eps;
    gitc_linear(s->pool, ws->h, ws->attn, &L->o, L->o_b, M);
    gitc_add(s->pool, ws->h, ws->x, (size_t)M * D);
    gitc_layernorm(s->pool, ws->x, ws->h, L->attn_ln_g, L->attn_ln_b, M, D, eps);
    gitc_linear(s->pool, ws->mlp, ws->x, &L->fc1, L->fc1_b, M);
    gitc_gelu(s->pool, ws->mlp, (size_t)M * c->intermediate_size);
    gitc_linear(s->pool, ws->h, ws->mlp, &L->fc2, L->fc2_b, M);
    gitc_add(s->pool, ws->h, ws->x, (size_t)M * D);
    gitc_layernorm(s->pool, ws->x, ws->h, L->out_ln_g, L->out_ln_b, M, D, eps);
}

static float attention_scale(const gitc_config *c)
{
    return 1.0f / sqrtf((float)(c->hidden_size / c->num_attention_heads));
}

/* The decoder over the image tokens of B samples, whose projected tokens
 * [B * n_img, D] are in ws->q: fills kv[b] for every sample and, when
 * hidden_out is not NULL, writes the final hidden states of all rows. */
static gitc_status decoder_image_batch(gitc_session *s, int B, image_kv *const *kv, float *hidden_out,
                                       gitc_error *err)
{
    const gitc_config *c = &s->model->cfg;
    workspace *ws = &s->ws;
    int n = kv[0]->n_img, D = c->hidden_size, M = B * n;
    /* Rows are already reserved by the vision pass (same M); this only grows
     * the attention scratch, so ws->q keeps its contents. */
    gitc_status st = gitc_workspace_reserve(s, M, n + c->max_position_embeddings, err);
    if (st != GITC_OK)
        return st;
    double t0 = gitc_now_ms();
    memcpy(ws->x, ws->q, (size_t)M * D * sizeof(float));
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (gitc_session_aborted(s))
            return gitc_fail(err, GITC_ERR_ABORTED, "aborted in the decoder");
        const text_layer *L = &s->model->tlayers[l];
        /* Text never feeds back into image rows, so after the last layer's
         * keys and values nothing of theirs is read: unless the caller wants
         * the hidden states, that layer stops there (~1/7 of the decoder). */
        int kv_only = !hidden_out && l == c->num_hidden_layers - 1;
        if (!kv_only)
            gitc_linear(s->pool, ws->q, ws->x, &L->q, L->q_b, M);
        gitc_linear(s->pool, ws->k, ws->x, &L->k, L->k_b, M);
        gitc_linear(s->pool, ws->v, ws->x, &L->v, L->v_b, M);
        for (int b = 0; b < B; b++) {
            float *k = kv[b]->k + (size_t)l * n * D, *v = kv[b]->v + (size_t)l * n * D;
            memcpy(k, ws->k + (size_t)b * n * D, (size_t)n * D * sizeof(float));
            memcpy(v, ws->v + (size_t)b * n * D, (size_t)n * D * sizeof(float));
            if (kv_only)
                continue;
            /* Image tokens see all image tokens of their sample and no text. */
            gitc_attention_args a = {
                .out = ws->attn + (size_t)b * n * D, .ldo = D, .q = ws->q + (size_t)b * n * D, .ldq = D,
                .n_q = n, .k1 = k, .v1 = v, .ld1 = D, .n1 = n,
                .n_heads = c->num_attention_heads, .head_dim = D / c->num_attention_heads,
                .scale = attention_scale(c),
            };
            gitc_attention(s->pool, &a, ws->attn_scratch);
        }
        if (!kv_only)
            layer_tail(s, L, M);
    }
    if (hidden_out)
        memcpy(hidden_out, ws->x, (size_t)M * D * sizeof(float));
    s->stats.encode_ms += gitc_now_ms() - t0;
    s->stats.images += B;
    return GITC_OK;
}

gitc_status gitc_decoder_image(gitc_session *s, const float *proj, image_kv *kv,
                               float *hidden_out, gitc_error *err)
{
    const gitc_config *c = &s->model->cfg;
    int n = kv->n_img;
    gitc_status st = gitc_workspace_reserve(s, n, n + c->max_position_embeddings, err);
    if (st != GITC_OK)
        return st;
    memcpy(s->ws.q, proj, (size_t)n * c->hidden_size * sizeof(float));
    return decoder_image_batch(s, 1, &kv, hidden_out, err);
}

gitc_status gitc_encode_batch(gitc_session *s, const float *const *pixels, int B, image_kv *const *kv,
                              gitc_error *err)
{
    for (int done = 0; done < B;) {
        int b = GITC_MIN(B - done, GITC_ENCODE_BATCH_MAX);
        const gitc_config *c = &s->model->cfg;
        int rows = b * kv[done]->n_img;
        gitc_status st = gitc_workspace_reserve(s, rows, GITC_MAX(rows, kv[done]->n_img + c->max_position_embeddings), err);
        if (st == GITC_OK)
            st = gitc_vision_batch(s, pixels + done, b, err);
        if (st == GITC_OK)
            st = decoder_image_batch(s, b, kv + done, NULL, err);
        if (st != GITC_OK)
            return st;
        done += b;
    }
    return GITC_OK;
}

gitc_status gitc_decoder_text(gitc_session *s, const int32_t *ids, int n, int n_rows,
                              const image_kv *const *img, text_kv *const *txt, float *hidden_out,
                              gitc_error *err)
{
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    workspace *ws = &s->ws;
    int D = c->hidden_size, M = n * n_rows;
    int max_keys = 0;
    for (int r = 0; r < n_rows; r++) {
        if (txt[r]->len + n > c->max_position_embeddings)
            return gitc_fail(err, GITC_ERR_LIMIT,
                             "text of %d tokens exceeds max_position_embeddings (%d)",
                             txt[r]->len + n, c->max_position_embeddings);
        if (txt[r]->len + n > txt[r]->cap)
            return gitc_fail(err, GITC_ERR_LIMIT, "text cache full (%d tokens)", txt[r]->cap);
        max_keys = GITC_MAX(max_keys, img[r]->n_img + txt[r]->len + n);
    }
    for (int i = 0; i < M; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return gitc_fail(err, GITC_ERR_ARGUMENT, "token id %d is outside the vocabulary (0..%d)",
                             ids[i], c->vocab_size - 1);
    gitc_status st = gitc_workspace_reserve(s, M, max_keys, err);
    if (st != GITC_OK)
        return st;
    double t0 = gitc_now_ms();
    /* Embeddings: word + position (positions count this row's cached text), then LayerNorm. */
    for (int r = 0; r < n_rows; r++) {
        for (int j = 0; j < n; j++) {
            float *x = ws->x + ((size_t)r * n + j) * D;
            gitc_matrix_row(&m->word_emb, ids[r * n + j], x);
            gitc_matrix_row(&m->pos_emb, txt[r]->len + j, ws->h);
            for (int d = 0; d < D; d++)
                x[d] += ws->h[d];
        }
    }
    gitc_layernorm(s->pool, ws->x, ws->x, m->emb_ln_g, m->emb_ln_b, M, D, (float)c->layer_norm_eps);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (gitc_session_aborted(s))
            return gitc_fail(err, GITC_ERR_ABORTED, "aborted in the decoder");
        const text_layer *L = &m->tlayers[l];
        gitc_linear(s->pool, ws->q, ws->x, &L->q, L->q_b, M);
        gitc_linear(s->pool, ws->k, ws->x, &L->k, L->k_b, M);
        gitc_linear(s->pool, ws->v, ws->x, &L->v, L->v_b, M);
        for (int r = 0; r < n_rows; r++) {
            text_kv *t = txt[r];
            size_t base = (size_t)l * t->cap * D;
            memcpy(t->k + base + (size_t)t->len * D, ws->k + (size_t)r * n * D, (size_t)n * D * sizeof(float));
            memcpy(t->v + base + (size_t)t->len * D, ws->v + (size_t)r * n * D, (size_t)n * D * sizeof(float));
            const image_kv *ik = img[r];
            size_t ibase = (size_t)l * ik->n_img * D;
            /* Text tokens see every image token and the text up to themselves. */
            gitc_attention_args a = {
                .out = ws->attn + (size_t)r * n * D, .ldo = D,
                .q = ws->q + (size_t)r * n * D, .ldq = D, .n_q = n,
                .k1 = ik->k + ibase, .v1 = ik->v + ibase, .ld1 = D, .n1 = ik->n_img,
                .k2 = t->k + base, .v2 = t->v + base, .ld2 = D, .n2 = t->len + n,
                .q_start = t->len,
                .n_heads = c->num_attention_heads, .head_dim = D / c->num_attention_heads,
                .scale = attention_scale(c),
            };
            gitc_attention(s->pool, &a, ws->attn_scratch);
        }
        layer_tail(s, L, M);
    }
    for (int r = 0; r < n_rows; r++)
        txt[r]->len += n;
    memcpy(hidden_out, ws->x, (size_t)M * D * sizeof(float));
    s->stats.decode_ms += gitc_now_ms() - t0;
    s->stats.decode_steps++;
    return GITC_OK;
}

void gitc_lm_head(gitc_session *s, const float *hidden, int M, float *logits)
{
    double t0 = gitc_now_ms();
    gitc_linear(s->pool, logits, hidden, &s->model->lm_head, s->model->lm_head_b, M);
    s->stats.decode_ms += gitc_now_ms() - t0;
}
