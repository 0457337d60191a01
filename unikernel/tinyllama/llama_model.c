/* llama_model.c - checkpoint validation, run state and run.c's forward pass.
 *
 * The weights are used in place in the blob stage 2 loaded (no copy: the blob is 1 MB and
 * every kernel reads with unaligned loads).  The header is checked before anything is
 * trusted: every field in 1..65536, heads dividing dim and kv heads dividing heads, an even
 * head size, at least the 259 reserved tokens, and the blob exactly as long as the tensors
 * the header announces (computed in 64 bits so an absurd header cannot overflow the check).
 *
 * The hot kernels are called through slots the JIT swaps; each call is bracketed by
 * jit_profile_begin/end so the runtime sees real calls and real cycles.  RoPE's cos/sin are
 * computed once per position (not once per layer as in run.c): same values, fewer calls.
 */
#include "llama_model.h"

#include "jit_runtime.h"
#include "llama_math.h"
#include "runtime.h"

matmul_fn llama_matmul_slot;
rmsnorm_fn llama_rmsnorm_slot;
softmax_fn llama_softmax_slot;
attention_fn llama_attention_slot;
ffn_fn llama_ffn_slot;
expf_array_fn llama_expf_slot;

/* One pointer per name, so the profiler's pointer compare always hits. */
static const char N_MATMUL[] = "matmul";
static const char N_RMSNORM[] = "rmsnorm";
static const char N_SOFTMAX[] = "softmax";
static const char N_ATTENTION[] = "attention";
static const char N_FFN[] = "ffn";
static const char N_TOKEN[] = "token";
static const char N_EXPF[] = "expf";

int llama_load(struct llama_model *m, const void *blob, uint32_t size, char *err, size_t errlen)
{
    static const char *const field[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    memset(m, 0, sizeof *m);
    if (!blob || size == 0) {
        snprintf(err, errlen, "no model in this image");
        return -1;
    }
    if (size < 28) {
        snprintf(err, errlen, "model blob is %u bytes, shorter than the 28-byte header", size);
        return -1;
    }
    int32_t h[7];
    memcpy(h, blob, sizeof h);
    int shared = h[5] > 0;
    if (h[5] < 0 && h[5] != INT32_MIN)
        h[5] = -h[5];
    for (int i = 0; i < 7; i++)
        if (h[i] <= 0 || h[i] > LLAMA_MAX_DIM) {
            snprintf(err, errlen, "model header: %s=%ld out of range 1..%d", field[i],
                     (long)h[i], LLAMA_MAX_DIM);
            return -1;
        }
    struct llama_config *c = &m->c;
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->vocab_size = h[5];
    c->seq_len = h[6];
    c->shared_classifier = shared;
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads || (c->dim / c->n_heads) % 2) {
        snprintf(err, errlen, "model header: dim=%d n_heads=%d n_kv_heads=%d inconsistent",
                 c->dim, c->n_heads, c->n_kv_heads);
        return -1;
    }
    if (c->vocab_size < 259) {
        snprintf(err, errlen, "model header: vocab_size=%d below the 259 reserved tokens",
                 c->vocab_size);
        return -1;
    }
    c->head_size = c->dim / c->n_heads;
    c->kv_dim = c->dim * c->n_kv_heads / c->n_heads;
    c->kv_mul = c->n_heads / c->n_kv_heads;

    uint64_t d = (uint64_t)c->dim, hd = (uint64_t)c->hidden_dim, l = (uint64_t)c->n_layers;
    uint64_t v = (uint64_t)c->vocab_size, kv = (uint64_t)c->kv_dim;
    uint64_t n = v * d + l * d + l * d * d + 2 * l * kv * d + l * d * d + l * d + 3 * l * hd * d + d +
                 (uint64_t)c->seq_len * (uint64_t)c->head_size;
    if (!shared)
        n += v * d;
    uint64_t need = 28 + 4 * n;
    if (need != size) {
        snprintf(err, errlen, "model blob is %u bytes but its header needs %llu", size,
                 (unsigned long long)need);
        return -1;
    }

    const float *p = (const float *)((const char *)blob + 28);
    struct llama_weights *w = &m->w;
    w->tok_emb = p;   p += v * d;
    w->rms_att = p;   p += l * d;
    w->wq = p;        p += l * d * d;
    w->wk = p;        p += l * kv * d;
    w->wv = p;        p += l * kv * d;
    w->wo = p;        p += l * d * d;
    w->rms_ffn = p;   p += l * d;
    w->w1 = p;        p += l * hd * d;
    w->w2 = p;        p += l * d * hd;
    w->w3 = p;        p += l * hd * d;
    w->rms_final = p; p += d;
    p += (uint64_t)c->seq_len * (uint64_t)c->head_size;   /* legacy RoPE tables, unused */
    w->wcls = shared ? w->tok_emb : p;
    return 0;
}

