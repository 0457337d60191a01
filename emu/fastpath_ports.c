/*
 * Native port answers (included at the end of fastpath.c; Python side: emu/fastports.py).
 *
 * The guest's IN and OUT instructions reach Unicorn's UC_HOOK_INSN; this file's hooks are the
 * only ones registered for them.  An access is answered here, without entering Python, only
 * when the answer is a pure function of state the device model has PUBLISHED into this struct
 * (and of the exact cycle clock); everything else calls the Python port path (`py_in`,
 * `py_out`: emu/core.py `_on_in` / `_on_out`), which is what every access did before.
 *
 * Ownership: each device stays the one owner of its state.  It publishes what the native path
 * may answer (per port: a value readable without side effects, or "ask Python") after every
 * change it makes (emu/fastports.py, devices/base/native.py).  The native path writes nothing
 * the device does not read back from here: the only native write is the CMOS index register,
 * whose storage IS this struct while the device is attached.
 *
 * Exact time: a read that depends on time (RTC registers, UIP) uses the cycle at the IN
 * instruction itself: block_base + the cycles of the instructions before it in the block.
 * Those prefixes travel in the entry's timed-instruction slots (RDTSC first, then IN/OUT,
 * emu/pricing.py); an IN that has no slot (a block with more than MAX_RDTSC of them, a
 * protected-mode CS whose base Python has not cached) is answered by Python.
 */

enum { PR_PYTHON = 0, PR_VALUE = 1, PR_CMOS_DATA = 2, PR_VGA_STATUS = 3, PR_PORT61 = 4 }; /* rkind[port] */
enum { PW_PYTHON = 0, PW_CMOS_INDEX = 1, PW_PIC = 2, PW_IGNORE = 3 };   /* wkind[port] */
enum { CK_PYTHON = 0, CK_RAM = 1, CK_TIME = 2, CK_REG_A = 3, CK_REG_C = 4 }; /* cmos_kind[index] */
#define UC_X86_REG_CR0 50
#define UC_X86_REG_EFLAGS 25
#define FPP_EFLAGS_VM 0x20000u

typedef uint32_t (*py_in_fn)(uint32_t port, uint32_t size);
typedef void (*py_out_fn)(uint32_t port, uint32_t size, uint32_t value);
typedef int (*py_cpuid_fn)(void);

/* The public head is mirrored by a ctypes Structure in emu/fastports.py: keep the order. */
typedef struct {
    uint32_t enabled;          /* 0: every access goes to Python (switched off) */
    uint32_t cs_valid;         /* Python's cached protected-mode CS (selector -> base), emu/cpu.py */
    uint32_t cs_sel;
    uint32_t cs_base;
    uint64_t native_in, native_out, python_in, python_out;   /* counters, for the benchmark */
    /* MC146818 (devices/cmos.py) */
    uint32_t cmos_index;       /* the index register (written here by OUT 0x70) */
    uint32_t cmos_nmi;         /* bit 7 of the last index write (NMI mask) */
    int64_t cmos_base_seconds; /* RTC seconds at cmos_base_cycle */
    uint64_t cmos_base_cycle;
    int64_t cmos_frozen;       /* the time held while SET is on ... */
    uint32_t cmos_frozen_valid;/* ... when this is 1 */
    uint32_t cmos_irq_level;   /* IRQ8 as the device drives it */
    uint64_t cmos_hz;          /* cycles per RTC second (CPU_HZ) */
    uint64_t cmos_uip_cycles;  /* UIP is set this many cycles before each second boundary */
    uint8_t cmos_ram[128];
    uint8_t cmos_kind[128];
    /* VGA (devices/vga.py): input status 1 at 0x3DA in colour mode */
    uint32_t vga_flip;         /* the attribute controller's index/data flip-flop */
    uint32_t vga_misc;         /* miscellaneous output register (bit 0: colour, 0x3Dx) */
    uint64_t vga_frame;        /* cycles per frame */
    uint64_t vga_line;         /* cycles per line */
    uint32_t vga_vfirst, vga_vlast, vga_visible, vga_pad;   /* retrace lines, visible lines */
    /* 8254 + system control port B (devices/pit.py): IN 0x61, published by the PIT after
     * every change it makes to channel 2 or to port B (one writer, the device) */
    uint32_t p61_valid;        /* 0: Python answers (nothing published yet) */
    uint32_t p61_low;          /* bit 0 gate of channel 2, bit 1 speaker data */
    uint32_t p61_mode;         /* channel 2's mode, 0-5 (6 and 7 already folded) */
    uint32_t p61_count;        /* channel 2's reload, 1-65536 */
    uint64_t p61_load_cycle;   /* the cycle channel 2's count was (re)started */
    uint64_t p61_cpu_hz;       /* CPU_HZ */
    uint64_t p61_pit_hz;       /* PIT_HZ */
    uint64_t p61_refresh;      /* PIT input ticks per refresh request (bit 4 toggles) */
    uint8_t rkind[65536];      /* per port, reads of one byte */
    uint8_t rval[65536];
    uint8_t wkind[65536];      /* per port, writes of one byte */
    /* private */
    fp_state *fp;
    py_in_fn py_in;
    py_out_fn py_out;
    py_cpuid_fn py_cpuid;      /* emu/cpuid.py CpuidHook._on_cpuid, for the leaves it may change */
    void *pic;                 /* emu/fastpath_pic.c: the 8259's command ports (PW_PIC, fpic_out) */
} fp_ports;

