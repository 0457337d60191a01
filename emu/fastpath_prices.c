/*
 * The price cache read in C: a block already priced never enters Python.
 *
 * #included by fastpath.c (one translation unit).  When the block hook meets a (pc, size) it has
 * no entry for (a first sight, or a block Unicorn translated again), lookup_or_miss asks
 * ps_try() before calling Python's Pricer.on_miss.  ps_try reads the block's code bytes at its
 * linear address (through the guest's 32-bit page tables when paging is on, as
 * Cpu.fetch does), works out the mode the pricer keys on (CR0.PE, and the D bit of the CS
 * descriptor read from the GDT as Cpu.code32 does, Accessed bits included), and looks the key
 * up in
 *   - the mapped shard file (emu/priceshard.py: an open-addressing table of checked records),
 *   - the overlay: prices Python computed in this run (a block re-translated later is found).
 * A hit is inserted with exactly the fields Pricer.on_miss would give fp_insert; its profiler
 * function comes from the symbol ranges Python handed over (SymbolTable.index_of) or from the
 * pseudo-function map ("[bios]", "[boot sector]", "[code PAGE]"), allocated here in the same
 * order Python would (first sight), and logged so that Python appends the names and learns the
 * block (Pricer._sync).  Everything else goes to Python as before: a block with watched
 * instructions (their hooks are Python's), PAE paging, an unreadable page, GDB-JIT functions,
 * any check that fails.  BAREFLOW_PRICE_CACHE=0 never attaches a shard or an overlay.
 */

#define PS_REC 100u
#define PS_HEAD 64u
#define PS_FLAG_NEEDS_PY 1u
#define PS_FLAG_ENDS_INT 2u
#define PS_KEY_BIOS (1ULL << 48)
#define PS_KEY_BOOT ((1ULL << 48) + 1)
#define UC_X86_REG_CR0_ID 50
#define UC_X86_REG_CR3_ID 53
#define UC_X86_REG_CR4_ID 54
#define UC_X86_REG_GDTR_ID 243

typedef int (*ps_mem_read_fn)(uc_engine *, uint64_t, void *, size_t);
typedef int (*ps_mem_write_fn)(uc_engine *, uint64_t, const void *, size_t);


typedef struct ps_state {
    const uint8_t *shard; uint64_t shard_len; uint32_t nslots; uint64_t recs_at;
    uint8_t **ov; uint32_t ov_mask, ov_count;   /* overlay: records owned here, by key hash */
    uint32_t enabled;
    ps_mem_read_fn mem_read; ps_mem_write_fn mem_write;
    uint64_t *sym_start, *sym_end; uint32_t nsym;
    uint64_t *jit_start, *jit_end; int32_t *jit_id; uint32_t njit;   /* GDB-JIT functions, in order */
    uint64_t bios_lo, bios_hi;
    uint64_t *pkey; int32_t *pval; uint32_t pmask, pcount;
    int32_t next_func;
    /* what Python has not seen yet: blocks priced here (pc, size, shard offset or ~0), names */
    uint64_t *lpc; uint32_t *lsize; uint64_t *loff; uint32_t nlog, caplog;
    uint64_t *lname; uint32_t nname, capname;
    uint32_t pending;            /* nlog + nname: Python reads it in place */
    uint64_t hits, declined, absent, needs_py;
    uint8_t code[0x10000];
} ps_state;

