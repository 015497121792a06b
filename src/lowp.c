/* bf16 / int8 weight preparation, the scalar reference of their linear
 * layer, and the choice of kernel set (see lowp.h for the numerics). */
#include "lowp.h"

#include "internal.h"
#include "kernels_portable.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- Preparation ---- */

/* Smallest bfloat16 >= s (s finite, >= 0). */
static uint16_t bf16_round_up(float s)
{
    union { float f; uint32_t u; } v = { s };
    uint16_t b = (uint16_t)(v.u >> 16);
    if (gitc_lowp_bf16_f32(b) < s)
        b++;
    return b;
}

static void prepare_bf16(gitc_lowp_matrix *m, int n, const float *row)
{
    int p = n / GITC_LOWP_PANEL, j = n % GITC_LOWP_PANEL, K = m->n_in;
    uint32_t *dst = m->w + (size_t)p * m->n_groups * GITC_LOWP_PANEL + j;
    for (int g = 0; g < m->n_groups; g++) {
        uint32_t lo = gitc_lowp_bf16_round(row[2 * g]);
        uint32_t hi = 2 * g + 1 < K ? gitc_lowp_bf16_round(row[2 * g + 1]) : 0;
        dst[(size_t)g * GITC_LOWP_PANEL] = lo | hi << 16;
    }
}

/* Quantizes row n (qbuf: n_blocks * 32 bytes of scratch); 0 when it holds a
 * non-finite value. */
static int prepare_int8(gitc_lowp_matrix *m, int n, const float *row, uint8_t *qbuf)
{
    int p = n / GITC_LOWP_PANEL, j = n % GITC_LOWP_PANEL, K = m->n_in;
    uint16_t *scales = m->scales + (size_t)p * m->n_blocks * GITC_LOWP_PANEL + j;
    for (int b = 0; b < m->n_blocks; b++) {
        int k0 = b * GITC_LOWP_BLOCK, k1 = GITC_MIN(K, k0 + GITC_LOWP_BLOCK);
        float amax = 0.0f;
        int bad = 0;
        for (int k = k0; k < k1; k++) {
            float a = fabsf(row[k]);
            bad |= !(a <= FLT_MAX); /* inf or NaN */
            amax = a > amax ? a : amax;
        }
        if (bad)
            return 0;
        uint16_t sb = bf16_round_up(amax / 127.0f);
        float s = gitc_lowp_bf16_f32(sb);
        float inv = s > 0.0f ? 1.0f / s : 0.0f;
        scales[(size_t)b * GITC_LOWP_PANEL] = sb;
        for (int k = k0; k < k0 + GITC_LOWP_BLOCK; k++) {
            float q = k < k1 ? row[k] * inv : 0.0f; /* finite */
            q = q < -127.0f ? -127.0f : q > 127.0f ? 127.0f : q;
            q = (q + 12582912.0f) - 12582912.0f; /* round to nearest even (|q| < 2^22) */
            qbuf[k] = (uint8_t)((int)q + 128);
        }
    }
    /* group g (inputs 4g..4g+3, byte i = input 4g+i) of lane j */
    uint32_t *dst = m->w + (size_t)p * m->n_groups * GITC_LOWP_PANEL + j;
    for (int g = 0; g < m->n_groups; g++) {
        uint32_t v;
        memcpy(&v, qbuf + 4 * g, 4);
        dst[(size_t)g * GITC_LOWP_PANEL] = v;
    }
    return 1;
}

