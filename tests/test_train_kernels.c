/* The training kernels (src/train_kernels.c) against their scalar references
 * (float64 sums), on 1, 2 and 3 threads (which must give the same bits), and
 * the references themselves against central finite differences of the
 * forward (LayerNorm, GELU, quick_gelu, softmax cross-entropy). */
#include "check.h"
#include "kernels.h"
#include "pool.h"
#include "train_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;

/* A uniform float in [-1, 1). */
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_buf(size_t n, float scale)
{
    float *x = malloc(n * sizeof(float) + 4);
    for (size_t i = 0; i < n; i++)
        x[i] = frand() * scale;
    return x;
}

static float *copy_buf(const float *x, size_t n)
{
    float *y = malloc(n * sizeof(float) + 4);
    memcpy(y, x, n * sizeof(float));
    return y;
}

/* Relative max difference of got vs want (max abs diff / max abs want). */
static double rel_diff(const float *got, const float *want, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)got[i] - want[i]));
        m = fmax(m, fabs((double)want[i]));
    }
    return m > 0 ? d / m : d;
}

static gitc_pool *pools[3]; /* NULL (1 thread), 2 and 3 threads */

/* Records that a threaded result matches the reference and is the same on every pool. */
static void report(const char *what, double rel, double tol, int same_bits)
{
    check_true(rel <= tol, "%s: relative difference %.3g to the reference > %g", what, rel, tol);
    check_true(same_bits, "%s: 1, 2 and 3 threads give different bits", what);
    printf("%-44s rel diff to reference %.2g (bound %g); 1/2/3 threads identical\n", what, rel, tol);
}

static void test_linear(int M, int N, int K)
{
    float *dy = rand_buf((size_t)M * N, 1.0f), *w = rand_buf((size_t)N * K, 0.5f), *x = rand_buf((size_t)M * K, 1.0f);
    float *dx0 = rand_buf((size_t)M * K, 1.0f), *dw0 = rand_buf((size_t)N * K, 1.0f), *db0 = rand_buf((size_t)N, 1.0f);
    for (size_t i = 0; i < (size_t)M * N; i += 7)
        dy[i] = 0.0f; /* zeros, as the loss gradient has them */
    float *rdx = copy_buf(dx0, (size_t)M * K), *rdw = copy_buf(dw0, (size_t)N * K), *rdb = copy_buf(db0, (size_t)N);
    /* the forward y = x · Wᵀ + b with W [N, K] (dw0 as the weights, db0 as the bias) */
    float *dwt = dw0, *ry = malloc((size_t)M * N * 4);
    float *scratch = malloc(gitci_tk_linear_scratch(3) * 4);
    gitci_tk_linear_ref(ry, x, dwt, db0, M, N, K);
    gitci_tk_linear_dx_ref(rdx, dy, w, M, N, K);
    gitci_tk_linear_dw_ref(rdw, rdb, dy, x, M, N, K);
    const gitci_tk_products *const *sets;
    int n_sets = gitci_tk_product_sets(&sets);
    for (int s = 0; s < n_sets; s++) {
        float *dx[3], *dw[3], *db[3], *y[3];
        int same = 1;
        for (int p = 0; p < 3; p++) {
            y[p] = malloc((size_t)M * N * 4);
            dx[p] = copy_buf(dx0, (size_t)M * K);
            dw[p] = copy_buf(dw0, (size_t)N * K);
            db[p] = copy_buf(db0, (size_t)N);
            gitci_tk_linear_dx_set(sets[s], pools[p], scratch, dx[p], dy, w, M, N, K, 1);
            gitci_tk_linear_dw_set(sets[s], pools[p], scratch, dw[p], db[p], dy, x, M, N, K);
            gitci_tk_linear_set(sets[s], pools[p], scratch, y[p], x, dwt, db0, M, N, K);
            if (p > 0)
                same = same && !memcmp(dx[p], dx[0], (size_t)M * K * 4) && !memcmp(y[p], y[0], (size_t)M * N * 4) &&
                       !memcmp(dw[p], dw[0], (size_t)N * K * 4) && !memcmp(db[p], db[0], (size_t)N * 4);
        }
        /* dx = dy · W without reading dx (NaN there): the bits of 0 + dy · W */
        float *zero = calloc((size_t)M * K, 4), *stored = malloc((size_t)M * K * 4);
        for (size_t i = 0; i < (size_t)M * K; i++)
            stored[i] = NAN;
        gitci_tk_linear_dx_set(sets[s], pools[1], scratch, zero, dy, w, M, N, K, 1);
        gitci_tk_linear_dx_set(sets[s], pools[1], scratch, stored, dy, w, M, N, K, 0);
        check_true(!memcmp(zero, stored, (size_t)M * K * 4), "%s linear dx stored differs from 0 + dy W",
                   sets[s]->name);
        free(zero), free(stored);
        char what[96];
        snprintf(what, sizeof what, "%s linear y M=%d N=%d K=%d", sets[s]->name, M, N, K);
        report(what, rel_diff(y[0], ry, (size_t)M * N), 1e-5, same);
        snprintf(what, sizeof what, "%s linear dx M=%d N=%d K=%d", sets[s]->name, M, N, K);
        report(what, rel_diff(dx[0], rdx, (size_t)M * K), 1e-5, same);
        snprintf(what, sizeof what, "%s linear dw M=%d N=%d K=%d", sets[s]->name, M, N, K);
        report(what, fmax(rel_diff(dw[0], rdw, (size_t)N * K), rel_diff(db[0], rdb, (size_t)N)), 1e-5, same);
        for (int p = 0; p < 3; p++) {
            free(y[p]);
            free(dx[p]);
            free(dw[p]);
            free(db[p]);
        }
    }
    free(dy), free(w), free(x), free(dx0), free(dw0), free(db0), free(rdx), free(rdw), free(rdb), free(ry), free(scratch);
}

