/*
 * BareFlow native fast path, part 3: protected-mode interrupt delivery in C (issue 11).
 *
 * #included at the end of emu/fastpath.c (after fastpath_native.c, whose xd_state, rd32/wr32
 * it uses).  Python still decides WHEN to deliver (emu/core.py _irq_check, the INTR hook) and
 * still does everything around the delivery (the `hooks.deliveries` subscribers, the trace
 * event, the cycles, the profiler frame); this is the computation of emu/interrupts.py
 * `deliver_protected` for its common case, in one call instead of ~40 register and memory
 * reads through ctypes: a present 32-bit interrupt or trap gate whose code segment is at the
 * current privilege level (no stack switch), paging off, no error code.  Anything else --
 * paging on, v86 mode, a 16-bit or task gate, a gate or segment that is not present, beyond
 * its table's limit or in the LDT, a ring change, an expand-down or too small stack, a table
 * or the stack outside plain RAM -- returns 0 before anything is changed,
 * and Python delivers as before (including the faults such cases raise).
 */
#define XP_TF 0x100u
#define XP_IF 0x200u
#define XP_NT 0x4000u
#define XP_RF 0x10000u
#define XP_VM 0x20000u
#define UC_X86_REG_GDTR 243

typedef struct { uint32_t base, limit, type, s, dpl, present, db; } xp_seg;

/* Paging on: the same computations through the page tables (emu/fastpath_paging.c). */
static int xg_deliver_pm(xd_state *x, uc_engine *uc, uint32_t cr0, uint32_t vector, uint32_t return_eip,
                         uint32_t software, uint32_t *out);
static int xg_special_same_ring(xd_state *x, uc_engine *uc, uint32_t cr0, uint64_t address);

/* Physical reads/writes the native code makes stay in plain RAM, where Python's reads find the
 * same bytes: not the A20 alias window while A20 is off (emu/cpu.py read_phys, hma_alias), not
 * the legacy VGA / ROM window (devices answer there, emu/machine.py read_mem), not beyond RAM
 * (MMIO). */
static xd_state *xp_cur;
static inline int xp_hma(uint64_t a, uint64_t n) {
    return (a < 0x100000ULL && a + n > 0xA0000ULL) || a + n > xp_cur->ram_size
        || (xp_cur->a20_off && a < 0x110000ULL && a + n > 0x100000ULL);
}

void xd_set_ram(xd_state *x, uint64_t size) { x->ram_size = size; }
void xd_set_a20(xd_state *x, uint32_t enabled) { x->a20_off = !enabled; }
uint64_t xd_pm_special_count(xd_state *x) { return x->pm_special_count; }

/* cpu.descriptor(): the GDT entry of a selector (never the LDT), decoded as decode_descriptor. */
/* The 8 bytes of a GDT entry in words (Cpu.decode_descriptor): shared by the paging-off
 * read below and the paging-on one (fastpath_paging.c xg_descriptor). */
static int xp_decode(const uint8_t r[8], xp_seg *d) {
    uint32_t lo = r[0] | (r[1] << 8) | (r[2] << 16) | ((uint32_t)r[3] << 24);
    uint32_t hi = r[4] | (r[5] << 8) | (r[6] << 16) | ((uint32_t)r[7] << 24);
    d->limit = (lo & 0xffff) | (hi & 0x000f0000u);
    if (hi >> 23 & 1) d->limit = (d->limit << 12) | 0xfff;
    d->base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u);
    d->type = (hi >> 8) & 0xf;
    d->s = hi >> 12 & 1;
    d->dpl = (hi >> 13) & 3;
    d->present = hi >> 15 & 1;
    d->db = hi >> 22 & 1;
    return 1;
}

/* The linear address of selector `sel`'s GDT entry; 0 for an LDT selector or one beyond the
 * GDT's limit (each reader below then reads the 8 bytes its own way). */
static int xp_gdt_entry(xd_state *x, uc_engine *uc, uint32_t sel, uint64_t *lin) {
    xd_mmr gdtr;
    memset(&gdtr, 0, sizeof(gdtr));
    x->fp->reg_read(uc, UC_X86_REG_GDTR, &gdtr);
    uint32_t index = sel & ~7u;
    if ((sel & 4) || index + 7 > (gdtr.limit & 0xffff)) return 0;
    *lin = (gdtr.base & 0xffffffffULL) + index;
    return 1;
}

static int xp_descriptor(xd_state *x, uc_engine *uc, uint32_t sel, xp_seg *d) {
    uint64_t lin;
    uint8_t r[8];
    if (!xp_gdt_entry(x, uc, sel, &lin) || xp_hma(lin, 8) || x->mem_read(uc, lin, r, 8) != 0) return 0;
    return xp_decode(r, d);
}

