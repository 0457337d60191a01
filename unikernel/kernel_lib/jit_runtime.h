/* jit_runtime.h - self-profiling and self-optimisation (the "JIT" of the seed design).
 *
 * The application compiles several versions ("tiers") of a hot function ahead of time and
 * calls it through a function pointer (the slot); it may also register a generator, which
 * writes a new tier at run time (jit_codegen.h) when the profile says the function is worth
 * it.  The runtime
 * counts calls and cycles (RDTSC) per name, promotes a function one tier at a time when its
 * call count crosses the warm/hot/very-hot thresholds, then A/B-tests the promotion on the
 * next real calls: the new tier stays only if its cycles per call beat the old tier's,
 * otherwise the slot is switched back and that tier is never tried again (the next tier up
 * may still be tried against the current one).
 *
 * Measured figures differ between machines (and between QEMU and the BareFlow emulator), so
 * everything this module prints starts with "[jit] ".  Tiers must compute identical results:
 * the choice of tier may depend on timing, the output must not.
 */
#ifndef BAREFLOW_JIT_RUNTIME_H
#define BAREFLOW_JIT_RUNTIME_H

#include <stdint.h>

#define JIT_MAX_FUNCS  64                  /* static table: no malloc on the hot path */
#define JIT_MAX_TIERS  4

/* ---- profiling (seed API) ---- */
void jit_profile_begin(const char *func_name);
void jit_profile_end(const char *func_name);
uint64_t jit_get_call_count(const char *func_name);
uint64_t jit_get_avg_cycles(const char *func_name);

/* ---- optimisation (seed API) ---- */
void jit_optimize_hot_functions(void);
void jit_set_threshold(int warm, int hot, int very_hot);
/* Tiered functions: the tier in use (0 = baseline).  Others: 0 cold, 1 warm, 2 hot,
 * 3 very hot, from the call count and the thresholds.  -1: never profiled. */
int jit_get_optimization_level(const char *func_name);

/* ---- additions ---- */
/* Hands the optimiser the tiers of `name` (tiers[0] = baseline, then faster candidates) and
 * the pointer the app calls through.  Sets *slot = tiers[0].  `name` must be the name the app
 * profiles the calls under.  Returns 0, or -1 when the table is full or ntiers is bad. */
int jit_register_tiers(const char *name, void **slot, void *const tiers[], int ntiers);
/* How many calls an A/B trial measures after a promotion (default 8). */
void jit_set_trial_calls(int calls);
/* Per-function figures, for reports. */
struct jit_func_stats {
    const char *name;
    uint64_t calls, total_cycles, min_cycles, max_cycles;
    int tiered, level, ntiers;
    uint32_t blocked_mask;                 /* bit t: tier t lost an A/B test, never retried */
    uint32_t promotions, reverts;
    uint64_t self_cycles;                  /* total minus the profiled names called inside */
    int generated_tier;                    /* tier index of generated code, -1 if none */
};
int jit_func_count(void);
int jit_get_stats(int index, struct jit_func_stats *out);
/* Print each promotion / keep / revert as it happens (default on).  An app that streams its
 * output (TinyLlama prints tokens as they come) turns this off so no line lands mid-text,
 * and reports jit_get_stats() (level, promotions, reverts) at a quiet moment instead. */
void jit_set_verbose(int on);
/* Prints one "[jit] " line per profiled function. */
void jit_print_report(void);
/* Run-time code generation.  gen(name, ctx) writes machine code for `name`'s slot and returns
 * it (or NULL to decline).  jit_optimize_hot_functions() ranks the profiled names by self
 * cycles (inclusive minus the profiled names they call) and, when no A/B trial is running,
 * calls the generator of the most expensive name that still has one pending; the code
 * becomes an extra tier and is A/B-tested against the tier in use like any promotion (kept
 * only if faster).  Each decision is a "[jit] " line (jit_log_flush prints them when the
 * runtime is not verbose).  `name` must be registered with jit_register_tiers first. */
typedef void *(*jit_generator_fn)(const char *name, void *ctx);
int jit_register_generator(const char *name, jit_generator_fn gen, void *ctx);
/* Leave `cycles` out of the running call of `name` (e.g. a generated kernel's one-time check
 * against tier 0): the A/B trial and the figures then measure the kernel, not the check. */
void jit_profile_exclude(const char *name, uint64_t cycles);
/* Forget all profiles and registrations (tests). */
void jit_reset(void);

#endif