/* float64 LayerNorm loss L = Σ out · r for finite differences. */
static double ln_loss(const double *x, const float *g, const float *b, const float *r, int C, double eps)
{
    double s = 0, ss = 0, L = 0;
    for (int i = 0; i < C; i++)
        s += x[i];
    double mu = s / C;
    for (int i = 0; i < C; i++)
        ss += (x[i] - mu) * (x[i] - mu);
    double rs = 1.0 / sqrt(ss / C + eps);
    for (int i = 0; i < C; i++)
        L += ((x[i] - mu) * rs * g[i] + b[i]) * r[i];
    return L;
}

static void test_layernorm(int M, int C)
{
    size_t n = (size_t)M * C;
    float *x = rand_buf(n, 2.0f), *g = rand_buf((size_t)C, 1.0f), *b = rand_buf((size_t)C, 1.0f), *dy = rand_buf(n, 1.0f);
    float *out = malloc(n * 4), *mean = malloc((size_t)M * 4), *rstd = malloc((size_t)M * 4);
    for (int i = 0; i < M; i++)
        x[(size_t)i * C] += 3.0f * (float)i; /* rows with different means */
    gitci_tk_layernorm(NULL, out, mean, rstd, x, g, b, M, C, 1e-5f);
    /* the forward against gitci_layernorm (the inference kernel) */
    float *out2 = malloc(n * 4);
    gitci_layernorm(NULL, out2, x, g, b, M, C, 1e-5f);
    double fwd = rel_diff(out, out2, n);
    check_true(fwd < 1e-5, "layernorm forward vs gitci_layernorm: %.3g", fwd);
    float *rdx = calloc(n, 4), *rdg = calloc((size_t)C, 4), *rdb = calloc((size_t)C, 4);
    gitci_tk_layernorm_bwd_ref(rdx, rdg, rdb, dy, x, mean, rstd, g, M, C);
    float *dx[3], *dg[3], *db[3];
    int same = 1;
    for (int p = 0; p < 3; p++) {
        dx[p] = calloc(n, 4), dg[p] = calloc((size_t)C, 4), db[p] = calloc((size_t)C, 4);
        gitci_tk_layernorm_bwd(pools[p], dx[p], dg[p], db[p], dy, x, mean, rstd, g, M, C);
        if (p > 0)
            same = same && !memcmp(dx[p], dx[0], n * 4) && !memcmp(dg[p], dg[0], (size_t)C * 4) &&
                   !memcmp(db[p], db[0], (size_t)C * 4);
    }
    char what[96];
    snprintf(what, sizeof what, "layernorm backward M=%d C=%d", M, C);
    report(what, fmax(rel_diff(dx[0], rdx, n), fmax(rel_diff(dg[0], rdg, (size_t)C), rel_diff(db[0], rdb, (size_t)C))),
           1e-5, same);
    /* the reference's dx against central differences of row 0 */
    double *xd = malloc((size_t)C * sizeof(double)), worst = 0, scale = 0;
    for (int i = 0; i < C; i++)
        xd[i] = x[i];
    for (int i = 0; i < C; i++) {
        double h = 1e-6, keep = xd[i];
        xd[i] = keep + h;
        double lp = ln_loss(xd, g, b, dy, C, 1e-5);
        xd[i] = keep - h;
        double lm = ln_loss(xd, g, b, dy, C, 1e-5);
        xd[i] = keep;
        double fd = (lp - lm) / (2 * h);
        worst = fmax(worst, fabs(fd - rdx[i]));
        scale = fmax(scale, fabs(fd));
    }
    check_true(worst <= 1e-4 * scale, "layernorm reference vs finite differences: %.3g of %.3g", worst, scale);
    printf("%-44s reference vs finite differences %.2g of %.2g\n", "layernorm backward", worst, scale);
    for (int p = 0; p < 3; p++)
        free(dx[p]), free(dg[p]), free(db[p]);
    free(xd), free(x), free(g), free(b), free(dy), free(out), free(out2), free(mean), free(rstd), free(rdx), free(rdg),
        free(rdb);
}

