/* generate() of the tiny reference models: greedy, prompt, beams, logits
 * processors and a batch of two, against transformers 4.39.3's ids. */
#include "check.h"
#include "config.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    gitc_model *m;
    gitc_session *s;
    cJSON *ref;
    float *pixels;
    size_t n_px; /* floats of pixels */
} ctx;

/* Generates for one input and compares the first sequence (and scores when given). */
static void expect(ctx *c, const char *what, const gitc_generate_params *p, const int32_t *prompt,
                   int n_prompt, const char *ref_key, const char *score_key)
{
    gitc_error err = {0};
    gitc_generation gen = {0};
    const float *px = c->pixels;
    const int32_t *pr = prompt;
    if (!check_true(gitc_generate(c->s, &px, c->n_px, prompt ? &pr : NULL, &n_prompt, 1, p, &gen, &err) == GITC_OK,
                    "%s: %s", what, err.message))
        return;
    const cJSON *want = cJSON_GetObjectItem(c->ref, ref_key);
    int32_t ids[64];
    if (cJSON_IsArray(want) && cJSON_IsArray(cJSON_GetArrayItem(want, 0))) {
        /* several returned sequences */
        int n = cJSON_GetArraySize(want);
        check_true(gen.n_sequences == n, "%s: %d sequences, want %d", what, gen.n_sequences, n);
        for (int i = 0; i < n && i < gen.n_sequences; i++) {
            char label[128];
            snprintf(label, sizeof label, "%s [%d]", what, i);
            int k = check_json_ids(cJSON_GetArrayItem(want, i), NULL, ids, 64);
            check_ids(label, gen.sequences[i].ids, gen.sequences[i].n_ids, ids, k);
            if (score_key) {
                float ws = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(c->ref, score_key), i)->valuedouble;
                snprintf(label, sizeof label, "%s score [%d]", what, i);
                check_close(label, &gen.sequences[i].score, &ws, 1, 1e-4);
            }
        }
    } else {
        int k = check_json_ids(c->ref, ref_key, ids, 64);
        check_ids(what, gen.sequences[0].ids, gen.sequences[0].n_ids, ids, k);
    }
    gitc_generation_free(&gen);
}

