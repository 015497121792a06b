/* Persistent pthread pool. A task is published by bumping an atomic
 * generation counter; threads spin on it for a while (a decode step issues
 * dozens of tasks a few microseconds apart, and waking a sleeping thread
 * costs far more than that) and then sleep on a condition variable, so an
 * idle pool costs no CPU. A task is cut into n_threads shares that the
 * participants claim from an atomic counter, the caller included: when a
 * worker is not running (the machine is busier than its cores), the caller
 * does that share itself instead of waiting for the scheduler to bring the
 * worker back. The caller then closes the task and waits only for workers
 * that entered it. Callers on several threads (sessions sharing a model's
 * pool) take turns: one task at a time, under a mutex they sleep on.
 * Memory order: every atomic operation is sequentially consistent (C11's
 * default), on purpose. fn/ctx and a task's outputs are published through
 * RMWs on `entered` (release/acquire would do for those), but the two sleep
 * handshakes (sleepers vs generation, caller_waiting vs entered) are
 * store-then-load on two different variables on each side, which only a
 * total order makes safe: weakening them to acquire/release would let ARM
 * (and POWER) reorder the load before the store and lose a wake-up. Review
 * for ARM's weak memory model: notes/arm64.md. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* Busy-wait budget before sleeping, adapted per thread: it halves when the
 * spinner finds it was descheduled (other processes want the CPU: spinning
 * then only delays the task, while a woken sleeper is served at once) and
 * doubles when the wait ended soon after it went to sleep (the spin was too
 * short to bridge the gap between tasks). Measured in notes/kernels.md. */
#define SPIN_MAX_NS 100000
#define SPIN_MIN_NS 1000
#define PREEMPT_GAP_NS 200000

#define CLOSED 0x80000000u

struct gitc_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_mutex_t run_lock; /* held by the caller of the task in flight */
    pthread_cond_t start; /* workers sleep here between tasks */
    pthread_cond_t done;  /* the caller sleeps here until the task completes */
    gitc_task_fn fn;      /* written before the task opens */
    void *ctx;
    atomic_uint generation; /* bumped once per task */
    atomic_int next_share;  /* next share of the current task to claim */
    atomic_uint entered;    /* workers inside the task, | CLOSED when none may enter */
    long long caller_spin_ns; /* the caller's spin budget */
    atomic_int sleepers;    /* workers waiting (or about to wait) on start */
    atomic_int caller_waiting;
    atomic_int quit;
    const struct gitc_kernels *kernels; /* set before the pool is shared; read-only after */
};

typedef struct worker_arg {
    gitc_pool *pool;
    int ith;
} worker_arg;

/* The spin-loop hint: x86 PAUSE, AArch64 YIELD (nothing elsewhere). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Spins until (*word == value) == until_equal (returns 1) or the budget
 * runs out (returns 0); halves the budget when descheduled meanwhile. */
static int spin_wait(atomic_uint *word, unsigned value, int until_equal, long long *budget)
{
    long long start = now_ns(), last = start;
    for (int i = 1;; i++) {
        if ((atomic_load(word) == value) == until_equal)
            return 1;
        cpu_relax();
        if (i % 16 == 0) {
            long long t = now_ns();
            if (t - last > PREEMPT_GAP_NS) {
                *budget = *budget / 2 > SPIN_MIN_NS ? *budget / 2 : SPIN_MIN_NS;
                return 0;
            }
            if (t - start > *budget)
                return 0;
            last = t;
        }
    }
}

/* After a sleep that began at slept: a short sleep doubles the budget. */
static void grow_budget(long long slept, long long *budget)
{
    if (now_ns() - slept < SPIN_MAX_NS)
        *budget = *budget * 2 < SPIN_MAX_NS ? *budget * 2 : SPIN_MAX_NS;
}