/* The training GELU and quick_gelu forwards: within 1e-6 of float64 and,
 * element by element, the same bits however the elements are split (any
 * thread count, any slice: a batch of two gives each half's bits). */
static void test_activation_forward(int quick)
{
    size_t n = 10007, h = 4999;
    float *u = rand_buf(n, 6.0f), *ref = malloc(n * 4), *y[3], *part = malloc(n * 4);
    void (*fwd)(gitc_pool *, float *, const float *, size_t) = quick ? gitci_tk_quick_gelu : gitci_tk_gelu;
    u[0] = -30.0f, u[1] = 30.0f, u[2] = -12.0f, u[3] = 0.0f; /* the tails and zero */
    for (size_t i = 0; i < n; i++) {
        double x = u[i];
        ref[i] = (float)(quick ? x / (1.0 + exp(-1.702 * x)) : 0.5 * x * erfc(-x / sqrt(2.0)));
    }
    int same = 1;
    for (int p = 0; p < 3; p++) {
        y[p] = malloc(n * 4);
        fwd(pools[p], y[p], u, n);
        if (p > 0)
            same = same && !memcmp(y[p], y[0], n * 4);
    }
    fwd(pools[1], part, u, h);
    fwd(pools[2], part + h, u + h, n - h);
    same = same && !memcmp(part, y[0], n * 4);
    report(quick ? "quick_gelu forward (and in two slices)" : "gelu forward (and in two slices)",
           rel_diff(y[0], ref, n), 1e-6, same);
    /* the left tail keeps relative precision: gelu(-12) ~ -2.1e-32 */
    check_true(fabs(y[0][2] - ref[2]) <= 1e-5 * fabs(ref[2]), "%s(-12) = %g, want %g", quick ? "quick_gelu" : "gelu",
               y[0][2], ref[2]);
    for (int p = 0; p < 3; p++)
        free(y[p]);
    free(u), free(ref), free(part);
}

/* Every product set's activations give the portable set's bits (train_act.h:
 * one source, no contraction), for every kind, at every length up to 70
 * (each vector width's body and scalar tail). */
static void test_activation_sets(void)
{
    const gitci_tk_products *const *sets;
    int n_sets = gitci_tk_product_sets(&sets);
    size_t n = 10007;
    float *u = rand_buf(n, 8.0f), *x0 = rand_buf(n, 1.0f), *want = malloc(n * 4), *got = malloc(n * 4);
    u[0] = -90.0f, u[1] = 90.0f, u[2] = 0.0f, u[3] = -13.5f;
    int differ = 0;
    for (int kind = GITCI_TK_GELU_BWD; kind <= GITCI_TK_GELU; kind++)
        for (int s = 1; s < n_sets; s++)
            for (size_t len = 1; len <= n; len = len < 70 ? len + 1 : n + 1) {
                memcpy(want, x0, len * 4);
                memcpy(got, x0, len * 4);
                sets[0]->act(kind, want, u, len);
                sets[s]->act(kind, got, u, len);
                if (memcmp(want, got, len * 4)) {
                    differ++;
                    printf("  %s activation %d at length %zu differs from portable\n", sets[s]->name, kind, len);
                }
            }
    check_true(differ == 0, "activations: %d set/kind/length runs differ from the portable set's bits", differ);
    printf("%-44s %d sets, 4 kinds, lengths 1..70 and %zu: the portable set's bits\n", "activations in every set",
           n_sets, n);
    free(u), free(x0), free(want), free(got);
}

