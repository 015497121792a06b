/* Compares every kernel set the CPU runs (portable, avx2, avx512) with the
 * scalar oracles on random data: linear over many shapes and all weight types
 * (the avx512 set both on W in place and on prepared f32 panels),
 * attention with and without a causal second block, layer norm, the
 * activations and add; with 1, 2 and 3 threads. Also exercises the pool. */
#include "kernels_registry.h"
#include "check.h"
#include "internal.h"
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1). */
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = frand();
}

/* float32 -> bfloat16 by truncation (the test only needs some bf16 values). */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* A random normal half in ±[2^-6, 2): sign, exponent 9..15, random mantissa. */
static uint16_t rand_f16(void)
{
    float r = frand();
    uint32_t bits = (uint32_t)((r + 1.0f) * 1048576.0f);
    uint16_t sign = (uint16_t)((bits & 1u) << 15);
    uint16_t expo = (uint16_t)(9 + (bits >> 1) % 7);
    uint16_t mant = (uint16_t)((bits >> 4) & 0x3FF);
    return (uint16_t)(sign | (expo << 10) | mant);
}

/* A weight matrix of the given type with random values (caller frees data). */
static gitc_matrix make_matrix(gitc_wtype type, int N, int K)
{
    size_t n = (size_t)N * (size_t)K;
    gitc_matrix w = {NULL, type, N, K, NULL, NULL};
    if (type == GITC_W_F32) {
        float *d = malloc(n * sizeof *d);
        fill(d, n);
        w.data = d;
    } else {
        uint16_t *d = malloc(n * sizeof *d);
        for (size_t i = 0; i < n; i++)
            d[i] = type == GITC_W_F16 ? rand_f16() : to_bf16(frand());
        w.data = d;
    }
    return w;
}

static const char *type_name(gitc_wtype t) { return t == GITC_W_F16 ? "f16" : t == GITC_W_BF16 ? "bf16" : "f32"; }

static gitc_pool *pools[4]; /* index = thread count (1..3) */

static int n_tables;
static const gitc_kernel_table *const *tables;

/* One linear shape: every kernel set and thread count against gitci_linear_ref,
 * each output bounded by 1e-5 * (|b| + Σ|x w|) + 1e-6. */
static void test_linear_shape(int M, int N, int K, gitc_wtype type, int with_bias, int max_threads)
{
    gitc_matrix w = make_matrix(type, N, K);
    float *x = malloc((size_t)M * K * sizeof *x);
    float *bias = malloc((size_t)N * sizeof *bias);
    float *want = malloc((size_t)M * N * sizeof *want);
    float *got = malloc((size_t)M * N * sizeof *got);
    double *mag = malloc((size_t)M * N * sizeof *mag);
    float *wrow = malloc((size_t)K * sizeof *wrow);
    fill(x, (size_t)M * K);
    fill(bias, (size_t)N);
    const float *b = with_bias ? bias : NULL;
    gitci_linear_ref(want, x, &w, b, M);
    for (int n = 0; n < N; n++) {
        gitci_matrix_row(&w, n, wrow);
        for (int m = 0; m < M; m++) {
            double s = b ? fabs(b[n]) : 0.0;
            for (int k = 0; k < K; k++)
                s += fabs((double)x[(size_t)m * K + k] * wrow[k]);
            mag[(size_t)m * N + n] = s;
        }
    }
    float *panels = aligned_alloc(64, (gitci_panels_floats(&w) * sizeof(float) + 63) / 64 * 64);
    gitci_panels_pack(&w, panels);
    for (int t = 0; t < n_tables; t++) {
        for (int np = 0; np < 1 + tables[t]->uses_panels; np++)
        for (int nth = 1; nth <= max_threads; nth++) {
            for (size_t i = 0; i < (size_t)M * N; i++)
                got[i] = NAN;
            w.panels = np ? panels : NULL;
            tables[t]->linear(pools[nth], got, x, &w, b, M);
            w.panels = NULL;
            double worst = 0.0, maxdiff = 0.0;
            size_t at = 0;
            for (size_t i = 0; i < (size_t)M * N; i++) {
                double d = fabs((double)got[i] - want[i]);
                double r = d / (1e-5 * mag[i] + 1e-6);
                if (!(r <= worst)) {
                    worst = isnan(r) ? INFINITY : r;
                    at = i;
                }
                if (d > maxdiff)
                    maxdiff = d;
            }
            char what[160];
            snprintf(what, sizeof what, "linear %s%s M=%d N=%d K=%d %s%s t=%d", tables[t]->name,
                     np ? " panels" : "", M, N, K, type_name(type), b ? " bias" : "", nth);
            printf("%-60s max abs diff %.3g, %.3f of bound\n", what, maxdiff, worst);
            check_true(worst <= 1.0, "%s: diff at %zu got %.9g want %.9g (mag %.3g)", what, at,
                       got[at], want[at], mag[at]);
        }
    }
    free((void *)w.data);
    free(panels);
    free(x);
    free(bias);
    free(want);
    free(got);
    free(mag);
    free(wrow);
}

