/* llama_sampler.c - run.c's sampling, step for step, so tools/llama_ref.py can predict it.
 *
 * Greedy is the first maximum.  Otherwise: logits / T, softmax, one coin from xorshift64*
 * ((state * 0x2545F4914F6CDD1D) >> 32, then >> 8 / 2^24), and either the plain CDF or top-p:
 * keep tokens with p >= (1 - topp) / (n - 1), sort them by p descending, cut where the running
 * sum first exceeds topp, and walk the CDF with coin * cum.  run.c sorts with qsort, which is
 * not stable; we use a stable merge sort (equal probabilities keep id order) and so does the
 * reference - exact ties are all that could tell the two apart.
 */
#include "llama_sampler.h"

#include "llama_kernels.h"
#include "runtime.h"

int sampler_init(struct llama_sampler *s, int vocab_size)
{
    s->vocab_size = vocab_size;
    s->idx = malloc(vocab_size * sizeof(int));
    s->tmp = malloc(vocab_size * sizeof(int));
    return s->idx && s->tmp ? 0 : -1;
}

void sampler_free(struct llama_sampler *s)
{
    free(s->idx);
    free(s->tmp);
    s->idx = s->tmp = NULL;
}

void sampler_reset(struct llama_sampler *s, float temperature, float topp, uint64_t seed)
{
    s->temperature = temperature;
    s->topp = topp;
    s->rng_state = seed;
}

static uint32_t random_u32(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float random_f32(uint64_t *state)
{
    return (float)(random_u32(state) >> 8) / 16777216.0f;
}

static int argmax(const float *p, int n)
{
    int best = 0;
    float max = p[0];
    for (int i = 1; i < n; i++)
        if (p[i] > max) {
            max = p[i];
            best = i;
        }
    return best;
}

/* stable merge sort of ids by probs[id], descending */
static void sort_desc(int *a, int *tmp, int n, const float *probs)
{
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = probs[a[j]] > probs[a[i]] ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof(int));
    }
}

int sampler_sample(struct llama_sampler *s, float *logits)
{
    int n = s->vocab_size;
    if (s->temperature == 0.0f)
        return argmax(logits, n);
    for (int q = 0; q < n; q++)
        logits[q] /= s->temperature;
    llama_softmax(logits, n);
    float coin = random_f32(&s->rng_state);
    if (s->topp <= 0.0f || s->topp >= 1.0f) {
        float cdf = 0.0f;
        for (int i = 0; i < n; i++) {
            cdf += logits[i];
            if (coin < cdf)
                return i;
        }
        return n - 1;
    }
    float cutoff = (1.0f - s->topp) / (float)(n - 1);
    int n0 = 0;
    for (int i = 0; i < n; i++)
        if (logits[i] >= cutoff)
            s->idx[n0++] = i;
    sort_desc(s->idx, s->tmp, n0, logits);
    float cum = 0.0f;
    int last = n0 - 1;
    for (int i = 0; i < n0; i++) {
        cum += logits[s->idx[i]];
        if (cum > s->topp) {
            last = i;
            break;
        }
    }
    float r = coin * cum;
    float cdf = 0.0f;
    for (int i = 0; i <= last; i++) {
        cdf += logits[s->idx[i]];
        if (r < cdf)
            return s->idx[i];
    }
    return s->idx[last];
}
