"""Bochs/QEMU debug console on port 0xE9 (QEMU hw/char/debugcon.c).

A byte written to 0xE9 goes to `on_byte` (the CLI prints it or traces it); reading the port
returns 0xE9 (QEMU's default `readback`), which is how guests detect that the console exists.
Wide writes are split into bytes by the bus; only the byte at 0xE9 itself is ours.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


class DebugCon:
    name = "debugcon"
    wide_io = False

    def __init__(self, *, on_byte: Callable[[int], None] | None = None, port: int = 0xE9,
                 readback: int = 0xE9) -> None:
        self.on_byte = on_byte
        self.port = port
        self.readback = readback

    def ports(self) -> Iterable[int]:
        return (self.port,)

    def reset(self) -> None:
        pass  # the console's output is the outside world's, not device state

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            return self.readback | (((1 << (8 * size)) - 1) & ~0xFF)
        return self.readback

    def io_write(self, port: int, size: int, value: int) -> None:
        if self.on_byte is not None:
            self.on_byte(value & 0xFF)

    def state(self) -> dict[str, Any]:
        return {}  # no registers: what was printed belongs to the host, not to a snapshot

    def load_state(self, state: dict[str, Any]) -> None:
        pass