/* The prepared layout's sizes for [N, K]; 0 when the shape cannot be prepared. */
static int lowp_layout(gitc_lowp_kind kind, int N, int K, gitc_lowp_matrix *m, size_t *w_bytes,
                       size_t *s_bytes)
{
    if ((kind != GITC_LOWP_BF16 && kind != GITC_LOWP_INT8) || N <= 0 || K <= 0 || K > (1 << 28))
        return 0;
    m->kind = kind;
    m->n_out = N;
    m->n_in = K;
    m->n_panels = (N + GITC_LOWP_PANEL - 1) / GITC_LOWP_PANEL;
    if (kind == GITC_LOWP_BF16) {
        m->n_groups = (K + 1) / 2;
    } else {
        m->n_blocks = (K + GITC_LOWP_BLOCK - 1) / GITC_LOWP_BLOCK;
        m->n_groups = m->n_blocks * (GITC_LOWP_BLOCK / 4);
    }
    /* Weights: a multiple of 64 bytes (16 lanes x 4 bytes per group). */
    *w_bytes = (size_t)m->n_panels * (size_t)m->n_groups * GITC_LOWP_PANEL * 4;
    *s_bytes = (size_t)m->n_panels * (size_t)m->n_blocks * GITC_LOWP_PANEL * 2;
    return 1;
}

size_t gitci_lowp_storage_bytes(gitc_lowp_kind kind, int n_out, int n_in)
{
    gitc_lowp_matrix m = {0};
    size_t w_bytes, s_bytes;
    if (!lowp_layout(kind, n_out, n_in, &m, &w_bytes, &s_bytes))
        return 0;
    return w_bytes + (s_bytes + 63) / 64 * 64;
}

gitc_status gitci_lowp_prepare_in(gitc_lowp_kind kind, const gitc_matrix *src, void *storage,
                                 gitc_lowp_matrix **out, gitc_error *err)
{
    *out = NULL;
    if (kind != GITC_LOWP_BF16 && kind != GITC_LOWP_INT8)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "low-precision kind %d is not bf16 or int8", (int)kind);
    int N = src->n_out, K = src->n_in;
    gitc_lowp_matrix *m = calloc(1, sizeof *m);
    size_t w_bytes, s_bytes;
    if (!m)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory preparing a [%d, %d] weight matrix", N, K);
    if (!lowp_layout(kind, N, K, m, &w_bytes, &s_bytes)) {
        free(m);
        return gitci_fail(err, GITC_ERR_SHAPE, "weight matrix [%d, %d] cannot be prepared", N, K);
    }
    float *row = malloc((size_t)K * sizeof *row);
    uint8_t *qbuf = malloc(((size_t)K + GITC_LOWP_BLOCK) * sizeof *qbuf);
    if (!row || !qbuf)
        goto oom;
    if (storage) {
        m->w = storage;
        m->scales = s_bytes ? (uint16_t *)((char *)storage + w_bytes) : NULL;
    } else {
        m->owns_storage = 1;
        m->w = gitci_alloc_large(w_bytes); /* a multiple of 64; huge pages for decode's TLB */
        m->scales = s_bytes ? malloc(s_bytes) : NULL;
        if (!m->w || (s_bytes && !m->scales))
            goto oom;
    }
    m->bytes = w_bytes + s_bytes;
    if (kind == GITC_LOWP_INT8) {
        memset(m->scales, 0, s_bytes);
        memset(m->w, 128, w_bytes); /* q = 0 */
    } else {
        memset(m->w, 0, w_bytes);
    }
    for (int n = 0; n < N; n++) {
        gitci_matrix_row(src, n, row);
        if (kind == GITC_LOWP_BF16) {
            prepare_bf16(m, n, row);
        } else if (!prepare_int8(m, n, row, qbuf)) {
            free(row);
            free(qbuf);
            gitci_lowp_free(m);
            return gitci_fail(err, GITC_ERR_FORMAT,
                              "weight matrix [%d, %d]: row %d has a non-finite value, which int8 cannot quantize",
                              N, K, n);
        }
    }
    free(row);
    free(qbuf);
    *out = m;
    return GITC_OK;
oom:
    free(row);
    free(qbuf);
    gitci_lowp_free(m);
    return gitci_fail(err, GITC_ERR_MEMORY, "out of memory preparing a [%d, %d] weight matrix", N, K);
}

gitc_status gitci_lowp_prepare(gitc_lowp_kind kind, const gitc_matrix *src, gitc_lowp_matrix **out,
                              gitc_error *err)
{
    return gitci_lowp_prepare_in(kind, src, NULL, out, err);
}

