/*
 * BareFlow native fast path: the per-block callback Unicorn calls on every executed
 * translation block, plus the RDTSC hook.
 *
 * Why native: a Python UC_HOOK_BLOCK costs 8-20x the guest's own speed; this callback
 * costs ~1.0x.  Python is entered only the first time a (pc, size) block is seen and the
 * price cache (read here: fastpath_prices.c) does not hold it, to price it with the documented
 * cost model (emu/costs.py); after that every execution is a hash lookup and a few additions:
 *   - the cycle clock and instruction count (exact, deterministic);
 *   - a deadline: when the clock reaches the next device event (or a pause is asked), the
 *     callback stops the engine BEFORE the block runs (Unicorn re-runs it on resume), so
 *     nothing is charged twice;
 *   - the exact per-function profile: exclusive cycles per block, calls and inclusive
 *     cycles through a shadow call stack (blocks ending in CALL push, blocks ending in
 *     RET/IRET pop when execution lands on the saved return address).
 *
 * The module is loaded with ctypes (no Python C-API in the hot path); the tiny PyInit at the
 * end only makes it a valid extension module so that setuptools builds and installs it.
 */
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef void uc_engine;
typedef int (*uc_emu_stop_fn)(uc_engine *);
typedef int (*uc_reg_read_fn)(uc_engine *, int, void *);
typedef int (*uc_reg_write_fn)(uc_engine *, int, const void *);
typedef int (*miss_fn)(void *state, uint64_t pc, uint32_t size);

/* Unicorn x86 register ids (unicorn/x86.h, 2.1.x). */
#define UC_X86_REG_EAX 19
#define UC_X86_REG_EDX 24
#define UC_X86_REG_EIP 26
#define UC_X86_REG_CS 11
#define UC_X86_REG_EFLAGS 25
#define EFLAGS_IF 0x200u


enum { END_OTHER = 0, END_CALL = 1, END_RET = 2, END_JCC = 3, END_IRET = 4 };
enum { STOP_NONE = 0, STOP_DEADLINE = 1, STOP_MISS_ERROR = 2, STOP_IRQ_WINDOW = 3 };
/* Flag in entry.ends: the block holds an instruction that may set IF (STI, POPF). */
#define ENDS_KIND_MASK 0xffu
#define ENDS_MAY_SET_IF 0x100u
#define MAX_RDTSC 4
#define STACK_DEPTH 4096
#define RING 32
#define XD_LIMIT 0x110000u   /* real-mode linear space (with the HMA) the code map covers */

/* Field order: everything fp_block_hook reads and writes of a block (and of the block before
 * it: succ, ends, taken_extra, excl) is in the first 64 bytes, and entries are 64-byte aligned
 * (fastpath_table.c), so a block's execution touches one cache line of its entry, not two
 * (perf annotate showed the hook waiting on prev->succ and e->pc: issue 11). */
typedef struct entry {
    uint64_t pc;        /* linear address of the block */
    uint32_t size;      /* bytes */
    uint16_t used;      /* 1 live, 2 dead (re-translated, invalidated; on the free list) */
    uint16_t ends;      /* END_* | ENDS_MAY_SET_IF */
    uint32_t cost;      /* modelled cycles, final Jcc counted not taken */
    uint32_t ninsn;
    int32_t func;       /* profiler function index */
    uint32_t taken_extra;
    /* the last two successor blocks linked, the newer in [0] (a two-way cache: both ways of a
     * Jcc; a miss replaces [1], a hit moves nothing); bit 0 of a link: the edge is the Jcc's
     * taken branch (taken_extra is due).  A link may point at a dead or reused entry: see
     * fp_block_hook */
    uintptr_t succ[2];
    uint64_t excl;      /* exclusive cycles not yet in func_excl[func] (fp_fold_excl) */
    uint32_t first_cost;/* cycles of the first instruction alone (single-step) */
    uint32_t pad;
    /* ---- 64 bytes: the rest is read only off the hook's common path */
    uint64_t target;    /* static branch target of the final Jcc, or ~0 */
    uint64_t fallthrough;
    uint32_t nrdtsc;
    uint32_t rdtsc_off[MAX_RDTSC];    /* offset of each RDTSC from pc */
    uint32_t rdtsc_prefix[MAX_RDTSC]; /* cycles before it in the block */
    uint32_t ntimed;    /* slots used: the RDTSCs, then IN/OUTs (emu/fastpath_ports.c) */
    uint32_t xflags;    /* XF_* (native delivery, below): set by fp_set_xflags after insert */
} __attribute__((aligned(64))) entry_t;
_Static_assert(offsetof(entry_t, pad) + sizeof(uint32_t) <= 64, "the hot fields fill one cache line");
#define LINK_TAKEN ((uintptr_t)1)
#define LINK_ENTRY(l) ((entry_t *)((l) & ~(uintptr_t)63))

