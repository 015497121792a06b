/* The one encoding path: vision encoder, projection and the decoder's image
 * rows over the session's workspace, GITC_ENCODE_BATCH_MAX samples a pass. */
#include "encode.h"
#include "backend.h"
#include "decoder.h"
#include "vision.h"

#include <string.h>

/* One pass over b <= GITC_ENCODE_BATCH_MAX samples; outputs as gitci_encode's,
 * already offset to these samples. */
static gitc_status encode_pass(gitc_session *s, const float *const *pixels, int b, image_kv *const *kv,
                               float *vision_out, float *proj_out, float *hidden_out, gitc_error *err)
{
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    workspace *ws = &s->ws;
    int F = b * gitc_model_num_frames(m), M = F * c->image_tokens_per_frame;
    size_t D = (size_t)c->hidden_size, Dv = (size_t)c->vision_hidden_size;
    gitc_status st = gitci_workspace_check(s, M, "an image encoding pass", err);
    if (st != GITC_OK)
        return st;
    st = gitci_vision_forward(s, ws->x, pixels, b, ws->patches, &ws->t, err);
    if (st != GITC_OK)
        return st;
    if (vision_out)
        memcpy(vision_out, ws->x, (size_t)M * Dv * sizeof(float));
    /* x: the vision states in, the decoder's image rows out. */
    gitci_vision_project(s->pool, m, ws->x, ws->x, F, ws->t.h);
    if (proj_out)
        memcpy(proj_out, ws->x, (size_t)M * D * sizeof(float));
    if (!kv)
        return GITC_OK;
    st = gitci_decoder_image(s, ws->x, b, kv, hidden_out != NULL, &ws->t, err);
    if (st != GITC_OK)
        return st;
    if (hidden_out)
        memcpy(hidden_out, ws->x, (size_t)M * D * sizeof(float));
    s->stats.images += b;
    return GITC_OK;
}

gitc_status gitci_encode(gitc_session *s, const float *const *pixels, int B, image_kv *const *kv,
                         float *vision_out, float *proj_out, float *hidden_out, gitc_error *err)
{
    const gitc_config *c = &s->model->cfg;
    size_t n = (size_t)gitc_model_num_image_tokens(s->model);
    size_t D = (size_t)c->hidden_size, Dv = (size_t)c->vision_hidden_size;
    if (hidden_out && !kv)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitci_encode: hidden states need the decoder's image rows");
    double t0 = gitci_now_ms();
    gitc_status st = GITC_OK;
    for (int done = 0; done < B && st == GITC_OK;) {
        int b = GITC_MIN(B - done, GITC_ENCODE_BATCH_MAX);
        size_t at = (size_t)done * n;
        st = encode_pass(s, pixels + done, b, kv ? kv + done : NULL, vision_out ? vision_out + at * Dv : NULL,
                         proj_out ? proj_out + at * D : NULL, hidden_out ? hidden_out + at * D : NULL, err);
        done += b;
    }
    s->stats.encode_ms += gitci_now_ms() - t0;
    return st;
}
