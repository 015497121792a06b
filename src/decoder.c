/* The GIT text decoder: BERT post-LN layers over [image tokens | text tokens]
 * with GIT's mask. Image keys/values are computed once per image; text
 * keys/values are cached, so each generation step costs one token per row. */
#include "decoder.h"
#include "backend.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

/* The attention output projection, residual, LayerNorm and MLP of one layer:
 * x [M, D] in and out, t->attn [M, D] (the attention's output) in. */
static void layer_tail(gitc_pool *pool, const gitc_config *c, const text_layer *L, float *x, int M,
                       const scratch *t)
{
    int D = c->hidden_size;
    float eps = (float)c->layer_norm_eps;
    gitci_linear(pool, t->h, t->attn, &L->o, L->o_b, M);
    gitci_add(pool, t->h, x, (size_t)M * D);
    gitci_layernorm(pool, x, t->h, L->attn_ln_g, L->attn_ln_b, M, D, eps);
    gitci_linear(pool, t->mlp, x, &L->fc1, L->fc1_b, M);
    gitci_gelu(pool, t->mlp, (size_t)M * c->intermediate_size);
    gitci_linear(pool, t->h, t->mlp, &L->fc2, L->fc2_b, M);
    gitci_add(pool, t->h, x, (size_t)M * D);
    gitci_layernorm(pool, x, t->h, L->out_ln_g, L->out_ln_b, M, D, eps);
}

/* 1/sqrt(head size), the attention's score scale. */
static float attention_scale(const gitc_config *c)
{
    return 1.0f / sqrtf((float)(c->hidden_size / c->num_attention_heads));
}

gitc_status gitci_decoder_image(gitc_session *s, float *x, int B, image_kv *const *kv, int want_hidden,
                                const scratch *t, gitc_error *err)
{
    const gitc_config *c = &s->model->cfg;
    int n = kv[0]->n_img, D = c->hidden_size, M = B * n;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (gitci_session_aborted(s))
            return gitci_fail(err, GITC_ERR_ABORTED, "aborted in the decoder");
        const text_layer *L = &s->model->tlayers[l];
        /* Text never feeds back into image rows, so after the last layer's
         * keys and values nothing of theirs is read: unless the caller wants
         * the hidden states, that layer stops there (~1/7 of the decoder). */
        int kv_only = !want_hidden && l == c->num_hidden_layers - 1;
        if (!kv_only)
            gitci_linear(s->pool, t->q, x, &L->q, L->q_b, M);
        gitci_linear(s->pool, t->k, x, &L->k, L->k_b, M);
        gitci_linear(s->pool, t->v, x, &L->v, L->v_b, M);
        for (int b = 0; b < B; b++) {
            float *k = kv[b]->k + (size_t)l * n * D, *v = kv[b]->v + (size_t)l * n * D;
            memcpy(k, t->k + (size_t)b * n * D, (size_t)n * D * sizeof(float));
            memcpy(v, t->v + (size_t)b * n * D, (size_t)n * D * sizeof(float));
            if (kv_only)
                continue;
            /* Image tokens see all image tokens of their sample and no text. */
            gitc_attention_args a = {
                .out = t->attn + (size_t)b * n * D, .ldo = D, .q = t->q + (size_t)b * n * D, .ldq = D,
                .n_q = n, .k1 = k, .v1 = v, .ld1 = D, .n1 = n,
                .n_heads = c->num_attention_heads, .head_dim = D / c->num_attention_heads,
                .scale = attention_scale(c),
            };
            gitci_attention(s->pool, &a, t->attn_scratch);
        }
        if (!kv_only)
            layer_tail(s->pool, c, L, x, M, t);
    }
    return GITC_OK;
}

