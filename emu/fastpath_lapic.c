/*
 * BareFlow native fast path, part 5: the local APIC's and the HPET's hot MMIO registers (issue 11).
 *
 * #included at the end of emu/fastpath.c (after fastpath_pic.c, whose fpic_state it reads).
 * Python side: emu/fastlapic.py; the device models: devices/lapic.py, devices/hpet.py.
 *
 * A Linux kernel's timer tick writes two local APIC registers -- EOI (0xB0) and the timer's
 * initial count (0x380, the next one-shot expiry) -- and its clocksource reads the HPET main
 * counter (0xF0): ~18,000 + ~18,000 + ~15,000 MMIO accesses per boot, each of which was a
 * Python call (Unicorn's binding, the board's closure, `io_enter`/`io_exit`, the device).  The
 * two MMIO pages are mapped here with C callbacks; an access is answered in C when it is one
 * of those and everything about it is ordinary, else the same Python closure is called as
 * before (so every other register, and every access while an MMIO observer listens, is
 * unchanged).
 *
 * Ownership (the single-writer pattern of fastpath_pic.c):
 *   - the local APIC registers C reads or writes LIVE in this struct (devices/lapic.py
 *     `LapicCell` is a ctypes view of `cell` once attached): ISR/TMR/IRR, the LVTs, TPR, SVR,
 *     the timer's initial count, divide shift, load time and next expiry;
 *   - the timer's clock event stays Python's (devices/lapic.py `_timer_event`): a native
 *     initial-count write computes the new expiry with QEMU's arithmetic (`_timer_update`),
 *     stores it in `timer_due` and bumps `timer_gen`; Python re-schedules the event at the next
 *     point where Python code runs (emu/fastlapic.py `settle`, chained after the 8259 tick's
 *     settle, which runs before any other event can be scheduled), so the queue keeps the
 *     Python path's order.  The slice's deadline is lowered to the expiry here, as
 *     `Core._after_io` would have;
 *   - the HPET publishes its main counter (stopped value, or the running offset) after every
 *     change it makes; C only reads it.  A one-shot timer's comparator write is done here too:
 *     the timers' configuration, comparator and wrap flag LIVE in `hpet_t` (devices/hpet.py
 *     `TimerCell`), and the re-arm is handed back like the APIC timer's (`due`/`gen`).
 *
 * Exact time: the initial-count write, the current-count read and the HPET counter read need
 * the cycle at the instruction doing the access (QEMU: the virtual clock at the access).  An
 * MMIO instruction is an ordinary MOV the pricer cannot single out in advance, so the first
 * access from an instruction goes to Python, which computes the cycle as always
 * (Pricer.exact_now) and hands its prefix to `flapic_learn`: the prefix is stored in the
 * executing block's own timed-instruction slots (the entry's rdtsc_off/rdtsc_prefix, after the
 * RDTSC and IN/OUT ones).  The slot dies with the entry (a re-translated or re-priced block
 * starts without it), so a learned prefix is always the current price's.  A linear EIP outside
 * the current block (Python's CS cache holding another descriptor's base) is answered as
 * exact_now answers it: the clock after the block.
 *
 * Every native access also does what `Core.io_enter` would have done to the 8259 tick (its
 * native tick is disarmed until the next slice).  An access is left to Python when: an MMIO
 * observer exists, the native port path is held or off (an event was scheduled that the armed
 * deadline does not know of yet), single-step mode, a size other than 4, no learned slot for a
 * timed access, an EOI of a level-triggered vector (the I/O APIC's remote IRR is Python's), or
 * arithmetic outside what the C types hold.
 */
#define FL_NONE UINT64_MAX
#define FL_MASKED (1u << 16)
#define FL_PERIODIC (1u << 17)
#define FL_SV_ENABLE (1u << 8)

