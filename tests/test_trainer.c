/* The trainer object (gitc.h) on the tiny reference model: its loss equals
 * the fixture's, gradient accumulation of two halves equals one batch, a
 * checkpoint + resume reaches the bit-identical weights of an uninterrupted
 * run (dropout on), the saved folder loads in gitc with the trainer's loss
 * and carries transformers' metadata, a frozen vision encoder stays fixed and
 * its cache changes nothing, and bad settings are refused. Scratch files go
 * to $GITC_TMP/trainer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "safetensors.h"

static char tmp_root[1024];

/* Floats of one image of the tiny model's fixture ([3, 30, 30]). */
#define PXF ((size_t)3 * 30 * 30)

/* The fixture batch of tests/data/train/tiny (2 images, 6 tokens). */
typedef struct batch {
    float *px;
    int32_t ids[64], labels[64];
    int B, T;
    double loss;
} batch;

/* Reads the fixture batch into b; 0 (a failure) when it is missing. */
static int load_batch(batch *b)
{
    st_file *f = check_open_st(check_path("tests/data/train/tiny/grads.safetensors"));
    if (!f)
        return 0;
    size_t n = 0;
    b->px = check_tensor_f32(f, "pixel_values", &n);
    const st_tensor *ids = gitci_st_find(f, "input_ids"), *labels = gitci_st_find(f, "labels");
    double *loss = check_tensor_f64(f, "loss", &n);
    int ok = b->px && ids && labels && loss && ids->numel <= 64;
    if (ok) {
        b->B = (int)ids->shape[0];
        b->T = (int)ids->shape[1];
        memcpy(b->ids, ids->data, ids->nbytes);
        memcpy(b->labels, labels->data, labels->nbytes);
        b->loss = loss[0];
    }
    free(loss);
    gitci_st_close(f);
    return check_true(ok, "fixture batch");
}

/* Reads a whole file (caller frees). */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)len + 1);
    if (d && fread(d, 1, (size_t)len, f) != (size_t)len) {
        free(d);
        d = NULL;
    }
    fclose(f);
    if (d)
        d[len] = 0;
    *n = (size_t)len;
    return d;
}

/* 1 when two files have the same bytes. */
static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* A trainer on m with params p (the test fails when it cannot be made). */
static gitc_trainer *make(const gitc_model *m, gitc_train_params *p)
{
    gitc_trainer *t = NULL;
    gitc_error err = {0};
    check_true(gitc_trainer_create(m, p, &t, &err) == GITC_OK, "trainer: %s", err.message);
    return t;
}

/* Runs micro-batches [from, to) of a fixed sequence (the batch, then its halves). */
static int run_steps(gitc_trainer *t, const batch *b, int from, int to)
{
    gitc_error err = {0};
    for (int k = from; k < to; k++) {
        gitc_train_stats s;
        if (!check_true(gitc_trainer_step(t, b->px, PXF * b->B, NULL, b->B, b->ids, b->labels, b->T, &s, &err) == GITC_OK,
                        "step %d: %s", k, err.message))
            return 0;
    }
    return 1;
}

