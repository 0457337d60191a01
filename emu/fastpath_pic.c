/*
 * BareFlow native fast path, part 4: the idle timer tick inside emu_start (issue 11).
 *
 * #included at the end of emu/fastpath.c (after fastpath_pmirq.c, whose xd_deliver_pm and
 * xp_descriptor it uses).  Python side: emu/fastpic.py; the device models: devices/pic.py,
 * devices/pit.py.
 *
 * What an idle kernel does 100 times a second -- HLT; the PIT's channel 0 output falls and
 * rises (two clock events in mode 2); the rising edge raises IRQ0 at the 8259; the CPU, with
 * IF set, takes the vector (INTA) and enters the handler through a same-ring 32-bit gate --
 * used to end emu_start at the HLT and run through the Python run loop (emu/core.py _run:
 * clock.run_due, the PIT's _on_transition, the 8259's set_irq/_update, _irq_check, the
 * acknowledge, _deliver_now).  A code hook on each HLT the guest has executed before (its
 * address is registered by Python) now does the same work here, before the HLT runs, when
 * everything about it is ordinary; the handler then starts inside the same emu_start, so an
 * idle guest's ticks cost one emu_start per pacing wake-up instead of one per tick.
 *
 * Ownership (the single-writer pattern of fastpath_ports.c):
 *   - the two 8259s' registers LIVE in this struct (devices/pic.py `_Chip` is a ctypes view
 *     of `master`/`slave` once attached) and so does the master's INT level: Python and C
 *     read and write the same bytes, never a copy;
 *   - the PIT publishes channel 0 (mode, reload, start cycle, its IRQ level and the cycle of
 *     its pending transition event) after every change it makes; C advances only the output
 *     level and the next transition, and Python takes them back (`fpic_sync` counters) at the
 *     next point where Python code runs (emu/fastpic.py `settle`): the PIT's clock event is
 *     then re-scheduled at the cycle C computed, before any other event can be scheduled, so
 *     the event queue's order is the one the Python path would have made;
 *   - the `hlt` and `interrupt` events the Python path would have emitted are logged here
 *     with their cycle, instruction count and fields and emitted by Python, in order, at that
 *     same next point (before any later event), so subscribers and the trace see the same.
 *
 * The hook does nothing (the HLT runs and ends emu_start as before) unless: Python armed it
 * for this slice (no debugger, no instruction window, every delivery subscriber batched, the
 * I/O APIC pin 2 masked and edge, the HPET not in legacy mode, LINT0 in ExtINT mode
 * accepting the 8259, the PIT published), IF is set, the 8259's INT is low, no IRQ waits
 * for IF, the HLT ends the current block, the armed deadline is the PIT's own event and
 * every transition up to the one that raises the 8259's INT comes before any other event,
 * the run's cycle limit and the pacing limit; the INTA leaves INT low; the handler's profiler
 * function is known (Python named it at an earlier delivery); and xd_deliver_pm can deliver
 * the vector (protected mode, paging off, a same-ring 32-bit gate, RAM only).  All of that
 * is decided on copies before anything is written.
 */
#define FPIC_LOG 64
#define FPIC_NONE UINT64_MAX

typedef struct {
    uint32_t irr, imr, isr, last_irr, priority_add, irq_base, read_reg_select, poll, special_mask,
             init_state, auto_eoi, rotate_on_auto_eoi, special_fully_nested_mode, init4, single_mode,
             elcr, elcr_mask, is_master;
} fpic_chip;

typedef struct {
    uint64_t hlt_cycle, hlt_icount;     /* the `hlt` event */
    uint64_t int_cycle, int_icount;     /* the `interrupt` event */
    uint32_t hlt_eip;
    xd_rec d;                           /* vector, from_cs ... status (fastpath_pmirq.c) */
    uint32_t has_hlt;                   /* 0: Python emitted the `hlt` event itself */
} fpic_rec;