/* devices/lapic.py LapicCell: keep the order. */
typedef struct {
    uint32_t isr[8], tmr[8], irr[8];   /* 256-bit registers, vector v = bit v % 32 of word v / 32 */
    uint32_t lvt[6];
    uint32_t tpr, spurious, initial_count, count_shift, imcr_apic_mode;
    uint32_t isr_gen;                  /* bumped when C writes the ISR (Python's int copy reloads) */
    uint64_t load_time, next_time;     /* APIC clock (ns) */
    uint64_t timer_due;                /* set natively: the timer event's cycle, FL_NONE: none */
    uint64_t timer_gen;                /* bumped by every native re-arm (Python re-schedules) */
} flapic_cell;

/* devices/hpet.py TimerCell: keep the order. */
typedef struct {
    uint64_t config, cmp, wrap_flag;
    uint64_t due;                      /* set natively: the timer event's cycle, FL_NONE: none */
    uint64_t gen;                      /* bumped by every native re-arm (Python re-schedules) */
} fl_hpet_timer;
#define FL_HPET_TIMERS 3
#define FL_TN_32BIT (1u << 8)
#define FL_TN_PERIODIC (1u << 3)
#define FL_TN_SETVAL (1u << 6)

typedef uint64_t (*fl_py_read_fn)(uint64_t offset, uint32_t size);
typedef void (*fl_py_write_fn)(uint64_t offset, uint32_t size, uint64_t value);

/* The public head is mirrored by a ctypes Structure in emu/fastlapic.py: keep the order. */
typedef struct {
    flapic_cell cell;          /* devices/lapic.py: the storage of those registers */
    uint32_t lapic_on;         /* BAREFLOW_NATIVE_LAPIC: answer LAPIC registers here */
    uint32_t hpet_on;          /* BAREFLOW_NATIVE_HPET: answer the HPET counter here */
    uint32_t observed;         /* an MMIO observer listens: everything to Python */
    uint32_t hpet_mode;        /* 0 Python, 1 stopped (hpet_counter), 2 running (offset) */
    uint64_t hpet_counter;
    int64_t hpet_offset_ns;
    uint64_t ns_per_cycle;     /* APIC_HZ / CPU_HZ (= 1e9 / CPU_HZ for the HPET too) */
    uint64_t eois, tmicts, tmccts, hpet_reads;      /* answered here (counters; tests) */
    uint64_t py_reads, py_writes, learned;          /* left to Python; slots learned */
    fl_hpet_timer hpet_t[FL_HPET_TIMERS];            /* devices/hpet.py: the timers' storage */
    uint64_t hpet_cmps;                              /* comparator writes answered here */
    uint64_t rearms;                                 /* native re-arms of either device (settle looks) */
    /* private */
    fp_state *fp;
    fp_ports *ports;           /* the CS cache, the hold */
    fpic_state *pic;           /* the 8259's INT level; its tick is disarmed by an access */
    fl_py_read_fn py_lapic_read, py_hpet_read;
    fl_py_write_fn py_lapic_write, py_hpet_write;
} flapic_state;

/* The struct's memory belongs to Python (emu/fastlapic.py: a buffer of flapic_state_size()
 * bytes that devices/lapic.py's registers live in, so it outlives the core as the device does). */
void flapic_init(flapic_state *p, fp_state *fp, fp_ports *ports, fpic_state *pic) {
    memset(p, 0, sizeof(*p));
    p->fp = fp;
    p->ports = ports;
    p->pic = pic;
    p->cell.timer_due = FL_NONE;
    for (int i = 0; i < FL_HPET_TIMERS; i++)
        p->hpet_t[i].due = FL_NONE;       /* no HPET (its cells are never attached): no events */
}

/* The earliest HPET timer event but timer `skip`'s (-1: all), FL_NONE if none: every cell's
 * `due` is its event's cycle (Python mirrors its events, C writes its re-arms). */
static inline uint64_t fl_hpet_next_due(const flapic_state *p, int skip) {
    uint64_t m = FL_NONE;
    for (int i = 0; i < FL_HPET_TIMERS; i++)
        if (i != skip && p->hpet_t[i].due < m) m = p->hpet_t[i].due;
    return m;
}