/* A slot of the hash index (fastpath_table.c): the key's hash and entry number + 2 (0 empty,
 * 1 tombstone). */
typedef struct { uint32_t tag; uint32_t ref; } islot_t;

typedef struct {
    uint64_t ret;
    uint64_t start;
    int32_t func;
    int32_t pad;
} frame_t;

/* The header is mirrored by a ctypes Structure in emu/fastpath.py: keep the order. */
typedef struct {
    uint64_t cycles;        /* modelled cycles retired (block charged at entry) */
    uint64_t instructions;
    uint64_t deadline;      /* stop before any block that starts at cycles >= deadline */
    uint64_t block_base;    /* cycles when the current block started */
    uint64_t blocks;        /* executed blocks */
    uint64_t misses;
    uint32_t stop_reason;
    uint32_t step_mode;     /* 1: charge only the first instruction of the block */
    uint32_t profiling;     /* 1: maintain the per-function table */
    uint32_t nfuncs;        /* capacity of the function arrays */
    uint64_t *func_excl;
    uint64_t *func_incl;
    uint64_t *func_calls;
    uint32_t *func_active;
    uint32_t sp;            /* shadow stack depth */
    uint32_t irq_pending;   /* an IRQ waits for IF: stop after a block that may set IF */
    uint32_t skip_window;   /* one-shot: the machine looked already, IF stayed clear */
    uint32_t ring_pos;      /* next slot in `ring` */
    uint64_t ring[RING];    /* the last blocks executed (pc), for crash reports */
    /* private */
    entry_t *prev;          /* the block that ran before (its edges: taken Jcc, call, ret) */
    entry_t *cur;           /* the block running now */
    entry_t *table;         /* the dense entry array (fastpath_table.c), never moved */
    uint32_t mask;          /* index slots - 1 */
    uint32_t live;
    uint32_t tombs;
    uc_emu_stop_fn emu_stop;
    uc_reg_read_fn reg_read;
    uc_reg_write_fn reg_write;
    miss_fn miss;
    frame_t stack[STACK_DEPTH];
    uint64_t retranslated;  /* priced blocks dropped because Unicorn translated them again */
    uint16_t *codemap;      /* native delivery: priced blocks per byte of real-mode memory (or NULL) */
    struct ps_state *prices;/* the price cache read natively (emu/fastpath_prices.c), or NULL */
    islot_t *index;         /* hash index over `table` (fastpath_table.c) */
    uint32_t nents;         /* entries used in `table` (live or dead) */
    uint32_t nfree;         /* dead entries waiting for reuse */
    uint32_t freecap;
    uint32_t *freelist;
    size_t table_len, index_len;
    uint64_t lookups;       /* successor-cache misses (the hash index was probed) */
    /* the deadline branch's native takers (emu/fastpath_hpetexp.c chained before
     * emu/fastpath_lapictick.c): 1 = the LAPIC tick delivered, the block is neither charged
     * nor run; 2 = an HPET expiry was done and the deadline moved: look again; 0 = stop */
    int (*on_deadline)(void *user, uc_engine *uc);
    void *on_deadline_user;
    uint64_t guard_lo, guard_hi;  /* a block priced overlapping this range counts a guard hit */
    uint64_t guard_hits;
} fp_state;

static void codemap_add(fp_state *st, const entry_t *e, int delta);
static int ps_try(fp_state *st, uc_engine *uc, uint64_t pc, uint32_t size);   /* fastpath_prices.c */

/* The dense entry array, its hash index, the profile fold: emu/fastpath_table.c. */
#include "fastpath_table.c"

