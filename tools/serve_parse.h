/* Request parsing of `gitc serve`, as pure functions (no I/O, no server
 * state) so fuzz/fuzz_http.c can call them: base64, data: URLs, multipart
 * form bodies, and the JSON bodies of the HuggingFace Inference API and the
 * OpenAI chat completions API turned into gitc_generate_params. Every
 * function returns 0 on success, or an HTTP status (400) after writing a
 * message naming the field and the problem into `msg`. */
#ifndef GITC_SERVE_PARSE_H
#define GITC_SERVE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "gitc.h"

/* Most images (frames) one request may carry, and most form parts. */
enum { SERVE_MAX_IMAGES = 16, SERVE_MAX_PARTS = 64, SERVE_MSG = 512 };

/* Bytes of one uploaded image (or video); `owned` (may be NULL) is freed with the request. */
typedef struct serve_blob {
    const uint8_t *data;
    size_t len;
    uint8_t *owned;
    char name[128];      /* file name of a form upload, else "image N" */
    char type[64];       /* content type when given ("image/png"), else "" */
} serve_blob;

/* Which parameters a request set explicitly (so the server can tell
 * "greedy by default" from "temperature 0"). */
typedef struct serve_request {
    serve_blob images[SERVE_MAX_IMAGES];
    int n_images;
    char *question;             /* malloc'd, NULL when none */
    gitc_generate_params params;
    int stream;                 /* chat: "stream": true */
    int include_usage;          /* chat: "stream_options": {"include_usage": true} */
    int n;                      /* chat: "n" choices (1) */
    int hf_vqa;                 /* HF: {"inputs": {"question", "image"}}, answered [{"answer", "score"}] */
} serve_request;

/* Frees what a request owns and zeroes it; NULL is fine. */
void serve_request_free(serve_request *r);

/* Decodes standard base64 (padding optional, ASCII whitespace ignored).
 * *out is malloc'd (caller frees). */
int serve_base64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len, char *msg);

/* Reads an image reference: a `data:<type>;base64,<data>` URL whose type is
 * image/... (or video/...), or bare base64. Remote http(s) URLs are refused:
 * the server never fetches. Fills `blob` (owned bytes). `what` names the
 * field in messages. */
int serve_image_ref(const char *ref, size_t len, const char *what, serve_blob *blob, char *msg);

/* One part of a multipart/form-data body; data points into the body. */
typedef struct serve_part {
    char name[64];
    char filename[128];
    char type[64];
    int has_filename;
    const uint8_t *data;
    size_t len;
} serve_part;

/* Splits a multipart/form-data body; `content_type` is the request's
 * Content-Type header (it carries the boundary). Fills up to SERVE_MAX_PARTS. */
int serve_multipart(const uint8_t *body, size_t len, const char *content_type, serve_part *parts,
                    int *n_parts, char *msg);

/* Applies generation settings from a JSON object with transformers' names
 * (max_new_tokens, max_length, min_length, min_new_tokens, num_beams,
 * do_sample, temperature, top_k, top_p, seed, repetition_penalty,
 * no_repeat_ngram_size, num_return_sequences, early_stopping,
 * length_penalty) over `p`. Unknown keys are ignored; wrong types and
 * out-of-range values are errors. `obj` is a cJSON object (void * keeps cJSON
 * out of this header). */
int serve_params_json(const void *obj, gitc_generate_params *p, char *msg);

/* The same from form fields with the CLI's option names (max-length, beams,
 * sample, temperature, top-k, ...); `value` is the field's text. Returns 0
 * when applied, -1 when `name` is not a decoding setting, else 400. */
int serve_param_field(const char *name, const char *value, size_t len, gitc_generate_params *p, char *msg);

/* POST / and /v1/image-to-text: raw image bytes, or (Content-Type
 * application/json) {"inputs": "<base64 or data URL>", "parameters": {...}},
 * or the visual-question-answering task's {"inputs": {"question": "...",
 * "image": "<base64 or data URL>"}} (sets hf_vqa). The settings start from `base`. */
int serve_parse_hf(const uint8_t *body, size_t len, const char *content_type,
                   const gitc_generate_params *base, serve_request *out, char *msg);

/* POST /v1/chat/completions: the question is the text of the last user
 * message; the images are that message's image_url parts (data: URLs), or,
 * when it has none, those of the most recent earlier user message that has
 * some (a follow-up question about an image sent before). Assistant and
 * system messages are not read. max_tokens / max_completion_tokens,
 * temperature (> 0 samples; absent or 0 is greedy), top_p, seed, n, stream,
 * stream_options.include_usage, plus transformers' names as extensions. */
int serve_parse_chat(const uint8_t *body, size_t len, const gitc_generate_params *base,
                     serve_request *out, char *msg);

/* POST /v1/caption: multipart form with image (or video) files, `question`
 * and decoding settings by the CLI's names. */
int serve_parse_caption(const uint8_t *body, size_t len, const char *content_type,
                        const gitc_generate_params *base, serve_request *out, char *msg);

/* 1 when the strings are equal, comparing every byte of `secret` whatever
 * `given` is (constant time in the length of the secret). */
int serve_secret_equal(const char *given, size_t given_len, const char *secret);

#endif /* GITC_SERVE_PARSE_H */
