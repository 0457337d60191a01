"""ACPI soft power-off, the way guests switch off QEMU and Bochs.

Bare-metal programs without an ACPI interpreter power off by writing SLP_EN (bit 13) with the
S5 sleep type to the PM1a control register.  On QEMU's i440FX/PIIX4 machine SeaBIOS places the
PM block at 0x600, so PM1a_CNT is 0x604 (`outw(0x604, 0x2000)` is the well-known idiom); old
Bochs and QEMU also honour 0xB004.  Either write ends the emulation with status 0.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

PM1A_CNT = 0x604
BOCHS_PM1A_CNT = 0xB004
SLP_EN = 1 << 13


class AcpiPower:
    name = "acpi-pm"

    def __init__(self, *, on_power_off: Callable[[], None]) -> None:
        self.on_power_off = on_power_off
        self.cnt = 0

    def ports(self) -> Iterable[int]:
        return (PM1A_CNT, PM1A_CNT + 1, BOCHS_PM1A_CNT, BOCHS_PM1A_CNT + 1)

    def reset(self) -> None:
        self.cnt = 0

    def io_read(self, port: int, size: int) -> int:
        value = self.cnt
        return value >> 8 if port & 1 else value

    def io_write(self, port: int, size: int, value: int) -> None:
        if port & 1:  # high byte written on its own
            value = (value << 8) | (self.cnt & 0xFF)
        elif size == 1:
            value = (self.cnt & 0xFF00) | (value & 0xFF)
        self.cnt = value & 0xFFFF & ~SLP_EN
        if value & SLP_EN:
            self.on_power_off()

    def state(self) -> dict[str, Any]:
        return {"cnt": self.cnt}

    def load_state(self, state: dict[str, Any]) -> None:
        self.cnt = state["cnt"]