static int fpic_out(void *pic, uint32_t port, uint32_t value);   /* emu/fastpath_pic.c */

fp_ports *fpp_new(fp_state *fp) {
    fp_ports *p = (fp_ports *)calloc(1, sizeof(fp_ports));
    if (!p) return NULL;
    p->fp = fp;
    return p;
}

void fpp_free(fp_ports *p) { free(p); }

void fpp_set_python(fp_ports *p, void *py_in, void *py_out) {
    p->py_in = (py_in_fn)py_in;
    p->py_out = (py_out_fn)py_out;
}

/* The cycle at the IN/OUT executing now, if its prefix is known (see the header comment). */
static int fpp_now(fp_ports *p, uc_engine *uc, uint64_t *now) {
    fp_state *st = p->fp;
    entry_t *e = st->cur;
    if (!e || e->used != 1 || e->ntimed == e->nrdtsc) return 0;
    uint64_t eip = 0, cs = 0, cr0 = 0, efl = 0, lin;
    st->reg_read(uc, UC_X86_REG_EIP, &eip);
    st->reg_read(uc, UC_X86_REG_CS, &cs);
    st->reg_read(uc, UC_X86_REG_CR0, &cr0);
    if (cr0 & 1) st->reg_read(uc, UC_X86_REG_EFLAGS, &efl);
    if (!(cr0 & 1) || (efl & FPP_EFLAGS_VM)) {
        lin = (((cs & 0xffff) << 4) + (eip & 0xffff)) & 0xffffffffULL;
    } else {
        if (!p->cs_valid || p->cs_sel != (cs & 0xffff)) return 0;
        lin = (p->cs_base + eip) & 0xffffffffULL;
    }
    for (uint32_t k = e->nrdtsc; k < e->ntimed; k++) {
        if (e->pc + e->rdtsc_off[k] == lin) {
            *now = st->block_base + e->rdtsc_prefix[k];
            return 1;
        }
    }
    return 0;
}

/* Floor division and modulo (Python's // and %) for a positive divisor. */
static inline int64_t floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline int64_t floormod(int64_t a, int64_t b) { return a - floordiv(a, b) * b; }

static inline uint32_t enc(const fp_ports *p, uint32_t v) {
    return (p->cmos_ram[0x0B] & 0x04) ? v : (((v / 10) << 4) | (v % 10));   /* B.DM: binary */
}