/* Panel sets: a row's output does not depend on the other rows (batched
 * decoding and encoding equal single runs bit for bit). */
static void test_linear_rows_independent(void)
{
    int N = 70, K = 600, M = 30;
    gitc_matrix w = make_matrix(GITC_W_F32, N, K);
    float *panels = aligned_alloc(64, (gitci_panels_floats(&w) * sizeof(float) + 63) / 64 * 64);
    gitci_panels_pack(&w, panels);
    w.panels = panels;
    float *x = malloc((size_t)M * K * sizeof *x), *bias = malloc((size_t)N * sizeof *bias);
    float *all = malloc((size_t)M * N * sizeof *all), *one = malloc((size_t)N * sizeof *one);
    fill(x, (size_t)M * K);
    fill(bias, (size_t)N);
    for (int t = 0; t < n_tables; t++) {
        if (!tables[t]->uses_panels)
            continue;
        tables[t]->linear(pools[2], all, x, &w, bias, M);
        int same = 1;
        for (int m = 0; m < M; m++) {
            tables[t]->linear(pools[2], one, x + (size_t)m * K, &w, bias, 1);
            same &= memcmp(one, all + (size_t)m * N, (size_t)N * sizeof *one) == 0;
        }
        printf("linear %s panels: %d rows together equal each row alone: %s\n", tables[t]->name, M,
               same ? "yes" : "no");
        check_true(same, "%s: rows computed together differ from rows alone", tables[t]->name);
    }
    free((void *)w.data);
    free(panels);
    free(x);
    free(bias);
    free(all);
    free(one);
}

