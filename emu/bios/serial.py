"""INT 14h serial port services, through the 16550A on the bus (SeaBIOS src/serial.c).

Ports come from the BDA (0x400 + 2*DX); a missing port or DX > 3 gives CF=1.  Sending waits
for THR and the transmitter to be empty, receiving for a byte, each at most the BDA timeout
(0x47C + DX, in timer ticks) -- as emulated time, so the wait lets device events (paced UART
input, PIT ticks) happen and is identical every run.
"""
from __future__ import annotations

from ...devices.base.clock import pit_ticks_to_cycles
from . import cost
from .frame import BiosCpu, rd8, rd16, set_cf

LSR, MSR, LCR, DLL, DLH = 5, 6, 3, 0, 1
TICK_PIT = 65536          # PIT input clocks per BIOS timer tick


class SerialServices:
    def __init__(self, bus, clock) -> None:
        self.bus = bus
        self.clock = clock
        self._deadline: int | None = None

    def _port(self, cpu: BiosCpu) -> int | None:
        dx = cpu.get("dx")
        addr = rd16(cpu, 0x400 + 2 * dx) if dx < 4 else 0
        if not addr:
            set_cf(cpu, True)
            return None
        return addr

    def int14(self, cpu: BiosCpu) -> int | None:
        ah = cpu.get("ah")
        if ah > 3:
            set_cf(cpu, True)
            return cost.SERVICE
        base = self._port(cpu)
        if base is None:
            return cost.SERVICE
        io_r, io_w = self.bus.io_read, self.bus.io_write
        if ah == 0x00:
            al = cpu.get("al")
            io_w(base + LCR, 1, io_r(base + LCR, 1) | 0x80)
            divisor = 0x0417 if al & 0xE0 == 0 else 0x600 >> ((al & 0xE0) >> 5)
            io_w(base + DLL, 1, divisor & 0xFF)
            io_w(base + DLH, 1, divisor >> 8)
            io_w(base + LCR, 1, al & 0x1F)
            cpu.set("ah", io_r(base + LSR, 1))
            cpu.set("al", io_r(base + MSR, 1))
        elif ah == 0x03:
            cpu.set("ah", io_r(base + LSR, 1))
            cpu.set("al", io_r(base + MSR, 1))
        else:
            return self._transfer(cpu, base, ah)
        set_cf(cpu, False)
        return cost.SERVICE

    def _transfer(self, cpu: BiosCpu, base: int, ah: int) -> int | None:
        """AH=01h send AL / AH=02h receive into AL, waiting up to the port's timeout."""
        now = self.clock.now()
        if self._deadline is None:
            ticks = rd8(cpu, 0x47C + cpu.get("dx"))
            self._deadline = now + pit_ticks_to_cycles(ticks * TICK_PIT)
        lsr = self.bus.io_read(base + LSR, 1)
        ready = (lsr & 0x60) == 0x60 if ah == 0x01 else bool(lsr & 0x01)
        if not ready:
            nxt = self.clock.next_deadline()
            if now < self._deadline and nxt is not None and nxt <= self._deadline:
                return None                     # let time pass to the next device event
            spent = max(0, self._deadline - now)
            self._deadline = None
            cpu.set("ah", lsr | 0x80)           # timed out
            set_cf(cpu, False)
            return cost.SERVICE + spent
        self._deadline = None
        if ah == 0x01:
            self.bus.io_write(base, 1, cpu.get("al"))
        else:
            cpu.set("al", self.bus.io_read(base, 1))
        cpu.set("ah", lsr)
        set_cf(cpu, False)
        return cost.SERVICE