fp_state *fp_new(uint32_t nfuncs) {
    fp_state *st = (fp_state *)calloc(1, sizeof(fp_state));
    if (!st) return NULL;
    if (table_init(st, 1u << 14) != 0) {
        table_free(st);
        free(st);
        return NULL;
    }
    st->deadline = UINT64_MAX;
    st->nfuncs = nfuncs ? nfuncs : 1;
    st->func_excl = (uint64_t *)calloc(st->nfuncs, sizeof(uint64_t));
    st->func_incl = (uint64_t *)calloc(st->nfuncs, sizeof(uint64_t));
    st->func_calls = (uint64_t *)calloc(st->nfuncs, sizeof(uint64_t));
    st->func_active = (uint32_t *)calloc(st->nfuncs, sizeof(uint32_t));
    st->profiling = 1;
    return st;
}

void fp_free(fp_state *st) {
    if (!st) return;
    table_free(st);
    free(st->func_excl);
    free(st->func_incl);
    free(st->func_calls);
    free(st->func_active);
    free(st->codemap);
    free(st);
}

void fp_set_api(fp_state *st, void *emu_stop, void *reg_read, void *reg_write, void *miss) {
    st->emu_stop = (uc_emu_stop_fn)emu_stop;
    st->reg_read = (uc_reg_read_fn)reg_read;
    st->reg_write = (uc_reg_write_fn)reg_write;
    st->miss = (miss_fn)miss;
}

/* Grow the function arrays (pseudo-functions are added as code is discovered). */
int fp_ensure_funcs(fp_state *st, uint32_t n) {
    if (n <= st->nfuncs) return 0;
    uint32_t cap = st->nfuncs;
    while (cap < n) cap *= 2;
    uint64_t *a = realloc(st->func_excl, cap * sizeof(uint64_t));
    if (!a) return -1;
    st->func_excl = a;
    a = realloc(st->func_incl, cap * sizeof(uint64_t));
    if (!a) return -1;
    st->func_incl = a;
    a = realloc(st->func_calls, cap * sizeof(uint64_t));
    if (!a) return -1;
    st->func_calls = a;
    uint32_t *b = realloc(st->func_active, cap * sizeof(uint32_t));
    if (!b) return -1;
    st->func_active = b;
    for (uint32_t i = st->nfuncs; i < cap; i++) {
        st->func_excl[i] = st->func_incl[i] = st->func_calls[i] = 0;
        st->func_active[i] = 0;
    }
    st->nfuncs = cap;
    return 0;
}

/* Called by Python (from the miss callback) to record a priced block. */
int fp_insert(fp_state *st, uint64_t pc, uint32_t size, uint32_t cost, uint32_t first_cost,
              uint32_t ninsn, uint32_t taken_extra, uint64_t target, uint64_t fallthrough,
              int32_t func, uint32_t ends, uint32_t nrdtsc, const uint32_t *rdtsc_off,
              const uint32_t *rdtsc_prefix) {
    if ((st->live + st->tombs + 1) * 2 > st->mask + 1) rehash(st, (st->mask + 1) * 2);
    int64_t slot = find_slot(st, pc, size);
    int fresh = slot < 0;
    uint32_t i;
    if (slot >= 0) {
        i = (uint32_t)slot;
        fold_entry(st, &st->table[i]);   /* its cycles stay with the function it had */
        st->table[i].succ[0] = st->table[i].succ[1] = 0;   /* their taken flags came from its old target */
    } else {
        slot = entry_new(st, pc, size);
        if (slot < 0) return -1;
        i = (uint32_t)slot;
    }
    entry_t *e = &st->table[i];
    e->pc = pc;
    e->size = size;
    e->used = 1;
    e->cost = cost;
    e->first_cost = first_cost;
    e->ninsn = ninsn;
    e->taken_extra = taken_extra;
    e->target = target;
    e->fallthrough = fallthrough;
    e->func = func;
    e->ends = ends;
    /* bits 8-15 of nrdtsc: how many slots are used in all, IN/OUTs after the RDTSCs */
    uint32_t ntimed = nrdtsc >> 8;
    nrdtsc &= 0xff;
    e->nrdtsc = nrdtsc > MAX_RDTSC ? MAX_RDTSC : nrdtsc;
    e->ntimed = ntimed > MAX_RDTSC ? MAX_RDTSC : ntimed < e->nrdtsc ? e->nrdtsc : ntimed;
    for (uint32_t k = 0; k < e->ntimed; k++) {
        e->rdtsc_off[k] = rdtsc_off[k];
        e->rdtsc_prefix[k] = rdtsc_prefix[k];
    }
    e->xflags = 0;
    if (pc < st->guard_hi && pc + size > st->guard_lo) st->guard_hits++;   /* fastpath_lapictick.c */
    if (fresh) codemap_add(st, e, 1);
    if (func >= 0) fp_ensure_funcs(st, (uint32_t)func + 1);
    return (int)i;
}

