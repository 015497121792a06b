/* The library's contract with people who embed it: buffers come with their
 * capacity (no write past a caller's buffer, also for a processor that does
 * not crop, through the library and through `gitc preprocess`; the image
 * encoder's and the forward pass's outputs, with size functions), a session
 * stays usable after a failed allocation, inputs come with their length
 * (pixel_values refused before any read) and params structs with their size,
 * the streaming safetensors writer
 * the tools use (tools/tensor_file.c), and the run-time version. */
#include "check.h"
#include "gitc.h"
#include "image_internal.h"
#include "model.h"
#include "session.h"
#include "safetensors.h"
#include "tensor_file.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The allocation-failure test asks for terabytes: under AddressSanitizer that
 * must be a NULL from malloc, as it is without it, not a report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static gitc_image pattern(int w, int h)
{
    gitc_image im = {w, h, malloc((size_t)w * h * 3)};
    for (int i = 0; i < w * h * 3; i++)
        im.rgb[i] = (uint8_t)((i * 7919) >> 3);
    return im;
}

/* gitc_processor_run never writes past out_capacity; gitc_processor_output_floats
 * gives what an image needs, also when the size depends on the image. */
static void test_processor_capacity(void)
{
    gitc_error err = {0};
    gitc_processor *p = NULL;
    static const char json[] = "{\"size\": {\"shortest_edge\": 32}, \"do_center_crop\": false}";
    if (!check_true(gitc_processor_from_json(json, sizeof json - 1, "no-crop", &p, &err) == GITC_OK,
                    "no-crop processor: %s", err.message))
        return;
    int h = -1, w = -1;
    gitc_processor_output_size(p, &h, &w);
    check_true(h == 0 && w == 0, "no-crop output_size is image-dependent (0x0): %dx%d", w, h);
    gitc_image im = pattern(17, 23);
    /* shortest edge 32: width 32, height int(32 * 23 / 17) = 43 */
    size_t need = gitc_processor_output_floats(p, 17, 23);
    printf("%-60s %zu floats\n", "no-crop processor, 17x23 image needs", need);
    check_true(need == (size_t)3 * 43 * 32, "output_floats for 17x23: %zu, want %d", need,
               3 * 43 * 32);
    check_true(gitc_processor_output_floats(p, 0, 5) == 0, "output_floats of a 0-wide image is 0");
    check_true(gitc_processor_output_floats(NULL, 5, 5) == 0, "output_floats without processor is 0");

    /* A buffer too small by one float: refused, nothing written (guard intact). */
    const float guard = -12345.0f;
    float *buf = malloc((need + 64) * sizeof(float));
    for (size_t i = 0; i < need + 64; i++)
        buf[i] = guard;
    gitc_status st = gitc_processor_run(p, &im, buf, need - 1, &err);
    int touched = 0;
    for (size_t i = 0; i < need + 64; i++)
        touched += buf[i] != guard;
    printf("%-60s %s: %s\n", "capacity need-1", gitc_status_string(st), err.message);
    check_true(st == GITC_ERR_ARGUMENT && strstr(err.message, "floats"),
               "capacity need-1 refused with a message: %d %s", (int)st, err.message);
    check_true(touched == 0, "a refused run wrote %d floats", touched);
    st = gitc_processor_run(p, &im, buf, 0, &err);
    check_true(st == GITC_ERR_ARGUMENT, "capacity 0 refused: %d", (int)st);
    /* The exact size: written, and nothing after it. */
    st = gitc_processor_run(p, &im, buf, need, &err);
    touched = 0;
    for (size_t i = need; i < need + 64; i++)
        touched += buf[i] != guard;
    check_true(st == GITC_OK, "exact capacity: %s", err.message);
    check_true(touched == 0, "exact capacity wrote %d floats past the end", touched);
    free(buf);
    gitc_image_free(&im);
    gitc_processor_free(p);
}

/* Runs a shell command line (set-up: copying a model folder); returns its exit
 * status (-1 when it did not exit). */
static int run_shell(const char *cmd)
{
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    check_run r;
    check_run_argv(&r, NULL, argv);
    int status = r.status;
    check_run_free(&r);
    return status;
}