/* The `interrupt` event's fields of a native tick, in its log record (fpic_rec, flt_rec; their
 * ctypes mirrors in emu/fastpic.py and emu/fastlapictick.py list them in this order). */
typedef struct {
    uint32_t vector, from_cs, from_eip, to_cs, to_eip, gate_type;
    uint32_t status;                    /* 1 delivered; 2 Unicorn refused the CS load */
} xd_rec;

/* What Python's delivery bookkeeping does after a native tick's xd_deliver_pm (the 8259/PIT tick,
 * emu/fastpath_pic.c; the local APIC timer, emu/fastpath_lapictick.c): the event's record
 * (`ok`: xd_deliver_pm's answer), the vector's cycles, no chain to the interrupted block, the
 * handler's profiler frame returning to the interrupted EIP (out[5]: the from-CS base), entered
 * at cycle `at`. */
static void xd_tick_delivered(fp_state *st, xd_rec *r, uint32_t vector, int ok, const uint32_t *out, uint32_t eip,
                              int32_t func, uint64_t at, uint32_t vec_cost) {
    r->vector = vector;
    r->from_cs = out[0];
    r->from_eip = eip;
    r->to_cs = out[1];
    r->to_eip = out[2];
    r->gate_type = out[3];
    r->status = (uint32_t)ok;
    st->cycles += vec_cost;
    st->prev = NULL;
    fp_push_frame(st, ((uint64_t)out[5] + eip) & 0xffffffffULL, func, at);
}

/* An IDT entry's 8 bytes as deliver_protected checks them: a present 32-bit interrupt or trap
 * gate (a software INT n also needs DPL >= CPL).  0: not one the native delivery takes. */
static int xp_gate(const uint8_t g[8], uint32_t software, uint32_t cpl, uint32_t *gsel, uint32_t *goff,
                   uint32_t *gtype) {
    uint32_t glo = g[0] | (g[1] << 8) | (g[2] << 16) | ((uint32_t)g[3] << 24);
    uint32_t ghi = g[4] | (g[5] << 8) | (g[6] << 16) | ((uint32_t)g[7] << 24);
    *gtype = (ghi >> 8) & 0xf;
    if ((ghi >> 12 & 1) || (*gtype != 0xE && *gtype != 0xF)) return 0;
    if (software && ((ghi >> 13) & 3) < cpl) return 0;
    if (!(ghi >> 15 & 1)) return 0;
    *gsel = glo >> 16;
    *goff = (glo & 0xffff) | (ghi & 0xffff0000u);
    return 1;
}

/* The 12-byte same-ring interrupt frame, lowest address first: EIP, CS, EFLAGS. */
static void xp_frame(uint8_t frame[12], uint32_t return_eip, uint32_t cs, uint32_t flags) {
    uint32_t words[3] = {return_eip, cs, flags};
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 4; b++) frame[4 * k + b] = (uint8_t)(words[k] >> (8 * b));
}

/* After the frame is written (paging off or on): ESP, EFLAGS (TF/NT/RF/VM clear, IF too through an
 * interrupt gate), out[] (see xd_deliver_pm), then CS and EIP: 1, or 2 when Unicorn refused the CS. */
static int xp_enter_handler(fp_state *st, uc_engine *uc, uint32_t *out, const xp_seg *ssd, uint32_t old_esp,
                            uint64_t lo, uint64_t at, uint32_t flags, uint32_t cs, uint32_t gsel, uint32_t goff,
                            uint32_t gtype, uint32_t cs_base, uint32_t new_cpl) {
    wr32(st, uc, UC_X86_REG_ESP, ssd->db ? (uint32_t)lo : ((old_esp & 0xffff0000u) | (uint32_t)lo));
    uint32_t nf = flags & ~(XP_TF | XP_NT | XP_RF | XP_VM);
    if (gtype == 0xE) nf &= ~XP_IF;
    wr32(st, uc, UC_X86_REG_EFLAGS, nf);
    out[0] = cs;
    out[1] = gsel;
    out[2] = goff;
    out[3] = gtype;
    out[4] = (uint32_t)at;
    out[5] = cs_base;
    uint64_t v = (gsel & ~3u) | new_cpl;
    if (st->reg_write(uc, UC_X86_REG_CS, &v) != 0) return 2;
    wr32(st, uc, UC_X86_REG_EIP, goff);
    return 1;
}

/* Deliver `vector` through the IDT as deliver_protected does, or return 0 having changed
 * nothing.  out[]: from CS, the gate's selector, the gate's offset, the gate type (0xE/0xF),
 * the linear address of the lowest pushed byte (Python tells the pricer about the 12
 * bytes: cpu.write's hook), the from-CS segment base (the profiler's return address).
 * 2: the frame was pushed but Unicorn refused the CS load (Python raises as cpu.set would). */
