/* jit_internal.h - the tables shared by profile.c, optimize.c and adaptive.c. */
#ifndef BAREFLOW_JIT_INTERNAL_H
#define BAREFLOW_JIT_INTERNAL_H

#include "../jit_runtime.h"
#include "../runtime.h"
#include "../jit_codegen.h"

struct jit_tiered;

/* One profiled name.  Static storage: looking up and updating never allocates. */
struct jit_func {
    const char *name;
    uint64_t calls, total_cycles, min_cycles, max_cycles;
    uint64_t start;                 /* RDTSC at the outermost begin */
    int depth;                      /* nesting: recursive calls count once, outermost timed */
    struct jit_tiered *tiered;      /* non-NULL when the app registered tiers for this name */
    uint64_t child_cycles;          /* cycles of other profiled names called from inside */
    struct jit_func *outer;         /* the profiled name that was running at our begin */
};

/* A function with several compiled versions, called through *slot. */
struct jit_tiered {
    const char *name;
    void **slot;
    void *tiers[JIT_MAX_TIERS];
    int ntiers;
    int level;                      /* tier in *slot */
    uint32_t blocked_mask;          /* bit t: tier t lost an A/B test, never again */
    /* the current tier's own record, reset on every switch */
    uint64_t level_calls, level_cycles;
    /* an A/B trial in progress */
    int trial;                      /* 1 while measuring a fresh promotion */
    int trial_warm;                 /* 0 until the trial's warm-up call has run */
    int trial_from;                 /* the tier to go back to */
    int trial_to;                   /* the tier on trial */
    uint64_t baseline_cpc;          /* cycles per call of trial_from before the trial */
    uint64_t ab_calls[2], ab_cycles[2];   /* interleaved trial calls: [0] old tier, [1] new */
    uint64_t ab_max[2];                   /* the slowest call of each side (dropped) */
    uint32_t promotions, reverts;
    /* run-time code generation (optimize.c) */
    jit_generator_fn gen;
    void *gen_ctx;
    int gen_state;                  /* JIT_GEN_NONE / PENDING / DONE / DECLINED */
    int gen_tier;                   /* the tier index the latest generated code got, or -1 */
    int gen_first;                  /* the first generated tier: compiled tiers are below it */
};
enum { JIT_GEN_NONE, JIT_GEN_PENDING, JIT_GEN_DONE, JIT_GEN_DECLINED };

extern struct jit_func jit_funcs[JIT_MAX_FUNCS];
extern int jit_nfuncs;
extern struct jit_tiered jit_tiered_tab[JIT_MAX_FUNCS];
extern int jit_ntiered;
extern int jit_trial_calls;

struct jit_func *jit_lookup(const char *name, int create);
/* adaptive.c: print now (verbose) or keep for jit_log_flush() */
void jit_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* adaptive.c: called by jit_profile_end for tiered functions, with the call's cycles. */
void jit_adaptive_on_call(struct jit_tiered *t, uint64_t cycles);
/* adaptive.c: start measuring a promotion from `from` to `to`. */
void jit_adaptive_start_trial(struct jit_tiered *t, int from, int to);
void jit_adaptive_reset(void);
int jit_trial_running(void);

#endif
