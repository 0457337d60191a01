"""A graphics-mode picture in terminal cells: each cell is '▀' with the upper pixel as the
foreground colour and the lower pixel as the background, in true colour, so a pane of C x R
cells shows C x 2R pixels.  The picture is scaled to fit the pane (aspect kept) by averaging
the source pixels each terminal pixel covers (area sampling: thin lines stay visible as
blended colour instead of vanishing between sampled pixels).
"""
from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from .fb_frame import FramebufferFrame

HALF = "▀"


def _edges(n_src: int, n_dst: int) -> np.ndarray:
    return (np.arange(n_dst) * n_src) // n_dst


def fit(width: int, height: int, cols: int, rows: int) -> tuple[int, int]:
    """(cells wide, cells high) the picture takes in a cols x rows pane, aspect kept
    (a terminal cell is about twice as high as wide, so one cell = 1 x 2 pixels is square)."""
    if width <= 0 or height <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    scale = min(cols / width, 2 * rows / height)
    return max(1, min(cols, round(width * scale))), max(1, min(rows, round(height * scale / 2)))


def downsample(frame: FramebufferFrame, out_w: int, out_h: int) -> np.ndarray:
    """(out_h, out_w, 3) uint8: the frame's colours averaged over each output pixel's area."""
    pal = np.frombuffer(frame.palette, dtype=np.uint8).reshape(256, 3).astype(np.uint32)
    rgb = pal[np.frombuffer(frame.pixels, dtype=np.uint8).reshape(frame.height, frame.width)]
    ys, xs = _edges(frame.height, out_h), _edges(frame.width, out_w)
    rows = np.add.reduceat(rgb, ys, axis=0)
    cells = np.add.reduceat(rows, xs, axis=1)
    ny = np.diff(np.append(ys, frame.height))
    nx = np.diff(np.append(xs, frame.width))
    return (cells / (ny[:, None, None] * nx[None, :, None])).round().astype(np.uint8)


class GraphicsPicture:
    """Builds and caches the strips of one frame at one pane size."""

    def __init__(self) -> None:
        self.frame: FramebufferFrame | None = None
        self._size: tuple[int, int] = (0, 0)
        self._strips: list[Strip] = []
        self._styles: dict[tuple[int, int, int, int, int, int], Style] = {}

    def set_frame(self, frame: FramebufferFrame | None) -> None:
        if frame is not self.frame:
            self.frame = frame
            self._strips = []

    def strip(self, y: int, cols: int, rows: int) -> Strip:
        if self.frame is None:
            return Strip.blank(cols)
        if (cols, rows) != self._size or not self._strips:
            self._size = (cols, rows)
            self._strips = self._build(cols, rows)
        return self._strips[y] if 0 <= y < len(self._strips) else Strip.blank(cols)

    def cell_colours(self, cols: int, rows: int) -> np.ndarray:
        """(rows', cols', 2, 3): upper and lower pixel colour of each drawn cell (for tests)."""
        w, h = fit(self.frame.width, self.frame.height, cols, rows)
        px = downsample(self.frame, w, 2 * h)
        return px.reshape(h, 2, w, 3).transpose(0, 2, 1, 3)

    def _style(self, top, bottom) -> Style:
        key = (*top, *bottom)
        st = self._styles.get(key)
        if st is None:
            if len(self._styles) > 65536:
                self._styles.clear()
            st = self._styles[key] = Style(color=f"#{top[0]:02x}{top[1]:02x}{top[2]:02x}",
                                           bgcolor=f"#{bottom[0]:02x}{bottom[1]:02x}{bottom[2]:02x}")
        return st

    def _build(self, cols: int, rows: int) -> list[Strip]:
        w, h = fit(self.frame.width, self.frame.height, cols, rows)
        cells = self.cell_colours(cols, rows).tolist()
        left = (cols - w) // 2
        top_pad = (rows - h) // 2
        pad = Style(bgcolor="#000000")
        strips = [Strip.blank(cols, pad)] * top_pad
        for row in cells:
            segs = [Segment(" " * left, pad)] if left else []
            run_style, n = None, 0
            for upper, lower in row:
                st = self._style(tuple(upper), tuple(lower))
                if st is not run_style and n:
                    segs.append(Segment(HALF * n, run_style))
                    n = 0
                run_style = st
                n += 1
            if n:
                segs.append(Segment(HALF * n, run_style))
            if cols - left - w:
                segs.append(Segment(" " * (cols - left - w), pad))
            strips.append(Strip(segs, cols))
        strips += [Strip.blank(cols, pad)] * (rows - len(strips))
        return strips
