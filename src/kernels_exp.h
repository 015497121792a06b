/* The constants of the vector expf every SIMD set uses (Cephes' range
 * reduction and degree-5 polynomial, about 1 ulp from libm): one set, so
 * the sets' exponentials agree to the bit at every width. */
#ifndef GITC_KERNELS_EXP_H
#define GITC_KERNELS_EXP_H

#define GITC_EXP_X_MIN (-104.0f)              /* below: e^x underflows to 0 */
#define GITC_EXP_X_MAX 89.0f                  /* above: e^x overflows to inf */
#define GITC_EXP_LOG2E 1.44269504088896341f
#define GITC_EXP_LN2_HI 0.693359375f          /* ln 2 = LN2_HI + LN2_LO, HI exact in few bits */
#define GITC_EXP_LN2_LO (-2.12194440e-4f)

/* p(r) = ((((P0 r + P1) r + P2) r + P3) r + P4) r + P5; e^r = 1 + r + r² p(r). */
static const float gitc_exp_poly[6] = {
    1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
    5.0000001201e-1f,
};

#endif /* GITC_KERNELS_EXP_H */
