/*
 * The priced-block table of the native fast path (#included by emu/fastpath.c, which owns
 * entry_t and fp_state): where fp_block_hook finds a block's price, and how little memory
 * that touches per executed block (issue 11: the hook was 23% of the Linux boot's CPU, nearly
 * all of it waiting on memory).
 *
 *   - Entries live in ONE dense array, allocated in first-seen order (blocks that run together
 *     sit together), reserved once as a large virtual range (MAP_NORESERVE: only the pages
 *     touched cost memory) so an entry never moves: pointers to it (succ links, st->prev,
 *     st->cur) stay valid for the table's life.  A dead entry (re-translated, invalidated) is
 *     put on a free list and reused for the next new block: a stale succ link to it is harmless,
 *     the hot path checks `used` and the key on the line it loads anyway.
 *   - The hash index is separate: 8 bytes a slot (a hash tag and the entry's number), linear
 *     probing, at most half full, the same slots, hash and growth points as the one table of
 *     128-byte slots it replaces (so its tombstone count, and when it is rebuilt, are unchanged).
 *     Probing reads the compact index, and an entry only when its tag matches.
 *   - Both are on transparent huge pages where the kernel offers them (madvise(MADV_HUGEPAGE)
 *     on 2 MB-aligned memory): the ~60k blocks of a Linux boot fit a few TLB entries.
 *   - Exclusive cycles are added to the entry (the line the hook has loaded anyway), not to
 *     func_excl[e->func] (a random line per block); fp_fold_excl moves them into func_excl
 *     whenever anything reads or changes the profile (emu/fastpath.py), and when an entry dies
 *     or changes function, so the numbers read are exactly those the direct sums gave.
 */
#include <sys/mman.h>

#define HUGE_2M (2u << 20)
/* virtual reservation of the dense entry array: 2^21 blocks (256 MB of address space) */
#define ENT_RESERVE (1u << 21)
#define IREF_EMPTY 0u
#define IREF_TOMB 1u          /* otherwise ref = entry number + 2 */

static inline uint32_t hash_key(uint64_t pc, uint32_t size) {
    uint64_t h = (pc ^ ((uint64_t)size << 40)) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 32);
}

/* Memory on a 2 MB boundary with huge pages asked for; *len receives the mapped length. */
static void *big_map(size_t bytes, size_t *len, int noreserve) {
    size_t want = (bytes + HUGE_2M - 1) & ~(size_t)(HUGE_2M - 1);
    size_t total = want + HUGE_2M;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
    uint8_t *p = (uint8_t *)mmap(NULL, total, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)p + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1);
    /* give back the unaligned head and tail */
    if (a > (uintptr_t)p) munmap(p, a - (uintptr_t)p);
    uintptr_t end = (uintptr_t)p + total, aend = a + want;
    if (end > aend) munmap((void *)aend, end - aend);
#if defined(MADV_HUGEPAGE) && !defined(FP_NO_HUGEPAGE)
    madvise((void *)a, want, MADV_HUGEPAGE);
#endif
    *len = want;
    return (void *)a;
}

/* A zeroed index of n slots. */
static islot_t *index_alloc(fp_state *st, uint32_t n, size_t *len) {
    (void)st;
    return (islot_t *)big_map((size_t)n * sizeof(islot_t), len, 0);   /* fresh anonymous pages are zero */
}

static int table_init(fp_state *st, uint32_t cap) {
    st->table = (entry_t *)big_map((size_t)ENT_RESERVE * sizeof(entry_t), &st->table_len, 1);
    st->mask = cap - 1;
    st->index = index_alloc(st, cap, &st->index_len);
    return st->table && st->index ? 0 : -1;
}

static void table_free(fp_state *st) {
    if (st->table) munmap(st->table, st->table_len);
    if (st->index) munmap(st->index, st->index_len);
    free(st->freelist);
}

/* The entry number of the live block (pc, size), or -1. */
static int64_t find_slot(fp_state *st, uint64_t pc, uint32_t size) {
    uint32_t h = hash_key(pc, size);
    uint32_t i = h & st->mask;
    for (;;) {
        islot_t s = st->index[i];
        if (s.ref == IREF_EMPTY) return -1;
        if (s.ref != IREF_TOMB && s.tag == h) {
            entry_t *e = &st->table[s.ref - 2];
            if (e->pc == pc && e->size == size) return (int64_t)(s.ref - 2);
        }
        i = (i + 1) & st->mask;
    }
}