/* The public head is mirrored by a ctypes Structure in emu/fastpic.py: keep the order. */
typedef struct {
    fpic_chip master, slave;  /* devices/pic.py: the storage of both chips */
    uint32_t intr;            /* the master's INT output (Pic.intr) */
    uint32_t armed;           /* Python: the hook may act in this slice */
    uint32_t pit_valid;       /* channel 0 published, mode 0-5, reload 1-65536 */
    uint32_t pit_mode;
    uint32_t pit_count;
    uint32_t pit_level;       /* Pit._irq_level (channel 0's output as last driven) */
    uint64_t pit_load_cycle;
    uint64_t pit_next;        /* cycle of the pending transition event, FPIC_NONE if none */
    uint64_t cpu_hz, pit_hz;
    uint64_t ev_limit;        /* the earliest other clock event or the cycle limit */
    uint64_t pace_limit;      /* no idle advance beyond this cycle (the TUI's pacing) */
    uint64_t stack_lo, stack_hi; /* linear range holding no priced code (the frame goes there) */
    uint64_t arm_misses;      /* fp_state.misses when armed: a newly priced block disarms */
    uint32_t vec_cost;        /* costs.interrupt_cycles(True, "hardware") */
    uint32_t nlog;            /* records waiting for Python */
    uint64_t ticks;           /* ticks delivered here (counter; tests) */
    uint64_t declined;        /* armed HLTs left to Python */
    uint64_t transitions;     /* PIT transitions fired here (Python resyncs when it moved) */
    uint64_t eois;            /* OCW2 EOIs written here (OUT 0x20 / 0xA0; counter) */
    fpic_rec log[FPIC_LOG];
    /* private */
    xd_state *x;
    fp_ports *ports;          /* the native port path: its CS cache is dropped at a delivery */
} fpic_state;

/* The struct's memory belongs to Python (emu/fastpic.py: a buffer of fpic_state_size() bytes
 * that devices/pic.py's registers live in, so it outlives the core as long as the device does). */
void fpic_init(fpic_state *p, xd_state *x) {
    memset(p, 0, sizeof(*p));
    p->x = x;
    p->pit_next = FPIC_NONE;
}

void fpic_set_ports(fpic_state *p, fp_ports *ports) { p->ports = ports; }

/* ---- devices/pic.py, line for line ------------------------------------------------ */
static int fpic_priority(uint32_t mask, uint32_t priority_add) {
    if (mask == 0) return 8;
    int p = 0;
    while (!(mask & (1u << ((p + priority_add) & 7)))) p++;
    return p;
}

static void fpic_chip_set_irq(fpic_chip *c, int irq, int level) {
    uint32_t mask = 1u << irq;
    if (c->elcr & mask) {
        if (level) { c->irr |= mask; c->last_irr |= mask; }
        else { c->irr &= ~mask; c->last_irr &= ~mask; }
    } else {
        if (level) {
            if (!(c->last_irr & mask)) c->irr |= mask;
            c->last_irr |= mask;
        } else {
            c->last_irr &= ~mask;
        }
    }
}

static int fpic_get_irq(const fpic_chip *c) {
    int priority = fpic_priority(c->irr & ~c->imr & 0xff, c->priority_add);
    if (priority == 8) return -1;
    uint32_t mask = c->isr;
    if (c->special_mask) mask &= ~c->imr;
    if (c->special_fully_nested_mode && c->is_master) mask &= ~(1u << 2);
    if (priority < fpic_priority(mask & 0xff, c->priority_add)) return (priority + (int)c->priority_add) & 7;
    return -1;
}

static void fpic_intack(fpic_chip *c, int irq) {
    if (c->auto_eoi) {
        if (c->rotate_on_auto_eoi) c->priority_add = (uint32_t)(irq + 1) & 7;
    } else {
        c->isr |= 1u << irq;
    }
    if (!(c->elcr & (1u << irq))) c->irr &= ~(1u << irq);
}

/* Pic._update without the on_intr call: the new INT level. */
static uint32_t fpic_update(fpic_chip *m, fpic_chip *s, int slave_changed) {
    if (slave_changed) fpic_chip_set_irq(m, 2, fpic_get_irq(s) >= 0 ? 1 : 0);
    return fpic_get_irq(m) >= 0;
}

/* Pic.acknowledge: the vector; the chips move the request from IRR to ISR. */
static uint32_t fpic_acknowledge(fpic_chip *m, fpic_chip *s) {
    int irq = fpic_get_irq(m);
    uint32_t vector;
    if (irq >= 0) {
        if (irq == 2) {
            int irq2 = fpic_get_irq(s);
            if (irq2 >= 0) {
                fpic_intack(s, irq2);
                fpic_update(m, s, 1);
            } else {
                irq2 = 7;
            }
            vector = s->irq_base + (uint32_t)irq2;
        } else {
            vector = m->irq_base + (uint32_t)irq;
        }
        fpic_intack(m, irq);
    } else {
        vector = m->irq_base + 7;
    }
    return vector & 0xff;
}

