/* llama_math.h - freestanding expf, sqrtf, powf, sinf, cosf for the llama forward pass.
 *
 * The unikernel has no libm.  These work in double internally (SSE2) and round once to float,
 * so they agree with glibc's correctly rounded float functions almost everywhere; the host
 * unit test (tests/test_libm_host.py) compiles this same file with the host compiler and
 * measures the difference in ulps against libm.  The names carry a bf_ prefix so that the
 * host build can link libm next to them.
 */
#ifndef BAREFLOW_LLAMA_MATH_H
#define BAREFLOW_LLAMA_MATH_H

float bf_expf(float x);
float bf_sqrtf(float x);
float bf_powf(float x, float y);
float bf_sinf(float x);
float bf_cosf(float x);
double bf_exp(double x);     /* |relative error| < 1e-15 on [-745, 709] */
double bf_log(double x);     /* x > 0, finite */

/* bf_exp's constants, for code that must compute exactly what it computes (the run-time code
 * generator, llama_jit.c): {1/ln2, ln2_hi, ln2_lo} and the Horner coefficients in the order
 * bf_exp applies them (1/13! first, then 1/12!, ..., 1/2, 1, 1). */
extern const double bf_exp_reduce[3];
extern const double bf_exp_poly[14];

#endif