void flapic_set_python(flapic_state *p, void *lr, void *lw, void *hr, void *hw) {
    p->py_lapic_read = (fl_py_read_fn)lr;
    p->py_lapic_write = (fl_py_write_fn)lw;
    p->py_hpet_read = (fl_py_read_fn)hr;
    p->py_hpet_write = (fl_py_write_fn)hw;
}

/* May this access be answered here at all (see the header comment)? */
static inline int fl_ordinary(const flapic_state *p, uint32_t size) {
    return size == 4 && !p->observed && p->ports && p->ports->enabled && !p->fp->step_mode;
}

/* The linear address of the instruction executing now exactly as emu/cpu.py `linear_pc`
 * computes it from the same register reads (the protected-mode CS base from Python's cache:
 * 0 when Python has not cached it).  Inside an MMIO callback Unicorn may report EFLAGS with
 * bits the guest never set (VM among them, mid-block): Python then takes the real-mode
 * formula, and so does this. */
static int fl_lin(flapic_state *p, uc_engine *uc, uint64_t *lin) {
    fp_state *st = p->fp;
    uint64_t eip = 0, cs = 0, cr0 = 0, efl = 0;
    st->reg_read(uc, UC_X86_REG_EIP, &eip);
    st->reg_read(uc, UC_X86_REG_CS, &cs);
    st->reg_read(uc, UC_X86_REG_CR0, &cr0);
    if (cr0 & 1) st->reg_read(uc, UC_X86_REG_EFLAGS, &efl);
    if (!(cr0 & 1) || (efl & FPP_EFLAGS_VM)) {
        *lin = (((cs & 0xffff) << 4) + (eip & 0xffff)) & 0xffffffffULL;
        return 1;
    }
    if (!p->ports->cs_valid || p->ports->cs_sel != (cs & 0xffff)) return 0;
    *lin = (p->ports->cs_base + (eip & 0xffffffffULL)) & 0xffffffffULL;
    return 1;
}

/* The cycle at the MMIO instruction executing now, from a learned slot of the current block. */
static int fl_now(flapic_state *p, uc_engine *uc, uint64_t *now) {
    fp_state *st = p->fp;
    entry_t *e = st->cur;
    uint64_t lin;
    if (!e || e->used != 1 || !fl_lin(p, uc, &lin)) return 0;
    if (lin < e->pc || lin >= e->pc + e->size) {
        /* Pricer.exact_now for an address outside the current block (a CS base Python cached
         * for another descriptor, as during Linux's early boot): the clock after the block */
        *now = st->cycles;
        return 1;
    }
    for (uint32_t k = e->nrdtsc; k < e->ntimed; k++) {
        if (e->pc + e->rdtsc_off[k] == lin) {
            *now = st->block_base + e->rdtsc_prefix[k];
            return 1;
        }
    }
    return 0;
}

/* Python computed `now` (Pricer.exact_now) for an access it answered: remember the prefix in
 * the current block's slots.  1 if a slot was added. */
int flapic_learn(flapic_state *p, uc_engine *uc, uint64_t now) {
    fp_state *st = p->fp;
    entry_t *e = st->cur;
    uint64_t lin;
    if (!e || e->used != 1 || st->step_mode || !p->ports || now < st->block_base) return 0;
    uint64_t prefix = now - st->block_base;
    if (prefix >= e->cost || e->ntimed >= MAX_RDTSC || !fl_lin(p, uc, &lin)) return 0;
    if (lin < e->pc || lin >= e->pc + e->size) return 0;
    for (uint32_t k = 0; k < e->ntimed; k++)
        if (e->pc + e->rdtsc_off[k] == lin) return 0;
    e->rdtsc_off[e->ntimed] = (uint32_t)(lin - e->pc);
    e->rdtsc_prefix[e->ntimed] = (uint32_t)prefix;
    e->ntimed++;
    p->learned++;
    return 1;
}