int xd_deliver_pm(xd_state *x, uc_engine *uc, uint32_t vector, uint32_t return_eip, uint32_t software,
                  uint32_t *out) {
    fp_state *st = x->fp;
    xp_cur = x;
    uint32_t cr0 = rd32(st, uc, UC_X86_REG_CR0);
    if (!(cr0 & 1)) return 0;
    if (cr0 & 0x80000000u) return xg_deliver_pm(x, uc, cr0, vector, return_eip, software, out);
    uint32_t flags = rd32(st, uc, UC_X86_REG_EFLAGS);
    if (flags & XP_VM) return 0;
    uint32_t cs = rd32(st, uc, UC_X86_REG_CS) & 0xffff, cpl = cs & 3;
    xd_mmr idtr;
    memset(&idtr, 0, sizeof(idtr));
    st->reg_read(uc, UC_X86_REG_IDTR, &idtr);
    uint64_t ent = (idtr.base & 0xffffffffULL) + (uint64_t)vector * 8;
    if (vector * 8 + 7 > (idtr.limit & 0xffff)) return 0;
    uint8_t g[8];
    if (xp_hma(ent, 8) || x->mem_read(uc, ent, g, 8) != 0) return 0;
    uint32_t gsel, goff, gtype;
    if (!xp_gate(g, software, cpl, &gsel, &goff, &gtype)) return 0;
    xp_seg target, ssd, csd;
    if (!xp_descriptor(x, uc, gsel, &target) || !target.s || !(target.type & 8) || !target.present) return 0;
    uint32_t new_cpl = (target.type & 4) ? cpl : target.dpl;
    if (new_cpl != cpl) return 0;
    uint32_t ss = rd32(st, uc, UC_X86_REG_SS) & 0xffff;
    if (!xp_descriptor(x, uc, ss, &ssd) || !ssd.present || (ssd.type & 4)) return 0;
    if (!xp_descriptor(x, uc, cs, &csd)) return 0;
    uint32_t old_esp = rd32(st, uc, UC_X86_REG_ESP);
    uint64_t esp = ssd.db ? old_esp : (old_esp & 0xffff);
    if (esp < 12 || esp - 1 > ssd.limit) return 0;
    uint64_t lo = esp - 12, at = (uint64_t)ssd.base + lo;
    if (at + 12 > 0xffffffffULL || xp_hma(at, 12)) return 0;
    uint8_t frame[12];
    xp_frame(frame, return_eip, cs, flags);
    if (x->mem_write(uc, at, frame, 12) != 0) return 0;   /* all or nothing (unmapped: Python) */
    return xp_enter_handler(st, uc, out, &ssd, old_esp, lo, at, flags, cs, gsel, goff, gtype, csd.base, new_cpl);
}

/* The watched IRET / far RET in protected mode (emu/special.py _on_special + _may_change_cpl):
 * Python only asks for a mode check when the CS about to be popped has another RPL than the
 * CPL; a return within one ring (a kernel's IRQ handler) needs nothing.  1: answered here (the
 * same nothing); 0: Python's hook runs (a ring change, paging on -- Python then also forgets
 * QEMU's remembered fault --, v86, another instruction, anything outside plain RAM). */
static int xp_special_same_ring(xd_state *x, uc_engine *uc, uint64_t address) {
    fp_state *st = x->fp;
    xp_cur = x;
    uint32_t cr0 = rd32(st, uc, UC_X86_REG_CR0);
    if (!(cr0 & 1) || (rd32(st, uc, UC_X86_REG_EFLAGS) & XP_VM)) return 0;
    if (cr0 & 0x80000000u) return xg_special_same_ring(x, uc, cr0, address);
    uint8_t head[2];
    if (address > 0xffffffffULL || xp_hma(address, 2) || x->mem_read(uc, address, head, 2) != 0) return 0;
    uint8_t op = head[0] == 0x66 ? head[1] : head[0];
    if (op != 0xCF && op != 0xCA && op != 0xCB) return 0;
    xp_seg csd, ssd;
    uint32_t cs = rd32(st, uc, UC_X86_REG_CS) & 0xffff, ss = rd32(st, uc, UC_X86_REG_SS) & 0xffff;
    if (!xp_descriptor(x, uc, cs, &csd) || !xp_descriptor(x, uc, ss, &ssd)) return 0;
    int wide = csd.db != (head[0] == 0x66);
    uint32_t esp = rd32(st, uc, UC_X86_REG_ESP);
    if (!ssd.db) esp &= 0xffff;
    uint64_t at = ((uint64_t)ssd.base + esp + (wide ? 4 : 2)) & 0xffffffffULL;
    uint8_t sel[2];
    if (xp_hma(at, 2) || x->mem_read(uc, at, sel, 2) != 0) return 0;
    if ((sel[0] & 3) != (cs & 3)) return 0;
    x->pm_special_count++;
    return 1;
}
