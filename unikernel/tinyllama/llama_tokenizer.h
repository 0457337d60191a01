/* llama_tokenizer.h - llama2.c's tokenizer.bin, read in place from the boot blob. */
#ifndef BAREFLOW_LLAMA_TOKENIZER_H
#define BAREFLOW_LLAMA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define TOK_BOS 1
#define TOK_EOS 2

struct llama_tokenizer {
    int vocab_size, max_token_length;
    const char **piece;          /* into the blob, not NUL-terminated */
    int *len;
    float *score;
    int *hash;                   /* open addressing: token id or -1 */
    uint32_t hash_mask;
    char *merge_buf;             /* 2 * max_token_length */
};

/* Parse and index the blob for a model of `vocab_size` tokens. 0 ok; -1 with err. */
int tok_load(struct llama_tokenizer *t, const void *blob, uint32_t size, int vocab_size,
             char *err, size_t errlen);
void tok_free(struct llama_tokenizer *t);
/* run.c's encode with BOS: tokens must hold n + 2.  Returns the token count. */
int tok_encode(const struct llama_tokenizer *t, const char *text, int n, int *tokens);
/* run.c's decode of `tok` after `prev`: the bytes to print (a byte piece gives one byte). */
const char *tok_decode(const struct llama_tokenizer *t, int prev, int tok, int *len, char *byte);

#endif
