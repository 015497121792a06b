/* Gradients of the training pass (src/train_model.c) against the float64
 * PyTorch autograd fixtures of tools/train_reference.py (tests/data/train):
 * every parameter's gradient within 1e-4 relative (max abs difference / max
 * abs value of that tensor), the loss within 1e-5 of the float64 reference and
 * of transformers' recorded loss; frozen parts, the vision-feature cache,
 * thread-count independence, dropout determinism, and refused inputs. */
#include "check.h"
#include "pool.h"
#include "train_fixture.h"
#include "train_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies every gradient of t into one malloc'd block (NULL grads skipped). */
static float *snapshot(gitc_tmodel *t, size_t *n_out)
{
    gitc_tparam *p;
    int n = gitci_tmodel_params(t, &p);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += p[i].grad ? p[i].numel : 0;
    float *out = malloc(total * sizeof(float) + 4), *w = out;
    for (int i = 0; i < n; i++)
        if (p[i].grad) {
            memcpy(w, p[i].grad, p[i].numel * sizeof(float));
            w += p[i].numel;
        }
    *n_out = total;
    return out;
}

/* Frozen parts: NULL gradients there and bit-identical gradients elsewhere, from
 * pixels and (vision frozen) from cached vision features. */
static void check_frozen(const gitc_model *m, const fixture *fx, gitc_tmodel *full, gitc_pool *pool,
                         unsigned frozen, const char *what)
{
    gitc_error err = {0};
    gitc_tmodel *t = NULL;
    if (!check_true(gitci_tmodel_create(m, frozen, fx->B, fx->T, &t, &err) == GITC_OK, "%s: create: %s", what,
                    err.message))
        return;
    gitc_tparam *p, *pf;
    int n = gitci_tmodel_params(t, &p);
    gitci_tmodel_params(full, &pf);
    double loss = 0;
    int nt = 0;
    for (int pass = 0; pass < ((frozen & GITC_TPART_VISION) ? 2 : 1); pass++) {
        zero_grads(t);
        gitc_status st;
        float *feat = NULL;
        if (pass == 0) {
            st = gitci_tmodel_step(t, pool, fx->pixels, NULL, fx->n_pixels, fx->B, fx->ids, fx->labels, fx->T, 1.0f,
                                  NULL, &loss, &nt, &err);
        } else {
            size_t nfeat = (size_t)fx->B * gitci_tmodel_vision_floats(t);
            feat = malloc(nfeat * sizeof(float));
            st = gitci_tmodel_vision(t, pool, feat, nfeat, fx->pixels, fx->n_pixels, fx->B, &err);
            check_true(st == GITC_OK, "%s: vision features: %s", what, err.message);
            st = gitci_tmodel_step(t, pool, NULL, feat, nfeat, fx->B, fx->ids, fx->labels, fx->T, 1.0f, NULL, &loss,
                                  &nt, &err);
        }
        check_true(st == GITC_OK, "%s: step: %s", what, err.message);
        int bad_null = 0, differ = 0;
        for (int i = 0; i < n; i++) {
            if ((p[i].part & frozen) != 0) {
                bad_null += p[i].grad != NULL;
                continue;
            }
            if (!p[i].grad || memcmp(p[i].grad, pf[i].grad, p[i].numel * sizeof(float)) != 0) {
                if (differ++ < 3)
                    printf("  %s: %s differs from the unfrozen run\n", what, p[i].name);
            }
        }
        check_true(bad_null == 0, "%s: %d frozen parameters have a gradient", what, bad_null);
        check_true(differ == 0, "%s%s: %d trained gradients differ from the unfrozen run", what,
                   pass ? " (cached vision features)" : "", differ);
        printf("  frozen %s%s: NULL grads on the frozen part, the rest bit-identical\n", what,
               pass ? " (cached vision features)" : "");
        free(feat);
    }
    gitci_tmodel_free(t);
}

