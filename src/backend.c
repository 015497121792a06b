/* The CPU backend: kernel set chosen once per model, weights prepared at load
 * in the layout and precision the kernels read, pools shared by sessions. */
#include "backend.h"
#include "cpu.h"
#include "kernels_blocking.h"
#include "kernels_registry.h"
#include "lowp.h"
#include "model.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_POOLS 8

struct gitc_backend {
    gitc_dtype dtype;
    gitc_kernels kernels; /* chosen at load; every pool of the model runs them */
    char kernels_name[64];
    char cpu_features[128];
    char blocking_json[320]; /* gitc_model_blocking_json */
    size_t weight_bytes;  /* bytes the matrix products read */
    size_t decode_bytes;  /* of which the text decoder's and the LM head's */
    void *arena;          /* every prepared matrix, in model order (NULL when none is prepared) */
    size_t arena_bytes;
    gitc_lowp_matrix **lowp; /* [n_matrices] bf16 / int8 copies (their storage in the arena) */
    int n_matrices;
    pthread_mutex_t lock; /* guards pools */
    int n_pools;
    int pool_threads[MAX_POOLS];
    gitc_pool *pools[MAX_POOLS];
};

const char *gitc_dtype_name(gitc_dtype dtype)
{
    switch (dtype) {
    case GITC_DTYPE_F32: return "f32";
    case GITC_DTYPE_BF16: return "bf16";
    case GITC_DTYPE_INT8: return "int8";
    }
    return NULL;
}

/* The matrices used as Linear layers, in a fixed order; returns their count
 * (list may be NULL to count). Embedding tables are not among them. */
static int linear_matrices(gitc_model *m, gitc_matrix **list)
{
    int n = 0;
#define ADD(w) (list ? (void)(list[n] = &(w)) : (void)0, n++)
    ADD(m->patch);
    for (int l = 0; l < m->cfg.vision_num_hidden_layers; l++) {
        vision_layer *L = &m->vlayers[l];
        ADD(L->q); ADD(L->k); ADD(L->v); ADD(L->o); ADD(L->fc1); ADD(L->fc2);
    }
    ADD(m->proj);
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        text_layer *L = &m->tlayers[l];
        ADD(L->q); ADD(L->k); ADD(L->v); ADD(L->o); ADD(L->fc1); ADD(L->fc2);
    }
    ADD(m->lm_head);
#undef ADD
    return n;
}

static size_t wtype_size(gitc_wtype t) { return t == GITC_W_F32 ? 4 : 2; }

/* Drops this process's pages of a matrix's source data when it lies in a
 * weight file mapping: the prepared copy replaces it, and a read-only private
 * file mapping that is read again later (embedding rows of a tied table, the
 * reference kernels in tests) simply faults the pages back in from the file. */
static void release_source(const gitc_model *m, const gitc_matrix *w)
{
    size_t bytes = (size_t)w->n_out * (size_t)w->n_in * (w->type == GITC_W_F32 ? 4 : 2);
    uintptr_t a = (uintptr_t)w->data, e = a + bytes;
    /* Copies the loader made (strided views, misaligned data) are the only data. */
    if (!gitci_tensors_in_mapping(m->weights, w->data, bytes))
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t p0 = (a + page - 1) / page * page, p1 = e / page * page;
    if (p1 > p0)
        madvise((void *)p0, p1 - p0, MADV_DONTNEED);
}

/* One matrix to prepare and where its copy goes in the arena. */
typedef struct prepare_item {
    gitc_matrix *w;
    size_t offset, bytes; /* bytes 0: read in place */
} prepare_item;

typedef struct prepare_task {
    gitc_model *m;
    gitc_backend *b;
    prepare_item *items;
    gitc_status *status; /* [n_matrices] */
    gitc_error *errs;    /* [n_matrices] */
    atomic_int next;     /* next matrix to take */
} prepare_task;

/* Bytes of the prepared copy of w: f32 panels, a bf16 / int8 copy, or 0 (read in place). */
static size_t prepared_bytes(const gitc_backend *b, const gitc_matrix *w)
{
    size_t bytes = 0;
    if (b->dtype != GITC_DTYPE_F32)
        bytes = gitci_lowp_storage_bytes(b->dtype == GITC_DTYPE_BF16 ? GITC_LOWP_BF16 : GITC_LOWP_INT8,
                                        w->n_out, w->n_in);
    else if (b->kernels.f32.uses_panels)
        bytes = gitci_panels_floats(w) * sizeof(float);
    return (bytes + 63) / 64 * 64;
}

/* Prepares one matrix into its place in the arena: panels (f32 on a panel
 * set), a low-precision copy, or nothing. */
