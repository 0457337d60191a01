/* adaptive.c - keep a promotion only if it really made the calls faster.
 *
 * A "faster" tier is only a guess (an unrolled loop can lose to cache effects, an emulator
 * may price SSE differently).  So each promotion is an A/B test on real calls: during the
 * trial the slot alternates between the old and the new tier call by call, so both sides
 * see the same inputs (attention and softmax get dearer with every token: comparing the new
 * tier's next calls with the old tier's past average would be unfair).  After one uncounted
 * warm-up call of the new tier, `jit_trial_calls` calls of each side are summed, the slowest
 * call of each side left out (a host preemption under QEMU); the new tier stays only if its
 * sum is lower.  Otherwise the slot goes back and the tier is marked
 * blocked, so we do not oscillate.
 */
#include <stdarg.h>

#include "jit_internal.h"

int jit_trial_calls = 8;
static int verbose = 1;

void jit_set_verbose(int on)
{
    verbose = on;
}

void jit_say(const char *fmt, ...)
{
    char line[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (verbose)
        kprintf("[jit] %s\n", line);
    else
        jit_log("%s", line);              /* printed by the app at a quiet moment */
}
static uint64_t trial_calls_done, trial_cycles;   /* one trial at a time per function... */
static struct jit_tiered *trial_owner;            /* ...and globally, to keep figures clean */

int jit_trial_running(void)
{
    return trial_owner != NULL;
}

void jit_adaptive_reset(void)
{
    trial_owner = NULL;
    trial_calls_done = trial_cycles = 0;
}

void jit_set_trial_calls(int calls)
{
    jit_trial_calls = calls < 1 ? 1 : calls;
}

static void switch_to(struct jit_tiered *t, int level)
{
    *t->slot = t->tiers[level];
    t->level = level;
    t->level_calls = t->level_cycles = 0;
}

static void install(struct jit_tiered *t, int level)
{
    /* swap the slot only: the trial keeps its own figures */
    *t->slot = t->tiers[level];
    t->level = level;
}

void jit_adaptive_start_trial(struct jit_tiered *t, int from, int to)
{
    if (trial_owner && trial_owner != t)
        return;                     /* another function is being measured: next round */
    struct jit_func *f = jit_lookup(t->name, 0);
    /* For the report: this tier's own record if it has one, else the profile's average. */
    if (t->level_calls)
        t->baseline_cpc = t->level_cycles / t->level_calls;
    else
        t->baseline_cpc = f && f->calls ? f->total_cycles / f->calls : ~(uint64_t)0;
    t->trial = 1;
    t->trial_warm = 0;
    t->trial_from = from;
    t->trial_to = to;
    t->ab_calls[0] = t->ab_calls[1] = t->ab_cycles[0] = t->ab_cycles[1] = 0;
    t->ab_max[0] = t->ab_max[1] = 0;
    t->promotions++;
    trial_owner = t;
    switch_to(t, to);
    /* reported once, with its outcome, when the trial ends (one line per decision) */
}

void jit_adaptive_on_call(struct jit_tiered *t, uint64_t cycles)
{
    t->level_calls++;
    t->level_cycles += cycles;
    if (!t->trial || trial_owner != t)
        return;
    int side = t->level == t->trial_to;     /* the tier that ran this call */
    if (side && !t->trial_warm) {
        /* The first call of a freshly installed tier pays for cold caches (and, under an
         * emulator, for translating the new code): it says nothing about the steady state. */
        t->trial_warm = 1;
    } else {
        t->ab_calls[side]++;
        t->ab_cycles[side] += cycles;
        if (cycles > t->ab_max[side])
            t->ab_max[side] = cycles;
    }
    uint64_t want = (uint64_t)jit_trial_calls;
    if (t->ab_calls[0] < want || t->ab_calls[1] < want) {
        /* alternate: next call on the other side (stay on a side that still needs calls) */
        int next = !side;
        if (t->ab_calls[next] >= want)
            next = side;
        install(t, next ? t->trial_to : t->trial_from);
        return;
    }
    /* The slowest call of each side is left out: on a machine whose clock is host time (QEMU
     * on a shared host) one call now and then absorbs a preemption of the whole VM, which
     * would decide the trial on its own.  In a deterministic emulator both sides lose their
     * largest call, which is fair because the calls alternate. */
    uint64_t old_cpc, new_cpc;
    if (t->ab_calls[0] > 1 && t->ab_calls[1] > 1) {
        old_cpc = (t->ab_cycles[0] - t->ab_max[0]) / (t->ab_calls[0] - 1);
        new_cpc = (t->ab_cycles[1] - t->ab_max[1]) / (t->ab_calls[1] - 1);
    } else {
        old_cpc = t->ab_cycles[0] / t->ab_calls[0];
        new_cpc = t->ab_cycles[1] / t->ab_calls[1];
    }
    int to = t->trial_to;
    t->trial = 0;
    trial_owner = NULL;
    if (t->gen_state == JIT_GEN_DONE && to == t->gen_tier && t->ntiers < JIT_MAX_TIERS)
        t->gen_state = JIT_GEN_PENDING;     /* the generator may offer another variant */
    if (new_cpc < old_cpc) {
        switch_to(t, to);
        jit_say("%s: tier %d -> %d%s kept: %llu < %llu cycles/call (A/B, %d calls each)", t->name,
                t->trial_from, to, t->gen_first >= 0 && to >= t->gen_first ? " (generated)" : "",
                new_cpc, old_cpc, jit_trial_calls);
    } else {
        t->reverts++;
        t->blocked_mask |= 1u << to;
        switch_to(t, t->trial_from);
        jit_say("%s: tier %d -> %d%s reverted: %llu >= %llu cycles/call (A/B, %d calls each), "
                "not retried", t->name, t->trial_from, to,
                t->gen_first >= 0 && to >= t->gen_first ? " (generated)" : "", new_cpc, old_cpc,
                jit_trial_calls);
    }
}
