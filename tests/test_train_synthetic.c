/* Full-size training gradients (GITC_FULL_TESTS): the synthetic git-base
 * (shared/reference/SYNTHETIC_WEIGHTS.md, written by tools/synth.c) on a
 * batch of 2 captioned images; the gradients of a sample of tensors (the
 * embeddings, the first and last layer of each stack, the projection and the
 * output layer; rows sampled in the large matrices) within 1e-4 relative of
 * float64 PyTorch autograd (tests/data/train/git-base-shape, written by
 * tools/train_reference.py synth), the loss within 1e-5. */
#include "check.h"
#include "internal.h"
#include "pool.h"
#include "synth.h"
#include "train_fixture.h"
#include "train_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *tmp = getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp";
    char dir[1024], cfg_path[1100];
    snprintf(dir, sizeof dir, "%s/train-synthetic-git-base", tmp);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", check_path("tests/data/synthetic/git-base-shape"));
    gitc_error err = {0};
    char *cfg = NULL;
    size_t len = 0;
    fixture fx;
    gitc_model *m = NULL;
    gitc_tmodel *t = NULL;
    gitc_pool *pool = gitci_pool_create(2);
    if (!fixture_open(&fx, "git-base-shape"))
        goto done;
    if (!check_true(gitci_read_file(cfg_path, &cfg, &len, &err) == GITC_OK, "%s", err.message) ||
        !check_true(gitc_synth_write(cfg, len, cfg_path, dir, &err) == GITC_OK, "synth: %s", err.message) ||
        !check_true(gitc_model_load(dir, NULL, &m, &err) == GITC_OK, "load: %s", err.message) ||
        !check_true(gitci_tmodel_create(m, 0, fx.B, fx.T, &t, &err) == GITC_OK, "create: %s", err.message))
        goto done;
    /* the batch's images: the synthetic pixel_values and their negation */
    const gitc_config *c = gitc_model_config(m);
    size_t per = 3 * (size_t)c->vision_image_size * (size_t)c->vision_image_size;
    fx.n_pixels = (size_t)fx.B * per;
    fx.pixels = malloc(fx.n_pixels * sizeof(float));
    gitc_synth_pixels("pixel_values", per, fx.pixels);
    for (size_t i = 0; i < per; i++)
        fx.pixels[per + i] = -fx.pixels[i];
    double loss = 0, t0 = now_s();
    int nt = 0;
    gitc_status st = gitci_tmodel_step(t, pool, fx.pixels, NULL, fx.n_pixels, fx.B, fx.ids, fx.labels, fx.T, 1.0f,
                                      NULL, &loss, &nt, &err);
    double secs = now_s() - t0;
    if (!check_true(st == GITC_OK, "step: %s", err.message))
        goto done;
    check_true(fabs(loss - fx.loss) <= LOSS_TOL, "loss %.9f vs float64 reference %.9f", loss, fx.loss);
    printf("git-base (synthetic) batch %d: forward + backward %.1f s on 2 threads; loss %.9f, float64 %.9f (diff %.2g)\n",
           fx.B, secs, loss, fx.loss, fabs(loss - fx.loss));
    gitc_tparam *p;
    int n = gitci_tmodel_params(t, &p), compared = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < n; i++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p[i].name);
        if (!gitci_st_find(fx.st, name))
            continue;
        double r = compare_grad(fx.st, &p[i]);
        compared++;
        if (r > 1e-5)
            printf("  %-70s relative %.3g\n", p[i].name, r);
        if (r > worst) {
            worst = r;
            worst_name = p[i].name;
        }
    }
    check_true(compared >= 60, "only %d tensors compared", compared);
    printf("%d of %d gradients compared: worst relative error %.3g (%s), bound %g\n", compared, n, worst, worst_name,
           GRAD_TOL);
    check_true(fx.B == 2, "the fixture batch has %d images, 2 expected", fx.B);
done:
    gitci_tmodel_free(t);
    gitc_model_free(m);
    gitci_pool_free(pool);
    free(cfg);
    if (fx.st)
        fixture_close(&fx);
    return check_done("test_train_synthetic");
}
