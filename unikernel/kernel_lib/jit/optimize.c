/* optimize.c - decide which functions deserve a faster tier.
 *
 * Like a tiering VM (V8, LuaJIT) but ahead-of-time: the app supplies the compiled tiers, we
 * pick.  A function whose call count reaches `warm` may run tier 1, `hot` tier 2, `very_hot`
 * tier 3 (capped by how many tiers it has).  Promotion goes one tier at a time, and only
 * when no A/B trial is running, so every switch is measured against the tier it replaces
 * (adaptive.c); a tier that lost once is skipped from then on, the next one up may still win.
 */
#include "jit_internal.h"

struct jit_tiered jit_tiered_tab[JIT_MAX_FUNCS];
int jit_ntiered;
static int th_warm = 100, th_hot = 1000, th_very_hot = 10000;

void jit_set_threshold(int warm, int hot, int very_hot)
{
    if (warm < 1)
        warm = 1;
    if (hot < warm)
        hot = warm;
    if (very_hot < hot)
        very_hot = hot;
    th_warm = warm;
    th_hot = hot;
    th_very_hot = very_hot;
}

static int level_for_calls(uint64_t calls)
{
    if (calls >= (uint64_t)th_very_hot)
        return 3;
    if (calls >= (uint64_t)th_hot)
        return 2;
    if (calls >= (uint64_t)th_warm)
        return 1;
    return 0;
}

int jit_register_tiers(const char *name, void **slot, void *const tiers[], int ntiers)
{
    if (!name || !slot || !tiers || ntiers < 1 || ntiers > JIT_MAX_TIERS)
        return -1;
    for (int i = 0; i < ntiers; i++)
        if (!tiers[i])
            return -1;
    struct jit_tiered *t = NULL;
    for (int i = 0; i < jit_ntiered; i++)      /* re-registration replaces */
        if (strcmp(jit_tiered_tab[i].name, name) == 0)
            t = &jit_tiered_tab[i];
    if (!t) {
        if (jit_ntiered == JIT_MAX_FUNCS)
            return -1;
        t = &jit_tiered_tab[jit_ntiered++];
    }
    memset(t, 0, sizeof *t);
    t->name = name;
    t->slot = slot;
    t->ntiers = ntiers;
    t->gen_tier = t->gen_first = -1;
    for (int i = 0; i < ntiers; i++)
        t->tiers[i] = tiers[i];
    *slot = tiers[0];
    struct jit_func *f = jit_lookup(name, 1);
    if (f)
        f->tiered = t;
    return 0;
}

int jit_register_generator(const char *name, jit_generator_fn gen, void *ctx)
{
    for (int i = 0; i < jit_ntiered; i++) {
        struct jit_tiered *t = &jit_tiered_tab[i];
        if (strcmp(t->name, name) == 0) {
            if (!gen || t->ntiers >= JIT_MAX_TIERS)
                return -1;
            t->gen = gen;
            t->gen_ctx = ctx;
            t->gen_state = JIT_GEN_PENDING;
            t->gen_tier = t->gen_first = -1;
            return 0;
        }
    }
    return -1;
}

static uint64_t self_of(const struct jit_func *f)
{
    return f->total_cycles > f->child_cycles ? f->total_cycles - f->child_cycles : 0;
}

/* Profile-driven code generation: the most expensive name (self cycles) with a generator
 * pending gets its code now.  After the trial of a generated tier the generator is asked
 * again (adaptive.c re-arms it): it may offer another variant (another instruction
 * selection), which is then A/B-tested against the winner; NULL ends the series.  Returns 1 if a trial was started (nothing else this round). */
static int generate_hottest(void)
{
    if (jit_trial_running())
        return 0;
    uint64_t all = 0;
    struct jit_func *best = NULL;
    for (int i = 0; i < jit_nfuncs; i++) {
        struct jit_func *f = &jit_funcs[i];
        all += self_of(f);
        if (f->tiered && f->tiered->gen_state == JIT_GEN_PENDING && f->calls &&
            (!best || self_of(f) > self_of(best)))
            best = f;
    }
    if (!best || !all)
        return 0;
    /* the ranking the decision was made on: the top names by self cycles */
    char rank[128];
    int len = 0;
    uint32_t done = 0;
    for (int k = 0; k < 4 && len < (int)sizeof rank - 40; k++) {
        int top = -1;
        for (int i = 0; i < jit_nfuncs && i < 32; i++)
            if (!(done & (1u << i)) && (top < 0 || self_of(&jit_funcs[i]) > self_of(&jit_funcs[top])))
                top = i;
        if (top < 0)
            break;
        done |= 1u << top;
        len += snprintf(rank + len, sizeof rank - (size_t)len, "%s%s %u%%", k ? ", " : "",
                        jit_funcs[top].name,
                        (unsigned)(self_of(&jit_funcs[top]) * 100 / all));
    }
    struct jit_tiered *t = best->tiered;
    uint64_t c0 = cpu_rdtsc();
    void *fn = t->ntiers < JIT_MAX_TIERS ? t->gen(t->name, t->gen_ctx) : NULL;
    uint64_t spent = cpu_rdtsc() - c0;
    if (!fn && t->gen_first >= 0) {
        t->gen_state = JIT_GEN_DONE;          /* no further variant: the trials have decided */
        return 0;
    }
    if (!fn) {
        t->gen_state = JIT_GEN_DECLINED;
        jit_say("profile (self cycles): %s -> generate %s: declined, compiled tiers only", rank,
                t->name);
        return 0;
    }
    t->gen_tier = t->ntiers;
    if (t->gen_first < 0)
        t->gen_first = t->gen_tier;
    t->tiers[t->ntiers++] = fn;
    t->gen_state = JIT_GEN_DONE;
    jit_say("profile (self cycles): %s -> generate %s: tier %d, %llu cycles", rank, t->name,
            t->gen_tier, spent);
    jit_adaptive_start_trial(t, t->level, t->gen_tier);
    return 1;
}

void jit_optimize_hot_functions(void)
{
    if (generate_hottest())
        return;
    for (int i = 0; i < jit_ntiered; i++) {
        struct jit_tiered *t = &jit_tiered_tab[i];
        if (t->trial)
            continue;               /* let the running A/B test finish first */
        struct jit_func *f = jit_lookup(t->name, 0);
        if (!f)
            continue;
        int want = level_for_calls(f->calls);
        if (want > t->ntiers - 1)
            want = t->ntiers - 1;
        if (t->gen_first >= 0 && want >= t->gen_first)
            want = t->gen_first - 1;        /* generated code is tried only by its generator */
        /* the next tier above the current one that has not lost a trial yet */
        int next = t->level + 1;
        while (next <= want && (t->blocked_mask & (1u << next)))
            next++;
        if (next > want)
            continue;
        jit_adaptive_start_trial(t, t->level, next);
    }
}

int jit_get_optimization_level(const char *func_name)
{
    struct jit_func *f = jit_lookup(func_name, 0);
    if (f && f->tiered)
        return f->tiered->level;
    for (int i = 0; i < jit_ntiered; i++)
        if (strcmp(jit_tiered_tab[i].name, func_name) == 0)
            return jit_tiered_tab[i].level;
    return f ? level_for_calls(f->calls) : -1;
}

void jit_reset(void)
{
    memset(jit_funcs, 0, sizeof jit_funcs);
    memset(jit_tiered_tab, 0, sizeof jit_tiered_tab);
    jit_nfuncs = jit_ntiered = 0;
    jit_adaptive_reset();
    jit_lookup("", 0);              /* drops the lookup cache (no entry matches) */
}
