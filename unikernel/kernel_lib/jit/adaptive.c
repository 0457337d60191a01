/* adaptive.c - keep a promotion only if it really made the calls faster.
 *
 * A "faster" tier is only a guess (an unrolled loop can lose to cache effects, an emulator
 * may price SSE differently).  So each promotion is an A/B test on real calls: the old
 * tier's cycles per call are the baseline, the next `jit_trial_calls` calls run the new tier
 * (after one warm-up call that is not counted),
 * and the new tier stays only if its cycles per call are lower.  Otherwise the slot is
 * switched back and the tier is marked blocked, so we do not oscillate.
 */
#include "jit_internal.h"

int jit_trial_calls = 8;
static int verbose = 1;

void jit_set_verbose(int on)
{
    verbose = on;
}
static uint64_t trial_calls_done, trial_cycles;   /* one trial at a time per function... */
static struct jit_tiered *trial_owner;            /* ...and globally, to keep figures clean */

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

void jit_adaptive_start_trial(struct jit_tiered *t, int from, int to)
{
    if (trial_owner && trial_owner != t)
        return;                     /* another function is being measured: next round */
    struct jit_func *f = jit_lookup(t->name, 0);
    /* Baseline: this tier's own record if it has one, else the profile's overall average. */
    if (t->level_calls)
        t->baseline_cpc = t->level_cycles / t->level_calls;
    else
        t->baseline_cpc = f && f->calls ? f->total_cycles / f->calls : ~(uint64_t)0;
    t->trial = 1;
    t->trial_warm = 0;
    t->trial_from = from;
    t->promotions++;
    trial_owner = t;
    trial_calls_done = trial_cycles = 0;
    switch_to(t, to);
    if (verbose)
        kprintf("[jit] %s: tier %d -> %d (baseline %llu cycles/call), measuring %d calls\n",
                t->name, from, to, t->baseline_cpc, jit_trial_calls);
}

void jit_adaptive_on_call(struct jit_tiered *t, uint64_t cycles)
{
    t->level_calls++;
    t->level_cycles += cycles;
    if (!t->trial || trial_owner != t)
        return;
    if (!t->trial_warm) {
        /* The first call of a freshly installed tier pays for cold caches (and, under an
         * emulator, for translating the new code): it says nothing about the steady state. */
        t->trial_warm = 1;
        return;
    }
    trial_calls_done++;
    trial_cycles += cycles;
    if (trial_calls_done < (uint64_t)jit_trial_calls)
        return;
    uint64_t cpc = trial_cycles / trial_calls_done;
    int to = t->level;
    t->trial = 0;
    trial_owner = NULL;
    if (cpc < t->baseline_cpc) {
        if (verbose)
            kprintf("[jit] %s: tier %d kept (%llu < %llu cycles/call)\n", t->name, to, cpc,
                    t->baseline_cpc);
    } else {
        t->reverts++;
        t->blocked_mask |= 1u << to;
        switch_to(t, t->trial_from);
        if (verbose)
            kprintf("[jit] %s: tier %d reverted to %d (%llu >= %llu cycles/call), not retried\n",
                    t->name, to, t->trial_from, cpc, t->baseline_cpc);
    }
}
