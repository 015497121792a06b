/* Models loaded in bf16 and int8 (gitc_model_params.dtype) against the f32
 * references:
 * - tiny models: with the reference greedy ids fed in (teacher forcing), the
 *   argmax of every step whose recorded f32 top-2 margin is > 0.05 is the
 *   reference token; free-running greedy (also from a prompt) equals the
 *   reference up to the first step with margin <= 0.05;
 * - demo models (models/git-shapes*, tests/data/cli/examples.json): every
 *   greedy caption, VQA answer, 3-beam caption and video caption equals
 *   f32's. A greedy text may differ only where the first differing step has a
 *   recorded f32 top-2 margin < 0.2; each such case is listed. */
#include "check.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const gitc_dtype dtypes[2] = {GITC_DTYPE_BF16, GITC_DTYPE_INT8};

static gitc_session *open_model(const char *dir, gitc_dtype dtype, gitc_model **m)
{
    gitc_error err = {0};
    gitc_session *s = NULL;
    gitc_model_params mp = gitc_model_default_params();
    mp.dtype = dtype;
    *m = NULL;
    if (!check_true(gitc_model_load(dir, &mp, m, &err) == GITC_OK, "load %s (%s): %s", dir,
                    gitc_dtype_name(dtype), err.message))
        return NULL;
    check_true(gitc_model_dtype(*m) == dtype, "%s loaded as %s", dir, gitc_dtype_name(gitc_model_dtype(*m)));
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    check_true(gitc_session_create(*m, &sp, &s, &err) == GITC_OK, "session: %s", err.message);
    return s;
}

/* Index of the largest of n values. */
static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Free-running greedy ids vs the reference: equal up to the first step whose
 * f32 margin is <= limit (that step may differ). Returns the steps compared. */
static int compare_prefix(const char *what, const int32_t *got, int n_got, const int32_t *want, int n_want,
                          const double *margins, int n_prompt, double limit)
{
    int steps = 0;
    for (int i = n_prompt; i < n_want; i++) {
        if (margins[i - n_prompt] <= limit)
            break; /* this step and later ones may legitimately differ */
        steps++;
        if (!check_true(i < n_got && got[i] == want[i], "%s: step %d gives %d, f32 reference %d (margin %.3f)", what,
                        i - n_prompt, i < n_got ? got[i] : -1, want[i], margins[i - n_prompt]))
            break;
    }
    return steps;
}

