"""The VGA as QEMU's standard VGA (ports 0x3B4-0x3DF, video memory behind A0000-BFFFF).

Reference: QEMU hw/display/vga.c (`vga_ioport_read` / `vga_ioport_write`).  Parts: this module
(the register file and the device), devices/vga_memory.py (the four planes, the latches and
the CPU's view of them), devices/vga_render.py (the picture: text, 16- and 256-colour graphics
as QEMU draws them; PNG).  In text modes the text itself stays plain RAM at 0xB8000 owned by
the machine (fast, and what the BIOS and the UI read); in graphics modes the machine backs
A0000-AFFFF as `VgaMemory.window_kind()` says and calls `on_window` when that changes.
The register file the guest programs: CRTC index/data at 0x3D4/0x3D5 (0x3B4/0x3B5 when misc output bit 0 selects mono
addressing, as QEMU), with the cursor location (0x0E/0x0F), cursor shape (0x0A/0x0B), start
address (0x0C/0x0D) and the CR11 write-protect of CR0-CR7; input status 1 at 0x3DA with the
attribute flip-flop reset; misc output (write 0x3C2, read 0x3CC); sequencer 0x3C4/0x3C5;
graphics controller 0x3CE/0x3CF; attribute controller 0x3C0/0x3C1; DAC 0x3C6-0x3C9; feature
control (read 0x3CA, write 0x3DA).  Registers start with the values of BIOS mode 3, because the
machine boots guests as if a VGA BIOS had run.

Input status 1 (0x3DA) follows the clock instead of QEMU's default "toggle on every read":
a 70 Hz frame of 449 lines (31.47 kHz) with 400 visible lines and vertical retrace on lines
412-413; bit 0 is "display disabled" (horizontal or vertical blanking, 80% of a line visible),
bit 3 is vertical retrace.  A guest waiting for retrace waits the same number of cycles every
run.  Register writes are masked as QEMU masks them (sr_mask, gr_mask, attribute indexes);
the PEL mask (0x3C6) is not implemented by QEMU 7.2: writes are ignored, reads give 0x00, and
the picture never applies it - the same here.  Not modelled: VBE (Bochs dispi) and the
CGA 2-colour / 4-colour shift modes' pictures.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .base.clock import CPU_HZ, Clock
from .base.native import NO_NATIVE, NativePorts
from .base.cp437 import CP437 as _CP437
from .vga_font import FONT_8X16
from .vga_memory import VgaMemory

# BIOS mode 3 register values as SeaVGABIOS leaves them under QEMU (checked by
# tests/test_dev_qemu_diff.py; GR07 colour don't-care is 0x0F there).
_CRTC_MODE3 = bytes.fromhex("5f4f50825581bf1f004f0d0e00000000" "9c8e8f281f96b9a3ff")
_SEQ_MODE3 = bytes.fromhex("0300030002")
_GC_MODE3 = bytes.fromhex("0000000000100e0fff")
_ATTR_MODE3 = bytes.fromhex("000102030405140738393a3b3c3d3e3f" "0c000f0800")
_MISC_MODE3 = 0x67

FRAME_HZ = 70
LINES_PER_FRAME = 449
VISIBLE_LINES = 400
VRETRACE_FIRST, VRETRACE_LAST = 412, 413
ST01_DISP_DISABLED, ST01_V_RETRACE = 0x01, 0x08

#: bits QEMU keeps on sequencer / graphics controller writes (vga.c sr_mask, gr_mask)
SR_MASK = bytes([0x03, 0x3D, 0x0F, 0x3F, 0x0E, 0x00, 0x00, 0xFF])
GR_MASK = bytes([0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF] + [0] * 7)
#: attribute controller 10h-14h write masks (palette registers 00h-0Fh keep 6 bits)
AR_MASK = {0x10: 0xEF, 0x11: 0xFF, 0x12: 0x3F, 0x13: 0x0F, 0x14: 0x0F}


class VgaText:
    """The VGA: register file, planes (`mem`), `cursor()` / `screen_text()` for the UI and CLI.

    `on_window()` (optional) is called after a register write that changes how A0000-AFFFF
    must be backed (see VgaMemory.window_kind); the machine remaps its memory there."""

    name = "vga"
    wide_io = False
    PORTS = tuple(range(0x3B4, 0x3B6)) + (0x3BA,) + tuple(range(0x3C0, 0x3D0)) + \
        (0x3D4, 0x3D5, 0x3DA)

    def __init__(self, *, clock: Clock, on_window: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self.on_window = on_window
        self._frame = CPU_HZ // FRAME_HZ
        self._line = self._frame // LINES_PER_FRAME
        self._cell = self._new_cell(NO_NATIVE)
        self.mem = VgaMemory(self)
        self._window = "ram"
        #: bumped on every register write that can change the picture (the UI's cheap check)
        self.generation = 0
        self.reset()

    def ports(self) -> Iterable[int]:
        return self.PORTS

    def _new_cell(self, native: NativePorts) -> Any:
        cell = native.vga_cell(0x3DA)
        cell.vga_frame, cell.vga_line = self._frame, self._line
        cell.vga_vfirst, cell.vga_vlast, cell.vga_visible = VRETRACE_FIRST, VRETRACE_LAST, VISIBLE_LINES
        return cell

    def attach_native(self, native: NativePorts) -> None:
        """Keep the attribute flip-flop and misc in the machine's native port path, which then
        answers colour-mode reads of input status 1 (0x3DA) as `input_status_1` computes them,
        resetting the flip-flop as `io_read` does."""
        old = self._cell
        cell = self._new_cell(native)
        cell.vga_flip, cell.vga_misc = old.vga_flip, old.vga_misc
        self._cell = cell

    @property
    def ar_flip_flop(self) -> int:
        return self._cell.vga_flip

    @ar_flip_flop.setter
    def ar_flip_flop(self, value: int) -> None:
        self._cell.vga_flip = value

    @property
    def misc(self) -> int:
        return self._cell.vga_misc

    @misc.setter
    def misc(self, value: int) -> None:
        self._cell.vga_misc = value

    def reset(self) -> None:
        self.cr = bytearray(256)
        self.cr[: len(_CRTC_MODE3)] = _CRTC_MODE3
        self.cr_index = 0
        self.sr = bytearray(8)
        self.sr[: len(_SEQ_MODE3)] = _SEQ_MODE3
        self.sr_index = 0
        self.gr = bytearray(16)
        self.gr[: len(_GC_MODE3)] = _GC_MODE3
        self.gr_index = 0
        self.ar = bytearray(21)
        self.ar[:] = _ATTR_MODE3
        self.ar_index = 0x20  # palette address source set: display enabled
        self.ar_flip_flop = 0
        self.misc = _MISC_MODE3
        self.fcr = 0
        self.dac = bytearray(768)
        self.dac_read_index = 0
        self.dac_write_index = 0
        self.dac_sub_index = 0
        self.dac_state = 0
        self.dac_latch = bytearray(3)
        self.mem.reset()
        self.mem.load_font(FONT_8X16)   # as the VGA BIOS leaves plane 2 in mode 3
        self._window_changed()

    def _window_changed(self) -> None:
        kind = self.mem.window_kind()
        if kind != self._window:
            self._window = kind
            if self.on_window is not None:
                self.on_window()

    @property
    def window(self) -> str:
        """How A0000-AFFFF is backed now: "ram", "direct" (vram bytes) or "planar"."""
        return self._window

    def graphics(self) -> bool:
        """GR06 bit 0: the attribute controller is in graphics mode (QEMU's GMODE_GRAPH)."""
        return bool(self.gr[6] & 1)

    # -- ports ----------------------------------------------------------------------------
    def _wrong_space(self, port: int) -> bool:
        """QEMU vga_ioport_invalid: 0x3Bx only in mono mode, 0x3Dx only in colour mode."""
        if 0x3B0 <= port <= 0x3BF:
            return bool(self.misc & 0x01)
        if 0x3D0 <= port <= 0x3DF:
            return not (self.misc & 0x01)
        return False

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            value = 0
            for i in range(size):
                p = port + i
                value |= (self.io_read(p, 1) if p in self.PORTS else 0xFF) << (8 * i)
            return value
        if port == 0x3DA and self.misc & 0x01:  # colour-mode status 1: polled in loops
            self.ar_flip_flop = 0
            return self.input_status_1()
        if self._wrong_space(port):
            return 0xFF
        if port in (0x3D4, 0x3B4):
            return self.cr_index
        if port in (0x3D5, 0x3B5):
            return self.cr[self.cr_index]
        if port in (0x3DA, 0x3BA):
            self.ar_flip_flop = 0
            return self.input_status_1()
        if port == 0x3C0:
            return self.ar_index if self.ar_flip_flop == 0 else 0
        if port == 0x3C1:
            idx = self.ar_index & 0x1F
            return self.ar[idx] if idx < 21 else 0
        if port == 0x3C2:
            return 0x00  # input status 0 (switch sense / CRT interrupt): nothing pending
        if port == 0x3C4:
            return self.sr_index
        if port == 0x3C5:
            return self.sr[self.sr_index & 7]
        if port == 0x3C6:
            return 0x00  # QEMU 7.2 has no PEL mask register: default case of vga_ioport_read
        if port == 0x3C7:
            return self.dac_state
        if port == 0x3C8:
            return self.dac_write_index
        if port == 0x3C9:
            val = self.dac[self.dac_read_index * 3 + self.dac_sub_index]
            self.dac_sub_index += 1
            if self.dac_sub_index == 3:
                self.dac_sub_index = 0
                self.dac_read_index = (self.dac_read_index + 1) & 0xFF
            return val
        if port == 0x3CA:
            return self.fcr
        if port == 0x3CC:
            return self.misc
        if port == 0x3CE:
            return self.gr_index
        if port == 0x3CF:
            return self.gr[self.gr_index & 0x0F]
        return 0xFF

    def io_write(self, port: int, size: int, value: int) -> None:
        if size != 1:
            # `outw 0x3D4, (data << 8) | index` is the classic idiom: index, then data.
            for i in range(size):
                p = port + i
                if p in self.PORTS:
                    self.io_write(p, 1, (value >> (8 * i)) & 0xFF)
            return
        value &= 0xFF
        if self._wrong_space(port):
            return
        if port in (0x3D4, 0x3B4):
            self.cr_index = value
        elif port in (0x3D5, 0x3B5):
            idx = self.cr_index
            if idx <= 0x07 and self.cr[0x11] & 0x80:
                if idx == 0x07:  # only the line-compare bit stays writable
                    self.cr[7] = (self.cr[7] & ~0x10) | (value & 0x10)
                return
            self.cr[idx] = value
        elif port in (0x3DA, 0x3BA):
            self.fcr = value & 0x10
        elif port == 0x3C0:
            if self.ar_flip_flop == 0:
                self.ar_index = value & 0x3F
            else:
                idx = self.ar_index & 0x1F
                if idx < 21:
                    self.ar[idx] = value & AR_MASK.get(idx, 0x3F)
            self.ar_flip_flop ^= 1
        elif port == 0x3C2:
            self.misc = value & ~0x10
        elif port == 0x3C4:
            self.sr_index = value & 7
        elif port == 0x3C5:
            self.sr[self.sr_index] = value & SR_MASK[self.sr_index]
            self._window_changed()
        elif port == 0x3C7:
            self.dac_read_index = value
            self.dac_sub_index = 0
            self.dac_state = 3
        elif port == 0x3C8:
            self.dac_write_index = value
            self.dac_sub_index = 0
            self.dac_state = 0
        elif port == 0x3C9:
            self.dac_latch[self.dac_sub_index] = value
            self.dac_sub_index += 1
            if self.dac_sub_index == 3:
                base = self.dac_write_index * 3
                self.dac[base:base + 3] = self.dac_latch
                self.dac_sub_index = 0
                self.dac_write_index = (self.dac_write_index + 1) & 0xFF
        elif port == 0x3CE:
            self.gr_index = value & 0x0F
        elif port == 0x3CF:
            self.gr[self.gr_index] = value & GR_MASK[self.gr_index]
            self._window_changed()
        self.generation += 1

    # -- timing ---------------------------------------------------------------------------
    def input_status_1(self) -> int:
        """Retrace/blanking bits from the position of the beam at `clock.now()`."""
        phase = self.clock.now() % self._frame
        line, dot = divmod(phase, self._line)
        val = 0
        if VRETRACE_FIRST <= line <= VRETRACE_LAST:
            val |= ST01_V_RETRACE
        if line >= VISIBLE_LINES or dot * 5 >= self._line * 4:
            val |= ST01_DISP_DISABLED
        return val

    # -- helpers for the machine, CLI and TUI ------------------------------------------
    def columns(self) -> int:
        return self.cr[0x01] + 1

    def start_address(self) -> int:
        return (self.cr[0x0C] << 8) | self.cr[0x0D]

    def cursor(self) -> tuple[int, int, bool, int, int]:
        """(row, col, visible, start scanline, end scanline) of the hardware cursor."""
        loc = ((self.cr[0x0E] << 8) | self.cr[0x0F]) - self.start_address()
        cols = self.columns()
        row, col = divmod(loc & 0xFFFF, cols)
        start = self.cr[0x0A] & 0x1F
        end = self.cr[0x0B] & 0x1F
        visible = not (self.cr[0x0A] & 0x20) and start <= end
        return row, col, visible, start, end

    def page_bytes(self, window: bytes, rows: int = 25) -> bytes:
        """The visible text page as (char, attribute) pairs, `rows` rows of `columns()` cells.
        `window` is the 32 KiB text window from 0xB8000; the CRTC start address (in cells)
        selects where the page begins, as the CRT controller scans it."""
        start = self.start_address() * 2
        return bytes(window[start:start + self.columns() * rows * 2])

    def screen_text(self, mem: bytes, rows: int = 25) -> str:
        """The text screen as lines (CP437 decoded, trailing spaces kept off).  `mem` is the
        text window from 0xB8000; the CRTC start address selects the visible page."""
        cols = self.columns()
        start = self.start_address() * 2
        lines = []
        for r in range(rows):
            off = start + r * cols * 2
            chars = mem[off:off + cols * 2:2]
            lines.append("".join(_CP437[c] for c in chars).rstrip())
        return "\n".join(lines) + "\n"

    # -- snapshots -----------------------------------------------------------------------
    _BYTES = ("cr", "sr", "gr", "ar", "dac", "dac_latch")
    _INTS = ("cr_index", "sr_index", "gr_index", "ar_index", "ar_flip_flop", "misc", "fcr",
             "dac_read_index", "dac_write_index", "dac_sub_index", "dac_state")

    def state(self) -> dict[str, Any]:
        d: dict[str, Any] = {f: bytes(getattr(self, f)) for f in self._BYTES}
        d.update({f: int(getattr(self, f)) for f in self._INTS})
        d["mem"] = self.mem.state()
        return d

    def load_state(self, state: dict[str, Any]) -> None:
        for f in self._BYTES:
            setattr(self, f, bytearray(state[f]))
        for f in self._INTS:
            setattr(self, f, int(state[f]))
        if "mem" in state:
            self.mem.load_state(state["mem"])
        self.generation += 1
        self._window = "?"          # force the machine to re-back the window
        self._window_changed()


def screen_text(mem: bytes, cols: int = 80, rows: int = 25) -> str:
    """Module-level helper: decode a text page (no CRTC state needed)."""
    lines = []
    for r in range(rows):
        chars = mem[r * cols * 2:(r + 1) * cols * 2:2]
        lines.append("".join(_CP437[c] for c in chars).rstrip())
    return "\n".join(lines) + "\n"
