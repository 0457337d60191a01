/*
 * BareFlow native fast path, part 4: the protected-mode delivery and the same-ring IRET /
 * far RET filter with PAGING ON (issue 11, the Linux tick).
 *
 * #included by emu/fastpath.c after fastpath_pmirq.c, whose xd_deliver_pm and
 * xp_special_same_ring call xg_deliver_pm / xg_special_same_ring when CR0.PG is set (one line
 * each).  The computation is the paging-off one of fastpath_pmirq.c with every guest address
 * taken as LINEAR and walked through the page tables exactly as emu/paging.py `Walker` walks
 * them for the Python path (32-bit paging with 4 MiB PSE pages, and PAE with 2 MiB pages):
 *   - a walk made for the CPU (`Cpu.read`/`Cpu.write`: the IDT gate, the GDT descriptors, the
 *     pushed frame) sets the Accessed bit of the PDE and PTE on the way and the Dirty bit of
 *     the final entry on a write, writing the low dword of an entry only when a bit is
 *     missing (Walker._set_bits), with the same `uc_mem_write` of 4 bytes, and never the
 *     PDPTE (PAE); a walk made for a peek (`Machine.read_mem`: the IRET's opcode and the
 *     stacked CS it looks at) sets nothing;
 *   - rights: every access here is a supervisor one (Python never passes user=True there),
 *     so only a write to a read-only page with CR0.WP set faults.
 * The walks are made first without touching anything; only when the whole delivery (or the
 * filter's answer) is certain are the Accessed/Dirty bits set, in Python's order, then the
 * frame written and the registers changed.  A page that is not present, a write-protected
 * frame, a frame across a page boundary, a table, entry or frame outside plain RAM, or data
 * bytes that overlap a page-table entry the walk would change (Python would then read the
 * changed bytes) return 0 with nothing changed, and Python does it all as before, faults
 * included.  The IRET filter also does what Python's hook does first with paging on: forget
 * QEMU's remembered exception (emu/quirks.py forget_last_exception: the same
 * uc_context_save / one int32 = -1 / uc_context_restore, at the offset Python probed).
 */
#define XG_P 1u
#define XG_RW 2u
#define XG_A 0x20u
#define XG_D 0x40u
#define XG_PS 0x80u
#define XG_CR0_WP 0x10000u
#define XG_CR4_PSE 0x10u
#define XG_CR4_PAE 0x20u
#define XG_MAXT 24
#define XD_CRW 32u      /* enabled: MOV CR3 with paging on (emits `cr_write` in Python) */
#define UC_X86_REG_CR3 53

typedef int (*uc_ctx_fn)(uc_engine *, void *);

typedef struct xg_state {
    uc_ctx_fn ctx_save, ctx_restore;  /* uc_context_save / uc_context_restore */
    void *ctx;                        /* a uc_context allocated by Python (uc_context_alloc) */
    int32_t old_exc_off;              /* emu/quirks.py probe_old_exception_offset, or -1 */
    uint64_t deliver_count;           /* deliveries made here with paging on */
    uint64_t special_count;           /* IRET / far RET answered here with paging on */
    uint64_t cr3_count;               /* MOV CR3 answered here (XD_CRW) */
    uint64_t read_count;              /* Cpu.read / Cpu.fetch done here with paging on */
} xg_state;

/* One walk's pending Accessed/Dirty updates, and the data bytes read, of one operation. */
typedef struct {
    uint32_t cr0, cr3, cr4;
    int nt;
    uint64_t taddr[XG_MAXT];          /* the entry's physical address */
    uint32_t tbits[XG_MAXT];          /* the bits Walker._set_bits would OR in */
    int nr;
    uint64_t raddr[XG_MAXT];          /* physical ranges of the data bytes read or written */
    uint32_t rlen[XG_MAXT];
} xg_ctx;

xg_state *xg_new(void *ctx_save, void *ctx_restore, void *ctx, int32_t off) {
    xg_state *g = (xg_state *)calloc(1, sizeof(xg_state));
    if (!g) return NULL;
    g->ctx_save = (uc_ctx_fn)ctx_save;
    g->ctx_restore = (uc_ctx_fn)ctx_restore;
    g->ctx = ctx;
    g->old_exc_off = off;
    return g;
}

