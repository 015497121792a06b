/* The CLIP ViT image encoder and GIT's visual projection. */
#include "vision.h"
#include "kernels.h"

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
static void vision_layer_forward(gitc_pool *pool, const gitc_config *c, const vision_layer *L, float *x,
                                 int F, int T, const scratch *t)
{
    int Dv = c->vision_hidden_size, M = F * T, H = c->vision_num_attention_heads;
    float eps = (float)c->vision_layer_norm_eps;
    gitci_layernorm(pool, t->h, x, L->ln1_g, L->ln1_b, M, Dv, eps);
    gitci_linear(pool, t->q, t->h, &L->q, L->q_b, M);
    gitci_linear(pool, t->k, t->h, &L->k, L->k_b, M);
    gitci_linear(pool, t->v, t->h, &L->v, L->v_b, M);
    for (int f = 0; f < F; f++) {
        size_t off = (size_t)f * T * Dv;
        gitc_attention_args a = {
            .out = t->attn + off, .ldo = Dv, .q = t->q + off, .ldq = Dv, .n_q = T,
            .k1 = t->k + off, .v1 = t->v + off, .ld1 = Dv, .n1 = T,
            .n_heads = H, .head_dim = Dv / H, .scale = 1.0f / sqrtf((float)(Dv / H)),
        };
        gitci_attention(pool, &a, t->attn_scratch);
    }
    gitci_linear(pool, t->h, t->attn, &L->o, L->o_b, M);
    gitci_add(pool, x, t->h, (size_t)M * Dv);
    gitci_layernorm(pool, t->h, x, L->ln2_g, L->ln2_b, M, Dv, eps);
    gitci_linear(pool, t->mlp, t->h, &L->fc1, L->fc1_b, M);
    gitci_quick_gelu(pool, t->mlp, (size_t)M * c->vision_intermediate_size);
    gitci_linear(pool, t->h, t->mlp, &L->fc2, L->fc2_b, M);
    gitci_add(pool, x, t->h, (size_t)M * Dv);
}

/* Patch embedding (Conv2d without bias, one matrix product over all F frames)
 * plus class and position embeddings into x [F*T, Dv]; `h` [F*Np, Dv] and
 * patches [F*Np, 3*P*P] are scratch. */
static void vision_embed(gitc_pool *pool, const gitc_model *m, float *x, const float *const *pixels, int B,
                         float *patches, float *h)
{
    const gitc_config *c = &m->cfg;
    int F = gitc_model_num_frames(m), T = c->image_tokens_per_frame, Np = T - 1;
    int S = c->vision_image_size, P = c->vision_patch_size, Dv = c->vision_hidden_size;
    int FB = F * B;
    for (int b = 0; b < B; b++)
        for (int f = 0; f < F; f++)
            extract_patches(patches + ((size_t)b * F + f) * Np * 3 * P * P,
                            pixels[b] + (size_t)f * 3 * S * S, S, P);
    gitci_linear(pool, h, patches, &m->patch, NULL, FB * Np);
    for (int f = 0; f < FB; f++) {
        float *xf = x + (size_t)f * T * Dv;
        for (int d = 0; d < Dv; d++)
            xf[d] = m->class_emb[d] + m->vis_pos[d];
        for (int i = 0; i < Np; i++) {
            const float *e = h + ((size_t)f * Np + i) * Dv;
            const float *p = m->vis_pos + (size_t)(i + 1) * Dv;
            float *xr = xf + (size_t)(i + 1) * Dv;
            for (int d = 0; d < Dv; d++)
                xr[d] = e[d] + p[d];
        }
    }
}

gitc_status gitci_vision_forward(gitc_session *s, float *x, const float *const *pixels, int B,
                                 float *patches, const scratch *t, gitc_error *err)
{
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    int FB = gitc_model_num_frames(m) * B, T = c->image_tokens_per_frame, M = FB * T;
    int Dv = c->vision_hidden_size;
    float eps = (float)c->vision_layer_norm_eps;
    vision_embed(s->pool, m, x, pixels, B, patches, t->h);
    gitci_layernorm(s->pool, x, x, m->pre_ln_g, m->pre_ln_b, M, Dv, eps);
    for (int l = 0; l < c->vision_num_hidden_layers; l++) {
        if (gitci_session_aborted(s))
            return gitci_fail(err, GITC_ERR_ABORTED, "aborted during image encoding");
        vision_layer_forward(s->pool, c, &m->vlayers[l], x, FB, T, t);
    }
    gitci_layernorm(s->pool, x, x, m->post_ln_g, m->post_ln_b, M, Dv, eps);
    return GITC_OK;
}

void gitci_vision_project(gitc_pool *pool, const gitc_model *m, float *out, float *x, int F, float *tmp)
{
    const gitc_config *c = &m->cfg;
    int T = c->image_tokens_per_frame, M = F * T, Dv = c->vision_hidden_size;
    int frames = gitc_model_num_frames(m);
    if (m->temporal) {
        for (int f = 0; f < F; f++)
            for (int i = 0; i < T; i++) {
                float *xr = x + ((size_t)f * T + i) * Dv;
                const float *te = m->temporal + (size_t)(f % frames) * Dv;
                for (int d = 0; d < Dv; d++)
                    xr[d] += te[d];
            }
    }
    gitci_linear(pool, tmp, x, &m->proj, m->proj_b, M);
    gitci_layernorm(pool, out, tmp, m->proj_ln_g, m->proj_ln_b, M, c->hidden_size,
                   (float)c->vision_layer_norm_eps);
}
