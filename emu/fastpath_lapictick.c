/*
 * BareFlow native fast path, part 6: the local APIC timer's interrupt taken inside emu_start
 * (issue 11, the Linux boot's ~18,000 timer ticks).
 *
 * #included at the end of emu/fastpath.c (after fastpath_lapic.c, whose flapic_state -- the
 * local APIC's registers -- it reads and writes).  Python side: emu/fastlapictick.py.
 *
 * The timer's expiry is a clock event (devices/lapic.py `_timer_event`); the slice's deadline
 * is its cycle, so the per-block callback stops emu_start there and the run loop (emu/core.py
 * _run) fires it: `clock.run_due` -> LocalApic._on_timer (IRR, the periodic re-arm), then
 * `_irq_check` -> `acknowledge` (IRR -> ISR) -> `_deliver_now` (the gate, the `interrupt`
 * event, the cycles, the profiler's frame), and a new emu_start.  fp_block_hook's deadline
 * branch (hook_general) now first calls `flt_on_deadline`, which does that work here when it
 * is ordinary, so the handler starts inside the same emu_start:
 *   - Python armed it for this slice (emu/fastlapictick.py `arm`: no debugger, no instruction
 *     window, every delivery subscriber batched, the frame's stack pages hold no priced code
 *     and no block was priced there since: fp_state.guard_hits);
 *   - the armed deadline is the timer's own event (cell.timer_due: LocalApic mirrors its
 *     Python event's cycle there, a native initial-count write stores its own), no other event
 *     (the earliest at arm, lowered by every event Python schedules during the slice) and not
 *     the run's cycle limit is at or before the clock, the native port path is not held, no
 *     single step;
 *   - the timer LVT is unmasked, fixed mode, vector >= 16; the APIC is software-enabled; the
 *     IRR is empty and the vector's TMR bit clear (so the INTA leaves IRR and TMR as they
 *     were); the vector is above the processor priority; the 8259's INT is low (ExtINT would
 *     go first); IF is set; no VM86;
 *   - the handler's profiler function is known (Python named it at an earlier delivery) and
 *     xd_deliver_pm can deliver (a same-ring 32-bit gate, paging on or off, RAM only).
 * Then: ISR |= the vector (isr_gen bumped: Python's copy reloads), the timer re-armed as
 * `_timer_update(next_time)` computes (none for one-shot), handed back to Python through the
 * cell's timer_due/timer_gen exactly as a native initial-count write is (the fired event is
 * cancelled and the new one scheduled at the next settle, before any other event can be
 * scheduled), the `interrupt` event logged with its cycle and instruction count (emitted by
 * Python at that settle, before any later event), the interrupt's cycles charged, the chain
 * broken, the profiler's frame pushed, the native port path's CS cache set to the handler's
 * CS (what `_deliver_now`'s `cpu.linear_pc()` caches), the 8259's native tick disarmed (a
 * declined tick is always exact), and the deadline the run loop would arm set (a pause or
 * input written meanwhile wins).  `flt_idle` does the same for the run loop halted after a HLT
 * (the clock advanced to the timer's deadline first, as `fast.advance_to` would).  The block the callback was called for is neither charged nor run: the
 * EIP write sends execution to the handler, and its block is charged when it starts.
 */
#define FLT_LOG 64

typedef struct {
    uint64_t cycle, icount;
    xd_rec d;                  /* vector, from_cs ... status (fastpath_pmirq.c) */
    uint32_t pad;
} flt_rec;

