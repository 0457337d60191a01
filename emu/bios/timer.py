"""IRQ0 (INT 08h) tick handler, IRQ8 (INT 70h) RTC handler and INT 1Ah time services.

The tick count at BDA 0x46C advances once per PIT channel 0 interrupt (18.2 Hz as POST
programs it), wraps at 0x1800B0 ticks (24 h) and counts the wrap in BDA 0x470, as SeaBIOS.
Wall-clock time comes from the CMOS RTC through ports 70h/71h when a CMOS device is on the
bus; without one, INT 1Ah AH=02h/04h answer 00:00:00 on 2000-01-01 (deterministic).
"""
from __future__ import annotations

from . import cost
from .frame import BiosCpu, rd8, rd32, set_cf, wr8, wr32

BDA_TICKS = 0x46C
BDA_ROLLOVER = 0x470
TICKS_PER_DAY = 0x1800B0
#: SeaBIOS's PIT constants for converting time of day to ticks.
PIT_TICK_RATE = 1_193_180
PIT_TICK_INTERVAL = 65_536

CMOS_INDEX, CMOS_DATA = 0x70, 0x71
NMI_DISABLE = 0x80
RTC_SECONDS, RTC_MINUTES, RTC_HOURS = 0x00, 0x02, 0x04
RTC_DAY, RTC_MONTH, RTC_YEAR, RTC_CENTURY = 0x07, 0x08, 0x09, 0x32
RTC_A, RTC_B, RTC_C, RTC_D = 0x0A, 0x0B, 0x0C, 0x0D
RTC_B_DSE, RTC_B_24HR, RTC_B_SET = 0x01, 0x02, 0x80

#: (register -> value) an absent CMOS reads as: 00:00:00, Saturday 2000-01-01, BCD.
NO_CMOS = {RTC_SECONDS: 0, RTC_MINUTES: 0, RTC_HOURS: 0, RTC_DAY: 0x01, RTC_MONTH: 0x01,
           RTC_YEAR: 0x00, RTC_CENTURY: 0x20, RTC_B: RTC_B_24HR}


def bcd2bin(v: int) -> int:
    return (v >> 4) * 10 + (v & 0x0F)