static gitc_status prepare_one(gitc_model *m, gitc_backend *b, int i, const prepare_item *it,
                               gitc_error *err)
{
    gitc_matrix *w = it->w;
    void *dst = b->arena ? (char *)b->arena + it->offset : NULL;
    if (b->dtype != GITC_DTYPE_F32) { /* a shape it cannot take (0 bytes) fails here */
        gitc_lowp_kind kind = b->dtype == GITC_DTYPE_BF16 ? GITC_LOWP_BF16 : GITC_LOWP_INT8;
        gitc_status st = gitci_lowp_prepare_in(kind, w, dst, &b->lowp[i], err);
        if (st != GITC_OK)
            return st;
        w->lowp = b->lowp[i];
    } else if (it->bytes) {
        gitci_panels_pack(w, dst);
        w->panels = dst;
    } else {
        return GITC_OK; /* read in place */
    }
    release_source(m, w);
    return GITC_OK;
}

/* Threads take matrices one at a time, largest first (the list is sorted). */
static void prepare_worker(void *p, int ith, int nth)
{
    prepare_task *t = p;
    (void)ith;
    (void)nth;
    for (;;) {
        int i = atomic_fetch_add(&t->next, 1);
        if (i >= t->b->n_matrices)
            return;
        t->status[i] = prepare_one(t->m, t->b, i, &t->items[i], &t->errs[i]);
    }
}

static int by_size_desc(const void *x, const void *y)
{
    const prepare_item *a = x, *b = y;
    return (a->bytes < b->bytes) - (a->bytes > b->bytes);
}


/* b->blocking_json: the caches and the f32 set's blocks (gitc_model_blocking_json). */
static void describe_blocking(gitc_backend *b)
{
    const gitc_caches *c = gitci_cpu_caches();
    const char *set = b->kernels.f32.name;
    char blocks[128] = "null";
    if (strcmp(set, "avx2") == 0) {
        const gitc_f32_blocking *f = gitci_f32_blocking_get();
        snprintf(blocks, sizeof blocks, "{\"kc\": %d, \"dot_rows\": %d, \"pk\": %d, \"pack_rows\": %d}", f->kc,
                 f->dot_rows, f->pk, f->pack_rows);
    } else if (strcmp(set, "avx512") == 0) {
        snprintf(blocks, sizeof blocks, "{\"kc\": %d, \"rows\": %d}", GITC_AVX512_KC, GITC_AVX512_MC);
    }
    snprintf(b->blocking_json, sizeof b->blocking_json,
             "{\"l1d\": %ld, \"l2\": %ld, \"l3\": %ld, \"cache_source\": \"%s\", \"f32_set\": \"%s\", "
             "\"f32_blocks\": %s}",
             c->l1d, c->l2, c->l3, c->source, set, blocks);
}

gitc_status gitci_backend_prepare(gitc_model *m, const gitc_model_params *params, gitc_error *err)
{
    gitc_dtype dtype = params ? params->dtype : GITC_DTYPE_F32;
    if (!gitc_dtype_name(dtype))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s: dtype %d is not one of f32, bf16, int8",
                          m->dir, (int)dtype);
    gitc_backend *b = calloc(1, sizeof *b);
    if (!b)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    pthread_mutex_init(&b->lock, NULL);
    m->backend = b;
    b->dtype = dtype;
    gitc_status chosen = gitci_kernels_choose(&b->kernels, err);
    if (chosen != GITC_OK)
        return chosen; /* the caller frees the model, and with it b */
    b->n_matrices = linear_matrices(m, NULL);
    int n = b->n_matrices;
    gitc_matrix **list = calloc((size_t)n, sizeof *list);
    prepare_item *items = calloc((size_t)n, sizeof *items);
    gitc_status *status = calloc((size_t)n, sizeof *status);
    gitc_error *errs = calloc((size_t)n, sizeof *errs);
    b->lowp = calloc((size_t)n, sizeof *b->lowp);
    gitc_status st = GITC_OK;
    if (!list || !items || !status || !errs || !b->lowp) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    /* Arena offsets in model order (the order a forward pass reads them). */
    linear_matrices(m, list);
    for (int i = 0; i < n; i++) {
        items[i].w = list[i];
        items[i].offset = b->arena_bytes;
        items[i].bytes = prepared_bytes(b, list[i]);
        b->arena_bytes += items[i].bytes;
    }
    if (b->arena_bytes) {
        /* huge pages: a decode step streams all of the arena, and with 4 KiB
         * pages the TLB misses cost ~20 % of the step (notes/kernels.md) */
        b->arena = gitci_alloc_large(b->arena_bytes);
        if (!b->arena) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory preparing %zu MB of weights", m->dir,
                            b->arena_bytes >> 20);
            goto done;
        }
    }
    qsort(items, (size_t)n, sizeof *items, by_size_desc);
    /* Preparation is the bulk of loading: spread it over the CPUs. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    gitc_pool *pool = gitci_pool_create(cpus > 1 ? (int)GITC_MIN(cpus, 16) : 1);
    prepare_task t = {m, b, items, status, errs, 0};
    atomic_init(&t.next, 0);
    gitci_pool_run(pool, prepare_worker, &t); /* a NULL pool (no threads) runs it here */
    gitci_pool_free(pool);
    for (int i = 0; i < n && st == GITC_OK; i++) {
        if (status[i] != GITC_OK) {
            st = status[i];
            if (err)
                *err = errs[i];
        }
    }
    /* list is in model order: the patch embedding, the vision layers, the
     * projection, then what a decode step reads. */
    int first_decode = 2 + 6 * m->cfg.vision_num_hidden_layers;
    for (int i = 0; i < n && st == GITC_OK; i++) {
        const gitc_matrix *w = list[i];
        size_t bytes;
        if (w->lowp)
            bytes = gitci_lowp_bytes(w->lowp);
        else if (w->panels)
            bytes = gitci_panels_floats(w) * sizeof(float);
        else
            bytes = (size_t)w->n_out * (size_t)w->n_in * wtype_size(w->type);
        b->weight_bytes += bytes;
        if (i >= first_decode)
            b->decode_bytes += bytes;
    }
    gitci_cpu_feature_names(b->kernels.cpu, b->cpu_features, sizeof b->cpu_features);
    describe_blocking(b);
    if (dtype == GITC_DTYPE_F32)
        snprintf(b->kernels_name, sizeof b->kernels_name, "%s", b->kernels.f32.name);
    else
        snprintf(b->kernels_name, sizeof b->kernels_name, "%s+%s", b->kernels.f32.name,
                 (dtype == GITC_DTYPE_BF16 ? b->kernels.bf16 : b->kernels.int8)->name);