static void run_model(const char *name)
{
    char rel[256], path[700];
    snprintf(rel, sizeof rel, "tests/data/tiny/%s", name);
    const char *dir = check_path(rel);
    printf("== %s\n", name);
    gitc_error err = {0};
    ctx c = {0};
    if (!check_true(gitc_model_load(dir, NULL, &c.m, &err) == GITC_OK, "load: %s", err.message))
        return;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    check_true(gitc_session_create(c.m, &sp, &c.s, &err) == GITC_OK, "session: %s", err.message);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    c.ref = check_load_json(path);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    st_file *st = check_open_st(path);
    c.pixels = st ? check_tensor_f32(st, "pixel_values", &c.n_px) : NULL;
    if (!c.s || !c.ref || !c.pixels)
        goto done;
    int32_t prompt[64];
    int n_prompt = check_json_ids(c.ref, "input_ids", prompt, 64);
    gitc_generate_params p = gitc_model_generate_params(c.m);
    p.max_length = 20;
    expect(&c, "greedy", &p, NULL, 0, "greedy_ids", NULL);
    expect(&c, "greedy from prompt", &p, prompt, n_prompt, "greedy_from_prompt_ids", NULL);
    gitc_generate_params q = p;
    q.repetition_penalty = 1.3f;
    expect(&c, "repetition_penalty 1.3", &q, NULL, 0, "greedy_repetition_penalty_1.3_ids", NULL);
    q = p;
    q.no_repeat_ngram_size = 2;
    expect(&c, "no_repeat_ngram_size 2", &q, NULL, 0, "greedy_no_repeat_ngram_size_2_ids", NULL);
    q = p;
    q.min_length = 10;
    expect(&c, "min_length 10", &q, NULL, 0, "greedy_min_length_10_ids", NULL);
    q = p;
    q.num_beams = 3;
    q.num_return_sequences = 3;
    expect(&c, "beam 3", &q, NULL, 0, "beam_sequences", "beam_sequences_scores");
    q = p;
    q.num_beams = 4;
    q.length_penalty = 0.6f;
    expect(&c, "beam 4 lp 0.6", &q, NULL, 0, "beam4_lp06_sequences", "beam4_lp06_sequences_scores");
    /* A batch of two: [pixel_values, -pixel_values]. */
    size_t n = (size_t)gitc_model_num_frames(c.m) * 3 * c.m->cfg.vision_image_size * c.m->cfg.vision_image_size;
    float *neg = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        neg[i] = -c.pixels[i];
    const float *px[2] = {c.pixels, neg};
    gitc_generation gen = {0};
    if (check_true(gitc_generate(c.s, px, c.n_px, NULL, NULL, 2, &p, &gen, &err) == GITC_OK, "batch: %s", err.message)) {
        const cJSON *want = cJSON_GetObjectItem(c.ref, "batch2_greedy_ids");
        int32_t ids[64];
        for (int r = 0; r < 2; r++) {
            int k = check_json_ids(cJSON_GetArrayItem(want, r), NULL, ids, 64);
            check_ids(r ? "batch2 row 1" : "batch2 row 0", gen.sequences[r].ids, gen.sequences[r].n_ids, ids, k);
        }
        gitc_generation_free(&gen);
    }
    /* Batched prompts of different lengths equal the unbatched runs. */
    const int32_t *prs[2] = {prompt, prompt};
    int nps[2] = {n_prompt, 2};
    if (check_true(gitc_generate(c.s, px, c.n_px, prs, nps, 2, &p, &gen, &err) == GITC_OK, "batch prompts: %s", err.message)) {
        for (int r = 0; r < 2; r++) {
            gitc_generation one = {0};
            gitc_generate(c.s, &px[r], c.n_px, &prs[r], &nps[r], 1, &p, &one, &err);
            check_ids(r ? "mixed-length batch row 1 vs alone" : "mixed-length batch row 0 vs alone",
                      gen.sequences[r].ids, gen.sequences[r].n_ids, one.sequences[0].ids, one.sequences[0].n_ids);
            gitc_generation_free(&one);
        }
        gitc_generation_free(&gen);
    }
    free(neg);
    /* Absurd settings are refused. */
    q = p;
    q.num_beams = 0;
    check_true(gitc_generate(c.s, px, c.n_px, NULL, NULL, 1, &q, &gen, &err) == GITC_ERR_ARGUMENT, "0 beams refused");
    printf("0 beams: %s\n", err.message);
    q = p;
    q.do_sample = 1;
    q.temperature = -1;
    check_true(gitc_generate(c.s, px, c.n_px, NULL, NULL, 1, &q, &gen, &err) == GITC_ERR_ARGUMENT, "negative temperature refused");
    printf("negative temperature: %s\n", err.message);
    q = p;
    q.max_length = c.m->cfg.max_position_embeddings + 1;
    check_true(gitc_generate(c.s, px, c.n_px, NULL, NULL, 1, &q, &gen, &err) == GITC_ERR_ARGUMENT, "max_length too large refused");
    printf("max_length: %s\n", err.message);
    /* Sampling is reproducible for a seed. */
    q = p;
    q.do_sample = 1;
    q.seed = 42;
    q.top_k = 20;
    q.top_p = 0.9f;
    gitc_generation a = {0}, b = {0};
    gitc_generate(c.s, px, c.n_px, NULL, NULL, 1, &q, &a, &err);
    gitc_generate(c.s, px, c.n_px, NULL, NULL, 1, &q, &b, &err);
    if (check_true(a.n_sequences == 1 && b.n_sequences == 1, "sampling ran"))
        check_ids("sampling seed 42 twice", a.sequences[0].ids, a.sequences[0].n_ids, b.sequences[0].ids, b.sequences[0].n_ids);
    gitc_generation_free(&a);
    gitc_generation_free(&b);
done:
    free(c.pixels);
    gitci_st_close(st);
    cJSON_Delete(c.ref);
    gitc_session_free(c.s);
    gitc_model_free(c.m);
}

/* generation_config.json supplies defaults; explicit settings override them afterwards. */
static void generation_config(void)
{
    const char *json = "{\"num_beams\": 4, \"length_penalty\": 0.6, \"max_length\": 50,"
                       " \"early_stopping\": \"never\", \"no_repeat_ngram_size\": 3, \"bos_token_id\": 101}";
    gitc_generate_params p = gitc_generate_default_params();
    gitc_error err = {0};
    check_true(gitci_generation_config_parse(json, strlen(json), "test", &p, &err) == GITC_OK, "parse: %s", err.message);
    check_true(p.num_beams == 4 && p.max_length == 50 && p.no_repeat_ngram_size == 3, "integers applied");
    check_true(p.length_penalty == 0.6f && p.early_stopping == GITC_EARLY_STOPPING_NEVER, "penalty and early_stopping applied");
    check_true(p.top_k == 50 && p.temperature == 1.0f && p.repetition_penalty == 1.0f, "defaults kept");
    const char *bad = "{\"num_beams\": \"four\"}";
    check_true(gitci_generation_config_parse(bad, strlen(bad), "generation_config.json", &p, &err) == GITC_ERR_FORMAT &&
                   strstr(err.message, "num_beams") != NULL,
               "a non-integer num_beams is refused: %s", err.message);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    generation_config();
    const char *names[] = {"tiny", "tiny-video", "tiny-f16", "tiny-bf16"};
    for (int i = 0; i < 4; i++)
        run_model(names[i]);
    return check_done("test_generate");
}