/* The reported overflow: `gitc preprocess` with "do_center_crop": false sized
 * its buffer from the 0x0 output size and the processor wrote past it
 * (AddressSanitizer: heap-buffer-overflow). Now the library refuses the run. */
static void test_preprocess_no_crop(void)
{
    const char *bin = getenv("GITC_BIN"), *tmp = getenv("GITC_TMP");
    if (!check_true(bin && tmp, "GITC_BIN and GITC_TMP are set"))
        return;
    char dir[1024], cmd[16384], out[1100];
    snprintf(dir, sizeof dir, "%s/no-crop-model", tmp);
    snprintf(out, sizeof out, "%s/no-crop.safetensors", tmp);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' '%s' && mkdir -p '%s' && cp '%s'/* '%s'/ && "
             "sed -i 's/\"do_center_crop\": true/\"do_center_crop\": false/' '%s/preprocessor_config.json' && "
             "grep -q '\"do_center_crop\": false' '%s/preprocessor_config.json'",
             dir, out, dir, check_path("models/git-shapes"), dir, dir, dir);
    if (!check_true(run_shell(cmd) == 0, "made a no-crop copy of git-shapes"))
        return;
    check_run r;
    check_run_gitc(&r, NULL, "preprocess", "-m", dir, "--out", out, check_path("examples/shapes_1_320x240.jpg"),
                   NULL);
    int status = r.status;
    char *msg = r.err; /* handed over */
    r.err = NULL;
    check_run_free(&r);
    printf("%-60s exit %d: %s", "gitc preprocess, do_center_crop false", status, msg);
    check_true(status == 1, "preprocess without crop exits 1 (not a crash, not 0): %d", status);
    /* The command refuses the processor before reading any image (one message). */
    check_true(strstr(msg, "do_center_crop") != NULL && strstr(msg, "no-crop-model") != NULL,
               "the message names the model and the size problem: %s", msg);
    check_true(strstr(msg, "AddressSanitizer") == NULL, "no sanitizer report");
    FILE *f = fopen(out, "rb");
    check_true(f == NULL, "no output file written");
    if (f)
        fclose(f);
    free(msg);
}

/* The array outputs of the model levels: gitc_encode_image's two, then gitc_forward's two. */
enum { OUT_VISION, OUT_PROJECTION, OUT_HIDDEN, OUT_LOGITS, N_OUT };
static const char *const out_names[N_OUT] = {"vision_out", "projection_out", "hidden_out", "logits_out"};

/* gitc_encode_image (forward = 0: outputs 0 and 1) or gitc_forward (forward =
 * 1: outputs 2 and 3, and the loss) into out[] with capacities cap[]. */
static gitc_status run_level(gitc_session *s, int forward, const float *px, size_t npx, const int32_t *ids, int T,
                             float *const out[N_OUT], const size_t cap[N_OUT], float *loss, gitc_error *err)
{
    if (!forward)
        return gitc_encode_image(s, px, npx, out[OUT_VISION], cap[OUT_VISION], out[OUT_PROJECTION],
                                 cap[OUT_PROJECTION], err);
    return gitc_forward(s, px, npx, ids, T, out[OUT_HIDDEN], cap[OUT_HIDDEN], out[OUT_LOGITS], cap[OUT_LOGITS],
                        loss, err);
}

/* Floats in buf[0..n) that are not the guard value (bit for bit). */
static size_t count_touched(const float *buf, size_t n, float guard)
{
    size_t touched = 0;
    for (size_t i = 0; i < n; i++)
        touched += memcmp(&buf[i], &guard, sizeof guard) != 0;
    return touched;
}

/* gitc_encode_image and gitc_forward take each output's capacity: the size
 * functions agree with the config; a buffer one float short is refused with
 * GITC_ERR_ARGUMENT naming it and both sizes, before any output (also those
 * with room, and the loss) is written; the exact capacity gives the same
 * floats as before and nothing past them. */
