"""INT 10h in 80x25 colour text mode, drawn into VGA text memory at 0xB8000 (graphics modes
12h/13h and the pixel services are in video_gfx.py).

Behaviour follows SeaBIOS's VGA BIOS (src/vgasrc/vgabios.c), checked against QEMU's stdvga
with tests/images/bios_video.asm: the cursor lives in the BDA (0x450 + 2*page) and in the
CRTC location registers 0Eh/0Fh (written through the bus, so the VGA device is the source of
truth for the hardware cursor); teletype handles BEL (ignored), BS, CR, LF, wraps at column
80 and scrolls the page with a blank line of attribute 07h; TAB is an ordinary character;
AH=01h stores CX in the BDA and programs the CRTC with the CGA shape scaled to the 16-line font.
"""
from __future__ import annotations

from ...devices.vga_font import FONT_8X16
from . import cost, video_gfx
from .video_gfx import ega_palette  # noqa: F401  (defined beside its other user)
from .frame import BiosCpu, linear, rd8, rd16, wr8, wr16

TEXT_BASE = 0xB8000
TEXT_END = 0xC0000
BLANK = 0x0720

BDA_MODE, BDA_COLS, BDA_PAGESIZE, BDA_PAGESTART = 0x449, 0x44A, 0x44C, 0x44E
BDA_CURSOR, BDA_CURTYPE, BDA_PAGE, BDA_CRTC = 0x450, 0x460, 0x462, 0x463
BDA_ROWS, BDA_CHARH, BDA_VCTL, BDA_SWITCHES, BDA_MODESET = 0x484, 0x485, 0x487, 0x488, 0x489

#: CRTC registers 00h-18h of VGA mode 3 (720x400, 9x16 cells): what the VGA BIOS loads.
MODE3_CRTC = bytes([0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E,
                    0x00, 0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF])
MODE3_MISC = 0x67
#: Sequencer 01h-04h, graphics controller 00h-08h, attribute controller 00h-13h of mode 3 (the
#: VGA BIOS's table; GR07 = 0Fh as QEMU reads it back).
MODE3_SEQ = bytes([0x00, 0x03, 0x00, 0x02])
MODE3_GC = bytes([0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x0F, 0xFF])
MODE3_ATTR = bytes([0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B,
                    0x3C, 0x3D, 0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08])


TEXT_MODES = (0x02, 0x03)
# VGA register ports
ACTL_ADDR, ACTL_READ, ACTL_RESET = 0x3C0, 0x3C1, 0x3DA
GC_ADDR = 0x3CE
PEL_MASK, DAC_READ_INDEX, DAC_WRITE_INDEX, DAC_DATA = 0x3C6, 0x3C7, 0x3C8, 0x3C9


