/* A persistent thread pool: one task at a time, run on every thread. */
#ifndef GITC_POOL_H
#define GITC_POOL_H

typedef struct gitc_pool gitc_pool;

/* A task body: share ith of nth (see gitc_split). */
typedef void (*gitc_task_fn)(void *ctx, int ith, int nth);

/* Starts n_threads - 1 workers (the caller is thread 0). NULL on failure. */
gitc_pool *gitci_pool_create(int n_threads);
void gitci_pool_free(gitc_pool *pool);
int gitci_pool_size(const gitc_pool *pool);

/* The kernel set the pool's tasks run (kernels.h; borrowed, outlives the
 * pool). A pool runs the kernels of one owner: a model's backend sets it
 * right after creating the pool, before any other thread sees it. NULL (the
 * default): the process default set. */
struct gitc_kernels;
void gitci_pool_set_kernels(gitc_pool *pool, const struct gitc_kernels *k);
const struct gitc_kernels *gitci_pool_kernels(const gitc_pool *pool);

/* Runs fn(ctx, ith, nth) once for each share ith = 0..nth-1 (nth = the pool's
 * size) and returns when all are done. Shares run on whichever threads are
 * free, the caller included, so two shares may run one after the other on
 * one thread, never at the same time on two; concurrent callers take turns
 * (a mutex, no spinning). A NULL pool runs fn(ctx, 0, 1) on the caller. */
void gitci_pool_run(gitc_pool *pool, gitc_task_fn fn, void *ctx);

/* The half-open range [*r0, *r1) of n items that thread ith of nth owns. */
static inline void gitc_split(int n, int ith, int nth, int *r0, int *r1)
{
    int per = (n + nth - 1) / nth;
    int a = per * ith;
    int b = a + per;
    *r0 = a < n ? a : n;
    *r1 = b < n ? b : n;
}

#endif /* GITC_POOL_H */
