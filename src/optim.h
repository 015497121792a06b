/* The optimizer of the trainer: AdamW as torch.optim.AdamW computes it, the
 * learning-rate schedules of transformers' get_*_schedule_with_warmup, and
 * gradient clipping by global norm as torch.nn.utils.clip_grad_norm_.
 * Every function is elementwise or sums in a fixed order, so results do not
 * depend on the thread count. n: elements of one tensor. */
#ifndef GITC_OPTIM_H
#define GITC_OPTIM_H

#include "gitc.h"
#include "pool.h"
#include "train_model.h"

#include <stddef.h>

/* The hyper-parameters of AdamW (torch's names). */
typedef struct gitc_adamw {
    double beta1;        /* 0.9 */
    double beta2;        /* 0.999 */
    double eps;          /* 1e-8 */
    double weight_decay; /* 0.01 on the parameters it applies to */
} gitc_adamw;

/* One AdamW step of one tensor, as torch.optim.AdamW (single-tensor path,
 * amsgrad off, maximize off): param *= 1 - lr * wd; m = beta1 m + (1 - beta1) g;
 * v = beta2 v + (1 - beta2) g^2; param -= lr / (1 - beta1^t) * m /
 * (sqrt(v) / sqrt(1 - beta2^t) + eps), with g = grad * gscale in float (the
 * clip coefficient; 1 for none). `step` is t, counted from 1; `decay`
 * 0 skips the weight decay. param, m, v updated in place ([n] each); the
 * arithmetic is double per element, stored as float. Threads share the
 * elements (pool may be NULL). */
void gitci_adamw_update(float *param, float *m, float *v, const float *grad, float gscale, size_t n,
                       const gitc_adamw *opt, double lr, int decay, long step, gitc_pool *pool);

/* The learning-rate multiplier of optimizer step `step` (0-based, the value
 * transformers' LambdaLR gives the step-th optimizer.step()):
 * warm-up step / max(1, warmup) for step < warmup, then linear
 * max(0, (total - step) / max(1, total - warmup)), cosine
 * max(0, 0.5 (1 + cos(pi * progress))), or constant 1. */
double gitci_schedule_factor(gitc_schedule schedule, long step, long warmup, long total);

/* Sum of squares of x[0..n) in double, over fixed chunks of 65536 elements
 * (each as eight interleaved sums) summed in order (the same result on any
 * thread count). */
double gitci_sum_squares(const float *x, size_t n, gitc_pool *pool);

/* torch's clip coefficient for a total norm: min(1, max_norm / (norm + 1e-6)),
 * rounded to float as torch computes it for float32 gradients. */
float gitci_clip_coef(double total_norm, double max_norm);

/* One optimizer step over a parameter list, as transformers' Trainer takes
 * it: the global norm of every gradient (parameters without one are frozen
 * and skipped), clip_grad_norm_(max_norm = clip; 0 = none), then AdamW at
 * rate lr as step `step` (from 1), weight decay where tparam.decay says.
 * m[i], v[i] are parameter i's moments (NULL when frozen). The gradients are
 * left as they were (the update reads them times the clip coefficient).
 * Returns the norm before clipping; when it is not finite nothing is changed. */
double gitci_optim_step(gitc_tparam *params, int n_params, float *const *m, float *const *v,
                       const gitc_adamw *opt, double clip, double lr, long step, gitc_pool *pool);

#endif /* GITC_OPTIM_H */
