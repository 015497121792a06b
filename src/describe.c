/* Files in, text out: captions, answers and video captions through the
 * model's own processor and tokenizer. */
#include "model.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

/* Preprocesses n images into pixels [n, 3, S, S] (caller frees). */
static gitc_status preprocess(const gitc_model *m, const gitc_image *images, int n, float **pixels,
                              gitc_error *err)
{
    *pixels = NULL;
    if (!m->processor)
        return gitci_fail(err, GITC_ERR_IO, "%s: no preprocessor_config.json: cannot prepare images", m->dir);
    int h = 0, w = 0, S = m->cfg.vision_image_size;
    gitc_processor_output_size(m->processor, &h, &w);
    if (h != S || w != S)
        return gitci_fail(err, GITC_ERR_SHAPE,
                          "%s: the processor produces %dx%d images but the vision model expects %dx%d",
                          m->dir, w, h, S, S);
    size_t per = 3 * (size_t)S * (size_t)S;
    float *px = malloc((size_t)n * per * sizeof(float));
    if (!px)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        gitc_status st = gitc_processor_run(m->processor, &images[i], px + (size_t)i * per, per, err);
        if (st != GITC_OK) {
            free(px);
            return st;
        }
    }
    *pixels = px;
    return GITC_OK;
}

void gitc_texts_free(gitc_texts *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->texts[i]);
    free(t->texts);
    free(t->scores);
    free(t->stopped);
    memset(t, 0, sizeof *t);
}

/* The prompt: [CLS] alone for captions, [CLS] + question tokens (no [SEP]) for VQA. */
static gitc_status build_prompt(const gitc_model *m, const char *question, int32_t **prompt,
                                int *n_prompt, gitc_error *err)
{
    int32_t *q = NULL;
    size_t n_q = 0;
    if (question) {
        gitc_status st = gitc_tokenizer_encode(m->tokenizer, question, strlen(question), 0, &q, &n_q, err);
        if (st != GITC_OK)
            return st;
    }
    *prompt = malloc((n_q + 1) * sizeof(int32_t));
    if (!*prompt) {
        free(q);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    (*prompt)[0] = m->cfg.bos_token_id;
    if (n_q)
        memcpy(*prompt + 1, q, n_q * sizeof(int32_t));
    *n_prompt = (int)n_q + 1;
    free(q);
    return GITC_OK;
}

gitc_status gitc_describe_batch(gitc_session *s, const gitc_image *frames, int n_inputs,
                                const char *question, const gitc_generate_params *params,
                                gitc_texts *out, gitc_error *err)
{
    const gitc_model *m = s->model;
    int F = gitc_model_num_frames(m);
    for (int i = 0; i < n_inputs; i++)
        memset(&out[i], 0, sizeof out[i]);
    if (n_inputs < 1)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_describe_batch: no inputs");
    if (!m->tokenizer)
        return gitci_fail(err, GITC_ERR_IO, "%s: no tokenizer files (vocab.txt or tokenizer.json)", m->dir);
    float *pixels = NULL;
    int32_t *prompt = NULL;
    int n_prompt = 0;
    gitc_generation gen = {0};
    const float **px = calloc((size_t)n_inputs, sizeof *px);
    const int32_t **pr = calloc((size_t)n_inputs, sizeof *pr);
    int *np = calloc((size_t)n_inputs, sizeof *np);
    gitc_status st = px && pr && np ? GITC_OK : gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    if (st == GITC_OK)
        st = preprocess(m, frames, n_inputs * F, &pixels, err);
    if (st == GITC_OK)
        st = build_prompt(m, question, &prompt, &n_prompt, err);
    if (st == GITC_OK) {
        size_t per = (size_t)F * 3 * (size_t)m->cfg.vision_image_size * (size_t)m->cfg.vision_image_size;
        for (int i = 0; i < n_inputs; i++) {
            px[i] = pixels + (size_t)i * per;
            pr[i] = prompt;
            np[i] = n_prompt;
        }
        st = gitc_generate(s, px, per, pr, np, n_inputs, params, &gen, err);
    }
    int per_input = st == GITC_OK ? gen.n_sequences / n_inputs : 0;
    for (int i = 0; st == GITC_OK && i < n_inputs; i++) {
        out[i].texts = calloc((size_t)per_input, sizeof *out[i].texts);
        out[i].scores = calloc((size_t)per_input, sizeof *out[i].scores);
        out[i].stopped = calloc((size_t)per_input, sizeof *out[i].stopped);
        if (!out[i].texts || !out[i].scores || !out[i].stopped)
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        /* Captions decode everything (the [CLS] is skipped as special); answers leave out the question. */
        for (int j = 0; st == GITC_OK && j < per_input; j++) {
            const gitc_sequence *sq = &gen.sequences[i * per_input + j];
            int skip = question ? sq->n_prompt : 0;
            st = gitc_tokenizer_decode(m->tokenizer, sq->ids + skip, (size_t)(sq->n_ids - skip), 1, -1,
                                       &out[i].texts[j], err);
            out[i].scores[j] = sq->score;
            /* Ended by eos ("stop") rather than by the length limit ("length"). */
            out[i].stopped[j] = sq->n_ids > sq->n_prompt && sq->ids[sq->n_ids - 1] == m->cfg.eos_token_id;
            out[i].n += st == GITC_OK;
        }
    }
    if (st != GITC_OK)
        for (int i = 0; i < n_inputs; i++)
            gitc_texts_free(&out[i]);
    gitc_generation_free(&gen);
    free(prompt);
    free(pixels);
    free(px);
    free(pr);
    free(np);
    return st;
}

gitc_status gitc_describe(gitc_session *s, const gitc_image *frames, int n_frames,
                          const char *question, const gitc_generate_params *params,
                          gitc_texts *out, gitc_error *err)
{
    memset(out, 0, sizeof *out);
    const gitc_model *m = s->model;
    if (n_frames != gitc_model_num_frames(m))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s takes %d frame%s per input, got %d", m->dir,
                          gitc_model_num_frames(m), gitc_model_num_frames(m) == 1 ? "" : "s", n_frames);
    return gitc_describe_batch(s, frames, 1, question, params, out, err);
}

