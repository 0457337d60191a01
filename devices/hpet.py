"""The HPET of QEMU's pc machine (MMIO 0xFED00000-0xFED003FF): a 100 MHz main counter and
three comparators.

Reference: QEMU 7.2 hw/timer/hpet.c (register semantics, comparator arithmetic including the
32-bit modes and the wrap interrupt, legacy replacement routing) and hw/i386/pc.c (wiring:
interrupt capability IRQ2 only on the i440FX; timer output n drives GSI n -- the 8259 line and
the I/O APIC pin, with GSI 0 landing on pin 2); checked by tests/images/kern_hpet.asm.

- Capabilities 0x8086A201 (vendor 8086, legacy-replacement and 64-bit counter capable,
  3 timers, revision 1), period 10 000 000 fs; configuration (enable, legacy replacement),
  interrupt status (write one to clear, lowering a level interrupt), main counter (stopped
  while disabled, writable; running it counts 10 ns ticks of the cycle clock: one tick per
  cycle at 100 MHz), per timer: configuration (level, enable, periodic, set-value, 32-bit
  mode, route; capability bits read-only, route capability 0x4 in the high half), comparator
  (in periodic mode a write sets the period; with set-value the comparator too), FSB route
  register (stored; FSB delivery not offered, as QEMU without msi=on).
- Expiry is an event on the deterministic clock at QEMU's `hpet_set_timer` / `hpet_timer`
  times; edge interrupts pulse the line, level ones hold it and set the status bit.
- Legacy replacement: timer 0 drives IRQ0 (the 8259 line 0, I/O APIC pin 2), timer 1 IRQ8, and
  the PIT's and RTC's own interrupts are cut off (`GsiRouter.legacy`), as QEMU's pit_enabled
  and RTC pass-through do.
"""
from __future__ import annotations

import ctypes
from typing import Any

from .base.clock import CPU_HZ, Clock

BASE = 0xFED00000
SIZE = 0x400
NUM_TIMERS = 3
CLK_PERIOD_NS = 10
CAPABILITY = 0x8086A001 | ((NUM_TIMERS - 1) << 8) | ((CLK_PERIOD_NS * 1_000_000) << 32)
INTCAP = 0x4                  # i440FX: every timer may use IRQ2 only

CFG_ENABLE, CFG_LEGACY = 1, 2
CFG_WRITE_MASK = 3
TN_TYPE_LEVEL = 1 << 1
TN_ENABLE = 1 << 2
TN_PERIODIC = 1 << 3
TN_PERIODIC_CAP = 1 << 4
TN_SIZE_CAP = 1 << 5
TN_SETVAL = 1 << 6
TN_32BIT = 1 << 8
TN_INT_ROUTE_SHIFT = 9
TN_FSB_ENABLE = 1 << 14
TN_CFG_WRITE_MASK = 0x7F4E
M64 = (1 << 64) - 1
RTC_IRQ = 8


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


NO_DUE = M64


class TimerCell(ctypes.Structure):
    """A timer's registers the native MMIO path (emu/fastpath_lapic.c) writes -- a one-shot
    comparator write -- once attached (`Hpet.attach_cells`); `due`/`gen` carry its re-arm of
    the timer's event (or a quiet expiry done natively: emu/fastpath_hpetexp.c) to Python
    (`Hpet.native_sync`); otherwise `due` mirrors the cycle of Python's event (`_Timer.event`)."""

    _fields_ = [("config", ctypes.c_uint64), ("cmp", ctypes.c_uint64), ("wrap_flag", ctypes.c_uint64),
                ("due", ctypes.c_uint64), ("gen", ctypes.c_uint64)]


def _cell_field(name: str) -> property:
    def get(self: "_Timer") -> int:
        return getattr(self.cell, name)

    def set_(self: "_Timer", value: int) -> None:
        setattr(self.cell, name, value & M64)
    return property(get, set_)