static uint32_t ps_crc_table[256];
static void ps_crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        ps_crc_table[i] = c;
    }
}
/* zlib.crc32(data, crc): the same function Python's writer uses */
static uint32_t ps_crc(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    while (n--) crc = ps_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
static inline uint32_t ps_u16(const uint8_t *p) { return p[0] | (p[1] << 8); }
static inline uint32_t ps_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ps_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint32_t ps_key_hash(uint64_t pc, uint32_t size, uint32_t mode, const uint8_t *code) {
    uint8_t head[13];
    memcpy(head, &pc, 8);
    memcpy(head + 8, &size, 4);
    head[12] = (uint8_t)mode;
    return ps_crc(ps_crc(0, head, 13), code, size);
}

/* Is `rec` (at most `room` bytes available) a whole record with a good CRC for this key? */
static int ps_record_matches(const uint8_t *rec, uint64_t room, uint64_t pc, uint32_t size,
                             uint32_t mode, const uint8_t *code) {
    if (room < PS_REC) return 0;
    uint32_t len = ps_u32(rec + 4);
    if (len < PS_REC || len > room) return 0;
    uint32_t clen = ps_u16(rec + 22), blen = ps_u32(rec + 96);
    if ((uint64_t)PS_REC + clen + blen != len) return 0;
    if (ps_u64(rec + 8) != pc || ps_u32(rec + 16) != size || rec[20] != mode || clen != size) return 0;
    if (memcmp(rec + PS_REC, code, size) != 0) return 0;
    return ps_crc(0, rec + 4, len - 4) == ps_u32(rec);
}

/* The record for the key in the mapped shard: its offset, or -1.  Every probe is bounded. */
static int64_t ps_find_shard(const ps_state *p, uint32_t h, uint64_t pc, uint32_t size, uint32_t mode,
                             const uint8_t *code) {
    if (!p->shard) return -1;
    uint32_t mask = p->nslots - 1, i = h & mask;
    for (uint32_t n = 0; n < p->nslots; n++, i = (i + 1) & mask) {
        const uint8_t *slot = p->shard + PS_HEAD + (uint64_t)i * 8;
        uint32_t off = ps_u32(slot + 4);
        if (off == 0) return -1;
        if (ps_u32(slot) != h || off < p->recs_at || off >= p->shard_len) continue;
        if (ps_record_matches(p->shard + off, p->shard_len - off, pc, size, mode, code)) return off;
    }
    return -1;
}

static const uint8_t *ps_find_overlay(const ps_state *p, uint32_t h, uint64_t pc, uint32_t size,
                                      uint32_t mode, const uint8_t *code) {
    if (!p->ov) return NULL;
    for (uint32_t i = h & p->ov_mask;; i = (i + 1) & p->ov_mask) {
        const uint8_t *r = p->ov[i];
        if (!r) return NULL;
        if (ps_record_matches(r, ps_u32(r + 4), pc, size, mode, code)) return r;
    }
}

/* ------------------------------------------------------------------ set-up from Python */
ps_state *ps_new(void *mem_read, void *mem_write) {
    ps_state *p = (ps_state *)calloc(1, sizeof(ps_state));
    if (!p) return NULL;
    if (!ps_crc_table[1]) ps_crc_init();
    p->mem_read = (ps_mem_read_fn)mem_read;
    p->mem_write = (ps_mem_write_fn)mem_write;
    return p;
}

static void ps_free_overlay(ps_state *p) {
    if (p->ov) for (uint32_t i = 0; i <= p->ov_mask; i++) if (p->ov[i]) free(p->ov[i] - 8);
    free(p->ov);
    p->ov = NULL;
    p->ov_mask = p->ov_count = 0;
}

void ps_free(ps_state *p) {
    if (!p) return;
    ps_free_overlay(p);
    free(p->sym_start); free(p->sym_end); free(p->pkey); free(p->pval);
    free(p->jit_start); free(p->jit_end); free(p->jit_id);
    free(p->lpc); free(p->lsize); free(p->loff); free(p->lname);
    free(p);
}

/* The shard's bytes (Python keeps the mapping alive).  Returns 1 if the header checks. */
int ps_attach(ps_state *p, const uint8_t *base, uint64_t len) {
    p->shard = NULL;
    if (!base || len < PS_HEAD || memcmp(base, "BFPRICE1", 8) != 0 || ps_u32(base + 8) != 1) return 0;
    uint32_t nslots = ps_u32(base + 12);
    if (ps_u64(base + 24) != len || ps_crc(0, base, 48) != ps_u32(base + 48)) return 0;
    if (nslots == 0 || (nslots & (nslots - 1)) || PS_HEAD + (uint64_t)nslots * 8 > len) return 0;
    if ((uint64_t)ps_u32(base + 16) * 2 > nslots) return 0;   /* records: at most half the slots */
    p->shard = base;
    p->shard_len = len;
    p->nslots = nslots;
    p->recs_at = PS_HEAD + (uint64_t)nslots * 8;
    return 1;
}

/* A record Python priced in this run (priceshard.encode): found again after a re-translation.
 * 2: added (it is overlay record number ov_count - 1), 1: already there, 0: refused. */
int ps_overlay_add(ps_state *p, const uint8_t *rec, uint32_t len) {
    if (len < PS_REC || ps_u32(rec + 4) != len) return 0;
    uint32_t size = ps_u32(rec + 16);
    if (ps_u16(rec + 22) != size || (uint64_t)PS_REC + size > len) return 0;
    if ((p->ov_count + 1) * 2 > (p->ov ? p->ov_mask + 1 : 0)) {
        uint32_t cap = p->ov ? (p->ov_mask + 1) * 2 : 1024;
        uint8_t **n = (uint8_t **)calloc(cap, sizeof(uint8_t *));
        if (!n) return 0;
        if (p->ov)
            for (uint32_t i = 0; i <= p->ov_mask; i++) {
                uint8_t *r = p->ov[i];
                if (!r) continue;
                uint32_t j = ps_key_hash(ps_u64(r + 8), ps_u32(r + 16), r[20], r + PS_REC) & (cap - 1);
                while (n[j]) j = (j + 1) & (cap - 1);
                n[j] = r;
            }
        free(p->ov);
        p->ov = n;
        p->ov_mask = cap - 1;
    }
    uint64_t pc = ps_u64(rec + 8);
    uint32_t h = ps_key_hash(pc, size, rec[20], rec + PS_REC);
    if (ps_find_overlay(p, h, pc, size, rec[20], rec + PS_REC)) return 1;
    uint8_t *copy = (uint8_t *)malloc((size_t)len + 8);
    if (!copy) return 0;
    uint64_t seq = p->ov_count;     /* the n-th record Python added: what ps_drain reports */
    memcpy(copy, &seq, 8);
    copy += 8;
    memcpy(copy, rec, len);
    uint32_t j = h & p->ov_mask;
    while (p->ov[j]) j = (j + 1) & p->ov_mask;
    p->ov[j] = copy;
    p->ov_count++;
    return 2;
}

void ps_set_enabled(ps_state *p, uint32_t on) { p->enabled = on; }

/* SymbolTable.functions: sorted starts and their ends (index = profiler id); the BIOS stubs. */
int ps_set_functions(ps_state *p, const uint64_t *start, const uint64_t *end, uint32_t n,
                     uint64_t bios_lo, uint64_t bios_hi) {
    free(p->sym_start); free(p->sym_end);
    p->sym_start = p->sym_end = NULL;
    p->nsym = 0;
    if (n) {
        p->sym_start = (uint64_t *)malloc(n * sizeof(uint64_t));
        p->sym_end = (uint64_t *)malloc(n * sizeof(uint64_t));
        if (!p->sym_start || !p->sym_end) return 0;
        memcpy(p->sym_start, start, n * sizeof(uint64_t));
        memcpy(p->sym_end, end, n * sizeof(uint64_t));
        p->nsym = n;
    }
    p->bios_lo = bios_lo;
    p->bios_hi = bios_hi;
    return 1;
}

/* JitDebug.functions (in its order) and their profiler ids (-1: not named yet). */
int ps_set_jit(ps_state *p, const uint64_t *start, const uint64_t *end, const int32_t *id, uint32_t n) {
    free(p->jit_start); free(p->jit_end); free(p->jit_id);
    p->jit_start = p->jit_end = NULL;
    p->jit_id = NULL;
    p->njit = 0;
    if (!n) return 1;
    p->jit_start = (uint64_t *)malloc(n * sizeof(uint64_t));
    p->jit_end = (uint64_t *)malloc(n * sizeof(uint64_t));
    p->jit_id = (int32_t *)malloc(n * sizeof(int32_t));
    if (!p->jit_start || !p->jit_end || !p->jit_id) return 0;
    memcpy(p->jit_start, start, n * sizeof(uint64_t));
    memcpy(p->jit_end, end, n * sizeof(uint64_t));
    memcpy(p->jit_id, id, n * sizeof(int32_t));
    p->njit = n;
    return 1;
}

static int32_t ps_pseudo_get(const ps_state *p, uint64_t key) {
    if (!p->pkey) return -1;
    for (uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) & p->pmask;; i = (i + 1) & p->pmask) {
        if (p->pval[i] < 0) return -1;
        if (p->pkey[i] == key) return p->pval[i];
    }
}