class Rtc:
    """CMOS access through the bus (index with NMI disabled, as SeaBIOS rtc_read does)."""

    def __init__(self, bus) -> None:
        self.bus = bus

    @property
    def present(self) -> bool:
        return self.bus.device_at(CMOS_INDEX) is not None

    def read(self, reg: int) -> int:
        if not self.present:
            return NO_CMOS.get(reg, 0)
        self.bus.io_write(CMOS_INDEX, 1, reg | NMI_DISABLE)
        return self.bus.io_read(CMOS_DATA, 1)

    def write(self, reg: int, value: int) -> None:
        if self.present:
            self.bus.io_write(CMOS_INDEX, 1, reg | NMI_DISABLE)
            self.bus.io_write(CMOS_DATA, 1, value)

    def ticks_of_day(self) -> int:
        """SeaBIOS clock_setup: the BDA tick count for the RTC's time of day."""
        secs = bcd2bin(self.read(RTC_SECONDS))
        mins = bcd2bin(self.read(RTC_MINUTES))
        hours = bcd2bin(self.read(RTC_HOURS))
        ms = ((hours * 60 + mins) * 60 + secs) * 1000
        return (ms * PIT_TICK_RATE // (PIT_TICK_INTERVAL * 1000)) % TICKS_PER_DAY


class Timer:
    def __init__(self, bus, clock=None) -> None:
        self.bus = bus
        self.clock = clock
        self.rtc = Rtc(bus)

    def _rtc_updating(self) -> bool:
        """SeaBIOS rtc_updating: while the RTC's update-in-progress bit is set, wait (as
        emulated time: until the next device event) rather than read a torn time."""
        if not self.rtc.present or not self.rtc.read(RTC_A) & 0x80:
            return False
        return self.clock is not None and self.clock.next_deadline() is not None

    # -- IRQ0 -----------------------------------------------------------------------------
    @staticmethod
    def irq0(cpu: BiosCpu) -> int:
        """Count one tick (the caller then runs INT 1Ch and the EOI)."""
        ticks = rd32(cpu, BDA_TICKS) + 1
        if ticks >= TICKS_PER_DAY:
            ticks = 0
            wr8(cpu, BDA_ROLLOVER, rd8(cpu, BDA_ROLLOVER) + 1)
        wr32(cpu, BDA_TICKS, ticks)
        return cost.SERVICE

    # -- IRQ8 -----------------------------------------------------------------------------
    def irq8(self, cpu: BiosCpu) -> int:
        """Acknowledge the RTC (reading register C clears its interrupt) and EOI both PICs."""
        self.rtc.read(RTC_C)
        self.bus.io_write(0xA0, 1, 0x20)
        self.bus.io_write(0x20, 1, 0x20)
        return cost.SERVICE

    # -- INT 1Ah --------------------------------------------------------------------------
    def int1a(self, cpu: BiosCpu) -> int | None:
        ah = cpu.get("ah")
        rtc = self.rtc
        if 0x02 <= ah <= 0x05 and self._rtc_updating():
            return None
        if ah == 0x00:
            ticks = rd32(cpu, BDA_TICKS)
            cpu.set("cx", ticks >> 16)
            cpu.set("dx", ticks & 0xFFFF)
            cpu.set("al", rd8(cpu, BDA_ROLLOVER))
            wr8(cpu, BDA_ROLLOVER, 0)
            set_cf(cpu, False)
        elif ah == 0x01:
            wr32(cpu, BDA_TICKS, (cpu.get("cx") << 16) | cpu.get("dx"))
            wr8(cpu, BDA_ROLLOVER, 0)
            set_cf(cpu, False)
        elif ah == 0x02:
            cpu.set("dh", rtc.read(RTC_SECONDS))
            cpu.set("cl", rtc.read(RTC_MINUTES))
            cpu.set("ch", rtc.read(RTC_HOURS))
            cpu.set("dl", rtc.read(RTC_B) & RTC_B_DSE)
            cpu.set("ah", 0)
            cpu.set("al", cpu.get("ch"))
            set_cf(cpu, False)
        elif ah == 0x03:
            b = rtc.read(RTC_B)
            rtc.write(RTC_B, b | RTC_B_SET)
            rtc.write(RTC_SECONDS, cpu.get("dh"))
            rtc.write(RTC_MINUTES, cpu.get("cl"))
            rtc.write(RTC_HOURS, cpu.get("ch"))
            rtc.write(RTC_B, (b & 0x60 & ~RTC_B_SET) | RTC_B_24HR | (cpu.get("dl") & RTC_B_DSE))
            cpu.set("ah", 0)
            cpu.set("al", cpu.get("ch"))
            set_cf(cpu, False)
        elif ah == 0x04:
            cpu.set("cl", rtc.read(RTC_YEAR))
            cpu.set("dh", rtc.read(RTC_MONTH))
            cpu.set("dl", rtc.read(RTC_DAY))
            cpu.set("ch", rtc.read(RTC_CENTURY))
            cpu.set("ah", 0)
            cpu.set("al", cpu.get("ch"))
            set_cf(cpu, False)
        elif ah == 0x05:
            b = rtc.read(RTC_B)
            rtc.write(RTC_B, b | RTC_B_SET)
            rtc.write(RTC_YEAR, cpu.get("cl"))
            rtc.write(RTC_MONTH, cpu.get("dh"))
            rtc.write(RTC_DAY, cpu.get("dl"))
            rtc.write(RTC_CENTURY, cpu.get("ch"))
            rtc.write(RTC_B, b & ~RTC_B_SET)
            cpu.set("ah", 0)
            cpu.set("al", cpu.get("ch"))
            set_cf(cpu, False)
        else:
            set_cf(cpu, True)                 # unimplemented: CF=1, registers kept
        return cost.SERVICE


__all__ = ["Timer", "Rtc", "bcd2bin"]