class Video:
    """INT 10h services; all state is in the BDA and video memory, like the real thing."""

    def __init__(self, bus) -> None:
        self.bus = bus
        self._cycles = 0

    # -- low-level --------------------------------------------------------------------------
    def _crtc(self, cpu: BiosCpu, index: int, value: int) -> None:
        port = rd16(cpu, BDA_CRTC) or 0x3D4
        self.bus.io_write(port, 1, index)
        self.bus.io_write(port + 1, 1, value & 0xFF)
        self._cycles += cost.CRTC_WRITE

    @staticmethod
    def _geometry(cpu: BiosCpu) -> tuple[int, int, int]:
        """(columns, rows, page size in bytes)"""
        return rd16(cpu, BDA_COLS) or 80, rd8(cpu, BDA_ROWS) + 1, rd16(cpu, BDA_PAGESIZE)

    def _cell(self, cpu: BiosCpu, page: int, col: int, row: int) -> int:
        cols, _, psize = self._geometry(cpu)
        return TEXT_BASE + page * psize + (row * cols + col) * 2

    @staticmethod
    def get_cursor(cpu: BiosCpu, page: int) -> tuple[int, int]:
        """(col, row) of `page`; 0xFF = the active page; pages > 7 read as (0, 0)."""
        if page == 0xFF:
            page = rd8(cpu, BDA_PAGE)
        if page > 7:
            return 0, 0
        v = rd16(cpu, BDA_CURSOR + 2 * page)
        return v & 0xFF, v >> 8

    def set_cursor(self, cpu: BiosCpu, page: int, col: int, row: int) -> None:
        if page > 7:
            return
        wr16(cpu, BDA_CURSOR + 2 * page, (row << 8) | col)
        if page == rd8(cpu, BDA_PAGE):
            self._hw_cursor(cpu, page, col, row)

    def _hw_cursor(self, cpu: BiosCpu, page: int, col: int, row: int) -> None:
        cols, _, psize = self._geometry(cpu)
        loc = (page * psize) // 2 + row * cols + col
        self._crtc(cpu, 0x0E, loc >> 8)
        self._crtc(cpu, 0x0F, loc & 0xFF)

    def _hw_shape(self, cpu: BiosCpu) -> None:
        """SeaBIOS get_cursor_shape: scale a CGA (8-line) shape to the character height."""
        ctype = rd16(cpu, BDA_CURTYPE)
        start, end = (ctype >> 8) & 0x3F, ctype & 0x1F
        ch = rd16(cpu, BDA_CHARH)
        if not (rd8(cpu, BDA_VCTL) & 1) and not (ch <= 8 or end >= 8 or start >= 0x20):
            if end != start + 1:
                start = ((start + 1) * ch // 8) - 1
            else:
                start = ((end + 1) * ch // 8) - 2
            end = ((end + 1) * ch // 8) - 1
            ctype = (start << 8) | end
        self._crtc(cpu, 0x0A, ctype >> 8)
        self._crtc(cpu, 0x0B, ctype & 0xFF)

    # -- attribute controller and DAC (SeaVGABIOS stdvga_* access patterns) --------------------
    def attr_write(self, index: int, value: int) -> None:
        out, inp = self.bus.io_write, self.bus.io_read
        inp(ACTL_RESET, 1)
        orig = inp(ACTL_ADDR, 1)
        out(ACTL_ADDR, 1, index)
        out(ACTL_ADDR, 1, value)
        out(ACTL_ADDR, 1, orig)

    def attr_read(self, index: int) -> int:
        out, inp = self.bus.io_write, self.bus.io_read
        inp(ACTL_RESET, 1)
        orig = inp(ACTL_ADDR, 1)
        out(ACTL_ADDR, 1, index)
        value = inp(ACTL_READ, 1)
        inp(ACTL_RESET, 1)
        out(ACTL_ADDR, 1, orig)
        return value

    def write_dac(self, start: int, rgb: bytes) -> None:
        self.bus.io_write(DAC_WRITE_INDEX, 1, start)
        for v in rgb:
            self.bus.io_write(DAC_DATA, 1, v)
        self._cycles += len(rgb) * cost.CRTC_WRITE // 2

    def read_dac(self, start: int, count: int) -> bytes:
        self.bus.io_write(DAC_READ_INDEX, 1, start)
        data = bytes(self.bus.io_read(DAC_DATA, 1) for _ in range(count * 3))
        self._cycles += len(data) * cost.CRTC_WRITE // 2
        return data

    def _write_cells(self, cpu: BiosCpu, addr: int, char: int, attr: int | None, count: int) -> None:
        """`count` consecutive cells from `addr` (clipped to video memory)."""
        count = max(0, min(count, (TEXT_END - addr) // 2))
        if count == 0:
            return
        if attr is None:
            buf = bytearray(cpu.read(addr, count * 2))
            buf[0::2] = bytes([char]) * count
        else:
            buf = bytes([char, attr]) * count
        cpu.write(addr, bytes(buf))
        self._cycles += count * cost.VIDEO_CELL

    def _clear(self, cpu: BiosCpu, page: int, col: int, row: int, w: int, h: int, attr: int) -> None:
        if video_gfx.is_graphics(cpu):
            video_gfx.clear_cells(self, cpu, col, row, w, h, attr)
            return
        for r in range(row, row + h):
            self._write_cells(cpu, self._cell(cpu, page, col, r), 0x20, attr, w)

    def _move(self, cpu: BiosCpu, page: int, col: int, dst_row: int, src_row: int, w: int, h: int) -> None:
        if video_gfx.is_graphics(cpu):
            video_gfx.move_rows(self, cpu, col, dst_row, src_row, w, h)
            return
        rows = range(h) if dst_row < src_row else range(h - 1, -1, -1)
        for i in rows:
            src = self._cell(cpu, page, col, src_row + i)
            cpu.write(self._cell(cpu, page, col, dst_row + i), cpu.read(src, w * 2))
        self._cycles += w * h * cost.VIDEO_MOVE

    def teletype(self, cpu: BiosCpu, page: int, col: int, row: int, char: int,
                 attr: int | None) -> tuple[int, int]:
        """SeaBIOS write_teletype: one character at (col, row) of `page`; the new position."""
        cols, rows, _ = self._geometry(cpu)
        if char == 7:
            pass
        elif char == 8:
            if col > 0:
                col -= 1
        elif char == 13:
            col = 0
        elif char == 10:
            row += 1
        elif video_gfx.is_graphics(cpu):      # SeaBIOS: the colour is BL even for AH=0Eh
            video_gfx.write_char(self, cpu, col, row, char, cpu.get("bl") if attr is None else attr)
            col += 1
        else:
            self._write_cells(cpu, self._cell(cpu, page, col, row), char, attr, 1)
            col += 1
        if col >= cols:
            col = 0
            row += 1
        if row >= rows:
            row -= 1
            self._move(cpu, page, 0, 0, 1, cols, rows - 1)
            self._clear(cpu, page, 0, rows - 1, cols, 1, 0 if video_gfx.is_graphics(cpu) else 0x07)
        return col, row

    def print_text(self, cpu: BiosCpu, text: str) -> None:
        """Firmware's own console output (banner, boot messages) on the active page."""
        page = rd8(cpu, BDA_PAGE)
        col, row = self.get_cursor(cpu, page)
        for ch in text.encode("latin-1", "replace"):
            col, row = self.teletype(cpu, page, col, row, ch, None)
        self.set_cursor(cpu, page, col, row)

    # -- mode set -----------------------------------------------------------------------------
    def set_mode3(self, cpu: BiosCpu, mode: int = 0x03) -> None:
        """80x25 colour text as the VGA BIOS sets it: BDA, CRTC, cleared 32 KiB, cursor home."""
        wr8(cpu, BDA_MODE, mode)
        wr16(cpu, BDA_COLS, 80)
        wr16(cpu, BDA_PAGESIZE, 0x1000)
        wr16(cpu, BDA_PAGESTART, 0)
        wr16(cpu, BDA_CRTC, 0x3D4)
        wr8(cpu, BDA_ROWS, 24)
        wr16(cpu, BDA_CHARH, 16)
        wr8(cpu, BDA_VCTL, 0x60)
        wr8(cpu, BDA_SWITCHES, 0xF9)
        wr8(cpu, BDA_MODESET, rd8(cpu, BDA_MODESET) & 0x7F)
        wr16(cpu, BDA_CURTYPE, 0x0607)
        cpu.write(BDA_CURSOR, bytes(16))
        wr8(cpu, BDA_PAGE, 0)
        if not rd8(cpu, BDA_MODESET) & 0x08:                  # palette loading enabled
            self.bus.io_write(PEL_MASK, 1, 0xFF)
            self.write_dac(0, ega_palette())
        video_gfx.load_registers(self.bus, misc=MODE3_MISC, seq=MODE3_SEQ, crtc=MODE3_CRTC,
                                 attr=MODE3_ATTR, gc=MODE3_GC)   # BDA_CRTC is 3D4h, set above
        self._cycles += (len(MODE3_CRTC) + 1) * cost.CRTC_WRITE
        self._write_cells(cpu, TEXT_BASE, 0x20, 0x07, (TEXT_END - TEXT_BASE) // 2)
        vga = self.bus.device_at(GC_ADDR)
        if hasattr(vga, "mem"):              # SeaBIOS stdvga_load_font(vgafont16) into plane 2
            vga.mem.load_font(FONT_8X16)
            vga.generation += 1

    # -- INT 10h --------------------------------------------------------------------------
    def int10(self, cpu: BiosCpu) -> int:
        self._cycles = cost.SERVICE
        ah = cpu.get("ah")
        h = getattr(self, f"_f{ah:02x}", None)
        if h is not None:
            h(cpu)
        # anything else: registers untouched (SeaBIOS logs "unimplemented" and returns)
        return self._cycles

    def _f00(self, cpu: BiosCpu) -> None:
        raw = cpu.get("al")
        mode = raw & 0x7F
        cpu.set("al", 0x20 if mode > 7 else 0x3F if mode == 6 else 0x30)
        if mode in TEXT_MODES:
            self.set_mode3(cpu, mode)
        elif mode in video_gfx.GFX_MODES and hasattr(self.bus.device_at(GC_ADDR), "mem"):
            video_gfx.set_graphics_mode(self, cpu, mode, clear=not raw & 0x80)

    def _f01(self, cpu: BiosCpu) -> None:
        wr16(cpu, BDA_CURTYPE, cpu.get("cx"))
        self._hw_shape(cpu)

    def _f02(self, cpu: BiosCpu) -> None:
        self.set_cursor(cpu, cpu.get("bh"), cpu.get("dl"), cpu.get("dh"))

    def _f03(self, cpu: BiosCpu) -> None:
        cpu.set("cx", rd16(cpu, BDA_CURTYPE))
        col, row = self.get_cursor(cpu, cpu.get("bh"))
        cpu.set("dx", (row << 8) | col)

    def _f05(self, cpu: BiosCpu) -> None:
        page = cpu.get("al")
        if page > 7:
            return
        _, _, psize = self._geometry(cpu)
        wr8(cpu, BDA_PAGE, page)
        wr16(cpu, BDA_PAGESTART, page * psize)
        start = page * psize // 2
        self._crtc(cpu, 0x0C, start >> 8)
        self._crtc(cpu, 0x0D, start & 0xFF)
        col, row = self.get_cursor(cpu, page)
        self._hw_cursor(cpu, page, col, row)

    def _scroll(self, cpu: BiosCpu, up: bool) -> None:
        ulx, uly, lrx, lry = cpu.get("cl"), cpu.get("ch"), cpu.get("dl"), cpu.get("dh")
        cols, rows, _ = self._geometry(cpu)
        lry = min(lry, rows - 1)
        lrx = min(lrx, cols - 1)
        w, h = lrx - ulx + 1, lry - uly + 1
        if w <= 0 or h <= 0:
            return
        page = rd8(cpu, BDA_PAGE)
        n, attr = cpu.get("al"), cpu.get("bh")
        keep = h - n
        if n == 0 or keep <= 0:
            self._clear(cpu, page, ulx, uly, w, h, attr)
        elif up:
            self._move(cpu, page, ulx, uly, uly + n, w, keep)
            self._clear(cpu, page, ulx, uly + keep, w, n, attr)
        else:
            self._move(cpu, page, ulx, uly + n, uly, w, keep)
            self._clear(cpu, page, ulx, uly, w, n, attr)

    def _f06(self, cpu: BiosCpu) -> None:
        self._scroll(cpu, True)

    def _f07(self, cpu: BiosCpu) -> None:
        self._scroll(cpu, False)

    def _f08(self, cpu: BiosCpu) -> None:
        page = cpu.get("bh")
        col, row = self.get_cursor(cpu, page)
        cpu.set("ax", rd16(cpu, self._cell(cpu, page, col, row)))

    def _write_n(self, cpu: BiosCpu, with_attr: bool) -> None:
        page = cpu.get("bh")
        col, row = self.get_cursor(cpu, page)
        if video_gfx.is_graphics(cpu):            # SeaBIOS write_chars: colour BL, wraps rows
            cols = rd16(cpu, BDA_COLS) or 80
            for _ in range(cpu.get("cx")):
                video_gfx.write_char(self, cpu, col, row, cpu.get("al"), cpu.get("bl"))
                col += 1
                if col >= cols:
                    col -= cols
                    row += 1
            return
        self._write_cells(cpu, self._cell(cpu, page, col, row), cpu.get("al"),
                          cpu.get("bl") if with_attr else None, cpu.get("cx"))

    def _f09(self, cpu: BiosCpu) -> None:
        self._write_n(cpu, True)

    def _f0a(self, cpu: BiosCpu) -> None:
        self._write_n(cpu, False)

    def _f0c(self, cpu: BiosCpu) -> None:
        video_gfx.write_pixel(self, cpu, cpu.get("al"), cpu.get("cx"), cpu.get("dx"))

    def _f0d(self, cpu: BiosCpu) -> None:
        colour = video_gfx.read_pixel(self, cpu, cpu.get("cx"), cpu.get("dx"))
        if colour is not None:
            cpu.set("al", colour)

    def _f0e(self, cpu: BiosCpu) -> None:
        page = rd8(cpu, BDA_PAGE)            # SeaBIOS writes on the active page, whatever BH
        col, row = self.get_cursor(cpu, page)
        col, row = self.teletype(cpu, page, col, row, cpu.get("al"), None)
        self.set_cursor(cpu, page, col, row)

    def _f0f(self, cpu: BiosCpu) -> None:
        cpu.set("ah", rd16(cpu, BDA_COLS) & 0xFF)
        cpu.set("al", rd8(cpu, BDA_MODE) | (rd8(cpu, BDA_VCTL) & 0x80))
        cpu.set("bh", rd8(cpu, BDA_PAGE))

    def _f10(self, cpu: BiosCpu) -> None:
        """Palette registers and DAC (SeaVGABIOS handle_10xx)."""
        al, bl, bh = cpu.get("al"), cpu.get("bl"), cpu.get("bh")
        if al == 0x00:                                   # set one palette register
            if bl <= 0x14:
                self.attr_write(bl, bh)
        elif al == 0x01:                                 # overscan (border) colour
            self.attr_write(0x11, bh)
        elif al == 0x02:                                 # 16 palette registers + overscan
            data = cpu.read(linear(cpu.get("es"), cpu.get("dx")), 17)
            for i in range(16):
                self.attr_write(i, data[i])
            self.attr_write(0x11, data[16])
        elif al == 0x03:                                 # blink (BL=1) or bright background
            self.attr_write(0x10, (self.attr_read(0x10) & ~0x08) | ((bl & 1) << 3))
        elif al == 0x07:
            if bl <= 0x14:
                cpu.set("bh", self.attr_read(bl))
        elif al == 0x08:
            cpu.set("bh", self.attr_read(0x11))
        elif al == 0x09:
            data = bytes(self.attr_read(i) for i in range(16)) + bytes([self.attr_read(0x11)])
            cpu.write(linear(cpu.get("es"), cpu.get("dx")), data)
        elif al == 0x10:                                 # one DAC register
            self.write_dac(cpu.get("bx") & 0xFF, bytes([cpu.get("dh"), cpu.get("ch"), cpu.get("cl")]))
        elif al == 0x12:                                 # a block of DAC registers
            n = cpu.get("cx")
            self.write_dac(cpu.get("bx") & 0xFF, cpu.read(linear(cpu.get("es"), cpu.get("dx")), n * 3))
        elif al == 0x15:
            r, g, b = self.read_dac(cpu.get("bx") & 0xFF, 1)
            cpu.set("dh", r)
            cpu.set("ch", g)
            cpu.set("cl", b)
        elif al == 0x17:
            n = cpu.get("cx")
            cpu.write(linear(cpu.get("es"), cpu.get("dx")), self.read_dac(cpu.get("bx") & 0xFF, n))
        elif al == 0x18:
            self.bus.io_write(PEL_MASK, 1, bl)
        elif al == 0x19:
            cpu.set("bl", self.bus.io_read(PEL_MASK, 1))
        elif al == 0x13:                                 # colour paging mode / page
            mode = self.attr_read(0x10)
            if not bl & 1:
                self.attr_write(0x10, (mode & 0x7F) | ((bh << 7) & 0x80))
            else:
                self.attr_write(0x14, (bh if mode & 0x80 else bh << 2) & 0x0F)
        elif al == 0x1A:                                 # colour page state
            mode = self.attr_read(0x10) >> 7
            page = self.attr_read(0x14) & 0x0F
            cpu.set("bl", mode)
            cpu.set("bh", page if mode & 1 else page >> 2)

    def _f12(self, cpu: BiosCpu) -> None:
        if cpu.get("bl") == 0x10:           # EGA information: colour, 256 KiB, switches
            cpu.set("bx", 0x0003)
            cpu.set("cx", rd8(cpu, BDA_SWITCHES) & 0x0F)

    def _f13(self, cpu: BiosCpu) -> None:
        mode, page, attr = cpu.get("al"), cpu.get("bh"), cpu.get("bl")
        if cpu.get("dh") == 0xFF:
            col, row = self.get_cursor(cpu, page)
        else:
            col, row = cpu.get("dl"), cpu.get("dh")
        count = cpu.get("cx")
        src = linear(cpu.get("es"), cpu.get("bp"))
        data = cpu.read(src, count * (2 if mode & 2 else 1))
        for i in range(count):
            if mode & 2:
                ch, attr = data[2 * i], data[2 * i + 1]
            else:
                ch = data[i]
            col, row = self.teletype(cpu, page, col, row, ch, attr)
        if mode & 1:
            self.set_cursor(cpu, page, col, row)

    def _f1a(self, cpu: BiosCpu) -> None:
        al = cpu.get("al")
        if al == 0x00:
            cpu.set("bx", 0x0008)            # active display: VGA with colour monitor
            cpu.set("al", 0x1A)
        elif al == 0x01:
            cpu.set("al", 0x1A)
