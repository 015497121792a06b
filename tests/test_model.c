/* The tiny reference models: every stage of the forward pass against transformers 4.39.3. */
#include "check.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_tiny(const char *name)
{
    char dir[512], rel[512];
    snprintf(rel, sizeof rel, "tests/data/tiny/%s", name);
    snprintf(dir, sizeof dir, "%s", check_path(rel));
    printf("== %s\n", name);
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    if (!check_open_model(dir, NULL, &m, &s))
        return;
    char path[600];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    cJSON *ref = check_load_json(path);
    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    st_file *st = check_open_st(path);
    if (!ref || !st)
        goto done;
    const gitc_config *c = gitc_model_config(m);
    int32_t ids[64];
    int T = check_json_ids(ref, "input_ids", ids, 64);
    int n_img = gitc_model_num_image_tokens(m), F = gitc_model_num_frames(m);
    int D = c->hidden_size, V = c->vocab_size, Dv = c->vision_hidden_size;
    size_t n_px = 0;
    float *pixels = check_tensor_f32(st, "pixel_values", &n_px);
    float *want_vis = check_tensor_f32(st, "vision_last_hidden_state", NULL);
    float *want_proj = check_tensor_f32(st, "visual_projection", NULL);
    float *want_hidden = check_tensor_f32(st, "last_hidden_state", NULL);
    float *want_logits = check_tensor_f32(st, "text_logits", NULL);
    double *want_logits64 = check_tensor_f64(st, "text_logits_f64", NULL);
    size_t n_vis = (size_t)F * c->image_tokens_per_frame * Dv, n_proj = (size_t)n_img * D;
    size_t n_hidden = (size_t)(n_img + T) * D, n_logits = (size_t)T * V;
    float *vis = malloc(n_vis * sizeof(float));
    float *proj = malloc(n_proj * sizeof(float));
    float *hidden = malloc(n_hidden * sizeof(float));
    float *logits = malloc(n_logits * sizeof(float));
    float loss = 0;
    if (pixels && want_vis && want_proj && want_hidden && want_logits && want_logits64) {
        if (check_true(gitc_encode_image(s, pixels, n_px, vis, n_vis, proj, n_proj, &err) == GITC_OK, "encode: %s", err.message)) {
            check_close("vision_last_hidden_state", vis, want_vis, (size_t)n_img * Dv, 1e-4);
            check_close("visual_projection", proj, want_proj, (size_t)n_img * D, 1e-4);
        }
        if (check_true(gitc_forward(s, pixels, n_px, ids, T, hidden, n_hidden, logits, n_logits, &loss, &err) == GITC_OK,
                       "forward: %s", err.message)) {
            check_close("last_hidden_state", hidden, want_hidden, (size_t)(n_img + T) * D, 1e-4);
            check_close("text_logits", logits, want_logits, (size_t)T * V, 1e-4);
            check_close_f64("text_logits", logits, want_logits64, (size_t)T * V, 1e-4);
            float want_loss = (float)cJSON_GetObjectItem(ref, "loss_text_next_token_mean")->valuedouble;
            check_close("loss", &loss, &want_loss, 1, 1e-4);
        }
    }
    free(pixels);
    free(want_vis);
    free(want_proj);
    free(want_hidden);
    free(want_logits);
    free(want_logits64);
    free(vis);
    free(proj);
    free(hidden);
    free(logits);
done:
    cJSON_Delete(ref);
    gitci_st_close(st);
    gitc_session_free(s);
    gitc_model_free(m);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *names[] = {"tiny", "tiny-video", "tiny-f16", "tiny-bf16"};
    for (int i = 0; i < 4; i++)
        check_tiny(names[i]);
    return check_done("test_model");
}