/* Core.io_enter's effect on the 8259 tick: no native tick for the rest of the slice. */
static inline void fl_enter(flapic_state *p) {
    if (p->pic) p->pic->armed = 0;
}

/* ---- devices/lapic.py, line for line ----------------------------------------------- */
static int fl_highest(const uint32_t r[8]) {
    for (int w = 7; w >= 0; w--)
        if (r[w]) return w * 32 + 31 - __builtin_clz(r[w]);
    return -1;
}

static uint32_t fl_ppr(const flapic_cell *c) {
    int isrv = fl_highest(c->isr);
    uint32_t iv = isrv >= 0 ? (uint32_t)isrv : 0, tpr = c->tpr;
    return (tpr >> 4) >= (iv >> 4) ? tpr : iv & 0xf0;
}

/* _irq_pending > 0 */
static int fl_irq_pending(const flapic_cell *c) {
    if (!(c->spurious & FL_SV_ENABLE)) return 0;
    int irrv = fl_highest(c->irr);
    if (irrv < 0) return 0;
    uint32_t ppr = fl_ppr(c);
    if (ppr && ((uint32_t)irrv & 0xf0) <= (ppr & 0xf0)) return 0;
    return irrv > 0;
}

/* intr_pending */
static int fl_intr_pending(const flapic_state *p) {
    const flapic_cell *c = &p->cell;
    if (fl_irq_pending(c)) return 1;
    if (!p->pic || !p->pic->intr) return 0;
    if (!c->imcr_apic_mode) return 1;
    uint32_t lvt0 = c->lvt[3];
    return !(lvt0 & FL_MASKED) && ((lvt0 >> 8) & 7) == 7;
}

/* _eoi; 0: Python (a level-triggered vector: the EOI broadcast to the I/O APIC) */
static int fl_eoi(flapic_state *p) {
    flapic_cell *c = &p->cell;
    int isrv = fl_highest(c->isr);
    if (isrv >= 0) {
        uint32_t w = (uint32_t)isrv >> 5, bit = 1u << (isrv & 31);
        if (c->tmr[w] & bit) return 0;
        c->isr[w] &= ~bit;
        c->isr_gen++;
        if (fl_intr_pending(p))     /* _update: on_intr(True) -> Core.irq_raised */
            __atomic_store_n(&p->fp->deadline, 0, __ATOMIC_SEQ_CST);
    }
    p->eois++;
    return 1;
}

static inline uint64_t fl_cycles_ceil(const flapic_state *p, uint64_t ns) {
    return ns / p->ns_per_cycle + (ns % p->ns_per_cycle != 0);
}

/* the initial-count write at cycle `now`: load_time, initial_count, _timer_update(load_time) */
static int fl_tmict(flapic_state *p, uint64_t now, uint32_t value) {
    flapic_cell *c = &p->cell;
    uint32_t shift = c->count_shift;
    if (shift > 7 || now > UINT64_MAX / p->ns_per_cycle / 2) return 0;
    uint64_t ns = now * p->ns_per_cycle, due = FL_NONE, next = 0;
    /* _timer_update(load_time): d = 0; periodic: (0 // (ic+1) + 1) * (ic+1); one-shot: 0 < ic,
     * then ic + 1 -- the same expiry in both modes, none for a zero count */
    if (value) {
        next = ns + (((uint64_t)value + 1) << shift);
        due = fl_cycles_ceil(p, next);
    }
    c->load_time = ns;
    c->initial_count = value;
    if (due != FL_NONE) c->next_time = next;
    c->timer_due = due;
    c->timer_gen++;
    p->rearms++;
    fp_state *st = p->fp;
    if (due != FL_NONE && due < __atomic_load_n(&st->deadline, __ATOMIC_SEQ_CST))
        __atomic_store_n(&st->deadline, due, __ATOMIC_SEQ_CST);   /* Core._after_io */
    p->tmicts++;
    return 1;
}

