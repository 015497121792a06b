/* The kernel registry and the choice a model makes at load: the CPU probe's
 * features as the model reports them, every GITC_KERNELS level capping the
 * f32, bf16 and int8 sets together, an unknown level refused by name, and
 * each model running the sets it chose (two models loaded under different
 * caps in one process give the results of their own sets). */
#include "kernels_registry.h"
#include "check.h"
#include "cpu.h"
#include "gitc.h"
#include "kernels.h"
#include "lowp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *model_dir(void) { return check_path("models/git-shapes"); }

/* Loads the shapes model in dtype under GITC_KERNELS=level (NULL: unset). */
static gitc_model *load_under(const char *level, gitc_dtype dtype, gitc_error *err)
{
    if (level)
        setenv("GITC_KERNELS", level, 1);
    else
        unsetenv("GITC_KERNELS");
    gitc_model_params mp = gitc_model_default_params();
    mp.dtype = dtype;
    gitc_model *m = NULL;
    gitc_status st = gitc_model_load(model_dir(), &mp, &m, err);
    unsetenv("GITC_KERNELS");
    return st == GITC_OK ? m : NULL;
}

/* The projection output of one synthetic image on a 2-thread session of m
 * (malloc'd, *n floats), or NULL with a failure. */
static float *encode(gitc_model *m, size_t *n)
{
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    gitc_session *s = NULL;
    gitc_error err = {0};
    size_t np = gitc_model_pixel_floats(m);
    *n = gitc_model_projection_floats(m);
    float *px = malloc(np * sizeof *px), *out = malloc(*n * sizeof *out);
    for (size_t i = 0; i < np && px; i++)
        px[i] = (float)sin(0.37 * (double)i) * 1.5f;
    int ok = px && out && gitc_session_create(m, &sp, &s, &err) == GITC_OK &&
             gitc_encode_image(s, px, np, NULL, 0, out, *n, &err) == GITC_OK;
    check_true(ok, "encode: %s", err.message);
    gitc_session_free(s);
    free(px);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* What a cap should give: the last usable set of each kind at or below it. */
static void expected_sets(const char *level, const char **f32, const char **bf16, const char **int8)
{
    setenv("GITC_KERNELS", level, 1);
    gitc_kernels k;
    gitc_error err = {0};
    check_true(gitci_kernels_choose(&k, &err) == GITC_OK, "choose under %s: %s", level, err.message);
    unsetenv("GITC_KERNELS");
    *f32 = k.f32.name;
    *bf16 = k.bf16->name;
    *int8 = k.int8->name;
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_error err = {0};

    /* The probe, as the model reports it. */
    char names[128];
    gitci_cpu_feature_names(gitci_cpu_features(), names, sizeof names);
    gitc_model *best = load_under(NULL, GITC_DTYPE_F32, &err);
    if (!check_true(best != NULL, "load: %s", err.message))
        return check_done("test_kernel_choice");
    printf("cpu features: %s; sets: f32 %s, bf16 %s, int8 %s\n", gitc_model_cpu_features(best),
           gitc_model_kernel_set(best, GITC_DTYPE_F32), gitc_model_kernel_set(best, GITC_DTYPE_BF16),
           gitc_model_kernel_set(best, GITC_DTYPE_INT8));
    check_true(strcmp(gitc_model_cpu_features(best), names) == 0, "the model reports the probe's features");
    check_true(gitc_model_kernel_set(best, (gitc_dtype)9) == NULL, "no set for a dtype outside the enum");

    /* Without a cap, the best usable set of each kind. */
    const gitc_kernel_table *const *tables;
    const gitc_lowp_kernels *const *bf16, *const *int8;
    int n_f32 = gitci_kernel_tables(&tables);
    int n_bf16 = gitci_lowp_kernel_sets(GITC_LOWP_BF16, &bf16);
    int n_int8 = gitci_lowp_kernel_sets(GITC_LOWP_INT8, &int8);
    check_true(strcmp(tables[0]->name, "portable") == 0 && strcmp(bf16[0]->name, "ref") == 0 &&
                   strcmp(int8[0]->name, "ref") == 0,
               "the portable sets come first");
    check_true(strcmp(gitc_model_kernel_set(best, GITC_DTYPE_F32), tables[n_f32 - 1]->name) == 0 &&
                   strcmp(gitc_model_kernel_set(best, GITC_DTYPE_BF16), bf16[n_bf16 - 1]->name) == 0 &&
                   strcmp(gitc_model_kernel_set(best, GITC_DTYPE_INT8), int8[n_int8 - 1]->name) == 0,
               "uncapped, the model runs the best usable set of each kind");

    /* Every level caps all three kinds; the portable level is the references. */
    static const char *levels[] = {"portable", "avx2", "avx512", "neon"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        setenv("GITC_KERNELS", levels[i], 1);
        gitc_kernels k;
        int known = gitci_kernels_choose(&k, NULL) == GITC_OK;
        unsetenv("GITC_KERNELS");
        if (!known)
            continue; /* not a level of this build */
        const char *f, *b, *q;
        expected_sets(levels[i], &f, &b, &q);
        gitc_model *m = load_under(levels[i], GITC_DTYPE_INT8, &err);
        if (!check_true(m != NULL, "load under %s: %s", levels[i], err.message))
            continue;
        printf("GITC_KERNELS=%s: f32 %s, bf16 %s, int8 %s (model: %s)\n", levels[i], f, b, q, gitc_model_kernels(m));
        check_true(strcmp(gitc_model_kernel_set(m, GITC_DTYPE_F32), f) == 0 &&
                       strcmp(gitc_model_kernel_set(m, GITC_DTYPE_BF16), b) == 0 &&
                       strcmp(gitc_model_kernel_set(m, GITC_DTYPE_INT8), q) == 0,
                   "GITC_KERNELS=%s: the model reports the capped sets", levels[i]);
        if (strcmp(levels[i], "portable") == 0)
            check_true(strcmp(f, "portable") == 0 && strcmp(b, "ref") == 0 && strcmp(q, "ref") == 0,
                       "GITC_KERNELS=portable runs the references in every precision");
        gitc_model_free(m);
    }

    /* An unknown level is refused at load, by name. */
    unsetenv("GITC_KERNELS");
    setenv("GITC_KERNELS", "avx9000", 1);
    gitc_model *bad = NULL;
    gitc_status st = gitc_model_load(model_dir(), NULL, &bad, &err);
    unsetenv("GITC_KERNELS");
    printf("GITC_KERNELS=avx9000: \"%s\"\n", err.message);
    check_true(!bad && st == GITC_ERR_ARGUMENT && strstr(err.message, "GITC_KERNELS=avx9000") &&
                   strstr(err.message, "portable"),
               "an unknown GITC_KERNELS value is refused naming it and the choices");
    gitc_model_free(bad);

    /* Each model runs its own sets: a portable model beside the best one in
     * one process gives the portable results, bit for bit. */
    gitc_model *port = load_under("portable", GITC_DTYPE_F32, &err);
    gitc_model *port2 = load_under("portable", GITC_DTYPE_F32, &err);
    size_t n = 0;
    float *y_best = encode(best, &n), *y_port = port ? encode(port, &n) : NULL;
    float *y_port2 = port2 ? encode(port2, &n) : NULL;
    if (y_best && y_port && y_port2) {
        check_true(memcmp(y_port, y_port2, n * sizeof *y_port) == 0,
                   "two portable models give the same bits");
        check_close("portable vs best set projection", y_port, y_best, n, 1e-4);
        if (strcmp(gitc_model_kernel_set(best, GITC_DTYPE_F32), "portable") != 0)
            check_true(memcmp(y_port, y_best, n * sizeof *y_port) != 0,
                       "the best set's model did not run the portable kernels (its bits differ)");
    }
    free(y_best);
    free(y_port);
    free(y_port2);
    gitc_model_free(port);
    gitc_model_free(port2);
    gitc_model_free(best);
    return check_done("test_kernel_choice");
}
