/* The GIT text decoder: BERT post-LN layers over [image tokens | text tokens]
 * with GIT's mask, and the LM head. D = hidden, V = vocabulary. */
#ifndef GITC_DECODER_H
#define GITC_DECODER_H

#include "model.h"
#include "session.h"

/* The decoder over the image rows of B samples of n image tokens each
 * (n = kv[0]->n_img): x [B*n, D] holds the projected image tokens on entry;
 * fills kv[b] (allocated by the caller) for every sample. With want_hidden x
 * holds the rows' final hidden states on return, else the last layer stops
 * after its keys and values and x is undefined. t is scratch. */
gitc_status gitci_decoder_image(gitc_session *s, float *x, int B, image_kv *const *kv, int want_hidden,
                                const scratch *t, gitc_error *err);

/* Runs the decoder over n new text tokens of each of n_rows sequences.
 * Row r has ids[r*n .. r*n+n), image context img[r] and text cache txt[r]
 * (appended to; positions continue from txt[r]->len). hidden_out [n_rows*n, D]
 * receives the final hidden states. Uses the session's workspace. */
gitc_status gitci_decoder_text(gitc_session *s, const int32_t *ids, int n, int n_rows,
                               const image_kv *const *img, text_kv *const *txt, float *hidden_out,
                               gitc_error *err);

/* logits[M, V] = LM head of hidden[M, D]. */
void gitci_lm_head(gitc_session *s, const float *hidden, int M, float *logits);

#endif /* GITC_DECODER_H */
