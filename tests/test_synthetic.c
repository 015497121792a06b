/* Full-size synthetic models (git-base, git-large, git-base-vatex shapes):
 * `gitc synth` writes the weights, and the vision output, visual projection,
 * text logits and generated ids must match transformers 4.39.3. */
#include "kernels_registry.h"
#include "check.h"
#include "kernels.h"
#include "model.h"
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void compare_ids(const char *what, const gitc_sequence *got, const cJSON *want)
{
    int32_t ids[64];
    int n = check_json_ids(want, NULL, ids, 64);
    check_ids(what, got->ids, got->n_ids, ids, n);
}

static void run(const char *name)
{
    printf("== %s\n", name);
    const char *tmp = getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp";
    char rel[256], dir[1024], config[1100], path[1100];
    snprintf(rel, sizeof rel, "tests/data/synthetic/%s", name);
    snprintf(dir, sizeof dir, "%s/synthetic-%s", tmp, name);
    snprintf(config, sizeof config, "%s/config.json", check_path(rel));
    check_run r;
    check_run_gitc(&r, NULL, "synth", "--config", config, "--out", dir, NULL);
    int ran = check_true(r.status == 0, "gitc synth --config %s --out %s failed: %s", config, dir, r.err);
    check_run_free(&r);
    if (!ran)
        return;
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    cJSON *ref = NULL;
    st_file *st = NULL;
    float *px = NULL, *vis = NULL, *proj = NULL, *logits = NULL, *want_proj = NULL;
    double *want_vis = NULL, *want_logits = NULL;
    if (!check_true(gitc_model_load(dir, NULL, &m, &err) == GITC_OK, "load: %s", err.message))
        goto done;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    if (!check_true(gitc_session_create(m, &sp, &s, &err) == GITC_OK, "session: %s", err.message))
        goto done;
    snprintf(path, sizeof path, "%s/reference.json", check_path(rel));
    ref = check_load_json(path);
    snprintf(path, sizeof path, "%s/reference.safetensors", check_path(rel));
    st = check_open_st(path);
    if (!ref || !st)
        goto done;
    const gitc_config *c = gitc_model_config(m);
    int F = gitc_model_num_frames(m), S = c->vision_image_size, Tf = c->image_tokens_per_frame;
    int n_img = gitc_model_num_image_tokens(m);
    size_t npx = (size_t)F * 3 * S * S;
    px = malloc(npx * sizeof(float));
    size_t n_vis = (size_t)n_img * c->vision_hidden_size, n_proj = (size_t)n_img * c->hidden_size;
    vis = malloc(n_vis * sizeof(float));
    proj = malloc(n_proj * sizeof(float));
    gitc_synth_pixels("pixel_values", npx, px);
    want_vis = check_tensor_f64(st, "vision_last_hidden_state_f64", NULL);
    want_proj = check_tensor_f32(st, "visual_projection", NULL);
    want_logits = check_tensor_f64(st, "text_logits_f64", NULL);
    if (!want_vis || !want_proj || !want_logits)
        goto done;
    /* The references hold frame 0 only (for the video shape: with temporal embedding 0). */
    if (check_true(gitc_encode_image(s, px, npx, vis, n_vis, proj, n_proj, &err) == GITC_OK, "encode: %s", err.message)) {
        check_close_f64("vision_last_hidden_state (frame 0)", vis, want_vis, (size_t)Tf * c->vision_hidden_size, 1e-4);
        check_close("visual_projection (frame 0)", proj, want_proj, (size_t)Tf * c->hidden_size, 1e-4);
    }
    int32_t ids[16];
    int T = check_json_ids(ref, "input_ids", ids, 16);
    size_t n_logits = (size_t)T * c->vocab_size;
    logits = malloc(n_logits * sizeof(float));
    float loss = 0;
    if (check_true(gitc_forward(s, px, npx, ids, T, NULL, 0, logits, n_logits, &loss, &err) == GITC_OK, "forward: %s", err.message)) {
        check_close_f64("text_logits", logits, want_logits, (size_t)T * c->vocab_size, 1e-4);
        float want_loss = (float)cJSON_GetObjectItem(ref, "loss_text_next_token_mean")->valuedouble;
        check_close("loss", &loss, &want_loss, 1, 1e-4);
    }
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 20;
    const float *pp = px;
    gitc_generation gen = {0};
    if (check_true(gitc_generate(s, &pp, npx, NULL, NULL, 1, &p, &gen, &err) == GITC_OK, "greedy: %s", err.message))
        compare_ids("greedy", &gen.sequences[0], cJSON_GetObjectItem(ref, "greedy_ids"));
    gitc_generation_free(&gen);
    const int32_t *pr = ids;
    if (check_true(gitc_generate(s, &pp, npx, &pr, &T, 1, &p, &gen, &err) == GITC_OK, "prompt: %s", err.message))
        compare_ids("greedy from prompt", &gen.sequences[0], cJSON_GetObjectItem(ref, "greedy_from_prompt_ids"));
    gitc_generation_free(&gen);
    p.num_beams = 3;
    p.num_return_sequences = 3;
    if (check_true(gitc_generate(s, &pp, npx, NULL, NULL, 1, &p, &gen, &err) == GITC_OK, "beam: %s", err.message)) {
        const cJSON *seqs = cJSON_GetObjectItem(ref, "beam_sequences");
        const cJSON *scores = cJSON_GetObjectItem(ref, "beam_sequences_scores");
        for (int i = 0; i < 3; i++) {
            char label[64];
            snprintf(label, sizeof label, "beam 3 [%d]", i);
            compare_ids(label, &gen.sequences[i], cJSON_GetArrayItem(seqs, i));
            float ws = (float)cJSON_GetArrayItem(scores, i)->valuedouble;
            snprintf(label, sizeof label, "beam 3 score [%d]", i);
            check_close(label, &gen.sequences[i].score, &ws, 1, 1e-4);
        }
    }
    gitc_generation_free(&gen);
done:
    free(px);
    free(vis);
    free(proj);
    free(logits);
    free(want_vis);
    free(want_proj);
    free(want_logits);
    gitci_st_close(st);
    cJSON_Delete(ref);
    gitc_session_free(s);
    gitc_model_free(m);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *only = argc > 2 ? argv[2] : NULL;
    const char *names[] = {"git-base-shape", "git-large-shape", "git-base-vatex-shape"};
    /* The work is sized to the kernel set: the portable set (a CPU without
     * AVX2, or GITC_KERNELS=portable) is 7-8x slower than the SIMD sets, so
     * there only git-base runs, within ctest's limit; the others are checked
     * wherever a SIMD set runs. */
    int portable = strcmp(gitci_kernels_default()->f32.name, "portable") == 0;
    if (portable && !only)
        printf("portable kernels: git-base-shape only (git-large and git-base-vatex need a SIMD set's speed)\n");
    for (int i = 0; i < 3; i++)
        if (only ? strcmp(only, names[i]) == 0 : (!portable || i == 0))
            run(names[i]);
    return check_done("test_synthetic");
}
