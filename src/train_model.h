/* Training copy of a GIT model: every trainable parameter as a float32
 * tensor with a gradient, the forward pass that keeps what its backward pass
 * needs, and the backward pass (the loss of GitForCausalLM with `labels`).
 * Internal to libgitc (the trainer, src/trainer.c, is its only user; the
 * public API is the trainer object in include/gitc.h).
 * Dimension letters: B images in the batch, T text tokens per row (after
 * padding), I image tokens per image (1 + patches), C hidden size, V vocab.
 * Owned by the train-model helper (src/train_model.c); this header is the
 * contract between it and the trainer: change it only together. */
#ifndef GITC_TRAIN_MODEL_H
#define GITC_TRAIN_MODEL_H

#include "gitc.h"
#include "pool.h"

#include <stddef.h>
#include <stdint.h>

/* The parts of the model that can be frozen (bit set). */
enum {
    GITC_TPART_VISION = 1u << 0,     /* git.image_encoder.* (patch/class/position embeddings, layers, pre/post LN) */
    GITC_TPART_PROJECTION = 1u << 1, /* git.visual_projection.* (and git.img_temperal_embedding.*) */
    GITC_TPART_EMBEDDINGS = 1u << 2, /* git.embeddings.* (word, position embeddings, their LayerNorm) */
    GITC_TPART_DECODER = 1u << 3,    /* git.encoder.layer.* */
    GITC_TPART_HEAD = 1u << 4,       /* output.{weight,bias} */
};

/* One parameter, named and shaped as transformers' state dict has it. */
typedef struct gitc_tparam {
    char name[112];     /* e.g. "git.encoder.layer.0.attention.self.query.weight" */
    int ndim;
    int64_t shape[4];
    size_t numel;
    float *value;       /* numel floats, owned by the gitc_tmodel (the optimizer updates it in place) */
    float *grad;        /* numel floats the backward pass adds into; NULL when the part is frozen */
    unsigned part;      /* one GITC_TPART_* bit */
    int decay;          /* 1: AdamW weight decay applies (as transformers' Trainer groups them:
                           every parameter except biases and LayerNorm weights/biases) */
} gitc_tparam;

typedef struct gitc_tmodel gitc_tmodel;

/* Dropout of one step: rates as the config says, masks drawn from `seed`
 * (the same seed gives the same masks on any thread count). rates 0 or a
 * NULL pointer: no dropout (evaluation, --no-dropout). */
typedef struct gitc_dropout {
    float hidden;       /* text config hidden_dropout_prob */
    float attention;    /* text config attention_probs_dropout_prob */
    float vision;       /* vision config dropout */
    float vision_attention; /* vision config attention_dropout */
    uint64_t seed;
} gitc_dropout;

/* Copies every parameter of m into float32 training tensors (and zeroed
 * gradients for the parts not in `frozen`), and sizes the activation memory
 * for up to max_batch rows of max_text tokens once. Fails with a gitc_status
 * and err text (never aborts). *out is freed with gitci_tmodel_free. */
gitc_status gitci_tmodel_create(const gitc_model *m, unsigned frozen, int max_batch, int max_text,
                               gitc_tmodel **out, gitc_error *err);
void gitci_tmodel_free(gitc_tmodel *t); /* NULL is fine */

/* The parameters, in state-dict order; *params is owned by t. Returns the count. */
int gitci_tmodel_params(gitc_tmodel *t, gitc_tparam **params);

/* Floats of one image's vision features (I * Dv: the post-LayerNorm vision
 * output, the input of the visual projection): what a frozen vision encoder's
 * cache stores per image. */
size_t gitci_tmodel_vision_floats(const gitc_tmodel *t);

/* Runs the vision encoder only (no gradient) for B images:
 * pixels [B, 3, H, W] (pixel_floats = its float count, checked) -> out
 * [B, I, Dv] (out_floats checked). For the frozen-vision cache. */
gitc_status gitci_tmodel_vision(gitc_tmodel *t, gitc_pool *pool, float *out, size_t out_floats,
                               const float *pixels, size_t pixel_floats, int B, gitc_error *err);

/* One forward + backward pass over a batch. Input is either pixels [B,3,H,W]
 * or, when the vision part is frozen, cached vision features [B, I, Dv]
 * (exactly one of pixels/vision is non-NULL; *_floats is its float count).
 * ids and labels are [B, T] (labels: -100 = not a target; the loss is
 * transformers': text logits shifted by one against labels[:, 1:], mean over
 * the targets of the whole batch). Adds grad_scale * d(loss)/d(param) into
 * every unfrozen parameter's grad (the trainer zeroes them; grad_scale is
 * 1/accumulation steps). *loss = the mean loss, *n_targets = targets counted.
 * dropout NULL: none. */
gitc_status gitci_tmodel_step(gitc_tmodel *t, gitc_pool *pool, const float *pixels,
                             const float *vision, size_t input_floats, int B, const int32_t *ids,
                             const int32_t *labels, int T, float grad_scale,
                             const gitc_dropout *dropout, double *loss, int *n_targets,
                             gitc_error *err);

/* Forward only (evaluation): the same loss, no gradient, no dropout. */
gitc_status gitci_tmodel_loss(gitc_tmodel *t, gitc_pool *pool, const float *pixels,
                             const float *vision, size_t input_floats, int B, const int32_t *ids,
                             const int32_t *labels, int T, double *loss, int *n_targets,
                             gitc_error *err);

#endif /* GITC_TRAIN_MODEL_H */