void xg_free(xg_state *g) { free(g); }
void xd_set_paging(xd_state *x, xg_state *g) { x->pg = g; }
void xg_counts(xg_state *g, uint64_t *out) {
    out[0] = g->deliver_count;
    out[1] = g->special_count;
    out[2] = g->cr3_count;
    out[3] = g->read_count;
}

static int xg_phys(xd_state *x, uc_engine *uc, uint64_t a, void *buf, uint32_t n) {
    return !xp_hma(a, n) && x->mem_read(uc, a, buf, n) == 0;
}

static int xg_touch(xg_ctx *g, uint64_t addr, uint32_t bits) {
    if (g->nt >= XG_MAXT) return 0;
    g->taddr[g->nt] = addr;
    g->tbits[g->nt] = bits;
    g->nt++;
    return 1;
}

/* Walker.translate for a supervisor access; 0: a fault or a case left to Python. `touch`: a
 * walk for the CPU (the A/D bits are queued, set by xg_commit). */
static int xg_translate(xd_state *x, uc_engine *uc, xg_ctx *g, uint32_t lin, int write, int touch,
                        uint64_t *phys) {
    uint8_t b[8];
    if (g->cr4 & XG_CR4_PAE) {
        uint64_t pdpte_addr = (uint64_t)(g->cr3 & 0xFFFFFFE0u) + ((uint64_t)(lin >> 30) << 3);
        if (!xg_phys(x, uc, pdpte_addr, b, 8)) return 0;
        uint64_t pdpte = 0;
        for (int k = 7; k >= 0; k--) pdpte = (pdpte << 8) | b[k];
        if (!(pdpte & XG_P)) return 0;
        uint64_t pde_addr = (pdpte & 0xFFFFF000u) + ((uint64_t)((lin >> 21) & 0x1FF) << 3);
        if (!xg_phys(x, uc, pde_addr, b, 8)) return 0;
        uint64_t pde = 0;
        for (int k = 7; k >= 0; k--) pde = (pde << 8) | b[k];
        if (!(pde & XG_P)) return 0;
        if (pde & XG_PS) {
            if (write && !(pde & XG_RW) && (g->cr0 & XG_CR0_WP)) return 0;
            if (touch && !xg_touch(g, pde_addr, XG_A | (write ? XG_D : 0))) return 0;
            *phys = (pde & 0xFFE00000u) | (lin & 0x1FFFFFu);
            return 1;
        }
        uint64_t pte_addr = (pde & 0xFFFFF000u) + ((uint64_t)((lin >> 12) & 0x1FF) << 3);
        if (!xg_phys(x, uc, pte_addr, b, 8)) return 0;
        uint64_t pte = 0;
        for (int k = 7; k >= 0; k--) pte = (pte << 8) | b[k];
        if (!(pte & XG_P)) return 0;
        if (write && !((pde & pte) & XG_RW) && (g->cr0 & XG_CR0_WP)) return 0;
        if (touch && (!xg_touch(g, pde_addr, XG_A) || !xg_touch(g, pte_addr, XG_A | (write ? XG_D : 0))))
            return 0;
        *phys = (pte & 0xFFFFF000u) | (lin & 0xFFFu);
        return 1;
    }
    uint64_t pde_addr = (g->cr3 & 0xFFFFF000u) | ((uint64_t)(lin >> 22) << 2);
    if (!xg_phys(x, uc, pde_addr, b, 4)) return 0;
    uint32_t pde = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
    if (!(pde & XG_P)) return 0;
    if ((pde & XG_PS) && (g->cr4 & XG_CR4_PSE)) {
        if (write && !(pde & XG_RW) && (g->cr0 & XG_CR0_WP)) return 0;
        if (touch && !xg_touch(g, pde_addr, XG_A | (write ? XG_D : 0))) return 0;
        *phys = (pde & 0xFFC00000u) | (lin & 0x3FFFFFu);
        return 1;
    }
    uint64_t pte_addr = (pde & 0xFFFFF000u) | ((uint64_t)((lin >> 12) & 0x3FF) << 2);
    if (!xg_phys(x, uc, pte_addr, b, 4)) return 0;
    uint32_t pte = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
    if (!(pte & XG_P)) return 0;
    if (write && !((pde & pte) & XG_RW) && (g->cr0 & XG_CR0_WP)) return 0;
    if (touch && (!xg_touch(g, pde_addr, XG_A) || !xg_touch(g, pte_addr, XG_A | (write ? XG_D : 0))))
        return 0;
    *phys = (pte & 0xFFFFF000u) | (lin & 0xFFFu);
    return 1;
}

