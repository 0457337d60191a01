"""The framebuffer frame: what the VGA shows in a graphics mode, as one typed message.

A small piece on its own so the session layer (emulator process -> UI) can carry it as it is:
`FramebufferFrame` is plain data (mode, width, height, 256-entry RGB palette, one palette
index per pixel), and `FramebufferWatch.poll(machine)` gives a new frame only when the picture
changed (or `TEXT` when the VGA went back to a text mode, which the UI draws from the 4000
screen bytes as before).  Change detection is cheap: the VGA's register generation plus a
CRC of video memory and the DAC (a guest in mode 13h writes vram directly, without telling
the device), and the picture is rendered only when that key moved.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

#: poll() result meaning "the VGA is in a text mode now"
TEXT = "text"


@dataclass(frozen=True)
class FramebufferFrame:
    mode: str                 # "320x200x256", "640x480x16", ...
    width: int
    height: int
    palette: bytes            # 768 bytes: 256 x (R, G, B), 8 bits each
    pixels: bytes             # width * height palette indexes, row-major
    seq: int = 0              # increases with every new frame of a session

    @classmethod
    def from_render(cls, frame: Any, seq: int) -> "FramebufferFrame":
        return cls(frame.mode, frame.width, frame.height, bytes(frame.palette), bytes(frame.pixels), seq)


class FramebufferWatch:
    """Turns a machine (with `vga` and `screen_frame()`) into frames, only when changed."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self.seq = 0
        self.frame: FramebufferFrame | None = None

    def poll(self, machine: Any) -> FramebufferFrame | str | None:
        """A new FramebufferFrame, TEXT (switched to text), or None (nothing new)."""
        published = getattr(machine, "framebuffer_state", None)
        if published is not None:                      # the UI side of a session
            seq, item = published
            if seq == self.seq:
                return None
            self.seq = seq
            self.frame = item if isinstance(item, FramebufferFrame) else None
            return item
        vga = getattr(machine, "vga", None)
        if vga is None or not hasattr(vga, "graphics"):
            return None
        if not vga.graphics():
            if self.frame is not None or self._key != TEXT:
                self.frame, self._key = None, TEXT
                return TEXT
            return None
        key = (vga.generation, zlib.crc32(vga.mem.vram), zlib.crc32(bytes(vga.dac)),
               zlib.crc32(bytes(vga.cr) + bytes(vga.ar) + bytes(vga.gr) + bytes(vga.sr)))
        if key == self._key:
            return None
        self._key = key
        rendered = machine.screen_frame()
        if rendered.kind != "graphics":
            return None
        self.seq += 1
        self.frame = FramebufferFrame.from_render(rendered, self.seq)
        return self.frame