static void test_model_output_capacity(const char *rel)
{
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    if (!check_open_model(check_path(rel), NULL, &m, &s))
        return;
    const gitc_config *c = gitc_model_config(m);
    enum { T = 5 };
    const int32_t ids[T] = {c->bos_token_id, 7, 42, 99, c->eos_token_id};
    /* Sizes from the config alone: frames x ((image / patch)^2 + 1) image tokens. */
    int grid = c->vision_image_size / c->vision_patch_size;
    size_t tokens = (size_t)gitc_model_num_frames(m) * (size_t)(grid * grid + 1);
    size_t need[N_OUT] = {tokens * c->vision_hidden_size, tokens * c->hidden_size,
                          (tokens + T) * c->hidden_size, (size_t)T * c->vocab_size};
    size_t said[N_OUT] = {gitc_model_vision_floats(m), gitc_model_projection_floats(m),
                          gitc_model_hidden_floats(m, T), gitc_model_logits_floats(m, T)};
    printf("%s: %d frame(s), %zu image tokens, T = %d\n", rel, gitc_model_num_frames(m), tokens, T);
    for (int k = 0; k < N_OUT; k++) {
        printf("  %-58s %zu floats\n", out_names[k], said[k]);
        check_true(said[k] == need[k] && need[k] > 0, "%s %s: size function %zu, config gives %zu", rel,
                   out_names[k], said[k], need[k]);
    }
    int P = c->max_position_embeddings;
    check_true(gitc_model_hidden_floats(m, P) == (tokens + (size_t)P) * c->hidden_size &&
                   gitc_model_logits_floats(m, P) == (size_t)P * c->vocab_size,
               "sizes at max_position_embeddings %d", P);
    check_true(gitc_model_hidden_floats(m, 0) == 0 && gitc_model_logits_floats(m, 0) == 0 &&
                   gitc_model_hidden_floats(m, P + 1) == 0 && gitc_model_logits_floats(m, P + 1) == 0,
               "no size for 0 or max_position_embeddings + 1 text tokens");
    check_true(gitc_model_vision_floats(NULL) == 0 && gitc_model_projection_floats(NULL) == 0 &&
                   gitc_model_hidden_floats(NULL, T) == 0 && gitc_model_logits_floats(NULL, T) == 0 &&
                   gitc_model_pixel_floats(NULL) == 0,
               "no size without a model");

    /* The input's size: [frames, 3, H, W]. */
    size_t npx = (size_t)gitc_model_num_frames(m) * 3 * c->vision_image_size * c->vision_image_size;
    check_true(gitc_model_pixel_floats(m) == npx, "%s: pixel floats %zu, config %zu", rel,
               gitc_model_pixel_floats(m), npx);
    float *px = malloc(npx * sizeof(float));
    float *want[N_OUT] = {0};
    for (int k = 0; k < N_OUT; k++)
        want[k] = malloc(need[k] * sizeof(float));
    for (size_t i = 0; px && i < npx; i++)
        px[i] = (float)((int)(i % 241) - 120) / 100.0f;
    float want_loss = 0.0f;
    if (!px || !want[0] || !want[1] || !want[2] || !want[3] ||
        !check_true(run_level(s, 0, px, npx, ids, T, want, need, NULL, &err) == GITC_OK &&
                        run_level(s, 1, px, npx, ids, T, want, need, &want_loss, &err) == GITC_OK,
                    "%s: plain run: %s", rel, err.message))
        goto done;
    const float guard = -12345.0f;
    for (int k = 0; k < N_OUT; k++) {
        int forward = k >= OUT_HIDDEN, first = forward ? OUT_HIDDEN : OUT_VISION;
        float *out[N_OUT] = {0};
        size_t cap[N_OUT] = {0};
        float loss = guard;
        /* Both outputs of the call, each in a larger allocation filled with the guard. */
        for (int j = first; j < first + 2; j++) {
            out[j] = malloc((need[j] + 64) * sizeof(float));
            for (size_t i = 0; out[j] && i < need[j] + 64; i++)
                out[j][i] = guard;
            cap[j] = need[j];
        }
        if (!out[first] || !out[first + 1]) {
            check_true(0, "out of memory");
            free(out[first]);
            free(out[first + 1]);
            break;
        }
        cap[k] = need[k] - 1;
        gitc_status st = run_level(s, forward, px, npx, ids, T, out, cap, forward ? &loss : NULL, &err);
        char label[200], num_need[32], num_cap[32];
        snprintf(label, sizeof label, "%s %s capacity need-1", rel, out_names[k]);
        printf("%-60s %s: %s\n", label, gitc_status_string(st), err.message);
        snprintf(num_need, sizeof num_need, "%zu", need[k]);
        snprintf(num_cap, sizeof num_cap, "%zu", need[k] - 1);
        check_true(st == GITC_ERR_ARGUMENT && strstr(err.message, out_names[k]) &&
                       strstr(err.message, num_need) && strstr(err.message, num_cap),
                   "%s: refused naming the buffer, %s needed and %s given: %d %s", label, num_need, num_cap,
                   (int)st, err.message);
        size_t touched = count_touched(out[first], need[first] + 64, guard) +
                         count_touched(out[first + 1], need[first + 1] + 64, guard) +
                         count_touched(&loss, 1, guard);
        check_true(touched == 0, "%s: a refused call wrote %zu floats", label, touched);
        /* The exact capacity: the plain run's floats, and nothing after them. */
        cap[k] = need[k];
        st = run_level(s, forward, px, npx, ids, T, out, cap, forward ? &loss : NULL, &err);
        snprintf(label, sizeof label, "%s %s exact capacity vs plain buffer", rel, out_names[k]);
        if (check_true(st == GITC_OK, "%s: %s", label, err.message)) {
            check_close(label, out[k], want[k], need[k], 0.0);
            touched = count_touched(out[k] + need[k], 64, guard);
            check_true(touched == 0, "%s: %zu floats written past the capacity", label, touched);
            if (forward)
                check_close("loss with exact capacities vs plain run", &loss, &want_loss, 1, 0.0);
        }
        free(out[first]);
        free(out[first + 1]);
    }
done:
    free(px);
    for (int k = 0; k < N_OUT; k++)
        free(want[k]);
    gitc_session_free(s);
    gitc_model_free(m);
}

