"""isa-debug-exit (QEMU hw/misc/debugexit.c): a write ends the emulation with a status.

Any write of any width at iobase..iobase+iosize-1 calls `on_exit((value << 1) | 1)`, exactly
QEMU's `exit((val << 1) | 1)`, so a guest's exit status is the same under both.  Reads return
0.  QEMU's default iosize is 2; BareFlow's machine uses iobase=0xF4, iosize=4 (the usual
`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


class DebugExit:
    name = "debug_exit"
    wide_io = True  # QEMU: valid accesses of 1-4 bytes, the whole value is used

    def __init__(self, *, on_exit: Callable[[int], None] | None = None, iobase: int = 0xF4,
                 iosize: int = 4) -> None:
        self.on_exit = on_exit
        self.iobase = iobase
        self.iosize = iosize
        #: Last status requested (None until the guest writes); the machine may poll this.
        self.status: int | None = None

    def ports(self) -> Iterable[int]:
        return range(self.iobase, self.iobase + self.iosize)

    def reset(self) -> None:
        self.status = None

    def io_read(self, port: int, size: int) -> int:
        return 0

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= (1 << (8 * size)) - 1
        self.status = (value << 1) | 1
        if self.on_exit is not None:
            self.on_exit(self.status)

    def state(self) -> dict[str, Any]:
        return {"status": self.status}

    def load_state(self, state: dict[str, Any]) -> None:
        self.status = state["status"]
