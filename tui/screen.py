"""The guest's 80x25 VGA text screen as a Textual widget.

Text mode memory is 80x25 cells of (code point, attribute) at 0xB8000.  The attribute is
low nibble = foreground, bits 4-6 = background, bit 7 = blink (the BIOS default: the attribute
controller's blink-enable bit set, so only 8 background colours).  Colours are the CGA/EGA
16-colour palette (brown is #AA5500, not dark yellow, as every real adapter shows it), glyphs
are code page 437.

Drawing uses the line API: one cached `Strip` per row, rebuilt only when the row's 160 bytes
(or the cursor/blink phase on it) changed since the last frame, as run-length segments.  That
keeps a full-screen update to a few milliseconds, so the UI can poll at 30 Hz without taking
time from the emulator thread.

In a graphics mode the same widget (it keeps the keyboard focus) draws the picture instead:
`set_graphics(frame)` switches to half-block cells (tui/graphics.py), `set_graphics(None)`
back to text.
"""
from __future__ import annotations

import time

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from bareflow.emu.session.framebuffer import FramebufferFrame
from .graphics import GraphicsPicture
from .keymap import key_scancodes

COLS, ROWS = 80, 25
SCREEN_BYTES = COLS * ROWS * 2
#: After this long without a key or a change on the screen the blinking (cursor and blink
#: attribute) rests in its visible phase, as terminals stop blinking their cursor after a while
#: (GTK's cursor-blink-timeout is 10 s): a guest idling at its prompt then costs the UI no
#: redraw at all (issue 11).  The next key or screen change starts it again.
BLINK_IDLE_S = 10.0

#: CGA 16-colour palette (RGBI, with the brown fix on colour 6)
CGA_PALETTE = (
    "#000000", "#0000AA", "#00AA00", "#00AAAA", "#AA0000", "#AA00AA", "#AA5500", "#AAAAAA",
    "#555555", "#5555FF", "#55FF55", "#55FFFF", "#FF5555", "#FF55FF", "#FFFF55", "#FFFFFF",
)

# Code page 437: the control range shows the IBM PC glyphs, 0x7F is the house (one table, shared).
from bareflow.devices.base.cp437 import CP437  # noqa: E402


def _build_styles(blink_phase_on: bool) -> list[Style]:
    """Style for each attribute byte; blinking cells hide their glyph in the off phase."""
    styles = []
    for attr in range(256):
        fg = CGA_PALETTE[attr & 0x0F]
        bg = CGA_PALETTE[(attr >> 4) & 0x07]
        if attr & 0x80 and not blink_phase_on:
            fg = bg
        styles.append(Style(color=fg, bgcolor=bg))
    return styles


_STYLES_ON = _build_styles(True)
_STYLES_OFF = _build_styles(False)
_CURSOR_STYLES = [s + Style(reverse=True) for s in _STYLES_ON]