class _Timer:
    __slots__ = ("tn", "cell", "fsb", "period", "_event", "gen_seen")

    config = _cell_field("config")
    cmp = _cell_field("cmp")
    wrap_flag = _cell_field("wrap_flag")

    def __init__(self, tn: int) -> None:
        self.tn = tn
        self.cell = TimerCell()
        self.event = None
        self.gen_seen = 0
        self.reset()

    @property
    def event(self) -> Any:
        return self._event

    @event.setter
    def event(self, ev: Any) -> None:
        """The timer's clock event; its cycle is mirrored in the cell's `due` (the one place it
        is set), so the native code (emu/fastpath_hpetexp.c, the LAPIC tick's limit) knows every
        HPET event's cycle, as LocalApic mirrors `timer_due`."""
        self._event = ev
        self.cell.due = NO_DUE if ev is None else ev.cycle

    def reset(self) -> None:
        self.config = TN_PERIODIC_CAP | TN_SIZE_CAP | (INTCAP << 32)
        self.cmp = M64
        self.fsb = 0
        self.period = 0
        self.wrap_flag = 0


class Hpet:
    name = "hpet"

    def __init__(self, *, clock: Clock, irq: Any) -> None:
        """`irq` is the board's GsiRouter (raise_irq/lower_irq by GSI, and `legacy`)."""
        self.clock = clock
        self.irq = irq
        self.timers = [_Timer(i) for i in range(NUM_TIMERS)]
        #: the native MMIO path (emu/fastlapic.py), told the main counter after every change
        #: (`publish(running, counter, offset_ns)`); None: nobody answers reads natively
        self.native: Any = None
        self.reset()

    def attach_cells(self, cells: Any) -> None:
        """Move the timers' registers into `cells` (three `TimerCell`s of the native MMIO
        path's struct), their storage from now on."""
        for t, cell in zip(self.timers, cells):
            ctypes.memmove(ctypes.addressof(cell), ctypes.addressof(t.cell), ctypes.sizeof(TimerCell))
            t.cell = cell
            t.gen_seen = cell.gen
        self._keep = cells

    def native_sync(self) -> None:
        """A native comparator write re-armed a timer (emu/fastpath_lapic.c): cancel its old
        clock event and schedule the one C computed, as `_arm` would have at the write."""
        for t in self.timers:
            cell = t.cell
            if cell.gen != t.gen_seen:
                t.gen_seen = cell.gen
                due = cell.due          # (read first: the event's setter below mirrors into it)
                self._cancel(t)
                if due != NO_DUE:
                    t.event = self.clock.schedule(due, lambda _c, t=t: self._expire(t), f"hpet.timer{t.tn}")

    def _publish(self) -> None:
        """The main counter is a pure function of (enabled, counter, offset_ns) and the cycle:
        hand them to the native path, which answers 0xF0/0xF4 reads with `_ticks`' formula."""
        if self.native is not None:
            self.native.publish_hpet(self.enabled, self.counter, self.offset_ns)

    def ports(self):
        return ()

    def reset(self) -> None:
        self.native_sync()
        for t in self.timers:
            self._cancel(t)
            t.reset()
        self.config = 0
        self.isr = 0
        self.counter = 0
        self.offset_ns = 0
        self.irq.hpet_legacy = False
        self._publish()

    # -- time -------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return self.clock.now() * (1_000_000_000 // CPU_HZ)

    def _ticks(self) -> int:
        return ((self._now_ns() + self.offset_ns) // CLK_PERIOD_NS) & M64

    @property
    def enabled(self) -> bool:
        return bool(self.config & CFG_ENABLE)

    def _cancel(self, t: _Timer) -> None:
        Clock.cancel(t.event)
        t.event = None

    def _arm(self, t: _Timer, diff_ticks: int) -> None:
        self.native_sync()
        self._cancel(t)
        due_ns = self._now_ns() + diff_ticks * CLK_PERIOD_NS
        per = 1_000_000_000 // CPU_HZ
        t.event = self.clock.schedule(-(-due_ns // per), lambda _c, t=t: self._expire(t), f"hpet.timer{t.tn}")

    @staticmethod
    def _diff(t: _Timer, current: int) -> int:
        if t.config & TN_32BIT:
            d = (t.cmp - current) & 0xFFFFFFFF
            return d if _s32(d) > 0 else 1
        d = (t.cmp - current) & M64
        return d if _s64(d) > 0 else 1

    def _set_timer(self, t: _Timer) -> None:
        cur = self._ticks()
        t.wrap_flag = 0
        diff = self._diff(t, cur)
        if t.config & TN_32BIT and not t.config & TN_PERIODIC:
            wrap_diff = 0xFFFFFFFF - (cur & 0xFFFFFFFF)
            if wrap_diff < (diff & 0xFFFFFFFF):
                diff = wrap_diff
                t.wrap_flag = 1
        self._arm(t, diff)

    def _del_timer(self, t: _Timer) -> None:
        self.native_sync()
        self._cancel(t)
        self._update_irq(t, False)

    def _expire(self, t: _Timer) -> None:
        t.event = None
        cur = self._ticks()
        if t.config & TN_PERIODIC and t.period:
            if t.config & TN_32BIT:
                while _s32(t.cmp - cur) < 0:
                    t.cmp = (t.cmp + t.period) & 0xFFFFFFFF
            else:
                while _s64(t.cmp - cur) < 0:
                    t.cmp = (t.cmp + t.period) & M64
            self._arm(t, self._diff(t, cur))
        elif t.config & TN_32BIT and not t.config & TN_PERIODIC and t.wrap_flag:
            self._arm(t, self._diff(t, cur))
            t.wrap_flag = 0
        self._update_irq(t, True)

    def _route(self, t: _Timer) -> int:
        if t.tn <= 1 and self.config & CFG_LEGACY:
            return 0 if t.tn == 0 else RTC_IRQ
        return (t.config >> TN_INT_ROUTE_SHIFT) & 31

    def _update_irq(self, t: _Timer, assert_: bool) -> None:
        route = self._route(t)
        mask = 1 << t.tn
        if not assert_ or not t.config & TN_ENABLE or not self.enabled:
            self.isr &= ~mask
            self.irq.hpet_set(route, 0)
        elif t.config & TN_TYPE_LEVEL:
            self.isr |= mask
            self.irq.hpet_set(route, 1)
        else:
            self.isr &= ~mask
            self.irq.hpet_set(route, 1)
            self.irq.hpet_set(route, 0)

    def quiet_route(self, t: _Timer) -> int | None:
        """The GSI an expiry of `t` that does not raise would lower, if the parts of
        `_update_irq(t, True)` Python owns change nothing now (the status bit is clear, the I/O
        APIC side is a no-op); None otherwise.  emu/fasthpetexp.py asks before each slice."""
        if self.isr >> t.tn & 1:
            return None
        gsi = self._route(t)
        check = getattr(self.irq, "hpet_lower_is_noop_apic", None)
        return gsi if check is not None and check(gsi) else None

    # -- MMIO -------------------------------------------------------------------------
    def _read64(self, addr: int) -> int:
        """The register at `addr` (QEMU hpet_ram_read, before truncation to 32 bits)."""
        if 0x100 <= addr <= 0x3FF:
            tid = (addr - 0x100) // 0x20
            if tid >= NUM_TIMERS:
                return 0
            t = self.timers[tid]
            reg = (addr - 0x100) % 0x20
            return {0x00: t.config, 0x04: t.config >> 32, 0x08: t.cmp, 0x0C: t.cmp >> 32,
                    0x10: t.fsb, 0x14: t.fsb >> 32}.get(reg, 0)
        if addr == 0x000:
            return CAPABILITY
        if addr == 0x004:
            return CAPABILITY >> 32
        if addr == 0x010:
            return self.config
        if addr in (0x0F0, 0x0F4):
            cur = self._ticks() if self.enabled else self.counter
            return cur if addr == 0x0F0 else cur >> 32
        if addr == 0x020:
            return self.isr
        return 0

    def mmio_read(self, offset: int, size: int) -> int:
        value = self._read64(offset & ~3) & 0xFFFFFFFF
        shift = 8 * (offset & 3)
        return (value >> shift) & ((1 << (8 * size)) - 1)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self._write(offset, size, value)
        self._publish()

    def _write(self, offset: int, size: int, value: int) -> None:
        if size < 4:
            return          # QEMU: .valid.min_access_size = 4
        addr = offset
        old = self._read64(addr)
        new = value & 0xFFFFFFFF
        if 0x100 <= addr <= 0x3FF:
            tid = (addr - 0x100) // 0x20
            if tid >= NUM_TIMERS:
                return
            t = self.timers[tid]
            reg = (addr - 0x100) % 0x20
            if reg == 0x00:
                if not old & TN_FSB_ENABLE and new & TN_FSB_ENABLE:
                    self._update_irq(t, False)
                val = (new & TN_CFG_WRITE_MASK) | (old & ~TN_CFG_WRITE_MASK)
                t.config = (t.config & ~0xFFFFFFFF) | (val & 0xFFFFFFFF)
                if new & TN_32BIT:
                    t.cmp &= 0xFFFFFFFF
                    t.period &= 0xFFFFFFFF
                if not old & TN_ENABLE and new & TN_ENABLE and self.enabled:
                    self._set_timer(t)
                elif old & TN_ENABLE and not new & TN_ENABLE:
                    self._del_timer(t)
            elif reg in (0x08, 0x0C):
                high = reg == 0x0C
                periodic = bool(t.config & TN_PERIODIC)
                if not high and t.config & TN_32BIT:
                    new &= 0xFFFFFFFF
                if not periodic or t.config & TN_SETVAL:
                    t.cmp = ((t.cmp & 0xFFFFFFFF) | (new << 32)) if high else ((t.cmp & ~0xFFFFFFFF & M64) | new)
                if periodic and (not high or not t.config & TN_SETVAL):
                    new &= (0xFFFFFFFF if t.config & TN_32BIT else M64) >> 1
                    t.period = ((t.period & 0xFFFFFFFF) | (new << 32)) if high else ((t.period & ~0xFFFFFFFF & M64) | new)
                t.config &= ~TN_SETVAL
                if self.enabled:
                    self._set_timer(t)
            elif reg == 0x10:
                t.fsb = (t.fsb & ~0xFFFFFFFF) | new
            elif reg == 0x14:
                t.fsb = (t.fsb & 0xFFFFFFFF) | (new << 32)
            return
        if addr == 0x010:
            val = (new & CFG_WRITE_MASK) | (old & ~CFG_WRITE_MASK)
            self.config = val & 0xFFFFFFFF
            if not old & CFG_ENABLE and new & CFG_ENABLE:
                self.offset_ns = self.counter * CLK_PERIOD_NS - self._now_ns()
                for t in self.timers:
                    if t.cmp != M64:
                        self._set_timer(t)
            elif old & CFG_ENABLE and not new & CFG_ENABLE:
                self.counter = self._ticks()
                for t in self.timers:
                    self._del_timer(t)
            if not old & CFG_LEGACY and new & CFG_LEGACY:
                self.irq.set_hpet_legacy(True)
            elif old & CFG_LEGACY and not new & CFG_LEGACY:
                self.irq.set_hpet_legacy(False)
        elif addr == 0x020:
            val = new & self.isr
            for t in self.timers:
                if val & (1 << t.tn):
                    self._update_irq(t, False)
        elif addr == 0x0F0:
            self.counter = (self.counter & ~0xFFFFFFFF & M64) | new
        elif addr == 0x0F4:
            self.counter = (self.counter & 0xFFFFFFFF) | (new << 32)

    # -- snapshots --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"config": self.config, "isr": self.isr, "counter": self.counter, "offset_ns": self.offset_ns,
                "legacy": self.irq.hpet_legacy,
                "timers": [{"config": t.config, "cmp": t.cmp, "fsb": t.fsb, "period": t.period,
                            "wrap_flag": t.wrap_flag,
                            "due": self._due(t)}
                           for t in self.timers]}

    @staticmethod
    def _due(t: _Timer) -> int | None:
        """The cycle of a timer's pending event (read-only: a native re-arm Python has not
        taken back yet is read from the cell)."""
        if t.cell.gen != t.gen_seen:
            return None if t.cell.due == NO_DUE else int(t.cell.due)
        return None if t.event is None or t.event.cancelled else t.event.cycle

    def load_state(self, state: dict[str, Any]) -> None:
        self.native_sync()
        self.config, self.isr = state["config"], state["isr"]
        self.counter, self.offset_ns = state["counter"], state["offset_ns"]
        self.irq.hpet_legacy = state["legacy"]
        for t, d in zip(self.timers, state["timers"]):
            self._cancel(t)
            t.config, t.cmp, t.fsb, t.period, t.wrap_flag = d["config"], d["cmp"], d["fsb"], d["period"], d["wrap_flag"]
            if d["due"] is not None:
                t.event = self.clock.schedule(d["due"], lambda _c, t=t: self._expire(t), f"hpet.timer{t.tn}")
        self._publish()