static int ps_pseudo_put(ps_state *p, uint64_t key, int32_t func) {
    if ((p->pcount + 1) * 2 > (p->pkey ? p->pmask + 1 : 0)) {
        uint32_t cap = p->pkey ? (p->pmask + 1) * 2 : 256;
        uint64_t *k = (uint64_t *)malloc(cap * sizeof(uint64_t));
        int32_t *v = (int32_t *)malloc(cap * sizeof(int32_t));
        if (!k || !v) { free(k); free(v); return 0; }
        for (uint32_t i = 0; i < cap; i++) v[i] = -1;
        uint64_t *ok = p->pkey; int32_t *ov = p->pval;
        uint32_t ocap = ok ? p->pmask + 1 : 0;
        p->pkey = k; p->pval = v; p->pmask = cap - 1; p->pcount = 0;
        for (uint32_t i = 0; i < ocap; i++)
            if (ov[i] >= 0) ps_pseudo_put(p, ok[i], ov[i]);
        free(ok); free(ov);
    }
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) & p->pmask;
    while (p->pval[i] >= 0 && p->pkey[i] != key) i = (i + 1) & p->pmask;
    if (p->pval[i] < 0) p->pcount++;
    p->pkey[i] = key;
    p->pval[i] = func;
    return 1;
}