static void tiny(const char *name, gitc_dtype dtype)
{
    char rel[256], dir[1024], path[1100], label[256];
    snprintf(rel, sizeof rel, "tests/data/tiny/%s", name);
    snprintf(dir, sizeof dir, "%s", check_path(rel));
    gitc_model *m = NULL;
    gitc_session *s = open_model(dir, dtype, &m);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    cJSON *ref = check_load_json(path);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    st_file *st = check_open_st(path);
    size_t n_px = 0;
    float *pixels = st ? check_tensor_f32(st, "pixel_values", &n_px) : NULL;
    double *want_logits = st ? check_tensor_f64(st, "text_logits_f64", NULL) : NULL;
    float *logits = NULL;
    if (!s || !ref || !pixels || !want_logits)
        goto done;
    const gitc_config *c = gitc_model_config(m);
    int V = c->vocab_size;
    gitc_error err = {0};
    int32_t ids[64], gids[64], pids[64];
    double margins[64], pmargins[64];
    int T = check_json_ids(ref, "input_ids", ids, 64);
    int G = check_json_ids(ref, "greedy_ids", gids, 64);
    int P = check_json_ids(ref, "greedy_from_prompt_ids", pids, 64);
    const cJSON *jm = cJSON_GetObjectItem(ref, "greedy_top2_margins");
    const cJSON *jp = cJSON_GetObjectItem(ref, "greedy_from_prompt_top2_margins");
    for (int i = 0; i < cJSON_GetArraySize(jm) && i < 64; i++)
        margins[i] = cJSON_GetArrayItem(jm, i)->valuedouble;
    for (int i = 0; i < cJSON_GetArraySize(jp) && i < 64; i++)
        pmargins[i] = cJSON_GetArrayItem(jp, i)->valuedouble;
    size_t n_logits = (size_t)64 * V;
    logits = malloc(n_logits * sizeof(float));
    float loss = 0;
    /* the recorded logits of input_ids: how far this precision moves them */
    if (check_true(gitc_forward(s, pixels, n_px, ids, T, NULL, 0, logits, n_logits, &loss, &err) == GITC_OK, "forward: %s", err.message)) {
        double worst = 0.0;
        for (size_t i = 0; i < (size_t)T * V; i++) {
            double d = logits[i] - want_logits[i];
            worst = d > worst ? d : -d > worst ? -d : worst;
        }
        printf("%-10s %-4s text logits vs float64: max |d| %.4f\n", name, gitc_dtype_name(dtype), worst);
    }
    /* teacher forcing along the reference greedy ids */
    if (check_true(gitc_forward(s, pixels, n_px, gids, G - 1, NULL, 0, logits, n_logits, &loss, &err) == GITC_OK, "forward: %s", err.message)) {
        int checked = 0, skipped = 0;
        for (int i = 0; i < G - 1; i++) {
            if (margins[i] <= 0.05) {
                skipped++;
                continue;
            }
            int got = argmax(logits + (size_t)i * V, V);
            checked++;
            check_true(got == gids[i + 1], "%s %s step %d: argmax %d, f32 reference %d (margin %.3f)", name,
                       gitc_dtype_name(dtype), i, got, gids[i + 1], margins[i]);
        }
        printf("%-10s %-4s teacher-forced greedy: %d steps with margin > 0.05 checked, %d skipped\n", name,
               gitc_dtype_name(dtype), checked, skipped);
    }
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = G;
    const float *pp = pixels;
    gitc_generation gen = {0};
    snprintf(label, sizeof label, "%s %s greedy", name, gitc_dtype_name(dtype));
    if (check_true(gitc_generate(s, &pp, n_px, NULL, NULL, 1, &p, &gen, &err) == GITC_OK, "greedy: %s", err.message)) {
        int n = compare_prefix(label, gen.sequences[0].ids, gen.sequences[0].n_ids, gids, G, margins, 1, 0.05);
        printf("%-10s %-4s free-running greedy: first %d steps equal the reference\n", name, gitc_dtype_name(dtype), n);
    }
    gitc_generation_free(&gen);
    const int32_t *pr = ids;
    p.max_length = P;
    snprintf(label, sizeof label, "%s %s greedy from prompt", name, gitc_dtype_name(dtype));
    if (check_true(gitc_generate(s, &pp, n_px, &pr, &T, 1, &p, &gen, &err) == GITC_OK, "prompt: %s", err.message)) {
        int n = compare_prefix(label, gen.sequences[0].ids, gen.sequences[0].n_ids, pids, P, pmargins, T, 0.05);
        printf("%-10s %-4s greedy from prompt: first %d steps equal the reference\n", name, gitc_dtype_name(dtype), n);
    }
    gitc_generation_free(&gen);
done:
    free(logits);
    free(pixels);
    free(want_logits);
    gitci_st_close(st);
    cJSON_Delete(ref);
    gitc_session_free(s);
    gitc_model_free(m);
}

/* got must equal want (f32's text); otherwise the first step where gen's ids
 * leave want_ids must have a recorded f32 top-2 margin < 0.2 (then it is listed). */
static void check_text(const char *what, const char *got, const char *want, const cJSON *want_ids,
                       const cJSON *margins, int n_prompt, const gitc_generation *gen)
{
    printf("%-50s \"%s\"\n", what, got ? got : "(null)");
    if (got && want && strcmp(got, want) == 0) {
        check_true(1, "%s", what);
        return;
    }
    /* A difference is allowed only where the first differing step is close in f32. */
    double margin = 1e9;
    int step = -1;
    if (gen && want_ids && margins) {
        const gitc_sequence *sq = &gen->sequences[0];
        int n = cJSON_GetArraySize(want_ids);
        for (int i = n_prompt; i < n; i++) {
            int w = cJSON_GetArrayItem(want_ids, i)->valueint;
            if (i >= sq->n_ids || sq->ids[i] != w) {
                step = i - n_prompt;
                if (step < cJSON_GetArraySize(margins))
                    margin = cJSON_GetArrayItem(margins, step)->valuedouble;
                break;
            }
        }
    }
    if (margin < 0.2)
        printf("LISTED: %s differs from f32 at step %d, where the f32 top-2 margin is %.3f (< 0.2): \"%s\" vs \"%s\"\n",
               what, step, margin, got ? got : "", want ? want : "");
    check_true(margin < 0.2, "%s: got \"%s\", f32 \"%s\" (first differing step %d, f32 margin %.3g)", what,
               got ? got : "", want ? want : "", step, margin);
}

/* One example image in one precision: greedy caption, VQA from the recorded
 * prompt ids, and the best 3-beam sequence, against f32's texts and ids. */
