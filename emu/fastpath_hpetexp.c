/*
 * BareFlow native fast path, part 7: an HPET timer's quiet expiry done inside emu_start
 * (issue 11, the Linux boot's ~9,100 `hpet.timer2` slices).
 *
 * #included at the end of emu/fastpath.c (after fastpath_lapictick.c, whose flt_on_deadline it
 * chains to, and fastpath_lapic.c / fastpath_pic.c, whose HPET timer cells and 8259 registers it
 * reads).  Python side: emu/fasthpetexp.py; the device: devices/hpet.py.
 *
 * Linux's drivers/char/hpet.c `__hpet_calibrate` loops for ~1 ms with interrupts off: read the
 * main counter, write timer 2's comparator a little ahead.  Timer 2 is one-shot with its
 * interrupt disabled, so each write (done natively: fl_hpet_cmp) arms its event one tick ahead
 * (QEMU's arithmetic: a comparator behind the counter gives diff = 1), the slice's deadline
 * drops to it, and emu_start ended there only for the run loop to fire Hpet._expire, which for
 * such a timer does nothing observable: not periodic, no 32-bit wrap re-arm, and
 * `_update_irq(t, True)` with TN_ENABLE clear clears a clear status bit and lowers a low line.
 *
 * fp_state.on_deadline (this file's fhx_on_deadline, chained before the LAPIC tick's) does that
 * expiry here when the deadline is an HPET timer's event and all of this holds:
 *   - Python allowed that timer for this slice (emu/fasthpetexp.py `arm`: no debugger, no
 *     instruction window, its interrupt-status bit clear, lowering its GSI leaves the I/O APIC
 *     as it is -- `hpet_lower_is_noop_apic` -- and `pic_line` says which 8259 line it lowers);
 *     any Python code in the slice (port I/O, MMIO, a scheduled event: the 8259 tick's settle
 *     runs before each) withdraws that permission until the next slice;
 *   - the deadline is exactly that timer's `due` (devices/hpet.py mirrors every event's cycle
 *     in the cell; a native comparator write stores its own), no other timer's due is the same;
 *   - the timer is not periodic, not a 32-bit one-shot waiting for its wrap, and its interrupt
 *     is disabled or the HPET is (published mode 1: stopped);
 *   - no other event is at or before the clock: the clock events other than the LAPIC's and the
 *     HPET's (`ev_limit`, at arm: any later one withdraws the permission), the run's cycle
 *     limit, the LAPIC timer's `timer_due`, the other HPET timers' dues;
 *   - lowering the line at the 8259 changes nothing: Pic.set_irq + `_update` computed on copies
 *     of the live registers (fastpath_pic.c's functions, line for line devices/pic.py) leave
 *     both chips and the INT level as they are;
 *   - the native port path is not held, no single step.
 * Then: the cell's due becomes FL_NONE and its gen is bumped (Hpet.native_sync cancels the
 * event at the next settle, as it takes back a native re-arm), the 8259's native tick is
 * disarmed (a declined tick is always exact), and the deadline is set to the next of those
 * limits (compare-and-swap: a pause or input written meanwhile wins); the block the callback
 * was called for is then charged and run as usual, after the deadline is looked at again (the
 * LAPIC tick may be due at the same cycle).  Anything else: the LAPIC tick's taker, then the
 * stop, exactly as before.
 */

#define FL_TN_ENABLE (1u << 2)

/* The public head is mirrored by a ctypes Structure in emu/fasthpetexp.py: keep the order. */
typedef struct {
    uint32_t allow;            /* Python: bit n = timer n's expiry may be done here this slice */
    uint32_t pad;
    uint32_t pic_line[FL_HPET_TIMERS];  /* the 8259 line its expiry lowers (>= 16: none) */
    uint32_t pad2;
    uint64_t ev_limit;         /* the earliest clock event but the LAPIC's and HPET's, or the cycle limit */
    uint64_t expiries;         /* quiet expiries done here (counter; tests) */
    uint64_t declined;         /* HPET deadlines left to the run loop */
    uint64_t why[8];           /* declines by reason (tests, tuning): see fhx_take */
    /* private */
    flapic_state *l;
    fpic_state *pic;
    fp_state *fp;
    int (*next)(void *user, uc_engine *uc);   /* the LAPIC tick's taker */
    void *next_user;
} fhx_state;

/* The struct's memory belongs to Python (emu/fasthpetexp.py). */
void fhx_init(fhx_state *h, flapic_state *l, fpic_state *pic, fp_state *fp) {
    memset(h, 0, sizeof(*h));
    h->l = l;
    h->pic = pic;
    h->fp = fp;
}