/* Python named a pseudo-function (Pricer.func_index) or knows how many names there are. */
void ps_note_pseudo(ps_state *p, uint64_t key, int32_t func, int32_t next_func) {
    if (func >= 0) ps_pseudo_put(p, key, func);
    p->next_func = next_func;
}

/* Forget the pseudo map (Python re-notes what it keeps) and the undrained log. */
void ps_reset(ps_state *p, int32_t next_func) {
    if (p->pval) for (uint32_t i = 0; i <= p->pmask; i++) p->pval[i] = -1;
    p->pcount = 0;
    p->nlog = p->nname = p->pending = 0;
    p->next_func = next_func;
}

uint32_t *ps_pending_ptr(ps_state *p) { return &p->pending; }

/* Copy the log out and empty it.  Returns how many entries of each kind were copied. */
void ps_drain(ps_state *p, uint64_t *pcs, uint32_t *sizes, uint64_t *offs, uint32_t *nblocks,
              uint64_t *names, uint32_t *nnames) {
    uint32_t nb = *nblocks < p->nlog ? *nblocks : p->nlog;
    uint32_t nn = *nnames < p->nname ? *nnames : p->nname;
    memcpy(pcs, p->lpc, nb * sizeof(uint64_t));
    memcpy(sizes, p->lsize, nb * sizeof(uint32_t));
    memcpy(offs, p->loff, nb * sizeof(uint64_t));
    memcpy(names, p->lname, nn * sizeof(uint64_t));
    memmove(p->lpc, p->lpc + nb, (p->nlog - nb) * sizeof(uint64_t));
    memmove(p->lsize, p->lsize + nb, (p->nlog - nb) * sizeof(uint32_t));
    memmove(p->loff, p->loff + nb, (p->nlog - nb) * sizeof(uint64_t));
    memmove(p->lname, p->lname + nn, (p->nname - nn) * sizeof(uint64_t));
    p->nlog -= nb;
    p->nname -= nn;
    p->pending = p->nlog + p->nname;
    *nblocks = nb;
    *nnames = nn;
}

void ps_counts(ps_state *p, uint64_t *out) {
    out[0] = p->hits;
    out[1] = p->declined;
    out[2] = p->ov_count;
    out[3] = p->shard ? 1 : 0;
    out[4] = p->absent;
    out[5] = p->needs_py;
}

/* Test hook: look a key up in the shard as ps_try does (offset or -1). */
int64_t ps_lookup(ps_state *p, uint64_t pc, uint32_t size, uint32_t mode, const uint8_t *code) {
    return ps_find_shard(p, ps_key_hash(pc, size, mode, code), pc, size, mode, code);
}

/* ------------------------------------------------------------------ reading the guest */
/* Paging.Walker._walk32 for a supervisor read: physical address of `lin`, or -1 (not present).
 * touch: set the Accessed bits as the walk made for the CPU does (Cpu.read). */
static int64_t ps_walk32(ps_state *p, uc_engine *uc, uint32_t cr3, uint32_t cr4, uint32_t lin, int touch) {
    uint64_t pde_addr = (cr3 & 0xFFFFF000u) | ((lin >> 22) << 2);
    uint32_t pde;
    if (p->mem_read(uc, pde_addr, &pde, 4) != 0 || !(pde & 1)) return -1;
    if ((pde & 0x80) && (cr4 & 0x10)) {
        if (touch && !(pde & 0x20)) { uint32_t v = pde | 0x20; p->mem_write(uc, pde_addr, &v, 4); }
        return (pde & 0xFFC00000u) | (lin & 0x3FFFFF);
    }
    uint64_t pte_addr = (pde & 0xFFFFF000u) | (((lin >> 12) & 0x3FF) << 2);
    uint32_t pte;
    if (p->mem_read(uc, pte_addr, &pte, 4) != 0 || !(pte & 1)) return -1;
    if (touch) {
        if (!(pde & 0x20)) { uint32_t v = pde | 0x20; p->mem_write(uc, pde_addr, &v, 4); }
        if (!(pte & 0x20)) { uint32_t v = pte | 0x20; p->mem_write(uc, pte_addr, &v, 4); }
    }
    return (pte & 0xFFFFF000u) | (lin & 0xFFF);
}

