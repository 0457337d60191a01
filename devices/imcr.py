"""The Interrupt Mode Configuration Register (IMCR, MP spec 1.4 section 3.6.2.1): ports 0x22
(select) and 0x23 (data), register 70h bit 0: 0 = PIC mode (the 8259's INTR goes straight to
the CPU), 1 = symmetric I/O mode (the 8259 reaches the CPU only through the APICs).

QEMU's i440FX has no IMCR: SeaBIOS's MP table says so (feature byte 2, IMCRP = 0, "virtual
wire mode"), ports 0x22/0x23 read 0xFF there, and the 8259 always goes through LAPIC LINT0.
BareFlow powers up the same way (virtual wire, reads 0xFF: the MP spec allows a write-only
IMCR), and honours a guest that writes the IMCR anyway: writing 0 selects PIC mode, where the
8259 reaches the CPU even with LINT0 masked; writing 1 returns to routing through the APIC.
Under QEMU such writes do nothing -- the one place where the two differ (docs/devices.md).
"""
from __future__ import annotations

from typing import Any, Iterable

IMCR_SELECT, IMCR_DATA = 0x22, 0x23
IMCR_INDEX = 0x70


class Imcr:
    name = "imcr"
    wide_io = False

    def __init__(self, *, lapic: Any) -> None:
        self.lapic = lapic
        self.select = 0

    def ports(self) -> Iterable[int]:
        return (IMCR_SELECT, IMCR_DATA)

    def reset(self) -> None:
        self.select = 0
        self.lapic.imcr_apic_mode = True

    def io_read(self, port: int, size: int) -> int:
        return 0xFF     # write-only, as the MP spec allows (and as QEMU's empty ports read)

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == IMCR_SELECT:
            self.select = value & 0xFF
        elif self.select == IMCR_INDEX:
            self.lapic.imcr_apic_mode = bool(value & 1)
            self.lapic._update()

    def state(self) -> dict[str, Any]:
        return {"select": self.select}

    def load_state(self, state: dict[str, Any]) -> None:
        self.select = state["select"]