static int xg_data(xg_ctx *g, uint64_t a, uint32_t n) {
    if (g->nr >= XG_MAXT) return 0;
    g->raddr[g->nr] = a;
    g->rlen[g->nr] = n;
    g->nr++;
    return 1;
}

/* Do the data bytes read or written overlap an entry whose A/D bits this operation changes?
 * (Python would read them, or write over them, in between: left to Python.) */
static int xg_overlaps(const xg_ctx *g) {
    for (int r = 0; r < g->nr; r++)
        for (int i = 0; i < g->nt; i++)
            if (g->raddr[r] < g->taddr[i] + 4 && g->taddr[i] < g->raddr[r] + g->rlen[r]) return 1;
    return 0;
}

/* Walker.read_linear: n bytes at linear `lin`, page by page.  The bytes read must not be
 * page-table entries this operation touches (Python would read them after the change). */
static int xg_read(xd_state *x, uc_engine *uc, xg_ctx *g, uint32_t lin, uint8_t *out, uint32_t n, int touch) {
    while (n > 0) {
        uint32_t chunk = 0x1000u - (lin & 0xFFFu);
        if (chunk > n) chunk = n;
        uint64_t p;
        if (!xg_translate(x, uc, g, lin, 0, touch, &p) || !xg_phys(x, uc, p, out, chunk)
            || !xg_data(g, p, chunk)) return 0;
        out += chunk;
        lin += chunk;
        n -= chunk;
    }
    return 1;
}

/* Set the queued Accessed/Dirty bits as Walker._set_bits does: read the entry's low dword, and
 * write it back with the bits when one is missing. */
static int xg_commit(xd_state *x, uc_engine *uc, const xg_ctx *g) {
    for (int i = 0; i < g->nt; i++) {
        uint8_t b[4];
        if (x->mem_read(uc, g->taddr[i], b, 4) != 0) return 0;
        uint32_t e = b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
        if ((e & g->tbits[i]) == g->tbits[i]) continue;
        e |= g->tbits[i];
        for (int k = 0; k < 4; k++) b[k] = (uint8_t)(e >> (8 * k));
        if (x->mem_write(uc, g->taddr[i], b, 4) != 0) return 0;
    }
    return 1;
}

/* Cpu.descriptor with paging: the GDT entry of a selector through the page tables. */
static int xg_descriptor(xd_state *x, uc_engine *uc, xg_ctx *g, uint32_t sel, xp_seg *d) {
    uint64_t lin;
    uint8_t r[8];
    if (!xp_gdt_entry(x, uc, sel, &lin) || !xg_read(x, uc, g, (uint32_t)lin, r, 8, 1)) return 0;
    return xp_decode(r, d);
}

static void xg_regs(xd_state *x, uc_engine *uc, xg_ctx *g, uint32_t cr0) {
    g->nt = 0;
    g->nr = 0;
    g->cr0 = cr0;
    g->cr3 = rd32(x->fp, uc, UC_X86_REG_CR3);
    g->cr4 = rd32(x->fp, uc, UC_X86_REG_CR4);
}

