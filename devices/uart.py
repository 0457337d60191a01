"""National Semiconductor 16550A UART (COM1 at 0x3F8, IRQ4 by default).

Reference: QEMU hw/char/serial.c.  Every register is modelled with its semantics: RBR/THR and
the divisor latch (DLAB), IER, IIR with QEMU's priority order (line status > character timeout >
RX data at trigger level > THR empty > modem status) and the FIFO-enabled bits 7:6, FCR (enable,
RX/TX reset, trigger levels 1/4/8/14), LCR, MCR with loopback (TX looped into RX, modem outputs
looped onto the MSR inputs), LSR (DR, OE, THRE, TEMT; BI/OE cleared by reading), MSR (DCD, DSR,
CTS asserted as with QEMU's chardev; deltas cleared by reading) and SCR.

Like QEMU, transmission is instantaneous: a THR write goes straight to `on_tx` and THRE/TEMT
are set again at once (so polling guests never wait), the THR-empty interrupt is raised
immediately when enabled, and the IRQ is not gated by MCR.OUT2 (QEMU does not gate it either).

Host input is paced (docs/architecture.md "Input pacing"): bytes given to `feed()` wait in a
host queue; the next one enters the receiver one character time after the guest read the
previous one (the first one at once).  A character time is the frame length from LCR (start +
data + parity + stop bits: 10 for 8N1) at 115200/divisor baud, in cycles of the clock.  With
the FIFO enabled and a trigger level above 1, the byte is announced by the character-timeout
interrupt, 4 character times after it arrived, as on the chip.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .base.clock import CPU_HZ, Clock
from .base.native import NO_NATIVE, NativePorts
from .bus import IrqSink, split_read, split_write

# Register bits (names as in the 16550A datasheet / Linux serial_reg.h)
IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08
IIR_NO_INT, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_CTI, IIR_FE = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C, 0xC0
LSR_DR, LSR_OE, LSR_PE, LSR_FE, LSR_BI, LSR_THRE, LSR_TEMT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
LSR_INT_ANY = 0x1E
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
MSR_DCTS, MSR_DDSR, MSR_TERI, MSR_DDCD, MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80)
MSR_ANY_DELTA = 0x0F
FCR_FE, FCR_RFR, FCR_XFR = 0x01, 0x02, 0x04
LCR_DLAB = 0x80

FIFO_LENGTH = 16
BAUD_BASE = 115200
_TRIGGER = {0x00: 1, 0x40: 4, 0x80: 8, 0xC0: 14}


class Uart16550:
    """One 16550A.  `on_tx(byte)` receives every transmitted byte (not in loopback mode)."""

    name = "uart"
    wide_io = False

    def __init__(self, *, clock: Clock, irq: IrqSink, base: int = 0x3F8, irq_line: int = 4,
                 on_tx: Callable[[int], None] | None = None) -> None:
        self.clock = clock
        self.irq = irq
        self.base = base
        self.irq_line = irq_line
        self.on_tx = on_tx
        self._owned = frozenset(range(base, base + 8))
        self._host = bytearray()
        self._rx_event = None
        self._timeout_event = None
        self._irq_level = 0
        self._native: NativePorts = NO_NATIVE
        self._published: tuple[int, ...] | None = None
        self.reset()

    def attach_native(self, native: NativePorts) -> None:
        """Publish, after every change, the registers the machine's native port path may answer
        without calling this device (see `native_reads`)."""
        self._native = native
        self._published = None
        self._publish()

    def native_reads(self) -> list[int | None]:
        """What a one-byte IN of each register reads, where reading it changes nothing (the
        same value `io_read` returns, with none of its side effects to perform); None where
        only `io_read` can answer: RBR (takes a byte), LSR with BI/OE set, IIR announcing THR
        empty, MSR with a delta bit (each cleared by the read)."""
        dlab = self.lcr & LCR_DLAB
        iir = self.iir
        if self.mcr & MCR_LOOP:
            m = self.mcr
            msr: int | None = ((m & 0x0C) << 4) | ((m & 0x02) << 3) | ((m & 0x01) << 5)
        else:
            msr = None if self.msr & MSR_ANY_DELTA else self.msr
        return [self.divider & 0xFF if dlab else None,
                (self.divider >> 8) & 0xFF if dlab else self.ier,
                None if (iir & 0x0F) == IIR_THRI else iir,
                self.lcr,
                self.mcr,
                None if self.lsr & (LSR_BI | LSR_OE) else self.lsr,
                msr,
                self.scr]

    def _publish(self) -> None:
        # native_reads() depends on these registers only: most accesses change none of them
        # (a THR write without THRI), and then there is nothing to publish
        key = (self.lcr, self.ier, self.iir, self.mcr, self.lsr, self.msr, self.scr, self.divider)
        if key != self._published:
            self._published = key
            self._native.publish_reads(self.base, self.native_reads())

    # -- contract -------------------------------------------------------------------------
    def ports(self) -> Iterable[int]:
        return range(self.base, self.base + 8)

    def reset(self) -> None:
        """QEMU serial_reset; the host input queue survives (it is the outside world's)."""
        self.rbr = 0
        self.thr = 0
        self.ier = 0
        self.iir = IIR_NO_INT
        self.lcr = 0
        self.mcr = MCR_OUT2
        self.lsr = LSR_TEMT | LSR_THRE
        self.msr = MSR_DCD | MSR_DSR | MSR_CTS
        self.scr = 0
        self.fcr = 0
        self.divider = 0x0C
        self.rx_fifo = bytearray()
        self.rx_itl = 1
        self.thr_ipending = 0
        self.timeout_ipending = 0
        self.char_cycles = self._frame_cycles()
        #: cycle the guest last took a host byte (None: never), and whether one is unread
        self._last_take: int | None = None
        self._host_unread = False
        Clock.cancel(self._rx_event)
        Clock.cancel(self._timeout_event)
        self._rx_event = None
        self._timeout_event = None
        self._irq_level = 1
        self._update_irq()
        self._kick()
        self._publish()

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            return split_read(lambda p: self.io_read(p, 1), self._owned, port, size)
        value = self._read(port - self.base)
        self._publish()
        return value

    def _read(self, reg: int) -> int:
        if reg == 5:  # LSR first: polling loops read it most
            ret = self.lsr
            if ret & (LSR_BI | LSR_OE):
                self.lsr &= ~(LSR_BI | LSR_OE)
                self._update_irq()
            return ret
        if reg == 0:
            if self.lcr & LCR_DLAB:
                return self.divider & 0xFF
            return self._read_rbr()
        if reg == 1:
            return (self.divider >> 8) & 0xFF if self.lcr & LCR_DLAB else self.ier
        if reg == 2:
            ret = self.iir
            if (ret & 0x0F) == IIR_THRI:
                self.thr_ipending = 0
                self._update_irq()
            return ret
        if reg == 3:
            return self.lcr
        if reg == 4:
            return self.mcr
        if reg == 6:
            if self.mcr & MCR_LOOP:
                # loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
                m = self.mcr
                return ((m & 0x0C) << 4) | ((m & 0x02) << 3) | ((m & 0x01) << 5)
            ret = self.msr
            if self.msr & MSR_ANY_DELTA:
                self.msr &= 0xF0
                self._update_irq()
            return ret
        return self.scr

    def io_write(self, port: int, size: int, value: int) -> None:
        if size != 1:
            split_write(lambda p, v: self.io_write(p, 1, v), self._owned, port, size, value)
            return
        self._write(port - self.base, value & 0xFF)
        self._publish()

    def _write(self, reg: int, value: int) -> None:
        if reg == 0:
            if self.lcr & LCR_DLAB:
                self.divider = (self.divider & 0xFF00) | value
                self._update_params()
            else:
                self._write_thr(value)
        elif reg == 1:
            if self.lcr & LCR_DLAB:
                self.divider = (self.divider & 0x00FF) | (value << 8)
                self._update_params()
            else:
                changed = (self.ier ^ value) & 0x0F
                self.ier = value & 0x0F
                # Enabling THRI with THR empty raises it even if it was acknowledged before
                # (QEMU, Bochs; Windows relies on it).
                if changed & IER_THRI:
                    self.thr_ipending = 1 if (self.ier & IER_THRI and self.lsr & LSR_THRE) else 0
                if changed:
                    self._update_irq()
        elif reg == 2:
            self._write_fcr(value)
        elif reg == 3:
            self.lcr = value
            self._update_params()
        elif reg == 4:
            self.mcr = value & 0x1F
        elif reg == 7:
            self.scr = value
        # LSR and MSR writes are factory-test registers: ignored, as in QEMU.

    # -- registers ------------------------------------------------------------------------
    def _read_rbr(self) -> int:
        if self.fcr & FCR_FE:
            fifo = self.rx_fifo
            if fifo:
                ret = fifo.pop(0)
                self._took_byte()
            else:
                ret = 0
            if not fifo:
                self.lsr &= ~(LSR_DR | LSR_BI)
                Clock.cancel(self._timeout_event)
                self._timeout_event = None
            else:
                self._arm_timeout()
            self.timeout_ipending = 0
        else:
            ret = self.rbr
            if self.lsr & LSR_DR:
                self._took_byte()
            self.lsr &= ~(LSR_DR | LSR_BI)
        self._update_irq()
        return ret

    def _write_thr(self, value: int) -> None:
        self.thr = value
        # The shift register takes the byte at once and the line is infinitely fast (QEMU):
        # THRE drops and rises again within this write.  Only the THR-empty interrupt sees
        # that (its line pulses low then high: a new edge), so skip the work without it.
        if self.ier & IER_THRI:
            self.thr_ipending = 0
            self.lsr &= ~(LSR_THRE | LSR_TEMT)
            self._update_irq()
            self.lsr |= LSR_THRE | LSR_TEMT
            self.thr_ipending = 1
            self._update_irq()
        else:
            self.thr_ipending = 1
        if self.mcr & MCR_LOOP:
            self._receive(value)
        elif self.on_tx is not None:
            self.on_tx(value)

    def _write_fcr(self, val: int) -> None:
        if (val ^ self.fcr) & FCR_FE:
            val |= FCR_XFR | FCR_RFR  # toggling the enable flushes both FIFOs
        if val & FCR_RFR:
            self.lsr &= ~(LSR_DR | LSR_BI)
            Clock.cancel(self._timeout_event)
            self._timeout_event = None
            self.timeout_ipending = 0
            if self.rx_fifo:
                self.rx_fifo.clear()
                if self._host_unread:  # a flushed host byte counts as taken
                    self._took_byte()
        if val & FCR_XFR:
            self.lsr |= LSR_THRE
            self.thr_ipending = 1
        self.fcr = val & 0xC9
        if val & FCR_FE:
            self.iir |= IIR_FE
            self.rx_itl = _TRIGGER[val & 0xC0]
        else:
            self.iir &= ~IIR_FE
        self._update_irq()

    def _frame_cycles(self) -> int:
        """Cycles for one character on the line: (start + data + parity + stop) bits."""
        lcr = self.lcr
        bits = 1 + (lcr & 3) + 5 + (1 if lcr & 0x08 else 0) + (2 if lcr & 0x04 else 1)
        divider = self.divider
        return bits * divider * CPU_HZ // BAUD_BASE

    def _update_params(self) -> None:
        if self.divider == 0:
            return  # QEMU keeps the previous speed for a zero divisor
        self.char_cycles = self._frame_cycles()

    def _update_irq(self) -> None:
        """QEMU serial_update_irq: pick the highest-priority pending source."""
        ier, lsr = self.ier, self.lsr
        if ier & IER_RLSI and lsr & LSR_INT_ANY:
            tmp = IIR_RLSI
        elif ier & IER_RDI and self.timeout_ipending:
            tmp = IIR_CTI
        elif (ier & IER_RDI and lsr & LSR_DR
              and (not (self.fcr & FCR_FE) or len(self.rx_fifo) >= self.rx_itl)):
            tmp = IIR_RDI
        elif ier & IER_THRI and self.thr_ipending:
            tmp = IIR_THRI
        elif ier & IER_MSI and self.msr & MSR_ANY_DELTA:
            tmp = IIR_MSI
        else:
            tmp = IIR_NO_INT
        self.iir = tmp | (self.iir & 0xF0)
        level = 0 if tmp == IIR_NO_INT else 1
        if level != self._irq_level:
            self._irq_level = level
            if level:
                self.irq.raise_irq(self.irq_line)
            else:
                self.irq.lower_irq(self.irq_line)

    # -- receive path ---------------------------------------------------------------------
    def _receive(self, byte: int) -> None:
        """A character arrives from the line (QEMU serial_receive1)."""
        if self.fcr & FCR_FE:
            if len(self.rx_fifo) < FIFO_LENGTH:
                self.rx_fifo.append(byte)
            else:
                self.lsr |= LSR_OE  # overruns do not overwrite the FIFO
            self.lsr |= LSR_DR
            self._arm_timeout()
        else:
            if self.lsr & LSR_DR:
                self.lsr |= LSR_OE
            self.rbr = byte
            self.lsr |= LSR_DR
        self._update_irq()

    def _arm_timeout(self) -> None:
        Clock.cancel(self._timeout_event)
        self._timeout_event = self.clock.schedule(self.clock.now() + 4 * self.char_cycles,
                                                  self._on_timeout, "uart.timeout")

    def _on_timeout(self, cycle: int) -> None:
        self._timeout_event = None
        if self.rx_fifo:
            self.timeout_ipending = 1
            self._update_irq()
            self._publish()

    def _took_byte(self) -> None:
        if self._host_unread:
            self._host_unread = False
            self._last_take = self.clock.now()
            self._kick()

    def _kick(self) -> None:
        """Schedule the next host byte if one waits and none is in flight."""
        if not self._host or self._host_unread or self._rx_event is not None:
            return
        now = self.clock.now()
        due = now if self._last_take is None else max(now, self._last_take + self.char_cycles)
        if due <= now:
            self._deliver(now)
        else:
            self._rx_event = self.clock.schedule(due, self._deliver_event, "uart.rx")

    def _deliver_event(self, cycle: int) -> None:
        self._rx_event = None
        self._deliver(cycle)
        self._publish()

    def _deliver(self, cycle: int) -> None:
        if not self._host or self._host_unread:
            return
        byte = self._host.pop(0)
        self._host_unread = True
        self._receive(byte)

    # -- host side -----------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Queue host bytes for the guest (paced: see the module docstring).  Emulator thread
        only, like every device method: other threads go through the machine's input door."""
        if data:
            self._host += bytes(data)
            self._kick()
            self._publish()

    def rx_pending(self) -> bool:
        """Host bytes not yet taken by the guest (queued or unread)."""
        return bool(self._host) or self._host_unread

    # -- snapshots -----------------------------------------------------------------------
    _FIELDS = ("rbr", "thr", "ier", "iir", "lcr", "mcr", "lsr", "msr", "scr", "fcr", "divider",
               "rx_itl", "thr_ipending", "timeout_ipending", "char_cycles", "_irq_level")

    def state(self) -> dict[str, Any]:
        """Read-only (any thread may look)."""
        d: dict[str, Any] = {f: int(getattr(self, f)) for f in self._FIELDS}
        d["rx_fifo"] = bytes(self.rx_fifo)
        d["host"] = bytes(self._host)
        d["host_unread"] = self._host_unread
        d["last_take"] = self._last_take
        d["rx_event"] = None if self._rx_event is None else self._rx_event.cycle
        d["timeout_event"] = None if self._timeout_event is None else self._timeout_event.cycle
        return d

    def load_state(self, state: dict[str, Any]) -> None:
        for f in self._FIELDS:
            setattr(self, f, int(state[f]))
        self.rx_fifo = bytearray(state["rx_fifo"])
        self._host = bytearray(state["host"])
        self._host_unread = bool(state["host_unread"])
        self._last_take = state["last_take"]
        Clock.cancel(self._rx_event)
        Clock.cancel(self._timeout_event)
        self._rx_event = self._timeout_event = None
        if state["rx_event"] is not None:
            self._rx_event = self.clock.schedule(int(state["rx_event"]), self._deliver_event,
                                                 "uart.rx")
        if state["timeout_event"] is not None:
            self._timeout_event = self.clock.schedule(int(state["timeout_event"]),
                                                      self._on_timeout, "uart.timeout")
        self._publish()