/* the current count (0x390) at cycle `now` */
static int fl_tmcct(flapic_state *p, uint64_t now, uint32_t *out) {
    const flapic_cell *c = &p->cell;
    uint32_t ic = c->initial_count;
    if (!ic) { *out = 0; return 1; }
    if (c->count_shift > 7 || now > UINT64_MAX / p->ns_per_cycle) return 0;
    uint64_t ns = now * p->ns_per_cycle;
    if (ns < c->load_time) return 0;
    uint64_t d = (ns - c->load_time) >> c->count_shift;
    if (c->lvt[0] & FL_PERIODIC) *out = ic - (uint32_t)(d % ((uint64_t)ic + 1));
    else *out = d >= ic ? 0 : ic - (uint32_t)d;
    return 1;
}

static uint64_t flapic_lapic_read(uc_engine *uc, uint64_t offset, unsigned size, void *user) {
    flapic_state *p = (flapic_state *)user;
    if (p->lapic_on && fl_ordinary(p, size) && ((offset >> 4) & 0xff) == 0x39) {
        uint64_t now;
        uint32_t v;
        if (fl_now(p, uc, &now) && fl_tmcct(p, now, &v)) {
            fl_enter(p);
            p->tmccts++;
            return v;
        }
    }
    p->py_reads++;
    return p->py_lapic_read(offset, size);
}

static void flapic_lapic_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user) {
    flapic_state *p = (flapic_state *)user;
    if (p->lapic_on && fl_ordinary(p, size)) {
        uint32_t index = (offset >> 4) & 0xff;
        if (index == 0x0B) {
            if (fl_eoi(p)) { fl_enter(p); return; }
        } else if (index == 0x38) {
            uint64_t now;
            if (fl_now(p, uc, &now) && fl_tmict(p, now, (uint32_t)value)) { fl_enter(p); return; }
        }
    }
    p->py_writes++;
    p->py_lapic_write(offset, size, value);
}

/* the HPET main counter (0xF0 low, 0xF4 high) at cycle `now`: Hpet._read64 */
static int fl_hpet_counter(flapic_state *p, uint64_t now, uint64_t *out) {
    if (p->hpet_mode == 1) { *out = p->hpet_counter; return 1; }
    if (p->hpet_mode != 2) return 0;
    __int128 v = (__int128)now * p->ns_per_cycle + p->hpet_offset_ns;
    if (v < 0) return 0;
    *out = (uint64_t)(v / 10);     /* CLK_PERIOD_NS, & M64 */
    return 1;
}

static uint64_t flapic_hpet_read(uc_engine *uc, uint64_t offset, unsigned size, void *user) {
    flapic_state *p = (flapic_state *)user;
    if (p->hpet_on && fl_ordinary(p, size) && (offset == 0xF0 || offset == 0xF4)) {
        uint64_t now, cur;
        if (fl_now(p, uc, &now) && fl_hpet_counter(p, now, &cur)) {
            fl_enter(p);
            p->hpet_reads++;
            return offset == 0xF0 ? (cur & 0xffffffffULL) : (cur >> 32);
        }
    }
    p->py_reads++;
    return p->py_hpet_read(offset, size);
}

/* A one-shot timer's comparator write (Hpet._write, reg 0x08/0x0C, then _set_timer / _arm at
 * the exact cycle); 0: Python (periodic or set-value: the period; a counter Python keeps). */