/* The index slot of entry number n (live), or -1. */
static int64_t find_islot(fp_state *st, uint32_t n) {
    const entry_t *e = &st->table[n];
    uint32_t h = hash_key(e->pc, e->size);
    uint32_t i = h & st->mask;
    for (;;) {
        islot_t s = st->index[i];
        if (s.ref == IREF_EMPTY) return -1;
        if (s.ref == n + 2) return i;
        i = (i + 1) & st->mask;
    }
}

/* Rebuild the index with new_cap slots (old slots in order, as the one table was rehashed). */
static void rehash(fp_state *st, uint32_t new_cap) {
    islot_t *old = st->index;
    size_t old_len = st->index_len;
    uint32_t old_cap = st->mask + 1;
    size_t len = 0;
    islot_t *fresh = index_alloc(st, new_cap, &len);
    if (!fresh) return;     /* keep the old (fuller) index: lookups stay correct */
    st->index = fresh;
    st->index_len = len;
    st->mask = new_cap - 1;
    st->live = 0;
    st->tombs = 0;
    for (uint32_t k = 0; k < old_cap; k++) {
        if (old[k].ref < 2) continue;
        uint32_t i = old[k].tag & st->mask;
        while (st->index[i].ref != IREF_EMPTY) i = (i + 1) & st->mask;
        st->index[i] = old[k];
        st->live++;
    }
    munmap(old, old_len);
    st->cur = st->prev = NULL;
}

/* A dead entry's cycles belong to its function: move them to func_excl. */
static inline void fold_entry(fp_state *st, entry_t *e) {
    if (e->excl) {
        if (e->func >= 0 && (uint32_t)e->func < st->nfuncs) st->func_excl[e->func] += e->excl;
        e->excl = 0;
    }
}

/* Fold every entry's pending exclusive cycles into func_excl (before the profile is read or
 * written): unsigned arithmetic, so an uncharge after a fold (excl "below zero") is exact too. */
void fp_fold_excl(fp_state *st) {
    for (uint32_t i = 0; i < st->nents; i++)
        if (st->table[i].used == 1) fold_entry(st, &st->table[i]);
}

/* Entry number n is dead (re-translated, invalidated): fold it, tombstone its index slot, keep
 * it for reuse. */
static void entry_kill(fp_state *st, uint32_t n) {
    entry_t *e = &st->table[n];
    fold_entry(st, e);
    int64_t is = find_islot(st, n);
    if (is >= 0) st->index[is].ref = IREF_TOMB;
    e->used = 2;
    e->succ[0] = e->succ[1] = 0;
    st->live--;
    st->tombs++;
    if (st->nfree == st->freecap) {
        uint32_t cap = st->freecap ? st->freecap * 2 : 256;
        uint32_t *f = (uint32_t *)realloc(st->freelist, cap * sizeof(uint32_t));
        if (!f) return;     /* the entry is just not reused */
        st->freelist = f;
        st->freecap = cap;
    }
    st->freelist[st->nfree++] = n;
}

/* Entry number for the new block (pc, size) (index slot claimed, counts kept as the one table
 * kept them), or -1 when the reservation is exhausted. */
static int64_t entry_new(fp_state *st, uint64_t pc, uint32_t size) {
    uint32_t n;
    if (st->nfree) n = st->freelist[--st->nfree];
    else if (st->nents < ENT_RESERVE) n = st->nents++;
    else return -1;
    uint32_t h = hash_key(pc, size);
    uint32_t i = h & st->mask;
    while (st->index[i].ref >= 2) i = (i + 1) & st->mask;
    if (st->index[i].ref == IREF_TOMB) st->tombs--;
    st->live++;
    st->index[i].tag = h;
    st->index[i].ref = n + 2;
    entry_t *e = &st->table[n];
    e->succ[0] = e->succ[1] = 0;
    e->excl = 0;
    return n;
}

/* Forget every block (fold their cycles first: the profile keeps them). */
static void table_clear(fp_state *st) {
    fp_fold_excl(st);
    memset(st->index, 0, (size_t)(st->mask + 1) * sizeof(islot_t));
    st->nents = 0;
    st->nfree = 0;
    st->live = st->tombs = 0;
}
