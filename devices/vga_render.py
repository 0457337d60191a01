"""The VGA picture, as QEMU's stdvga draws it (vga_draw_text / vga_draw_graphic), and PNG.

`render(vga, text_mem)` gives a `Frame`: palette indexes (one byte a pixel) plus a 256-entry
RGB palette already converted from the DAC's 6-bit values the way QEMU does (`c6_to_8`:
v<<2 | (v&1)<<1 | (v&1)).  Frames are at the mode's *native* size: 320x200 for mode 13h
(QEMU's window shows it doubled, 640x400: its 256-colour path draws each byte twice and
scans each line twice), 640x480 for mode 12h, 720x400 for 80x25 text (9-dot cells, 16 lines).
`Frame.scale` says how QEMU's surface relates (2, 2 for mode 13h), so a screendump can be
compared pixel for pixel after scaling.

Graphics follow QEMU's line loop: start address (CR0C/0D) and line offset (CR13 * 8 vram
bytes), the scan-line repeat (CR09 bits 0-4 and double scan bit 7), CRTC mode CR17 bits 0-1
(CGA/Hercules address wrap) and line compare.  The 16-colour path (GR05 shift 0) reads four
planes through the colour plane enable (AR12) and maps each 4-bit value through the attribute
palette (AR00-0F, AR10 bit 7 and AR14 colour select) to a DAC entry; the 256-colour path
(GR05 bit 6) maps bytes straight to DAC entries.  Neither applies the PEL mask (QEMU does not).
Text uses the font in plane 2 (SR03 character map A/B), 9-dot cells with the line-graphics
duplication of column 8 for characters B0h-DFh (AR10 bit 2), background = attribute bits 4-7
(QEMU 7.2 does not blink), and the cursor from CR0A/0B/0E/0F (drawn, as in QEMU's "on" phase).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """A picture: `pixels` (height*width palette indexes, row-major) and `palette` (768 RGB)."""

    kind: str              # "text", "graphics" or "blank"
    width: int
    height: int
    pixels: bytes
    palette: bytes
    scale: tuple[int, int] = (1, 1)   # QEMU's surface = (width * sx, height * sy)
    mode: str = ""                   # e.g. "320x200x256", "640x480x16", "80x25 text"

    def rgb(self) -> np.ndarray:
        """(height, width, 3) uint8 array of the picture's colours."""
        pal = np.frombuffer(self.palette, dtype=np.uint8).reshape(256, 3)
        idx = np.frombuffer(self.pixels, dtype=np.uint8).reshape(self.height, self.width)
        return pal[idx]


def c6_to_8(v: np.ndarray | int):
    v = v & 0x3F
    b = v & 1
    return (v << 2) | (b << 1) | b


def dac_rgb(dac: bytes) -> bytes:
    """The 256 DAC entries as 8-bit RGB, as QEMU converts them."""
    a = np.frombuffer(bytes(dac), dtype=np.uint8).astype(np.int32)
    return c6_to_8(a).astype(np.uint8).tobytes()


def palette16(vga) -> bytes:
    """The 16 colours of the 4-bit modes (QEMU update_palette16), padded to 256 entries."""
    dac = dac_rgb(vga.dac)
    out = bytearray(768)
    for i in range(16):
        v = vga.ar[i]
        if vga.ar[0x10] & 0x80:
            v = ((vga.ar[0x14] & 0x0F) << 4) | (v & 0x0F)
        else:
            v = ((vga.ar[0x14] & 0x0C) << 4) | (v & 0x3F)
        out[3 * i:3 * i + 3] = dac[3 * v:3 * v + 3]
    return bytes(out)


def _start_offset_compare(vga) -> tuple[int, int, int]:
    cr = vga.cr
    line_offset = cr[0x13] << 3
    start = (cr[0x0C] << 8) | cr[0x0D]
    compare = cr[0x18] | ((cr[0x07] & 0x10) << 4) | ((cr[0x09] & 0x40) << 3)
    return start, line_offset, compare