static void demo_image(void *user, gitc_session *s, const gitc_model *m, const check_demo_input *in)
{
    (void)user;
    const cJSON *it = in->ref;
    const char *file = in->name;
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    const gitc_tokenizer *tok = gitc_model_tokenizer(m);
    const char *dn = gitc_dtype_name(gitc_model_dtype(m));
    const float *pp = in->pixels;
    gitc_generation gen = {0};
    gitc_error err = {0};
    char label[256], *text = NULL;
    /* greedy caption */
    snprintf(label, sizeof label, "%s %s greedy", dn, file);
    if (check_true(gitc_generate(s, &pp, in->n_pixels, NULL, NULL, 1, &p, &gen, &err) == GITC_OK, "%s: %s", label, err.message)) {
        gitc_tokenizer_decode(tok, gen.sequences[0].ids, (size_t)gen.sequences[0].n_ids, 1, 1, &text, &err);
        check_text(label, text, cJSON_GetObjectItem(it, "greedy_text")->valuestring,
                   cJSON_GetObjectItem(it, "greedy_ids"), cJSON_GetObjectItem(it, "greedy_top2_margins"), 1, &gen);
        gitc_free(text);
        text = NULL;
        gitc_generation_free(&gen);
    }
    /* VQA from the recorded prompt ids */
    int32_t prompt[64];
    int np = check_json_ids(it, "vqa_prompt_ids", prompt, 64);
    const int32_t *pr = prompt;
    snprintf(label, sizeof label, "%s %s VQA", dn, file);
    if (check_true(gitc_generate(s, &pp, in->n_pixels, &pr, &np, 1, &p, &gen, &err) == GITC_OK, "%s: %s", label, err.message)) {
        gitc_tokenizer_decode(tok, gen.sequences[0].ids, (size_t)gen.sequences[0].n_ids, 1, 1, &text, &err);
        check_text(label, text, cJSON_GetObjectItem(it, "vqa_text")->valuestring, cJSON_GetObjectItem(it, "vqa_ids"),
                   cJSON_GetObjectItem(it, "vqa_top2_margins"), np, &gen);
        gitc_free(text);
        text = NULL;
        gitc_generation_free(&gen);
    }
    /* 3 beams: the best sequence's ids and text */
    gitc_generate_params b = p;
    b.num_beams = 3;
    snprintf(label, sizeof label, "%s %s beam 3", dn, file);
    if (check_true(gitc_generate(s, &pp, in->n_pixels, NULL, NULL, 1, &b, &gen, &err) == GITC_OK, "%s: %s", label, err.message)) {
        int32_t ids[64];
        int n = check_json_ids(it, "beam3_ids", ids, 64);
        gitc_tokenizer_decode(tok, gen.sequences[0].ids, (size_t)gen.sequences[0].n_ids, 1, 1, &text, &err);
        check_text(label, text, cJSON_GetObjectItem(it, "beam3_text")->valuestring, NULL, NULL, 0, NULL);
        check_ids(label, gen.sequences[0].ids, gen.sequences[0].n_ids, ids, n);
        gitc_free(text);
        gitc_generation_free(&gen);
    }
}

/* One example clip (4 frames) in one precision: its greedy caption against f32's. */
static void demo_video(void *user, gitc_session *s, const gitc_model *m, const check_demo_input *in)
{
    (void)user;
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    const gitc_tokenizer *tok = gitc_model_tokenizer(m);
    char label[64], *text = NULL;
    snprintf(label, sizeof label, "%s %s (4 frames) greedy", gitc_dtype_name(gitc_model_dtype(m)), in->name);
    const float *pp = in->pixels;
    gitc_generation gen = {0};
    gitc_error err = {0};
    if (check_true(in->n_frames == 4, "%s: frames", label) &&
        check_true(gitc_generate(s, &pp, in->n_pixels, NULL, NULL, 1, &p, &gen, &err) == GITC_OK, "%s: %s", label, err.message)) {
        gitc_tokenizer_decode(tok, gen.sequences[0].ids, (size_t)gen.sequences[0].n_ids, 1, 1, &text, &err);
        check_text(label, text, cJSON_GetObjectItem(in->ref, "greedy_text")->valuestring,
                   cJSON_GetObjectItem(in->ref, "greedy_ids"), cJSON_GetObjectItem(in->ref, "greedy_top2_margins"), 1,
                   &gen);
        gitc_free(text);
        gitc_generation_free(&gen);
    }
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *names[] = {"tiny", "tiny-video", "tiny-f16", "tiny-bf16"};
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < 4; i++)
            tiny(names[i], dtypes[d]);
    cJSON *ex = check_load_json(check_path("tests/data/cli/examples.json"));
    if (ex)
        for (int d = 0; d < 2; d++) {
            gitc_model_params mp = gitc_model_default_params();
            mp.dtype = dtypes[d];
            check_demo_run(ex, 0, &mp, demo_image, NULL);
            check_demo_run(ex, 1, &mp, demo_video, NULL);
        }
    cJSON_Delete(ex);
    return check_done("test_lowp_model");
}
