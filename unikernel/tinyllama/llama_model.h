/* llama_model.h - a llama2.c version-0 checkpoint read in place from the boot blob, and the
 * forward pass over it (run.c's, with the hot kernels called through JIT-swapped slots). */
#ifndef BAREFLOW_LLAMA_MODEL_H
#define BAREFLOW_LLAMA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "llama_kernels.h"

#define LLAMA_MAX_DIM 65536      /* any header field above this is "absurd" */

struct llama_config {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier;       /* vocab_size was positive in the file */
    int head_size, kv_dim, kv_mul;
};

struct llama_weights {           /* pointers into the blob: 4-byte aligned only */
    const float *tok_emb, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3;
    const float *rms_final, *wcls;
};

struct llama_state {             /* heap: 16-byte aligned */
    float *x, *xb, *xb2, *hb, *hb2, *he, *q, *att, *logits;
    float *key_cache, *value_cache;   /* n_layers x seq_len x kv_dim */
    float *freq;                 /* dim/2 RoPE frequencies, as run.c computes them */
    float *rope_cos, *rope_sin;  /* dim/2, for the current position */
    void *jit_arena;             /* the code generator's memory (llama_jit.c), NULL if none */
    size_t jit_arena_bytes;
};

struct llama_model {
    struct llama_config c;
    struct llama_weights w;
    struct llama_state s;
};

/* The slots the JIT swaps (tier 0 after llama_register_tiers). */
extern matmul_fn llama_matmul_slot;
extern rmsnorm_fn llama_rmsnorm_slot;
extern softmax_fn llama_softmax_slot;
extern attention_fn llama_attention_slot;
extern ffn_fn llama_ffn_slot;
extern expf_array_fn llama_expf_slot;

/* Check the header and that the blob holds exactly the tensors it announces.
 * 0 ok; -1 with a one-line reason in err. */
int llama_load(struct llama_model *m, const void *blob, uint32_t size, char *err, size_t errlen);
/* Allocate the run state; 0 ok, -1 (err) when the heap is too small. */
int llama_alloc_state(struct llama_model *m, char *err, size_t errlen);
/* Give the run state back to the heap (the app frees everything before it returns). */
void llama_free_state(struct llama_model *m);
/* Register every tier of every hot kernel with the JIT (force < 0), or pin tier `force`. */
void llama_register_tiers(int force);
/* Run-time code generation (llama_jit.c): register generators for the model just loaded
 * with the JIT runtime (adaptive mode only).  0 ok, -1 when the code heap cannot be had. */
int llama_jit_setup(struct llama_model *m);
/* Bytes of the generator's arena for this model (llama_alloc_state reserves it in every mode,
 * so the kernel's heap figures do not depend on what the JIT decided). */
size_t llama_jit_arena_bytes(const struct llama_config *c);
/* tier=3: generate every kernel now and put it in its slot (no trial, for measurements). */
void llama_jit_pin(void);
/* Sizes of what the generator produced, for the report. */
void llama_jit_report(void);
/* The tier a kernel slot currently holds (0..2, 3 = generated), or -1. */
int llama_slot_tier(const char *name);
/* run.c's forward: logits for `token` at `pos` (KV cache filled up to pos). */
float *llama_forward(struct llama_model *m, int token, int pos);

#endif