static void test_activation(int quick)
{
    size_t n = 10007;
    float *u = rand_buf(n, 6.0f), *dy = rand_buf(n, 1.0f), *ref = malloc(n * 4);
    (quick ? gitci_tk_quick_gelu_bwd_ref : gitci_tk_gelu_bwd_ref)(ref, dy, u, n);
    float *dx[3];
    int same = 1;
    for (int p = 0; p < 3; p++) {
        dx[p] = malloc(n * 4);
        (quick ? gitci_tk_quick_gelu_bwd : gitci_tk_gelu_bwd)(pools[p], dx[p], dy, u, n);
        if (p > 0)
            same = same && !memcmp(dx[p], dx[0], n * 4);
    }
    report(quick ? "quick_gelu backward" : "gelu backward", rel_diff(dx[0], ref, n), 1e-6, same);
    /* the reference against central differences of the activation in float64 */
    double worst = 0;
    for (size_t i = 0; i < 200; i++) {
        double x = u[i], h = 1e-5, fp, fm;
        if (quick) {
            fp = (x + h) / (1 + exp(-1.702 * (x + h)));
            fm = (x - h) / (1 + exp(-1.702 * (x - h)));
        } else {
            fp = 0.5 * (x + h) * (1 + erf((x + h) / sqrt(2.0)));
            fm = 0.5 * (x - h) * (1 + erf((x - h) / sqrt(2.0)));
        }
        worst = fmax(worst, fabs((fp - fm) / (2 * h) * dy[i] - ref[i]));
    }
    check_true(worst < 1e-6, "%s reference vs finite differences: %.3g", quick ? "quick_gelu" : "gelu", worst);
    for (int p = 0; p < 3; p++)
        free(dx[p]);
    free(u), free(dy), free(ref);
}

/* Only the text queries (q0 = n_full, as the top decoder layer runs): the
 * same bits as the full attention's rows for the forward; for the backward,
 * the full attention's with a zero dout on the image rows (their gradient in
 * the top layer), and the float64 reference. */
static void test_attention_queries(const gitci_tk_attn *full, const float *q, const float *k, const float *v,
                                   const float *dout, const float *out, const float *probs, float *scr)
{
    gitci_tk_attn a = *full;
    a.q0 = a.n_full;
    int S = a.S, Q = S - a.q0, HE = a.H * a.E;
    size_t n = (size_t)a.n_seq * S * HE, nq = (size_t)a.n_seq * Q * HE, row = (size_t)HE * 4;
    float *qc = malloc(nq * 4), *dc = malloc(nq * 4), *dz = calloc(n, 4), *oc = malloc(nq * 4);
    float *pc = malloc((size_t)a.n_seq * a.H * Q * S * 4);
    for (int s = 0; s < a.n_seq; s++) {
        memcpy(qc + (size_t)s * Q * HE, q + ((size_t)s * S + a.q0) * HE, (size_t)Q * row);
        memcpy(dc + (size_t)s * Q * HE, dout + ((size_t)s * S + a.q0) * HE, (size_t)Q * row);
        memcpy(dz + ((size_t)s * S + a.q0) * HE, dout + ((size_t)s * S + a.q0) * HE, (size_t)Q * row);
    }
    gitci_tk_attention(pools[1], &a, oc, pc, qc, k, v, scr);
    int same = 1;
    for (int s = 0; s < a.n_seq; s++) {
        same = same && !memcmp(oc + (size_t)s * Q * HE, out + ((size_t)s * S + a.q0) * HE, (size_t)Q * row);
        for (int h = 0; h < a.H; h++)
            same = same && !memcmp(pc + ((size_t)s * a.H + h) * Q * S,
                                   probs + (((size_t)s * a.H + h) * S + a.q0) * S, (size_t)Q * S * 4);
    }
    check_true(same, "attention of the text queries: forward differs from the full attention's rows");
    float *fq = malloc(n * 4), *fk = malloc(n * 4), *fv = malloc(n * 4), *dq = malloc(nq * 4), *dk = malloc(n * 4),
          *dv = malloc(n * 4), *rq = malloc(nq * 4), *rk = malloc(n * 4), *rv = malloc(n * 4);
    gitci_tk_attention_bwd(pools[1], full, fq, fk, fv, dz, probs, q, k, v, scr);
    gitci_tk_attention_bwd(pools[1], &a, dq, dk, dv, dc, pc, qc, k, v, scr);
    same = !memcmp(dk, fk, n * 4) && !memcmp(dv, fv, n * 4);
    for (int s = 0; s < a.n_seq; s++)
        same = same && !memcmp(dq + (size_t)s * Q * HE, fq + ((size_t)s * S + a.q0) * HE, (size_t)Q * row);
    gitci_tk_attention_bwd_ref(&a, rq, rk, rv, dc, pc, qc, k, v);
    double d = fmax(rel_diff(dq, rq, nq), fmax(rel_diff(dk, rk, n), rel_diff(dv, rv, n)));
    char what[96];
    snprintf(what, sizeof what, "attention backward, text queries S=%d q0=%d", S, a.q0);
    check_true(same, "%s: differs from the full attention's (zero image-row gradient)", what);
    check_true(d <= 1e-5, "%s: relative difference %.3g to the reference > 1e-05", what, d);
    printf("%-44s rel diff to reference %.2g (bound 1e-05); the full attention's bits\n", what, d);
    free(qc), free(dc), free(dz), free(oc), free(pc), free(fq), free(fk), free(fv), free(dq), free(dk), free(dv);
    free(rq), free(rk), free(rv);
}

