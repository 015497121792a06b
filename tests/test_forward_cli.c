/* `gitc forward` on the tiny reference models: the output file holds every
 * level of the model, equal to transformers' tensors, and greedy ids. */
#include "check.h"
#include "tensor_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Compares tensor `name` of the output (batch row 0) with the reference tensor `ref_name`. */
static void compare(const st_file *out, const st_file *ref, const char *name, const char *ref_name, double tol)
{
    size_t n_out = 0, n_ref = 0;
    float *got = check_tensor_f32(out, name, &n_out);
    float *want = check_tensor_f32(ref, ref_name, &n_ref);
    if (got && want && check_true(n_out == n_ref, "%s: %zu values, reference %zu", name, n_out, n_ref))
        check_close(name, got, want, n_ref, tol);
    free(got);
    free(want);
}

static void run(const char *name)
{
    printf("== %s\n", name);
    const char *tmp = getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp";
    char rel[256], in_path[1024], out_path[1024], ref_path[1024];
    check_run r;
    snprintf(rel, sizeof rel, "tests/data/tiny/%s", name);
    snprintf(in_path, sizeof in_path, "%s/forward-in-%s.safetensors", tmp, name);
    snprintf(out_path, sizeof out_path, "%s/forward-out-%s.safetensors", tmp, name);
    snprintf(ref_path, sizeof ref_path, "%s/reference.safetensors", check_path(rel));
    st_file *ref = check_open_st(ref_path);
    char json_path[1024];
    snprintf(json_path, sizeof json_path, "%s/reference.json", check_path(rel));
    cJSON *j = check_load_json(json_path);
    if (!ref || !j)
        goto done;
    /* Inputs: the reference pixel_values and input_ids (I64). */
    const st_tensor *px = gitci_st_find(ref, "pixel_values");
    int32_t ids32[64];
    int T = check_json_ids(j, "input_ids", ids32, 64);
    int64_t ids[64];
    for (int i = 0; i < T; i++)
        ids[i] = ids32[i];
    tf_writer *w = tf_writer_new();
    gitc_error err = {0};
    int64_t ishape[2] = {1, T};
    tf_dtype px_dtype = TF_F32;
    check_true(tf_dtype_parse(gitci_st_dtype_name(px->dtype), &px_dtype), "pixel_values dtype");
    tf_writer_add(w, "pixel_values", px_dtype, px->ndim, px->shape, px->data, &err);
    tf_writer_add(w, "input_ids", TF_I64, 2, ishape, ids, &err);
    check_true(tf_writer_write(w, in_path, &err) == GITC_OK, "write inputs: %s", err.message);
    tf_writer_free(w);
    check_run_gitc(&r, NULL, "forward", "-m", check_path(rel), "--inputs", in_path, "--out", out_path,
                   "--max-length", "20", "--threads", "2", NULL);
    int ran = check_true(r.status == 0, "gitc forward -m %s failed: %s", rel, r.err);
    check_run_free(&r);
    if (!ran)
        goto done;
    st_file *out = check_open_st(out_path);
    if (out) {
        compare(out, ref, "vision_last_hidden_state", "vision_last_hidden_state", 1e-4);
        compare(out, ref, "visual_projection", "visual_projection", 1e-4);
        compare(out, ref, "last_hidden_state", "last_hidden_state", 1e-4);
        compare(out, ref, "text_logits", "text_logits", 1e-4);
        size_t n = 0;
        float *loss = check_tensor_f32(out, "loss", &n);
        float want = (float)cJSON_GetObjectItem(j, "loss_text_next_token_mean")->valuedouble;
        if (loss && check_true(n == 1, "loss is a scalar"))
            check_close("loss", loss, &want, 1, 1e-4);
        free(loss);
        const st_tensor *g = gitci_st_find(out, "greedy_ids");
        if (check_true(g && g->dtype == ST_I64 && g->ndim == 2, "greedy_ids I64 [1,N]")) {
            int32_t got[64], exp[64];
            int ne = check_json_ids(j, "greedy_ids", exp, 64);
            int ng = (int)g->shape[1];
            for (int i = 0; i < ng && i < 64; i++) {
                int64_t v;
                memcpy(&v, (const char *)g->data + 8 * i, 8);
                got[i] = (int32_t)v;
            }
            check_ids("greedy_ids", got, ng, exp, ne);
        }
        gitci_st_close(out);
    }
    /* Wrong input shapes are refused with a message, and no output is written. */
    unlink(out_path);
    if (strcmp(name, "tiny") == 0) {
        check_run_gitc(&r, NULL, "forward", "-m", check_path("tests/data/tiny/tiny-video"), "--inputs", in_path,
                       "--out", out_path, NULL);
        check_true(r.status != 0, "image inputs to a video model fail");
        check_run_free(&r);
        check_true(access(out_path, F_OK) != 0, "no output file after a failure");
    }
done:
    cJSON_Delete(j);
    gitci_st_close(ref);
    unlink(in_path);
    unlink(out_path);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *names[] = {"tiny", "tiny-video", "tiny-f16", "tiny-bf16"};
    for (int i = 0; i < 4; i++)
        run(names[i]);
    return check_done("test_forward_cli");
}
