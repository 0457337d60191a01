"""The interrupt-path view (Shift+F9): every IRQ line, the stage a raised interrupt stops at
(8259 mask / EOI, I/O APIC entry, local APIC TPR / EOI, EFLAGS.IF, the IDT gate) or the handler
it reaches, and the stages of the selected line in words.

emu/irqpath.py does the walk on the emulator thread; the rows come with the CPU view while
this screen is open (the same pattern as the tables view, tui/tables.py) and follow the guest
live, 4 times a second while it runs.  `bareflow-emu explain IMAGE --irq N|all` prints the same.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

COLUMNS = ("line", "device", "route", "vector", "stops at / delivered to")


class IrqScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    IrqScreen { align: center middle; }
    IrqScreen > #irq-box { width: 95%; height: 92%; border: round $accent; background: $surface; }
    IrqScreen #irq-table { height: auto; max-height: 26; }
    IrqScreen #irq-scroll { height: 1fr; border-top: solid $accent; }
    """

    def __init__(self, session, cpu_view) -> None:
        """`session`: the SessionClient (asked to walk the IRQ lines into each CPU view while
        this screen is open); `cpu_view()`: the latest CpuView the session published."""
        super().__init__()
        self.session = session
        self.cpu_view = cpu_view
        self._rows: list[dict] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="irq-box"):
            yield Label("[b]Interrupt path[/b]  where a raised IRQ stops now; Up/Down: a line's stages "
                        "(Esc: close; `bareflow-emu explain --irq N` prints the same)")
            yield DataTable(id="irq-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="irq-scroll"):
                yield Static("reading the interrupt path ...", id="irq-detail", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.session.set_irqs(True)
        self.set_interval(0.25, self.refresh_rows)

    def on_unmount(self) -> None:
        self.session.set_irqs(False)

    def refresh_rows(self) -> None:
        view = self.cpu_view()
        rows = list(getattr(view, "irqs", None) or []) if view is not None else []
        if not rows or rows == self._rows:
            return
        table = self.query_one(DataTable)
        keep = table.cursor_row
        if [r["line"] for r in rows] != [r["line"] for r in self._rows]:
            table.clear()
            for r in rows:
                table.add_row(*self._cells(r), key=r["line"])
        else:
            for r in rows:
                for col, cell in zip(table.columns, self._cells(r)):
                    table.update_cell(r["line"], col, cell)
        self._rows = rows
        table.move_cursor(row=min(keep, len(rows) - 1))
        self._show(table.cursor_row)

    @staticmethod
    def _cells(r: dict) -> tuple[str, ...]:
        where = ("STOP " if r["state"] == "stops" else "") + r["where"]
        return r["line"], r["device"], r["route"], r["vector"], where

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _show(self, index: int) -> None:
        if 0 <= index < len(self._rows):
            self.query_one("#irq-detail", Static).update(self._rows[index]["detail"])

    def body(self) -> str:
        """The selected line's answer and stages (what the tests read)."""
        return str(self.query_one("#irq-detail", Static).render())
