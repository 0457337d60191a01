/* llama_kernels.c - tiers 0 (plain C) and 1 (unrolled, register-blocked C) of the hot kernels.
 *
 * The canonical summation order (llama_kernels.h) is what makes the tiers interchangeable:
 * tier 0 writes it as the obvious loop with lane[i & 3], tier 1 keeps the four lanes in
 * registers and unrolls.  The loops carry "vectorize(disable)" so the compiler does not turn
 * the scalar tiers into SSE behind our back - tier 2 is the SSE one, and the JIT's A/B test is
 * only meaningful if the tiers really are different code.
 */
#include "llama_kernels.h"
#include "llama_math.h"

#define NOVEC _Pragma("clang loop vectorize(disable) interleave(disable)")

/* ------------------------------------------------------------------ tier 0: plain C */
static float dot_t0(const float *a, const float *b, int n)
{
    float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int n4 = n & ~3;
    NOVEC for (int i = 0; i < n4; i++)
        lane[i & 3] += a[i] * b[i];
    float s = (lane[0] + lane[2]) + (lane[1] + lane[3]);
    NOVEC for (int i = n4; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void matmul_t0(float *xout, const float *x, const float *w, int n, int d)
{
    NOVEC for (int r = 0; r < d; r++)
        xout[r] = dot_t0(w + (long)r * n, x, n);
}

static void rmsnorm_t0(float *o, const float *x, const float *w, int size)
{
    float ss = dot_t0(x, x, size);
    ss /= (float)size;
    ss += 1e-5f;
    ss = 1.0f / bf_sqrtf(ss);
    NOVEC for (int j = 0; j < size; j++)
        o[j] = w[j] * (ss * x[j]);
}

void expf_array_t0(float *out, const float *in, int n, float sub, int neg)
{
    if (neg) {
        NOVEC for (int i = 0; i < n; i++)
            out[i] = bf_expf(-in[i]);
    } else {
        NOVEC for (int i = 0; i < n; i++)
            out[i] = bf_expf(in[i] - sub);
    }
}

void swiglu_combine(float *hb, const float *hb2, const float *he, int n)
{
    NOVEC for (int i = 0; i < n; i++) {
        float v = hb[i];
        v *= (1.0f / (1.0f + he[i]));      /* silu(v) = v * sigmoid(v), rounded as run.c does */
        hb[i] = v * hb2[i];
    }
}

static void softmax_t0(float *x, int size)
{
    float max = x[0];
    NOVEC for (int i = 1; i < size; i++)
        if (x[i] > max)
            max = x[i];
    llama_expf_array(x, x, size, max, 0);
    float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int n4 = size & ~3;
    NOVEC for (int i = 0; i < n4; i++)
        lane[i & 3] += x[i];
    float sum = (lane[0] + lane[2]) + (lane[1] + lane[3]);
    NOVEC for (int i = n4; i < size; i++)
        sum += x[i];
    NOVEC for (int i = 0; i < size; i++)
        x[i] /= sum;
}

static void attention_t0(const struct attn_args *a)
{
    int hs = a->head_size;
    float scale = bf_sqrtf((float)hs);
    NOVEC for (int h = 0; h < a->n_heads; h++) {
        const float *q = a->q + h * hs;
        float *att = a->att + h * a->seq_len;
        int koff = (h / a->kv_mul) * hs;
        NOVEC for (int t = 0; t <= a->pos; t++)
            att[t] = dot_t0(q, a->key_cache + t * a->kv_dim + koff, hs) / scale;
        llama_softmax(att, a->pos + 1);
        float *xb = a->out + h * hs;
        NOVEC for (int i = 0; i < hs; i++)
            xb[i] = 0.0f;
        NOVEC for (int t = 0; t <= a->pos; t++) {
            const float *v = a->value_cache + t * a->kv_dim + koff;
            float at = att[t];
            NOVEC for (int i = 0; i < hs; i++)
                xb[i] += at * v[i];
        }
    }
}

static void ffn_t0(const struct ffn_args *a)
{
    matmul_t0(a->hb, a->x, a->w1, a->dim, a->hidden_dim);
    matmul_t0(a->hb2, a->x, a->w3, a->dim, a->hidden_dim);
    llama_expf_array(a->he, a->hb, a->hidden_dim, 0.0f, 1);
    swiglu_combine(a->hb, a->hb2, a->he, a->hidden_dim);
    matmul_t0(a->out, a->hb, a->w2, a->hidden_dim, a->dim);
}

/* ------------------------------------------------------------------ tier 1: unrolled C */
static inline float dot_t1(const float *a, const float *b, int n)
{
    float l0 = 0.0f, l1 = 0.0f, l2 = 0.0f, l3 = 0.0f;
    int i = 0;
    NOVEC for (; i + 4 <= n; i += 4) {
        l0 += a[i] * b[i];
        l1 += a[i + 1] * b[i + 1];
        l2 += a[i + 2] * b[i + 2];
        l3 += a[i + 3] * b[i + 3];
    }
    float s = (l0 + l2) + (l1 + l3);
    NOVEC for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void matmul_t1(float *xout, const float *x, const float *w, int n, int d)
{
    NOVEC for (int r = 0; r < d; r++)
        xout[r] = dot_t1(w + (long)r * n, x, n);
}

static void rmsnorm_t1(float *o, const float *x, const float *w, int size)
{
    float ss = dot_t1(x, x, size);
    ss /= (float)size;
    ss += 1e-5f;
    ss = 1.0f / bf_sqrtf(ss);
    int j = 0;
    NOVEC for (; j + 4 <= size; j += 4) {
        float x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
        o[j] = w[j] * (ss * x0);
        o[j + 1] = w[j + 1] * (ss * x1);
        o[j + 2] = w[j + 2] * (ss * x2);
        o[j + 3] = w[j + 3] * (ss * x3);
    }
    NOVEC for (; j < size; j++)
        o[j] = w[j] * (ss * x[j]);
}

static void softmax_t1(float *x, int size)
{
    float max = x[0];
    NOVEC for (int i = 1; i < size; i++)
        max = x[i] > max ? x[i] : max;
    llama_expf_array(x, x, size, max, 0);
    float l0 = 0.0f, l1 = 0.0f, l2 = 0.0f, l3 = 0.0f;
    int i = 0;
    NOVEC for (; i + 4 <= size; i += 4) {
        l0 += x[i];
        l1 += x[i + 1];
        l2 += x[i + 2];
        l3 += x[i + 3];
    }
    float sum = (l0 + l2) + (l1 + l3);
    NOVEC for (; i < size; i++)
        sum += x[i];
    NOVEC for (i = 0; i < size; i++)
        x[i] /= sum;                         /* divide as run.c does: x/s != x*(1/s) */
}

static void attention_t1(const struct attn_args *a)
{
    int hs = a->head_size;
    float scale = bf_sqrtf((float)hs);
    NOVEC for (int h = 0; h < a->n_heads; h++) {
        const float *q = a->q + h * hs;
        float *att = a->att + h * a->seq_len;
        int koff = (h / a->kv_mul) * hs;
        const float *k = a->key_cache + koff;
        NOVEC for (int t = 0; t <= a->pos; t++, k += a->kv_dim)
            att[t] = dot_t1(q, k, hs) / scale;
        llama_softmax(att, a->pos + 1);
        float *xb = a->out + h * hs;
        int i = 0;
        /* blocked: four output elements stay in registers across all positions */
        NOVEC for (; i + 4 <= hs; i += 4) {
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            const float *v = a->value_cache + koff + i;
            NOVEC for (int t = 0; t <= a->pos; t++, v += a->kv_dim) {
                float at = att[t];
                s0 += at * v[0];
                s1 += at * v[1];
                s2 += at * v[2];
                s3 += at * v[3];
            }
            xb[i] = s0;
            xb[i + 1] = s1;
            xb[i + 2] = s2;
            xb[i + 3] = s3;
        }
        NOVEC for (; i < hs; i++) {
            float s = 0.0f;
            const float *v = a->value_cache + koff + i;
            NOVEC for (int t = 0; t <= a->pos; t++, v += a->kv_dim)
                s += att[t] * v[0];
            xb[i] = s;
        }
    }
}

static void ffn_t1(const struct ffn_args *a)
{
    /* fused: one pass over the rows of w1 and w3 per hidden unit */
    NOVEC for (int r = 0; r < a->hidden_dim; r++) {
        a->hb[r] = dot_t1(a->w1 + (long)r * a->dim, a->x, a->dim);
        a->hb2[r] = dot_t1(a->w3 + (long)r * a->dim, a->x, a->dim);
    }
    llama_expf_array(a->he, a->hb, a->hidden_dim, 0.0f, 1);
    swiglu_combine(a->hb, a->hb2, a->he, a->hidden_dim);
    matmul_t1(a->out, a->hb, a->w2, a->hidden_dim, a->dim);
}

/* ------------------------------------------------------------------ the tier tables */
const matmul_fn matmul_tiers[LLAMA_TIERS] = {matmul_t0, matmul_t1, matmul_sse};
const rmsnorm_fn rmsnorm_tiers[LLAMA_TIERS] = {rmsnorm_t0, rmsnorm_t1, rmsnorm_sse};
const softmax_fn softmax_tiers[LLAMA_TIERS] = {softmax_t0, softmax_t1, softmax_sse};
const attention_fn attention_tiers[LLAMA_TIERS] = {attention_t0, attention_t1, attention_sse};
const ffn_fn ffn_tiers[LLAMA_TIERS] = {ffn_t0, ffn_t1, ffn_sse};
