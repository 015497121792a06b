/* AdamW's element loop, one source compiled into every product set
 * (train_kernels.c, train_kernels_avx2.c, train_kernels_avx512.c; those
 * files build with -fno-math-errno, so sqrt is an instruction and the loop
 * vectorizes to each set's width): float64 arithmetic, correctly rounded in
 * every lane and, with contraction off, the same operations at any width, so
 * every set gives the same bits (test_optim compares them). */
#ifndef GITC_TRAIN_ADAMW_H
#define GITC_TRAIN_ADAMW_H

#include "train_products.h"

#include <math.h>
#include <stddef.h>

/* The set's adamw (train_products.h): torch.optim.AdamW's single-tensor update
 * per element (optim.h), g = grad * gscale in float as torch's clip scaling. */
static void tk_adamw(const gitci_tk_adamw *t, size_t i0, size_t i1)
{
    float *param = t->param, *m1 = t->m, *m2 = t->v;
    const float *grad = t->grad;
    for (size_t i = i0; i < i1; i++) {
        double g = grad[i] * t->gscale; /* x * 1.0f is x */
        double p = (double)param[i] * t->decay_factor;
        double m = (double)m1[i] + (g - (double)m1[i]) * (1.0 - t->beta1); /* lerp */
        double v = (double)m2[i] * t->beta2 + (1.0 - t->beta2) * g * g;
        double denom = sqrt(v) / t->bc2_sqrt + t->eps;
        p -= t->step_size * m / denom;
        param[i] = (float)p;
        m1[i] = (float)m;
        m2[i] = (float)v;
    }
}

#endif /* GITC_TRAIN_ADAMW_H */
