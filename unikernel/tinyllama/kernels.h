/* kernels.h - the compute kernels of the first BareFlow app (before TinyLlama lands). */
#ifndef BAREFLOW_APP_KERNELS_H
#define BAREFLOW_APP_KERNELS_H

#include <stdint.h>

/* y[r] = sum_c W[r*cols + c] * x[c], in 32-bit wrap-around integer arithmetic.
 * Integer sums do not depend on the order of the additions, so every tier gives the same
 * bits - the JIT may pick any of them without changing the output. */
typedef void (*matvec_fn)(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols);

void matvec_scalar(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols);
void matvec_rows4(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols);
void matvec_sse2(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols);

/* p = softmax(y * scale), in float. */
void softmax_scaled(float *p, const int32_t *y, int n, float scale);
float app_expf(float x);

#endif
