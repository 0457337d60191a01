"""Intel 8254 programmable interval timer (ports 0x40-0x43) and system control port B (0x61).

Reference: QEMU hw/timer/i8254.c + i8254_common.c (counter arithmetic, control word, latch,
read-back, gate) and hw/audio/pcspk.c (port 0x61).  Time is the deterministic cycle clock:
each channel remembers the cycle its count was loaded and computes its counter and output from
`clock.now()` on demand, so reading the counter mid-count costs one multiplication.  Only the
output *edges* of channel 0 are events on the clock (they drive IRQ0), scheduled exactly as
QEMU's `pit_get_next_transition_time` does, in PIT input ticks converted to cycles.

Modes 0-5 are modelled (6 and 7 alias 2 and 3 as on the chip).  Deliberate choices:
- mode 2 output follows the datasheet (high, low for the last tick of each period); QEMU
  reports it inverted (a one-tick high pulse).  Both give a rising edge at every period end, so
  IRQ0 timing is identical.  QEMU 7.2's `pit_get_out` also shows modes 1 (d < count) and
  4/5 (high only at d == count) inverted; ours follow the datasheet (low during the one-shot,
  a one-tick low strobe), as QEMU's later fix of mode 1 does.  Port 0x61 bit 4: QEMU flips it
  at every read; ours toggles with the refresh period.
- like QEMU: the gate only restarts counting on a rising edge in modes 1/2/3/5 and does not
  pause modes 0/4; writing a control word changes the mode without restarting the count;
  BCD counting is recorded (status bit 0) but counts are binary; read-back null-count is 0.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .base.clock import CPU_HZ, PIT_HZ, Clock
from .base.native import NO_NATIVE, NativePorts
from .bus import IrqSink, split_read, split_write

RW_LSB, RW_MSB, RW_WORD0, RW_WORD1 = 1, 2, 3, 4

#: DRAM refresh request period: channel 1 is programmed for 18 input ticks (15.08 us) on PCs;
#: port 0x61 bit 4 toggles at each request.
REFRESH_TICKS = 18


def _ticks_to_cycle_ceil(ticks: int) -> int:
    """Smallest cycle offset at which `ticks` PIT ticks have elapsed."""
    return -((-ticks * CPU_HZ) // PIT_HZ)


class _Channel:
    __slots__ = ("count", "load_cycle", "mode", "raw_mode", "bcd", "gate", "rw_mode",
                 "read_state", "write_state", "write_latch", "latched_count", "count_latched",
                 "status", "status_latched", "loaded")

    _FIELDS = __slots__

    def __init__(self, gate: int) -> None:
        self.gate = gate
        self.count = 0x10000
        self.load_cycle = 0
        self.mode = 3
        self.raw_mode = 3
        self.bcd = 0
        self.rw_mode = RW_WORD0
        self.read_state = RW_WORD0
        self.write_state = RW_WORD0
        self.write_latch = 0
        self.latched_count = 0
        self.count_latched = 0
        self.status = 0
        self.status_latched = 0
        self.loaded = 1

    def ticks(self, now: int) -> int:
        return (now - self.load_cycle) * PIT_HZ // CPU_HZ

    def counter(self, now: int) -> int:
        """Current count value as the chip would show it (QEMU pit_get_count)."""
        d = self.ticks(now)
        mode, count = self.mode, self.count
        if mode in (0, 1, 4, 5):
            return (count - d) & 0xFFFF
        if mode == 3:
            return (count - ((2 * d) % count)) & 0xFFFF
        return (count - (d % count)) & 0xFFFF

    def out(self, now: int) -> int:
        d = self.ticks(now)
        mode, count = self.mode, self.count
        if mode == 0:
            return 1 if d >= count else 0
        if mode == 1:
            return 1 if d >= count else 0
        if count < 2:
            return 1  # modes 2/3 with a count of 1 are illegal on the chip: output stays high
        if mode == 2:
            return 0 if (d % count) == count - 1 else 1
        if mode == 3:
            return 1 if (d % count) < ((count + 1) >> 1) else 0
        # modes 4 and 5: a one-tick low strobe when the count expires
        return 0 if d == count else 1

    def next_transition_tick(self, now: int) -> int | None:
        """Tick (relative to load) of the next output change after `now`, or None."""
        d = self.ticks(now)
        mode, count = self.mode, self.count
        if mode in (0, 1):
            return count if d < count else None
        if mode in (2, 3) and count < 2:
            return None
        if mode == 2:
            base = d - d % count
            low_at = base + count - 1
            if d < low_at:
                return low_at
            return base + count if d == low_at else base + 2 * count - 1
        if mode == 3:
            base = d - d % count
            half = (count + 1) >> 1
            return base + half if d - base < half else base + count
        # 4, 5
        if d < count:
            return count
        return count + 1 if d == count else None


class Pit:
    """8254 channels 0-2; channel 0 drives IRQ0, channel 2 the speaker via port 0x61."""

    name = "pit"
    wide_io = False
    PORTS = (0x40, 0x41, 0x42, 0x43, 0x61)

    def __init__(self, *, clock: Clock, irq: IrqSink, irq_line: int = 0,
                 on_speaker: Callable[[bool, int], None] | None = None) -> None:
        self.clock = clock
        self.irq = irq
        self.irq_line = irq_line
        #: Optional observer: (speaker enabled, channel-2 count) when port 0x61/ch2 change.
        self.on_speaker = on_speaker
        self._owned = frozenset(self.PORTS)
        self._event = None
        self._irq_level = 0
        self.channels: list[_Channel] = []
        self.speaker_data = 0
        self._cell = self._new_cell(NO_NATIVE)
        self._tick: Any = None      # the native idle tick's struct (attach_tick), or None
        self.reset()

    # -- native port path (emu/fastports.py) ------------------------------------------------
    @staticmethod
    def _new_cell(native: NativePorts) -> Any:
        cell = native.port61_cell(0x61)
        cell.p61_cpu_hz, cell.p61_pit_hz, cell.p61_refresh = CPU_HZ, PIT_HZ, REFRESH_TICKS
        return cell

    def attach_native(self, native: NativePorts) -> None:
        """Publish, after every change to channel 2 or port B, what a read of port 0x61 depends
        on; the machine's native path then answers it as `_read_port61` does, at the IN's exact
        cycle.  Reading 0x61 has no side effect, so every read can be answered there."""
        self._cell = self._new_cell(native)
        self._publish61()

    def _publish61(self) -> None:
        ch2, cell = self.channels[2], self._cell
        cell.p61_low = ch2.gate | (self.speaker_data << 1)
        cell.p61_mode = ch2.mode
        cell.p61_count = ch2.count
        cell.p61_load_cycle = ch2.load_cycle
        cell.p61_valid = 1 if 0 <= ch2.mode <= 5 and 0 < ch2.count <= 0x10000 else 0

    # -- native idle tick (emu/fastpic.py) ------------------------------------------------
    def attach_tick(self, cell: Any) -> None:
        """Publish channel 0 into `cell` after every change this model makes (mode, reload,
        start cycle, IRQ0 level, the cycle of the pending transition event): the machine's
        native idle tick then fires its periodic transitions as `_on_transition` does, and
        hands the result back with `native_advanced`."""
        cell.cpu_hz, cell.pit_hz = CPU_HZ, PIT_HZ
        self._tick = cell
        self._publish0()

    def _publish0(self) -> None:
        cell = self._tick
        if cell is None:
            return
        ch = self.channels[0]
        cell.pit_mode = ch.mode
        cell.pit_count = ch.count
        cell.pit_load_cycle = ch.load_cycle
        cell.pit_level = self._irq_level
        cell.pit_next = (1 << 64) - 1 if self._event is None else self._event.cycle
        cell.pit_valid = 1 if 0 <= ch.mode <= 5 and 0 < ch.count <= 0x10000 and ch.load_cycle >= 0 else 0

    def native_advanced(self, level: int, next_cycle: int | None) -> None:
        """The native tick fired channel 0's transitions up to now: IRQ0 was driven to `level`
        (the 8259 saw it there), the next transition is at `next_cycle`.  Re-schedule the
        clock event there, as the last `_on_transition` would have."""
        self._irq_level = level
        Clock.cancel(self._event)
        self._event = None
        if next_cycle is not None:
            self._event = self.clock.schedule(next_cycle, self._on_transition, "pit.irq0")
        self._publish0()

    # -- contract -------------------------------------------------------------------------
    def ports(self) -> Iterable[int]:
        return self.PORTS

    def reset(self) -> None:
        """QEMU pit_reset_common: every channel mode 3, count 0 (65536), gate high except ch2."""
        now = self.clock.now()
        self.channels = [_Channel(gate=1 if i != 2 else 0) for i in range(3)]
        for ch in self.channels:
            ch.load_cycle = now
        self.speaker_data = 0
        self._irq_level = 0
        self.irq.lower_irq(self.irq_line)
        self._reschedule(now)
        self._publish61()

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            return split_read(lambda p: self.io_read(p, 1), self._owned, port, size)
        if port == 0x61:
            return self._read_port61()
        if port == 0x43:
            return 0  # the control register is write-only (QEMU returns 0)
        ch = self.channels[port - 0x40]
        if ch.status_latched:
            ch.status_latched = 0
            return ch.status
        cl = ch.count_latched
        if cl:
            if cl == RW_MSB:
                ch.count_latched = 0
                return (ch.latched_count >> 8) & 0xFF
            if cl == RW_WORD0:
                ch.count_latched = RW_MSB
                return ch.latched_count & 0xFF
            ch.count_latched = 0
            return ch.latched_count & 0xFF
        rs = ch.read_state
        count = ch.counter(self.clock.now())
        if rs == RW_LSB:
            return count & 0xFF
        if rs == RW_MSB:
            return (count >> 8) & 0xFF
        if rs == RW_WORD0:
            ch.read_state = RW_WORD1
            return count & 0xFF
        ch.read_state = RW_WORD0
        return (count >> 8) & 0xFF

    def io_write(self, port: int, size: int, value: int) -> None:
        if size != 1:
            split_write(lambda p, v: self.io_write(p, 1, v), self._owned, port, size, value)
            return
        value &= 0xFF
        if port == 0x61:
            self._write_port61(value)
        elif port == 0x43:
            self._write_control(value)
        else:
            ch = self.channels[port - 0x40]
            ws = ch.write_state
            if ws == RW_LSB:
                self._load(port - 0x40, value)
            elif ws == RW_MSB:
                self._load(port - 0x40, value << 8)
            elif ws == RW_WORD0:
                ch.write_latch = value
                ch.write_state = RW_WORD1
            else:
                ch.write_state = RW_WORD0
                self._load(port - 0x40, ch.write_latch | (value << 8))
        if port >= 0x42:        # 0x42, 0x43, 0x61: what port B reads may have changed
            self._publish61()
        if port in (0x40, 0x43):
            self._publish0()

    # -- registers ------------------------------------------------------------------------
    def _write_control(self, val: int) -> None:
        sel = val >> 6
        now = self.clock.now()
        if sel == 3:  # read-back command
            for i in range(3):
                if not (val & (2 << i)):
                    continue
                ch = self.channels[i]
                if not (val & 0x20):
                    self._latch(ch, now)
                if not (val & 0x10) and not ch.status_latched:
                    ch.status = ((ch.out(now) << 7) | (ch.rw_mode << 4) | (ch.raw_mode << 1)
                                 | ch.bcd)
                    ch.status_latched = 1
            return
        ch = self.channels[sel]
        access = (val >> 4) & 3
        if access == 0:
            self._latch(ch, now)
            return
        ch.rw_mode = ch.read_state = ch.write_state = access
        ch.raw_mode = (val >> 1) & 7
        ch.mode = ch.raw_mode & 3 if ch.raw_mode >= 6 else ch.raw_mode
        ch.bcd = val & 1
        # Like QEMU ("XXX: update irq timer ?"), the count keeps running: the pending IRQ0
        # event fires as planned and re-evaluates the output under the new mode.

    @staticmethod
    def _latch(ch: _Channel, now: int) -> None:
        if not ch.count_latched:
            ch.latched_count = ch.counter(now)
            ch.count_latched = ch.rw_mode

    def _load(self, idx: int, val: int) -> None:
        ch = self.channels[idx]
        now = self.clock.now()
        ch.count = val if val else 0x10000
        ch.load_cycle = now
        if idx == 0:
            self._reschedule(now)
        elif idx == 2 and self.on_speaker is not None:
            self.on_speaker(bool(ch.gate and self.speaker_data), ch.count)

    def _read_port61(self) -> int:
        now = self.clock.now()
        ch2 = self.channels[2]
        refresh = ((now * PIT_HZ // CPU_HZ) // REFRESH_TICKS) & 1
        return (ch2.gate | (self.speaker_data << 1) | (refresh << 4) | (ch2.out(now) << 5))

    def _write_port61(self, val: int) -> None:
        self.speaker_data = (val >> 1) & 1
        self.set_gate(2, val & 1)
        if self.on_speaker is not None:
            ch2 = self.channels[2]
            self.on_speaker(bool(ch2.gate and self.speaker_data), ch2.count)

    def set_gate(self, idx: int, level: int) -> None:
        """GATE input (QEMU pit_set_gate): a rising edge restarts modes 1, 2, 3 and 5."""
        ch = self.channels[idx]
        level = 1 if level else 0
        if ch.mode in (1, 2, 3, 5) and ch.gate < level:
            now = self.clock.now()
            ch.load_cycle = now
            if idx == 0:
                self._reschedule(now)
        ch.gate = level
        if idx == 2:
            self._publish61()
        elif idx == 0:
            self._publish0()

    # -- IRQ0 ----------------------------------------------------------------------------
    def _set_irq(self, level: int) -> None:
        if level != self._irq_level:
            self._irq_level = level
            if level:
                self.irq.raise_irq(self.irq_line)
            else:
                self.irq.lower_irq(self.irq_line)

    def _reschedule(self, now: int) -> None:
        """Drive IRQ0 to channel 0's output now and schedule its next output change."""
        Clock.cancel(self._event)
        self._event = None
        ch = self.channels[0]
        self._set_irq(ch.out(now))
        tick = ch.next_transition_tick(now)
        if tick is not None:
            self._event = self.clock.schedule(ch.load_cycle + _ticks_to_cycle_ceil(tick),
                                              self._on_transition, "pit.irq0")
        self._publish0()

    def _on_transition(self, cycle: int) -> None:
        self._event = None
        self._reschedule(cycle)

    # -- introspection / snapshots -------------------------------------------------------
    def counter(self, idx: int) -> int:
        return self.channels[idx].counter(self.clock.now())

    def out(self, idx: int) -> int:
        return self.channels[idx].out(self.clock.now())

    def state(self) -> dict[str, Any]:
        return {"channels": [{f: int(getattr(ch, f)) for f in _Channel._FIELDS}
                             for ch in self.channels],
                "speaker_data": self.speaker_data, "irq_level": self._irq_level,
                "event": None if self._event is None else self._event.cycle}

    def load_state(self, state: dict[str, Any]) -> None:
        for ch, d in zip(self.channels, state["channels"]):
            for f in _Channel._FIELDS:
                setattr(ch, f, int(d[f]))
        self.speaker_data = int(state["speaker_data"])
        self._irq_level = int(state["irq_level"])
        Clock.cancel(self._event)
        self._event = None
        if state["event"] is not None:
            self._event = self.clock.schedule(int(state["event"]), self._on_transition,
                                              "pit.irq0")
        self._publish61()
        self._publish0()
