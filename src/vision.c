/* The CLIP ViT image encoder and GIT's visual projection. */
#include "model.h"
#include "backend.h"

#include <math.h>
#include <string.h>

/* Cuts frame pixels [3, S, S] into patch vectors [Np, 3*P*P] in Conv2d weight order (c, ky, kx). */
static void extract_patches(float *out, const float *pixels, int S, int P)
{
    int g = S / P;
    size_t plen = 3 * (size_t)P * (size_t)P;
    for (int py = 0; py < g; py++) {
        for (int px = 0; px < g; px++) {
            float *o = out + ((size_t)py * g + px) * plen;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++) {
                    const float *row = pixels + ((size_t)c * S + (size_t)py * P + ky) * S + (size_t)px * P;
                    memcpy(o, row, (size_t)P * sizeof(float));
                    o += P;
                }
        }
    }
}

/* One pre-LN encoder layer over F frames of T tokens each, in place on x [F*T, Dv]. */
static void vision_layer_run(gitc_session *s, const vision_layer *L, int F, int T)
{
    const gitc_config *c = &s->model->cfg;
    workspace *ws = &s->ws;
    int Dv = c->vision_hidden_size, M = F * T, H = c->vision_num_attention_heads;
    float eps = (float)c->vision_layer_norm_eps;
    gitc_layernorm(s->pool, ws->h, ws->x, L->ln1_g, L->ln1_b, M, Dv, eps);
    gitc_linear(s->pool, ws->q, ws->h, &L->q, L->q_b, M);
    gitc_linear(s->pool, ws->k, ws->h, &L->k, L->k_b, M);
    gitc_linear(s->pool, ws->v, ws->h, &L->v, L->v_b, M);
    for (int f = 0; f < F; f++) {
        size_t off = (size_t)f * T * Dv;
        gitc_attention_args a = {
            .out = ws->attn + off, .ldo = Dv, .q = ws->q + off, .ldq = Dv, .n_q = T,
            .k1 = ws->k + off, .v1 = ws->v + off, .ld1 = Dv, .n1 = T,
            .n_heads = H, .head_dim = Dv / H, .scale = 1.0f / sqrtf((float)(Dv / H)),
        };
        gitc_attention(s->pool, &a, ws->attn_scratch);
    }
    gitc_linear(s->pool, ws->h, ws->attn, &L->o, L->o_b, M);
    gitc_add(s->pool, ws->x, ws->h, (size_t)M * Dv);
    gitc_layernorm(s->pool, ws->h, ws->x, L->ln2_g, L->ln2_b, M, Dv, eps);
    gitc_linear(s->pool, ws->mlp, ws->h, &L->fc1, L->fc1_b, M);
    gitc_quick_gelu(s->pool, ws->mlp, (size_t)M * c->vision_intermediate_size);
    gitc_linear(s->pool, ws->h, ws->mlp, &L->fc2, L->fc2_b, M);
    gitc_add(s->pool, ws->x, ws->h, (size_t)M * Dv);
}

/* Vision encoder + projection for B samples in one pass (M = B x frames x
 * tokens rows). The projected tokens [B * n_img, D] are left in ws->q; the
 * post-LN vision states in ws->x (before temporal embeddings) when keep_vision. */
static gitc_status vision_batch(gitc_session *s, const float *const *pixels, int B, float *vision_out,
                                gitc_error *err)
{
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    workspace *ws = &s->ws;
    int F = gitc_model_num_frames(m), T = c->image_tokens_per_frame, Np = T - 1;
    int S = c->vision_image_size, P = c->vision_patch_size, Dv = c->vision_hidden_size;
    int FB = F * B, M = FB * T; /* frames and rows of the whole batch */
    gitc_status st = gitc_workspace_reserve(s, M, M, err);
    if (st == GITC_OK)
        st = gitc_workspace_reserve_patches(s, (size_t)FB * Np * 3 * P * P, err);
    if (st != GITC_OK)
        return st;
    double t0 = gitc_now_ms();
    /* Patch embedding (Conv2d without bias) as one matrix product over all frames. */
    for (int b = 0; b < B; b++)
        for (int f = 0; f < F; f++)
            extract_patches(ws->patches + ((size_t)b * F + f) * Np * 3 * P * P,
                            pixels[b] + (size_t)f * 3 * S * S, S, P);
    gitc_linear(s->pool, ws->h, ws->patches, &m->patch, NULL, FB * Np);
    for (int f = 0; f < FB; f++) {
        float *x = ws->x + (size_t)f * T * Dv;
        for (int d = 0; d < Dv; d++)
            x[d] = m->class_emb[d] + m->vis_pos[d];
        for (int i = 0; i < Np; i++) {
            const float *e = ws->h + ((size_t)f * Np + i) * Dv;
            const float *p = m->vis_pos + (size_t)(i + 1) * Dv;
            float *xr = x + (size_t)(i + 1) * Dv;
            for (int d = 0; d < Dv; d++)
                xr[d] = e[d] + p[d];
        }
    }
    float eps = (float)c->vision_layer_norm_eps;
    gitc_layernorm(s->pool, ws->x, ws->x, m->pre_ln_g, m->pre_ln_b, M, Dv, eps);
    for (int l = 0; l < c->vision_num_hidden_layers; l++) {
        if (gitc_session_aborted(s))
            return gitc_fail(err, GITC_ERR_ABORTED, "aborted during image encoding");
        vision_layer_run(s, &m->vlayers[l], FB, T);
    }
    gitc_layernorm(s->pool, ws->x, ws->x, m->post_ln_g, m->post_ln_b, M, Dv, eps);
    if (vision_out)
        memcpy(vision_out, ws->x, (size_t)M * Dv * sizeof(float));
    if (m->temporal) {
        for (int f = 0; f < FB; f++)
            for (int i = 0; i < T; i++) {
                float *xr = ws->x + ((size_t)f * T + i) * Dv;
                const float *te = m->temporal + (size_t)(f % F) * Dv;
                for (int d = 0; d < Dv; d++)
                    xr[d] += te[d];
            }
    }
    gitc_linear(s->pool, ws->q, ws->x, &m->proj, m->proj_b, M);
    gitc_layernorm(s->pool, ws->q, ws->q, m->proj_ln_g, m->proj_ln_b, M, c->hidden_size, eps);
    s->stats.encode_ms += gitc_now_ms() - t0;
    return GITC_OK;
}

gitc_status gitc_vision_run(gitc_session *s, const float *pixels, float *vision_out,
                            float *proj_out, gitc_error *err)
{
    gitc_status st = vision_batch(s, &pixels, 1, vision_out, err);
    if (st == GITC_OK)
        memcpy(proj_out, s->ws.q,
               (size_t)gitc_model_num_image_tokens(s->model) * s->model->cfg.hidden_size * sizeof(float));
    return st;
}

gitc_status gitc_vision_batch(gitc_session *s, const float *const *pixels, int B, gitc_error *err)
{
    return vision_batch(s, pixels, B, NULL, err);
}