/* The public head is mirrored by a ctypes Structure in emu/fastlapictick.py: keep the order. */
typedef struct {
    uint32_t armed;            /* Python: the deadline branch may act in this slice */
    uint32_t vec_cost;         /* costs.interrupt_cycles(True, "hardware") */
    uint64_t ev_limit;         /* the earliest clock event but the LAPIC's and HPET timers', or the cycle limit */
    uint64_t stack_lo, stack_hi; /* linear range holding no priced code (the frame goes there) */
    uint64_t guard_hits;       /* fp_state.guard_hits at arm: a block priced there disarms */
    uint32_t nlog;             /* records waiting for Python */
    uint32_t pad;
    uint64_t ticks;            /* ticks delivered here (counter; tests) */
    uint64_t declined;         /* armed deadlines left to Python */
    uint64_t why[12];          /* declines by reason (tests, tuning): see flt_take */
    uint64_t idle_ticks;       /* of `ticks`, those taken for the run loop halted after a HLT */
    flt_rec log[FLT_LOG];
    /* private */
    flapic_state *l;
    xd_state *x;
} flt_state;

/* The struct's memory belongs to Python (emu/fastlapictick.py). */
void flt_init(flt_state *p, flapic_state *l, xd_state *x) {
    memset(p, 0, sizeof(*p));
    p->l = l;
    p->x = x;
}

/* A GDT descriptor read without side effects (a peek: no Accessed bit set, paging or not). */
static int flt_peek_descriptor(xd_state *x, uc_engine *uc, uint32_t sel, xp_seg *d) {
    uint64_t lin;
    uint8_t r[8];
    if (!xp_gdt_entry(x, uc, sel, &lin) || !xg_read_linear(x, uc, lin, 8, 0, r)) return 0;
    return xp_decode(r, d);
}

/* The handler's linear address through the IDT gate (a peek), for its profiler function. */
static int flt_gate_target(xd_state *x, uc_engine *uc, uint32_t vector, uint64_t *lin, uint32_t *cs_base) {
    xd_mmr idtr;
    memset(&idtr, 0, sizeof(idtr));
    x->fp->reg_read(uc, UC_X86_REG_IDTR, &idtr);
    if (vector * 8 + 7 > (idtr.limit & 0xffff)) return 0;
    uint8_t g[8];
    if (!xg_read_linear(x, uc, (idtr.base & 0xffffffffULL) + (uint64_t)vector * 8, 8, 0, g)) return 0;
    uint32_t glo = g[0] | (g[1] << 8) | (g[2] << 16) | ((uint32_t)g[3] << 24);
    uint32_t ghi = g[4] | (g[5] << 8) | (g[6] << 16) | ((uint32_t)g[7] << 24);
    xp_seg t;
    if (!flt_peek_descriptor(x, uc, glo >> 16, &t)) return 0;
    *lin = (t.base + ((glo & 0xffff) | (ghi & 0xffff0000u))) & 0xffffffffULL;
    *cs_base = t.base;
    return 1;
}

/* The linear address of the lowest byte of a same-ring frame pushed now (a peek), or 0. */
static int flt_frame_at(xd_state *x, uc_engine *uc, uint64_t *at) {
    fp_state *st = x->fp;
    xp_seg ssd;
    if (!flt_peek_descriptor(x, uc, rd32(st, uc, UC_X86_REG_SS) & 0xffff, &ssd)) return 0;
    uint32_t esp = rd32(st, uc, UC_X86_REG_ESP);
    *at = ((uint64_t)ssd.base + (ssd.db ? esp : (esp & 0xffff)) - 12) & 0xffffffffULL;
    return 1;
}

/* Python's arm: where a frame would go now (1), so it can check those pages hold no code. */
int flt_probe_frame(flt_state *p, uc_engine *uc, uint64_t *at) {
    xp_cur = p->x;
    return flt_frame_at(p->x, uc, at);
}

/* _timer_update(next_time) after the expiry: the next expiry's cycle (FL_NONE: none); 0 if
 * the arithmetic leaves what the C types hold (then Python does it all). */
