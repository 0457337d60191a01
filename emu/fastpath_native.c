/*
 * BareFlow native fast path, part 2: native real-mode delivery (issue 11).
 *
 * Not a translation unit of its own: emu/fastpath.c includes it at its end, so that it shares
 * fp_state, entry_t and the block table's helpers without exporting them.  A file of its own so
 * that the block callback and this delivery code each stay readable (and under ~600 lines).
 */
/* ---- native real-mode delivery (issue 11) ------------------------------------------------
 * Exceptions and software interrupts in real mode without entering Python and without
 * stopping emu_start, when nothing Python-side needs to see each one (the machine decides:
 * emu/native_delivery.py sets `enabled` before every slice).  Exactly what emu/interrupts.py
 * deliver_real and emu/core_delivery.py do -- push FLAGS, CS, IP; clear IF, TF, AC; load CS:IP
 * from the IVT; charge the delivery's cycles; open the profiler's frame for the handler -- or
 * nothing at all: any case the native code is not sure about (protected mode, the IVT or the
 * stack outside the first MiB, a push over bytes of priced code, a handler whose profiler
 * function Python has not named yet, single-step) is left to the Python path, unchanged.
 *   - software INT n: a native UC_HOOK_INTR (the only INTR hook) handles a block that ends in
 *     INT (XF_ENDS_INT) when EIP is right after it; anything else goes to Python's hook.
 *   - exceptions: Unicorn ends emu_start on an invalid opcode (#UD) whatever the hooks say, so
 *     the first #UD at an address goes the slow way; Python then registers the address as a
 *     "site" (with the bytes and CR0/CR4 that raised it, and the block it ran in) and a native
 *     code hook there delivers the #UD BEFORE the instruction runs next time: the hook writes
 *     CS:EIP, Unicorn leaves the block and goes on at the handler inside the same emu_start.
 *   - IRET / far RET watched for privilege changes (emu/special.py): in real mode the Python
 *     hook does nothing, so the native filter answers those without Python.
 * Every native delivery is counted and the last ones kept (registers, the block ring) so the
 * fault explainer can explain them later, lazily. */
typedef int (*uc_mem_read_fn)(uc_engine *, uint64_t, void *, size_t);
typedef int (*uc_mem_write_fn)(uc_engine *, uint64_t, const void *, size_t);
typedef void (*py_intr_fn)(uint32_t intno);
typedef void (*py_code_fn)(uint64_t address, uint32_t size);

#define UC_X86_REG_EBP 20
#define UC_X86_REG_EBX 21
#define UC_X86_REG_ECX 22
#define UC_X86_REG_EDI 23
#define UC_X86_REG_EFLAGS 25
#define UC_X86_REG_ES 28
#define UC_X86_REG_ESI 29
#define UC_X86_REG_ESP 30
#define UC_X86_REG_FS 32
#define UC_X86_REG_GS 33
#define UC_X86_REG_DS 17
#define UC_X86_REG_SS 49
#define UC_X86_REG_CR0 50
#define UC_X86_REG_CR4 54
#define UC_X86_REG_IDTR 242

#define XF_ENDS_INT 1u
#define XD_SOFT 1u      /* enabled: software INT n */
#define XD_EXC 2u       /* enabled: exceptions at registered sites */
#define XD_SPECIAL 4u   /* enabled: the real-mode IRET/RETF filter */
#define XD_STUBS 8u     /* enabled: BIOS default handlers */
#define XD_SERVICES 16u /* enabled: INT 1Ah AH=00h and INT 13h AH=08h (they emit a trace event) */
#define UC_X86_REG_EAX 19
#define XD_SITES 64
#define XD_HCACHE 64
#define XD_RECS 16
#define XD_NREGS 16     /* eax ecx edx ebx esp ebp esi edi eip eflags es cs ss ds fs gs */
#define FL_TF 0x100u
#define FL_IF 0x200u
#define FL_AC 0x40000u

typedef struct { uint16_t selector; uint64_t base; uint32_t limit; uint32_t flags; } xd_mmr;

typedef struct {
    uint64_t site;          /* linear address of the faulting instruction */
    uint64_t bpc;           /* the block it ran in */
    uint32_t bsize;
    uint32_t uncharge;      /* 1: keep only `retired` instructions / `retired_cycles` of the block */
    uint32_t retired, retired_cycles;
    uint32_t vector;
    uint32_t nbytes;
    uint8_t bytes[8];       /* the instruction bytes that raised it */
    uint32_t cr0, cr4;      /* ... in this CPU state */
} xd_site;