/* xd_deliver_pm with CR0.PG set (same contract, same out[]). */
static int xg_deliver_pm(xd_state *x, uc_engine *uc, uint32_t cr0, uint32_t vector, uint32_t return_eip,
                         uint32_t software, uint32_t *out) {
    fp_state *st = x->fp;
    if (!x->pg) return 0;
    uint32_t flags = rd32(st, uc, UC_X86_REG_EFLAGS);
    if (flags & XP_VM) return 0;
    xg_ctx g;
    xg_regs(x, uc, &g, cr0);
    uint32_t cs = rd32(st, uc, UC_X86_REG_CS) & 0xffff, cpl = cs & 3;
    xd_mmr idtr;
    memset(&idtr, 0, sizeof(idtr));
    st->reg_read(uc, UC_X86_REG_IDTR, &idtr);
    if (vector * 8 + 7 > (idtr.limit & 0xffff)) return 0;
    uint8_t gb[8];
    if (!xg_read(x, uc, &g, (uint32_t)(idtr.base + vector * 8), gb, 8, 1)) return 0;
    uint32_t gsel, goff, gtype;
    if (!xp_gate(gb, software, cpl, &gsel, &goff, &gtype)) return 0;
    xp_seg target, ssd, csd;
    if (!xg_descriptor(x, uc, &g, gsel, &target) || !target.s || !(target.type & 8) || !target.present) return 0;
    uint32_t new_cpl = (target.type & 4) ? cpl : target.dpl;
    if (new_cpl != cpl) return 0;
    uint32_t ss = rd32(st, uc, UC_X86_REG_SS) & 0xffff;
    if (!xg_descriptor(x, uc, &g, ss, &ssd) || !ssd.present || (ssd.type & 4)) return 0;
    uint32_t old_esp = rd32(st, uc, UC_X86_REG_ESP);
    uint64_t esp = ssd.db ? old_esp : (old_esp & 0xffff);
    if (esp < 12 || esp - 1 > ssd.limit) return 0;
    uint64_t lo = esp - 12, at = (uint64_t)ssd.base + lo;
    /* one page (Python's one-write form), below 4 GiB */
    if (at + 12 > 0xffffffffULL || (at >> 12) != ((at + 11) >> 12)) return 0;
    uint64_t fphys;
    if (!xg_translate(x, uc, &g, (uint32_t)at, 1, 1, &fphys) || xp_hma(fphys, 12)) return 0;
    /* the return address's CS base (emu/core_delivery.py _return_linear reads it after) */
    if (!xg_descriptor(x, uc, &g, cs, &csd)) return 0;
    /* the bytes read (gate, descriptors) and the frame must not be entries this changes */
    if (!xg_data(&g, fphys, 12) || xg_overlaps(&g)) return 0;
    uint8_t frame[12];
    xp_frame(frame, return_eip, cs, flags);
    if (!xg_commit(x, uc, &g)) return 0;
    if (x->mem_write(uc, fphys, frame, 12) != 0) return 0;
    x->pg->deliver_count++;
    return xp_enter_handler(st, uc, out, &ssd, old_esp, lo, at, flags, cs, gsel, goff, gtype, csd.base, new_cpl);
}

/* emu/quirks.py forget_last_exception, as Python's hook calls it first with paging on. */
static int xg_forget_exception(xg_state *p, uc_engine *uc) {
    if (p->old_exc_off < 0) return 1;
    if (p->ctx_save(uc, p->ctx) != 0) return 0;
    int32_t minus1 = -1;
    memcpy((char *)p->ctx + p->old_exc_off, &minus1, 4);
    return p->ctx_restore(uc, p->ctx) == 0;
}

/* xp_special_same_ring with CR0.PG set: emu/special.py _on_special for an IRET / far RET --
 * forget QEMU's remembered exception; the opcode (a peek); code32() (CS's descriptor, a CPU
 * read); _may_change_cpl (SS's descriptor, a CPU read; the stacked CS, a peek). */