class VgaScreen(Widget, can_focus=True):
    """80x25 text screen; keys typed while it has focus go to the guest's PS/2 keyboard."""

    DEFAULT_CSS = """
    VgaScreen {
        width: 80;
        height: 25;
        background: #000000;
    }
    """

    class Scancodes(Message):
        """Set-1 make/break codes for the guest keyboard (posted on each key press)."""

        def __init__(self, codes: list[int]) -> None:
            self.codes = codes
            super().__init__()

    class Pasted(Message):
        """Text pasted on the screen, to be typed on the guest keyboard."""

        def __init__(self, text: str) -> None:
            self.text = text
            super().__init__()

    def __init__(self, *, blink: bool = True, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._data = bytes(SCREEN_BYTES)
        self._cursor: tuple[int, int, bool] = (0, 0, False)
        self._strips: list[Strip | None] = [None] * ROWS
        #: blink animation on (the app); tests turn it off for deterministic snapshots
        self.blink = blink
        self._char_phase_on = True
        self._cursor_phase_on = True
        self._blink_rows: set[int] = set()
        self._ticks = 0
        self._last_activity = time.monotonic()
        #: the blink timer (start_blinking) and whether it is paused while the blinking rests
        self._blink_timer = None
        self._blink_resting = False
        self.picture = GraphicsPicture()

    @property
    def graphics(self) -> FramebufferFrame | None:
        """The graphics frame shown, or None in text mode."""
        return self.picture.frame

    def set_graphics(self, frame: FramebufferFrame | None) -> None:
        """Show a graphics frame (half-block cells), or None to go back to the text screen."""
        if frame is self.picture.frame:
            return
        self.picture.set_frame(frame)
        self._strips = [None] * ROWS
        if frame is None:
            self._touch()       # back to text: the cursor blinks again
        if self.is_mounted:
            self.refresh()

    # --- content ------------------------------------------------------------------------
    @property
    def data(self) -> bytes:
        return self._data

    def text(self) -> list[str]:
        """The screen as 25 strings of 80 characters (what a learner would read)."""
        d = self._data
        return ["".join(CP437[d[(y * COLS + x) * 2]] for x in range(COLS)) for y in range(ROWS)]

    def update_frame(self, data: bytes, cursor: tuple[int, int, bool]) -> int:
        """Take a new 4000-byte frame and cursor; refresh only rows that changed.  Returns
        the number of rows redrawn (the frame diff the docs' refresh figure counts)."""
        data = bytes(data[:SCREEN_BYTES]).ljust(SCREEN_BYTES, b"\0")
        old, self._data = self._data, data
        dirty: set[int] = set()
        if old != data:
            for y in range(ROWS):
                a, b = y * COLS * 2, (y + 1) * COLS * 2
                if old[a:b] != data[a:b]:
                    dirty.add(y)
                    if any(data[i] & 0x80 for i in range(a + 1, b, 2)):
                        self._blink_rows.add(y)
                    else:
                        self._blink_rows.discard(y)
        if cursor != self._cursor:
            dirty.add(self._cursor[0])
            dirty.add(cursor[0])
            self._cursor = cursor
        if dirty:
            self._touch()
        self._invalidate(dirty)
        return len(dirty)

    def start_blinking(self, every: float) -> None:
        """Blink on a timer of this widget, every `every` seconds (the app's BLINK_TICK_S)."""
        self._blink_timer = self.set_interval(every, self.tick_blink)

    def _touch(self) -> None:
        """A key or a change on the screen: blinking goes on (again) from now."""
        self._last_activity = time.monotonic()
        timer = self._blink_timer
        if timer is not None and self._blink_resting:
            self._blink_resting = False
            timer.reset()       # restarts it, a full period from now

    def tick_blink(self) -> None:
        if self.picture.frame is not None or (time.monotonic() - self._last_activity > BLINK_IDLE_S
                                              and self._cursor_phase_on and self._char_phase_on):
            # a graphics mode (nothing blinks), or resting, visible, until the next key or
            # screen change: the timer sleeps too, so a still screen costs no wake-up (issue 11)
            if self._blink_timer is not None:
                self._blink_resting = True
                self._blink_timer.pause()
            return
        self._tick_blink()

    def _tick_blink(self) -> None:
        """Advance the blink clock by one cursor half-period.  The app calls this every
        8/70 s: in 70 Hz text mode the VGA toggles the cursor every 8 frames and blinking
        characters every 16 frames, i.e. every second tick."""
        if not self.blink:
            return
        self._ticks += 1
        self._cursor_phase_on = not self._cursor_phase_on
        dirty = {self._cursor[0]}
        if self._ticks % 2 == 0:
            self._char_phase_on = not self._char_phase_on
            dirty |= self._blink_rows
        self._invalidate(dirty)

    def _invalidate(self, rows: set[int]) -> None:
        for y in rows:
            if 0 <= y < ROWS:
                self._strips[y] = None
                if self.is_mounted:
                    self.refresh(Region(0, y, COLS, 1))

    # --- drawing ------------------------------------------------------------------------
    def get_content_width(self, container: Size, viewport: Size) -> int:
        return COLS

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return ROWS

    def _build_row(self, y: int) -> Strip:
        d = self._data
        styles = _STYLES_ON if (self._char_phase_on or not self.blink) else _STYLES_OFF
        row, col, visible = self._cursor
        cursor_x = col if (visible and row == y and self._cursor_phase_on and 0 <= col < COLS) else -1
        segments: list[Segment] = []
        base = y * COLS * 2
        run: list[str] = []
        run_style: Style | None = None
        for x in range(COLS):
            ch = CP437[d[base + 2 * x]]
            attr = d[base + 2 * x + 1]
            style = _CURSOR_STYLES[attr] if x == cursor_x else styles[attr]
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(ch)
        if run:
            segments.append(Segment("".join(run), run_style))
        return Strip(segments, COLS)

    def render_line(self, y: int) -> Strip:
        if not 0 <= y < ROWS:
            return Strip.blank(self.size.width)
        if self.picture.frame is not None:
            return self.picture.strip(y, COLS, ROWS)
        strip = self._strips[y]
        if strip is None:
            strip = self._strips[y] = self._build_row(y)
        return strip

    # --- input --------------------------------------------------------------------------
    def on_key(self, event: events.Key) -> None:
        self._touch()
        codes = key_scancodes(event.key, event.character)
        if codes is None:
            return
        event.stop()
        event.prevent_default()
        self.post_message(self.Scancodes(codes))

    def on_paste(self, event: events.Paste) -> None:
        self._touch()
        event.stop()
        self.post_message(self.Pasted(event.text))