typedef struct {
    uint64_t seq;           /* 1, 2, ...: native exceptions delivered */
    uint64_t cycle;         /* the clock when the delivery began */
    uint64_t instructions;
    uint32_t vector;
    uint32_t regs[XD_NREGS];/* as the CPU saw them before the push */
    uint32_t ring_pos;
    uint64_t ring[RING];    /* the recent blocks (fp_state.ring) */
} xd_record;

typedef struct {
    fp_state *fp;
    uc_mem_read_fn mem_read;
    uc_mem_write_fn mem_write;
    py_intr_fn py_intr;         /* Python's INTR hook, for everything not done here */
    py_code_fn py_special;      /* Python's watched-instruction hook */
    uint32_t enabled;           /* XD_* */
    uint32_t exc_cost;          /* costs.interrupt_cycles(real mode, "exception") */
    uint32_t soft_cost;         /* ... "software" */
    uint32_t nsites;
    uint64_t soft_count;        /* software interrupts delivered here */
    uint64_t exc_count;         /* exceptions delivered here (= the last record's seq) */
    uint64_t special_count;     /* IRET/RETF answered here */
    uint64_t hc_lin[XD_HCACHE]; /* handler linear address -> profiler function (from Python) */
    int32_t hc_func[XD_HCACHE];
    uint32_t hc_used[XD_HCACHE];
    xd_site sites[XD_SITES];
    xd_record recs[XD_RECS];
    /* the BIOS stubs (emu/bios: one IRET per vector at stub_lo + vector) */
    uint64_t stub_lo, stub_hi;
    uint32_t stub_cost;         /* bios/cost.py SERVICE: what the default handler charges */
    uint32_t stub_default[8];   /* vectors whose handler is the default one: no state, no event */
    py_code_fn py_stub;         /* Python's stub hook (Core._on_stub) for every other vector */
    uint64_t stub_count;        /* default handlers answered here */
    /* hot BIOS services that are pure functions of memory: INT 1Ah AH=00h, INT 13h AH=08h */
    uint32_t hd_count;
    uint8_t hd_ch[4], hd_cl[4], hd_dh[4];  /* INT 13h AH=08h answers per hard disk */
    uint64_t service_count;     /* services answered here */
    uint64_t ram_size;          /* guest RAM (emu/fastpath_pmirq.c reads only RAM) */
    uint64_t pm_special_count;  /* protected-mode IRET/RETF answered here (fastpath_pmirq.c) */
    uint32_t a20_off;           /* A20 is off: 0x100000-0x10FFFF aliases the first 64 KiB */
    struct xg_state *pg;        /* paging on: emu/fastpath_paging.c (NULL: Python) */
} xd_state;

static int xp_special_same_ring(xd_state *x, uc_engine *uc, uint64_t address);   /* fastpath_pmirq.c */

static void codemap_add(fp_state *st, const entry_t *e, int delta) {
    uint16_t *m = st->codemap;
    if (!m || e->pc >= XD_LIMIT) return;
    uint64_t end = e->pc + e->size;
    if (end > XD_LIMIT) end = XD_LIMIT;
    for (uint64_t a = e->pc; a < end; a++) {
        /* saturated counts stay: conservative (a write there goes the Python way) */
        if (delta > 0) { if (m[a] < 0xFFFFu) m[a]++; }
        else if (m[a] > 0 && m[a] < 0xFFFFu) m[a]--;
    }
}

/* Would a host write of n bytes at linear `a` touch priced code (Python would then drop it)? */
static inline int codemap_hit(const fp_state *st, uint64_t a, uint32_t n) {
    for (uint32_t k = 0; k < n; k++)
        if (st->codemap[a + k]) return 1;
    return 0;
}

xd_state *xd_new(fp_state *st, void *mem_read, void *mem_write, void *py_intr, void *py_special) {
    xd_state *x = (xd_state *)calloc(1, sizeof(xd_state));
    if (!x) return NULL;
    if (!st->codemap) {
        st->codemap = (uint16_t *)calloc(XD_LIMIT, sizeof(uint16_t));
        if (!st->codemap) { free(x); return NULL; }
        /* blocks priced before: count them now */
        for (uint32_t i = 0; i < st->nents; i++)
            if (st->table[i].used == 1) codemap_add(st, &st->table[i], 1);
    }
    x->fp = st;
    x->mem_read = (uc_mem_read_fn)mem_read;
    x->mem_write = (uc_mem_write_fn)mem_write;
    x->py_intr = (py_intr_fn)py_intr;
    x->py_special = (py_code_fn)py_special;
    return x;
}

