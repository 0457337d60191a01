"""INT 10h graphics: mode set for 12h (640x480x16, planar) and 13h (320x200x256, chain 4),
AH=0Ch / 0Dh (write / read one pixel) and text drawn in those modes (characters, scrolling),
as SeaBIOS's VGA BIOS does them (vgasrc/stdvgamodes.c, vgafb.c).

The register tables are SeaVGABIOS's (vgasrc/stdvgamodes.c; QEMU 7.2 runs that BIOS), loaded
in its order through the ports; the DAC gets the mode's palette (64 EGA colours for 12h, the
256-colour default for 13h, the rest black) unless BDA 0x489 bit 3 says not to; then the
64 KiB window is cleared through the VGA's own memory path, as SeaBIOS's memset does.  Pixel
writes go through the same path as the guest's own accesses (planar: read the 8 pixels with
read map select, write each plane through the map mask, leave SR02 = 0Fh and GR04 = 0 as
SeaBIOS's stdvga_planar4_plane(-1) does); colour bit 7 XORs in the 16-colour mode.
"""
from __future__ import annotations

from ...devices.vga_font import PALETTE_256
from . import cost
from .frame import BiosCpu, rd8, rd16, wr8, wr16


def ega_palette() -> bytes:
    """The 64-entry DAC palette of the 16-colour text modes: entry bits rgbRGB, each primary
    0, 15h, 2Ah or 3Fh (the VGA BIOS's palette2).  The other 192 entries are loaded as 0."""
    out = bytearray()
    for i in range(64):
        for hi, lo in ((2, 5), (1, 4), (0, 3)):          # red, green, blue
            out.append(((i >> hi) & 1) * 0x2A + ((i >> lo) & 1) * 0x15)
    return bytes(out) + bytes(192 * 3)


#: mode -> (sequencer 01h-04h, misc, CRTC 00h-18h, attribute 00h-13h, graphics 00h-08h,
#:          (columns, rows-1, char height, page size))
GFX_MODES = {
    0x12: (bytes.fromhex("010f0006"), 0xE3,
           bytes.fromhex("5f4f50825480 0b3e 0040000000000000 ea8cdf2800e704e3 ff".replace(" ", "")),
           bytes.fromhex("000102030405140738393a3b3c3d3e3f 01000f00".replace(" ", "")),
           bytes.fromhex("000000000000050fff"), (80, 29, 16, 0xA000)),
    0x13: (bytes.fromhex("010f000e"), 0x63,
           bytes.fromhex("5f4f50825480bf1f 0041000000000000 9c8e8f284096b9a3 ff".replace(" ", "")),
           bytes.fromhex("000102030405060708090a0b0c0d0e0f 41000f00".replace(" ", "")),
           bytes.fromhex("000000000040050fff"), (40, 24, 8, 0x2000)),
}
BDA_MODE, BDA_COLS, BDA_PAGESIZE, BDA_PAGESTART = 0x449, 0x44A, 0x44C, 0x44E
BDA_CURSOR, BDA_CURTYPE, BDA_PAGE, BDA_CRTC = 0x450, 0x460, 0x462, 0x463
BDA_ROWS, BDA_CHARH, BDA_VCTL, BDA_SWITCHES, BDA_MODESET = 0x484, 0x485, 0x487, 0x488, 0x489
SEQ, GC, CRTC = 0x3C4, 0x3CE, 0x3D4


def _vga(bus):
    return bus.device_at(GC)


def load_registers(bus, *, misc: int, seq: bytes, crtc: bytes, attr: bytes, gc: bytes) -> None:
    """SeaBIOS stdvga_set_mode's register load, the same for every mode: attribute controller,
    sequencer (held in reset), graphics controller, CRTC (unlocked first), misc output, then
    video back on.  Charging cycles is the caller's business."""
    out, inp = bus.io_write, bus.io_read
    inp(0x3DA, 1)
    for i, v in enumerate(attr + b"\x00"):          # 00h-13h, then 14h = 0
        out(0x3C0, 1, i)
        out(0x3C0, 1, v)
    out(SEQ, 1, 0)
    out(SEQ + 1, 1, 0x03)
    for i, v in enumerate(seq, start=1):
        out(SEQ, 1, i)
        out(SEQ + 1, 1, v)
    for i, v in enumerate(gc):
        out(GC, 1, i)
        out(GC + 1, 1, v)
    out(CRTC, 1, 0x11)
    out(CRTC + 1, 1, 0x00)
    for i, v in enumerate(crtc):
        out(CRTC, 1, i)
        out(CRTC + 1, 1, v)
    out(0x3C2, 1, misc)
    out(0x3C0, 1, 0x20)                             # palette address source: video on
    inp(0x3DA, 1)