/* Forget priced blocks overlapping [lo, hi): code there changed (disk read, loader). */
uint32_t fp_invalidate(fp_state *st, uint64_t lo, uint64_t hi) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->nents; i++) {
        entry_t *e = &st->table[i];
        if (e->used == 1 && e->pc < hi && e->pc + e->size > lo) {
            codemap_add(st, e, -1);
            entry_kill(st, i);
            n++;
        }
    }
    if (n) {
        /* links to dead entries are harmless (the hot path checks `used` and the key) but
         * useless: drop them */
        for (uint32_t i = 0; i < st->nents; i++) {
            entry_t *e = &st->table[i];
            for (int w = 0; w < 2; w++)
                if (e->succ[w] && LINK_ENTRY(e->succ[w])->used != 1) e->succ[w] = 0;
        }
        if (st->prev && st->prev->used != 1) st->prev = NULL;
        if (st->cur && st->cur->used != 1) st->cur = NULL;
    }
    return n;
}

void fp_clear(fp_state *st) {
    table_clear(st);
    if (st->codemap) memset(st->codemap, 0, XD_LIMIT * sizeof(uint16_t));
    st->cur = st->prev = NULL;
}

uint32_t fp_live_blocks(fp_state *st) { return st->live; }

/* Copy the live entries' (pc, size, count-less) keys out, for snapshots and debugging. */
uint32_t fp_dump_keys(fp_state *st, uint64_t *pcs, uint32_t *sizes, uint32_t cap) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->nents && n < cap; i++) {
        if (st->table[i].used == 1) {
            pcs[n] = st->table[i].pc;
            sizes[n] = st->table[i].size;
            n++;
        }
    }
    return n;
}

/* Shadow call stack: also used by Python when it delivers an interrupt (a "call" of the
 * handler that the matching IRET returns from). */
void fp_push_frame(fp_state *st, uint64_t ret, int32_t func, uint64_t start) {
    if (func >= 0 && (uint32_t)func < st->nfuncs) {
        st->func_calls[func]++;
        st->func_active[func]++;
    }
    if (st->sp < STACK_DEPTH) {
        frame_t *f = &st->stack[st->sp++];
        f->ret = ret;
        f->func = func;
        f->start = start;
    }
}

static inline void pop_frame(fp_state *st, uint64_t now) {
    frame_t *f = &st->stack[--st->sp];
    int32_t fn = f->func;
    if (fn >= 0 && (uint32_t)fn < st->nfuncs && st->func_active[fn] > 0) {
        if (--st->func_active[fn] == 0) st->func_incl[fn] += now - f->start;
    }
}

/* Execution landed on `pc` after a RET/IRET: unwind to the frame that returns there. */
static inline void unwind_to(fp_state *st, uint64_t pc, uint64_t now) {
    if (st->sp == 0) return;
    if (st->stack[st->sp - 1].ret == pc) {
        pop_frame(st, now);
        return;
    }
    /* longjmp-style exits: look a few frames down; leave the stack alone otherwise */
    uint32_t lim = st->sp > 64 ? st->sp - 64 : 0;
    for (uint32_t k = st->sp - 1; k-- > lim;) {
        if (st->stack[k].ret == pc) {
            while (st->sp > k) pop_frame(st, now);
            return;
        }
    }
}

/* Close every open frame at `now` (end of run), so inclusive totals are complete. */
void fp_flush_frames(fp_state *st, uint64_t now) {
    while (st->sp > 0) pop_frame(st, now);
}

/* Inclusive cycles of still-open activations, without closing them (live views). */
uint64_t fp_open_incl(fp_state *st, int32_t func, uint64_t now) {
    uint64_t earliest = UINT64_MAX;
    for (uint32_t k = 0; k < st->sp; k++)
        if (st->stack[k].func == func && st->stack[k].start < earliest) earliest = st->stack[k].start;
    return earliest == UINT64_MAX ? 0 : now - earliest;
}

void fp_reset_counters(fp_state *st) {
    st->cycles = st->instructions = st->blocks = 0;
    st->block_base = 0;
    st->sp = 0;
    st->prev = st->cur = NULL;
    memset(st->func_excl, 0, st->nfuncs * sizeof(uint64_t));
    memset(st->func_incl, 0, st->nfuncs * sizeof(uint64_t));
    memset(st->func_calls, 0, st->nfuncs * sizeof(uint64_t));
    memset(st->func_active, 0, st->nfuncs * sizeof(uint32_t));
    for (uint32_t i = 0; i < st->nents; i++) st->table[i].excl = 0;
}