/* Waits until the generation differs from seen (or quit); returns it. */
static unsigned wait_for_task(gitc_pool *pool, unsigned seen, long long *budget)
{
    if (spin_wait(&pool->generation, seen, 0, budget))
        return atomic_load(&pool->generation);
    long long slept = now_ns();
    /* sleepers is raised before the re-check, and the caller bumps the
     * generation before reading sleepers, so one of the two sees the other. */
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->quit))
        pthread_cond_wait(&pool->start, &pool->lock);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->lock);
    grow_budget(slept, budget);
    return g;
}

/* Runs unclaimed shares of the current task until none is left. */
static void run_shares(gitc_pool *pool, gitc_task_fn fn, void *ctx)
{
    int n = pool->n_threads, i;
    while ((i = atomic_fetch_add(&pool->next_share, 1)) < n)
        fn(ctx, i, n);
}

static void *worker_main(void *p)
{
    worker_arg *arg = p;
    gitc_pool *pool = arg->pool;
    free(arg);
    unsigned seen = 0;
    long long budget = SPIN_MAX_NS;
    for (;;) {
        seen = wait_for_task(pool, seen, &budget);
        if (atomic_load(&pool->quit))
            break;
        /* Enter unless the caller closed the task already (it ran every share). */
        if (!(atomic_fetch_add(&pool->entered, 1) & CLOSED))
            run_shares(pool, pool->fn, pool->ctx);
        if (atomic_fetch_sub(&pool->entered, 1) == (CLOSED | 1u) && atomic_load(&pool->caller_waiting)) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

gitc_pool *gitci_pool_create(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    gitc_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->n_threads = 1; /* threads that exist so far (the caller) */
    pthread_mutex_init(&pool->lock, NULL);
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->next_share, 0);
    atomic_init(&pool->entered, CLOSED);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_waiting, 0);
    atomic_init(&pool->quit, 0);
    pool->caller_spin_ns = SPIN_MAX_NS;
    pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
    if (!pool->threads) {
        gitci_pool_free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (arg) {
            arg->pool = pool;
            arg->ith = i;
        }
        if (!arg || pthread_create(&pool->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            gitci_pool_free(pool);
            return NULL;
        }
        pool->n_threads = i + 1;
    }
    /* Workers read n_threads only when running a task, after this point. */
    return pool;
}

void gitci_pool_free(gitc_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->quit, 1);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; pool->threads && i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->run_lock);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int gitci_pool_size(const gitc_pool *pool) { return pool ? pool->n_threads : 1; }

void gitci_pool_set_kernels(gitc_pool *pool, const struct gitc_kernels *k) { pool->kernels = k; }
const struct gitc_kernels *gitci_pool_kernels(const gitc_pool *pool) { return pool->kernels; }

void gitci_pool_run(gitc_pool *pool, gitc_task_fn fn, void *ctx)
{
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->run_lock);
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->next_share, 0);
    /* Open: clear CLOSED, keeping the count of late workers passing through
     * (they saw CLOSED and leave without touching the task). */
    atomic_fetch_and(&pool->entered, ~CLOSED);
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->start);
        pthread_mutex_unlock(&pool->lock);
    }
    run_shares(pool, fn, ctx);
    /* Every share is claimed: close, then wait for the workers inside. */
    if (atomic_fetch_or(&pool->entered, CLOSED) != 0 &&
        !spin_wait(&pool->entered, CLOSED, 1, &pool->caller_spin_ns)) {
        long long slept = now_ns();
        /* caller_waiting is raised before the re-check and the last worker
         * reads it after its decrement, so it either sees the flag or we see
         * the count at zero. */
        pthread_mutex_lock(&pool->lock);
        atomic_store(&pool->caller_waiting, 1);
        while (atomic_load(&pool->entered) != CLOSED)
            pthread_cond_wait(&pool->done, &pool->lock);
        atomic_store(&pool->caller_waiting, 0);
        pthread_mutex_unlock(&pool->lock);
        grow_budget(slept, &pool->caller_spin_ns);
    }
    pthread_mutex_unlock(&pool->run_lock);
}