void gitci_lowp_free(gitc_lowp_matrix *m)
{
    if (!m)
        return;
    if (m->owns_storage) {
        free(m->w);
        free(m->scales);
    }
    free(m);
}

size_t gitci_lowp_bytes(const gitc_lowp_matrix *m)
{
    return m ? m->bytes : 0;
}

gitc_lowp_kind gitci_lowp_matrix_kind(const gitc_lowp_matrix *m)
{
    return m->kind;
}

/* ---- Activation quantization (shared by every set) ---- */

void gitci_lowp_quant_block(const float *x, int n, int8_t *q, float *scale, int32_t *sum)
{
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > amax) /* NaN is skipped, as the SIMD max does */
            amax = a;
    }
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t s = 0;
    for (int i = 0; i < GITC_LOWP_BLOCK; i++) {
        int v = 0;
        if (i < n) {
            float t = x[i] * inv;
            t = fminf(fmaxf(t, -127.0f), 127.0f); /* NaN -> -127, as the SIMD clamp */
            if (t != t)
                t = -127.0f;
            v = (int)rintf(t);
        }
        q[i] = (int8_t)v;
        s += v;
    }
    *scale = amax / 127.0f;
    *sum = s;
}

/* ---- Scalar reference ---- */

static void ref_bf16(float *y, const float *x, const gitc_lowp_matrix *w, const float *bias, int M)
{
    int N = w->n_out, K = w->n_in, G = w->n_groups;
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        for (int n = 0; n < N; n++) {
            const uint32_t *wr = w->w + (size_t)(n / GITC_LOWP_PANEL) * G * GITC_LOWP_PANEL +
                                 n % GITC_LOWP_PANEL;
            float acc = 0.0f;
            for (int g = 0; g < G; g++) {
                uint32_t wg = wr[(size_t)g * GITC_LOWP_PANEL];
                float x0 = gitc_lowp_bf16_f32(gitc_lowp_bf16_round(xr[2 * g]));
                float x1 = 2 * g + 1 < K ? gitc_lowp_bf16_f32(gitc_lowp_bf16_round(xr[2 * g + 1])) : 0.0f;
                /* products of two bf16 are exact in float32; odd input first, as vdpbf16ps */
                acc += x1 * gitc_lowp_bf16_f32((uint16_t)(wg >> 16));
                acc += x0 * gitc_lowp_bf16_f32((uint16_t)(wg & 0xffff));
            }
            y[(size_t)m * N + n] = bias ? acc + bias[n] : acc;
        }
    }
}

static void ref_int8(float *y, const float *x, const gitc_lowp_matrix *w, const float *bias, int M)
{
    int N = w->n_out, K = w->n_in, G = w->n_groups;
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        float *yr = y + (size_t)m * N;
        for (int n = 0; n < N; n++)
            yr[n] = 0.0f;
        for (int b = 0; b < w->n_blocks; b++) {
            int k0 = b * GITC_LOWP_BLOCK;
            int8_t q[GITC_LOWP_BLOCK];
            float sx;
            int32_t sum;
            gitci_lowp_quant_block(xr + k0, GITC_MIN(GITC_LOWP_BLOCK, K - k0), q, &sx, &sum);
            for (int n = 0; n < N; n++) {
                int p = n / GITC_LOWP_PANEL, j = n % GITC_LOWP_PANEL;
                const uint8_t *wb = (const uint8_t *)(w->w + (size_t)p * G * GITC_LOWP_PANEL);
                int32_t dot = 0;
                for (int i = 0; i < GITC_LOWP_BLOCK; i++) {
                    int k = k0 + i;
                    int qw = (int)wb[((size_t)(k / 4) * GITC_LOWP_PANEL + j) * 4 + k % 4] - 128;
                    dot += qw * q[i];
                }
                float sw = gitc_lowp_bf16_f32(w->scales[((size_t)p * w->n_blocks + b) * GITC_LOWP_PANEL + j]);
                yr[n] = fmaf((float)dot, sx * sw, yr[n]);
            }
        }
        if (bias)
            for (int n = 0; n < N; n++)
                yr[n] += bias[n];
    }
}