/* Loss against the fixture, one step lowers it, accumulation steps every second call. */
static void test_loss_and_accumulation(const gitc_model *m, const batch *b)
{
    gitc_train_params p = gitc_train_default_params();
    p.dropout = 0;
    p.n_threads = 2;
    p.max_batch = 2;
    p.max_text = 8;
    gitc_trainer *t = make(m, &p);
    if (!t)
        return;
    gitc_error err = {0};
    double loss = 0;
    int n = 0;
    check_true(gitc_trainer_evaluate(t, b->px, PXF * b->B, NULL, b->B, b->ids, b->labels, b->T, &loss, &n, &err) == GITC_OK,
               "evaluate: %s", err.message);
    check_true(fabs(loss - b->loss) < 1e-5, "evaluate loss %.9f, float64 reference %.9f", loss, b->loss);
    gitc_train_stats s = {0};
    check_true(gitc_trainer_step(t, b->px, PXF * b->B, NULL, b->B, b->ids, b->labels, b->T, &s, &err) == GITC_OK, "step: %s",
               err.message);
    check_true(fabs(s.loss - b->loss) < 1e-5 && s.stepped && s.step == 1 && s.grad_norm > 0,
               "step: loss %.9f, stepped %d, step %ld, norm %g", s.loss, s.stepped, s.step, s.grad_norm);
    check_true(s.lr == 5e-5, "lr without warm-up or total steps: %g", s.lr);
    double after = 0;
    gitc_trainer_evaluate(t, b->px, PXF * b->B, NULL, b->B, b->ids, b->labels, b->T, &after, NULL, &err);
    check_true(after < loss, "one step lowers the loss (%.6f -> %.6f)", loss, after);
    printf("trainer: loss %.9f (reference %.9f), after one step %.9f\n", loss, b->loss, after);
    gitc_trainer_free(t);

    /* Accumulate 2: row 0 then row 1 as micro-batches, one optimizer step. Not
     * equal to the batch of 2 (the mean is per micro-batch, as in transformers),
     * but the step happens on the second call only. */
    p.accumulate = 2;
    t = make(m, &p);
    if (!t)
        return;
    gitc_train_stats s1 = {0}, s2 = {0};
    gitc_trainer_step(t, b->px, PXF, NULL, 1, b->ids, b->labels, b->T, &s1, &err);
    gitc_trainer_step(t, b->px + PXF, PXF, NULL, 1, b->ids + b->T, b->labels + b->T, b->T, &s2, &err);
    check_true(!s1.stepped && s1.step == 0 && s2.stepped && s2.step == 1 && gitc_trainer_micro_steps(t) == 2,
               "accumulate 2: the second micro-batch steps");
    gitc_trainer_free(t);
}

/* Checkpoint mid-accumulation + resume = the uninterrupted run, bit for bit. */
static void test_resume(const gitc_model *m, const batch *b)
{
    gitc_train_params p = gitc_train_default_params();
    p.n_threads = 2;
    p.max_batch = 2;
    p.max_text = 8;
    p.lr = 1e-3;
    p.warmup_steps = 1;
    p.total_steps = 3;
    p.accumulate = 2;
    p.seed = 7; /* dropout on: the tiny config has 0.1 */
    char full[1200], part[1200], ck[1200], a[1300], c[1300];
    snprintf(full, sizeof full, "%s/full", tmp_root);
    snprintf(part, sizeof part, "%s/resumed", tmp_root);
    snprintf(ck, sizeof ck, "%s/checkpoint-1", tmp_root);
    gitc_error err = {0};
    gitc_trainer *t = make(m, &p);
    if (!t || !run_steps(t, b, 0, 6))
        return;
    check_true(gitc_trainer_save(t, full, &err) == GITC_OK, "save: %s", err.message);
    gitc_trainer_free(t);
    /* Interrupted after 3 micro-batches (mid-accumulation), resumed from the checkpoint. */
    t = make(m, &p);
    if (!t || !run_steps(t, b, 0, 3))
        return;
    check_true(gitc_trainer_save_checkpoint(t, ck, "{\"epoch\": 3}", &err) == GITC_OK, "checkpoint: %s",
               err.message);
    gitc_trainer_free(t);
    t = make(m, &p);
    char *user = NULL;
    check_true(gitc_trainer_resume(t, ck, &user, &err) == GITC_OK, "resume: %s", err.message);
    check_true(user && strstr(user, "\"epoch\":3"), "the caller's JSON comes back: %s", user ? user : "(none)");
    gitc_free(user);
    check_true(gitc_trainer_steps(t) == 1 && gitc_trainer_micro_steps(t) == 3, "counters restored");
    run_steps(t, b, 3, 6);
    check_true(gitc_trainer_save(t, part, &err) == GITC_OK, "save: %s", err.message);
    gitc_trainer_free(t);
    snprintf(a, sizeof a, "%s/model.safetensors", full);
    snprintf(c, sizeof c, "%s/model.safetensors", part);
    check_true(same_file(a, c), "resumed run's weights are bit-identical to the uninterrupted run's");
    /* A different seed gives other dropout masks, so other weights (the check can fail). */
    p.seed = 8;
    t = make(m, &p);
    if (t && run_steps(t, b, 0, 6)) {
        snprintf(c, sizeof c, "%s/seed8", tmp_root);
        gitc_trainer_save(t, c, &err);
        snprintf(c, sizeof c, "%s/seed8/model.safetensors", tmp_root);
        check_true(!same_file(a, c), "another dropout seed gives other weights");
    }
    gitc_trainer_free(t);
    /* A checkpoint with other frozen parts is refused. */
    p.seed = 7;
    p.freeze = GITC_FREEZE_EMBEDDINGS;
    t = make(m, &p);
    check_true(t && gitc_trainer_resume(t, ck, NULL, &err) == GITC_ERR_ARGUMENT && strstr(err.message, "--freeze"),
               "resume with other frozen parts refused: %s", err.message);
    gitc_trainer_free(t);
    printf("trainer: checkpoint mid-accumulation + resume bit-identical\n");
}