/* ---- devices/pit.py _Channel, channel 0 --------------------------------------------- */
static uint64_t fpic_ticks(const fpic_state *p, uint64_t now) {
    return (uint64_t)((unsigned __int128)(now - p->pit_load_cycle) * p->pit_hz / p->cpu_hz);
}

static int fpic_pit_out(const fpic_state *p, uint64_t now) {
    uint64_t d = fpic_ticks(p, now), count = p->pit_count;
    switch (p->pit_mode) {
    case 0: case 1: return d >= count;
    }
    if (count < 2) return 1;
    if (p->pit_mode == 2) return (d % count) == count - 1 ? 0 : 1;
    if (p->pit_mode == 3) return (d % count) < ((count + 1) >> 1);
    return d == count ? 0 : 1;
}

/* The next transition's cycle after `now`, FPIC_NONE if there is none (next_transition_tick,
 * then load_cycle + _ticks_to_cycle_ceil). */
static uint64_t fpic_pit_next(const fpic_state *p, uint64_t now) {
    uint64_t d = fpic_ticks(p, now), count = p->pit_count, tick;
    switch (p->pit_mode) {
    case 0: case 1:
        if (d >= count) return FPIC_NONE;
        tick = count;
        break;
    case 2: case 3:
        if (count < 2) return FPIC_NONE;
        if (p->pit_mode == 2) {
            uint64_t base = d - d % count, low_at = base + count - 1;
            tick = d < low_at ? low_at : d == low_at ? base + count : base + 2 * count - 1;
        } else {
            uint64_t base = d - d % count, half = (count + 1) >> 1;
            tick = d - base < half ? base + half : base + count;
        }
        break;
    default:
        if (d < count) tick = count;
        else if (d == count) tick = count + 1;
        else return FPIC_NONE;
    }
    unsigned __int128 num = (unsigned __int128)tick * p->cpu_hz;
    return p->pit_load_cycle + (uint64_t)((num + p->pit_hz - 1) / p->pit_hz);
}

/* The target of a gate (for the profiler's function, before anything is changed). */
static int fpic_gate_target(xd_state *x, uc_engine *uc, uint32_t vector, uint64_t *lin) {
    xd_mmr idtr;
    memset(&idtr, 0, sizeof(idtr));
    xp_cur = x;
    x->fp->reg_read(uc, UC_X86_REG_IDTR, &idtr);
    if (vector * 8 + 7 > (idtr.limit & 0xffff)) return 0;
    uint64_t ent = (idtr.base & 0xffffffffULL) + (uint64_t)vector * 8;
    uint8_t g[8];
    if (xp_hma(ent, 8) || x->mem_read(uc, ent, g, 8) != 0) return 0;
    uint32_t glo = g[0] | (g[1] << 8) | (g[2] << 16) | ((uint32_t)g[3] << 24);
    uint32_t ghi = g[4] | (g[5] << 8) | (g[6] << 16) | ((uint32_t)g[7] << 24);
    xp_seg t;
    if (!xp_descriptor(x, uc, glo >> 16, &t)) return 0;
    *lin = (t.base + ((glo & 0xffff) | (ghi & 0xffff0000u))) & 0xffffffffULL;
    return 1;
}

/* The run loop's work after a HLT at cycle st->cycles with deadline `dl`, up to and including
 * the delivery, or nothing (0).  `eip`: the return address (after the HLT).  hlt: log the
 * `hlt` event too (the hook: the HLT did not run; the run loop's call: Python emitted it). */
