/* Test harness implementation. */
#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

int check_failures;
int check_count;
const char *check_root = ".";

void check_init(int argc, char **argv)
{
    if (argc > 1)
        check_root = argv[1];
}

int check_true(int cond, const char *fmt, ...)
{
    check_count++;
    if (!cond) {
        check_failures++;
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "FAIL: ");
        vfprintf(stdout, fmt, ap);
        fprintf(stdout, "\n");
        va_end(ap);
    }
    return cond;
}

int check_close(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double mx = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= mx)) { /* NaN counts as a maximum */
            mx = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    printf("%-60s max abs diff %.3g (tol %.3g)\n", what, mx, tol);
    return check_true(mx <= tol, "%s: max abs diff %.6g at %zu (got %.8g want %.8g) > %.3g", what,
                      mx, at, n ? got[at] : 0.0, n ? want[at] : 0.0, tol);
}

int check_close_f64(const char *what, const float *got, const double *want, size_t n, double tol)
{
    double mx = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= mx)) {
            mx = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    printf("%-60s max abs diff %.3g vs f64 (tol %.3g)\n", what, mx, tol);
    return check_true(mx <= tol, "%s: max abs diff %.6g at %zu (got %.8g want %.8g) > %.3g", what,
                      mx, at, n ? got[at] : 0.0, n ? want[at] : 0.0, tol);
}

int check_ids(const char *what, const int32_t *got, int n_got, const int32_t *want, int n_want)
{
    int n = n_got < n_want ? n_got : n_want;
    for (int i = 0; i < n; i++) {
        if (got[i] != want[i])
            return check_true(0, "%s: differs at %d: got %d want %d", what, i, got[i], want[i]);
    }
    if (n_got != n_want)
        return check_true(0, "%s: length %d, want %d", what, n_got, n_want);
    printf("%-60s %d ids identical\n", what, n);
    return check_true(1, "%s", what);
}

const char *check_path(const char *rel)
{
    static char bufs[8][4096];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", check_root, rel);
    return b;
}

int check_open_model(const char *dir, const gitc_model_params *mp, gitc_model **m, gitc_session **s)
{
    gitc_error err = {0};
    *m = NULL;
    *s = NULL;
    if (!check_true(gitc_model_load(dir, mp, m, &err) == GITC_OK, "load %s: %s", dir, err.message))
        return 0;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    if (!check_true(gitc_session_create(*m, &sp, s, &err) == GITC_OK, "session on %s: %s", dir, err.message)) {
        gitc_model_free(*m);
        *m = NULL;
        return 0;
    }
    return 1;
}

int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#include <stdlib.h>

cJSON *check_load_json(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    gitc_error err = {0};
    if (gitci_read_file(path, &text, &len, &err) != GITC_OK) {
        check_true(0, "cannot read %s: %s", path, err.message);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    check_true(j != NULL, "%s: malformed JSON", path);
    return j;
}

int check_json_ids(const cJSON *node, const char *key, int32_t *out, int max)
{
    const cJSON *a = key ? cJSON_GetObjectItemCaseSensitive(node, key) : node;
    if (!cJSON_IsArray(a))
        return -1;
    int n = 0;
    for (const cJSON *it = a->child; it && n < max; it = it->next)
        out[n++] = (int32_t)it->valuedouble;
    return n;
}

st_file *check_open_st(const char *path)
{
    st_file *f = NULL;
    gitc_error err = {0};
    if (gitci_st_open(path, &f, &err) != GITC_OK)
        check_true(0, "cannot open %s: %s", path, err.message);
    return f;
}

float *check_tensor_f32(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = f ? gitci_st_find(f, name) : NULL;
    if (!check_true(t != NULL, "reference tensor %s missing", name))
        return NULL;
    float *out = malloc((size_t)t->numel * sizeof(float) + 1);
    gitc_error err = {0};
    if (gitci_st_to_f32(f, t, out, &err) != GITC_OK) {
        check_true(0, "%s", err.message);
        free(out);
        return NULL;
    }
    if (n)
        *n = (size_t)t->numel;
    return out;
}

double *check_tensor_f64(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = f ? gitci_st_find(f, name) : NULL;
    if (!check_true(t != NULL && t->dtype == ST_F64, "reference tensor %s missing or not F64", name))
        return NULL;
    double *out = malloc(t->nbytes + 1);
    memcpy(out, t->data, t->nbytes);
    if (n)
        *n = (size_t)t->numel;
    return out;
}