done:
    free(list);
    free(items);
    free(status);
    free(errs);
    return st; /* on failure the caller frees the model, and with it b */
}

void gitci_backend_free(gitc_backend *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n_pools; i++)
        gitci_pool_free(b->pools[i]);
    for (int i = 0; i < b->n_matrices && b->lowp; i++)
        gitci_lowp_free(b->lowp[i]);
    free(b->lowp);
    free(b->arena);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

gitc_pool *gitci_backend_pool(const gitc_model *m, int n_threads)
{
    gitc_backend *b = m->backend;
    gitc_pool *pool = NULL;
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < b->n_pools && !pool; i++)
        if (b->pool_threads[i] == n_threads)
            pool = b->pools[i];
    if (!pool && b->n_pools < MAX_POOLS) {
        pool = gitci_pool_create(n_threads);
        if (pool) {
            gitci_pool_set_kernels(pool, &b->kernels);
            b->pool_threads[b->n_pools] = n_threads;
            b->pools[b->n_pools++] = pool;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return pool;
}

gitc_dtype gitc_model_dtype(const gitc_model *m) { return m->backend->dtype; }
const char *gitc_model_kernels(const gitc_model *m) { return m->backend->kernels_name; }
const char *gitc_model_cpu_features(const gitc_model *m) { return m->backend->cpu_features; }

const char *gitc_model_blocking_json(const gitc_model *m) { return m->backend->blocking_json; }

const char *gitc_model_kernel_set(const gitc_model *m, gitc_dtype dtype)
{
    const gitc_kernels *k = &m->backend->kernels;
    switch (dtype) {
    case GITC_DTYPE_F32: return k->f32.name;
    case GITC_DTYPE_BF16: return k->bf16->name;
    case GITC_DTYPE_INT8: return k->int8->name;
    }
    return NULL;
}
size_t gitc_model_weight_bytes(const gitc_model *m) { return m->backend->weight_bytes; }
size_t gitc_model_decode_weight_bytes(const gitc_model *m) { return m->backend->decode_bytes; }

typedef struct read_task {
    const uint64_t *buf;
    size_t n;          /* words */
    uint64_t sink[64]; /* one per share (shares beyond 64 fold in) */
} read_task;

/* Eight independent XOR chains over this share's words: the loads, not the
 * arithmetic, set the pace. */
static void read_worker(void *p, int ith, int nth)
{
    read_task *t = p;
    size_t per = t->n / (size_t)nth / 8 * 8, i0 = per * (size_t)ith;
    uint64_t a[8] = {0};
    for (size_t i = i0; i < i0 + per; i += 8)
        for (int j = 0; j < 8; j++)
            a[j] ^= t->buf[i + j];
    t->sink[ith % 64] ^= a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

double gitci_backend_read_gbs(gitc_pool *pool, size_t bytes)
{
    bytes = bytes / 64 * 64;
    if (!bytes)
        return 0.0;
    uint64_t *buf = gitci_alloc_large(bytes);
    if (!buf)
        return 0.0;
    memset(buf, 1, bytes); /* fault every page in before timing */
    read_task t = {buf, bytes / sizeof *buf, {0}};
    double best = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t0 = gitci_now_ms();
        gitci_pool_run(pool, read_worker, &t);
        best = fmin(best, gitci_now_ms() - t0);
    }
    free(buf);
    int shares = pool ? gitci_pool_size(pool) : 1;
    size_t read = t.n / (size_t)shares / 8 * 8 * (size_t)shares * sizeof *buf;
    return best > 0 ? (double)read / (best * 1e6) : 0.0;
}

double gitci_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
