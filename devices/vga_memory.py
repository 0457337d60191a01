"""VGA video memory: 256 KiB in four planes, and the CPU's view of it through A0000-BFFFF.

Reference: QEMU hw/display/vga.c `vga_mem_readb` / `vga_mem_writeb` (QEMU 7.2 stdvga).  The
layout is QEMU's: plane p of VGA address a is byte `4*a + p` of `vram`, so a chain-4 (mode 13h)
CPU offset is simply the `vram` offset, and one 32-bit word holds the four planes of an address.

Which path a CPU access takes (the same order QEMU tests):
- chain 4 (sequencer SR04 bit 3): byte `offset` of vram, written only if the map mask (SR02)
  enables plane `offset & 3`;
- odd/even (graphics mode GR05 bit 4): plane `(GR04 & 2) | (offset & 1)`, address `offset & ~1`;
- otherwise planar with the latches: a read loads all four planes of the address into the latch
  and returns read mode 0 (plane GR04) or read mode 1 (colour compare GR02 / don't care GR07);
  a write goes through write modes 0-3 (data rotate and function GR03, set/reset GR00, enable
  set/reset GR01, bit mask GR08) and lands in the planes the map mask enables.

The memory map select (GR06 bits 2-3) decides where the window sits: 0 = A0000 128 KiB,
1 = A0000 64 KiB, 2 = B0000 32 KiB, 3 = B8000 32 KiB.  `window_kind()` tells the machine how to
back the 64 KiB at A0000 cheaply: "direct" (plain memory = vram, for chain 4 with all planes
enabled: mode 13h pixel loops run at RAM speed), "planar" (a callback per access) or "ram"
(text modes: A0000-BFFFF stays ordinary RAM and text is read from B8000, as before).
"""
from __future__ import annotations

VRAM_SIZE = 256 * 1024
PLANE_SIZE = 64 * 1024

#: MASK16[m]: a 32-bit word with byte p = 0xFF for every bit p set in the 4-bit m (QEMU mask16)
MASK16 = tuple(sum(0xFF << (8 * p) for p in range(4) if m >> p & 1) for m in range(16))


def _rep4(b: int) -> int:
    return b * 0x01010101


class VgaMemory:
    """The planes and the latch; `regs` is the VGA register file (its `sr` and `gr` arrays)."""

    def __init__(self, regs) -> None:
        self.regs = regs
        self.vram = bytearray(VRAM_SIZE)
        self.latch = 0

    def reset(self) -> None:
        self.vram[:] = bytes(VRAM_SIZE)
        self.latch = 0

    # -- where the window is and how the machine should back it -----------------------------
    def window_offset(self, addr: int) -> int | None:
        """VGA offset of linear address `addr` (A0000-BFFFF), or None outside the window."""
        a = addr & 0x1FFFF
        sel = (self.regs.gr[6] >> 2) & 3
        if sel == 0:
            return a
        if sel == 1:
            return a if a < 0x10000 else None
        a -= 0x10000 if sel == 2 else 0x18000
        return a if 0 <= a < 0x8000 else None

    def window_kind(self) -> str:
        """"direct", "planar" or "ram" for A0000-AFFFF (see the module docstring)."""
        sr, gr = self.regs.sr, self.regs.gr
        if (gr[6] >> 2) & 3 >= 2:
            return "ram"
        if sr[4] & 0x08 and sr[2] & 0x0F == 0x0F:
            return "direct"
        return "planar"

    # -- CPU accesses -------------------------------------------------------------------------
    def read(self, offset: int) -> int:
        """One byte read by the CPU at VGA offset `offset`."""
        sr, gr, vram = self.regs.sr, self.regs.gr, self.vram
        if sr[4] & 0x08:
            return vram[offset]
        if gr[5] & 0x10:
            return vram[((offset & ~1) << 1) | (gr[4] & 2) | (offset & 1)]
        base = offset * 4
        latch = self.latch = int.from_bytes(vram[base:base + 4], "little")
        if not gr[5] & 0x08:
            return (latch >> (8 * (gr[4] & 3))) & 0xFF
        ret = (latch ^ MASK16[gr[2] & 0x0F]) & MASK16[gr[7] & 0x0F]
        ret |= ret >> 16
        ret |= ret >> 8
        return ~ret & 0xFF

    def write(self, offset: int, val: int) -> None:
        """One byte written by the CPU at VGA offset `offset`."""
        sr, gr, vram = self.regs.sr, self.regs.gr, self.vram
        val &= 0xFF
        if sr[4] & 0x08:
            if sr[2] & (1 << (offset & 3)):
                vram[offset] = val
            return
        if gr[5] & 0x10:
            plane = (gr[4] & 2) | (offset & 1)
            if sr[2] & (1 << plane):
                vram[((offset & ~1) << 1) | plane] = val
            return
        latch = self.latch
        mode = gr[5] & 3
        if mode == 1:
            word = latch
        else:
            rot = gr[3] & 7
            if mode == 0:
                v = ((val >> rot) | (val << (8 - rot))) & 0xFF
                en = MASK16[gr[1] & 0x0F]
                word = (_rep4(v) & ~en) | (MASK16[gr[0] & 0x0F] & en)
                bit_mask = gr[8]
            elif mode == 2:
                word = MASK16[val & 0x0F]
                bit_mask = gr[8]
            else:
                v = ((val >> rot) | (val << (8 - rot))) & 0xFF
                bit_mask = gr[8] & v
                word = MASK16[gr[0] & 0x0F]
            func = (gr[3] >> 3) & 3
            if func == 1:
                word &= latch
            elif func == 2:
                word |= latch
            elif func == 3:
                word ^= latch
            bm = _rep4(bit_mask)
            word = (word & bm) | (latch & ~bm & 0xFFFFFFFF)
        wmask = MASK16[sr[2] & 0x0F]
        base = offset * 4
        old = int.from_bytes(vram[base:base + 4], "little")
        vram[base:base + 4] = ((old & ~wmask & 0xFFFFFFFF) | (word & wmask)).to_bytes(4, "little")

    # -- helpers for the BIOS ---------------------------------------------------------------
    def load_font(self, font: bytes, height: int = 16, slot: int = 0) -> None:
        """Put a 256-glyph font in plane 2 as the VGA BIOS does: glyph c at 32*c (+ 16 KiB slots)."""
        base = slot * 0x4000
        # plane 2 of the slot as one strided slice: 256 slice copies instead of 4096 byte
        # stores (the font is loaded at every power-on; issue 11's start-up)
        start, stop = base * 4 + 2, (base + 256 * 32) * 4
        plane = bytearray(self.vram[start:stop:4])
        for c in range(256):
            rows = font[c * height:(c + 1) * height]
            plane[c * 32:c * 32 + len(rows)] = rows
        self.vram[start:stop:4] = plane

    def clear_planes(self) -> None:
        """Zero every plane (a graphics mode set clears the whole window, all planes enabled)."""
        self.vram[:] = bytes(VRAM_SIZE)

    def state(self) -> dict:
        """Plain data; an unchanged vram is the same bytes object as in the previous state, so
        many snapshots of a text-mode run (time travel) share one copy of the 256 KiB."""
        last = getattr(self, "_state_vram", None)
        if last is None or last != self.vram:
            last = self._state_vram = bytes(self.vram)
        return {"vram": last, "latch": self.latch}

    def load_state(self, st: dict) -> None:
        self.vram[:] = st["vram"]
        self.latch = int(st["latch"])
