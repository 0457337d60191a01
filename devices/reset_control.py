"""PIIX3 reset control register, port 0xCF9 (QEMU hw/isa/piix3.c rcr_ops).

A byte write with bit 2 set (the usual 0x06, "hard reset", or 0x04) resets the machine at once;
otherwise bit 1 (hard/soft reset type) is kept and reads back.  Only this byte port: the PCI
configuration ports 0xCF8/0xCFC around it belong to the PCI host bridge.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


class ResetControl:
    name = "reset_control"
    wide_io = False

    def __init__(self, *, on_reset: Callable[[str], None] | None = None) -> None:
        self.on_reset = on_reset
        self.rcr = 0

    def ports(self) -> Iterable[int]:
        return (0xCF9,)

    def reset(self) -> None:
        self.rcr = 0

    def io_read(self, port: int, size: int) -> int:
        return self.rcr

    def io_write(self, port: int, size: int, value: int) -> None:
        if value & 0x04:
            if self.on_reset is not None:
                self.on_reset(f"port 0xCF9 value {value & 0xFF:#04x}")
            return
        self.rcr = value & 0x02

    def state(self) -> dict[str, Any]:
        return {"rcr": self.rcr}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rcr = state["rcr"]