static int xg_special_same_ring(xd_state *x, uc_engine *uc, uint32_t cr0, uint64_t address) {
    fp_state *st = x->fp;
    xg_state *p = x->pg;
    if (!p || address > 0xffffffffULL) return 0;
    xg_ctx g;
    xg_regs(x, uc, &g, cr0);
    uint8_t head[2];
    if (!xg_read(x, uc, &g, (uint32_t)address, head, 2, 0)) return 0;
    uint8_t op = head[0] == 0x66 ? head[1] : head[0];
    xp_seg csd, ssd;
    uint32_t cs = rd32(st, uc, UC_X86_REG_CS) & 0xffff, ss = rd32(st, uc, UC_X86_REG_SS) & 0xffff;
    if (head[0] == 0x0F && head[1] == 0x22 && (x->enabled & XD_CRW)) {
        /* MOV CR3, r32 (a TLB flush; Linux's text_poke does thousands): Python decodes it
         * (code32: CS's descriptor, a CPU read) and emits `cr_write`, which no batched
         * subscriber needs; nothing else. */
        uint8_t modrm;
        if (!xg_read(x, uc, &g, (uint32_t)address + 2, &modrm, 1, 0) || (modrm & 0xF8) != 0xD8) return 0;
        if (!xg_descriptor(x, uc, &g, cs, &csd) || xg_overlaps(&g)) return 0;
        if (!xg_forget_exception(p, uc) || !xg_commit(x, uc, &g)) return 0;
        p->cr3_count++;
        return 1;
    }
    if (op != 0xCF && op != 0xCA && op != 0xCB) return 0;
    if (!xg_descriptor(x, uc, &g, cs, &csd) || !xg_descriptor(x, uc, &g, ss, &ssd)) return 0;
    int wide = csd.db != (head[0] == 0x66);
    uint32_t esp = rd32(st, uc, UC_X86_REG_ESP);
    if (!ssd.db) esp &= 0xffff;
    uint32_t at = (uint32_t)(((uint64_t)ssd.base + esp + (wide ? 4 : 2)) & 0xffffffffULL);
    uint8_t sel[2];
    if (!xg_read(x, uc, &g, at, sel, 2, 0)) return 0;
    if ((sel[0] & 3) != (cs & 3)) return 0;
    if (xg_overlaps(&g)) return 0;   /* the bytes read must not be entries the walks change */
    if (!xg_forget_exception(p, uc) || !xg_commit(x, uc, &g)) return 0;
    p->special_count++;
    x->pm_special_count++;
    return 1;
}

/* Cpu.read / Cpu.fetch in one call (emu/cpu.py, through emu/native_paging.py): n bytes at
 * linear `lin`.  Paging on: every page walked as Walker.spans does (all pages first, then the
 * bytes), `touch` (Cpu.read) setting the Accessed bits as its walks do; paging off: the
 * physical bytes, as read_phys.  1: done; 0: left to Python, nothing changed (a fault --
 * Python raises it, having set the bits of the pages before it, as it always did --, bytes or
 * entries outside plain RAM, the HMA alias, paging on without the native walker). */
int xg_read_linear(xd_state *x, uc_engine *uc, uint64_t lin, uint32_t n, uint32_t touch, uint8_t *out) {
    xp_cur = x;
    uint32_t cr0 = rd32(x->fp, uc, UC_X86_REG_CR0);
    if ((cr0 & 0x80000001u) != 0x80000001u) {
        if (lin > 0xffffffffULL || xp_hma(lin, n)) return 0;
        return x->mem_read(uc, lin, out, n) == 0;
    }
    if (!x->pg || lin > 0xffffffffULL) return 0;
    xg_ctx g;
    xg_regs(x, uc, &g, cr0);
    uint64_t phys[4];
    uint32_t len[4];
    int k = 0;
    uint32_t a = (uint32_t)lin, left = n;
    while (left > 0) {
        if (k == 4) return 0;
        uint32_t chunk = 0x1000u - (a & 0xFFFu);
        if (chunk > left) chunk = left;
        if (!xg_translate(x, uc, &g, a, 0, touch, &phys[k]) || xp_hma(phys[k], chunk)) return 0;
        len[k++] = chunk;
        a += chunk;
        left -= chunk;
    }
    if (!xg_commit(x, uc, &g)) return 0;
    for (int i = 0; i < k; i++) {
        if (x->mem_read(uc, phys[i], out, len[i]) != 0) return 0;
        out += len[i];
    }
    x->pg->read_count++;
    return 1;
}
