"""Motorola MC146818 real-time clock and CMOS RAM (ports 0x70/0x71, IRQ8).

Reference: QEMU hw/rtc/mc146818rtc.c, and hw/i386/pc.c `pc_cmos_init` for the RAM contents a
PC firmware finds (memory sizes, century, equipment).  Modelled: index register with the NMI
mask in bit 7 (`nmi_masked`), 128 bytes of RAM, the time/date registers in BCD or binary and in
12/24-hour format (register B DM/24H bits), register A (rate, divider, UIP), register B (SET,
PIE/AIE/UIE), register C (IRQF/PF/AF/UF, cleared by reading, which lowers IRQ8) and register D
(VRT).  Periodic, alarm and update-ended interrupts are events on the cycle clock.

Determinism: the clock does not read the host's time.  It starts at a fixed date (constructor
`start`, default 2024-01-01 00:00:00, a Monday) and advances with the emulated cycle count, so a
guest printing the date prints the same thing every run.  UIP is set during the last 244 us
before each second boundary, as on the chip.
Simplification: the PF/UF/AF flags are only raised while their interrupt enable is set.
"""
from __future__ import annotations

import calendar
import datetime as _dt
from typing import Any, Iterable

from .base.clock import CPU_HZ, Clock
from .base.native import NO_NATIVE, CmosCell, NativePorts
from .bus import IrqSink, split_read, split_write

REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
REG_CENTURY = 0x32
A_UIP = 0x80
B_SET, B_PIE, B_AIE, B_UIE, B_DM, B_24H = 0x80, 0x40, 0x20, 0x10, 0x04, 0x02
C_IRQF, C_PF, C_AF, C_UF = 0x80, 0x40, 0x20, 0x10
UIP_CYCLES = 244 * CPU_HZ // 1_000_000
_TIME_REGS = (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, REG_CENTURY)
#: How the native port path answers a data-port read at each index (devices/base/native.py):
#: 1 the RAM byte, 2 a time register, 3 register A (UIP from the clock), 4 register C (only
#: while it reads 0 with IRQ8 low: then reading it changes nothing).
_NATIVE_KINDS = bytes(2 if i in _TIME_REGS else 3 if i == REG_A else 4 if i == REG_C else 1
                      for i in range(128))
_CELL_FIELDS = ("cmos_index", "cmos_nmi", "cmos_base_seconds", "cmos_base_cycle", "cmos_frozen",
                "cmos_frozen_valid", "cmos_irq_level", "cmos_hz", "cmos_uip_cycles")


def _to_bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


def _from_bcd(v: int) -> int:
    return ((v >> 4) & 0x0F) * 10 + (v & 0x0F)