gitc_status gitci_decoder_text(gitc_session *s, const int32_t *ids, int n, int n_rows,
                               const image_kv *const *img, text_kv *const *txt, float *hidden_out,
                               gitc_error *err)
{
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    float *x = s->ws.x;
    const scratch *t = &s->ws.t;
    int D = c->hidden_size, M = n * n_rows;
    for (int r = 0; r < n_rows; r++) {
        if (txt[r]->len + n > c->max_position_embeddings)
            return gitci_fail(err, GITC_ERR_LIMIT,
                              "text of %d tokens exceeds max_position_embeddings (%d)",
                              txt[r]->len + n, c->max_position_embeddings);
        if (txt[r]->len + n > txt[r]->cap)
            return gitci_fail(err, GITC_ERR_LIMIT, "text cache full (%d tokens)", txt[r]->cap);
    }
    for (int i = 0; i < M; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "token id %d is outside the vocabulary (0..%d)",
                              ids[i], c->vocab_size - 1);
    /* Keys: n_img + at most max_position_embeddings, within the attention
     * scratch gitc_session_create sized. */
    gitc_status st = gitci_workspace_check(s, M, "a decoder pass", err);
    if (st != GITC_OK)
        return st;
    double t0 = gitci_now_ms();
    /* Embeddings: word + position (positions count this row's cached text), then LayerNorm. */
    for (int r = 0; r < n_rows; r++) {
        for (int j = 0; j < n; j++) {
            float *xr = x + ((size_t)r * n + j) * D;
            gitci_matrix_row(&m->word_emb, ids[r * n + j], xr);
            gitci_matrix_row(&m->pos_emb, txt[r]->len + j, t->h);
            for (int d = 0; d < D; d++)
                xr[d] += t->h[d];
        }
    }
    gitci_layernorm(s->pool, x, x, m->emb_ln_g, m->emb_ln_b, M, D, (float)c->layer_norm_eps);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (gitci_session_aborted(s))
            return gitci_fail(err, GITC_ERR_ABORTED, "aborted in the decoder");
        const text_layer *L = &m->tlayers[l];
        gitci_linear(s->pool, t->q, x, &L->q, L->q_b, M);
        gitci_linear(s->pool, t->k, x, &L->k, L->k_b, M);
        gitci_linear(s->pool, t->v, x, &L->v, L->v_b, M);
        for (int r = 0; r < n_rows; r++) {
            text_kv *tk = txt[r];
            size_t base = (size_t)l * tk->cap * D;
            memcpy(tk->k + base + (size_t)tk->len * D, t->k + (size_t)r * n * D, (size_t)n * D * sizeof(float));
            memcpy(tk->v + base + (size_t)tk->len * D, t->v + (size_t)r * n * D, (size_t)n * D * sizeof(float));
            const image_kv *ik = img[r];
            size_t ibase = (size_t)l * ik->n_img * D;
            /* Text tokens see every image token and the text up to themselves. */
            gitc_attention_args a = {
                .out = t->attn + (size_t)r * n * D, .ldo = D,
                .q = t->q + (size_t)r * n * D, .ldq = D, .n_q = n,
                .k1 = ik->k + ibase, .v1 = ik->v + ibase, .ld1 = D, .n1 = ik->n_img,
                .k2 = tk->k + base, .v2 = tk->v + base, .ld2 = D, .n2 = tk->len + n,
                .q_start = tk->len,
                .n_heads = c->num_attention_heads, .head_dim = D / c->num_attention_heads,
                .scale = attention_scale(c),
            };
            gitci_attention(s->pool, &a, t->attn_scratch);
        }
        layer_tail(s->pool, c, L, x, M, t);
    }
    for (int r = 0; r < n_rows; r++)
        txt[r]->len += n;
    memcpy(hidden_out, x, (size_t)M * D * sizeof(float));
    s->stats.decode_ms += gitci_now_ms() - t0;
    s->stats.decode_steps++;
    return GITC_OK;
}

void gitci_lm_head(gitc_session *s, const float *hidden, int M, float *logits)
{
    double t0 = gitci_now_ms();
    gitci_linear(s->pool, logits, hidden, &s->model->lm_head, s->model->lm_head_b, M);
    s->stats.decode_ms += gitci_now_ms() - t0;
}