/* The saved folder loads in gitc with the trainer's loss and carries transformers' files. */
static void test_saved_folder(const gitc_model *m, const batch *b)
{
    gitc_train_params p = gitc_train_default_params();
    p.dropout = 0;
    p.max_batch = 2;
    p.max_text = 8;
    p.lr = 1e-3;
    gitc_trainer *t = make(m, &p);
    if (!t || !run_steps(t, b, 0, 2))
        return;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/saved", tmp_root);
    gitc_error err = {0};
    check_true(gitc_trainer_save(t, dir, &err) == GITC_OK, "save: %s", err.message);
    double tl = 0;
    gitc_trainer_evaluate(t, b->px, PXF, NULL, 1, b->ids, b->labels, b->T, &tl, NULL, &err);
    gitc_model *m2 = NULL;
    gitc_session *s = NULL;
    if (check_open_model(dir, NULL, &m2, &s)) {
        float loss = 0;
        /* Row 0 has no padding: gitc_forward's loss is the same quantity. */
        check_true(gitc_forward(s, b->px, PXF, b->ids, b->T, NULL, 0, NULL, 0, &loss, &err) == GITC_OK, "forward: %s",
                   err.message);
        check_true(fabs(loss - tl) < 1e-5, "saved folder's loss %.7f, trainer's %.7f", loss, tl);
        gitc_session_free(s);
        gitc_model_free(m2);
    }
    char path[1300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t n = 0;
    char *d = slurp(path, &n);
    check_true(d && n > 8 && strstr(d + 8, "\"__metadata__\":{\"format\":\"pt\"}"), "{\"format\": \"pt\"} metadata");
    free(d);
    /* The shapes model has processor and tokenizer files: they are copied. */
    gitc_model *shapes = NULL;
    gitc_trainer *ts = NULL;
    char sdir[1200];
    snprintf(sdir, sizeof sdir, "%s/saved-shapes", tmp_root);
    if (check_true(gitc_model_load(check_path("models/git-shapes"), NULL, &shapes, &err) == GITC_OK, "load shapes") &&
        (ts = make(shapes, NULL)) && check_true(gitc_trainer_save(ts, sdir, &err) == GITC_OK, "save: %s", err.message)) {
        const char *files[] = {"config.json", "generation_config.json", "preprocessor_config.json", "vocab.txt",
                               "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
        for (int i = 0; i < 7; i++) {
            char a[1300], c[1300];
            snprintf(a, sizeof a, "%s/%s", sdir, files[i]);
            snprintf(c, sizeof c, "%s/%s", check_path("models/git-shapes"), files[i]);
            check_true(i < 1 ? access(a, R_OK) == 0 : same_file(a, c), "saved folder has %s%s", files[i],
                       i < 1 ? "" : " (a copy)");
        }
    }
    gitc_trainer_free(ts);
    gitc_model_free(shapes);
    snprintf(path, sizeof path, "%s/config.json", dir);
    d = slurp(path, &n);
    check_true(d && strstr(d, "\"torch_dtype\":\t\"float32\""), "config.json says float32");
    free(d);
    gitc_trainer_free(t);
}

/* A frozen vision encoder stays fixed; its cache changes no loss. */
static void test_frozen_vision(const gitc_model *m, const batch *b)
{
    gitc_train_params p = gitc_train_default_params();
    p.dropout = 0;
    p.max_batch = 2;
    p.max_text = 8;
    p.lr = 1e-3;
    p.freeze = GITC_FREEZE_VISION;
    p.cache_images = 2;
    gitc_trainer *cached = make(m, &p), *plain = NULL;
    p.cache_images = 0;
    plain = make(m, &p);
    int64_t keys[2] = {0, 1};
    gitc_error err = {0};
    for (int k = 0; cached && plain && k < 3; k++) {
        gitc_train_stats a, c;
        check_true(gitc_trainer_step(cached, b->px, PXF * b->B, keys, b->B, b->ids, b->labels, b->T, &a, &err) == GITC_OK &&
                       gitc_trainer_step(plain, b->px, PXF * b->B, NULL, b->B, b->ids, b->labels, b->T, &c, &err) == GITC_OK,
                   "frozen steps: %s", err.message);
        check_true(a.loss == c.loss, "step %d: cached vision loss %.9f = recomputed %.9f", k, a.loss, c.loss);
    }
    char d1[1200], d2[1200];
    snprintf(d1, sizeof d1, "%s/frozen", tmp_root);
    snprintf(d2, sizeof d2, "%s/frozen/model.safetensors", tmp_root);
    if (cached && gitc_trainer_save(cached, d1, &err) == GITC_OK) {
        st_file *f = check_open_st(d2), *o = check_open_st(check_path("tests/data/tiny/tiny/model.safetensors"));
        const char *name = "git.image_encoder.vision_model.encoder.layers.0.mlp.fc1.weight";
        size_t n1 = 0, n2 = 0;
        float *x = f ? check_tensor_f32(f, name, &n1) : NULL, *y = o ? check_tensor_f32(o, name, &n2) : NULL;
        check_true(x && y && n1 == n2 && memcmp(x, y, n1 * sizeof *x) == 0, "frozen vision weights unchanged");
        const char *dec = "git.encoder.layer.0.output.dense.weight";
        float *u = f ? check_tensor_f32(f, dec, &n1) : NULL, *w = o ? check_tensor_f32(o, dec, &n2) : NULL;
        check_true(u && w && memcmp(u, w, n1 * sizeof *u) != 0, "the decoder trained");
        free(x);
        free(y);
        free(u);
        free(w);
        gitci_st_close(f);
        gitci_st_close(o);
    }
    gitc_trainer_free(cached);
    gitc_trainer_free(plain);
    printf("trainer: frozen vision encoder fixed, cache = recomputation\n");
}

/* Bad settings and batches are refused and change nothing. */
static void test_refused(const gitc_model *m, const batch *b)
{
    gitc_error err = {0};
    gitc_trainer *t = NULL;
    gitc_train_params p = gitc_train_default_params();
    p.lr = -1;
    check_true(gitc_trainer_create(m, &p, &t, &err) == GITC_ERR_ARGUMENT && !t, "negative lr: %s", err.message);
    p = gitc_train_default_params();
    p.size = sizeof p + 8;
    check_true(gitc_trainer_create(m, &p, &t, &err) == GITC_ERR_ARGUMENT, "size too large: %s", err.message);
    p = gitc_train_default_params();
    p.max_batch = 1;
    p.max_text = 8;
    p.dropout = 0;
    t = make(m, &p);
    if (!t)
        return;
    check_true(gitc_trainer_step(t, b->px, PXF * 2, NULL, 2, b->ids, b->labels, b->T, NULL, &err) == GITC_ERR_LIMIT,
               "batch over max_batch: %s", err.message);
    int32_t none[6] = {-100, -100, -100, -100, -100, -100};
    check_true(gitc_trainer_step(t, b->px, PXF, NULL, 1, b->ids, none, 6, NULL, &err) == GITC_ERR_ARGUMENT,
               "no targets: %s", err.message);
    int32_t bad[6] = {101, 5000, 102, 0, 0, 0};
    check_true(gitc_trainer_step(t, b->px, PXF, NULL, 1, bad, b->labels, 6, NULL, &err) == GITC_ERR_ARGUMENT,
               "id outside the vocabulary: %s", err.message);
    check_true(gitc_trainer_steps(t) == 0, "refused steps change nothing");
    gitc_trainer_free(t);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *tmp = getenv("GITC_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/trainer", tmp ? tmp : "/tmp");
    mkdir(tmp_root, 0755);
    gitc_model *m = NULL;
    gitc_error err = {0};
    batch b = {0};
    if (check_true(gitc_model_load(check_path("tests/data/tiny/tiny"), NULL, &m, &err) == GITC_OK, "load: %s",
                   err.message) &&
        load_batch(&b)) {
        test_loss_and_accumulation(m, &b);
        test_resume(m, &b);
        test_saved_folder(m, &b);
        test_frozen_vision(m, &b);
        test_refused(m, &b);
    }
    free(b.px);
    gitc_model_free(m);
    return check_done("test_trainer");
}