void xd_free(xd_state *x) { free(x); }

void xd_configure(xd_state *x, uint32_t enabled, uint32_t exc_cost, uint32_t soft_cost) {
    x->enabled = enabled;
    x->exc_cost = exc_cost;
    x->soft_cost = soft_cost;
}

uint32_t xd_enabled(xd_state *x) { return x->enabled; }
void xd_set_enabled(xd_state *x, uint32_t enabled) { x->enabled = enabled; }

/* Mark a priced block (e.g. XF_ENDS_INT: its last instruction is INT n / INT3 / INTO). */
int fp_set_xflags(fp_state *st, uint64_t pc, uint32_t size, uint32_t flags) {
    int64_t slot = find_slot(st, pc, size);
    if (slot < 0) return 0;
    st->table[slot].xflags = flags;
    return 1;
}

/* The profiler function of a handler, as Python's Pricer.func_index named it. */
void xd_note_handler(xd_state *x, uint64_t lin, int32_t func) {
    uint32_t i = (uint32_t)((lin * 0x9E3779B97F4A7C15ULL) >> 58) & (XD_HCACHE - 1);
    x->hc_lin[i] = lin;
    x->hc_func[i] = func;
    x->hc_used[i] = 1;
}

void xd_forget_handlers(xd_state *x) { memset(x->hc_used, 0, sizeof(x->hc_used)); }

static inline int handler_func(xd_state *x, uint64_t lin, int32_t *func) {
    uint32_t i = (uint32_t)((lin * 0x9E3779B97F4A7C15ULL) >> 58) & (XD_HCACHE - 1);
    if (!x->hc_used[i] || x->hc_lin[i] != lin) return 0;
    *func = x->hc_func[i];
    return 1;
}

/* Register the block a faulting instruction ran in (replaces the same (site, block)). */
int xd_add_site(xd_state *x, uint64_t site, uint64_t bpc, uint32_t bsize, uint32_t uncharge,
                uint32_t retired, uint32_t retired_cycles, uint32_t vector, const uint8_t *bytes,
                uint32_t nbytes, uint32_t cr0, uint32_t cr4) {
    xd_site *s = NULL;
    for (uint32_t k = 0; k < x->nsites; k++)
        if (x->sites[k].site == site && x->sites[k].bpc == bpc && x->sites[k].bsize == bsize) s = &x->sites[k];
    if (!s) {
        if (x->nsites >= XD_SITES) return 0;
        s = &x->sites[x->nsites++];
    }
    if (nbytes > 8) nbytes = 8;
    s->site = site;
    s->bpc = bpc;
    s->bsize = bsize;
    s->uncharge = uncharge;
    s->retired = retired;
    s->retired_cycles = retired_cycles;
    s->vector = vector;
    s->nbytes = nbytes;
    memcpy(s->bytes, bytes, nbytes);
    s->cr0 = cr0;
    s->cr4 = cr4;
    return 1;
}

void xd_clear_sites(xd_state *x) { x->nsites = 0; }
uint32_t xd_site_count(xd_state *x) { return x->nsites; }

static inline uint32_t rd32(fp_state *st, uc_engine *uc, int reg) {
    uint64_t v = 0;
    st->reg_read(uc, reg, &v);
    return (uint32_t)v;
}

static inline void wr32(fp_state *st, uc_engine *uc, int reg, uint32_t value) {
    uint64_t v = value;
    st->reg_write(uc, reg, &v);
}

/* What a real-mode delivery will do, worked out before anything is changed. */
typedef struct {
    uint32_t flags, cs, esp, seg, off;
    uint64_t push_at[3];
    uint16_t sp;
    int32_t func;
} xd_plan;

