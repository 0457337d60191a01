"""The page-walk view (Shift+F7): how the guest's page tables translate one linear address.

Type an address (hex, 0x optional, or a symbol) and Enter; empty shows CR2 (the last page
fault's address) or, before any fault, the instruction pointer.  The walk is done on the
emulator thread by emu/page_walk.py (`view_text`: each level, PDPTE/PDE/PTE, with its physical
address, raw value and flags in words, the physical address or the level where it stops, and
which of a kernel/user read/write the tables allow) and comes with the CPU view while this
screen is open, so it follows the guest live (4 times a second while it runs).
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, Static

from .live_text import LiveTextScreen


def _normalise(text: str) -> str:
    """The TUI's address convention (hex with 0x optional, #decimal) to what emu/page_walk takes."""
    t = text.strip()
    if not t:
        return ""
    if t.startswith("#") and t[1:].isdigit():
        return t[1:]
    if t.lower().startswith("0x"):
        return t
    try:
        int(t, 16)
    except ValueError:
        return t                  # a symbol
    return "0x" + t


class PageWalkScreen(LiveTextScreen):
    FIELD, TEXT_ID = "walk", "walk-text"
    BINDINGS = [Binding("escape", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    PageWalkScreen { align: center middle; }
    PageWalkScreen > #walk-box { width: 95%; height: 90%; border: round $accent; background: $surface; }
    PageWalkScreen #walk-scroll { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="walk-box"):
            yield Label("[b]Page walk[/b]  through the guest's page tables now  (Enter: walk; empty = CR2 or EIP; "
                        "Esc: close)")
            yield Input(placeholder="address (hex, 0x optional, #decimal) or symbol", id="walk-addr")
            with VerticalScroll(id="walk-scroll"):
                yield Static("walking ...", id="walk-text", markup=False)

    def start(self) -> None:
        self.session.set_walk("")
        self.query_one("#walk-addr", Input).focus()

    def stop(self) -> None:
        self.session.set_walk(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.session.set_walk(_normalise(event.value))