static void test_linear(void)
{
    test_linear_rows_independent();
    static const int Ms[] = {1, 2, 3, 5, 8, 17, 197};
    static const int NK[][2] = {{37, 40}, {40, 37}, {145, 1000}, {1000, 145}, {16, 16}, {1, 1}, {3, 9}};
    for (int type = 0; type < 3; type++)
        for (size_t s = 0; s < sizeof NK / sizeof NK[0]; s++)
            for (size_t m = 0; m < sizeof Ms / sizeof Ms[0]; m++)
                test_linear_shape(Ms[m], NK[s][0], NK[s][1], (gitc_wtype)type, (int)(m + s) % 2 == 0, 3);
    /* Long rows with many rows take the packed-panel path (K > 1024, M >= 16). */
    static const int MK[][3] = {{16, 37, 1100}, {17, 145, 2051}, {23, 16, 1032}, {40, 33, 1025}};
    for (int type = 0; type < 3; type++)
        for (size_t s = 0; s < sizeof MK / sizeof MK[0]; s++)
            test_linear_shape(MK[s][0], MK[s][1], MK[s][2], (gitc_wtype)type, (int)s % 2 == 0, 3);
    /* More rows than one block of the panel kernel (240), row tiles of 12 and a tail. */
    test_linear_shape(250, 40, 300, GITC_W_F32, 1, 3);
    test_linear_shape(481, 33, 70, GITC_W_BF16, 0, 2);
    test_linear_shape(12, 64, 513, GITC_W_F32, 1, 2);
    test_linear_shape(13, 64, 513, GITC_W_F16, 0, 2);
    /* The model's shapes, fewer combinations (the oracle is slow). Under
     * emulation (GITC_TEST_QUICK, scripts/test.sh --cpus) they are left out:
     * every set is checked on them natively. */
    if (getenv("GITC_TEST_QUICK")) {
        printf("GITC_TEST_QUICK: the model-size linear shapes are left out\n");
        return;
    }
    test_linear_shape(197, 768, 768, GITC_W_F32, 1, 2);
    test_linear_shape(197, 768, 768, GITC_W_F16, 1, 2);
    test_linear_shape(8, 3072, 768, GITC_W_BF16, 1, 2);
    test_linear_shape(5, 768, 3072, GITC_W_F32, 1, 2);
    test_linear_shape(17, 768, 3072, GITC_W_F16, 1, 2);
    test_linear_shape(197, 768, 3072, GITC_W_BF16, 1, 2);
    test_linear_shape(1, 30522, 768, GITC_W_F32, 1, 2);
    test_linear_shape(4, 30522, 768, GITC_W_F16, 1, 2);
}

/* Attention on random q/k/v with padded row strides, against the oracle. */
static void test_attention_case(int n_q, int n_heads, int hd, int n1, int n2, int q_start, int block2)
{
    int C = n_heads * hd;
    int ldq = C + 3, ld1 = C + 5, ld2 = C + 1, ldo = C + 2;
    gitc_attention_args a = {0};
    float *q = malloc((size_t)n_q * ldq * sizeof *q);
    float *k1 = malloc(((size_t)n1 * ld1 + 1) * sizeof *k1);
    float *v1 = malloc(((size_t)n1 * ld1 + 1) * sizeof *v1);
    float *k2 = malloc(((size_t)n2 * ld2 + 1) * sizeof *k2);
    float *v2 = malloc(((size_t)n2 * ld2 + 1) * sizeof *v2);
    float *want = malloc((size_t)n_q * ldo * sizeof *want);
    float *got = malloc((size_t)n_q * ldo * sizeof *got);
    fill(q, (size_t)n_q * ldq);
    fill(k1, (size_t)n1 * ld1 + 1);
    fill(v1, (size_t)n1 * ld1 + 1);
    fill(k2, (size_t)n2 * ld2 + 1);
    fill(v2, (size_t)n2 * ld2 + 1);
    /* Scale the queries so that softmax is far from uniform. */
    for (size_t i = 0; i < (size_t)n_q * ldq; i++)
        q[i] *= 3.0f;
    a.q = q;
    a.ldq = ldq;
    a.n_q = n_q;
    a.k1 = k1;
    a.v1 = v1;
    a.ld1 = ld1;
    a.n1 = n1;
    a.k2 = block2 ? k2 : NULL;
    a.v2 = block2 ? v2 : NULL;
    a.ld2 = ld2;
    a.n2 = block2 ? n2 : 0;
    a.q_start = q_start;
    a.n_heads = n_heads;
    a.head_dim = hd;
    a.scale = 1.0f / sqrtf((float)hd);
    float *scratch = malloc(gitci_attention_scratch(3, n1 + n2) * sizeof *scratch);
    /* Padding columns of out must stay untouched: fill both with the same values. */
    for (size_t i = 0; i < (size_t)n_q * ldo; i++)
        want[i] = got[i] = 42.0f;
    a.out = want;
    a.ldo = ldo;
    gitci_attention_ref(&a, scratch);
    float *one = malloc((size_t)n_q * ldo * sizeof *one);
    for (int t = 0; t < n_tables; t++) {
        for (int nth = 1; nth <= 3; nth++) {
            for (size_t i = 0; i < (size_t)n_q * ldo; i++)
                got[i] = (i % ldo) >= (size_t)C ? 42.0f : NAN;
            a.out = got;
            tables[t]->attention(pools[nth], &a, scratch);
            char what[160];
            snprintf(what, sizeof what, "attention %s nq=%d h=%d hd=%d n1=%d n2=%d%s qs=%d t=%d",
                     tables[t]->name, n_q, n_heads, hd, n1, n2, block2 ? "" : "(off)", q_start, nth);
            /* Outputs are convex combinations of values in [-1, 1]. */
            check_close(what, got, want, (size_t)n_q * ldo, 5e-6);
            /* The thread count never changes a bit (sessions of any size agree). */
            if (nth == 1)
                memcpy(one, got, (size_t)n_q * ldo * sizeof *one);
            else
                check_true(memcmp(one, got, (size_t)n_q * ldo * sizeof *one) == 0, "%s: same bits as t=1", what);
        }
    }
    free(one);
    free(q);
    free(k1);
    free(v1);
    free(k2);
    free(v2);
    free(want);
    free(got);
    free(scratch);
}