/* An RTC time register, as devices/cmos.py `_read_time` computes it (UTC, proleptic
 * Gregorian calendar, days from 1970-01-01). */
static int cmos_time(const fp_ports *p, uint32_t idx, uint64_t now, uint32_t *out) {
    int64_t secs;
    if (p->cmos_frozen_valid) secs = p->cmos_frozen;
    else secs = p->cmos_base_seconds + floordiv((int64_t)(now - p->cmos_base_cycle), (int64_t)p->cmos_hz);
    if (secs < 0 || secs > 253402300799LL) return 0;   /* outside 1970..9999: Python decides */
    int64_t days = secs / 86400, rem = secs % 86400;
    uint32_t hour = (uint32_t)(rem / 3600), minute = (uint32_t)(rem / 60 % 60), second = (uint32_t)(rem % 60);
    /* civil date from a day count (era-based, 400-year cycles) */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    uint32_t day = (uint32_t)(doy - (153 * mp + 2) / 5 + 1);
    uint32_t month = (uint32_t)(mp < 10 ? mp + 3 : mp - 9);
    uint32_t year = (uint32_t)(yoe + era * 400 + (month <= 2));
    uint32_t weekday = (uint32_t)((days + 3) % 7);   /* Monday = 0; 1970-01-01 was a Thursday */
    switch (idx) {
    case 0x00: *out = enc(p, second); return 1;
    case 0x02: *out = enc(p, minute); return 1;
    case 0x04:
        if (p->cmos_ram[0x0B] & 0x02) { *out = enc(p, hour); return 1; }   /* B.24H */
        *out = enc(p, hour % 12 ? hour % 12 : 12) | (hour >= 12 ? 0x80 : 0);
        return 1;
    case 0x06: *out = enc(p, (weekday + 1) % 7 + 1); return 1;             /* 1 = Sunday */
    case 0x07: *out = enc(p, day); return 1;
    case 0x08: *out = enc(p, month); return 1;
    case 0x09: *out = enc(p, year % 100); return 1;
    case 0x32: *out = enc(p, year / 100); return 1;
    }
    return 0;
}

static int cmos_read(fp_ports *p, uc_engine *uc, uint32_t *out) {
    uint32_t idx = p->cmos_index & 0x7f;
    uint64_t now;
    switch (p->cmos_kind[idx]) {
    case CK_REG_C:
        /* reading C clears it and lowers IRQ8: no side effect only when both already are */
        if (p->cmos_ram[0x0C] || p->cmos_irq_level) return 0;
        *out = 0;
        return 1;
    case CK_RAM:
        *out = p->cmos_ram[idx];
        return 1;
    case CK_REG_A: {
        uint32_t uip = 0;
        /* devices/cmos.py _running(): not frozen (SET) and the divider chain at 32.768 kHz */
        if (!p->cmos_frozen_valid && (p->cmos_ram[0x0A] & 0x70) == 0x20) {
            if (!fpp_now(p, uc, &now)) return 0;
            int64_t phase = floormod((int64_t)(now - p->cmos_base_cycle), (int64_t)p->cmos_hz);
            uip = phase >= (int64_t)(p->cmos_hz - p->cmos_uip_cycles) ? 0x80 : 0;
        }
        *out = (p->cmos_ram[0x0A] & 0x7f) | uip;
        return 1;
    }
    case CK_TIME:
        if (p->cmos_frozen_valid) now = 0;
        else if (!fpp_now(p, uc, &now)) return 0;
        return cmos_time(p, idx, now, out);
    }
    return 0;
}

/* VGA input status 1 (devices/vga.py input_status_1): the beam's position at `now`; the read
 * also resets the attribute flip-flop, which lives here while the VGA is attached. */