static void check_model(const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/tiny/%s", model);
    printf("%s:\n", model);
    fixture fx;
    if (!fixture_open(&fx, model) || !check_true(fx.pixels != NULL, "%s: fixture has no pixel_values", model)) {
        fixture_close(&fx);
        return;
    }
    gitc_error err = {0};
    gitc_model *m = NULL;
    if (!check_true(gitc_model_load(check_path(rel), NULL, &m, &err) == GITC_OK, "load %s: %s", rel, err.message)) {
        fixture_close(&fx);
        return;
    }
    gitc_pool *pool2 = gitci_pool_create(2);
    gitc_tmodel *t = NULL;
    if (!check_true(gitci_tmodel_create(m, 0, fx.B, fx.T, &t, &err) == GITC_OK, "create: %s", err.message))
        goto done;
    double loss = 0;
    int nt = 0;
    gitc_status st = gitci_tmodel_step(t, NULL, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f,
                                      NULL, &loss, &nt, &err);
    if (!check_true(st == GITC_OK, "step: %s", err.message))
        goto done;
    int want_nt = 0;
    for (int b = 0; b < fx.B; b++)
        for (int i = 1; i < fx.T; i++)
            want_nt += fx.labels[b * fx.T + i] != -100;
    check_true(nt == want_nt, "targets %d, expected %d", nt, want_nt);
    check_true(fabs(loss - fx.loss) <= LOSS_TOL, "loss %.9f vs float64 reference %.9f", loss, fx.loss);
    printf("  loss %.9f, float64 reference %.9f (diff %.2g), %d targets\n", loss, fx.loss, fabs(loss - fx.loss), nt);

    gitc_tparam *p;
    int n = gitci_tmodel_params(t, &p);
    {
        /* the parameters are transformers' state dict, in its order */
        char jpath[300];
        snprintf(jpath, sizeof jpath, "%s/reference.json", check_path(rel));
        cJSON *ref = check_load_json(jpath);
        const cJSON *names = ref ? cJSON_GetObjectItem(ref, "parameter_names") : NULL;
        int same = names && cJSON_GetArraySize(names) == n;
        for (int i = 0; same && i < n; i++)
            same = strcmp(cJSON_GetArrayItem(names, i)->valuestring, p[i].name) == 0;
        check_true(same, "%d parameters, not transformers' state dict in its order", n);
        printf("  %d parameters: transformers' state dict names, in its order\n", n);
        cJSON_Delete(ref);
    }
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < n; i++) {
        double r = compare_grad(fx.st, &p[i]);
        if (r > worst) {
            worst = r;
            worst_name = p[i].name;
        }
    }
    printf("  %d gradients: worst relative error %.3g (%s), bound %g\n", n, worst, worst_name, GRAD_TOL);

    /* the same step on 2 threads gives the same bits */
    size_t n1 = 0, n2 = 0;
    float *g1 = snapshot(t, &n1);
    zero_grads(t);
    double loss2 = 0;
    st = gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f, NULL, &loss2,
                          &nt, &err);
    float *g2 = snapshot(t, &n2);
    check_true(st == GITC_OK && loss2 == loss && n1 == n2 && memcmp(g1, g2, n1 * sizeof(float)) == 0,
               "1 and 2 threads differ (loss %.17g vs %.17g)", loss, loss2);
    printf("  1 and 2 threads: identical bits over %zu gradient values\n", n1);

    /* grad_scale scales, and gradients add up */
    st = gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 0.5f, NULL, &loss2,
                          &nt, &err);
    float *g3 = snapshot(t, &n2);
    double acc_diff = 0, acc_max = 0;
    for (size_t i = 0; i < n1; i++) {
        acc_diff = fmax(acc_diff, fabs(g3[i] - 1.5 * g1[i]));
        acc_max = fmax(acc_max, fabs(1.5 * g1[i]));
    }
    check_true(st == GITC_OK && acc_diff <= 1e-6 * acc_max,
               "step(1) + step(0.5) is not 1.5 x the gradient (max diff %.3g of %.3g)", acc_diff, acc_max);
    printf("  step(scale 1) + step(scale 0.5) = 1.5 x the gradient within %.2g of %.2g\n", acc_diff, acc_max);
    free(g3);

    /* the single-image case transformers recorded (labels = input_ids) */
    {
        size_t nh = 0;
        int32_t *hid = tensor_i32(fx.st, "hf_input_ids", &nh);
        double *hl = check_tensor_f64(fx.st, "hf_loss", NULL);
        gitc_tmodel *t1 = NULL;
        if (hid && hl && gitci_tmodel_create(m, 0, 1, (int)nh, &t1, &err) == GITC_OK) {
            double l1 = 0;
            int n1t = 0;
            st = gitci_tmodel_loss(t1, pool2, fx.pixels, NULL, fx.n_pixels / (size_t)fx.B, 1, hid, hid, (int)nh, &l1,
                                  &n1t, &err);
            check_true(st == GITC_OK && fabs(l1 - hl[0]) <= LOSS_TOL, "loss %.9f vs transformers %.9f (%s)", l1,
                       hl[0], err.message);
            printf("  transformers' recorded loss %.9f, ours %.9f (diff %.2g)\n", hl[0], l1, fabs(l1 - hl[0]));
        } else {
            check_true(0, "single-image loss: %s", err.message);
        }
        gitci_tmodel_free(t1);
        free(hid);
        free(hl);
    }

    /* dropout: deterministic from the seed on any thread count, and it changes the loss */
    {
        gitc_dropout d = {.hidden = 0.1f, .attention = 0.1f, .vision = 0.0f, .vision_attention = 0.1f, .seed = 7};
        double la = 0, lb = 0, lc = 0;
        zero_grads(t);
        gitci_tmodel_step(t, NULL, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f, &d, &la, &nt,
                         &err);
        float *ga = snapshot(t, &n1);
        zero_grads(t);
        gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f, &d, &lb, &nt,
                         &err);
        float *gb = snapshot(t, &n2);
        d.seed = 8;
        gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f, &d, &lc, &nt,
                         &err);
        check_true(la == lb && memcmp(ga, gb, n1 * sizeof(float)) == 0, "dropout differs between 1 and 2 threads");
        check_true(la != loss && lc != la, "dropout does not change the loss (%.9f %.9f %.9f)", loss, la, lc);
        printf("  dropout seed 7: loss %.6f on 1 and 2 threads (bit-identical gradients), seed 8: %.6f, none: %.6f\n",
               la, lc, loss);
        free(ga);
        free(gb);
    }
    /* restore the no-dropout gradients for the frozen comparisons */
    zero_grads(t);
    gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f, NULL, &loss2, &nt,
                     &err);

    check_frozen(m, &fx, t, pool2, GITC_TPART_VISION, "vision");
    check_frozen(m, &fx, t, pool2, GITC_TPART_VISION | GITC_TPART_PROJECTION, "vision,projection");
    check_frozen(m, &fx, t, pool2, GITC_TPART_EMBEDDINGS, "embeddings");
    check_frozen(m, &fx, t, pool2, GITC_TPART_DECODER | GITC_TPART_HEAD, "decoder,head");

    /* evaluation: the same loss as the step, and no gradient touched */
    {
        size_t ns = 0;
        float *before = snapshot(t, &ns);
        double le = 0;
        int nte = 0;
        st = gitci_tmodel_loss(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, &le, &nte, &err);
        float *after = snapshot(t, &ns);
        check_true(st == GITC_OK && le == loss2 && nte == nt && !memcmp(before, after, ns * sizeof(float)),
                   "gitci_tmodel_loss: %.17g vs step %.17g, %d vs %d targets, gradients %s (%s)", le, loss2, nte, nt,
                   memcmp(before, after, ns * sizeof(float)) ? "changed" : "kept", err.message);
        free(before);
        free(after);
    }

    /* vision features of more images than max_batch: computed in chunks, the same bits */
    {
        gitc_tmodel *t1 = NULL;
        size_t nfeat = (size_t)fx.B * gitci_tmodel_vision_floats(t);
        float *fa = malloc(nfeat * sizeof(float)), *fb = malloc(nfeat * sizeof(float));
        gitc_status sa = gitci_tmodel_vision(t, pool2, fa, nfeat, fx.pixels, fx.n_pixels, fx.B, &err);
        gitc_status sb = gitci_tmodel_create(m, GITC_TPART_VISION, 1, fx.T, &t1, &err);
        if (sb == GITC_OK)
            sb = gitci_tmodel_vision(t1, NULL, fb, nfeat, fx.pixels, fx.n_pixels, fx.B, &err);
        check_true(sa == GITC_OK && sb == GITC_OK && !memcmp(fa, fb, nfeat * sizeof(float)),
                   "vision features in chunks of 1 differ from a batch of %d (%s)", fx.B, err.message);
        printf("  vision features of %d images with max_batch 1 (chunks, 1 thread) = one batch (2 threads)\n", fx.B);
        gitci_tmodel_free(t1);
        free(fa);
        free(fb);
    }

    /* refused settings of create */
    {
        gitc_tmodel *bad = NULL;
        const gitc_config *c = gitc_model_config(m);
        check_true(gitci_tmodel_create(m, 0, 0, fx.T, &bad, &err) == GITC_ERR_ARGUMENT && !bad, "max_batch 0: %s",
                   err.message);
        check_true(gitci_tmodel_create(m, 0, 1, c->max_position_embeddings + 1, &bad, &err) == GITC_ERR_ARGUMENT && !bad,
                   "max_text above max_position_embeddings: %s", err.message);
        check_true(gitci_tmodel_create(m, 1u << 9, 1, fx.T, &bad, &err) == GITC_ERR_ARGUMENT && !bad,
                   "unknown frozen bits: %s", err.message);
        printf("  create refuses: %s\n", err.message);
    }

    /* refused inputs: a short buffer, a wrong batch, an id outside the vocabulary */
    {
        st = gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels - 1, fx.B, fx.ids, fx.labels, fx.T, 1.0f, NULL,
                              &loss2, &nt, &err);
        check_true(st == GITC_ERR_SHAPE && strstr(err.message, "pixels"), "short pixels: %d %s", st, err.message);
        printf("  short pixel buffer refused: %s\n", err.message);
        size_t nfeat = (size_t)fx.B * gitci_tmodel_vision_floats(t);
        float *feat = malloc(nfeat * sizeof(float));
        st = gitci_tmodel_vision(t, pool2, feat, nfeat - 1, fx.pixels, fx.n_pixels, fx.B, &err);
        check_true(st == GITC_ERR_ARGUMENT, "short vision output buffer: %d %s", st, err.message);
        st = gitci_tmodel_step(t, pool2, NULL, feat, nfeat, fx.B, fx.ids, fx.labels, fx.T, 1.0f, NULL, &loss2, &nt,
                              &err);
        check_true(st == GITC_ERR_ARGUMENT, "vision features with a trained vision part: %d %s", st, err.message);
        free(feat);
        st = gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B + 1, fx.ids, fx.labels, fx.T, 1.0f, NULL,
                              &loss2, &nt, &err);
        check_true(st == GITC_ERR_ARGUMENT, "batch above max_batch: %d %s", st, err.message);
        int32_t keep = fx.ids[1];
        fx.ids[1] = 1 << 30;
        st = gitci_tmodel_step(t, pool2, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f, NULL,
                              &loss2, &nt, &err);
        fx.ids[1] = keep;
        check_true(st == GITC_ERR_ARGUMENT && strstr(err.message, "ids[1]"), "bad id: %d %s", st, err.message);
    }
    free(g1);
    free(g2);
done:
    gitci_tmodel_free(t);
    gitci_pool_free(pool2);
    gitc_model_free(m);
    fixture_close(&fx);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    static const char *const models[] = {"tiny", "tiny-video", "tiny-f16", "tiny-bf16"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(models[i]);
    return check_done("test_train_grad");
}
