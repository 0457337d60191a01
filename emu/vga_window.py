"""How the machine backs the VGA window at A0000-AFFFF (the device decides, we remap).

Unicorn's `mmio_map` costs a Python call per guest access (0.7 us measured: a 64000-byte mode
13h fill takes 45 ms instead of 4 ms as RAM), so the window is backed by the cheapest thing
that is still exact for the current VGA state (devices/vga_memory.py `window_kind`):
- "ram": text modes - the machine's own RAM, as before (text stays at B8000 in RAM);
- "direct": chain 4 with all planes enabled (mode 13h) - Unicorn maps the device's `vram`
  bytes themselves at A0000 (QEMU does the same with its "vga.chain4" alias), so pixel loops
  run at RAM speed and the picture reads them straight from `vram`;
- "planar": every access goes through `VgaMemory.read` / `write` (latches, write modes).
The VGA calls `remap()` from inside its port handlers; unmapping from an OUT hook is what the
A20 gate already does.  The board owns RAM and the engine (emu/board.py): `Board.attach` maps
RAM, then `remap()` applies the VGA's current state.  (Board.map_mmio is for regions outside
RAM; this window sits inside it, so it is switched here.)
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from unicorn import UC_PROT_ALL

if TYPE_CHECKING:
    from .board import Board

BASE, SIZE = 0xA0000, 0x10000


class VgaWindow:
    def __init__(self, board: "Board") -> None:
        self.board = board
        self.kind = "ram"          # what Unicorn has at A0000 now (Board.attach maps RAM)
        self._vram_c = None

    def remap(self) -> None:
        vga = self.board.devices.get("vga")
        uc = self.board._uc
        if vga is None or uc is None:
            return
        kind = vga.window
        if kind == self.kind:
            return
        uc.mem_unmap(BASE, SIZE)
        if kind == "direct":
            vram = vga.mem.vram
            if self._vram_c is None:
                self._vram_c = (ctypes.c_char * len(vram)).from_buffer(vram)
            uc.mem_map_ptr(BASE, SIZE, UC_PROT_ALL, ctypes.addressof(self._vram_c))
        elif kind == "planar":
            mem = vga.mem

            def read(_uc, off: int, size: int, _ud) -> int:
                val = 0
                for i in range(size):
                    o = mem.window_offset(BASE + off + i)
                    val |= (mem.read(o) if o is not None else 0xFF) << (8 * i)
                return val

            def write(_uc, off: int, size: int, value: int, _ud) -> None:
                for i in range(size):
                    o = mem.window_offset(BASE + off + i)
                    if o is not None:
                        mem.write(o, (value >> (8 * i)) & 0xFF)

            uc.mmio_map(BASE, SIZE, read, None, write, None)
        else:
            uc.mem_map_ptr(BASE, SIZE, UC_PROT_ALL, self.board.ram_addr + BASE)
        self.kind = kind
