"""The local APIC of the one CPU (memory-mapped at 0xFEE00000), and the CPU's interrupt input.

Reference: QEMU 7.2 hw/intc/apic.c + apic_common.c, the oracle the test kernels are compared
with (tests/images/kern_lapic.asm).  Modelled as there:

- ID (0x20), version 0x00050014 (6 LVTs), TPR (0x80), APR (0x90, reads 0), PPR (0xA0,
  computed from TPR and the highest in-service vector), EOI (0xB0), LDR (0xD0), DFR (0xE0),
  SVR (0xF0; bit 8 software enable), ISR/TMR/IRR (0x100-0x270),
  ESR (0x280; bit 7 "illegal register address" set by an access to an undefined register and,
  as in QEMU, never cleared -- a write to the ESR changes nothing), ICR (0x300/0x310), the six LVTs
  (timer, thermal, performance, LINT0, LINT1, error: 0x320-0x370), the timer's initial count
  (0x380), current count (0x390) and divide configuration (0x3E0).  Undefined registers read 0.
- The timer counts at QEMU's APIC bus clock (1 GHz, one tick per nanosecond) divided by
  2, 4, .. 128 or 1; one-shot and periodic modes with QEMU's arithmetic for the current count
  and the next expiry, expressed in cycles of the deterministic clock (CPU_HZ), so the same
  guest gets the same number of ticks for the same work, every run.
- ICR: fixed / lowest-priority IPIs to this CPU (destination shorthand self, all-including-self,
  physical ID match or broadcast, logical LDR/DFR match) set IRR (and TMR when level);
  INIT, SIPI, SMI and NMI IPIs, and IPIs to an absent CPU, go nowhere (delivery status stays 0).
- The interrupt input of the CPU (`intr_pending` / `acknowledge`): the highest IRR vector above
  the processor priority (apic_irq_pending); the 8259 reaches the CPU through LINT0 when it is
  unmasked in ExtINT mode (QEMU applies LINT0's LVT even with the APIC globally disabled), and
  ExtINT goes first (apic_check_pic).
- IA32_APIC_BASE (emu/special.py hooks RDMSR/WRMSR 0x1B): clearing the enable bit disables the
  APIC until reset and clears CPUID.1:EDX.APIC (emu/cpuid.py asks `cpuid_apic`), as QEMU.  LINT0/LINT1 in fixed mode
  latch their vector on a rising edge (level flag from the LVT).
- Level-triggered vectors broadcast an EOI to the I/O APIC (remote IRR).

Not modelled: NMI / SMI / INIT delivered to this CPU (LINT1 NMI, NMI IPIs), the thermal and
performance counters' interrupts, x2APIC, TSC-deadline mode (qemu32 has none), relocating the
APIC base through the MSR (Unicorn keeps no APIC state: the MSR reads what QEMU shows).
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable

from .base.clock import CPU_HZ, Clock

BASE = 0xFEE00000
SIZE = 0x1000
APIC_HZ = 1_000_000_000     # QEMU's APIC timer counts nanoseconds of the virtual clock
VERSION = 0x14
N_LVT = 6
LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR = range(6)
MASKED = 1 << 16
TIMER_PERIODIC = 1 << 17
LVT_LEVEL = 1 << 15
SV_ENABLE = 1 << 8
APICBASE_ENABLE = 1 << 11
ESR_ILLEGAL_ADDRESS = 1 << 7
#: registers whose writes are silently ignored (read-only ones, and the ESR: QEMU records the
#: illegal-register-address error and never clears it); other undefined registers set ESR bit 7
_WRITE_IGNORED = frozenset({0x03, 0x09, 0x0A, 0x28, 0x39, *range(0x10, 0x28)})
DM_FIXED, DM_LOWEST, DM_SMI, DM_NMI, DM_INIT, DM_SIPI, DM_EXTINT = 0, 1, 2, 4, 5, 6, 7


def _highest(bits: int) -> int:
    return bits.bit_length() - 1


_U32x8 = ctypes.c_uint32 * 8
NO_DUE = (1 << 64) - 1


class LapicCell(ctypes.Structure):
    """The registers the native MMIO path (emu/fastpath_lapic.c) reads or writes: the head of
    its `flapic_state` once attached (`LocalApic.attach_cell`), a plain structure before.  The
    256-bit ISR/TMR/IRR are eight little-endian words; `timer_due`/`timer_gen` carry a native
    re-arm of the timer to Python (`LocalApic.native_sync`)."""

    _fields_ = [("isr", _U32x8), ("tmr", _U32x8), ("irr", _U32x8), ("lvt", ctypes.c_uint32 * 6),
                ("tpr", ctypes.c_uint32), ("spurious", ctypes.c_uint32), ("initial_count", ctypes.c_uint32),
                ("count_shift", ctypes.c_uint32), ("imcr_apic_mode", ctypes.c_uint32), ("isr_gen", ctypes.c_uint32),
                ("load_time", ctypes.c_uint64), ("next_time", ctypes.c_uint64),
                ("timer_due", ctypes.c_uint64), ("timer_gen", ctypes.c_uint64)]


def _bits_property(name: str) -> property:
    """A 256-bit register as a Python int (the model's arithmetic is on ints).  The int is a
    write-through copy of the cell's words: every Python write stores both; C writes only the
    ISR (a native EOI), and bumps `isr_gen` when it does, so a read reloads it then."""
    attr = "_" + name
    offset = getattr(LapicCell, name).offset

    def get(self: "LocalApic") -> int:
        return getattr(self, attr)

    def set_(self: "LocalApic", value: int) -> None:
        value = int(value)
        if name == "isr":
            _isr_get(self)              # make the copy current first (C may have written the words)
        if value == getattr(self, attr):
            return                      # the words hold it already
        setattr(self, attr, value)
        ctypes.memmove(ctypes.addressof(self._cell) + offset, value.to_bytes(32, "little"), 32)
    return property(get, set_)


def _isr_get(self: "LocalApic") -> int:
    gen = self._cell.isr_gen
    if gen != self._isr_gen:
        self._isr_gen = gen
        self._isr = int.from_bytes(bytes(self._cell.isr), "little")
    return self._isr


def _cell_property(name: str, conv: Callable[[int], Any] = int) -> property:
    def get(self: "LocalApic") -> Any:
        return conv(getattr(self._cell, name))

    def set_(self: "LocalApic", value: Any) -> None:
        setattr(self._cell, name, int(value))
    return property(get, set_)


class LocalApic:
    """One xAPIC.  `pic` is the 8259 pair (LINT0); `ioapic_eoi(vector)` receives EOI broadcasts."""

    name = "lapic"

    def __init__(self, *, clock: Clock, pic: Any, on_intr: Callable[[bool], None] | None = None,
                 apic_id: int = 0) -> None:
        self.clock = clock
        self.pic = pic
        self.on_intr = on_intr
        self.ioapic_eoi: Callable[[int], None] | None = None
        self._cell = LapicCell()
        self._cell.timer_due = NO_DUE
        self._gen_seen = 0
        self._isr = self._irr = self._tmr = 0
        self._isr_gen = 0
        self.apic_id_reset = apic_id
        #: IMCR (devices/imcr.py): False routes the 8259 straight to the CPU (PIC mode)
        self.imcr_apic_mode = True
        self._timer_event = None
        self._lint_level = [0, 0]
        self.reset()

    # -- the registers' storage (a ctypes cell: the native MMIO path shares it) ---------
    isr = property(_isr_get, _bits_property("isr").fset)
    tmr = _bits_property("tmr")
    irr = _bits_property("irr")
    tpr = _cell_property("tpr")
    spurious = _cell_property("spurious")
    initial_count = _cell_property("initial_count")
    count_shift = _cell_property("count_shift")
    load_time = _cell_property("load_time")
    next_time = _cell_property("next_time")
    imcr_apic_mode = _cell_property("imcr_apic_mode", bool)

    @property
    def lvt(self) -> Any:
        """The six LVTs (a ctypes array: index, assign, `list()` as a list)."""
        return self._cell.lvt

    @lvt.setter
    def lvt(self, values: Any) -> None:
        for i, v in enumerate(values):
            self._cell.lvt[i] = int(v)

    def attach_cell(self, cell: ctypes.Structure) -> None:
        """Move the registers into `cell` (a structure that starts like `LapicCell`: the native
        MMIO path's struct), which is their storage from now on."""
        new = LapicCell.from_address(ctypes.addressof(cell))
        ctypes.memmove(ctypes.addressof(new), ctypes.addressof(self._cell), ctypes.sizeof(LapicCell))
        self._keep = cell
        self._cell = new
        self._gen_seen = new.timer_gen
        self._isr_gen = new.isr_gen

    def native_sync(self) -> None:
        """A native initial-count write re-armed the timer (emu/fastpath_lapic.c): cancel the
        old clock event and schedule the one C computed, as `_timer_update` would have done at
        the write (called before any other event can be scheduled: emu/fastlapic.py)."""
        cell = self._cell
        if cell.timer_gen == self._gen_seen:
            return
        self._gen_seen = cell.timer_gen
        Clock.cancel(self._timer_event)
        self._timer_event = None
        due = cell.timer_due
        if due != NO_DUE:
            self._timer_event = self.clock.schedule(due, self._on_timer, "lapic.timer")

    # -- contract ---------------------------------------------------------------------
    def ports(self):
        return ()

    def reset(self) -> None:
        self.native_sync()
        Clock.cancel(self._timer_event)
        self._timer_event = None
        self.id = self.apic_id_reset
        self.tpr = 0
        self.spurious = 0xFF
        self.log_dest = 0
        self.dest_mode = 0xF
        self.isr = self.tmr = self.irr = 0
        self.esr = 0
        self.icr = [0, 0]
        self.lvt = [MASKED] * N_LVT
        self.lvt[LVT_LINT0] = 0x700     # QEMU apic_reset_common: the BSP's LINT0 in ExtINT mode
        self.apicbase = BASE | (1 << 8) | APICBASE_ENABLE    # BSP, globally enabled
        self.divide_conf = 0
        self.count_shift = 1
        self.initial_count = 0
        self.load_time = 0
        self.next_time = 0
        self._lint_level = [0, 0]

    # -- time -------------------------------------------------------------------------
    @staticmethod
    def _ns(cycle: int) -> int:
        return cycle * (APIC_HZ // CPU_HZ)

    def _cycles_ceil(self, ns: int) -> int:
        per = APIC_HZ // CPU_HZ
        return -(-ns // per)

    def _current_count(self) -> int:
        if not self.initial_count:
            return 0
        d = (self._ns(self.clock.now()) - self.load_time) >> self.count_shift
        if self.lvt[LVT_TIMER] & TIMER_PERIODIC:
            return self.initial_count - (d % (self.initial_count + 1))
        return 0 if d >= self.initial_count else self.initial_count - d

    def _timer_update(self, now_ns: int) -> None:
        """QEMU apic_next_timer + apic_timer_update: (re)arm at the next expiry after now."""
        self.native_sync()
        Clock.cancel(self._timer_event)
        self._timer_event = None
        d = (now_ns - self.load_time) >> self.count_shift
        ic = self.initial_count
        if self.lvt[LVT_TIMER] & TIMER_PERIODIC:
            if not ic:
                return
            d = (d // (ic + 1) + 1) * (ic + 1)
        else:
            if d >= ic:
                return
            d = ic + 1
        self.next_time = self.load_time + (d << self.count_shift)
        self._timer_event = self.clock.schedule(self._cycles_ceil(self.next_time), self._on_timer,
                                                "lapic.timer")

    def _on_timer(self, _cycle: int) -> None:
        self._timer_event = None
        self._local_deliver(LVT_TIMER)
        self._timer_update(self.next_time)

    # -- delivery ---------------------------------------------------------------------
    def _local_deliver(self, n: int) -> None:
        lvt = self.lvt[n]
        if lvt & MASKED:
            return
        mode = (lvt >> 8) & 7
        if mode == DM_FIXED:
            level = bool(lvt & LVT_LEVEL) if n in (LVT_LINT0, LVT_LINT1) else False
            self.set_irq(lvt & 0xFF, level)
        elif mode == DM_EXTINT:
            self._update()
        # SMI, NMI, INIT: not modelled (see the module docstring)

    def set_irq(self, vector: int, level: bool) -> None:
        """apic_set_irq: a fixed interrupt arrives (IPI, LVT, or the I/O APIC)."""
        bit = 1 << vector
        self.irr |= bit
        if level:
            self.tmr |= bit
        else:
            self.tmr &= ~bit
        self._update()

    def deliver_irq(self, dest: int, dest_mode: int, delivery_mode: int, vector: int, level: bool) -> None:
        """apic_deliver_irq from the I/O APIC: to this CPU if the destination matches."""
        if not self._match(dest, dest_mode):
            return
        if delivery_mode in (DM_FIXED, DM_LOWEST, DM_EXTINT):
            # ExtINT: the I/O APIC read the vector from the 8259 already; QEMU's
            # apic_bus_deliver then sets it like a fixed interrupt
            self.set_irq(vector, level)

    def _match(self, dest: int, dest_mode: int) -> bool:
        if dest_mode == 0:      # physical
            return dest == 0xFF or dest == self.id
        if self.dest_mode == 0xF:   # flat model
            return bool(dest & self.log_dest)
        # cluster model: high nibble cluster, low nibble members
        return ((dest & 0xF0) == (self.log_dest & 0xF0)) and bool(dest & self.log_dest & 0x0F)

    def lint(self, n: int, level: int) -> None:
        """LINT0/LINT1 input level (the 8259's INTR is wired to LINT0)."""
        old = self._lint_level[n]
        self._lint_level[n] = level
        lvt = self.lvt[LVT_LINT0 + n]
        if (lvt >> 8) & 7 == DM_EXTINT:
            self._update()
        elif level and not old:
            self._local_deliver(LVT_LINT0 + n)

    # -- the CPU's view ---------------------------------------------------------------
    def _ppr(self) -> int:
        isrv = _highest(self.isr)
        isrv = isrv if isrv >= 0 else 0
        tpr = self.tpr
        return tpr if (tpr >> 4) >= (isrv >> 4) else isrv & 0xF0

    def _irq_pending(self) -> int:
        """apic_irq_pending: >0 vector, 0 nothing, -1 pending but below the priority."""
        if not self.spurious & SV_ENABLE:
            return 0
        irrv = _highest(self.irr)
        if irrv < 0:
            return 0
        ppr = self._ppr()
        if ppr and (irrv & 0xF0) <= (ppr & 0xF0):
            return -1
        return irrv

    def accept_pic_intr(self) -> bool:
        """Does the 8259's INTR reach the CPU?  Through LINT0 when it is unmasked in ExtINT mode
        -- also with the APIC globally disabled: QEMU still applies LINT0's LVT then
        (apic_accept_pic_intr + apic_local_deliver) --, or always in IMCR PIC mode."""
        if not self.imcr_apic_mode:
            return True
        lvt0 = self.lvt[LVT_LINT0]
        return not lvt0 & MASKED and (lvt0 >> 8) & 7 == DM_EXTINT

    def intr_pending(self) -> bool:
        """The CPU's INTR: an APIC vector above the priority, or the 8259 through ExtINT."""
        if self.irr and self._irq_pending() > 0:
            return True
        return self.pic.intr and self.accept_pic_intr()

    def acknowledge(self) -> int | None:
        """The INTA cycle (cpu_get_pic_interrupt): the vector the CPU takes, or None."""
        if self.pic.intr and self.accept_pic_intr():
            return self.pic.acknowledge()       # ExtINT ignores the priority: first
        intno = self._irq_pending()
        if intno > 0:
            bit = 1 << intno
            self.irr &= ~bit
            self.isr |= bit
            self._update()
            return intno
        if intno < 0:
            return self.spurious & 0xFF
        return None

    def _update(self) -> None:
        if self.on_intr is not None and self.intr_pending():
            self.on_intr(True)

    def _eoi(self) -> None:
        isrv = _highest(self.isr)
        if isrv < 0:
            return
        self.isr &= ~(1 << isrv)
        if self.tmr >> isrv & 1 and self.ioapic_eoi is not None:
            self.ioapic_eoi(isrv)
        self._update()

    def _send_ipi(self) -> None:
        lo, hi = self.icr
        vector, mode = lo & 0xFF, (lo >> 8) & 7
        shorthand = (lo >> 18) & 3
        level = bool(lo & LVT_LEVEL)
        if shorthand == 1 or shorthand == 2:
            to_me = True
        elif shorthand == 3:
            to_me = False
        else:
            to_me = self._match(hi >> 24, (lo >> 11) & 1)
        if to_me and mode in (DM_FIXED, DM_LOWEST):
            self.set_irq(vector, level)
        # INIT / SIPI / NMI / SMI to self, and anything to other CPUs: nobody there

    # -- read-only views (the interrupt-path view, emu/irqpath.py, asks; it keeps no copy) ----
    def processor_priority(self) -> int:
        """PPR as the CPU computes it now (TPR, or the class of the highest in-service vector)."""
        return self._ppr()

    def current_count(self) -> int:
        """The timer's current count register (0x390) now."""
        return self._current_count()

    def timer_armed(self) -> bool:
        """Is a timer expiry scheduled (counting, not expired in one-shot mode)?  (Read-only:
        a native re-arm Python has not taken back yet is read from the cell.)"""
        cell = self._cell
        if cell.timer_gen != self._gen_seen:
            return cell.timer_due != NO_DUE
        return self._timer_event is not None

    def accepts_destination(self, dest: int, dest_mode: int) -> bool:
        """Would an I/O APIC message to `dest` (physical 0 / logical 1) reach this CPU?"""
        return self._match(dest, dest_mode)

    # -- MMIO -------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        if size < 4:        # QEMU apic_mem_read: narrower reads return 0
            return 0
        return self._read_reg((offset >> 4) & 0xFF)

    def _read_reg(self, index: int) -> int:
        if index == 0x02:
            return self.id << 24
        if index == 0x03:
            return VERSION | ((N_LVT - 1) << 16)
        if index == 0x08:
            return self.tpr
        if index == 0x09:
            return 0
        if index == 0x0A:
            return self._ppr()
        if index == 0x0D:
            return self.log_dest << 24
        if index == 0x0E:
            return (self.dest_mode << 28) | 0x0FFFFFFF
        if index == 0x0F:
            return self.spurious
        if 0x10 <= index < 0x28:
            reg = (self.isr, self.tmr, self.irr)[(index - 0x10) >> 3]
            return (reg >> (32 * (index & 7))) & 0xFFFFFFFF
        if index == 0x28:
            return self.esr
        if index in (0x30, 0x31):
            return self.icr[index - 0x30]
        if 0x32 <= index <= 0x37:
            return self.lvt[index - 0x32]
        if index == 0x38:
            return self.initial_count
        if index == 0x39:
            return self._current_count()
        if index == 0x3E:
            return self.divide_conf
        if index != 0x0B:
            self.esr |= ESR_ILLEGAL_ADDRESS
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if size < 4:        # QEMU apic_mem_write: narrower writes are dropped
            return
        index = (offset >> 4) & 0xFF
        value &= 0xFFFFFFFF
        if index == 0x02:
            self.id = value >> 24
        elif index == 0x08:
            self.tpr = value & 0xFF
            self._update()
        elif index == 0x0B:
            self._eoi()
        elif index == 0x0D:
            self.log_dest = value >> 24
        elif index == 0x0E:
            self.dest_mode = value >> 28
        elif index == 0x0F:
            self.spurious = value & 0x1FF
            self._update()
        elif index == 0x30:
            self.icr[0] = value
            self._send_ipi()
        elif index == 0x31:
            self.icr[1] = value
        elif 0x32 <= index <= 0x37:
            n = index - 0x32
            self.lvt[n] = value
            if n == LVT_TIMER:
                self._timer_update(self._ns(self.clock.now()))
            elif n == LVT_LINT0:
                self._update()
        elif index == 0x38:
            self.load_time = self._ns(self.clock.now())
            self.initial_count = value
            self._timer_update(self.load_time)
        elif index == 0x3E:
            self.divide_conf = value & 0xB
            v = (self.divide_conf & 3) | ((self.divide_conf >> 1) & 4)
            self.count_shift = (v + 1) & 7
        elif index not in _WRITE_IGNORED:
            self.esr |= ESR_ILLEGAL_ADDRESS

    def msr_write(self, value: int) -> None:
        """WRMSR IA32_APIC_BASE as QEMU's apic_set_base: the base bits are stored (the MMIO
        window stays at 0xFEE00000: relocation is not modelled), the BSP flag is read-only, and
        clearing the enable bit disables the APIC until the next reset -- it cannot be set
        again --, clears CPUID.1:EDX.APIC and the SVR's software enable."""
        self.apicbase = (value & 0xFFFFF000) | (self.apicbase & ((1 << 8) | APICBASE_ENABLE))
        if not value & APICBASE_ENABLE:
            self.apicbase &= ~APICBASE_ENABLE
            self.spurious &= ~SV_ENABLE
        self._update()

    @property
    def cpuid_apic(self) -> bool:
        """CPUID.1:EDX bit 9 as QEMU reports it: cleared once the APIC is globally disabled."""
        return bool(self.apicbase & APICBASE_ENABLE)

    def seabios_setup(self) -> None:
        """What SeaBIOS's smp_setup leaves (read under QEMU at boot): APIC software-enabled,
        LINT0 ExtINT level (virtual wire), LINT1 NMI level, and the INIT + SIPI it broadcast
        to find other CPUs still in the ICR."""
        for off, v in ((0xF0, 0x1FF), (0x350, 0x8700), (0x360, 0x8400), (0x300, 0xC4500),
                       (0x300, 0xC4610)):
            self.mmio_write(off, 4, v)

    # -- snapshots --------------------------------------------------------------------
    _FIELDS = ("id", "tpr", "spurious", "log_dest", "dest_mode", "isr", "tmr", "irr", "esr",
               "divide_conf", "count_shift", "initial_count", "load_time", "next_time",
               "apicbase", "imcr_apic_mode")

    def state(self) -> dict[str, Any]:
        d = {f: getattr(self, f) for f in self._FIELDS}
        d.update(icr=list(self.icr), lvt=list(self.lvt), lint=list(self._lint_level),
                 timer_armed=self.timer_armed())
        return d

    def load_state(self, state: dict[str, Any]) -> None:
        self.native_sync()
        for f in self._FIELDS:
            setattr(self, f, state[f])
        self.icr = list(state["icr"])
        self.lvt = list(state["lvt"])
        self._lint_level = list(state["lint"])
        Clock.cancel(self._timer_event)
        self._timer_event = None
        if state["timer_armed"]:
            self._timer_event = self.clock.schedule(self._cycles_ceil(self.next_time), self._on_timer,
                                                    "lapic.timer")
