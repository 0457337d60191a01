/* llama_kernels_sse.c - tier 2: packed SSE versions of the hot kernels.
 *
 * Weights sit in the model blob only 4-byte aligned (the 28-byte header), so every load is
 * _mm_loadu_ps.  Each 128-bit accumulator holds the four canonical lanes of llama_kernels.h,
 * and hsum() adds them as (l0 + l2) + (l1 + l3): bit-identical to tiers 0 and 1.  Matmul keeps
 * four rows in flight (four accumulators, one x load shared) - the eight XMM registers of
 * i386 hold that without spilling.
 */
#include <xmmintrin.h>

#include "llama_kernels.h"
#include "llama_math.h"

static inline float hsum(__m128 acc)
{
    __m128 t = _mm_add_ps(acc, _mm_movehl_ps(acc, acc));          /* l0+l2, l1+l3 */
    t = _mm_add_ss(t, _mm_shuffle_ps(t, t, _MM_SHUFFLE(1, 1, 1, 1)));
    return _mm_cvtss_f32(t);
}

static inline float dot_sse(const float *a, const float *b, int n)
{
    __m128 acc = _mm_setzero_ps();
    int i = 0;
    for (; i + 4 <= n; i += 4)
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    float s = hsum(acc);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void matmul_sse(float *xout, const float *x, const float *w, int n, int d)
{
    int r = 0;
    int n4 = n & ~3;
    for (; r + 4 <= d; r += 4) {
        const float *w0 = w + (long)r * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps();
        __m128 a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps();
        for (int i = 0; i < n4; i += 4) {
            __m128 xv = _mm_loadu_ps(x + i);
            a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(w0 + i), xv));
            a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(w1 + i), xv));
            a2 = _mm_add_ps(a2, _mm_mul_ps(_mm_loadu_ps(w2 + i), xv));
            a3 = _mm_add_ps(a3, _mm_mul_ps(_mm_loadu_ps(w3 + i), xv));
        }
        float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
        for (int i = n4; i < n; i++) {
            s0 += w0[i] * x[i];
            s1 += w1[i] * x[i];
            s2 += w2[i] * x[i];
            s3 += w3[i] * x[i];
        }
        xout[r] = s0;
        xout[r + 1] = s1;
        xout[r + 2] = s2;
        xout[r + 3] = s3;
    }
    for (; r < d; r++)
        xout[r] = dot_sse(w + (long)r * n, x, n);
}

void rmsnorm_sse(float *o, const float *x, const float *w, int size)
{
    float ss = dot_sse(x, x, size);
    ss /= (float)size;
    ss += 1e-5f;
    ss = 1.0f / bf_sqrtf(ss);
    __m128 sv = _mm_set1_ps(ss);
    int j = 0;
    for (; j + 4 <= size; j += 4)
        _mm_storeu_ps(o + j, _mm_mul_ps(_mm_loadu_ps(w + j), _mm_mul_ps(sv, _mm_loadu_ps(x + j))));
    for (; j < size; j++)
        o[j] = w[j] * (ss * x[j]);
}

void softmax_sse(float *x, int size)
{
    int n4 = size & ~3;
    float max = x[0];
    if (n4) {
        __m128 m = _mm_loadu_ps(x);
        for (int i = 4; i < n4; i += 4)
            m = _mm_max_ps(m, _mm_loadu_ps(x + i));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 1, 1, 1)));
        max = _mm_cvtss_f32(m);
    }
    for (int i = n4; i < size; i++)
        max = x[i] > max ? x[i] : max;
    llama_expf_array(x, x, size, max, 0);                 /* the same exp as tier 0 */
    __m128 acc = _mm_setzero_ps();
    for (int i = 0; i < n4; i += 4)
        acc = _mm_add_ps(acc, _mm_loadu_ps(x + i));
    float sum = hsum(acc);
    for (int i = n4; i < size; i++)
        sum += x[i];
    __m128 sv = _mm_set1_ps(sum);
    for (int i = 0; i < n4; i += 4)
        _mm_storeu_ps(x + i, _mm_div_ps(_mm_loadu_ps(x + i), sv));
    for (int i = n4; i < size; i++)
        x[i] /= sum;
}

void attention_sse(const struct attn_args *a)
{
    int hs = a->head_size;
    float scale = bf_sqrtf((float)hs);
    for (int h = 0; h < a->n_heads; h++) {
        const float *q = a->q + h * hs;
        float *att = a->att + h * a->seq_len;
        int koff = (h / a->kv_mul) * hs;
        const float *k = a->key_cache + koff;
        for (int t = 0; t <= a->pos; t++, k += a->kv_dim)
            att[t] = dot_sse(q, k, hs) / scale;
        llama_softmax(att, a->pos + 1);
        float *xb = a->out + h * hs;
        int i = 0;
        for (; i + 4 <= hs; i += 4) {
            __m128 s = _mm_setzero_ps();
            const float *v = a->value_cache + koff + i;
            for (int t = 0; t <= a->pos; t++, v += a->kv_dim)
                s = _mm_add_ps(s, _mm_mul_ps(_mm_set1_ps(att[t]), _mm_loadu_ps(v)));
            _mm_storeu_ps(xb + i, s);
        }
        for (; i < hs; i++) {
            float s = 0.0f;
            const float *v = a->value_cache + koff + i;
            for (int t = 0; t <= a->pos; t++, v += a->kv_dim)
                s += att[t] * v[0];
            xb[i] = s;
        }
    }
}

void ffn_sse(const struct ffn_args *a)
{
    int d = a->dim, d4 = a->dim & ~3;
    for (int r = 0; r < a->hidden_dim; r++) {
        const float *g = a->w1 + (long)r * d, *u = a->w3 + (long)r * d;
        __m128 ag = _mm_setzero_ps(), au = _mm_setzero_ps();
        for (int i = 0; i < d4; i += 4) {
            __m128 xv = _mm_loadu_ps(a->x + i);
            ag = _mm_add_ps(ag, _mm_mul_ps(_mm_loadu_ps(g + i), xv));
            au = _mm_add_ps(au, _mm_mul_ps(_mm_loadu_ps(u + i), xv));
        }
        float sg = hsum(ag), su = hsum(au);
        for (int i = d4; i < d; i++) {
            sg += g[i] * a->x[i];
            su += u[i] * a->x[i];
        }
        a->hb[r] = sg;
        a->hb2[r] = su;
    }
    llama_expf_array(a->he, a->hb, a->hidden_dim, 0.0f, 1);
    swiglu_combine(a->hb, a->hb2, a->he, a->hidden_dim);
    matmul_sse(a->out, a->hb, a->w2, a->hidden_dim, a->dim);
}