/* A failed workspace allocation leaves the session as it was: the next image
 * encoding gives the same result as before (it used to write through the
 * freed ws.patches). */
static void test_session_after_failed_reserve(void)
{
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    if (!check_open_model(check_path("models/git-shapes"), NULL, &m, &s))
        return;
    const gitc_config *c = gitc_model_config(m);
    size_t npx = gitc_model_pixel_floats(m);
    size_t nproj = (size_t)gitc_model_num_image_tokens(m) * c->hidden_size;
    float *px = malloc(npx * sizeof(float)), *a = malloc(nproj * sizeof(float)),
          *b = malloc(nproj * sizeof(float));
    for (size_t i = 0; i < npx; i++)
        px[i] = (float)((int)(i % 251) - 125) / 100.0f;
    check_true(gitc_encode_image(s, px, npx, NULL, 0, a, nproj, &err) == GITC_OK, "encode before: %s",
               err.message);
    /* INT_MAX rows of activations: terabytes, so every allocation fails. */
    gitc_status st = gitci_workspace_reserve(s, INT_MAX, 16, &err);
    printf("%-60s %s: %s\n", "reserve INT_MAX rows", gitc_status_string(st), err.message);
    check_true(st == GITC_ERR_MEMORY, "huge reserve fails with GITC_ERR_MEMORY: %d", (int)st);
    check_true(s->ws.patches != NULL && s->ws.rows > 0, "workspace kept after the failure");
    st = gitc_encode_image(s, px, npx, NULL, 0, b, nproj, &err);
    if (check_true(st == GITC_OK, "encode after the failure: %s", err.message))
        check_close("image encoding after a failed reserve vs before", b, a, nproj, 0.0);
    /* A huge attention scratch alone fails the same way. */
    st = gitci_workspace_reserve(s, 1, INT_MAX, &err);
    check_true(st == GITC_ERR_MEMORY, "huge attention scratch fails: %d", (int)st);
    st = gitc_encode_image(s, px, npx, NULL, 0, b, nproj, &err);
    if (check_true(st == GITC_OK, "encode after the scratch failure: %s", err.message))
        check_close("image encoding after a failed scratch reserve vs before", b, a, nproj, 0.0);
    free(px);
    free(a);
    free(b);
    gitc_session_free(s);
    gitc_model_free(m);
}