static float *alloc_floats(size_t n, int *ok)
{
    float *p = calloc(n, sizeof(float));
    if (!p)
        *ok = 0;
    return p;
}

int llama_alloc_state(struct llama_model *m, char *err, size_t errlen)
{
    const struct llama_config *c = &m->c;
    struct llama_state *s = &m->s;
    int ok = 1;
    size_t cache = (size_t)c->n_layers * c->seq_len * c->kv_dim;
    s->x = alloc_floats(c->dim, &ok);
    s->xb = alloc_floats(c->dim, &ok);
    s->xb2 = alloc_floats(c->dim, &ok);
    s->hb = alloc_floats(c->hidden_dim, &ok);
    s->hb2 = alloc_floats(c->hidden_dim, &ok);
    s->he = alloc_floats(c->hidden_dim, &ok);
    s->q = alloc_floats(c->dim, &ok);
    s->att = alloc_floats((size_t)c->n_heads * c->seq_len, &ok);
    s->logits = alloc_floats(c->vocab_size, &ok);
    s->freq = alloc_floats(c->dim / 2, &ok);
    s->rope_cos = alloc_floats(c->dim / 2, &ok);
    s->rope_sin = alloc_floats(c->dim / 2, &ok);
    s->key_cache = ok ? alloc_floats(cache, &ok) : NULL;
    s->value_cache = ok ? alloc_floats(cache, &ok) : NULL;
    /* the code generator's arena; without it the JIT only chooses among compiled tiers */
    if (ok) {
        s->jit_arena_bytes = llama_jit_arena_bytes(c);
        s->jit_arena = malloc(s->jit_arena_bytes);
        if (!s->jit_arena)
            s->jit_arena_bytes = 0;
    }
    if (!ok) {
        snprintf(err, errlen, "not enough heap for the run state (KV cache %u bytes)",
                 (unsigned)(2 * cache * sizeof(float)));
        return -1;
    }
    for (int i = 0; i < c->dim; i += 2) {                 /* run.c's frequencies */
        int head_dim = i % c->head_size;
        s->freq[i / 2] = 1.0f / bf_powf(10000.0f, head_dim / (float)c->head_size);
    }
    return 0;
}