/* Walker.read_linear: every page is translated before any byte is read (a fault reads nothing). */
static int ps_read_linear(ps_state *p, uc_engine *uc, int paging, uint32_t cr3, uint32_t cr4,
                          uint64_t lin, uint8_t *out, uint32_t n, int touch) {
    if (!paging) return p->mem_read(uc, lin, out, n) == 0;
    int64_t phys[17];
    uint32_t len[17], k = 0;
    uint32_t a = (uint32_t)lin, left = n;
    while (left) {
        if (k == 17) return 0;
        uint32_t chunk = 0x1000 - (a & 0xFFF);
        if (chunk > left) chunk = left;
        if ((phys[k] = ps_walk32(p, uc, cr3, cr4, a, touch)) < 0) return 0;
        len[k++] = chunk;
        a += chunk;
        left -= chunk;
    }
    for (uint32_t i = 0; i < k; i++) {
        if (p->mem_read(uc, (uint64_t)phys[i], out, len[i]) != 0) return 0;
        out += len[i];
    }
    return 1;
}

/* JitDebug.index_of, SymbolTable.index_of, then the pseudo-functions of Pricer.func_index (allocated here, in
 * first-sight order, logged for Python to name). */
static int32_t ps_func(ps_state *p, fp_state *st, uint64_t pc) {
    for (uint32_t k = 0; k < p->njit; k++) {      /* JitDebug.index_of: the first that holds pc */
        if (p->jit_start[k] <= pc && pc < p->jit_end[k]) {
            if (p->jit_id[k] >= 0) return p->jit_id[k];
            break;
        }
    }
    if (p->nsym) {
        uint32_t lo = 0, hi = p->nsym;        /* bisect_right(starts, pc) - 1 */
        while (lo < hi) { uint32_t mid = (lo + hi) / 2; if (p->sym_start[mid] <= pc) lo = mid + 1; else hi = mid; }
        if (lo > 0 && pc < p->sym_end[lo - 1]) return (int32_t)(lo - 1);
    }
    uint64_t key = (p->bios_lo <= pc && pc < p->bios_hi) ? PS_KEY_BIOS
                 : (0x7C00 <= pc && pc < 0x7E00) ? PS_KEY_BOOT : (pc & ~0xFFFULL);
    int32_t f = ps_pseudo_get(p, key);
    if (f >= 0) return f;
    if (p->nname == p->capname) {
        uint32_t cap = p->capname ? p->capname * 2 : 64;
        uint64_t *n = (uint64_t *)realloc(p->lname, cap * sizeof(uint64_t));
        if (!n) return -2;
        p->lname = n;
        p->capname = cap;
    }
    f = p->next_func;
    if (!ps_pseudo_put(p, key, f) || fp_ensure_funcs(st, (uint32_t)f + 1) != 0) return -2;
    p->next_func++;
    p->lname[p->nname++] = key;
    p->pending++;
    return f;
}

static int ps_log(ps_state *p, uint64_t pc, uint32_t size, uint64_t off) {
    if (p->nlog == p->caplog) {
        uint32_t cap = p->caplog ? p->caplog * 2 : 1024;
        uint64_t *a = (uint64_t *)realloc(p->lpc, cap * sizeof(uint64_t));
        if (!a) return 0;
        p->lpc = a;
        uint32_t *b = (uint32_t *)realloc(p->lsize, cap * sizeof(uint32_t));
        if (!b) return 0;
        p->lsize = b;
        uint64_t *c = (uint64_t *)realloc(p->loff, cap * sizeof(uint64_t));
        if (!c) return 0;
        p->loff = c;
        p->caplog = cap;
    }
    p->lpc[p->nlog] = pc;
    p->lsize[p->nlog] = size;
    p->loff[p->nlog] = off;
    p->nlog++;
    p->pending++;
    return 1;
}