static void test_attention(int n_seq, int S, int H, int E, int n_full, float rate)
{
    size_t n = (size_t)n_seq * S * H * E;
    float *q = rand_buf(n, 1.0f), *k = rand_buf(n, 1.0f), *v = rand_buf(n, 1.0f), *dout = rand_buf(n, 1.0f);
    gitci_tk_attn a = {.n_seq = n_seq, .S = S, .H = H, .E = E, .n_full = n_full, .scale = 1.0f / sqrtf((float)E),
                      .drop = {.rate = rate, .seed = 5, .site = 9}};
    float *out = malloc(n * 4), *probs = malloc((size_t)n_seq * H * S * S * 4);
    float *scr = malloc(gitci_tk_attention_scratch(3, &a) * sizeof(float));
    gitci_tk_attention(NULL, &a, out, probs, q, k, v, scr);
    /* the same forward on 3 threads gives the same bits */
    float *out3 = malloc(n * 4), *probs3 = malloc((size_t)n_seq * H * S * S * 4);
    gitci_tk_attention(pools[2], &a, out3, probs3, q, k, v, scr);
    check_true(!memcmp(out, out3, n * 4) && !memcmp(probs, probs3, (size_t)n_seq * H * S * S * 4),
               "attention forward differs between 1 and 3 threads");
    free(out3), free(probs3);
    /* the forward without dropout against gitci_attention_ref (the inference oracle) for sequence 0 */
    if (rate == 0.0f) {
        float *ref = malloc((size_t)S * H * E * 4);
        float *scratch = malloc(gitci_attention_scratch(1, S) * sizeof(float));
        int ld = H * E;
        gitc_attention_args ar = {.out = ref, .ldo = ld, .q = q, .ldq = ld, .n_q = S, .k1 = k, .v1 = v, .ld1 = ld,
                                  .n1 = n_full, .k2 = k + (size_t)n_full * ld, .v2 = v + (size_t)n_full * ld, .ld2 = ld,
                                  .n2 = S - n_full, .q_start = 0, .n_heads = H, .head_dim = E, .scale = a.scale};
        /* gitci_attention_ref's text rows start after the image rows: compare those rows only when n_full < S */
        ar.q = q + (size_t)n_full * ld;
        ar.n_q = S - n_full;
        ar.out = ref;
        if (ar.n_q > 0) {
            gitci_attention_ref(&ar, scratch);
            double d = rel_diff(out + (size_t)n_full * ld, ref, (size_t)ar.n_q * ld);
            check_true(d < 1e-5, "attention forward (text rows) vs gitci_attention_ref: %.3g", d);
        }
        free(ref), free(scratch);
    }
    float *rq = malloc(n * 4), *rk = malloc(n * 4), *rv = malloc(n * 4);
    gitci_tk_attention_bwd_ref(&a, rq, rk, rv, dout, probs, q, k, v);
    float *dq[3], *dk[3], *dv[3];
    int same = 1;
    for (int p = 0; p < 3; p++) {
        dq[p] = malloc(n * 4), dk[p] = malloc(n * 4), dv[p] = malloc(n * 4);
        gitci_tk_attention_bwd(pools[p], &a, dq[p], dk[p], dv[p], dout, probs, q, k, v, scr);
        if (p > 0)
            same = same && !memcmp(dq[p], dq[0], n * 4) && !memcmp(dk[p], dk[0], n * 4) && !memcmp(dv[p], dv[0], n * 4);
    }
    char what[96];
    snprintf(what, sizeof what, "attention backward S=%d full=%d drop=%.1f", S, n_full, rate);
    report(what, fmax(rel_diff(dq[0], rq, n), fmax(rel_diff(dk[0], rk, n), rel_diff(dv[0], rv, n))), 1e-5, same);
    for (int p = 0; p < 3; p++)
        free(dq[p]), free(dk[p]), free(dv[p]);
    if (n_full < S)
        test_attention_queries(&a, q, k, v, dout, out, probs, scr);
    free(q), free(k), free(v), free(dout), free(out), free(probs), free(rq), free(rk), free(rv), free(scr);
}