static int plan_real(xd_state *x, uc_engine *uc, uint32_t vector, xd_plan *p) {
    fp_state *st = x->fp;
    xd_mmr idtr;
    memset(&idtr, 0, sizeof(idtr));
    st->reg_read(uc, UC_X86_REG_IDTR, &idtr);
    uint64_t base = idtr.base & 0xffffffffULL;
    if (vector * 4 + 3 > (idtr.limit & 0xffff)) return 0;     /* Python reports the fault */
    uint64_t ent = base + vector * 4;
    if (ent + 4 > 0x100000) return 0;
    uint8_t raw[4];
    if (x->mem_read(uc, ent, raw, 4) != 0) return 0;
    p->off = raw[0] | (raw[1] << 8);
    p->seg = raw[2] | (raw[3] << 8);
    if (!handler_func(x, ((uint64_t)p->seg << 4) + p->off, &p->func)) return 0;
    p->flags = rd32(st, uc, UC_X86_REG_EFLAGS);
    p->esp = rd32(st, uc, UC_X86_REG_ESP);
    uint64_t ss_base = (uint64_t)(rd32(st, uc, UC_X86_REG_SS) & 0xffff) << 4;
    uint16_t sp = (uint16_t)p->esp;
    for (int k = 0; k < 3; k++) {
        sp = (uint16_t)(sp - 2);
        p->push_at[k] = ss_base + sp;
        if (p->push_at[k] + 2 > 0x100000 || codemap_hit(st, p->push_at[k], 2)) return 0;
    }
    p->sp = sp;
    return 1;
}

static void commit_real(xd_state *x, uc_engine *uc, const xd_plan *p, uint32_t return_ip, uint32_t cost) {
    fp_state *st = x->fp;
    uint64_t start = st->cycles;
    uint16_t words[3] = {(uint16_t)p->flags, (uint16_t)p->cs, (uint16_t)return_ip};
    for (int k = 0; k < 3; k++) {
        uint8_t b[2] = {(uint8_t)words[k], (uint8_t)(words[k] >> 8)};
        x->mem_write(uc, p->push_at[k], b, 2);
    }
    wr32(st, uc, UC_X86_REG_ESP, (p->esp & 0xffff0000u) | p->sp);
    wr32(st, uc, UC_X86_REG_EFLAGS, p->flags & ~(FL_IF | FL_TF | FL_AC));
    wr32(st, uc, UC_X86_REG_CS, p->seg);
    wr32(st, uc, UC_X86_REG_EIP, p->off);
    st->cycles += cost;
    st->prev = NULL;                                         /* fp_break_chain */
    fp_push_frame(st, (((uint64_t)p->cs << 4) + (return_ip & 0xffff)) & 0xffffffffULL, p->func, start);
}

static void xd_intr_hook(uc_engine *uc, uint32_t intno, void *user) {
    xd_state *x = (xd_state *)user;
    fp_state *st = x->fp;
    entry_t *e = st->cur;
    if ((x->enabled & XD_SOFT) && !st->step_mode && e && e->used == 1 && (e->xflags & XF_ENDS_INT)
        && !(rd32(st, uc, UC_X86_REG_CR0) & 1)) {
        uint32_t eip = rd32(st, uc, UC_X86_REG_EIP);
        uint32_t cs = rd32(st, uc, UC_X86_REG_CS) & 0xffff;
        xd_plan p;
        if ((((uint64_t)cs << 4) + (eip & 0xffff)) == e->fallthrough && plan_real(x, uc, intno, &p)) {
            p.cs = cs;
            commit_real(x, uc, &p, eip & 0xffff, x->soft_cost);
            x->soft_count++;
            return;
        }
    }
    x->py_intr(intno);
}

static void xd_site_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
    (void)size;
    xd_state *x = (xd_state *)user;
    fp_state *st = x->fp;
    entry_t *e = st->cur;
    if (!(x->enabled & XD_EXC) || st->step_mode || !e || e->used != 1) return;
    xd_site *s = NULL;
    for (uint32_t k = 0; k < x->nsites; k++)
        if (x->sites[k].site == address && x->sites[k].bpc == e->pc && x->sites[k].bsize == e->size) {
            s = &x->sites[k];
            break;
        }
    if (!s) return;
    uint32_t cr0 = rd32(st, uc, UC_X86_REG_CR0);
    if ((cr0 & 1) || cr0 != s->cr0 || rd32(st, uc, UC_X86_REG_CR4) != s->cr4) return;
    uint32_t eip = rd32(st, uc, UC_X86_REG_EIP);
    uint32_t cs = rd32(st, uc, UC_X86_REG_CS) & 0xffff;
    if (((uint64_t)cs << 4) + (eip & 0xffff) != address || address + s->nbytes > 0x100000) return;
    uint8_t now[8];
    if (x->mem_read(uc, address, now, s->nbytes) != 0 || memcmp(now, s->bytes, s->nbytes) != 0) return;
    xd_plan p;
    if (!plan_real(x, uc, s->vector, &p)) return;
    p.cs = cs;
    /* the record for the explainer: the CPU as it was before the push */
    xd_record *r = &x->recs[x->exc_count % XD_RECS];
    static const int regs[XD_NREGS] = {19, 22, UC_X86_REG_EDX, UC_X86_REG_EBX, UC_X86_REG_ESP,
                                       UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_EIP,
                                       UC_X86_REG_EFLAGS, UC_X86_REG_ES, UC_X86_REG_CS, UC_X86_REG_SS,
                                       UC_X86_REG_DS, UC_X86_REG_FS, UC_X86_REG_GS};
    if (s->uncharge) fp_uncharge_current(st, s->retired, s->retired_cycles);
    for (int k = 0; k < XD_NREGS; k++) r->regs[k] = rd32(st, uc, regs[k]);
    r->cycle = st->cycles;
    r->instructions = st->instructions;
    r->vector = s->vector;
    r->ring_pos = st->ring_pos;
    memcpy(r->ring, st->ring, sizeof(r->ring));
    commit_real(x, uc, &p, eip & 0xffff, x->exc_cost);
    r->seq = ++x->exc_count;
}