static void test_attention(void)
{
    static const int hds[] = {8, 16, 32, 64, 5, 13, 72, 100};
    for (size_t i = 0; i < sizeof hds / sizeof hds[0]; i++) {
        int hd = hds[i];
        test_attention_case(17, 2, hd, 197, 0, 0, 0);      /* vision: one block */
        test_attention_case(5, 3, hd, 7, 5, 0, 1);         /* prompt: causal text block */
        test_attention_case(1, 12, hd, 19, 9, 8, 1);       /* decode step */
        test_attention_case(4, 2, hd, 0, 11, 7, 1);        /* text only, q_start > 0 */
        test_attention_case(3, 1, hd, 9, 0, 0, 1);         /* block 2 given but empty */
        test_attention_case(2, 1, hd, 0, 0, 0, 0);         /* no keys at all */
    }
    /* The one-block path of the avx512 set (>= 16 queries, head_dim a
     * multiple of 16 up to 128): chunks of 32 queries, tiles of 12 keys and
     * 6 queries, 1-4 vectors of dimensions per pass, and their tails. */
    test_attention_case(197, 12, 64, 197, 0, 0, 0);  /* git-base image rows */
    test_attention_case(40, 2, 48, 50, 0, 0, 0);
    test_attention_case(33, 1, 128, 13, 0, 0, 1);    /* block 2 given but empty */
    test_attention_case(16, 3, 80, 1, 0, 0, 0);
    test_attention_case(65, 2, 16, 25, 0, 0, 0);
    /* The avx512 set's single-query path (a decode step): shares of key rows
     * merged by their maxima; block 2 wholly, partly or not visible; a share
     * with no keys (2 keys, 3 threads). */
    test_attention_case(1, 12, 64, 197, 12, 11, 1);   /* git-base decode step */
    test_attention_case(1, 12, 64, 197, 20, 5, 1);    /* block 2 partly visible */
    test_attention_case(1, 16, 64, 257, 0, 0, 0);
    test_attention_case(1, 2, 128, 40, 30, 29, 1);
    test_attention_case(1, 1, 16, 2, 0, 0, 0);
}

/* LayerNorm and the elementwise ops against the portable set (the original
 * scalar code) and, for the activations, against float64 formulas. */