static int flt_rearm(const flapic_state *l, uint64_t *due, uint64_t *next_ns) {
    const flapic_cell *c = &l->cell;
    uint32_t shift = c->count_shift;
    uint64_t ic = c->initial_count;
    if (shift > 7 || c->next_time < c->load_time) return 0;
    uint64_t d = (c->next_time - c->load_time) >> shift;
    *due = FL_NONE;
    if (c->lvt[0] & FL_PERIODIC) {
        if (!ic) return 1;
        unsigned __int128 nd = ((unsigned __int128)(d / (ic + 1)) + 1) * (ic + 1);
        unsigned __int128 nt = (unsigned __int128)c->load_time + (nd << shift);
        if (nt > UINT64_MAX / 2) return 0;
        d = (uint64_t)nd;
    } else {
        if (d >= ic) return 1;
        d = ic + 1;
        if (c->load_time + (d << shift) > UINT64_MAX / 2) return 0;
    }
    *next_ns = c->load_time + (d << shift);
    *due = fl_cycles_ceil(l, *next_ns);
    return 1;
}

/* The run loop's work at the timer's deadline `dl` (see the header comment); 1: delivered.
 * idle: the CPU is halted after a HLT (its event emitted by Python) and the run loop would
 * advance the idle clock to `dl`; else the deadline branch, at the clock. */