def set_graphics_mode(video, cpu: BiosCpu, mode: int, clear: bool = True) -> None:
    """SeaBIOS stdvga_set_mode + the BDA part of vgabios.c set_mode for mode 12h or 13h."""
    seq, misc, crtc, attr, gc, (cols, rows, charh, psize) = GFX_MODES[mode]
    bus = video.bus
    if not rd8(cpu, BDA_MODESET) & 0x08:
        bus.io_write(0x3C6, 1, 0xFF)
        pal = PALETTE_256 if mode == 0x13 else ega_palette()[:192]
        video.write_dac(0, pal + bytes(768 - len(pal)))
    load_registers(bus, misc=misc, seq=seq, crtc=crtc, attr=attr, gc=gc)
    video._cycles += (len(attr) + len(seq) + len(gc) + len(crtc)) * cost.CRTC_WRITE
    if clear:
        vga = _vga(bus)
        if mode == 0x13:
            vga.mem.vram[:0x10000] = bytes(0x10000)          # 64 KiB through chain 4
        else:
            vga.mem.clear_planes()                          # 64 KiB x 4 planes
        vga.generation += 1
        video._cycles += 0x8000 * cost.VIDEO_CELL // 8
    wr8(cpu, BDA_MODE, mode)
    wr16(cpu, BDA_COLS, cols)
    wr8(cpu, BDA_ROWS, rows)
    wr16(cpu, BDA_CURTYPE, 0x0000)
    wr16(cpu, BDA_PAGESIZE, psize)
    wr16(cpu, BDA_CRTC, CRTC)
    wr16(cpu, BDA_CHARH, charh)
    wr8(cpu, BDA_VCTL, 0x60 | (0 if clear else 0x80))
    wr8(cpu, BDA_SWITCHES, 0xF9)
    wr8(cpu, BDA_MODESET, rd8(cpu, BDA_MODESET) & 0x7F)
    cpu.write(BDA_CURSOR, bytes(16))
    wr16(cpu, BDA_PAGESTART, 0)
    wr8(cpu, BDA_PAGE, 0)


def _plane(bus, plane: int) -> None:
    """SeaBIOS stdvga_planar4_plane: select one plane for reads and writes (-1: all, read 0)."""
    bus.io_write(SEQ, 1, 0x02)
    bus.io_write(SEQ + 1, 1, 0x0F if plane < 0 else 1 << plane)
    bus.io_write(GC, 1, 0x04)
    bus.io_write(GC + 1, 1, 0 if plane < 0 else plane)


def _read8(bus, offset: int) -> list[int]:
    mem = _vga(bus).mem
    pixels = [0] * 8
    for p in range(4):
        _plane(bus, p)
        byte = mem.read(offset)
        for i in range(8):
            pixels[i] |= ((byte >> (7 - i)) & 1) << p
    _plane(bus, -1)
    return pixels


def _write8(bus, offset: int, pixels: list[int]) -> None:
    mem = _vga(bus).mem
    for p in range(4):
        _plane(bus, p)
        byte = 0
        for i in range(8):
            byte |= ((pixels[i] >> p) & 1) << (7 - i)
        mem.write(offset, byte)
    _plane(bus, -1)


def write_pixel(video, cpu: BiosCpu, colour: int, x: int, y: int) -> None:
    """AH=0Ch: SeaBIOS vgafb_write_pixel (modes 12h and 13h; other modes: nothing)."""
    mode = rd8(cpu, BDA_MODE)
    vga = _vga(video.bus)
    video._cycles += cost.VIDEO_CELL * 4
    if mode == 0x13:
        off = y * 320 + x
        if off < 0x10000:
            vga.mem.write(off, colour)
    elif mode == 0x12:
        off = y * 80 + (x >> 3)
        if off >= 0x10000:
            return
        pixels = _read8(video.bus, off)
        if colour & 0x80:
            pixels[x & 7] ^= colour & 0x7F
        else:
            pixels[x & 7] = colour
        _write8(video.bus, off, pixels)
    vga.generation += 1