static int vga_status(fp_ports *p, uc_engine *uc, uint32_t *out) {
    uint64_t now;
    if (!(p->vga_misc & 1) || !p->vga_frame || !p->vga_line || !fpp_now(p, uc, &now)) return 0;
    uint64_t phase = now % p->vga_frame;
    uint64_t line = phase / p->vga_line, dot = phase % p->vga_line;
    uint32_t v = 0;
    if (line >= p->vga_vfirst && line <= p->vga_vlast) v |= 0x08;
    if (line >= p->vga_visible || dot * 5 >= p->vga_line * 4) v |= 0x01;
    p->vga_flip = 0;
    *out = v;
    return 1;
}

/* Port B (devices/pit.py _read_port61): gate, speaker data, the refresh toggle and channel 2's
 * OUT at `now`, with _Channel.ticks/out's formulas.  Reading it has no side effect. */
static int port61_at(const fp_ports *p, uint64_t now, uint32_t *out) {
    if (!p->p61_valid || !p->p61_cpu_hz || !p->p61_refresh || now < p->p61_load_cycle) return 0;
    uint64_t d = (uint64_t)((unsigned __int128)(now - p->p61_load_cycle) * p->p61_pit_hz / p->p61_cpu_hz);
    uint64_t ticks = (uint64_t)((unsigned __int128)now * p->p61_pit_hz / p->p61_cpu_hz);
    uint32_t refresh = (uint32_t)((ticks / p->p61_refresh) & 1);
    uint64_t count = p->p61_count, o;
    if (!count) return 0;
    switch (p->p61_mode) {
    case 0: case 1: o = d >= count; break;
    case 2: o = count < 2 ? 1 : (d % count) == count - 1 ? 0 : 1; break;
    case 3: o = count < 2 ? 1 : (d % count) < ((count + 1) >> 1); break;
    case 4: case 5: o = count < 2 ? 1 : d == count ? 0 : 1; break;
    default: return 0;
    }
    *out = (p->p61_low & 3) | (refresh << 4) | ((uint32_t)o << 5);
    return 1;
}

static int port61(fp_ports *p, uc_engine *uc, uint32_t *out) {
    uint64_t now;
    if (!p->p61_valid || !fpp_now(p, uc, &now)) return 0;
    return port61_at(p, now, out);
}

static uint32_t fpp_in_hook(uc_engine *uc, uint32_t port, int size, void *user) {
    fp_ports *p = (fp_ports *)user;
    if (p->enabled && size == 1 && port < 65536) {
        uint32_t v;
        switch (p->rkind[port]) {
        case PR_VALUE:
            p->native_in++;
            return p->rval[port];
        case PR_CMOS_DATA:
            if (cmos_read(p, uc, &v)) {
                p->native_in++;
                return v;
            }
            break;
        case PR_VGA_STATUS:
            if (vga_status(p, uc, &v)) {
                p->native_in++;
                return v;
            }
            break;
        case PR_PORT61:
            if (port61(p, uc, &v)) {
                p->native_in++;
                return v;
            }
            break;
        }
    }
    p->python_in++;
    return p->py_in(port, (uint32_t)size);
}

static void fpp_out_hook(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user) {
    fp_ports *p = (fp_ports *)user;
    if (p->enabled && size == 1 && port < 65536 && p->wkind[port] == PW_CMOS_INDEX) {
        p->cmos_index = value & 0x7f;
        p->cmos_nmi = (value >> 7) & 1;
        p->native_out++;
        return;
    }
    if (p->enabled && size == 1 && port < 65536 && p->wkind[port] == PW_PIC && p->pic && fpic_out(p->pic, port, value)) {
        p->native_out++;
        return;
    }
    if (p->enabled && port < 65536 && p->wkind[port] == PW_IGNORE) {
        /* a port nothing claims (emu/fastports.py ignore_writes): the bus drops any write */
        p->native_out++;
        return;
    }
    p->python_out++;
    p->py_out(port, (uint32_t)size, value);
}

/* For tests: answer as the IN hook would, without an engine (time-independent kinds only,
 * or with `now` given for the CMOS time registers); returns 0 if Python would be asked. */
