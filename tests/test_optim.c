/* The optimizer against values derived by hand from torch.optim.AdamW's
 * update rule, transformers' schedules and clip_grad_norm_'s coefficient,
 * and the same results on any thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "optim.h"
#include "safetensors.h"
#include "train_kernels.h"

/* Three AdamW steps on two elements (lr 0.1, wd 0.01), one with a zero first
 * gradient (its update is 0 / eps = 0): the values torch's formula gives,
 * worked out in float64 by hand. */
static void test_adamw_by_hand(void)
{
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    const float g[3][2] = {{0.5f, 0.0f}, {-0.25f, 3.0f}, {0.125f, -1.0f}};
    const double want[3][2] = {{0.899000002, -1.998},
                               {0.8714672987058463, -2.0704156820059967},
                               {0.8365529176159483, -2.1027025319502983}};
    gitc_adamw opt = {0.9, 0.999, 1e-8, 0.01};
    for (int t = 0; t < 3; t++) {
        gitci_adamw_update(p, m, v, g[t], 1.0f, 2, &opt, 0.1, 1, t + 1, NULL);
        for (int i = 0; i < 2; i++)
            check_true(fabs(p[i] - want[t][i]) <= 1e-6 * fabs(want[t][i]),
                       "adamw step %d element %d: %.9g, want %.9g", t + 1, i, p[i], want[t][i]);
    }
    /* No decay: after one step of g = 0.5 from 1.0 the update is lr exactly (m/sqrt(v) = 1). */
    float q = 1.0f, qm = 0.0f, qv = 0.0f, qg = 0.5f;
    gitci_adamw_update(&q, &qm, &qv, &qg, 1.0f, 1, &opt, 0.1, 0, 1, NULL);
    check_true(fabs(q - 0.9) < 1e-7, "adamw without decay: %.9g, want 0.9", q);
    printf("adamw: 3 hand-derived steps within 1e-6 relative\n");
}