static void xd_special_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
    xd_state *x = (xd_state *)user;
    fp_state *st = x->fp;
    if ((x->enabled & XD_SPECIAL) && address + 2 <= 0x100000 && !(rd32(st, uc, UC_X86_REG_CR0) & 1)) {
        /* real mode: Python's hook looks only at IRET / far RET there, and does nothing */
        uint8_t head[2];
        if (x->mem_read(uc, address, head, 2) == 0) {
            uint8_t op = head[0] == 0x66 ? head[1] : head[0];
            if (op == 0xCF || op == 0xCA || op == 0xCB) {
                x->special_count++;
                return;
            }
        }
    }
    if ((x->enabled & XD_SPECIAL) && xp_special_same_ring(x, uc, address)) return;
    x->py_special(address, size);
}

/* The BIOS's default handler (SeaBIOS entry_iret: nothing but the IRET that follows) costs
 * its cycles and nothing else, so a vector that only has it (an exception nobody installed a
 * handler for, re-raised by a fuzzed image millions of times) is answered here. */
/* The stacked FLAGS of the frame the stub's IRET pops (emu/bios/frame.py stacked_flags), if
 * a host write there would not touch priced code. */
static int stacked_flags_at(xd_state *x, uc_engine *uc, uint64_t *at) {
    fp_state *st = x->fp;
    uint64_t ss = rd32(st, uc, UC_X86_REG_SS) & 0xffff;
    *at = (ss << 4) + ((rd32(st, uc, UC_X86_REG_ESP) + 4) & 0xffff);
    return *at + 2 <= 0x100000 && !codemap_hit(st, *at, 2);
}

static void clear_stacked_cf(xd_state *x, uc_engine *uc, uint64_t at) {
    uint8_t f[2];
    x->mem_read(uc, at, f, 2);
    f[0] &= (uint8_t)~1u;
    x->mem_write(uc, at, f, 2);
}

/* emu/bios/timer.py int1a, AH=00h: CX:DX = the BDA tick count, AL = the midnight flag (then
 * cleared), CF = 0. */
static int service_1a00(xd_state *x, uc_engine *uc) {
    fp_state *st = x->fp;
    uint32_t eax = rd32(st, uc, UC_X86_REG_EAX);
    uint64_t flags_at;
    if (((eax >> 8) & 0xff) != 0 || codemap_hit(st, 0x470, 1) || !stacked_flags_at(x, uc, &flags_at)) return 0;
    uint8_t t[4], roll, zero = 0;
    if (x->mem_read(uc, 0x46C, t, 4) != 0 || x->mem_read(uc, 0x470, &roll, 1) != 0) return 0;
    uint32_t ticks = t[0] | (t[1] << 8) | (t[2] << 16) | ((uint32_t)t[3] << 24);
    wr32(st, uc, UC_X86_REG_ECX, (rd32(st, uc, UC_X86_REG_ECX) & 0xffff0000u) | (ticks >> 16));
    wr32(st, uc, UC_X86_REG_EDX, (rd32(st, uc, UC_X86_REG_EDX) & 0xffff0000u) | (ticks & 0xffff));
    wr32(st, uc, UC_X86_REG_EAX, (eax & ~0xffu) | roll);
    x->mem_write(uc, 0x470, &zero, 1);
    clear_stacked_cf(x, uc, flags_at);
    return 1;
}

/* emu/bios/disk.py handle + _params, AH=08h on a hard disk that exists: the IRQ flag and the
 * status byte cleared, AX = 0, CH/CL/DH the geometry, DL = the number of hard disks, CF = 0. */
