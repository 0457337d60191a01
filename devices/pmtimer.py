"""The ACPI power-management timer of the PIIX4 (PM base + 8, 0x608 as SeaBIOS programs it).

A free-running 24-bit counter at 3.579545 MHz (the FADT's PM_TMR_BLK, TMR_VAL_EXT = 0), read
as QEMU's acpi_pm_tmr_get computes it -- elapsed virtual time times the frequency -- but from
the deterministic cycle clock, so a guest calibrating against it gets the same count every run.
The timer-overflow status/SCI (PM1 status bit 0) is not modelled.
"""
from __future__ import annotations

from typing import Any, Iterable

from .base.clock import CPU_HZ, Clock

PM_TIMER_HZ = 3_579_545
PM_TMR = 0x608


class PmTimer:
    name = "pm-timer"
    wide_io = True

    def __init__(self, *, clock: Clock, port: int = PM_TMR) -> None:
        self.clock = clock
        self.port = port

    def ports(self) -> Iterable[int]:
        return range(self.port, self.port + 4)

    def reset(self) -> None:
        pass

    def value(self) -> int:
        return (self.clock.now() * PM_TIMER_HZ // CPU_HZ) & 0xFFFFFF

    def io_read(self, port: int, size: int) -> int:
        return (self.value() >> (8 * (port - self.port))) & ((1 << (8 * size)) - 1)

    def io_write(self, port: int, size: int, value: int) -> None:
        pass    # read-only

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass
