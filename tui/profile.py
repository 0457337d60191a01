"""Hot functions: the emulator's exact profile next to what the guest says about itself.

Two views of the same program.  The emulator counts every block's modelled cycles per ELF
symbol (calls, exclusive and inclusive cycles) - exact, and available for any guest.  The
TinyLlama app measures itself with RDTSC and prints, after each reply,
`[jit] NAME calls=N avg_cycles=N level=N` per profiled function (level = the tier its
self-optimiser picked) and `[stats] tokens=N cycles_per_token=N heap_peak=N`; those lines
are parsed from COM1 and the cycles-per-token figures are charted over time, so a learner
sees the tiers change and the cost per token fall.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from .textlines import TextLines

_KV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(-?\d+)")


@dataclass(frozen=True)
class JitLine:
    name: str
    calls: int
    avg_cycles: int
    level: int


@dataclass(frozen=True)
class StatsLine:
    tokens: int
    cycles_per_token: int
    heap_peak: int | None


def parse_jit(line: str) -> JitLine | None:
    """`[jit] NAME calls=N avg_cycles=N level=N` -> JitLine (None if it is not one)."""
    if not line.startswith("[jit] "):
        return None
    rest = line[6:].split()
    if not rest:
        return None
    kv = dict((k, int(v)) for k, v in _KV.findall(line[6:]))
    if not {"calls", "avg_cycles", "level"} <= kv.keys():
        return None
    return JitLine(rest[0], kv["calls"], kv["avg_cycles"], kv["level"])


def parse_stats(line: str) -> StatsLine | None:
    """`[stats] tokens=N cycles_per_token=N heap_peak=N` -> StatsLine (None otherwise)."""
    if not line.startswith("[stats] "):
        return None
    kv = dict((k, int(v)) for k, v in _KV.findall(line[8:]))
    if "cycles_per_token" not in kv or "tokens" not in kv:
        return None
    return StatsLine(kv["tokens"], kv["cycles_per_token"], kv.get("heap_peak"))


def _row(row) -> tuple[str, int, int, int, float | None]:
    """A profile row as (name, calls, exclusive, inclusive, exclusive % or None), from the
    dicts `Machine.profile_table()` returns (or a plain tuple)."""
    if isinstance(row, dict):
        return (str(row["name"]), int(row["calls"]), int(row["exclusive_cycles"]),
                int(row["inclusive_cycles"]), row.get("exclusive_pct"))
    return (str(row[0]), int(row[1]), int(row[2]), int(row[3]), None)


def sort_profile(rows: Iterable, limit: int = 40) -> list[tuple[str, int, int, int, float]]:
    """Rows sorted by exclusive cycles, with each one's share (%): the machine's share of all
    cycles when it gives one, else the share of the rows' exclusive cycles."""
    norm = [_row(r) for r in rows]
    total = sum(r[2] for r in norm) or 1
    norm.sort(key=lambda r: (-r[2], r[0]))
    return [(s, c, e, i, float(p) if p is not None else 100.0 * e / total) for s, c, e, i, p in norm[:limit]]


class TextTable(TextLines):
    """A read-only table drawn as one Rich Text: columns padded to their widest cell, numbers
    right-aligned.  Much cheaper than a DataTable for a table rebuilt twice a second (measured:
    the DataTable's cell rendering took most of the UI's frame time), and it repaints only
    itself."""

    DEFAULT_CSS = """
    TextTable { height: 1fr; overflow: hidden; }
    """

    def __init__(self, headers: Sequence[str], *, id: str | None = None, max_name: int = 36) -> None:
        super().__init__(id=id)
        self.headers = list(headers)
        self.rows: list[tuple[str, ...]] = []
        self.max_name = max_name
        self._text = self._table_text()

    def set_rows(self, rows: Sequence[Sequence[str]]) -> None:
        self.rows = [tuple(r) for r in rows]
        self.set_text(self._table_text())

    def _table_text(self) -> Text:
        cols = len(self.headers)
        widths = [len(h) for h in self.headers]
        for r in self.rows:
            for i in range(cols):
                widths[i] = max(widths[i], len(r[i]))
        widths[0] = min(widths[0], self.max_name)
        t = Text(no_wrap=True, overflow="ellipsis")

        def line(cells: Sequence[str], style: str = "") -> None:
            parts = [cells[0][:widths[0]].ljust(widths[0])]
            parts += [cells[i].rjust(widths[i]) for i in range(1, cols)]
            t.append(" " + "  ".join(parts) + "\n", style=style)
        line(self.headers, "bold")
        for i, r in enumerate(self.rows):
            line(r, "on #1c1c1c" if i % 2 else "")
        return t

    def text_lines(self) -> list[str]:
        """The table as plain lines (for tests)."""
        return self._text.plain.splitlines()


class ProfilePanel(Vertical):
    """Emulator profile table, guest tier table, cycles-per-token sparkline."""

    DEFAULT_CSS = """
    ProfilePanel { height: 1fr; }
    ProfilePanel #hot { height: 2fr; }
    ProfilePanel #jit { height: 1fr; }
    ProfilePanel Sparkline { height: 3; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.jit: dict[str, JitLine] = {}
        self.stats: list[StatsLine] = []
        self._last_rows: list | None = None

    def compose(self) -> ComposeResult:
        yield Label("Hot functions (emulator, exact cycles)", classes="section")
        yield TextTable(("function", "calls", "exclusive cycles", "inclusive cycles", "% of all"), id="hot")
        yield Label("Guest tiers ([jit] lines)", classes="section", markup=False)
        yield TextTable(("function", "calls", "avg cycles", "tier"), id="jit")
        yield Label("Cycles per token: no [stats] lines yet", id="cpt-label", classes="section", markup=False)
        yield Sparkline([], id="cpt")

    def update_profile(self, rows: Sequence) -> None:
        """Show the emulator's profile (rows as `Machine.profile_table()` returns them)."""
        table = sort_profile(rows)
        if table == self._last_rows:
            return
        self._last_rows = table
        self.query_one("#hot", TextTable).set_rows(
            [(sym, f"{calls:,}", f"{excl:,}", f"{incl:,}", f"{pct:.1f}") for sym, calls, excl, incl, pct in table])

    def guest_lines(self, lines: Iterable[str]) -> None:
        """Take complete COM1 lines; `[jit]` and `[stats]` ones update the tier table/chart."""
        jit_changed = stats_changed = False
        for line in lines:
            j = parse_jit(line)
            if j is not None:
                self.jit[j.name] = j
                jit_changed = True
                continue
            s = parse_stats(line)
            if s is not None:
                self.stats.append(s)
                stats_changed = True
        if jit_changed:
            self.query_one("#jit", TextTable).set_rows(
                [(j.name, f"{j.calls:,}", f"{j.avg_cycles:,}", str(j.level))
                 for j in sorted(self.jit.values(), key=lambda j: -j.calls * j.avg_cycles)])
        if stats_changed:
            last = self.stats[-1]
            first = self.stats[0]
            self.query_one("#cpt-label", Label).update(
                f"Cycles per token: {last.cycles_per_token:,} (first reply {first.cycles_per_token:,},"
                f" {len(self.stats)} replies)")
            self.query_one("#cpt", Sparkline).data = [float(s.cycles_per_token) for s in self.stats[-200:]]