/* devices/pic.py Pic.set_irq(line, 0) with its _update, on copies: 1 when nothing changes. */
static int fhx_pic_lower_noop(const fpic_state *pic, uint32_t line) {
    if (line >= 16) return 1;
    if (!pic) return 0;
    fpic_chip m = pic->master, s = pic->slave;
    if (line >= 8) {
        fpic_chip_set_irq(&s, (int)line - 8, 0);
        fpic_chip_set_irq(&m, 2, fpic_get_irq(&s) >= 0 ? 1 : 0);
    } else {
        fpic_chip_set_irq(&m, (int)line, 0);
    }
    uint32_t intr = fpic_get_irq(&m) >= 0;
    return intr == pic->intr && !memcmp(&m, &pic->master, sizeof(m)) && !memcmp(&s, &pic->slave, sizeof(s));
}

/* The run loop's work at the deadline when it is only an HPET timer's quiet expiry (see the
 * header comment); 1: done, the deadline moved past the clock (or a pause took it). */
static int fhx_take(fhx_state *h) {
    fp_state *st = h->fp;
    flapic_state *l = h->l;
    uint64_t dl = __atomic_load_n(&st->deadline, __ATOMIC_SEQ_CST), now = st->cycles;
    int k = -1;
    for (int i = 0; i < FL_HPET_TIMERS; i++)
        if (l->hpet_t[i].due == dl) { k = i; break; }
    if (k < 0 || dl == 0) return 0;                 /* not an HPET deadline (not counted) */
#define FHX_NO(r) do { h->why[r]++; h->declined++; return 0; } while (0)
    if (!(h->allow & (1u << k))) FHX_NO(0);                              /* Python did not allow it */
    if (st->step_mode || !l->ports || !l->ports->enabled) FHX_NO(1);    /* held: the run loop looks */
    fl_hpet_timer *t = &l->hpet_t[k];
    uint64_t cfg = t->config;
    if (cfg & FL_TN_PERIODIC) FHX_NO(2);                                 /* the period is Python's */
    if ((cfg & FL_TN_32BIT) && t->wrap_flag) FHX_NO(2);                  /* the wrap re-arms */
    if ((cfg & FL_TN_ENABLE) && l->hpet_mode != 1) FHX_NO(3);           /* it raises its line */
    uint64_t lim = h->ev_limit, o = fl_hpet_next_due(l, k);
    if (o < lim) lim = o;
    if (l->cell.timer_due < lim) lim = l->cell.timer_due;
    if (now >= lim) FHX_NO(4);                                           /* another event is due */
    if (!fhx_pic_lower_noop(h->pic, h->pic_line[k])) FHX_NO(5);
#undef FHX_NO
    /* commit: Hpet._expire (nothing to change), its event gone at the next settle */
    t->due = FL_NONE;
    t->gen++;
    l->rearms++;
    h->expiries++;
    if (h->pic) h->pic->armed = 0;
    /* the deadline the run loop would arm now; a wake-up or pause written meanwhile wins */
    __atomic_compare_exchange_n(&st->deadline, &dl, lim, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return 1;
}

/* fp_state.on_deadline: 2 when an HPET expiry was done (look at the deadline again), else the
 * LAPIC tick's answer (1 delivered, 0 stop). */
static int fhx_on_deadline(void *user, uc_engine *uc) {
    fhx_state *h = (fhx_state *)user;
    if (fhx_take(h)) return 2;
    return h->next ? h->next(h->next_user, uc) : 0;
}

/* Chain in front of whatever taker the deadline branch has (the LAPIC tick's). */
void fhx_attach(fhx_state *h, fp_state *st) {
    if (st->on_deadline == fhx_on_deadline) return;
    h->next = st->on_deadline;
    h->next_user = st->on_deadline_user;
    st->on_deadline = fhx_on_deadline;
    st->on_deadline_user = h;
}

void fhx_detach(fhx_state *h, fp_state *st) {
    if (st->on_deadline != fhx_on_deadline) return;
    st->on_deadline = h->next;
    st->on_deadline_user = h->next_user;
}

size_t fhx_state_size(void) { return sizeof(fhx_state); }

static const size_t fhx_head_layout[] = {
    offsetof(fhx_state, allow), offsetof(fhx_state, pad), offsetof(fhx_state, pic_line),
    offsetof(fhx_state, pad2), offsetof(fhx_state, ev_limit), offsetof(fhx_state, expiries),
    offsetof(fhx_state, declined), offsetof(fhx_state, why), offsetof(fhx_state, l),
};
size_t fhx_layout(size_t *out, size_t n) { return copy_layout(fhx_head_layout, COUNT_OF(fhx_head_layout), out, n); }