static void test_cross_entropy(int M, int V)
{
    size_t n = (size_t)M * V;
    float *x = rand_buf(n, 8.0f), *ref = copy_buf(x, n);
    int32_t *t = malloc((size_t)M * 4);
    for (int m = 0; m < M; m++)
        t[m] = (m * 7919) % V;
    double *lr = malloc((size_t)M * 8), *l[3];
    gitci_tk_cross_entropy_ref(lr, ref, t, M, V, 0.25f);
    float *g[3];
    int same = 1;
    for (int p = 0; p < 3; p++) {
        g[p] = copy_buf(x, n);
        l[p] = malloc((size_t)M * 8);
        gitci_tk_cross_entropy(pools[p], l[p], g[p], t, M, V, 0.25f);
        if (p > 0)
            same = same && !memcmp(g[p], g[0], n * 4) && !memcmp(l[p], l[0], (size_t)M * 8);
    }
    double dl = 0;
    for (int m = 0; m < M; m++)
        dl = fmax(dl, fabs(l[0][m] - lr[m]) / fabs(lr[m]));
    report("cross-entropy loss and gradient", fmax(dl, rel_diff(g[0], ref, n)), 1e-6, same);
    /* the gradient against central differences of row 0's loss (float64) */
    double *xd = malloc((size_t)V * 8), worst = 0;
    for (int i = 0; i < V; i++)
        xd[i] = x[i];
    for (int i = 0; i < V; i += 37) {
        double h = 1e-6, keep = xd[i], lp = 0, lm = 0;
        for (int s = 0; s < 2; s++) {
            xd[i] = keep + (s ? -h : h);
            double mx = -1e300, sum = 0;
            for (int j = 0; j < V; j++)
                mx = fmax(mx, xd[j]);
            for (int j = 0; j < V; j++)
                sum += exp(xd[j] - mx);
            *(s ? &lm : &lp) = mx + log(sum) - xd[t[0]];
        }
        xd[i] = keep;
        worst = fmax(worst, fabs(0.25 * (lp - lm) / (2 * h) - ref[i]));
    }
    check_true(worst < 1e-7, "cross-entropy reference vs finite differences: %.3g", worst);
    for (int p = 0; p < 3; p++)
        free(g[p]), free(l[p]);
    free(xd), free(x), free(ref), free(t), free(lr);
}