static int fl_hpet_cmp(flapic_state *p, uc_engine *uc, uint32_t tid, int high, uint64_t value) {
    fl_hpet_timer *t = &p->hpet_t[tid];
    uint64_t cfg = t->config, now, cur, diff, wrap = 0;
    if ((cfg & (FL_TN_PERIODIC | FL_TN_SETVAL)) || p->hpet_mode == 0) return 0;
    uint64_t nv = value & 0xffffffffULL;
    uint64_t cmp = high ? ((t->cmp & 0xffffffffULL) | (nv << 32)) : ((t->cmp & ~0xffffffffULL) | nv);
    if (p->hpet_mode == 1) {           /* the HPET is disabled: the comparator only */
        t->cmp = cmp;
        p->hpet_cmps++;
        return 1;
    }
    if (!fl_now(p, uc, &now) || !fl_hpet_counter(p, now, &cur)) return 0;
    if (cfg & FL_TN_32BIT) {            /* _diff, then the 32-bit one-shot wrap */
        uint32_t d = (uint32_t)(cmp - cur);
        diff = (int32_t)d > 0 ? d : 1;
        uint64_t wrap_diff = 0xffffffffULL - (cur & 0xffffffffULL);
        if (wrap_diff < (diff & 0xffffffffULL)) { diff = wrap_diff; wrap = 1; }
    } else {
        uint64_t d = cmp - cur;
        diff = (int64_t)d > 0 ? d : 1;
    }
    if (diff > UINT64_MAX / 4 - now) return 0;
    /* _arm: due_ns = now_ns + diff * CLK_PERIOD_NS, ceil to cycles = now + diff */
    uint64_t due = now + diff;
    t->cmp = cmp;
    t->wrap_flag = wrap;
    t->due = due;
    t->gen++;
    p->rearms++;
    fp_state *st = p->fp;
    if (due < __atomic_load_n(&st->deadline, __ATOMIC_SEQ_CST))
        __atomic_store_n(&st->deadline, due, __ATOMIC_SEQ_CST);   /* Core._after_io */
    p->hpet_cmps++;
    return 1;
}

static void flapic_hpet_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user) {
    flapic_state *p = (flapic_state *)user;
    if (p->hpet_on && fl_ordinary(p, size) && offset >= 0x100 && offset < 0x100 + 0x20 * FL_HPET_TIMERS) {
        uint32_t reg = (uint32_t)(offset - 0x100) % 0x20;
        if ((reg == 0x08 || reg == 0x0C)
            && fl_hpet_cmp(p, uc, (uint32_t)(offset - 0x100) / 0x20, reg == 0x0C, value)) {
            fl_enter(p);
            return;
        }
    }
    p->py_writes++;
    p->py_hpet_write(offset, size, value);
}

void *flapic_lapic_read_ptr(void) { return (void *)&flapic_lapic_read; }
void *flapic_lapic_write_ptr(void) { return (void *)&flapic_lapic_write; }
void *flapic_hpet_read_ptr(void) { return (void *)&flapic_hpet_read; }
void *flapic_hpet_write_ptr(void) { return (void *)&flapic_hpet_write; }
size_t flapic_state_size(void) { return sizeof(flapic_state); }

/* Tests: the arithmetic on its own at cycle `now` (res: due/gen after a TMICT write of `value`
 * are read from the cell; current count, HPET counter). */
int flapic_probe_tmcct(flapic_state *p, uint64_t now, uint32_t *out) { return fl_tmcct(p, now, out); }
int flapic_probe_hpet(flapic_state *p, uint64_t now, uint64_t *out) { return fl_hpet_counter(p, now, out); }

static const size_t flapic_head_layout[] = {
    offsetof(flapic_state, cell), offsetof(flapic_state, lapic_on), offsetof(flapic_state, hpet_on),
    offsetof(flapic_state, observed), offsetof(flapic_state, hpet_mode), offsetof(flapic_state, hpet_counter),
    offsetof(flapic_state, hpet_offset_ns), offsetof(flapic_state, ns_per_cycle), offsetof(flapic_state, eois),
    offsetof(flapic_state, tmicts), offsetof(flapic_state, tmccts), offsetof(flapic_state, hpet_reads),
    offsetof(flapic_state, py_reads), offsetof(flapic_state, py_writes), offsetof(flapic_state, learned),
    offsetof(flapic_state, hpet_t), offsetof(flapic_state, hpet_cmps), offsetof(flapic_state, rearms),
    offsetof(flapic_state, fp),
};
size_t flapic_layout(size_t *out, size_t n) { return copy_layout(flapic_head_layout, COUNT_OF(flapic_head_layout), out, n); }
