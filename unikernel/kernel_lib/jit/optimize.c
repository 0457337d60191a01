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
    for (int i = 0; i < ntiers; i++)
        t->tiers[i] = tiers[i];
    *slot = tiers[0];
    struct jit_func *f = jit_lookup(name, 1);
    if (f)
        f->tiered = t;
    return 0;
}

void jit_optimize_hot_functions(void)
{
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