class Cmos:
    """RTC + CMOS RAM.  `memory_mb` fills the memory-size bytes as QEMU's pc_cmos_init."""

    name = "cmos"
    wide_io = False
    PORTS = (0x70, 0x71)

    def __init__(self, *, clock: Clock, irq: IrqSink, irq_line: int = 8, memory_mb: int = 64,
                 start: _dt.datetime | None = None) -> None:
        self.clock = clock
        self.irq = irq
        self.irq_line = irq_line
        self.memory_mb = memory_mb
        start = start or _dt.datetime(2024, 1, 1, 0, 0, 0)
        self._start_seconds = calendar.timegm(start.timetuple())
        self._periodic_event = None
        self._second_event = None
        self._cell = NO_NATIVE.cmos_cell(0x70, 0x71, _NATIVE_KINDS)
        self._cell.cmos_hz, self._cell.cmos_uip_cycles = CPU_HZ, UIP_CYCLES
        self.reset()

    def attach_native(self, native: NativePorts) -> None:
        """Keep the registers the machine's native port path answers from (index, RAM, time
        base, IRQ level) in its cell: one copy, which this device still alone gives meaning to.
        Reads of time registers, A and C are answered there exactly as `io_read` would."""
        old = self._cell
        cell = native.cmos_cell(0x70, 0x71, _NATIVE_KINDS)
        for f in _CELL_FIELDS:
            setattr(cell, f, getattr(old, f))
        cell.cmos_ram[:] = bytes(old.cmos_ram)
        self._cell = cell

    # -- the registers, stored in the cell ------------------------------------------------
    @property
    def index(self) -> int:
        return self._cell.cmos_index

    @index.setter
    def index(self, value: int) -> None:
        self._cell.cmos_index = value

    @property
    def nmi_masked(self) -> bool:
        return bool(self._cell.cmos_nmi)

    @nmi_masked.setter
    def nmi_masked(self, value: bool) -> None:
        self._cell.cmos_nmi = 1 if value else 0

    @property
    def ram(self) -> bytearray | memoryview:
        """The 128 bytes (writable in place; assigning copies into the cell)."""
        return self._cell.cmos_ram

    @ram.setter
    def ram(self, value: bytes | bytearray) -> None:
        self._cell.cmos_ram[:] = bytes(value)

    @property
    def base_seconds(self) -> int:
        return self._cell.cmos_base_seconds

    @base_seconds.setter
    def base_seconds(self, value: int) -> None:
        self._cell.cmos_base_seconds = value

    @property
    def base_cycle(self) -> int:
        return self._cell.cmos_base_cycle

    @base_cycle.setter
    def base_cycle(self, value: int) -> None:
        self._cell.cmos_base_cycle = value

    @property
    def frozen(self) -> int | None:
        return self._cell.cmos_frozen if self._cell.cmos_frozen_valid else None

    @frozen.setter
    def frozen(self, value: int | None) -> None:
        self._cell.cmos_frozen_valid = 0 if value is None else 1
        self._cell.cmos_frozen = 0 if value is None else value

    @property
    def _irq_level(self) -> int:
        return self._cell.cmos_irq_level

    @_irq_level.setter
    def _irq_level(self, value: int) -> None:
        self._cell.cmos_irq_level = value

    # -- contract -------------------------------------------------------------------------
    def ports(self) -> Iterable[int]:
        return self.PORTS

    def reset(self) -> None:
        self.index = 0
        self.nmi_masked = False
        ram = bytearray(128)
        ram[REG_A] = 0x26
        ram[REG_B] = B_24H
        ram[REG_D] = 0x80
        # pc_cmos_init: base memory 640 KiB, extended memory (KiB above 1 MiB, max 65535),
        # memory above 16 MiB in 64 KiB units, FPU + PS/2 mouse in the equipment byte,
        # hard disk as first boot device.
        ram[0x15], ram[0x16] = 640 & 0xFF, 640 >> 8
        ext = min(self.memory_mb * 1024 - 1024, 65535) if self.memory_mb > 1 else 0
        ram[0x17] = ram[0x30] = ext & 0xFF
        ram[0x18] = ram[0x31] = ext >> 8
        above16 = min(max(self.memory_mb - 16, 0) * 16, 65535)
        ram[0x34], ram[0x35] = above16 & 0xFF, above16 >> 8
        ram[0x14] = 0x06
        ram[0x3D] = 0x02
        self.ram = ram
        #: seconds since 1970 at `base_cycle`; `frozen` holds the time while SET is on
        self.base_seconds = self._start_seconds
        self.base_cycle = self.clock.now()
        self.frozen: int | None = None
        self._irq_level = 0
        self.irq.lower_irq(self.irq_line)
        self._reschedule()

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            return split_read(lambda p: self.io_read(p, 1), self.PORTS, port, size)
        if port == 0x70:
            return 0xFF  # the index register is write-only (QEMU returns 0xff)
        idx = self.index
        if idx in _TIME_REGS:
            return self._read_time(idx)
        if idx == REG_A:
            return (self.ram[REG_A] & 0x7F) | (A_UIP if self._uip() else 0)
        if idx == REG_C:
            val = self.ram[REG_C]
            self.ram[REG_C] = 0
            self._set_irq(0)
            return val
        return self.ram[idx]

    def io_write(self, port: int, size: int, value: int) -> None:
        if size != 1:
            split_write(lambda p, v: self.io_write(p, 1, v), self.PORTS, port, size, value)
            return
        value &= 0xFF
        if port == 0x70:
            self.index = value & 0x7F
            self.nmi_masked = bool(value & 0x80)
            return
        idx = self.index
        if idx in _TIME_REGS:
            self._write_time(idx, value)
        elif idx == REG_A:
            self.ram[REG_A] = value & 0x7F
            self._reschedule()
        elif idx == REG_B:
            self._write_b(value)
        elif idx in (REG_C, REG_D):
            pass  # read-only
        else:
            self.ram[idx] = value

    # -- time -----------------------------------------------------------------------------
    def seconds(self) -> int:
        """Current RTC time as seconds since 1970 (UTC)."""
        if self.frozen is not None:
            return self.frozen
        return self.base_seconds + (self.clock.now() - self.base_cycle) // CPU_HZ

    def _running(self) -> bool:
        return self.frozen is None and (self.ram[REG_A] & 0x70) == 0x20

    def _uip(self) -> bool:
        if not self._running():
            return False
        phase = (self.clock.now() - self.base_cycle) % CPU_HZ
        return phase >= CPU_HZ - UIP_CYCLES

    def _enc(self, v: int) -> int:
        return v if self.ram[REG_B] & B_DM else _to_bcd(v)

    def _dec(self, v: int) -> int:
        return v if self.ram[REG_B] & B_DM else _from_bcd(v)

    def _read_time(self, idx: int) -> int:
        t = _dt.datetime.fromtimestamp(self.seconds(), tz=_dt.timezone.utc)
        if idx == 0x00:
            return self._enc(t.second)
        if idx == 0x02:
            return self._enc(t.minute)
        if idx == 0x04:
            if self.ram[REG_B] & B_24H:
                return self._enc(t.hour)
            h12 = t.hour % 12 or 12
            return self._enc(h12) | (0x80 if t.hour >= 12 else 0)
        if idx == 0x06:
            return self._enc((t.weekday() + 1) % 7 + 1)  # 1 = Sunday
        if idx == 0x07:
            return self._enc(t.day)
        if idx == 0x08:
            return self._enc(t.month)
        if idx == 0x09:
            return self._enc(t.year % 100)
        return self._enc(t.year // 100)

    def _write_time(self, idx: int, value: int) -> None:
        """Replace one field of the current time (the chip has no validation either; the
        result is normalised like QEMU's mktimegm)."""
        t = _dt.datetime.fromtimestamp(self.seconds(), tz=_dt.timezone.utc)
        f = [t.year, t.month, t.day, t.hour, t.minute, t.second]
        if idx == 0x00:
            f[5] = self._dec(value & 0x7F) % 60
        elif idx == 0x02:
            f[4] = self._dec(value & 0x7F) % 60
        elif idx == 0x04:
            if self.ram[REG_B] & B_24H:
                f[3] = self._dec(value & 0x7F) % 24
            else:
                f[3] = self._dec(value & 0x7F) % 12 + (12 if value & 0x80 else 0)
        elif idx == 0x06:
            return  # day of week is derived from the date
        elif idx == 0x07:
            f[2] = max(1, self._dec(value))
        elif idx == 0x08:
            f[1] = min(max(1, self._dec(value)), 12)
        elif idx == 0x09:
            f[0] = (t.year // 100) * 100 + self._dec(value) % 100
        else:
            f[0] = self._dec(value) * 100 + t.year % 100
        secs = calendar.timegm((f[0], f[1], 1, f[3], f[4], f[5], 0, 0, 0)) + (f[2] - 1) * 86400
        if self.frozen is not None:
            self.frozen = secs
        else:
            self.base_seconds = secs
            self.base_cycle = self.clock.now()
            self._reschedule()

    def _write_b(self, value: int) -> None:
        if value & B_SET:
            if self.frozen is None:
                self.frozen = self.seconds()
            value &= ~B_UIE  # QEMU: SET clears UIE
        elif self.frozen is not None:
            self.base_seconds = self.frozen
            self.base_cycle = self.clock.now()
            self.frozen = None
        self.ram[REG_B] = value
        self._reschedule()

    # -- interrupts -----------------------------------------------------------------------
    def _set_irq(self, level: int) -> None:
        if level != self._irq_level:
            self._irq_level = level
            (self.irq.raise_irq if level else self.irq.lower_irq)(self.irq_line)

    def _flag(self, bits: int, enable: int) -> None:
        self.ram[REG_C] |= bits
        if self.ram[REG_B] & enable:
            self.ram[REG_C] |= C_IRQF
            self._set_irq(1)  # stays high until register C is read, as on the chip

    def _period_cycles(self) -> int | None:
        rate = self.ram[REG_A] & 0x0F
        if rate == 0 or (self.ram[REG_A] & 0x60) == 0x60:
            return None
        if rate <= 2:
            rate += 7
        ticks = 1 << (rate - 1)  # of the 32768 Hz time base
        return ticks * CPU_HZ // 32768

    def _reschedule(self) -> None:
        Clock.cancel(self._periodic_event)
        Clock.cancel(self._second_event)
        self._periodic_event = self._second_event = None
        now = self.clock.now()
        b = self.ram[REG_B]
        period = self._period_cycles()
        if b & B_PIE and period:
            self._periodic_event = self.clock.schedule(now + period, self._on_periodic,
                                                       "cmos.periodic")
        if b & (B_UIE | B_AIE) and self._running():
            elapsed = now - self.base_cycle
            due = self.base_cycle + (elapsed // CPU_HZ + 1) * CPU_HZ
            self._second_event = self.clock.schedule(due, self._on_second, "cmos.update")

    def _on_periodic(self, cycle: int) -> None:
        period = self._period_cycles()
        self._periodic_event = None
        self._flag(C_PF, B_PIE)
        if period and self.ram[REG_B] & B_PIE:
            self._periodic_event = self.clock.schedule(cycle + period, self._on_periodic,
                                                       "cmos.periodic")

    def _alarm_matches(self) -> bool:
        for alarm, reg in ((0x01, 0x00), (0x03, 0x02), (0x05, 0x04)):
            a = self.ram[alarm]
            if (a & 0xC0) == 0xC0:
                continue  # don't care
            if a != self._read_time(reg):
                return False
        return True

    def _on_second(self, cycle: int) -> None:
        self._second_event = None
        b = self.ram[REG_B]
        if b & B_UIE:
            self._flag(C_UF, B_UIE)
        if b & B_AIE and self._alarm_matches():
            self._flag(C_AF, B_AIE)
        if self.ram[REG_B] & (B_UIE | B_AIE) and self._running():
            self._second_event = self.clock.schedule(cycle + CPU_HZ, self._on_second,
                                                     "cmos.update")

    # -- snapshots -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"index": self.index, "nmi_masked": self.nmi_masked, "ram": bytes(self.ram),
                "base_seconds": self.base_seconds, "base_cycle": self.base_cycle,
                "frozen": self.frozen, "irq_level": self._irq_level,
                "periodic_event": None if self._periodic_event is None
                else self._periodic_event.cycle,
                "second_event": None if self._second_event is None else self._second_event.cycle}

    def load_state(self, state: dict[str, Any]) -> None:
        self.index = int(state["index"])
        self.nmi_masked = bool(state["nmi_masked"])
        self.ram = bytearray(state["ram"])
        self.base_seconds = int(state["base_seconds"])
        self.base_cycle = int(state["base_cycle"])
        self.frozen = state["frozen"]
        self._irq_level = int(state["irq_level"])
        Clock.cancel(self._periodic_event)
        Clock.cancel(self._second_event)
        self._periodic_event = self._second_event = None
        if state["periodic_event"] is not None:
            self._periodic_event = self.clock.schedule(int(state["periodic_event"]),
                                                       self._on_periodic, "cmos.periodic")
        if state["second_event"] is not None:
            self._second_event = self.clock.schedule(int(state["second_event"]),
                                                     self._on_second, "cmos.update")
