/* profile.c - per-name call counts and RDTSC cycles.
 *
 * jit_profile_begin/end bracket a call.  Names are matched by pointer first (the app passes
 * the same string literal every time, so this is one compare) and by strcmp only when the
 * pointer is new; a one-entry cache makes the common begin/end pair cost two compares.
 * Nested begin/end of the same name (recursion) is timed once, at the outermost level.
 */
#include "jit_internal.h"

struct jit_func jit_funcs[JIT_MAX_FUNCS];
int jit_nfuncs;
static struct jit_func *last;
static struct jit_func *active;            /* innermost profiled name running now */
static int overflow_reported;

struct jit_func *jit_lookup(const char *name, int create)
{
    if (last && last->name == name)
        return last;
    for (int i = 0; i < jit_nfuncs; i++)
        if (jit_funcs[i].name == name)
            return last = &jit_funcs[i];
    for (int i = 0; i < jit_nfuncs; i++)
        if (strcmp(jit_funcs[i].name, name) == 0)
            return last = &jit_funcs[i];
    if (!create)
        return NULL;
    if (jit_nfuncs == JIT_MAX_FUNCS) {
        if (!overflow_reported) {
            overflow_reported = 1;
            kprintf("[jit] profile table full (%d names): '%s' not profiled\n", JIT_MAX_FUNCS,
                    name);
        }
        return NULL;
    }
    struct jit_func *f = &jit_funcs[jit_nfuncs++];
    if (jit_nfuncs == 1)
        active = NULL;                      /* after jit_reset */
    memset(f, 0, sizeof *f);
    f->name = name;
    f->min_cycles = ~(uint64_t)0;
    for (int i = 0; i < jit_ntiered; i++)     /* registered before its first call? */
        if (strcmp(jit_tiered_tab[i].name, name) == 0)
            f->tiered = &jit_tiered_tab[i];
    return last = f;
}

void jit_profile_begin(const char *func_name)
{
    struct jit_func *f = jit_lookup(func_name, 1);
    if (!f)
        return;
    if (f->depth++ == 0) {
        f->outer = active;
        active = f;
        f->start = cpu_rdtsc();
    }
}

void jit_profile_end(const char *func_name)
{
    uint64_t now = cpu_rdtsc();
    struct jit_func *f = jit_lookup(func_name, 0);
    if (!f || f->depth == 0)
        return;                     /* end without begin: ignore rather than corrupt */
    if (--f->depth)
        return;
    uint64_t c = now - f->start;
    if (active == f) {
        active = f->outer;
        if (active)
            active->child_cycles += c;     /* so the optimiser can rank by self cycles */
    }
    f->calls++;
    f->total_cycles += c;
    if (c < f->min_cycles)
        f->min_cycles = c;
    if (c > f->max_cycles)
        f->max_cycles = c;
    if (f->tiered)
        jit_adaptive_on_call(f->tiered, c);
}

void jit_profile_exclude(const char *func_name, uint64_t cycles)
{
    struct jit_func *f = jit_lookup(func_name, 0);
    if (f && f->depth)
        f->start += cycles;
}

uint64_t jit_get_call_count(const char *func_name)
{
    struct jit_func *f = jit_lookup(func_name, 0);
    return f ? f->calls : 0;
}

uint64_t jit_get_avg_cycles(const char *func_name)
{
    struct jit_func *f = jit_lookup(func_name, 0);
    return f && f->calls ? f->total_cycles / f->calls : 0;
}

int jit_func_count(void)
{
    return jit_nfuncs;
}

int jit_get_stats(int index, struct jit_func_stats *out)
{
    if (index < 0 || index >= jit_nfuncs)
        return -1;
    const struct jit_func *f = &jit_funcs[index];
    memset(out, 0, sizeof *out);
    out->name = f->name;
    out->calls = f->calls;
    out->total_cycles = f->total_cycles;
    out->min_cycles = f->calls ? f->min_cycles : 0;
    out->max_cycles = f->max_cycles;
    out->self_cycles = f->total_cycles > f->child_cycles ? f->total_cycles - f->child_cycles : 0;
    out->level = jit_get_optimization_level(f->name);
    if (f->tiered) {
        out->tiered = 1;
        out->ntiers = f->tiered->ntiers;
        out->blocked_mask = f->tiered->blocked_mask;
        out->promotions = f->tiered->promotions;
        out->reverts = f->tiered->reverts;
        out->generated_tier = f->tiered->gen_first;
    }
    return 0;
}

void jit_print_report(void)
{
    for (int i = 0; i < jit_nfuncs; i++) {
        struct jit_func_stats s;
        jit_get_stats(i, &s);
        uint32_t avg = s.calls ? (uint32_t)(s.total_cycles / s.calls) : 0;
        if (s.tiered)
            kprintf("[jit] %-16s calls=%llu avg=%u min=%llu max=%llu tier=%d/%d promotions=%u "
                    "reverts=%u\n", s.name, s.calls, avg, s.min_cycles, s.max_cycles, s.level,
                    s.ntiers - 1, s.promotions, s.reverts);
        else
            kprintf("[jit] %-16s calls=%llu avg=%u min=%llu max=%llu level=%d\n", s.name,
                    s.calls, avg, s.min_cycles, s.max_cycles, s.level);
    }
}
