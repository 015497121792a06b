/* Helpers of the training tests: the fixtures of tools/train_reference.py
 * (tests/data/train/README.md) and the per-tensor gradient comparison.
 * Included by test_train_grad.c and test_train_synthetic.c only, after
 * check.h (whose second half has no include guard). */
#ifndef GITC_TRAIN_FIXTURE_H
#define GITC_TRAIN_FIXTURE_H

#include "train_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAD_TOL 1e-4
#define LOSS_TOL 1e-5

/* The fixture batch of one model. */
typedef struct fixture {
    st_file *st;
    float *pixels;
    size_t n_pixels;
    int32_t *ids, *labels;
    int B, T;
    double loss;
} fixture;

/* A copy of an I32 tensor (NULL and a failure when absent). */
static inline int32_t *tensor_i32(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = gitci_st_find(f, name);
    if (!check_true(t && t->dtype == ST_I32, "fixture tensor %s missing or not I32", name))
        return NULL;
    int32_t *out = malloc(t->nbytes + 4);
    memcpy(out, t->data, t->nbytes);
    if (n)
        *n = (size_t)t->numel;
    return out;
}

/* A tensor as float64 whatever its stored float type (NULL when absent). */
static inline double *tensor_f64(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = gitci_st_find(f, name);
    if (!t)
        return NULL;
    if (t->dtype == ST_F64)
        return check_tensor_f64(f, name, n);
    size_t k = 0;
    float *x = check_tensor_f32(f, name, &k);
    if (!x)
        return NULL;
    double *out = malloc(k * sizeof(double) + 8);
    for (size_t i = 0; i < k; i++)
        out[i] = x[i];
    free(x);
    *n = k;
    return out;
}

/* Opens tests/data/train/<model>/grads.safetensors and reads its batch. */
static inline int fixture_open(fixture *fx, const char *model)
{
    char rel[256];
    memset(fx, 0, sizeof *fx);
    snprintf(rel, sizeof rel, "tests/data/train/%s/grads.safetensors", model);
    fx->st = check_open_st(check_path(rel));
    if (!fx->st)
        return 0;
    size_t n = 0;
    if (gitci_st_find(fx->st, "pixel_values")) /* the synthetic fixture has none: its pixels are generated */
        fx->pixels = check_tensor_f32(fx->st, "pixel_values", &fx->n_pixels);
    fx->ids = tensor_i32(fx->st, "input_ids", &n);
    fx->labels = tensor_i32(fx->st, "labels", NULL);
    double *loss = check_tensor_f64(fx->st, "loss", NULL);
    const st_tensor *t = gitci_st_find(fx->st, "input_ids");
    if (!fx->ids || !fx->labels || !loss || !t)
        return 0;
    fx->B = (int)t->shape[0];
    fx->T = (int)t->shape[1];
    fx->loss = loss[0];
    free(loss);
    return 1;
}

/* Frees what fixture_open read. */
static inline void fixture_close(fixture *fx)
{
    free(fx->pixels);
    free(fx->ids);
    free(fx->labels);
    gitci_st_close(fx->st);
}

/* Zeroes every gradient of t. */
static inline void zero_grads(gitc_tmodel *t)
{
    gitc_tparam *p;
    int n = gitci_tmodel_params(t, &p);
    for (int i = 0; i < n; i++)
        if (p[i].grad)
            memset(p[i].grad, 0, p[i].numel * sizeof(float));
}

/* Compares one gradient with the fixture; returns the relative error (or 1e9 on a missing tensor). */
static inline double compare_grad(const st_file *st, const gitc_tparam *p)
{
    char name[160];
    size_t n = 0, nr = 0;
    snprintf(name, sizeof name, "grad.%s", p->name);
    double *want = tensor_f64(st, name, &n);
    if (!check_true(want != NULL, "fixture has no %s", name))
        return 1e9;
    int32_t *rows = NULL;
    int sparse = 0;
    snprintf(name, sizeof name, "rows.%s", p->name);
    if (gitci_st_find(st, name)) {
        rows = tensor_i32(st, name, &nr);
        sparse = 1;
    } else {
        snprintf(name, sizeof name, "sample_rows.%s", p->name);
        if (gitci_st_find(st, name))
            rows = tensor_i32(st, name, &nr);
    }
    double maxabs = 0.0, maxdiff = 0.0;
    size_t C = rows ? p->numel / (size_t)p->shape[0] : p->numel;
    size_t count = rows ? nr * C : p->numel;
    check_true(count == n, "%s: fixture has %zu values, expected %zu", p->name, n, count);
    for (size_t i = 0; i < count && i < n; i++) {
        size_t at = rows ? (size_t)rows[i / C] * C + i % C : i;
        double d = fabs((double)p->grad[at] - want[i]);
        maxdiff = d > maxdiff ? d : maxdiff;
        maxabs = fabs(want[i]) > maxabs ? fabs(want[i]) : maxabs;
    }
    if (sparse) { /* every row not stored has a zero gradient */
        char *stored = calloc((size_t)p->shape[0], 1);
        for (size_t r = 0; r < nr; r++)
            stored[rows[r]] = 1;
        size_t nonzero = 0;
        for (int64_t r = 0; r < p->shape[0]; r++)
            if (!stored[r])
                for (size_t c = 0; c < C; c++)
                    nonzero += p->grad[(size_t)r * C + c] != 0.0f;
        check_true(nonzero == 0, "%s: %zu gradient values outside the batch's rows are nonzero", p->name, nonzero);
        free(stored);
    }
    free(want);
    free(rows);
    /* The key biases' gradient is exactly zero (q·b_k is added to every score of a
     * row, and softmax ignores that): gitc gives 0, and the float64 reference holds
     * only rounding noise, far below the same layer's key weight gradient. */
    size_t len = strlen(p->name);
    if ((len > 8 && strcmp(p->name + len - 8, "key.bias") == 0) ||
        (len > 11 && strcmp(p->name + len - 11, "k_proj.bias") == 0)) {
        snprintf(name, sizeof name, "grad.%.*sweight", (int)(len - 4), p->name);
        size_t nw = 0;
        double *w = tensor_f64(st, name, &nw), wmax = 0;
        for (size_t i = 0; w && i < nw; i++)
            wmax = fabs(w[i]) > wmax ? fabs(w[i]) : wmax;
        free(w);
        check_true(maxabs <= 1e-12 * wmax, "%s: reference %.3g is not zero next to the key weight's %.3g", p->name,
                   maxabs, wmax);
        int zeros = 1;
        for (size_t i = 0; i < p->numel; i++)
            zeros = zeros && p->grad[i] == 0.0f;
        check_true(zeros, "%s: the gradient is not exactly zero", p->name);
        return 0.0;
    }
    double rel = maxabs > 0 ? maxdiff / maxabs : maxdiff;
    check_true(rel <= GRAD_TOL, "%s: gradient max abs diff %.3g, max abs %.3g, relative %.3g > %g", p->name,
               maxdiff, maxabs, rel, GRAD_TOL);
    return rel;
}

#endif