static int service_1308(xd_state *x, uc_engine *uc) {
    fp_state *st = x->fp;
    uint32_t eax = rd32(st, uc, UC_X86_REG_EAX), edx = rd32(st, uc, UC_X86_REG_EDX);
    uint32_t dl = edx & 0xff;
    uint64_t flags_at;
    if (((eax >> 8) & 0xff) != 0x08 || dl < 0x80 || dl >= 0xE0 || dl - 0x80 >= x->hd_count || dl - 0x80 >= 4
        || codemap_hit(st, 0x48E, 1) || codemap_hit(st, 0x474, 1) || !stacked_flags_at(x, uc, &flags_at)) return 0;
    uint32_t d = dl - 0x80;
    uint8_t zero = 0;
    x->mem_write(uc, 0x48E, &zero, 1);
    wr32(st, uc, UC_X86_REG_EAX, eax & 0xffff0000u);
    wr32(st, uc, UC_X86_REG_ECX, (rd32(st, uc, UC_X86_REG_ECX) & 0xffff0000u) | ((uint32_t)x->hd_ch[d] << 8) | x->hd_cl[d]);
    wr32(st, uc, UC_X86_REG_EDX, (edx & 0xffff0000u) | ((uint32_t)x->hd_dh[d] << 8) | (x->hd_count & 0xff));
    x->mem_write(uc, 0x474, &zero, 1);
    clear_stacked_cf(x, uc, flags_at);
    return 1;
}

void xd_set_disks(xd_state *x, uint32_t count, const uint8_t *ch, const uint8_t *cl, const uint8_t *dh) {
    x->hd_count = count;
    for (uint32_t d = 0; d < 4 && d < count; d++) {
        x->hd_ch[d] = ch[d];
        x->hd_cl[d] = cl[d];
        x->hd_dh[d] = dh[d];
    }
}

static void xd_stub_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
    xd_state *x = (xd_state *)user;
    if ((x->enabled & XD_STUBS) && address >= x->stub_lo && address < x->stub_lo + 256) {
        uint32_t v = (uint32_t)(address - x->stub_lo);
        if (x->stub_default[v >> 5] >> (v & 31) & 1) {
            x->fp->cycles += x->stub_cost;
            x->stub_count++;
            return;
        }
        if ((x->enabled & XD_SERVICES) && !x->fp->step_mode
            && ((v == 0x1A && service_1a00(x, uc)) || (v == 0x13 && service_1308(x, uc)))) {
            x->fp->cycles += x->stub_cost;      /* both cost bios/cost.py SERVICE */
            x->service_count++;
            return;
        }
    }
    x->py_stub(address, size);
}

void xd_set_stubs(xd_state *x, uint64_t lo, uint64_t hi, uint32_t cost, const uint32_t *bits, void *py_stub) {
    x->stub_lo = lo;
    x->stub_hi = hi;
    x->stub_cost = cost;
    memcpy(x->stub_default, bits, sizeof(x->stub_default));
    x->py_stub = (py_code_fn)py_stub;
}

void *xd_stub_hook_ptr(void) { return (void *)&xd_stub_hook; }
void *xd_intr_hook_ptr(void) { return (void *)&xd_intr_hook; }
void *xd_site_hook_ptr(void) { return (void *)&xd_site_hook; }
void *xd_special_hook_ptr(void) { return (void *)&xd_special_hook; }

/* Counters (software, exceptions, IRET/RETF) and the exception records, newest last. */
void xd_counts(xd_state *x, uint64_t *out) {
    out[0] = x->soft_count;
    out[1] = x->exc_count;
    out[2] = x->special_count;
    out[3] = x->stub_count;
    out[4] = x->service_count;
}

/* Copy the record of native exception `seq` (1-based); 0 if it is no longer kept. */
int xd_record_get(xd_state *x, uint64_t seq, uint64_t *cycle_instr, uint32_t *vector, uint32_t *regs,
                  uint64_t *ring, uint32_t *ring_pos) {
    if (seq == 0 || seq > x->exc_count || x->exc_count - seq >= XD_RECS) return 0;
    xd_record *r = &x->recs[(seq - 1) % XD_RECS];
    if (r->seq != seq) return 0;
    cycle_instr[0] = r->cycle;
    cycle_instr[1] = r->instructions;
    *vector = r->vector;
    memcpy(regs, r->regs, sizeof(r->regs));
    memcpy(ring, r->ring, sizeof(r->ring));
    *ring_pos = r->ring_pos;
    return 1;
}