void llama_free_state(struct llama_model *m)
{
    struct llama_state *s = &m->s;
    float *bufs[] = {s->x, s->xb, s->xb2, s->hb, s->hb2, s->he, s->q, s->att, s->logits, s->freq,
                     s->rope_cos, s->rope_sin, s->key_cache, s->value_cache};
    for (unsigned i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(s->jit_arena);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ tiers and the JIT */
struct tiered {
    const char *name;
    void **slot;
    void *tiers[LLAMA_TIERS];
    int ntiers;
};

#define NSLOTS 6
static struct tiered tiered[NSLOTS];

void llama_register_tiers(int force)
{
    struct tiered t[NSLOTS] = {
        {N_MATMUL, (void **)&llama_matmul_slot,
         {(void *)matmul_tiers[0], (void *)matmul_tiers[1], (void *)matmul_tiers[2]}, 3},
        {N_RMSNORM, (void **)&llama_rmsnorm_slot,
         {(void *)rmsnorm_tiers[0], (void *)rmsnorm_tiers[1], (void *)rmsnorm_tiers[2]}, 3},
        {N_SOFTMAX, (void **)&llama_softmax_slot,
         {(void *)softmax_tiers[0], (void *)softmax_tiers[1], (void *)softmax_tiers[2]}, 3},
        {N_ATTENTION, (void **)&llama_attention_slot,
         {(void *)attention_tiers[0], (void *)attention_tiers[1], (void *)attention_tiers[2]}, 3},
        {N_FFN, (void **)&llama_ffn_slot,
         {(void *)ffn_tiers[0], (void *)ffn_tiers[1], (void *)ffn_tiers[2]}, 3},
        /* one compiled version only: bf_expf is the same scalar function in every tier */
        {N_EXPF, (void **)&llama_expf_slot, {(void *)expf_array_t0}, 1},
    };
    memcpy(tiered, t, sizeof t);
    for (int i = 0; i < NSLOTS; i++) {
        int k = force >= 0 && force < tiered[i].ntiers ? force : 0;
        if (force >= 0)                           /* pinned: a single tier, nothing to swap */
            jit_register_tiers(tiered[i].name, tiered[i].slot, &tiered[i].tiers[k], 1);
        else
            jit_register_tiers(tiered[i].name, tiered[i].slot, tiered[i].tiers, tiered[i].ntiers);
    }
}

int llama_slot_tier(const char *name)
{
    for (int i = 0; i < NSLOTS; i++)
        if (strcmp(tiered[i].name, name) == 0) {
            for (int k = 0; k < tiered[i].ntiers; k++)
                if (*tiered[i].slot == tiered[i].tiers[k])
                    return k;
            return 3;                             /* generated at run time (llama_jit.c) */
        }
    return -1;
}

/* ------------------------------------------------------------------ profiled calls */
static inline void matmul(float *xout, const float *x, const float *w, int n, int d)
{
    jit_profile_begin(N_MATMUL);
    llama_matmul_slot(xout, x, w, n, d);
    jit_profile_end(N_MATMUL);
}

static inline void rmsnorm(float *o, const float *x, const float *w, int size)
{
    jit_profile_begin(N_RMSNORM);
    llama_rmsnorm_slot(o, x, w, size);
    jit_profile_end(N_RMSNORM);
}

void llama_expf_array(float *out, const float *in, int n, float sub, int neg)
{
    jit_profile_begin(N_EXPF);
    llama_expf_slot(out, in, n, sub, neg);
    jit_profile_end(N_EXPF);
}

void llama_softmax(float *x, int size)
{
    jit_profile_begin(N_SOFTMAX);
    llama_softmax_slot(x, size);
    jit_profile_end(N_SOFTMAX);
}

float *llama_forward(struct llama_model *m, int token, int pos)
{
    const struct llama_config *c = &m->c;
    const struct llama_weights *w = &m->w;
    struct llama_state *s = &m->s;
    int dim = c->dim, kv_dim = c->kv_dim, hidden = c->hidden_dim;

    jit_profile_begin(N_TOKEN);
    memcpy(s->x, w->tok_emb + (size_t)token * dim, dim * sizeof(float));
    for (int i = 0; i < dim / 2; i++) {
        float val = (float)pos * s->freq[i];
        s->rope_cos[i] = bf_cosf(val);
        s->rope_sin[i] = bf_sinf(val);
    }
    for (int l = 0; l < c->n_layers; l++) {
        rmsnorm(s->xb, s->x, w->rms_att + (size_t)l * dim, dim);
        size_t loff = (size_t)l * c->seq_len * kv_dim;
        float *k = s->key_cache + loff + (size_t)pos * kv_dim;
        float *v = s->value_cache + loff + (size_t)pos * kv_dim;
        matmul(s->q, s->xb, w->wq + (size_t)l * dim * dim, dim, dim);
        matmul(k, s->xb, w->wk + (size_t)l * dim * kv_dim, dim, kv_dim);
        matmul(v, s->xb, w->wv + (size_t)l * dim * kv_dim, dim, kv_dim);
        for (int i = 0; i < dim; i += 2) {              /* RoPE on (i, i+1) pairs */
            float fcr = s->rope_cos[i / 2], fci = s->rope_sin[i / 2];
            int rotn = i < kv_dim ? 2 : 1;
            for (int r = 0; r < rotn; r++) {
                float *vec = r == 0 ? s->q : k;
                float v0 = vec[i], v1 = vec[i + 1];
                vec[i] = v0 * fcr - v1 * fci;
                vec[i + 1] = v0 * fci + v1 * fcr;
            }
        }
        struct attn_args aa = {
            .out = s->xb, .q = s->q, .key_cache = s->key_cache + loff,
            .value_cache = s->value_cache + loff, .att = s->att, .pos = pos,
            .n_heads = c->n_heads, .kv_mul = c->kv_mul, .head_size = c->head_size,
            .kv_dim = kv_dim, .seq_len = c->seq_len,
        };
        jit_profile_begin(N_ATTENTION);
        llama_attention_slot(&aa);
        jit_profile_end(N_ATTENTION);
        matmul(s->xb2, s->xb, w->wo + (size_t)l * dim * dim, dim, dim);
        for (int i = 0; i < dim; i++)
            s->x[i] += s->xb2[i];
        rmsnorm(s->xb, s->x, w->rms_ffn + (size_t)l * dim, dim);
        struct ffn_args fa = {
            .out = s->xb2, .x = s->xb, .hb = s->hb, .hb2 = s->hb2, .he = s->he,
            .w1 = w->w1 + (size_t)l * hidden * dim, .w2 = w->w2 + (size_t)l * dim * hidden,
            .w3 = w->w3 + (size_t)l * hidden * dim, .dim = dim, .hidden_dim = hidden,
        };
        jit_profile_begin(N_FFN);
        llama_ffn_slot(&fa);
        jit_profile_end(N_FFN);
        for (int i = 0; i < dim; i++)
            s->x[i] += s->xb2[i];
    }
    rmsnorm(s->x, s->x, w->rms_final, dim);
    matmul(s->logits, s->x, w->wcls, dim, c->vocab_size);
    jit_profile_end(N_TOKEN);
    return s->logits;
}