static void test_elementwise(void)
{
    static const int shapes[][2] = {{1, 768}, {197, 768}, {3, 37}, {5, 8}, {64, 1000}, {2, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], C = shapes[s][1];
        size_t n = (size_t)M * C;
        float *x = malloc(n * sizeof *x), *g = malloc((size_t)C * sizeof *g);
        float *b = malloc((size_t)C * sizeof *b), *want = malloc(n * sizeof *want);
        float *got = malloc(n * sizeof *got);
        fill(x, n);
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] * 4.0f + 1.5f; /* a non-zero mean */
        fill(g, (size_t)C);
        fill(b, (size_t)C);
        tables[0]->layernorm(NULL, want, x, g, b, M, C, 1e-5f);
        for (int t = 0; t < n_tables; t++) {
            for (int nth = 1; nth <= 3; nth++) {
                char what[160];
                snprintf(what, sizeof what, "layernorm %s M=%d C=%d t=%d", tables[t]->name, M, C, nth);
                tables[t]->layernorm(pools[nth], got, x, g, b, M, C, 1e-5f);
                check_close(what, got, want, n, 1e-6);
                memcpy(got, x, n * sizeof *got); /* in place */
                tables[t]->layernorm(pools[nth], got, got, g, b, M, C, 1e-5f);
                snprintf(what, sizeof what, "layernorm in place %s M=%d C=%d t=%d", tables[t]->name, M, C, nth);
                check_close(what, got, want, n, 1e-6);
            }
        }
        free(x);
        free(g);
        free(b);
        free(want);
        free(got);
    }

    /* Activations over a wide range, including the tails. */
    size_t n = 200003;
    float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got), *y = malloc(n * sizeof *y);
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(-60.0 + 120.0 * (double)i / (double)(n - 1));
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = 1e-30f;
    x[3] = -100.0f;
    x[4] = 100.0f;
    fill(y, n);
    /* The float64 formulas take the same float-rounded argument as the float
     * ones. gelu's 1 + erf(z) cancels for negative x (as in PyTorch), so its
     * error floor is |x| * 2^-23: the portable set must match it exactly. */
    float *portable = malloc(n * sizeof *portable);
    memcpy(portable, x, n * sizeof *portable);
    tables[0]->gelu(NULL, portable, n);
    for (int op = 0; op < 3; op++) {
        for (size_t i = 0; i < n; i++) {
            double v = x[i];
            ref[i] = op == 0 ? 0.5 * v * erfc(-(double)(x[i] * 0.70710678118654752440f))
                   : op == 1 ? v / (1.0 + exp((double)(-1.702f * x[i])))
                             : (double)x[i] + (double)y[i];
        }
        for (int t = 0; t < n_tables; t++) {
            for (int nth = 1; nth <= 3; nth++) {
                memcpy(got, x, n * sizeof *got);
                const char *name = op == 0 ? "gelu" : op == 1 ? "quick_gelu" : "add";
                if (op == 0)
                    tables[t]->gelu(pools[nth], got, n);
                else if (op == 1)
                    tables[t]->quick_gelu(pools[nth], got, n);
                else
                    tables[t]->add(pools[nth], got, y, n);
                double worst = 0.0;
                size_t at = 0;
                for (size_t i = 0; i < n; i++) {
                    double floor = (op == 0 ? fabs(x[i]) * 1.1920929e-7 : 0.0) + 1e-37;
                    double e = fabs(got[i] - ref[i]) / (fabs(ref[i]) * 1.1920929e-7 + floor);
                    if (!(e <= worst)) {
                        worst = isnan(e) ? INFINITY : e;
                        at = i;
                    }
                }
                if (op == 0) {
                    char what[160];
                    snprintf(what, sizeof what, "gelu %s t=%d vs portable", tables[t]->name, nth);
                    check_close(what, got, portable, n, 0.0);
                }
                printf("%s %s t=%d: max error %.2f float eps (relative) vs float64\n", name,
                       tables[t]->name, nth, worst);
                check_true(worst <= (op == 2 ? 0.5 : 3.0), "%s %s t=%d: x=%.9g got %.9g want %.9g",
                           name, tables[t]->name, nth, x[at], got[at], ref[at]);
            }
        }
    }
    free(x);
    free(got);
    free(y);
    free(ref);
    free(portable);
}

/* log_sum_exp of every set against the float64 oracle, with -inf entries and
 * lengths around the vector width; all -inf gives -inf. */