int fpp_cmos_time_at(fp_ports *p, uint32_t idx, uint64_t now, uint32_t *out) {
    if (p->cmos_frozen_valid) now = 0;
    return cmos_time(p, idx, now, out);
}

/* CPUID (emu/cpuid.py): the leaves for which the Python hook returns 0 whatever the state
 * (Unicorn's qemu32 answer is QEMU 7.2's: leaf 0, leaf 3 and the extended leaves up to
 * 80000004h) are left to the engine here, without entering Python; GRUB serialises every
 * RDTSC with CPUID leaf 0 (grub_get_tsc).  Every other leaf, and every leaf while the native
 * answers are switched off, goes to the Python hook, which may write the registers. */
static int fpp_cpuid_hook(uc_engine *uc, void *user) {
    fp_ports *p = (fp_ports *)user;
    if (p->enabled) {
        uint64_t eax = 0;
        if (p->fp->reg_read(uc, UC_X86_REG_EAX, &eax) == 0) {
            uint32_t leaf = (uint32_t)eax;
            if (leaf == 0 || leaf == 3 || (leaf >= 0x80000000u && leaf <= 0x80000004u)) return 0;
        }
    }
    return p->py_cpuid();
}

void fpp_set_cpuid(fp_ports *p, void *py_cpuid) { p->py_cpuid = (py_cpuid_fn)py_cpuid; }
void *fpp_cpuid_hook_ptr(void) { return (void *)&fpp_cpuid_hook; }

/* For tests: port 0x61 as the IN hook would answer it at cycle `now`; 0 if Python would. */
int fpp_port61_at(fp_ports *p, uint64_t now, uint32_t *out) { return port61_at(p, now, out); }

void *fpp_in_hook_ptr(void) { return (void *)&fpp_in_hook; }
void *fpp_out_hook_ptr(void) { return (void *)&fpp_out_hook; }
size_t fpp_state_size(void) { return sizeof(fp_ports); }

static const size_t fpp_head_layout[] = {
    offsetof(fp_ports, enabled), offsetof(fp_ports, cs_valid), offsetof(fp_ports, cs_sel),
    offsetof(fp_ports, cs_base), offsetof(fp_ports, native_in), offsetof(fp_ports, native_out),
    offsetof(fp_ports, python_in), offsetof(fp_ports, python_out), offsetof(fp_ports, cmos_index),
    offsetof(fp_ports, cmos_nmi), offsetof(fp_ports, cmos_base_seconds),
    offsetof(fp_ports, cmos_base_cycle), offsetof(fp_ports, cmos_frozen),
    offsetof(fp_ports, cmos_frozen_valid), offsetof(fp_ports, cmos_irq_level),
    offsetof(fp_ports, cmos_hz), offsetof(fp_ports, cmos_uip_cycles), offsetof(fp_ports, cmos_ram),
    offsetof(fp_ports, cmos_kind), offsetof(fp_ports, vga_flip), offsetof(fp_ports, vga_misc),
    offsetof(fp_ports, vga_frame), offsetof(fp_ports, vga_line), offsetof(fp_ports, vga_vfirst),
    offsetof(fp_ports, vga_vlast), offsetof(fp_ports, vga_visible), offsetof(fp_ports, vga_pad),
    offsetof(fp_ports, p61_valid), offsetof(fp_ports, p61_low), offsetof(fp_ports, p61_mode),
    offsetof(fp_ports, p61_count), offsetof(fp_ports, p61_load_cycle),
    offsetof(fp_ports, p61_cpu_hz), offsetof(fp_ports, p61_pit_hz), offsetof(fp_ports, p61_refresh),
    offsetof(fp_ports, rkind), offsetof(fp_ports, rval),
    offsetof(fp_ports, wkind), offsetof(fp_ports, fp),
};
size_t fpp_layout(size_t *out, size_t n) { return copy_layout(fpp_head_layout, COUNT_OF(fpp_head_layout), out, n); }