/* Undo part of the current block's charge: it stopped after `retired` instructions
 * costing `retired_cycles` (a fault, a breakpoint inside the block). */
void fp_uncharge_current(fp_state *st, uint32_t retired, uint32_t retired_cycles) {
    entry_t *e = st->cur;
    if (!e || e->used != 1) return;
    uint32_t charged = st->step_mode ? e->first_cost : e->cost;
    uint32_t charged_n = st->step_mode ? 1 : e->ninsn;
    if (retired_cycles > charged) retired_cycles = charged;
    if (retired > charged_n) retired = charged_n;
    uint64_t back = charged - retired_cycles;
    st->cycles -= back;
    st->instructions -= (charged_n - retired);
    if (st->profiling && e->func >= 0 && (uint32_t)e->func < st->nfuncs) e->excl -= back;   /* folded later */
    /* what follows is not the block's natural successor */
    st->prev = NULL;
}

/* Forget the "previous block" link (after an interrupt was delivered, a jump by Python). */
void fp_break_chain(fp_state *st) { st->prev = NULL; }

/* ---------------------------------------------------------------- the hot path */
/* The slow paths are out of line: the hook's common case then needs few registers and no
 * stack frame (perf annotate showed its prologue and epilogue among the hot instructions). */
static __attribute__((noinline)) void call_ret_edge(fp_state *st, entry_t *prev, entry_t *e, uint64_t pc, uint64_t now) {
    uint32_t pe = prev->ends & ENDS_KIND_MASK;
    if (pe == END_CALL) fp_push_frame(st, prev->fallthrough, e->func, now);
    else if (pe == END_RET || pe == END_IRET) unwind_to(st, pc, now);
}

static __attribute__((noinline)) entry_t *lookup_or_miss(fp_state *st, uc_engine *uc, uint64_t pc, uint32_t size) {
    st->lookups++;
    int64_t slot = find_slot(st, pc, size);
    if (slot < 0) {
        uint64_t prev_pc = 0;
        uint32_t prev_size = 0;
        int had_prev = st->prev != NULL;
        if (had_prev) { prev_pc = st->prev->pc; prev_size = st->prev->size; }
        if (st->prices && ps_try(st, uc, pc, size) && (slot = find_slot(st, pc, size)) >= 0) {
            /* priced from the cache without Python (emu/fastpath_prices.c) */
        } else {
            st->misses++;
            if (st->miss(st, pc, size) != 0 || (slot = find_slot(st, pc, size)) < 0) {
                st->stop_reason = STOP_MISS_ERROR;
                st->emu_stop(uc);
                return NULL;
            }
        }
        /* the table may have been rebuilt: find the previous block again */
        if (had_prev) {
            int64_t ps = find_slot(st, prev_pc, prev_size);
            st->prev = ps >= 0 ? &st->table[ps] : NULL;
        }
    }
    return &st->table[slot];
}

/* The IRQ window: a block that may set IF (POPF, STI, IRET) ran while an interrupt waits.
 * IF lives in env->eflags itself (not in the lazily computed arithmetic flags), so reading it
 * here is exact; only when it really is set does the machine have to deliver.  Code that keeps
 * IF clear and saves its flags with PUSHF/POPF in a loop (GRUB's LZMA decoder, Linux's
 * local_irq_save/restore with interrupts off) then runs on without a trip through Python. */
static __attribute__((noinline)) int if_now_set(fp_state *st, uc_engine *uc) {
    uint64_t fl = 0;
    if (st->reg_read(uc, UC_X86_REG_EFLAGS, &fl) != 0) return 1;
    return (fl & EFLAGS_IF) != 0;
}

/* The successor cache missed: find (or price) the block, and link it from the block before,
 * with the taken-Jcc decision for this edge computed once (it depends only on the previous
 * block's static target and fall-through and on pc). */
static __attribute__((noinline)) entry_t *miss_path(fp_state *st, uc_engine *uc, uint64_t pc, uint32_t size,
                                                    uintptr_t *link) {
    entry_t *e = lookup_or_miss(st, uc, pc, size);
    if (!e) return NULL;
    entry_t *prev = st->prev;
    uintptr_t l = (uintptr_t)e;
    if (prev) {
        if ((prev->ends & ENDS_KIND_MASK) == END_JCC && pc == prev->target && pc != prev->fallthrough)
            l |= LINK_TAKEN;
        prev->succ[1] = prev->succ[0];
        prev->succ[0] = l;
    }
    *link = l;
    return e;
}

