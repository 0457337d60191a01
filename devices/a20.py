"""System control port A (port 0x92): the "fast A20" gate and fast CPU reset.

Reference: QEMU hw/i386/port92.c (formerly in hw/i386/pc.c).  Bit 1 drives the A20 line, a
0->1 transition of bit 0 requests a CPU reset; the register reads back what was written.
WHY a separate device: guests enable A20 here or through the 8042 output port; the machine
gets both through `on_a20(enabled)` and applies the last one (QEMU does the same).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


class FastA20:
    name = "a20"
    wide_io = False
    PORTS = (0x92,)

    def __init__(self, *, on_a20: Callable[[bool], None] | None = None,
                 on_reset: Callable[[], None] | None = None, enabled: bool = True) -> None:
        self.on_a20 = on_a20
        self.on_reset = on_reset
        #: A20 at power-on: QEMU's machine starts with A20 enabled; pass False for a strict AT.
        self._initial = 0x02 if enabled else 0x00
        self.outport = self._initial

    def ports(self) -> Iterable[int]:
        return self.PORTS

    def reset(self) -> None:
        self.outport = self._initial

    @property
    def a20(self) -> bool:
        return bool(self.outport & 0x02)

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            return self.outport | (((1 << (8 * size)) - 1) & ~0xFF)
        return self.outport

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        old = self.outport
        self.outport = value
        if self.on_a20 is not None:
            self.on_a20(bool(value & 0x02))
        if (value & 0x01) and not (old & 0x01) and self.on_reset is not None:
            self.on_reset()

    def state(self) -> dict[str, Any]:
        return {"outport": self.outport}

    def load_state(self, state: dict[str, Any]) -> None:
        self.outport = int(state["outport"])
