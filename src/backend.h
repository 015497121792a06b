/* The CPU backend of a loaded model: the kernel set chosen for this CPU, the
 * weights prepared for it at load (f32 panels, or bf16 / int8 copies made by
 * lowp.c), and the thread pools the model's sessions share. */
#ifndef GITC_BACKEND_H
#define GITC_BACKEND_H

#include "gitc.h"
#include "pool.h"

typedef struct gitc_backend gitc_backend;

/* Chooses the kernel set and prepares every matrix the model multiplies by
 * (not the embedding tables, which are gathered row by row) in the precision
 * params->dtype asks for. On success model->backend owns the result. */
gitc_status gitci_backend_prepare(gitc_model *model, const gitc_model_params *params, gitc_error *err);

/* Releases the prepared weights and the pools (NULL is fine). The model's
 * matrices must not be used afterwards. */
void gitci_backend_free(gitc_backend *backend);

/* The model's pool of n_threads threads, started on first use and shared by
 * every session asking for that many (gitci_pool_run serializes its users).
 * Borrowed: it lives as long as the model. NULL when threads cannot start. */
gitc_pool *gitci_backend_pool(const gitc_model *model, int n_threads);

/* Streaming read rate over a `bytes` buffer allocated as the weight arena is,
 * on pool's threads: best of three passes, GB/s; 0 when it cannot allocate. */
double gitci_backend_read_gbs(gitc_pool *pool, size_t bytes);

/* Monotonic clock in milliseconds (session timings). */
double gitci_now_ms(void);

#endif /* GITC_BACKEND_H */
