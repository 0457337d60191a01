/* llama_tokenizer.c - llama2.c's tokenizer: pieces + scores, greedy highest-score merging.
 *
 * run.c sorts the vocabulary and binary-searches it; a hash table over the pieces gives the
 * same answers (the first id for a piece) without sorting.  Encoding follows run.c exactly:
 * BOS, the dummy-prefix " " when the text is not empty, one piece per byte (byte + 3 when the
 * byte has no piece of its own), then merge the adjacent pair whose concatenation is the
 * highest-scoring piece (leftmost on ties) until no pair is a piece.  The caller only passes
 * ASCII (the app rejects other bytes), where run.c's UTF-8 grouping is one byte per unit.
 */
#include "llama_tokenizer.h"

#include "runtime.h"

static uint32_t fnv1a(const char *s, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static int lookup(const struct llama_tokenizer *t, const char *s, int n)
{
    for (uint32_t i = fnv1a(s, n) & t->hash_mask;; i = (i + 1) & t->hash_mask) {
        int id = t->hash[i];
        if (id < 0)
            return -1;
        if (t->len[id] == n && memcmp(t->piece[id], s, n) == 0)
            return id;
    }
}

int tok_load(struct llama_tokenizer *t, const void *blob, uint32_t size, int vocab_size,
             char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const char *b = blob;
    if (!blob || size == 0) {
        snprintf(err, errlen, "no tokenizer in this image");
        return -1;
    }
    if (size < 4) {
        snprintf(err, errlen, "tokenizer truncated: %u bytes, no max_token_length", size);
        return -1;
    }
    int32_t max_len;
    memcpy(&max_len, b, 4);
    if (max_len <= 0 || max_len > 1024) {
        snprintf(err, errlen, "tokenizer: max_token_length=%ld out of range 1..1024", (long)max_len);
        return -1;
    }
    t->vocab_size = vocab_size;
    t->max_token_length = max_len;
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)vocab_size)
        cap <<= 1;
    t->piece = malloc(vocab_size * sizeof(char *));
    t->len = malloc(vocab_size * sizeof(int));
    t->score = malloc(vocab_size * sizeof(float));
    t->hash = malloc(cap * sizeof(int));
    t->merge_buf = malloc(2 * (size_t)max_len + 2);
    if (!t->piece || !t->len || !t->score || !t->hash || !t->merge_buf) {
        snprintf(err, errlen, "tokenizer: not enough heap for %d tokens", vocab_size);
        return -1;
    }
    t->hash_mask = cap - 1;
    memset(t->hash, 0xff, cap * sizeof(int));
    uint32_t off = 4;
    for (int i = 0; i < vocab_size; i++) {
        if (size - off < 8) {
            snprintf(err, errlen, "tokenizer truncated at token %d of %d", i, vocab_size);
            return -1;
        }
        int32_t n;
        memcpy(&t->score[i], b + off, 4);
        memcpy(&n, b + off + 4, 4);
        off += 8;
        if (n < 0 || n > max_len || (uint32_t)n > size - off) {
            snprintf(err, errlen, "tokenizer: token %d has a bad length %ld (%s)", i, (long)n,
                     (uint32_t)n > size - off ? "past the end of the blob" : "out of range");
            return -1;
        }
        t->piece[i] = b + off;
        t->len[i] = n;
        off += n;
        if (lookup(t, t->piece[i], n) < 0) {          /* first id wins for duplicates */
            uint32_t h = fnv1a(t->piece[i], n) & t->hash_mask;
            while (t->hash[h] >= 0)
                h = (h + 1) & t->hash_mask;
            t->hash[h] = i;
        }
    }
    return 0;
}

void tok_free(struct llama_tokenizer *t)
{
    free(t->piece);
    free(t->len);
    free(t->score);
    free(t->hash);
    free(t->merge_buf);
    memset(t, 0, sizeof *t);
}

int tok_encode(const struct llama_tokenizer *t, const char *text, int n, int *tokens)
{
    int nt = 0;
    tokens[nt++] = TOK_BOS;
    if (n > 0) {
        int sp = lookup(t, " ", 1);
        tokens[nt++] = sp >= 0 ? sp : ' ' + 3;
    }
    for (int i = 0; i < n; i++) {
        int id = lookup(t, &text[i], 1);
        tokens[nt++] = id >= 0 ? id : (uint8_t)text[i] + 3;
    }
    for (;;) {
        float best_score = -1e10f;
        int best_id = -1, best_idx = -1;
        for (int i = 0; i < nt - 1; i++) {
            int a = tokens[i], b = tokens[i + 1];
            int la = t->len[a], lb = t->len[b];
            if (la + lb > 2 * t->max_token_length)
                continue;
            memcpy(t->merge_buf, t->piece[a], la);
            memcpy(t->merge_buf + la, t->piece[b], lb);
            int id = lookup(t, t->merge_buf, la + lb);
            if (id >= 0 && t->score[id] > best_score) {
                best_score = t->score[id];
                best_id = id;
                best_idx = i;
            }
        }
        if (best_idx < 0)
            break;
        tokens[best_idx] = best_id;
        for (int i = best_idx + 1; i < nt - 1; i++)
            tokens[i] = tokens[i + 1];
        nt--;
    }
    return nt;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *tok_decode(const struct llama_tokenizer *t, int prev, int tok, int *len, char *byte)
{
    const char *p = t->piece[tok];
    int n = t->len[tok];
    if (prev == TOK_BOS && n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    if (n == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' &&
        hexval(p[3]) >= 0 && hexval(p[4]) >= 0) {
        *byte = (char)(hexval(p[3]) * 16 + hexval(p[4]));
        *len = 1;
        return byte;
    }
    *len = n;
    return p;
}
