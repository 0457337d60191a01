/* main.c - the first BareFlow application: a small, real, self-optimising workload.
 *
 * Until the TinyLlama engineer replaces this directory, the app runs the two kernels an
 * LLM forward pass is made of - a matrix-vector product and a softmax - on deterministic
 * pseudo-random data, feeding each round's softmax back into the next round's input, and
 * prints a checksum of everything it computed.  The matrix-vector product has three tiers
 * registered with the runtime's JIT, which promotes and A/B-tests them on the real calls.
 * Command line (all optional): rounds=N (default 48), seed=N (default 1), dim=N (64..512,
 * multiple of 8, default 256).
 */
#include "app.h"
#include "jit_runtime.h"
#include "kernels.h"
#include "runtime.h"

static matvec_fn matvec_slot;       /* the JIT swaps the tier in here */

static uint32_t rng_state;
static uint32_t rng_next(void)      /* xorshift32: same sequence everywhere */
{
    uint32_t s = rng_state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return rng_state = s;
}

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static void describe_blob(const char *what, uint32_t addr, uint32_t size)
{
    if (!size) {
        kprintf("app: no %s blob in this image\n", what);
        return;
    }
    kprintf("app: %s blob: %u bytes at 0x%08x, FNV-1a 0x%08x\n", what, size, addr,
            fnv1a(2166136261u, (const void *)(uintptr_t)addr, size));
}

int app_main(const struct boot_info *bi, const struct cmdline *cl)
{
    const struct cpu_info *ci = cpu_get_info();
    if (!ci->sse_enabled || !ci->has_sse2) {
        kprintf("app: this app is built for SSE2 and the CPU has none\n");
        return 2;
    }
    long rounds = cmdline_get_int(cl, "rounds", 48);
    long seed = cmdline_get_int(cl, "seed", 1);
    long dim = cmdline_get_int(cl, "dim", 256);
    if (rounds < 1 || rounds > 100000 || dim < 64 || dim > 512 || dim % 8 || seed == 0) {
        kprintf("app: bad arguments: rounds=1..100000, dim=64..512 (multiple of 8), seed!=0\n");
        return 2;
    }
    kprintf("app: demo workload (until TinyLlama lands): int16 matvec %ldx%ld + softmax, "
            "%ld rounds, seed %ld\n", dim, dim, rounds, seed);
    describe_blob("model", bi->model_addr, bi->model_size);
    describe_blob("tokenizer", bi->tokenizer_addr, bi->tokenizer_size);

    int n = (int)dim;
    int16_t *W = malloc((size_t)n * n * sizeof *W);
    int16_t *x = malloc((size_t)n * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    float *p = malloc((size_t)n * sizeof *p);
    if (!W || !x || !y || !p) {
        kprintf("app: out of memory\n");
        return 2;
    }
    rng_state = (uint32_t)seed;
    for (int i = 0; i < n * n; i++)
        W[i] = (int16_t)((int)(rng_next() & 0x7FF) - 1024);   /* [-1024, 1023] */
    for (int i = 0; i < n; i++)
        x[i] = (int16_t)((int)(rng_next() & 0x7FF) - 1024);

    void *const tiers[] = { (void *)matvec_scalar, (void *)matvec_rows4, (void *)matvec_sse2 };
    jit_set_threshold(4, 12, 24);
    jit_set_trial_calls(4);
    if (jit_register_tiers("matvec", (void **)&matvec_slot, tiers, 3) != 0) {
        kprintf("app: jit_register_tiers failed\n");
        return 2;
    }

    uint32_t sum = 2166136261u;
    const float scale = 1.0f / 2097152.0f;   /* logits spread over a few units */
    for (long round = 0; round < rounds; round++) {
        jit_profile_begin("matvec");
        matvec_slot(y, W, x, n, n);
        jit_profile_end("matvec");

        jit_profile_begin("softmax");
        softmax_scaled(p, y, n, scale);
        jit_profile_end("softmax");

        /* Feed back: the next input mixes the probabilities and this round's products. */
        for (int i = 0; i < n; i++) {
            int32_t q = (int32_t)(p[i] * 65536.0f);
            x[i] = (int16_t)((int)((uint32_t)(q + y[i]) & 0x7FF) - 1024);
        }
        sum = fnv1a(sum, y, (size_t)n * sizeof *y);
        sum = fnv1a(sum, x, (size_t)n * sizeof *x);
        jit_optimize_hot_functions();
    }

    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best])
            best = i;
    kprintf("app: last softmax: max p[%d] = %.6f\n", best, (double)p[best]);
    kprintf("app: checksum 0x%08x\n", sum);

    /* Check what the JIT relies on: every tier gives the same bits on the final input. */
    int32_t *check = malloc((size_t)n * sizeof *check);
    int agree = check != NULL;
    for (int t = 0; t < 3 && agree; t++) {
        ((matvec_fn)tiers[t])(check, W, x, n, n);
        if (t == 0)
            memcpy(y, check, (size_t)n * sizeof *y);
        else if (memcmp(y, check, (size_t)n * sizeof *y) != 0)
            agree = 0;
    }
    kprintf("app: verify: the 3 matvec tiers %s on %d outputs\n", agree ? "agree" : "DISAGREE",
            n);
    kprintf("[jit] matvec ends on tier %d\n", jit_get_optimization_level("matvec"));
    jit_print_report();

    free(check);
    free(p);
    free(y);
    free(x);
    free(W);
    return agree ? 0 : 3;
}