def _display_height(cr) -> int:
    return (cr[0x12] | ((cr[0x07] & 0x02) << 7) | ((cr[0x07] & 0x40) << 3)) + 1


def render(vga, text_mem: bytes | None = None) -> Frame:
    """The current picture.  `text_mem` is the text window from B8000 (RAM owned by the
    machine) for text modes; graphics come from the planes."""
    if not vga.ar_index & 0x20:
        return Frame("blank", 0, 0, b"", bytes(768), mode="blank (palette address source off)")
    if vga.graphics():
        return _render_graphics(vga)
    return _render_text(vga, text_mem or bytes(0x8000))


def _line_addresses(vga, height: int, multi_scan: int, step_lines: int) -> list[int]:
    """vram byte address of each *source* line (QEMU's addr1 loop, one entry per
    `step_lines` display lines)."""
    start, line_offset, compare = _start_offset_compare(vga)
    cr17 = vga.cr[0x17]
    addr1 = start * 4
    y1 = 0
    multi_run = multi_scan
    out = []
    for y in range(height):
        addr = addr1
        if not cr17 & 1:
            shift = 14 + ((cr17 >> 6) & 1)
            addr = (addr & ~(1 << shift)) | ((y1 & 1) << shift)
        if not cr17 & 2:
            addr = (addr & ~0x8000) | ((y1 & 2) << 14)
        if y % step_lines == 0:
            out.append(addr)
        if not multi_run:
            mask = (cr17 & 3) ^ 3
            if (y1 & mask) == mask:
                addr1 += line_offset
            y1 += 1
            multi_run = multi_scan
        else:
            multi_run -= 1
        if y == compare:
            addr1 = 0
    return out


def _render_graphics(vga) -> Frame:
    cr, vram = vga.cr, vga.mem.vram
    shift = (vga.gr[5] >> 5) & 3
    width = (cr[0x01] + 1) * 8
    height = _display_height(cr)
    double_scan = cr[0x09] >> 7
    multi_scan = (((cr[0x09] & 0x1F) + 1) << double_scan) - 1 if shift != 1 else double_scan
    step = multi_scan + 1 if height % (multi_scan + 1) == 0 else 1
    lines = _line_addresses(vga, height, multi_scan, step)
    v = np.frombuffer(bytes(vram) + bytes(4096), dtype=np.uint8)
    if shift >= 2:                                     # 256 colours: one byte a pixel (8D2)
        n = width // 2
        idx = np.array(lines, dtype=np.int64)[:, None] + np.arange(n)[None, :]
        pix = v[idx % len(vram)]
        return Frame("graphics", n, len(lines), pix.tobytes(), dac_rgb(vga.dac), (2, step),
                     f"{n}x{len(lines)}x256")
    if shift == 1:                                     # CGA 2-bit shift modes: not drawn
        return Frame("blank", 0, 0, b"", bytes(768), mode="CGA shift mode (not drawn)")
    # 16 colours, planar: 8 pixels per 32-bit word, plane p gives bit p of the colour
    words = width // 8
    idx = np.array(lines, dtype=np.int64)[:, None] + 4 * np.arange(words)[None, :]
    planes = np.stack([v[(idx + p) % len(vram)] for p in range(4)], axis=-1)  # (h, words, 4)
    planes &= np.array([0xFF if vga.ar[0x12] >> p & 1 else 0 for p in range(4)], dtype=np.uint8)
    bits = np.unpackbits(planes[..., None], axis=-1)  # (h, words, 4, 8) msb first
    colour = (bits[:, :, 0] | (bits[:, :, 1] << 1) | (bits[:, :, 2] << 2) | (bits[:, :, 3] << 3))
    pix = colour.reshape(len(lines), words * 8).astype(np.uint8)
    if vga.sr[1] & 0x08:                               # half dot clock: QEMU doubles (4D2)
        return Frame("graphics", width, len(lines), pix.tobytes(), palette16(vga), (2, step),
                     f"{width}x{len(lines)}x16")
    return Frame("graphics", width, len(lines), pix.tobytes(), palette16(vga), (1, step),
                 f"{width}x{len(lines)}x16")