/* Charge block e, which starts at `now` (the common tail of both paths). */
static inline __attribute__((always_inline)) void charge(fp_state *st, entry_t *e, uint64_t pc, uint64_t now,
                                                         uint32_t cost, uint32_t n) {
    st->block_base = now;
    st->cycles = now + cost;
    st->instructions += n;
    st->blocks++;
    st->cur = e;
    st->skip_window = 0;
    st->ring[st->ring_pos++ & (RING - 1)] = pc;
    /* exclusive cycles: on the entry's own line (fp_fold_excl moves them to func_excl) */
    if (st->profiling) e->excl += cost;
    /* no prefetch of the likely next entries: measured (issue 11), it cost the hook ~2% of the
     * boot's CPU and saved nothing elsewhere (the line is usually still cached) */
}

/* Every case: the deadline, the first block, a successor-cache miss (lookup, pricing), the IRQ
 * window, calls and returns, step mode.  fp_block_hook below takes the common case itself. */
static __attribute__((noinline)) void hook_general(uc_engine *uc, uint64_t pc, uint32_t size, fp_state *st) {
    if (__builtin_expect(st->cycles >= st->deadline, 0)) {
        /* the native takers: 1 = the local APIC timer's interrupt taken here
         * (fastpath_lapictick.c: execution goes to the handler, this block is neither charged
         * nor run); 2 = an HPET timer's quiet expiry done here (fastpath_hpetexp.c: the
         * deadline moved on, look again, then run the block as usual); 0 = stop */
        int r = 0;
        for (int k = 0; k < 4 && st->on_deadline; k++) {
            r = st->on_deadline(st->on_deadline_user, uc);
            if (r != 2 || st->cycles < st->deadline) break;
        }
        if (r == 1) return;
        if (r != 2 || st->cycles >= st->deadline) {
            /* stop before this block runs; it is re-run (and charged) on resume */
            st->stop_reason = STOP_DEADLINE;
            st->emu_stop(uc);
            return;
        }
    }
    entry_t *prev = st->prev, *e;
    uintptr_t link;
    /* successor cache: loops and straight-line code find their block without hashing.  A link
     * may point at a dead entry (a block Unicorn translated again: fp_tb_generated leaves the
     * links, it does not scan the table) or at one reused for another block: `used` and the
     * key, on the line the hook loads anyway, tell. */
#define LINK_HIT(l) ((e = LINK_ENTRY(l)) != NULL && e->pc == pc && e->size == size && e->used == 1)
    if (__builtin_expect(prev != NULL, 1) && LINK_HIT(link = prev->succ[0])) {
        /* the most recent successor */
    } else if (prev != NULL && LINK_HIT(link = prev->succ[1])) {
        /* the other way (links are replaced oldest first, never swapped) */
    } else {
        e = miss_path(st, uc, pc, size, &link);
        if (!e) return;
        prev = st->prev;
    }
#undef LINK_HIT
    uint64_t now = st->cycles;
    if (prev && prev->ends) {
        if ((prev->ends & ENDS_MAY_SET_IF) && st->irq_pending && !st->skip_window && if_now_set(st, uc)) {
            /* the guest may just have enabled interrupts: let the machine deliver first */
            st->stop_reason = STOP_IRQ_WINDOW;
            st->emu_stop(uc);
            return;
        }
        if (link & LINK_TAKEN) {
            /* the previous block's final Jcc was taken (the link says: pc is its target) */
            now += prev->taken_extra;
            if (st->profiling) prev->excl += prev->taken_extra;   /* folded into func_excl later */
        } else if (st->profiling && (prev->ends & ENDS_KIND_MASK) != END_JCC
                   && (prev->ends & ENDS_KIND_MASK) != END_OTHER) {
            call_ret_edge(st, prev, e, pc, now);
        }
    }
    uint32_t cost, n;
    if (__builtin_expect(st->step_mode, 0)) {
        cost = e->first_cost;
        n = 1;
        st->prev = e->ninsn > 1 ? NULL : e;
    } else {
        cost = e->cost;
        n = e->ninsn;
        st->prev = e;
    }
    charge(st, e, pc, now, cost, n);
}

