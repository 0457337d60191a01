"""The descriptor tables view (Shift+F4): GDT/LDT, IDT and TSS decoded in words, as Bochs's
`info gdt`, `info idt` and `info tss` print them (emu/tables.py does the decoding, on the
emulator thread; the text comes with the CPU view while this screen is open and follows the
guest live, 4 times a second while it runs)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from .live_text import LiveTextScreen


class TablesScreen(LiveTextScreen):
    FIELD, TEXT_ID = "tables", "tables-text"
    BINDINGS = [Binding("escape,q", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    TablesScreen { align: center middle; }
    TablesScreen > #tables-box { width: 95%; height: 90%; border: round $accent; background: $surface; }
    TablesScreen #tables-scroll { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="tables-box"):
            yield Label("[b]Descriptor tables[/b]  GDT / LDT / IDT / TSS as the CPU sees them now "
                        "(Esc: close; `bareflow-emu explain --tables` prints the same)")
            with VerticalScroll(id="tables-scroll"):
                yield Static("reading the tables ...", id="tables-text", markup=False)

    def start(self) -> None:
        self.session.set_tables(True)

    def stop(self) -> None:
        self.session.set_tables(False)