/* The streaming safetensors writer: tensors with data and tensors filled
 * when written, read back exactly; a failing fill leaves no file behind. */
static gitc_status fill_ramp(void *user, int index, void *buf, size_t nbytes, gitc_error *err)
{
    int *calls = user;
    (*calls)++;
    if (index == 99)
        return gitci_fail(err, GITC_ERR_IO, "fill failed on purpose");
    float *f = buf;
    for (size_t i = 0; i < nbytes / sizeof(float); i++)
        f[i] = (float)index * 1000.0f + (float)i;
    return GITC_OK;
}

static gitc_status fill_fail(void *user, int index, void *buf, size_t nbytes, gitc_error *err)
{
    (void)user;
    (void)index;
    (void)buf;
    (void)nbytes;
    return gitci_fail(err, GITC_ERR_IO, "fill failed on purpose");
}

static void test_streaming_writer(void)
{
    const char *tmp = getenv("GITC_TMP");
    char path[1100];
    snprintf(path, sizeof path, "%s/stream.safetensors", tmp && *tmp ? tmp : "/tmp");
    remove(path);
    gitc_error err = {0};
    tf_writer *w = tf_writer_new();
    const int64_t s1[2] = {3, 5}, s2[1] = {7}, s3[3] = {2, 2, 2};
    const int32_t ids[7] = {1, 2, 3, 4, 5, 6, 7};
    int calls = 0;
    check_true(w && tf_writer_add(w, "a", TF_F32, 2, s1, NULL, &err) == GITC_OK &&
                   tf_writer_add(w, "ids", TF_I32, 1, s2, ids, &err) == GITC_OK &&
                   tf_writer_add(w, "c", TF_F32, 3, s3, NULL, &err) == GITC_OK,
               "declare: %s", err.message);
    check_true(tf_writer_write(w, path, &err) == GITC_ERR_ARGUMENT,
               "tensors without data need a fill callback");
    gitc_status st = tf_writer_write_stream(w, path, fill_ramp, &calls, &err);
    check_true(st == GITC_OK && calls == 2, "streamed write: %s (%d fills)", err.message, calls);
    st_file *f = NULL;
    if (check_true(gitci_st_open(path, &f, &err) == GITC_OK, "read back: %s", err.message)) {
        const st_tensor *a = gitci_st_find(f, "a"), *b = gitci_st_find(f, "ids"), *c = gitci_st_find(f, "c");
        int ok = a && b && c && a->numel == 15 && c->numel == 8 && b->dtype == ST_I32 &&
                 memcmp(b->data, ids, sizeof ids) == 0;
        for (int i = 0; ok && i < 15; i++)
            ok = ((const float *)a->data)[i] == (float)i;
        for (int i = 0; ok && i < 8; i++)
            ok = ((const float *)c->data)[i] == 2000.0f + (float)i;
        printf("%-60s %s\n", "streaming safetensors writer read back", ok ? "equal" : "DIFFERENT");
        check_true(ok, "streamed tensors read back differently");
        gitci_st_close(f);
    }
    /* The tools' own reader (gitc forward's inputs) sees the same tensors. */
    tf_file *tf = NULL;
    if (check_true(tf_open(path, &tf, &err) == GITC_OK, "tools' reader: %s", err.message)) {
        const tf_tensor *a = tf_find(tf, "a"), *b = tf_find(tf, "ids"), *c = tf_find(tf, "c");
        float a32[15] = {0};
        int ok = a && b && c && tf->n_tensors == 3 && a->numel == 15 && c->numel == 8 && b->dtype == TF_I32 &&
                 memcmp(b->data, ids, sizeof ids) == 0 && tf_to_f32(tf, a, a32, &err) == GITC_OK;
        for (int i = 0; ok && i < 15; i++)
            ok = a32[i] == (float)i;
        printf("%-60s %s\n", "tools' safetensors reader on the same file", ok ? "equal" : "DIFFERENT");
        check_true(ok, "the tools' reader sees other tensors");
        tf_close(tf);
    }
    /* The tools' reader refuses a damaged file, naming it and the problem. */
    static const struct {
        const char *what, *header, *want;
        size_t data;
    } bad[] = {
        {"header past the end", NULL, "header length", 0},
        {"data_offsets past the data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "data_offsets", 4},
        {"shape vs byte range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "shape and dtype", 8},
        {"unknown dtype", "{\"a\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype", 8},
        {"negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "not a count", 8},
    };
    char bad_path[1200];
    snprintf(bad_path, sizeof bad_path, "%s.bad", path);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char file[512] = {0};
        size_t hl = bad[i].header ? strlen(bad[i].header) : 400;
        for (int b = 0; b < 8; b++)
            file[b] = (unsigned char)((uint64_t)hl >> (8 * b));
        size_t n = 8;
        if (bad[i].header) {
            memcpy(file + 8, bad[i].header, hl);
            n = 8 + hl + bad[i].data;
        }
        FILE *bf = fopen(bad_path, "wb");
        check_true(bf && fwrite(file, 1, n, bf) == n && fclose(bf) == 0, "write %s", bad_path);
        tf_file *t = NULL;
        gitc_status bs = tf_open(bad_path, &t, &err);
        printf("%-60s %s: %s\n", bad[i].what, gitc_status_string(bs), err.message);
        check_true(bs != GITC_OK && t == NULL && strstr(err.message, bad_path) && strstr(err.message, bad[i].want),
                   "tools' reader, %s: refused naming the file and \"%s\": %s", bad[i].what, bad[i].want,
                   err.message);
        tf_close(t);
    }
    remove(bad_path);
    /* A failing fill: an error naming the problem, the old file kept, no temporary left. */
    st = tf_writer_write_stream(w, path, fill_fail, NULL, &err);
    check_true(st == GITC_ERR_IO && strstr(err.message, "on purpose"), "failing fill: %d %s",
               (int)st, err.message);
    check_true(gitci_file_exists(path), "the previous file is kept after a failed write");
    char tmpname[1200];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    check_true(!gitci_file_exists(tmpname), "no temporary file left behind");
    tf_writer_free(w);
    remove(path);
}

/* An error in the middle of generation (the abort callback) leaves the session
 * usable: the next caption equals a fresh session's. */
static int abort_after;
static int abort_countdown(void *user)
{
    (void)user;
    return abort_after >= 0 && abort_after-- == 0;
}

static void test_session_after_abort(void)
{
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL, *fresh = NULL;
    gitc_image im = {0};
    char *want = NULL, *got = NULL;
    if (!check_true(gitc_model_load(check_path("models/git-shapes"), NULL, &m, &err) == GITC_OK &&
                        gitc_image_load(check_path("examples/shapes_1_320x240.jpg"), NULL, &im,
                                        &err) == GITC_OK,
                    "load: %s", err.message))
        goto done;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    check_true(gitc_session_create(m, &sp, &fresh, &err) == GITC_OK, "fresh session: %s",
               err.message);
    sp.abort_callback = abort_countdown;
    check_true(gitc_session_create(m, &sp, &s, &err) == GITC_OK, "session: %s", err.message);
    if (!s || !fresh)
        goto done;
    gitc_generate_params gp = gitc_model_generate_params(m);
    gp.num_beams = 2;
    abort_after = -1;
    check_true(gitc_describe_image(fresh, &im, NULL, &gp, &want, &err) == GITC_OK, "fresh: %s",
               err.message);
    int aborted = 0;
    for (int when = 0; when < 40; when += 7) { /* stop at different steps */
        abort_after = when;
        gitc_status st = gitc_describe_image(s, &im, NULL, &gp, &got, &err);
        aborted += st == GITC_ERR_ABORTED;
        free(got);
        got = NULL;
    }
    abort_after = -1;
    gitc_status st = gitc_describe_image(s, &im, NULL, &gp, &got, &err);
    printf("%-60s %d aborted runs, then \"%s\" (fresh session: \"%s\")\n",
           "caption after aborted runs", aborted, got ? got : "", want ? want : "");
    check_true(aborted > 0, "the abort callback stopped some runs");
    check_true(st == GITC_OK && got && want && strcmp(got, want) == 0,
               "caption after aborts equals a fresh session's: %s", err.message);
done:
    free(want);
    free(got);
    gitc_image_free(&im);
    gitc_session_free(s);
    gitc_session_free(fresh);
    gitc_model_free(m);
}

static void test_version(void)
{
    printf("%-60s %s (header %s), formats: %s\n", "gitc_version", gitc_version(), GITC_VERSION,
           gitc_formats());
    check_true(strcmp(gitc_version(), GITC_VERSION) == 0, "run-time version %s equals header %s",
               gitc_version(), GITC_VERSION);
    check_true(strncmp(gitc_formats(), "JPEG PNG BMP", 12) == 0, "formats start with the core ones");
}

/* Every function taking pixel_values takes its length in floats: one float
 * short, one float long or none is refused with GITC_ERR_ARGUMENT naming
 * pixel_values and both sizes, before any of it is read. The buffer lies in
 * pages mapped without any access, so a single read crashes the test (in every
 * build, with AddressSanitizer or without). */
static void test_pixel_sizes(const char *rel)
{
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    gitc_batch *b = NULL;
    if (!check_open_model(check_path(rel), NULL, &m, &s) ||
        !check_true(gitc_batch_create(s, 4, &b, &err) == GITC_OK, "batch: %s", err.message))
        goto done;
    size_t npx = gitc_model_pixel_floats(m), nproj = gitc_model_projection_floats(m);
    size_t nlog = gitc_model_logits_floats(m, 2);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = ((npx + 1) * sizeof(float) + page - 1) / page * page;
    float *px = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    float *proj = malloc(nproj * sizeof(float)), *logits = malloc(nlog * sizeof(float));
    if (!check_true(px != MAP_FAILED && proj && logits, "unreadable pixel pages and outputs"))
        goto free_bufs;
    const int32_t ids[2] = {gitc_model_config(m)->bos_token_id, 7};
    const size_t sizes[3] = {npx - 1, npx + 1, 0};
    for (int k = 0; k < 3; k++) {
        size_t n = sizes[k];
        const float *pp = px;
        gitc_generation gen = {0};
        int id = 0;
        gitc_status st[4];
        char msg[4][512];
        st[0] = gitc_encode_image(s, px, n, NULL, 0, proj, nproj, &err);
        memcpy(msg[0], err.message, sizeof msg[0]);
        st[1] = gitc_forward(s, px, n, ids, 2, NULL, 0, logits, nlog, NULL, &err);
        memcpy(msg[1], err.message, sizeof msg[1]);
        st[2] = gitc_generate(s, &pp, n, NULL, NULL, 1, NULL, &gen, &err);
        memcpy(msg[2], err.message, sizeof msg[2]);
        st[3] = gitc_batch_add(b, px, n, NULL, 1, NULL, &id, &err);
        memcpy(msg[3], err.message, sizeof msg[3]);
        static const char *const fn[4] = {"gitc_encode_image", "gitc_forward", "gitc_generate", "gitc_batch_add"};
        char num_n[32], num_need[32];
        snprintf(num_n, sizeof num_n, "holds %zu floats", n);
        snprintf(num_need, sizeof num_need, "%zu", npx);
        for (int f = 0; f < 4; f++) {
            char label[200];
            snprintf(label, sizeof label, "%s %s, pixel_values of %zu floats (model %zu)", rel, fn[f], n, npx);
            printf("%-60s %s: %s\n", label, gitc_status_string(st[f]), msg[f]);
            check_true(st[f] == GITC_ERR_ARGUMENT && strstr(msg[f], fn[f]) && strstr(msg[f], "pixel_values") &&
                           strstr(msg[f], num_n) && strstr(msg[f], num_need),
                       "%s: refused naming the function, pixel_values and both sizes: %d %s", label, (int)st[f],
                       msg[f]);
        }
        check_true(gen.n_sequences == 0 && gen.sequences == NULL && id == -1 && gitc_batch_live_rows(b) == 0,
                   "%s: no output, no request id, no rows after a refused input of %zu floats", rel, n);
    }
free_bufs:
    if (px != MAP_FAILED)
        munmap(px, bytes);
    free(proj);
    free(logits);
done:
    gitc_batch_free(b);
    gitc_session_free(s);
    gitc_model_free(m);
}

/* The params structs carry their size: gitc_*_params_init fills it for the
 * size given, and a struct of another size (never initialized, or built
 * against another gitc.h) is refused with GITC_ERR_ARGUMENT naming the struct. */
static void test_params_size(void)
{
    gitc_error err = {0};
    gitc_model_params mp = gitc_model_default_params();
    gitc_session_params sp = gitc_session_default_params();
    gitc_generate_params gp = gitc_generate_default_params();
    gitc_image_params ip = gitc_image_default_params();
    check_true(mp.size == sizeof mp && sp.size == sizeof sp && gp.size == sizeof gp && ip.size == sizeof ip,
               "default params carry their sizeof");
    check_true(mp.load_tokenizer == 1 && gp.max_length == 20 && gp.top_k == 50 && ip.max_pixels == 100000000,
               "default params hold the defaults");
    /* init writes only the `size` bytes it is given. */
    unsigned char raw[sizeof(gitc_generate_params) + 16];
    memset(raw, 0xAB, sizeof raw);
    gitc_generate_params_init((gitc_generate_params *)(void *)raw, sizeof(gitc_generate_params));
    size_t past = 0;
    for (size_t i = sizeof(gitc_generate_params); i < sizeof raw; i++)
        past += raw[i] != 0xAB;
    check_true(past == 0, "gitc_generate_params_init wrote %zu bytes past the size given", past);

    gitc_model *m = NULL;
    mp.size = 0;
    gitc_status st = gitc_model_load(check_path("models/git-shapes"), &mp, &m, &err);
    printf("%-60s %s: %s\n", "gitc_model_params.size = 0", gitc_status_string(st), err.message);
    check_true(st == GITC_ERR_ARGUMENT && m == NULL && strstr(err.message, "gitc_model_params"),
               "uninitialized model params refused: %d %s", (int)st, err.message);
    mp.size = sizeof mp;
    if (!check_true(gitc_model_load(check_path("models/git-shapes"), &mp, &m, &err) == GITC_OK, "load: %s",
                    err.message))
        return;
    gitc_session *s = NULL;
    sp.size = sizeof sp + 8;
    st = gitc_session_create(m, &sp, &s, &err);
    check_true(st == GITC_ERR_ARGUMENT && s == NULL && strstr(err.message, "gitc_session_params"),
               "session params of another size refused: %d %s", (int)st, err.message);
    gp.size = sizeof gp - 8;
    st = gitc_generate_params_check(&gp, 0, m, &err);
    check_true(st == GITC_ERR_ARGUMENT && strstr(err.message, "gitc_generate_params"),
               "generate params of another size refused: %d %s", (int)st, err.message);
    gitc_image im = {0};
    ip.size = 0;
    st = gitc_image_load(check_path("examples/shapes_0_224x224.png"), &ip, &im, &err);
    check_true(st == GITC_ERR_ARGUMENT && im.rgb == NULL && strstr(err.message, "gitc_image_params"),
               "uninitialized image params refused: %d %s", (int)st, err.message);
    gitc_generate_params md = gitc_model_generate_params(m);
    check_true(md.size == sizeof md, "the model's generate params carry their sizeof");
    gitc_model_free(m);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    test_processor_capacity();
    test_preprocess_no_crop();
    test_model_output_capacity("tests/data/tiny/tiny");
    test_model_output_capacity("tests/data/tiny/tiny-video");
    test_model_output_capacity("models/git-shapes");
    test_session_after_failed_reserve();
    test_session_after_abort();
    test_pixel_sizes("models/git-shapes");
    test_pixel_sizes("tests/data/tiny/tiny-video");
    test_params_size();
    test_streaming_writer();
    test_version();
    return check_done("test_library");
}