static void test_log_sum_exp(void)
{
    static const int ns[] = {1, 7, 8, 9, 100, 30522};
    float *x = malloc(30522 * sizeof *x);
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        int n = ns[c];
        for (int i = 0; i < n; i++)
            x[i] = 20.0f * frand();
        if (n > 3)
            x[1] = x[n - 1] = -INFINITY;
        float want = gitci_log_sum_exp_ref(x, n);
        for (int t = 0; t < n_tables; t++) {
            float got = tables[t]->log_sum_exp(x, n);
            double d = fabs((double)got - want);
            printf("log_sum_exp %s n=%d: %.9g (oracle %.9g), diff %.3g\n", tables[t]->name, n, got, want, d);
            check_true(d <= 2e-6 * fabs(want) + 1e-6, "log_sum_exp %s n=%d: %.9g, want %.9g",
                       tables[t]->name, n, got, want);
        }
    }
    for (int i = 0; i < 9; i++)
        x[i] = -INFINITY;
    for (int t = 0; t < n_tables; t++)
        check_true(tables[t]->log_sum_exp(x, 9) == -INFINITY, "log_sum_exp %s of -inf", tables[t]->name);
    free(x);
}

typedef struct count_ctx {
    int *hits; /* [n_threads] */
} count_ctx;

static void count_task(void *p, int ith, int nth)
{
    count_ctx *c = p;
    c->hits[ith] += nth;
}

typedef struct shared_caller {
    gitc_pool *pool;
    count_ctx c;
} shared_caller;

static void *shared_caller_main(void *p)
{
    shared_caller *s = p;
    for (int i = 0; i < 5000; i++)
        gitci_pool_run(s->pool, count_task, &s->c);
    return NULL;
}

/* The pool runs each task once on every thread, over many short tasks. */
static void test_pool(void)
{
    for (int nth = 1; nth <= 3; nth++) {
        int hits[3] = {0, 0, 0};
        count_ctx c = {hits};
        for (int i = 0; i < 20000; i++)
            gitci_pool_run(pools[nth], count_task, &c);
        int ok = 1;
        for (int t = 0; t < nth; t++)
            ok &= hits[t] == 20000 * nth;
        printf("pool with %d threads: 20000 tasks ran on every thread: %s\n", nth, ok ? "yes" : "no");
        check_true(ok, "pool %d threads: counts %d %d %d", nth, hits[0], hits[1], hits[2]);
    }
    check_true(gitci_pool_size(NULL) == 1 && gitci_pool_size(pools[3]) == 3, "pool sizes");
    /* Two callers share one pool (as sessions of one model do): their tasks
     * take turns, each runs on every thread exactly once. */
    int hits_a[3] = {0, 0, 0}, hits_b[3] = {0, 0, 0};
    shared_caller a = {pools[3], {hits_a}}, b = {pools[3], {hits_b}};
    pthread_t th;
    int started = pthread_create(&th, NULL, shared_caller_main, &a) == 0;
    shared_caller_main(&b);
    if (started)
        pthread_join(th, NULL);
    int ok = started;
    for (int t = 0; t < 3; t++)
        ok &= hits_a[t] == 5000 * 3 && hits_b[t] == 5000 * 3;
    printf("pool shared by two callers: 2 x 5000 tasks ran on every thread: %s\n", ok ? "yes" : "no");
    check_true(ok, "shared pool: counts %d %d %d / %d %d %d", hits_a[0], hits_a[1], hits_a[2],
               hits_b[0], hits_b[1], hits_b[2]);
    gitci_pool_free(NULL);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    pools[1] = NULL;
    pools[2] = gitci_pool_create(2);
    pools[3] = gitci_pool_create(3);
    if (!check_true(pools[2] && pools[3], "pool creation"))
        return check_done("test_kernels");
    n_tables = gitci_kernel_tables(&tables);
    printf("kernel sets: %d, in use: %s\n", n_tables, gitci_kernels_default()->f32.name);
    test_pool();
    test_elementwise();
    test_log_sum_exp();
    test_attention();
    test_linear();
    gitci_pool_free(pools[2]);
    gitci_pool_free(pools[3]);
    return check_done("test_kernels");
}