/* transformers' get_{linear,cosine,constant}_schedule_with_warmup, warm-up 2, total 10. */
static void test_schedules(void)
{
    const struct { gitc_schedule s; long step; double want; } cases[] = {
        {GITC_SCHEDULE_LINEAR, 0, 0.0},   {GITC_SCHEDULE_LINEAR, 1, 0.5},
        {GITC_SCHEDULE_LINEAR, 2, 1.0},   {GITC_SCHEDULE_LINEAR, 6, 0.5},
        {GITC_SCHEDULE_LINEAR, 10, 0.0},  {GITC_SCHEDULE_LINEAR, 12, 0.0},
        {GITC_SCHEDULE_COSINE, 1, 0.5},   {GITC_SCHEDULE_COSINE, 2, 1.0},
        {GITC_SCHEDULE_COSINE, 4, 0.85355339059327373}, {GITC_SCHEDULE_COSINE, 6, 0.5},
        {GITC_SCHEDULE_COSINE, 10, 0.0},  {GITC_SCHEDULE_CONSTANT, 1, 0.5},
        {GITC_SCHEDULE_CONSTANT, 2, 1.0}, {GITC_SCHEDULE_CONSTANT, 50, 1.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double f = gitci_schedule_factor(cases[i].s, cases[i].step, 2, 10);
        check_true(fabs(f - cases[i].want) < 1e-12, "schedule %d step %ld: %.17g, want %.17g",
                   (int)cases[i].s, cases[i].step, f, cases[i].want);
    }
    /* No warm-up: step 0 is the full rate (max(1, warmup) avoids 0/0). */
    check_true(gitci_schedule_factor(GITC_SCHEDULE_LINEAR, 0, 0, 4) == 1.0, "linear without warm-up");
    printf("schedules: %zu points\n", sizeof cases / sizeof cases[0]);
}

/* Sum of squares and clipping: exact small cases, and a large tensor whose sum is
 * the same on 1 and 3 threads. */
static void test_norm_and_clip(void)
{
    float x[4] = {3.0f, 0.0f, -4.0f, 0.0f};
    check_true(gitci_sum_squares(x, 4, NULL) == 25.0, "sum of squares of (3, 0, -4, 0)");
    check_true(gitci_clip_coef(5.0, 1.0) == (float)(1.0 / (5.0 + 1e-6)), "clip coef 1/(5+1e-6)");
    check_true(gitci_clip_coef(0.5, 1.0) == 1.0f, "clip coef is at most 1");
    size_t n = 300001;
    float *big = malloc(n * sizeof *big), *big2 = malloc(n * sizeof *big2);
    if (!check_true(big && big2, "allocation"))
        return;
    for (size_t i = 0; i < n; i++)
        big[i] = big2[i] = (float)sin((double)i * 0.001) * 0.01f;
    gitc_pool *pool = gitci_pool_create(3);
    double s1 = gitci_sum_squares(big, n, NULL), s3 = gitci_sum_squares(big, n, pool);
    check_true(s1 == s3, "sum of squares: 1 thread %.17g, 3 threads %.17g", s1, s3);
    for (size_t i = 0; i < n; i++)
        big2[i] *= 0.25f; /* torch's grad.mul_(clip_coef) */
    float *p1 = calloc(3 * n, sizeof(float)), *p3 = calloc(3 * n, sizeof(float)), *ps = calloc(3 * n, sizeof(float));
    gitc_adamw opt = {0.9, 0.999, 1e-8, 0.01};
    if (check_true(p1 && p3 && ps, "allocation")) {
        for (int t = 1; t <= 2; t++) {
            gitci_adamw_update(p1, p1 + n, p1 + 2 * n, big, 0.25f, n, &opt, 1e-3, 1, t, NULL);
            gitci_adamw_update(p3, p3 + n, p3 + 2 * n, big, 0.25f, n, &opt, 1e-3, 1, t, pool);
            gitci_adamw_update(ps, ps + n, ps + 2 * n, big2, 1.0f, n, &opt, 1e-3, 1, t, NULL);
        }
        size_t diff = 0, scaled = 0;
        for (size_t i = 0; i < 3 * n; i++) {
            diff += p1[i] != p3[i];
            scaled += p1[i] != ps[i];
        }
        check_true(diff == 0, "adamw on 1 and 3 threads: %zu values differ", diff);
        check_true(scaled == 0, "adamw of grad with gscale 0.25 vs of grad * 0.25f: %zu values differ", scaled);
    }
    free(ps);
    free(p1);
    free(p3);
    gitci_pool_free(pool);
    free(big);
    free(big2);
    printf("norm, clip and adamw (clip-scaled as grad * coef in float): thread-count independent\n");
}

/* A float64 copy of a fixture tensor stored as F64 or F32 (NULL when absent). */
static double *fixture_f64(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = gitci_st_find(f, name);
    if (!t)
        return NULL;
    if (t->dtype == ST_F64)
        return check_tensor_f64(f, name, n);
    float *x = check_tensor_f32(f, name, n);
    double *d = x ? malloc(*n * sizeof *d + 8) : NULL;
    for (size_t i = 0; d && i < *n; i++)
        d[i] = x[i];
    free(x);
    return d;
}

/* The position of `name` in the fixture's "params" metadata (the order of its
 * `decay` flags), or -1. */
static int fixture_param_index(const char *path, const char *name)
{
    FILE *f = fopen(path, "rb");
    uint64_t n = 0;
    int at = -1;
    if (!f || fread(&n, 8, 1, f) != 1 || n > (1u << 24)) {
        if (f)
            fclose(f);
        return -1;
    }
    char *h = malloc(n + 1);
    if (h && fread(h, 1, n, f) == n) {
        h[n] = 0;
        cJSON *root = cJSON_Parse(h);
        const cJSON *meta = cJSON_GetObjectItem(root, "__metadata__");
        const cJSON *ps = cJSON_GetObjectItem(meta, "params");
        cJSON *list = cJSON_IsString(ps) ? cJSON_Parse(ps->valuestring) : NULL;
        for (int i = 0; i < cJSON_GetArraySize(list); i++)
            if (!strcmp(cJSON_GetArrayItem(list, i)->valuestring, name))
                at = i;
        cJSON_Delete(list);
        cJSON_Delete(root);
    }
    free(h);
    fclose(f);
    return at;
}

/* Three optimizer steps (clipping at 1.0, linear warm-up 2 of 4 steps, lr 1e-3)
 * on the tiny model's float64 reference gradients against torch.optim.AdamW
 * run in float64 (tests/data/train/tiny/adamw.safetensors): every weight within
 * 1e-5 relative (max abs difference / max abs value of its tensor). */
static void test_adamw_fixture(void)
{
    gitc_model *model = NULL;
    gitc_error err = {0};
    if (!check_true(gitc_model_load(check_path("tests/data/tiny/tiny"), NULL, &model, &err) == GITC_OK,
                    "load tiny: %s", err.message))
        return;
    gitc_tmodel *tm = NULL;
    st_file *grads = check_open_st(check_path("tests/data/train/tiny/grads.safetensors"));
    st_file *want = check_open_st(check_path("tests/data/train/tiny/adamw.safetensors"));
    if (!grads || !want ||
        !check_true(gitci_tmodel_create(model, 0, 2, 8, &tm, &err) == GITC_OK, "tmodel: %s", err.message))
        goto done;
    gitc_tparam *params = NULL;
    int n = gitci_tmodel_params(tm, &params);
    float **m = calloc((size_t)n, sizeof *m), **v = calloc((size_t)n, sizeof *v);
    double **g = calloc((size_t)n, sizeof *g);
    size_t nd = 0;
    const st_tensor *decay = gitci_st_find(want, "decay");
    int ok = check_true(decay && decay->dtype == ST_I32 && decay->numel == n, "fixture decay flags for %d params", n);
    for (int i = 0; ok && i < n; i++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", params[i].name);
        g[i] = fixture_f64(grads, name, &nd);
        m[i] = calloc(params[i].numel, sizeof(float));
        v[i] = calloc(params[i].numel, sizeof(float));
        ok = check_true(g[i] && nd == params[i].numel && m[i] && v[i], "fixture gradient %s", name);
        int at = fixture_param_index(check_path("tests/data/train/tiny/adamw.safetensors"), params[i].name);
        ok &= check_true(at >= 0 && ((const int32_t *)decay->data)[at] == params[i].decay, "decay flag of %s",
                         params[i].name);
    }
    size_t nlr = 0, nnorm = 0;
    double *lr = check_tensor_f64(want, "lr", &nlr), *norm = check_tensor_f64(want, "grad_norm", &nnorm);
    gitc_adamw opt = {0.9, 0.999, 1e-8, 0.01};
    double worst = 0.0;
    for (int k = 0; ok && lr && norm && k < 3; k++) {
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < params[i].numel; j++)
                params[i].grad[j] = (float)g[i][j];
        double rate = 1e-3 * gitci_schedule_factor(GITC_SCHEDULE_LINEAR, k, 2, 4);
        check_true(fabs(rate - lr[k]) < 1e-15, "step %d lr %g, torch %g", k + 1, rate, lr[k]);
        double got = gitci_optim_step(params, n, m, v, &opt, 1.0, rate, k + 1, NULL);
        check_true(fabs(got - norm[k]) <= 1e-6 * norm[k], "step %d grad norm %.9g, torch %.9g", k + 1, got, norm[k]);
        for (int i = 0; i < n; i++) {
            char name[160];
            snprintf(name, sizeof name, "step%d.%s", k + 1, params[i].name);
            size_t nw = 0;
            float *w = check_tensor_f32(want, name, &nw);
            if (!w || nw != params[i].numel) {
                check_true(0, "fixture %s", name);
                free(w);
                continue;
            }
            double maxd = 0, maxv = 0;
            for (size_t j = 0; j < nw; j++) {
                maxd = fmax(maxd, fabs((double)params[i].value[j] - w[j]));
                maxv = fmax(maxv, fabs((double)w[j]));
            }
            double rel = maxv > 0 ? maxd / maxv : maxd;
            worst = fmax(worst, rel);
            check_true(rel <= 1e-5, "%s: %.3g relative", name, rel);
            free(w);
        }
    }
    printf("adamw fixture: 3 steps of %d tensors, worst %.3g relative (bound 1e-5)\n", n, worst);
    free(lr);
    free(norm);
    for (int i = 0; i < n; i++) {
        free(m[i]);
        free(v[i]);
        free(g[i]);
    }
    free(m);
    free(v);
    free(g);
done:
    gitci_tmodel_free(tm);
    gitci_st_close(grads);
    gitci_st_close(want);
    gitc_model_free(model);
}

