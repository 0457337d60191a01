"""The COM1 log: everything the guest wrote to its serial port, with scrollback, and a way
to type back into it.

The guest writes bytes, not lines, and mixes CR LF, lone CR and partial lines (its `> `
prompt has no newline), so `SerialText` turns the byte stream into text incrementally (a CR
LF split across two polls is still one line break).  While the log has focus, typed keys go to
COM1 as the bytes a terminal would send (Enter = LF, like a pipe or a cooked tty feeding
`bareflow-emu run`; Backspace = DEL; arrows = ANSI escapes); Page Up/Down scroll the log.
Long lines wrap at the box's width, as a terminal would show them.
"""
from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import Log

_ANSI_KEYS = {
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "delete": b"\x1b[3~", "insert": b"\x1b[2~",
}
_CONTROL_KEYS = {"enter": b"\n", "tab": b"\t", "backspace": b"\x7f", "escape": b"\x1b"}


def key_bytes(key: str, character: str | None) -> bytes | None:
    """The bytes a terminal sends for a key, or None for keys that stay in the UI."""
    if key in _CONTROL_KEYS:
        return _CONTROL_KEYS[key]
    if key in _ANSI_KEYS:
        return _ANSI_KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6 and "a" <= key[5] <= "z":
        return bytes([ord(key[5]) - 0x60])
    if character is not None and len(character) == 1 and (" " <= character <= "~"):
        return character.encode("ascii")
    return None


class SerialText:
    """Incremental COM1 bytes -> text: CR LF and lone LF end a line, lone CR is dropped,
    other control bytes are dropped, tabs expand to 8-column stops, bytes >= 0x80 are shown as
    code page 437, and lines wrap at `wrap` columns like a terminal's (0 = no wrap)."""

    def __init__(self, wrap: int = 0) -> None:
        self._pending_cr = False
        self.wrap = wrap
        self._col = 0

    def _put(self, out: list[str], ch: str) -> None:
        if self.wrap and self._col >= self.wrap:
            out.append("\n")
            self._col = 0
        out.append(ch)
        self._col += 1

    def feed(self, data: bytes) -> str:
        out: list[str] = []
        for b in data:
            if self._pending_cr:
                self._pending_cr = False
                if b == 0x0A:
                    out.append("\n")
                    self._col = 0
                    continue
            if b == 0x0D:
                self._pending_cr = True
            elif b == 0x0A:
                out.append("\n")
                self._col = 0
            elif b == 0x09:
                for _ in range(8 - self._col % 8):
                    self._put(out, " ")
            elif 0x20 <= b < 0x7F:
                self._put(out, chr(b))
            elif b >= 0x80:
                self._put(out, bytes([b]).decode("cp437"))
        return "".join(out)


class LineSplitter:
    """Complete lines of guest output, for the parsers that read `[jit]`/`[stats]` lines."""

    def __init__(self) -> None:
        self._partial = ""

    def feed(self, text: str) -> list[str]:
        text = self._partial + text
        *lines, self._partial = text.split("\n")
        return lines

    @property
    def partial(self) -> str:
        return self._partial


class SerialLog(Log):
    """Scrollback of COM1 output; keys typed while focused are sent to COM1."""

    DEFAULT_CSS = """
    SerialLog {
        height: 1fr;
    }
    """

    class Typed(Message):
        """Bytes the user typed into the log, for the guest's COM1 receiver."""

        def __init__(self, data: bytes) -> None:
            self.data = data
            super().__init__()

    #: lines wrap here (the 80-column box less its scrollbar): the log never grows wider, so
    #: appending to a line does not change its virtual size, which would re-run the screen's
    #: layout (measured: one reflow per token while the guest streams its reply)
    WRAP = 78

    def __init__(self, *, max_lines: int = 5000, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(max_lines=max_lines, id=id, classes=classes, auto_scroll=True)
        self._decoder = SerialText(wrap=self.WRAP)
        self.can_focus = True

    def feed(self, data: bytes) -> None:
        """Append raw COM1 bytes (UI thread only: `Log` is not thread-safe)."""
        text = self._decoder.feed(data)
        if text:
            self.write(text)

    def on_key(self, event: events.Key) -> None:
        data = key_bytes(event.key, event.character)
        if data is None:
            return
        event.stop()
        event.prevent_default()
        self.post_message(self.Typed(data))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        data = event.text.replace("\r\n", "\n").encode("ascii", "replace")
        self.post_message(self.Typed(data))
