/* llama_kernels.h - the hot kernels of the forward pass, each in three tiers.
 *
 * Tier 0 is plain C, tier 1 unrolled and blocked scalar C, tier 2 packed SSE.  The JIT runtime
 * swaps tiers at run time depending on measured cycles, and those measurements differ between
 * QEMU and the BareFlow emulator - so every tier must give bit-identical floats, or the text
 * would depend on the machine's timing.  All tiers therefore add in one canonical order:
 *
 *   dot(a, b, n): four lanes, lane j sums a[i]*b[i] for i = j, j+4, j+8, ... (i < n & ~3) in
 *   increasing i; then (lane0 + lane2) + (lane1 + lane3) - exactly what an SSE accumulator and
 *   a movehl/shuffle horizontal sum give; then the n % 4 tail added one by one.
 *
 * Products and sums are separate roundings everywhere (no FMA on this target), element-wise
 * work is order-free, and exp/sqrt are the same scalar functions in every tier.
 */
#ifndef BAREFLOW_LLAMA_KERNELS_H
#define BAREFLOW_LLAMA_KERNELS_H

#define LLAMA_TIERS 3

/* xout[r] = dot(w + r*n, x, n) for r < d   (w is d x n, row-major, only 4-byte aligned) */
typedef void (*matmul_fn)(float *xout, const float *x, const float *w, int n, int d);
/* o[j] = w[j] * (1/sqrt(dot(x,x)/size + 1e-5) * x[j])   (o may equal x) */
typedef void (*rmsnorm_fn)(float *o, const float *x, const float *w, int size);
/* x = exp(x - max) / sum */
typedef void (*softmax_fn)(float *x, int size);
/* out[i] = bf_expf(neg ? -in[i] : in[i] - sub) for i < n   (out may equal in) */
typedef void (*expf_array_fn)(float *out, const float *in, int n, float sub, int neg);

/* One layer's attention over all heads at position pos (the KV cache already holds pos). */
struct attn_args {
    float *out;                 /* dim: concatenated head outputs */
    const float *q;             /* dim, after RoPE */
    const float *key_cache;     /* this layer: seq_len x kv_dim */
    const float *value_cache;
    float *att;                 /* n_heads x seq_len scratch */
    int pos, n_heads, kv_mul, head_size, kv_dim, seq_len;
};
typedef void (*attention_fn)(const struct attn_args *a);

/* out = w2 @ (silu(w1 @ x) * (w3 @ x)) */
struct ffn_args {
    float *out;                 /* dim */
    const float *x;             /* dim, normalised */
    float *hb, *hb2, *he;       /* hidden_dim scratch (he: exp(-hb) of the SwiGLU) */
    const float *w1, *w2, *w3;  /* this layer's matrices */
    int dim, hidden_dim;
};
typedef void (*ffn_fn)(const struct ffn_args *a);

/* The profiled softmax the attention tiers call per head (defined by the model code). */
void llama_softmax(float *x, int size);
/* The profiled element-wise exp every softmax and FFN tier calls (a slot of its own, so the
 * self-optimiser sees bf_expf's cycles and can generate code for it). */
void llama_expf_array(float *out, const float *in, int n, float sub, int neg);
void expf_array_t0(float *out, const float *in, int n, float sub, int neg);
/* SwiGLU after the exp: hb[i] = (hb[i] * (1 / (1 + he[i]))) * hb2[i], as silu_mul rounds */
void swiglu_combine(float *hb, const float *hb2, const float *he, int n);

extern const matmul_fn matmul_tiers[LLAMA_TIERS];
extern const rmsnorm_fn rmsnorm_tiers[LLAMA_TIERS];
extern const softmax_fn softmax_tiers[LLAMA_TIERS];
extern const attention_fn attention_tiers[LLAMA_TIERS];
extern const ffn_fn ffn_tiers[LLAMA_TIERS];

/* tier-2 kernels live in llama_kernels_sse.c */
void matmul_sse(float *xout, const float *x, const float *w, int n, int d);
void rmsnorm_sse(float *o, const float *x, const float *w, int size);
void softmax_sse(float *x, int size);
void attention_sse(const struct attn_args *a);
void ffn_sse(const struct ffn_args *a);

#endif