/* Every product set's AdamW loop gives the portable set's bits (one source,
 * float64 lanes, no contraction), at every length up to 40 and a long one. */
static void test_adamw_sets(void)
{
    const gitci_tk_products *const *sets;
    int n_sets = gitci_tk_product_sets(&sets);
    size_t n = 100003;
    float *g = malloc(n * sizeof *g), *want = malloc(3 * n * sizeof *want), *got = malloc(3 * n * sizeof *got);
    if (!check_true(g && want && got, "allocation"))
        return;
    for (size_t i = 0; i < n; i++)
        g[i] = (float)sin((double)i * 0.37) * (i % 5 ? 1e-3f : 3.0f);
    int differ = 0;
    for (int s = 1; s < n_sets; s++)
        for (size_t len = 1; len <= n; len = len < 40 ? len + 1 : n + 1)
            for (int step = 1; step <= 2; step++) {
                if (step == 1)
                    for (size_t i = 0; i < 3 * len; i++)
                        want[i] = got[i] = (float)cos((double)i) * 0.1f;
                gitci_tk_adamw a = {.grad = g, .gscale = 0.5f, .decay_factor = 1.0 - 1e-3 * 0.01, .beta1 = 0.9,
                                    .beta2 = 0.999, .step_size = 1e-3 / (1.0 - pow(0.9, step)),
                                    .bc2_sqrt = sqrt(1.0 - pow(0.999, step)), .eps = 1e-8};
                a.param = want, a.m = want + len, a.v = want + 2 * len;
                sets[0]->adamw(&a, 0, len);
                a.param = got, a.m = got + len, a.v = got + 2 * len;
                sets[s]->adamw(&a, 0, len);
                if (memcmp(want, got, 3 * len * sizeof *got)) {
                    differ++;
                    printf("  %s adamw at length %zu, step %d differs from portable\n", sets[s]->name, len, step);
                }
            }
    check_true(differ == 0, "adamw: %d set/length runs differ from the portable set's bits", differ);
    printf("adamw in every set: %d sets, lengths 1..40 and %zu, the portable set's bits\n", n_sets, n);
    free(g), free(want), free(got);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    test_adamw_by_hand();
    test_schedules();
    test_norm_and_clip();
    test_adamw_sets();
    test_adamw_fixture();
    return check_done("test_optim");
}