def read_pixel(video, cpu: BiosCpu, x: int, y: int) -> int | None:
    """AH=0Dh: the colour of pixel (x, y), or None outside modes 12h/13h (AL untouched)."""
    mode = rd8(cpu, BDA_MODE)
    vga = _vga(video.bus)
    video._cycles += cost.VIDEO_CELL * 4
    if mode == 0x13:
        off = y * 320 + x
        return vga.mem.read(off) if off < 0x10000 else 0
    if mode == 0x12:
        off = y * 80 + (x >> 3)
        return _read8(video.bus, off)[x & 7] if off < 0x10000 else 0
    return None


# -- characters in graphics modes (SeaBIOS vgafb.c gfx_write_char / gfx_move_chars / gfx_clear_chars)
def is_graphics(cpu: BiosCpu) -> bool:
    return rd8(cpu, BDA_MODE) in GFX_MODES


def _geom(cpu: BiosCpu) -> tuple[int, int, int]:
    """(columns, char height, bytes per pixel line: 320 packed, 80 planar)"""
    mode = rd8(cpu, BDA_MODE)
    return rd16(cpu, BDA_COLS), rd16(cpu, BDA_CHARH) or 8, 320 if mode == 0x13 else 80


def write_char(video, cpu: BiosCpu, col: int, row: int, char: int, attr: int) -> None:
    """One character cell: font rows in colour `attr` on 0 (bit 7 XORs in 16 colours)."""
    from ...devices.vga_font import FONT_8X8, FONT_8X16
    cols, ch, line = _geom(cpu)
    if col >= cols:
        return
    font = FONT_8X8 if ch == 8 else FONT_8X16
    glyph = font[char * ch:(char + 1) * ch] if ch in (8, 16) else bytes(ch)
    mode = rd8(cpu, BDA_MODE)
    vga = _vga(video.bus)
    fg = attr & 0xFF
    usexor = mode == 0x12 and fg & 0x80
    if usexor:
        fg &= 0x7F
    for i, bits in enumerate(glyph):
        y = row * ch + i
        pixels = [fg if bits & (0x80 >> j) else 0 for j in range(8)]
        if mode == 0x13:
            off = y * line + col * 8
            if off + 8 <= 0x10000:
                for j in range(8):
                    vga.mem.write(off + j, pixels[j])
        else:
            off = y * line + col
            if off >= 0x10000:
                continue
            if usexor:
                old = _read8(video.bus, off)
                pixels = [old[j] ^ (fg if bits & (0x80 >> j) else 0) for j in range(8)]
            _write8(video.bus, off, pixels)
    vga.generation += 1
    video._cycles += cost.VIDEO_CELL * ch


def move_rows(video, cpu: BiosCpu, col: int, dst_row: int, src_row: int, w: int, h: int) -> None:
    """Character rows moved (scrolling): each pixel line of the cells, every plane."""
    cols, ch, line = _geom(cpu)
    vga = _vga(video.bus)
    vram = vga.mem.vram
    mode = rd8(cpu, BDA_MODE)
    lines = range(h * ch) if dst_row < src_row else range(h * ch - 1, -1, -1)
    for i in lines:
        if mode == 0x13:
            d, s, n = (dst_row * ch + i) * line + col * 8, (src_row * ch + i) * line + col * 8, w * 8
        else:
            d, s, n = 4 * ((dst_row * ch + i) * line + col), 4 * ((src_row * ch + i) * line + col), 4 * w
        if max(d, s) + n <= 0x40000:
            vram[d:d + n] = vram[s:s + n]
    if mode == 0x12:
        _plane(video.bus, -1)
    vga.generation += 1
    video._cycles += w * h * cost.VIDEO_MOVE * ch


def clear_cells(video, cpu: BiosCpu, col: int, row: int, w: int, h: int, attr: int) -> None:
    """A window of cells filled with colour `attr` (GO_MEMSET)."""
    cols, ch, line = _geom(cpu)
    vga = _vga(video.bus)
    vram = vga.mem.vram
    mode = rd8(cpu, BDA_MODE)
    for i in range(h * ch):
        y = row * ch + i
        if mode == 0x13:
            off = y * line + col * 8
            if off + w * 8 <= 0x10000:
                vram[off:off + w * 8] = bytes([attr & 0xFF]) * (w * 8)
        else:
            off = 4 * (y * line + col)
            if off + 4 * w <= 0x40000:
                word = bytes(0xFF if attr >> p & 1 else 0 for p in range(4))
                vram[off:off + 4 * w] = word * w
    if mode == 0x12:
        _plane(video.bus, -1)
    vga.generation += 1
    video._cycles += w * h * cost.VIDEO_CELL