/* The common case, with no call but a tail call (so no stack frame, few registers): the
 * deadline is ahead, one of the previous block's two successor links is this block, no IRQ
 * window is to be checked, not in step mode.  Anything else goes to hook_general, which does the
 * same and the rest.  A call or a return is recorded after the charge (the shadow stack and
 * the counters are apart: the order does not matter). */
void fp_block_hook(uc_engine *uc, uint64_t pc, uint32_t size, void *user) {
    fp_state *st = (fp_state *)user;
    entry_t *prev = st->prev;
    uint64_t now = st->cycles;
    if (__builtin_expect(now >= st->deadline || prev == NULL || st->step_mode, 0)) goto general;
    uintptr_t link = prev->succ[0];
    entry_t *e = LINK_ENTRY(link);
    if (__builtin_expect(e == NULL || e->pc != pc || e->size != size || e->used != 1, 0)) {
        link = prev->succ[1];
        e = LINK_ENTRY(link);
        if (e == NULL || e->pc != pc || e->size != size || e->used != 1) goto general;
    }
    uint32_t ends = prev->ends;
    if (ends) {
        if (__builtin_expect((ends & ENDS_MAY_SET_IF) && st->irq_pending && !st->skip_window, 0)) goto general;
        if (link & LINK_TAKEN) {
            now += prev->taken_extra;
            if (st->profiling) prev->excl += prev->taken_extra;
        }
        uint32_t kind = ends & ENDS_KIND_MASK;
        if (kind != END_JCC && kind != END_OTHER && st->profiling) {
            st->prev = e;
            charge(st, e, pc, now, e->cost, e->ninsn);
            call_ret_edge(st, prev, e, pc, now);
            return;
        }
    }
    st->prev = e;
    charge(st, e, pc, now, e->cost, e->ninsn);
    return;
general:
    hook_general(uc, pc, size, st);
}

int fp_current(fp_state *st, uint64_t *pc, uint32_t *size, int32_t *func) {
    entry_t *e = st->cur;
    if (!e || e->used != 1) return 0;
    *pc = e->pc;
    *size = e->size;
    *func = e->func;
    return 1;
}

/* RDTSC (UC_HOOK_INSN, UC_X86_INS_RDTSC): the clock exactly at this instruction. Returning 1
 * tells Unicorn to skip the real instruction (which would read the host's TSC). */
int fp_rdtsc_hook(uc_engine *uc, void *user) {
    fp_state *st = (fp_state *)user;
    uint64_t eip = 0, cs = 0;
    st->reg_read(uc, UC_X86_REG_EIP, &eip);
    uint64_t now = st->block_base;
    entry_t *e = st->cur;
    if (e && e->used == 1) {
        /* match the instruction by its offset in the block; real mode: linear = cs*16 + ip */
        uint64_t lin = eip & 0xffffffffULL;
        if (lin < e->pc || lin >= e->pc + e->size) {
            st->reg_read(uc, UC_X86_REG_CS, &cs);
            lin = ((cs & 0xffff) << 4) + (eip & 0xffff);
        }
        for (uint32_t k = 0; k < e->nrdtsc; k++) {
            if (e->pc + e->rdtsc_off[k] == lin) {
                now = st->block_base + e->rdtsc_prefix[k];
                break;
            }
        }
    }
    uint64_t lo = now & 0xffffffffULL, hi = now >> 32;
    st->reg_write(uc, UC_X86_REG_EAX, &lo);
    st->reg_write(uc, UC_X86_REG_EDX, &hi);
    /* Unicorn skips the instruction when the hook returns 1; EIP is advanced for us. */
    return 1;
}

/* ---- self-modifying code -----------------------------------------------------------
 * Unicorn calls this (UC_HOOK_EDGE_GENERATED) each time it translates a block: the first
 * time, and again after the translation was thrown away - the guest wrote into a page that
 * holds translated code (self-modifying code, a JIT filling its code heap), or the host
 * flushed the cache.  The price of a block is cached per (pc, size), and new bytes under the
 * same pc and size would keep the stale price: so a block we priced before is dropped here,
 * its next execution misses and the bytes that are there now are priced (from the price cache
 * in C when they are unchanged: fastpath_prices.c, else by Python).  Translations are rare next to executions, so the
 * per-block hot path is unchanged. */
typedef struct { uint64_t pc; uint16_t icount; uint16_t size; } uc_tb_view;