_GLYPH_BITS: dict[bytes, np.ndarray] = {}


def _text_geometry(vga) -> tuple[int, int, int, int]:
    cr = vga.cr
    cheight = (cr[0x09] & 0x1F) + 1
    cwidth = 8 if vga.sr[1] & 0x01 else 9
    if vga.sr[1] & 0x08:
        cwidth = 16
    cols = cr[0x01] + 1
    rows = _display_height(cr) // cheight
    return cols, rows, cwidth, cheight


def _render_text(vga, text_mem: bytes) -> Frame:
    cols, rows, cw, ch = _text_geometry(vga)
    start, line_offset, compare = _start_offset_compare(vga)
    vram = vga.mem.vram
    sr3 = vga.sr[3]
    fonts = []
    for sel in ((sr3 >> 4 & 1) | (sr3 << 1 & 6), (sr3 >> 5 & 1) | (sr3 >> 1 & 6)):
        base = sel * 8192 * 4 + 2
        fonts.append(np.frombuffer(bytes(vram[base:base + 256 * 32 * 4:4]), dtype=np.uint8)
                     .reshape(256, 32))
    mem = np.frombuffer(bytes(text_mem) + bytes(0x10000), dtype=np.uint8)
    # text RAM holds (char, attr) pairs: VGA address a is RAM byte 2a
    stride = line_offset // 2
    cells = np.zeros((rows, cols), dtype=np.int64)
    off = start * 2
    line = 0
    for r in range(rows):
        cells[r] = off + 2 * np.arange(cols)
        nxt = line + ch
        off += stride
        if line < compare <= nxt:
            off = 0
        line = nxt
    chars = mem[cells % 0x8000]
    attrs = mem[cells % 0x8000 + 1]
    pal = palette16(vga)
    glyph = np.where(((attrs >> 3) & 1)[..., None] == 1,
                     fonts[1][chars][..., :ch], fonts[0][chars][..., :ch])  # (rows, cols, ch)
    bits = np.unpackbits(glyph[..., None], axis=-1)                      # (rows, cols, ch, 8)
    if cw == 9:
        dup = ((chars >= 0xB0) & (chars <= 0xDF) & bool(vga.ar[0x10] & 0x04))
        ninth = np.where(dup[..., None], bits[..., 7], 0)
        bits = np.concatenate([bits, ninth[..., None]], axis=-1)
    elif cw == 16:
        bits = np.repeat(bits, 2, axis=-1)
    row, col, visible, cstart, cend = vga.cursor()
    fg = (attrs & 0x0F)[..., None, None]
    bg = (attrs >> 4)[..., None, None]
    pix = np.where(bits == 1, fg, bg).astype(np.uint8)
    if visible and 0 <= row < rows and 0 <= col < cols:
        last = min(cend, ch - 1)
        if last >= cstart and cstart < ch:
            pix[row, col, cstart:last + 1, :] = fg[row, col]
    pix = pix.transpose(0, 2, 1, 3).reshape(rows * ch, cols * cw)
    return Frame("text", cols * cw, rows * ch, pix.tobytes(), pal, (1, 1), f"{cols}x{rows} text")


# -- PNG (RGB, 8 bits, no interlace: zlib + struct, no image library needed) ------------------
def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bytes(frame: Frame) -> bytes:
    """The frame as a PNG file (colour type 2, filter 0 on every row)."""
    rgb = frame.rgb()
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(frame.height))
    ihdr = struct.pack(">IIBBBBB", frame.width, frame.height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def read_png_rgb(data: bytes) -> tuple[int, int, bytes]:
    """Decode what `png_bytes` writes (RGB8, filter 0/None-only rows): (width, height, rgb)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if (depth, ctype) != (8, 2):
                raise ValueError("only 8-bit RGB PNGs are read")
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    rows = [raw[y * (3 * w + 1) + 1:(y + 1) * (3 * w + 1)] for y in range(h)]
    if any(raw[y * (3 * w + 1)] != 0 for y in range(h)):
        raise ValueError("only filter type 0 is read")
    return w, h, b"".join(rows)
