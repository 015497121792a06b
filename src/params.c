/* The params structs of the API: their versioned initialization (the `size`
 * field), and one validation of generation settings, shared by gitc_generate
 * and its callers (the CLI, the server): the limits of every field live here. */
#include "model.h"

#include <math.h>
#include <string.h>

void gitci_params_fill(void *dst, size_t size, const void *defaults, size_t full)
{
    if (!dst || size < sizeof(size_t))
        return;
    memset(dst, 0, size);
    memcpy(dst, defaults, GITC_MIN(size, full));
    memcpy(dst, &size, sizeof size);
}

gitc_status gitci_params_size_check(size_t size, size_t want, const char *type, gitc_error *err)
{
    if (size == want)
        return GITC_OK;
    return gitci_fail(err, GITC_ERR_ARGUMENT,
                      "%s.size is %zu, this library's %s has %zu bytes: initialize it with %s_init "
                      "(or the inline default-params function of the gitc.h this library was built with)",
                      type, size, type, want, type);
}

void gitc_generate_params_init(gitc_generate_params *p, size_t size)
{
    gitc_generate_params d = {
        .size = sizeof d, .max_length = 20, .num_beams = 1, .length_penalty = 1.0f,
        .early_stopping = GITC_EARLY_STOPPING_FALSE, .num_return_sequences = 1,
        .repetition_penalty = 1.0f, .temperature = 1.0f, .top_k = 50, .top_p = 1.0f,
    };
    gitci_params_fill(p, size, &d, sizeof d);
}

void gitc_model_generate_params_init(const gitc_model *m, gitc_generate_params *p, size_t size)
{
    if (!m) {
        gitc_generate_params_init(p, size);
        return;
    }
    gitci_params_fill(p, size, &m->gen_defaults, sizeof m->gen_defaults);
}

void gitc_model_params_init(gitc_model_params *p, size_t size)
{
    gitc_model_params d = {.size = sizeof d, .load_tokenizer = 1, .load_processor = 1};
    gitci_params_fill(p, size, &d, sizeof d);
}

gitc_status gitc_generate_params_check(const gitc_generate_params *p, int n_prompt_tokens,
                                       const gitc_model *model, gitc_error *err)
{
    if (!p)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "no generation settings");
    gitc_status size_st = gitci_params_size_check(p->size, sizeof *p, "gitc_generate_params", err);
    if (size_st != GITC_OK)
        return size_st;
    if (p->num_beams < 1 || p->num_beams > GITC_MAX_BEAMS)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "num_beams = %d: must be 1..%d", p->num_beams,
                          GITC_MAX_BEAMS);
    if (p->num_return_sequences < 1 || p->num_return_sequences > GITC_MAX_BEAMS)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "num_return_sequences = %d: must be 1..%d",
                          p->num_return_sequences, GITC_MAX_BEAMS);
    if (p->num_beams > 1 && p->do_sample)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                          "beam sampling (num_beams = %d with do_sample) is not supported: "
                          "use sampling or beam search", p->num_beams);
    if (p->num_beams > 1 && p->num_return_sequences > p->num_beams)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "num_return_sequences (%d) cannot exceed num_beams (%d)",
                          p->num_return_sequences, p->num_beams);
    if (p->num_beams == 1 && !p->do_sample && p->num_return_sequences != 1)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "greedy search returns one sequence: num_return_sequences = %d needs "
                          "sampling or as many beams", p->num_return_sequences);
    if (p->max_new_tokens < 0 || p->min_length < 0 || p->min_new_tokens < 0 || p->max_length < 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "lengths must not be negative");
    if (p->max_new_tokens == 0 && p->max_length < 1)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "max_length must be at least 1");
    if (!(p->repetition_penalty > 0) || !isfinite(p->repetition_penalty))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "repetition_penalty must be a positive number");
    if (!isfinite(p->length_penalty))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "length_penalty must be finite");
    if (p->no_repeat_ngram_size < 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "no_repeat_ngram_size must not be negative");
    if (p->do_sample) {
        if (!(p->temperature > 0) || !isfinite(p->temperature))
            return gitci_fail(err, GITC_ERR_ARGUMENT, "temperature must be a positive number (got %g)",
                              (double)p->temperature);
        if (p->top_k < 0)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "top_k must not be negative");
        if (!(p->top_p > 0) || p->top_p > 1)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "top_p must be in (0, 1] (got %g)",
                              (double)p->top_p);
    }
    if (p->n_bad_words < 0 || (p->n_bad_words > 0 && (!p->bad_words_ids || !p->bad_words_offsets)))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "bad words: ids and offsets are required");
    for (int i = 0; i < p->n_bad_words; i++) {
        int a = p->bad_words_offsets[i], b = p->bad_words_offsets[i + 1];
        if (a < 0 || b <= a)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "bad word sequence %d is empty", i);
        for (int j = a; j < b; j++)
            if (p->bad_words_ids[j] < 0 ||
                (model && p->bad_words_ids[j] >= model->cfg.vocab_size))
                return gitci_fail(err, GITC_ERR_ARGUMENT,
                                  "bad word id %d is outside the vocabulary", p->bad_words_ids[j]);
    }
    if (!model)
        return GITC_OK;
    /* Text positions 0 .. length-1 index the position embedding table. */
    int max_pos = model->cfg.max_position_embeddings;
    if (p->max_length > max_pos)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "max_length = %d exceeds the model's max_position_embeddings (%d)",
                          p->max_length, max_pos);
    if (p->max_new_tokens > 0 && p->max_new_tokens >= max_pos)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "max_new_tokens = %d: the model has %d text positions and the prompt "
                          "takes at least one", p->max_new_tokens, max_pos);
    if (n_prompt_tokens > 0) {
        if (n_prompt_tokens >= max_pos)
            return gitci_fail(err, GITC_ERR_ARGUMENT,
                              "a prompt of %d tokens leaves no room in the model's %d text positions",
                              n_prompt_tokens, max_pos);
        if (p->max_new_tokens > 0 && n_prompt_tokens + p->max_new_tokens > max_pos)
            return gitci_fail(err, GITC_ERR_ARGUMENT,
                              "%d prompt tokens + max_new_tokens = %d exceed the model's %d text "
                              "positions", n_prompt_tokens, p->max_new_tokens, max_pos);
    }
    return GITC_OK;
}
