/* The model levels of the public API: image encoding and the full forward pass. */
#include "decoder.h"
#include "encode.h"
#include "model.h"
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t gitc_model_pixel_floats(const gitc_model *m)
{
    if (!m)
        return 0;
    size_t S = (size_t)m->cfg.vision_image_size;
    return (size_t)gitc_model_num_frames(m) * 3 * S * S;
}

gitc_status gitci_pixel_check(const char *fn, const gitc_model *m, const float *pixel_values,
                              size_t pixel_floats, gitc_error *err)
{
    if (!pixel_values)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s: pixel_values is NULL", fn);
    size_t need = gitc_model_pixel_floats(m);
    if (pixel_floats != need)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "%s: pixel_values holds %zu floats, the model takes %zu ([%d, 3, %d, %d])", fn,
                          pixel_floats, need, gitc_model_num_frames(m), m->cfg.vision_image_size,
                          m->cfg.vision_image_size);
    return GITC_OK;
}

size_t gitc_model_vision_floats(const gitc_model *m)
{
    if (!m)
        return 0;
    return (size_t)gitc_model_num_image_tokens(m) * (size_t)m->cfg.vision_hidden_size;
}

size_t gitc_model_projection_floats(const gitc_model *m)
{
    if (!m)
        return 0;
    return (size_t)gitc_model_num_image_tokens(m) * (size_t)m->cfg.hidden_size;
}

size_t gitc_model_hidden_floats(const gitc_model *m, int n_ids)
{
    if (!m || n_ids < 1 || n_ids > m->cfg.max_position_embeddings)
        return 0;
    return ((size_t)gitc_model_num_image_tokens(m) + (size_t)n_ids) * (size_t)m->cfg.hidden_size;
}

size_t gitc_model_logits_floats(const gitc_model *m, int n_ids)
{
    if (!m || n_ids < 1 || n_ids > m->cfg.max_position_embeddings)
        return 0;
    return (size_t)n_ids * (size_t)m->cfg.vocab_size;
}

/* GITC_ERR_ARGUMENT when a wanted output buffer (not NULL) holds fewer floats than needed. */
static gitc_status check_capacity(const char *fn, const char *buffer, const float *out, size_t capacity,
                                  size_t need, gitc_error *err)
{
    if (out && capacity < need)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s: %s holds %zu floats, the model needs %zu", fn, buffer,
                          capacity, need);
    return GITC_OK;
}

gitc_status gitc_encode_image(gitc_session *s, const float *pixel_values, size_t pixel_floats,
                              float *vision_out, size_t vision_capacity, float *projection_out,
                              size_t projection_capacity, gitc_error *err)
{
    if (!s)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_encode_image: NULL session");
    size_t n = gitc_model_projection_floats(s->model);
    gitc_status st;
    if ((st = gitci_pixel_check("gitc_encode_image", s->model, pixel_values, pixel_floats, err)) != GITC_OK ||
        (st = check_capacity("gitc_encode_image", "vision_out", vision_out, vision_capacity,
                             gitc_model_vision_floats(s->model), err)) != GITC_OK ||
        (st = check_capacity("gitc_encode_image", "projection_out", projection_out, projection_capacity, n,
                             err)) != GITC_OK)
        return st;
    return gitci_encode(s, &pixel_values, 1, NULL, vision_out, projection_out, NULL, err);
}

/* Mean next-token cross-entropy: logits [T, V] at position t predict ids[t+1]. */
static float next_token_loss(const float *logits, const int32_t *ids, int T, int V)
{
    double total = 0.0;
    for (int t = 0; t + 1 < T; t++) {
        const float *l = logits + (size_t)t * V;
        double mx = l[0];
        for (int v = 1; v < V; v++)
            mx = l[v] > mx ? l[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += exp((double)l[v] - mx);
        total += mx + log(sum) - (double)l[ids[t + 1]];
    }
    return (float)(total / (T - 1));
}

gitc_status gitc_forward(gitc_session *s, const float *pixel_values, size_t pixel_floats, const int32_t *ids,
                         int T, float *hidden_out, size_t hidden_capacity, float *logits_out,
                         size_t logits_capacity, float *loss_out, gitc_error *err)
{
    if (!s || !ids)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_forward: NULL argument");
    gitc_status px_st = gitci_pixel_check("gitc_forward", s->model, pixel_values, pixel_floats, err);
    if (px_st != GITC_OK)
        return px_st;
    const gitc_config *c = &s->model->cfg;
    if (T < 1 || T > c->max_position_embeddings)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%d text tokens: must be 1..%d (max_position_embeddings)",
                          T, c->max_position_embeddings);
    if (loss_out && T < 2)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "the loss needs at least 2 text tokens");
    gitc_status cap;
    if ((cap = check_capacity("gitc_forward", "hidden_out", hidden_out, hidden_capacity,
                              gitc_model_hidden_floats(s->model, T), err)) != GITC_OK ||
        (cap = check_capacity("gitc_forward", "logits_out", logits_out, logits_capacity,
                              gitc_model_logits_floats(s->model, T), err)) != GITC_OK)
        return cap;
    int n_img = gitc_model_num_image_tokens(s->model), D = c->hidden_size;
    image_kv ik = {0};
    text_kv tk = {0};
    float *text_hidden = malloc((size_t)T * D * sizeof(float));
    float *logits = logits_out;
    if (!logits && loss_out)
        logits = malloc((size_t)T * c->vocab_size * sizeof(float));
    gitc_status st = GITC_OK;
    if (!text_hidden || (loss_out && !logits)) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    image_kv *ikp = &ik;
    if ((st = gitci_image_kv_init(&ik, c, n_img, err)) != GITC_OK ||
        (st = gitci_text_kv_init(&tk, c, T, err)) != GITC_OK ||
        (st = gitci_encode(s, &pixel_values, 1, &ikp, NULL, NULL, hidden_out, err)) != GITC_OK)
        goto done;
    const image_kv *img = &ik;
    text_kv *txt = &tk;
    st = gitci_decoder_text(s, ids, T, 1, &img, &txt, text_hidden, err);
    if (st != GITC_OK)
        goto done;
    if (hidden_out)
        memcpy(hidden_out + (size_t)n_img * D, text_hidden, (size_t)T * D * sizeof(float));
    if (logits)
        gitci_lm_head(s, text_hidden, T, logits);
    if (loss_out)
        *loss_out = next_token_loss(logits, ids, T, c->vocab_size);
done:
    gitci_image_kv_free(&ik);
    gitci_text_kv_free(&tk);
    if (logits != logits_out)
        free(logits);
    free(text_hidden);
    return st;
}
