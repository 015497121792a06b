/* The CLIP ViT image encoder and GIT's visual projection, as layer functions
 * over explicit buffers. F = frames in the pass (samples x frames per
 * sample), T = tokens per frame (patches + class), Np = T - 1, Dv = vision
 * hidden, D = decoder hidden. */
#ifndef GITC_VISION_H
#define GITC_VISION_H

#include "model.h"
#include "session.h"

/* The encoder over B samples' pixels (each [frames, 3, S, S]): patch, class and
 * position embeddings, pre-LN, the layers and post-LN, into x [B*frames*T, Dv].
 * patches [B*frames*Np, 3*P*P] and t are scratch. GITC_ERR_ABORTED when the
 * session's abort callback asks to stop between layers. */
gitc_status gitci_vision_forward(gitc_session *s, float *x, const float *const *pixels, int B,
                                 float *patches, const scratch *t, gitc_error *err);

/* The image rows the decoder reads: temporal embeddings (video models, added
 * to x in place), then the projection and its LayerNorm, out [M, D] from
 * x [M, Dv] (M = F*T; out may be x). `tmp` [M, D] is scratch. */
void gitci_vision_project(gitc_pool *pool, const gitc_model *m, float *out, float *x, int F, float *tmp);

#endif /* GITC_VISION_H */
