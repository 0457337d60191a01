/* llama_sampler.h - run.c's sampler: argmax, or temperature + top-p with xorshift64*. */
#ifndef BAREFLOW_LLAMA_SAMPLER_H
#define BAREFLOW_LLAMA_SAMPLER_H

#include <stdint.h>

struct llama_sampler {
    int vocab_size;
    float temperature, topp;
    uint64_t rng_state;
    int *idx;                    /* vocab_size: top-p candidates */
    int *tmp;                    /* vocab_size: merge-sort scratch */
};

int sampler_init(struct llama_sampler *s, int vocab_size);   /* 0, or -1 out of heap */
void sampler_free(struct llama_sampler *s);
void sampler_reset(struct llama_sampler *s, float temperature, float topp, uint64_t seed);
/* The next token; temperature > 0 scales and softmaxes `logits` in place, as run.c does. */
int sampler_sample(struct llama_sampler *s, float *logits);

#endif
