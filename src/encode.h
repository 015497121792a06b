/* Encoding: pixel_values of B samples -> vision encoder -> projection -> the
 * decoder's image rows and their keys and values. The one path every caller
 * (gitc_encode_image, gitc_forward, gitc_generate, the step API and so the
 * server) takes, for every B including 1. */
#ifndef GITC_ENCODE_H
#define GITC_ENCODE_H

#include "session.h"

/* Encodes B samples (pixels[b] is [frames, 3, S, S]) in passes of up to
 * GITC_ENCODE_BATCH_MAX samples. With kv (kv[b] allocated by the caller with
 * the model's image tokens) the decoder's image rows fill kv[b]; without it the
 * encoding stops after the projection. Optional outputs, NULL when not wanted,
 * sample after sample, n = the model's image tokens per sample:
 * vision_out [B*n, Dv] the post-LN vision states, proj_out [B*n, D] the
 * projected tokens, hidden_out [B*n, D] the image rows' final hidden states
 * (needs kv). */
gitc_status gitci_encode(gitc_session *s, const float *const *pixels, int B, image_kv *const *kv,
                         float *vision_out, float *proj_out, float *hidden_out, gitc_error *err);

#endif /* GITC_ENCODE_H */