/* The block at (pc, size) is about to miss: insert it from the cache if it is there and
 * nothing about it needs Python.  1: inserted; 0: Python prices it (nothing was changed,
 * except the Accessed bits Python's own walk would set the same way). */
static int ps_try(fp_state *st, uc_engine *uc, uint64_t pc, uint32_t size) {
    ps_state *p = st->prices;
    if (!p->enabled || (!p->shard && !p->ov) || size == 0 || size > sizeof(p->code)) return 0;
    uint64_t cr0 = 0, cr3 = 0, cr4 = 0;
    if (st->reg_read(uc, UC_X86_REG_CR0_ID, &cr0) != 0) return 0;
    int protected_ = cr0 & 1;
    int paging = (cr0 & 0x80000001u) == 0x80000001u;
    if (paging) {
        st->reg_read(uc, UC_X86_REG_CR3_ID, &cr3);
        st->reg_read(uc, UC_X86_REG_CR4_ID, &cr4);
        if (cr4 & 0x20) { p->declined++; return 0; }   /* PAE: Python's walker */
    }
    /* Pricer.on_miss: fetch, then code32() (which reads the GDT with Cpu.read: Accessed bits) */
    if (!ps_read_linear(p, uc, paging, (uint32_t)cr3, (uint32_t)cr4, pc, p->code, size, 0)) {
        p->declined++;
        return 0;
    }
    uint32_t mode32 = 0;
    if (protected_) {
        uint64_t cs = 0;
        xd_mmr gdtr;   /* uc_x86_mmr (fastpath_native.c) */
        memset(&gdtr, 0, sizeof(gdtr));
        st->reg_read(uc, UC_X86_REG_CS, &cs);
        st->reg_read(uc, UC_X86_REG_GDTR_ID, &gdtr);
        uint32_t sel = (uint32_t)cs & 0xffff, index = sel & ~7u;
        if (!(sel & 4) && index + 7 <= (gdtr.limit & 0xffff)) {
            uint8_t d[8];
            uint64_t at = (gdtr.base & 0xffffffffULL) + index;
            /* Python reads the descriptor (touching the tables) even when the block then turns
             * out to be missing from the cache: do the same, so a decline changes nothing
             * Python would not. */
            if (!ps_read_linear(p, uc, paging, (uint32_t)cr3, (uint32_t)cr4, at, d, 8, 1)) {
                p->declined++;
                return 0;
            }
            mode32 = (d[6] >> 6) & 1;
        }
    }
    uint32_t mode = mode32 | (protected_ ? 2u : 0u);
    uint32_t h = ps_key_hash(pc, size, mode, p->code);
    int64_t off = ps_find_shard(p, h, pc, size, mode, p->code);
    const uint8_t *rec = off >= 0 ? p->shard + off : ps_find_overlay(p, h, pc, size, mode, p->code);
    if (!rec) { p->absent++; return 0; }
    if (rec[21] & PS_FLAG_NEEDS_PY) { p->needs_py++; return 0; }
    int32_t func = ps_func(p, st, pc);
    if (func == -2) { p->declined++; return 0; }
    uint32_t offs[MAX_RDTSC], pres[MAX_RDTSC];
    for (int k = 0; k < MAX_RDTSC; k++) { offs[k] = ps_u32(rec + 64 + 4 * k); pres[k] = ps_u32(rec + 80 + 4 * k); }
    int slot = fp_insert(st, pc, size, ps_u32(rec + 24), ps_u32(rec + 28), ps_u32(rec + 32), ps_u32(rec + 36),
                         ps_u64(rec + 40), ps_u64(rec + 48), func, ps_u32(rec + 56), ps_u32(rec + 60), offs, pres);
    if (slot < 0) return 0;   /* the block table is full (fastpath_table.c) */
    if (rec[21] & PS_FLAG_ENDS_INT) st->table[slot].xflags = XF_ENDS_INT;
    uint64_t seq;
    if (off < 0) memcpy(&seq, rec - 8, 8);
    /* the log says where the price came from: a shard offset, or (1 << 63) | overlay number */
    if (!ps_log(p, pc, size, off >= 0 ? (uint64_t)off : (1ULL << 63) | seq)) {
        fp_invalidate(st, pc, pc + size);
        return 0;
    }
    p->hits++;
    return 1;
}

int ps_install(fp_state *st, ps_state *p) { st->prices = p; return 1; }