static void test_sums_and_dropout(void)
{
    int M = 37, C = 53, V = 11;
    float *dy = rand_buf((size_t)M * C, 1.0f);
    int32_t *ids = malloc((size_t)M * 4);
    for (int m = 0; m < M; m++)
        ids[m] = (m * 5) % V;
    float *want = calloc((size_t)V * C, 4), *sum_want = calloc((size_t)C, 4);
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++) {
            want[(size_t)ids[m] * C + c] += dy[(size_t)m * C + c];
            sum_want[c] += dy[(size_t)m * C + c];
        }
    int ok = 1;
    for (int p = 0; p < 3; p++) {
        float *got = calloc((size_t)V * C, 4), *sum = calloc((size_t)C, 4);
        gitci_tk_embedding_bwd(pools[p], got, dy, ids, M, C);
        gitci_tk_sum_rows(pools[p], sum, dy, M, C, C);
        ok = ok && !memcmp(got, want, (size_t)V * C * 4) && !memcmp(sum, sum_want, (size_t)C * 4);
        free(got), free(sum);
    }
    check_true(ok, "embedding backward / row sums differ from the plain loop");
    printf("%-44s equal to the plain loop on 1/2/3 threads\n", "embedding backward, row sums");
    /* dropout: the kept fraction near 1 - rate, scale 1/(1-rate), the same on any thread count */
    size_t n = 100003;
    gitci_tk_drop d = {.rate = 0.1f, .seed = 42, .site = 3};
    float *x[3];
    for (int p = 0; p < 3; p++) {
        x[p] = malloc(n * 4);
        for (size_t i = 0; i < n; i++)
            x[p][i] = 1.0f;
        gitci_tk_dropout(pools[p], x[p], n, &d);
    }
    size_t kept = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        kept += x[0][i] != 0.0f;
        bad += x[0][i] != 0.0f && x[0][i] != 1.0f / 0.9f;
    }
    double frac = (double)kept / (double)n;
    check_true(fabs(frac - 0.9) < 0.005 && bad == 0, "dropout kept %.4f (want 0.9), %zu wrong scales", frac, bad);
    check_true(!memcmp(x[0], x[1], n * 4) && !memcmp(x[0], x[2], n * 4), "dropout depends on the thread count");
    d.seed = 43;
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += (gitci_tk_drop_scale(&d, i) == 0.0f) != (x[0][i] == 0.0f);
    check_true(differ > n / 20, "another seed gives nearly the same mask (%zu differ)", differ);
    printf("%-44s kept %.4f at rate 0.1, same on 1/2/3 threads, seed changes %zu of %zu\n", "dropout", frac, differ, n);
    /* some rows of a site (the top decoder layer's text rows: 3 samples of 5
     * image + 4 text rows of 7 columns): each row gets its site row's masks */
    d.seed = 42;
    d.cols = 7, d.group = 4, d.skip = 5;
    ok = 1;
    float some[3 * 4 * 7];
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < 3 * 4 * 7; i++)
            some[i] = 1.0f;
        gitci_tk_dropout(pools[p], some, 3 * 4 * 7, &d);
        for (int r = 0; r < 3 * 4; r++)
            for (int c = 0; c < 7; c++)
                ok = ok && some[r * 7 + c] == x[0][((r / 4) * 9 + 5 + r % 4) * 7 + c];
    }
    check_true(ok, "dropout over some rows differs from the site's rows");
    printf("%-44s the masks of the site's rows, on 1/2/3 threads\n", "dropout over some rows");
    for (int p = 0; p < 3; p++)
        free(x[p]);
    free(dy), free(ids), free(want), free(sum_want);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    pools[0] = NULL;
    pools[1] = gitci_pool_create(2);
    pools[2] = gitci_pool_create(3);
    test_linear(1, 1, 1);
    test_linear(7, 13, 5);
    test_linear(67, 259, 130);
    test_linear(33, 300, 517);
    test_linear(300, 37, 64);
    test_linear(13, 600, 48);
    test_linear(200, 70, 600); /* several blocks of the inner dimension (256), rows split over threads */
    test_linear(2, 530, 300);  /* few rows: the threads split the columns */
    test_linear(3, 3100, 20);  /* more outputs than one packed block (3072) */
    test_linear(2, 10, 3100);
    test_layernorm(9, 40);
    test_layernorm(31, 768);
    test_activation(0);
    test_activation(1);
    test_activation_forward(1);
    test_activation_forward(0);
    test_activation_sets();
    test_attention(2, 9, 3, 4, 9, 0.0f);
    test_attention(2, 13, 3, 8, 5, 0.0f);
    test_attention(3, 11, 2, 5, 4, 0.2f);
    test_cross_entropy(5, 1000);
    test_sums_and_dropout();
    gitci_pool_free(pools[1]);
    gitci_pool_free(pools[2]);
    return check_done("test_train_kernels");
}