void gitci_lowp_linear_ref(float *y, const float *x, const gitc_lowp_matrix *w, const float *bias, int M)
{
    if (w->kind == GITC_LOWP_BF16)
        ref_bf16(y, x, w, bias, M);
    else
        ref_int8(y, x, w, bias, M);
}

/* ---- Per-thread scratch ---- */

typedef struct scratch {
    void *p;
    size_t cap;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_ok;

static void scratch_destroy(void *v)
{
    scratch *s = v;
    free(s->p);
    free(s);
}

static void scratch_init(void)
{
    scratch_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

void *gitci_lowp_scratch(size_t bytes)
{
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_ok)
        return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap < bytes) {
        size_t cap = (bytes + 63) / 64 * 64;
        free(s->p);
        s->p = aligned_alloc(64, cap);
        s->cap = s->p ? cap : 0;
    }
    return s->p;
}

/* ---- The driver shared by every set ---- */

/* Below this many activations the packing runs on the calling thread alone. */
#define PACK_PARALLEL_MIN 65536

typedef struct lowp_call {
    const gitc_lowp_kernels *k;
    gitc_lowp_job j;
} lowp_call;

static void pack_rows(const lowp_call *c, int r0, int r1)
{
    for (int m = r0; m < r1; m++)
        c->k->pack_row(&c->j, m);
}

static void pack_task(void *ctx, int ith, int nth)
{
    const lowp_call *c = ctx;
    int r0, r1;
    gitc_split(c->j.M, ith, nth, &r0, &r1);
    pack_rows(c, r0, r1);
}

static void compute_task(void *ctx, int ith, int nth)
{
    const lowp_call *c = ctx;
    const gitc_lowp_job *j = &c->j;
    int n_panels = j->w->n_panels, NV = j->nv_max, MR = j->mr_max;
    int n_units = (n_panels + NV - 1) / NV, u0, u1;
    gitc_split(n_units, ith, nth, &u0, &u1);
    for (int u = u0; u < u1; u++) {
        int p0 = u * NV, nv = GITC_MIN(NV, n_panels - p0);
        for (int m0 = 0; m0 < j->M; m0 += MR)
            c->k->tile(j, m0, p0, GITC_MIN(MR, j->M - m0), nv);
    }
}

void gitci_lowp_run(const gitc_lowp_kernels *k, gitc_pool *pool, float *y, const float *x,
                   const gitc_lowp_matrix *w, const float *bias, int M)
{
    if (M <= 0)
        return;
    size_t G = (size_t)w->n_groups, nb = (size_t)w->n_blocks;
    size_t words = k->xp_words > 0 ? (size_t)k->xp_words : 1;
    size_t xp_bytes = ((size_t)M * G * 4 * words + 63) / 64 * 64;
    size_t meta_bytes = ((size_t)M * nb * 4 + 63) / 64 * 64;
    unsigned char *s = k->pack_row ? gitci_lowp_scratch(xp_bytes + 2 * meta_bytes) : NULL;
    if (!s) { /* the reference set, or out of memory: slow but correct */
        gitci_lowp_linear_ref(y, x, w, bias, M);
        return;
    }
    lowp_call c = {k, {y, x, w, bias, M, k->mr, k->nv, (uint32_t *)s, NULL, NULL}};
    if (w->kind == GITC_LOWP_INT8) {
        c.j.sx = (float *)(s + xp_bytes);
        c.j.corr = (int32_t *)(s + xp_bytes + meta_bytes);
    }
    if ((size_t)M * (size_t)w->n_in < PACK_PARALLEL_MIN || !pool)
        pack_rows(&c, 0, M);
    else
        gitci_pool_run(pool, pack_task, &c);
    gitci_pool_run(pool, compute_task, &c);
}

const gitc_lowp_kernels gitci_lowp_ref_bf16 = {"ref", GITC_LOWP_BF16, 1, 1, NULL, NULL, 0};
const gitc_lowp_kernels gitci_lowp_ref_int8 = {"ref", GITC_LOWP_INT8, 1, 1, NULL, NULL, 0};