static int fpic_take(fpic_state *p, uc_engine *uc, uint64_t dl, uint32_t eip, int hlt) {
    xd_state *x = p->x;
    fp_state *st = x->fp;
    uint64_t now = st->cycles;
    if (dl != p->pit_next || p->pit_next >= p->ev_limit || now >= p->ev_limit || now < p->pit_load_cycle
        || st->misses != p->arm_misses) return 0;
    uint32_t cr0 = rd32(st, uc, UC_X86_REG_CR0), flags = rd32(st, uc, UC_X86_REG_EFLAGS);
    if (!(cr0 & 1) || (cr0 & 0x80000000u) || !(flags & FL_IF) || (flags & XP_VM)) return 0;

    /* the run loop after the HLT, on copies: fire due PIT transitions, advance the idle
     * clock to the next one, until the 8259 raises INT */
    fpic_chip m = p->master, s = p->slave;
    uint64_t t = now, next = p->pit_next;
    uint32_t level = p->pit_level, intr = 0, fired = 0;
    /* as the run loop: every transition due at t fires (run_due) before INT is looked at;
     * only then is the idle clock advanced to the next one */
    for (int k = 0;; k++) {
        if (k == 8) goto decline;
        if (next == FPIC_NONE || next >= p->ev_limit || next > t) {
            if (intr) break;
            if (next == FPIC_NONE || next >= p->ev_limit || next > p->pace_limit) goto decline;
            t = next;
        }
        uint32_t out = (uint32_t)fpic_pit_out(p, next);
        uint64_t at = next;
        next = fpic_pit_next(p, at);
        fired++;
        if (out != level) {
            level = out;
            fpic_chip_set_irq(&m, 0, (int)level);
            intr = fpic_update(&m, &s, 0);
        }
    }
    if (!intr) goto decline;
    uint32_t vector = fpic_acknowledge(&m, &s);
    if (fpic_update(&m, &s, 0)) goto decline;           /* INT stays high: Python */
    uint64_t handler;
    int32_t func;
    if (!fpic_gate_target(x, uc, vector, &handler) || !handler_func(x, handler, &func)) goto decline;
    /* the frame may not touch priced code (Python would drop it: Pricer.host_wrote) */
    xp_seg ssd;
    if (!xp_descriptor(x, uc, rd32(st, uc, UC_X86_REG_SS) & 0xffff, &ssd)) goto decline;
    uint32_t esp = rd32(st, uc, UC_X86_REG_ESP);
    uint64_t fat = (uint64_t)ssd.base + (ssd.db ? esp : (esp & 0xffff)) - 12;
    if (fat < p->stack_lo || fat + 12 > p->stack_hi) goto decline;
    uint32_t out[6];
    uint64_t hlt_icount = st->instructions;
    int ok = xd_deliver_pm(x, uc, vector, eip, 0, out);
    if (!ok) goto decline;
    /* commit: the PIT, the chips, the clock, then _deliver_now's cycles, chain, frame */
    p->master = m;
    p->slave = s;
    p->intr = 0;
    p->pit_level = level;
    p->pit_next = next;
    p->transitions += fired;
    st->irq_pending = 0;
    if (t > st->cycles) st->cycles = t;
    uint64_t start = st->cycles;
    fpic_rec *r = &p->log[p->nlog++];
    r->hlt_cycle = now;
    r->hlt_icount = hlt_icount;
    r->hlt_eip = eip;
    r->has_hlt = (uint32_t)hlt;
    r->int_cycle = start;
    r->int_icount = st->instructions;
    xd_tick_delivered(st, &r->d, vector, ok, out, eip, func, start, p->vec_cost);
    p->ticks++;
    if (p->ports) p->ports->cs_valid = 0;              /* _deliver_now: cpu.forget_cs() */
    if (ok == 2) st->emu_stop(uc);                      /* Python raises as cpu.set would */
    return 1;
decline:
    return 0;
}

