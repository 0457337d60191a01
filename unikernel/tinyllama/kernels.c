/* kernels.c - three tiers of an int16 matrix-vector product, and a softmax.
 *
 * Tier 0 is the textbook loop, tier 1 computes four rows per pass (each x[c] is loaded once
 * for four multiply-adds), tier 2 uses SSE2's PMADDWD: eight 16-bit products per
 * instruction, summed pairwise into four 32-bit lanes.  The compiler is told not to
 * vectorise tiers 0 and 1 itself, so the tiers really differ.  The app registers all three
 * with the runtime's JIT, which picks by measurement.
 */
#include <emmintrin.h>

#include "kernels.h"

void matvec_scalar(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        const int16_t *w = W + r * cols;
        uint32_t acc = 0;           /* unsigned: wrap-around is defined behaviour */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
        for (int c = 0; c < cols; c++)
            acc += (uint32_t)((int32_t)w[c] * x[c]);
        y[r] = (int32_t)acc;
    }
}

void matvec_rows4(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols)
{
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int16_t *w0 = W + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma clang loop vectorize(disable) interleave(disable)
        for (int c = 0; c < cols; c++) {
            int32_t xc = x[c];
            a0 += (uint32_t)(w0[c] * xc);
            a1 += (uint32_t)(w1[c] * xc);
            a2 += (uint32_t)(w2[c] * xc);
            a3 += (uint32_t)(w3[c] * xc);
        }
        y[r] = (int32_t)a0;
        y[r + 1] = (int32_t)a1;
        y[r + 2] = (int32_t)a2;
        y[r + 3] = (int32_t)a3;
    }
    if (r < rows)
        matvec_scalar(y + r, W + r * cols, x, rows - r, cols);
}

void matvec_sse2(int32_t *y, const int16_t *W, const int16_t *x, int rows, int cols)
{
    int vec_cols = cols & ~7;
    for (int r = 0; r < rows; r++) {
        const int16_t *w = W + r * cols;
        __m128i acc = _mm_setzero_si128();
        for (int c = 0; c < vec_cols; c += 8) {
            __m128i wv = _mm_loadu_si128((const __m128i *)(w + c));
            __m128i xv = _mm_loadu_si128((const __m128i *)(x + c));
            acc = _mm_add_epi32(acc, _mm_madd_epi16(wv, xv));   /* PMADDWD, PADDD */
        }
        /* horizontal sum of the four lanes */
        acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0x4E));
        acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0xB1));
        uint32_t s = (uint32_t)_mm_cvtsi128_si32(acc);
        for (int c = vec_cols; c < cols; c++)
            s += (uint32_t)((int32_t)w[c] * x[c]);
        y[r] = (int32_t)s;
    }
}

/* e^x for float: x = n*ln2 + r with |r| <= ln2/2, e^r by a degree-6 Taylor polynomial
 * (error < 1 ulp-ish here), then scale by 2^n through the exponent bits. */
float app_expf(float x)
{
    if (x < -87.0f)
        return 0.0f;
    if (x > 88.0f)
        x = 88.0f;
    const float ln2 = 0.69314718f;
    float nf = x / ln2;
    int n = (int)(nf < 0 ? nf - 0.5f : nf + 0.5f);
    float r = x - (float)n * ln2;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                                         r * (1.0f / 720))))));
    union { float f; uint32_t u; } s;
    s.u = (uint32_t)(n + 127) << 23;
    return p * s.f;
}

void softmax_scaled(float *p, const int32_t *y, int n, float scale)
{
    int32_t max = y[0];
    for (int i = 1; i < n; i++)
        if (y[i] > max)
            max = y[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        p[i] = app_expf((float)(y[i] - max) * scale);
        sum += p[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++)
        p[i] *= inv;
}
