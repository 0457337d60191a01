"""A widget that shows a Rich `Text` through Textual's line API.

The status line, CPU panel and profile tables change several times a second.  Returned from
`render()`, their Text went through Textual's visual pipeline (measure, wrap, style, strips)
on every repaint - about 9 ms each, a fifth of the UI's time while the guest streamed text.
Here the Text is cut into lines and turned into `Strip`s once, when it changes; repaints just
hand out the cached strips, cropped or padded to the widget's width.
"""
from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


class TextLines(Widget):
    """Shows `self.text` (no wrapping; long lines are cropped)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text()
        self._strips: list[Strip] | None = None

    @property
    def text(self) -> Text:
        return self._text

    def set_text(self, text: Text) -> None:
        self._text = text
        self._strips = None
        self.refresh()

    def _build(self) -> list[Strip]:
        console = self.app.console
        strips = []
        for line in self._text.split("\n", allow_blank=True):
            segments = [s for s in line.render(console) if s.text != "\n"]
            strips.append(Strip(segments))
        return strips

    def render_line(self, y: int) -> Strip:
        if self._strips is None:
            self._strips = self._build()
        width = self.size.width
        if 0 <= y < len(self._strips):
            return self._strips[y].crop_extend(0, width, None)
        return Strip([Segment(" " * width)], width)

    def render(self) -> Text:
        """The whole Text (what tests read; the compositor uses render_line)."""
        return self._text

    def plain_lines(self) -> list[str]:
        return self._text.plain.split("\n")