/* The code hook on a registered HLT (see the header comment). */
static void fpic_hlt_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user) {
    (void)size;
    fpic_state *p = (fpic_state *)user;
    xd_state *x = p->x;
    fp_state *st = x->fp;
    if (!p->armed || st->step_mode || p->intr || st->irq_pending || !p->pit_valid || p->nlog >= FPIC_LOG) return;
    entry_t *e = st->cur;
    if (!e || e->used != 1 || address != e->pc + e->size - 1) return;
    uint8_t op;
    uint64_t dl = __atomic_load_n(&st->deadline, __ATOMIC_SEQ_CST);
    if (x->mem_read(uc, address, &op, 1) != 0 || op != 0xF4
        || !fpic_take(p, uc, dl, rd32(st, uc, UC_X86_REG_EIP) + 1, 1)) {
        p->declined++;
        return;
    }
    /* the deadline the run loop would arm now; a wake-up or pause written meanwhile wins */
    uint64_t nd = p->pit_next < p->ev_limit ? p->pit_next : p->ev_limit;
    __atomic_compare_exchange_n(&st->deadline, &dl, nd, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* The run loop, halted after a HLT (emu/core.py: the guest is idle, its pacing wait is over):
 * the same work as the hook, with the HLT already executed and its event emitted by Python.
 * 1: the tick was delivered (the CPU runs the handler), 0: nothing changed. */
int fpic_idle(fpic_state *p, uc_engine *uc, uint64_t deadline) {
    fp_state *st = p->x->fp;
    if (!p->armed || st->step_mode || p->intr || st->irq_pending || !p->pit_valid || p->nlog >= FPIC_LOG) return 0;
    if (!fpic_take(p, uc, deadline, rd32(st, uc, UC_X86_REG_EIP), 0)) {
        p->declined++;
        return 0;
    }
    return 1;
}

/* OUT to a command port (0x20 master, 0xA0 slave) that Python published as PW_PIC: an OCW2
 * EOI -- non-specific, specific, and their rotating forms -- computed as Pic._write_command and
 * Pic._update do, when the master's INT does not change (that calls Python's on_intr: LINT0).
 * 0: Python does the write (anything else: ICW1, OCW3, set priority, the rotate-in-AEOI bits). */
static int fpic_out(void *pv, uint32_t port, uint32_t value) {
    fpic_state *p = (fpic_state *)pv;
    if (port != 0x20 && port != 0xA0) return 0;
    value &= 0xff;
    uint32_t cmd = value >> 5;
    if ((value & 0x18) || (cmd != 1 && cmd != 3 && cmd != 5 && cmd != 7)) return 0;
    fpic_chip m = p->master, s = p->slave;
    fpic_chip *c = port == 0xA0 ? &s : &m;
    if (cmd == 1 || cmd == 5) {
        int pr = fpic_priority(c->isr & 0xff, c->priority_add);
        if (pr != 8) {
            uint32_t irq = (uint32_t)(pr + (int)c->priority_add) & 7;
            c->isr &= ~(1u << irq);
            if (cmd == 5) c->priority_add = (irq + 1) & 7;
        }
    } else if (cmd == 3) {
        c->isr &= ~(1u << (value & 7));
    } else {
        c->isr &= ~(1u << (value & 7));
        c->priority_add = ((value & 7) + 1) & 7;
    }
    if (fpic_update(&m, &s, c == &s) != p->intr) return 0;
    p->master = m;
    p->slave = s;
    p->eois++;
    return 1;
}

void fpp_set_pic(fp_ports *ports, fpic_state *p) { ports->pic = p; }

void *fpic_hlt_hook_ptr(void) { return (void *)&fpic_hlt_hook; }
size_t fpic_state_size(void) { return sizeof(fpic_state); }

/* Tests: the PIT arithmetic on its own (out level, next transition) at `now`. */
void fpic_pit_probe(fpic_state *p, uint64_t now, uint64_t *res) {
    res[0] = (uint64_t)fpic_pit_out(p, now);
    res[1] = fpic_pit_next(p, now);
}

static const size_t fpic_head_layout[] = {
    offsetof(fpic_state, master), offsetof(fpic_state, slave), offsetof(fpic_state, intr),
    offsetof(fpic_state, armed), offsetof(fpic_state, pit_valid), offsetof(fpic_state, pit_mode),
    offsetof(fpic_state, pit_count), offsetof(fpic_state, pit_level), offsetof(fpic_state, pit_load_cycle),
    offsetof(fpic_state, pit_next), offsetof(fpic_state, cpu_hz), offsetof(fpic_state, pit_hz),
    offsetof(fpic_state, ev_limit), offsetof(fpic_state, pace_limit),
    offsetof(fpic_state, stack_lo), offsetof(fpic_state, stack_hi), offsetof(fpic_state, arm_misses),
    offsetof(fpic_state, vec_cost),
    offsetof(fpic_state, nlog), offsetof(fpic_state, ticks), offsetof(fpic_state, declined),
    offsetof(fpic_state, transitions), offsetof(fpic_state, eois), offsetof(fpic_state, log), offsetof(fpic_state, x),
};
size_t fpic_layout(size_t *out, size_t n) { return copy_layout(fpic_head_layout, COUNT_OF(fpic_head_layout), out, n); }