static int flt_take(flt_state *p, uc_engine *uc, uint64_t dl, int idle) {
    flapic_state *l = p->l;
    xd_state *x = p->x;
    fp_state *st = x->fp;
    flapic_cell *c = &l->cell;
    uint64_t now = idle && dl > st->cycles ? dl : st->cycles;
    uint64_t due = c->timer_due;   /* Python's event (LocalApic mirrors it) or a native re-arm */
#define FLT_NO(k) do { p->why[k]++; return 0; } while (0)
    if (due == FL_NONE) FLT_NO(8);                                       /* no timer event */
    if (dl == 0) FLT_NO(9);                                              /* Python asked to look */
    if (dl < due) FLT_NO(10);                                            /* another event first */
    if (dl != due || due > now) FLT_NO(0);                               /* the timer moved later */
    /* ev_limit leaves out the HPET timers' events (emu/fastlapictick.py): their cells say them */
    uint64_t lim = p->ev_limit, hpet_due = fl_hpet_next_due(l, -1);
    if (hpet_due < lim) lim = hpet_due;
    if (now >= lim) FLT_NO(1);                                           /* another event is due */
    if (st->step_mode || !l->ports || !l->ports->enabled) FLT_NO(11);    /* held: the run loop looks */
    if (p->nlog >= FLT_LOG || st->guard_hits != p->guard_hits) FLT_NO(7);
    uint32_t lvt = c->lvt[0], vector = lvt & 0xff;
    if ((lvt & FL_MASKED) || ((lvt >> 8) & 7) != 0 || vector < 16 || !(c->spurious & FL_SV_ENABLE)) FLT_NO(2);
    for (int w = 0; w < 8; w++)
        if (c->irr[w]) FLT_NO(3);
    if (c->tmr[vector >> 5] & (1u << (vector & 31))) FLT_NO(3);
    uint32_t ppr = fl_ppr(c);
    if (ppr && (vector & 0xf0) <= (ppr & 0xf0)) FLT_NO(3);
    if (l->pic && l->pic->intr) FLT_NO(3);
    uint32_t cr0 = rd32(st, uc, UC_X86_REG_CR0), flags = rd32(st, uc, UC_X86_REG_EFLAGS);
    if (!(cr0 & 1) || !(flags & FL_IF) || (flags & XP_VM)) FLT_NO(4);   /* IF clear: the window */
    uint64_t next_due, next_ns = 0;
    if (!flt_rearm(l, &next_due, &next_ns)) FLT_NO(5);
    if (next_due != FL_NONE && next_due <= now) FLT_NO(5);   /* run_due would fire it again */
    uint64_t handler, at;
    uint32_t cs_base;
    int32_t func;
    if (!flt_gate_target(x, uc, vector, &handler, &cs_base) || !handler_func(x, handler, &func)) FLT_NO(6);
    if (!flt_frame_at(x, uc, &at) || at < p->stack_lo || at + 12 > p->stack_hi) FLT_NO(7);
    uint32_t eip = rd32(st, uc, UC_X86_REG_EIP);
    uint32_t out[6];
    int ok = xd_deliver_pm(x, uc, vector, eip, 0, out);
    if (!ok) FLT_NO(6);
#undef FLT_NO
    /* commit: _on_timer (the re-arm handed back as a native one), the INTA, _deliver_now */
    st->cycles = now;                                   /* idle: fast.advance_to(deadline) */
    if (next_due != FL_NONE) c->next_time = next_ns;
    c->timer_due = next_due;
    c->timer_gen++;
    l->rearms++;
    c->isr[vector >> 5] |= 1u << (vector & 31);
    c->isr_gen++;
    st->irq_pending = 0;
    flt_rec *r = &p->log[p->nlog++];
    r->cycle = now;
    r->icount = st->instructions;
    xd_tick_delivered(st, &r->d, vector, ok, out, eip, func, now, p->vec_cost);
    p->ticks++;
    if (l->ports) {
        /* _deliver_now: cpu.forget_cs(), then its cpu.linear_pc() caches the new CS's base (the
         * descriptor the delivery just loaded, read at the same moment) */
        l->ports->cs_sel = (out[1] & ~3u) | (out[0] & 3u);
        l->ports->cs_base = cs_base;
        l->ports->cs_valid = ok == 1;
    }
    if (l->pic) l->pic->armed = 0;
    /* the deadline the run loop would arm now; a wake-up or pause written meanwhile wins
     * (idle: the run loop arms the next slice itself) */
    uint64_t nd = next_due < lim ? next_due : lim;
    if (!idle) __atomic_compare_exchange_n(&st->deadline, &dl, nd, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    if (ok == 2) st->emu_stop(uc);                      /* Python raises as cpu.set would */
    return 1;
}

/* fp_state.on_deadline: 1 when the tick was delivered (the block is not charged nor run). */
static int flt_on_deadline(void *user, uc_engine *uc) {
    flt_state *p = (flt_state *)user;
    if (!p->armed) return 0;
    xp_cur = p->x;
    if (flt_take(p, uc, __atomic_load_n(&p->x->fp->deadline, __ATOMIC_SEQ_CST), 0)) return 1;
    p->declined++;
    return 0;
}

/* The run loop, halted after a HLT with IF set, its pacing wait over, would advance the clock to
 * `deadline` and go round: the same work here (1: delivered, the CPU runs the handler). */
int flt_idle(flt_state *p, uc_engine *uc, uint64_t deadline) {
    if (!p->armed) return 0;
    xp_cur = p->x;
    if (flt_take(p, uc, deadline, 1)) {
        p->idle_ticks++;
        return 1;
    }
    p->declined++;
    return 0;
}

void flt_attach(flt_state *p, fp_state *st) {
    st->on_deadline = flt_on_deadline;
    st->on_deadline_user = p;
}

void flt_detach(fp_state *st) {
    st->on_deadline = NULL;
    st->on_deadline_user = NULL;
}

/* The code-free stack range of this slice: a block priced inside it later disarms. */
void flt_set_guard(flt_state *p, fp_state *st, uint64_t lo, uint64_t hi) {
    st->guard_lo = lo;
    st->guard_hi = hi;
    p->stack_lo = lo;
    p->stack_hi = hi;
    p->guard_hits = st->guard_hits;
}

size_t flt_state_size(void) { return sizeof(flt_state); }

static const size_t flt_head_layout[] = {
    offsetof(flt_state, armed), offsetof(flt_state, vec_cost), offsetof(flt_state, ev_limit),
    offsetof(flt_state, stack_lo),
    offsetof(flt_state, stack_hi), offsetof(flt_state, guard_hits), offsetof(flt_state, nlog),
    offsetof(flt_state, pad), offsetof(flt_state, ticks), offsetof(flt_state, declined), offsetof(flt_state, why), offsetof(flt_state, idle_ticks),
    offsetof(flt_state, log), offsetof(flt_state, l),
};
size_t flt_layout(size_t *out, size_t n) { return copy_layout(flt_head_layout, COUNT_OF(flt_head_layout), out, n); }
