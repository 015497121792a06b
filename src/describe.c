/* Files in, text out: captions, answers and video captions through the
 * model's own processor and tokenizer. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

/* Preprocesses n images into pixels [n, 3, S, S] (caller frees). */
static gitc_status preprocess(const gitc_model *m, const gitc_image *images, int n, float **pixels,
                              gitc_error *err)
{
    *pixels = NULL;
    if (!m->processor)
        return gitc_fail(err, GITC_ERR_IO, "%s: no preprocessor_config.json: cannot prepare images", m->dir);
    int h = 0, w = 0, S = m->cfg.vision_image_size;
    gitc_processor_output_size(m->processor, &h, &w);
    if (h != S || w != S)
        return gitc_fail(err, GITC_ERR_SHAPE,
                         "%s: the processor produces %dx%d images but the vision model expects %dx%d",
                         m->dir, w, h, S, S);
    size_t per = 3 * (size_t)S * (size_t)S;
    float *px = malloc((size_t)n * per * sizeof(float));
    if (!px)
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        gitc_status st = gitc_processor_run(m->processor, &images[i], px + (size_t)i * per, err);
        if (st != GITC_OK) {
            free(px);
            return st;
        }
    }
    *pixels = px;
    return GITC_OK;
}

/* Generates from pixels and a prompt, and decodes the new tokens (or all, for captions). */
static gitc_status generate_text(gitc_session *s, const float *pixels, const int32_t *prompt,
                                 int n_prompt, int answer_only, const gitc_generate_params *params,
                                 char **text, gitc_error *err)
{
    const gitc_model *m = s->model;
    gitc_generation gen = {0};
    gitc_generate_params p = params ? *params : m->gen_defaults;
    p.num_return_sequences = 1;
    gitc_status st = gitc_generate(s, &pixels, prompt ? &prompt : NULL, &n_prompt, 1, &p, &gen, err);
    if (st != GITC_OK)
        return st;
    const gitc_sequence *sq = &gen.sequences[0];
    int skip = answer_only ? sq->n_prompt : 0;
    st = gitc_tokenizer_decode(m->tokenizer, sq->ids + skip, (size_t)(sq->n_ids - skip), 1, -1, text, err);
    gitc_generation_free(&gen);
    return st;
}

gitc_status gitc_describe_image(gitc_session *s, const gitc_image *image, const char *question,
                                const gitc_generate_params *params, char **text, gitc_error *err)
{
    *text = NULL;
    const gitc_model *m = s->model;
    if (gitc_model_num_frames(m) != 1)
        return gitc_fail(err, GITC_ERR_ARGUMENT,
                         "%s is a video model (%d frames per input): describe frames, not one image",
                         m->dir, gitc_model_num_frames(m));
    if (!m->tokenizer)
        return gitc_fail(err, GITC_ERR_IO, "%s: no tokenizer files (vocab.txt or tokenizer.json)", m->dir);
    float *pixels = NULL;
    int32_t *q = NULL, *prompt = NULL;
    size_t n_q = 0;
    gitc_status st = preprocess(m, image, 1, &pixels, err);
    if (st != GITC_OK)
        return st;
    if (question) {
        /* VQA prompt: [CLS] + question tokens, no [SEP]. */
        st = gitc_tokenizer_encode(m->tokenizer, question, strlen(question), 0, &q, &n_q, err);
        if (st == GITC_OK && !(prompt = malloc((n_q + 1) * sizeof(int32_t))))
            st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        if (st == GITC_OK) {
            prompt[0] = m->cfg.bos_token_id;
            memcpy(prompt + 1, q, n_q * sizeof(int32_t));
            st = generate_text(s, pixels, prompt, (int)n_q + 1, 1, params, text, err);
        }
    } else {
        st = generate_text(s, pixels, NULL, 1, 0, params, text, err);
    }
    free(q);
    free(prompt);
    free(pixels);
    return st;
}

gitc_status gitc_describe_frames(gitc_session *s, const gitc_image *frames, int n_frames,
                                 const gitc_generate_params *params, char **text, gitc_error *err)
{
    *text = NULL;
    const gitc_model *m = s->model;
    if (n_frames != gitc_model_num_frames(m))
        return gitc_fail(err, GITC_ERR_ARGUMENT, "%s takes %d frame%s per input, got %d", m->dir,
                         gitc_model_num_frames(m), gitc_model_num_frames(m) == 1 ? "" : "s", n_frames);
    if (!m->tokenizer)
        return gitc_fail(err, GITC_ERR_IO, "%s: no tokenizer files (vocab.txt or tokenizer.json)", m->dir);
    float *pixels = NULL;
    gitc_status st = preprocess(m, frames, n_frames, &pixels, err);
    if (st == GITC_OK)
        st = generate_text(s, pixels, NULL, 1, 0, params, text, err);
    free(pixels);
    return st;
}