static void fp_tb_generated(uc_engine *uc, uc_tb_view *cur, uc_tb_view *prev, void *user) {
    (void)uc; (void)prev;
    fp_state *st = (fp_state *)user;
    int64_t slot = find_slot(st, cur->pc, cur->size);
    if (slot < 0) return;
    entry_t *e = &st->table[slot];
    entry_kill(st, (uint32_t)slot);
    st->retranslated++;
    /* links to it stay: the hot path checks `used` (a scan of the whole table here cost
     * ~1-2% of the fluid_llama batch, 201 retranslations x the table) */
    if (st->prev == e) st->prev = NULL;
    if (st->cur == e) st->cur = NULL;
}

void *fp_edge_hook_ptr(void) { return (void *)&fp_tb_generated; }
uint64_t fp_retranslated(fp_state *st) { return st->retranslated; }

void *fp_block_hook_ptr(void) { return (void *)&fp_block_hook; }
void *fp_rdtsc_hook_ptr(void) { return (void *)&fp_rdtsc_hook; }
size_t fp_state_size(void) { return sizeof(fp_state); }

/* A layout table (the offsets a ctypes mirror is checked against: emu/fastpath.py check_layout)
 * copied out for Python: its length, and up to n of its entries in `out`. */
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
static size_t copy_layout(const size_t *table, size_t count, size_t *out, size_t n) {
    for (size_t i = 0; i < n && i < count; i++)
        out[i] = table[i];
    return count;
}

/* Offsets of the public head's fields, in declaration order, then the head's end (the first
 * private field): emu/fastpath.py compares them with its ctypes mirror at start-up. */
static const size_t fp_head_layout[] = {
    offsetof(fp_state, cycles), offsetof(fp_state, instructions), offsetof(fp_state, deadline),
    offsetof(fp_state, block_base), offsetof(fp_state, blocks), offsetof(fp_state, misses),
    offsetof(fp_state, stop_reason), offsetof(fp_state, step_mode), offsetof(fp_state, profiling),
    offsetof(fp_state, nfuncs), offsetof(fp_state, func_excl), offsetof(fp_state, func_incl),
    offsetof(fp_state, func_calls), offsetof(fp_state, func_active), offsetof(fp_state, sp),
    offsetof(fp_state, irq_pending), offsetof(fp_state, skip_window), offsetof(fp_state, ring_pos),
    offsetof(fp_state, ring), offsetof(fp_state, prev),
};
size_t fp_layout(size_t *out, size_t n) { return copy_layout(fp_head_layout, COUNT_OF(fp_head_layout), out, n); }
size_t fp_entry_size(void) { return sizeof(entry_t); }
uint32_t fp_table_entries(fp_state *st) { return st->nents; }
uint64_t fp_lookups(fp_state *st) { return st->lookups; }   /* dense entries used (tests) */

/* Native real-mode delivery: emu/fastpath_native.c (its own file, same translation unit). */
#include "fastpath_native.c"
/* Native answers to IN/OUT (UART, CMOS/RTC registers): their own section, emu/fastpath_ports.c. */
#include "fastpath_ports.c"
/* Protected-mode delivery computed in C, the same-ring IRET filter: emu/fastpath_pmirq.c. */
#include "fastpath_pmirq.c"
/* The same with paging on (page walks in C): emu/fastpath_paging.c. */
#include "fastpath_paging.c"
/* The price cache read natively (a block already priced never enters Python): fastpath_prices.c. */
#include "fastpath_prices.c"
/* The idle timer tick (8259 + PIT channel 0) inside emu_start: emu/fastpath_pic.c. */
#include "fastpath_pic.c"
/* The local APIC's EOI and timer registers and the HPET counter in C: emu/fastpath_lapic.c. */
#include "fastpath_lapic.c"
/* The local APIC timer's interrupt taken at its deadline inside emu_start: fastpath_lapictick.c. */
#include "fastpath_lapictick.c"
/* An HPET timer's quiet expiry done at its deadline inside emu_start: fastpath_hpetexp.c. */
#include "fastpath_hpetexp.c"

/* Only so that the shared object is a valid extension module for setuptools. */
static struct PyModuleDef fastpath_module = {PyModuleDef_HEAD_INIT, "_fastpath",
                                             "BareFlow native block callback (loaded with ctypes).", -1, NULL};
PyMODINIT_FUNC PyInit__fastpath(void) { return PyModule_Create(&fastpath_module); }