/* One text: gitc_describe with a single returned sequence. */
static gitc_status describe_one(gitc_session *s, const gitc_image *frames, int n_frames,
                                const char *question, const gitc_generate_params *params,
                                char **text, gitc_error *err)
{
    if (params && gitci_params_size_check(params->size, sizeof *params, "gitc_generate_params", err) != GITC_OK)
        return GITC_ERR_ARGUMENT;
    gitc_generate_params p = params ? *params : s->model->gen_defaults;
    p.num_return_sequences = 1;
    gitc_texts t;
    gitc_status st = gitc_describe(s, frames, n_frames, question, &p, &t, err);
    if (st == GITC_OK) {
        *text = t.texts[0];
        t.texts[0] = NULL;
        gitc_texts_free(&t);
    }
    return st;
}

gitc_status gitc_describe_image(gitc_session *s, const gitc_image *image, const char *question,
                                const gitc_generate_params *params, char **text, gitc_error *err)
{
    *text = NULL;
    const gitc_model *m = s->model;
    if (gitc_model_num_frames(m) != 1)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "%s is a video model (%d frames per input): describe frames, not one image",
                          m->dir, gitc_model_num_frames(m));
    return describe_one(s, image, 1, question, params, text, err);
}

gitc_status gitc_describe_frames(gitc_session *s, const gitc_image *frames, int n_frames,
                                 const gitc_generate_params *params, char **text, gitc_error *err)
{
    *text = NULL;
    return describe_one(s, frames, n_frames, NULL, params, text, err);
}
