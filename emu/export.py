"""Exports people can open elsewhere: the profile for speedscope and Perfetto, the screen as SVG.

* speedscope (https://www.speedscope.app): a "sampled" profile built from the *exact*
  per-function counters, not from statistical samples: one sample per guest function whose
  stack is just that function and whose weight is its exclusive modelled cycles (unit: none,
  read as cycles).  The profiler counts per function, not per call path, so there are no
  call stacks to show; the "Left Heavy" and "Sandwich" views give the exact totals.
* Chrome trace event JSON (opens in https://ui.perfetto.dev and chrome://tracing): the boot
  journey's milestones as instant events at their emulated time (1 cycle = 10 ns at the
  100 MHz nominal clock), and the profile as one "complete" slice per function laid end to
  end on its own track, each as long as the function's exclusive cycles (an aggregate: the
  track shows where time went, not when).
* SVG of the 80x25 VGA text screen: CGA palette, monospace text (code page 437 mapped to
  Unicode), the hardware cursor drawn with its scanlines as the CRTC programs them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..devices.base.clock import CPU_HZ

#: The 16 CGA/EGA text colours as QEMU's VGA palette shows them (0xAA / 0x55 levels, brown).
CGA_PALETTE = ("#000000", "#0000aa", "#00aa00", "#00aaaa", "#aa0000", "#aa00aa", "#aa5500", "#aaaaaa",
               "#555555", "#5555ff", "#55ff55", "#55ffff", "#ff5555", "#ff55ff", "#ffff55", "#ffffff")

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


# ====================================================================== profile
def speedscope_document(rows: Sequence[dict[str, Any]], *, name: str = "BareFlow profile",
                        total_cycles: int | None = None) -> dict[str, Any]:
    """A speedscope file from profile rows ({name, calls, exclusive_cycles, ...})."""
    frames = [{"name": r["name"]} for r in rows]
    samples = [[i] for i, r in enumerate(rows) if r["exclusive_cycles"] > 0]
    weights = [rows[i[0]]["exclusive_cycles"] for i in samples]
    end = sum(weights)
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled",
            "name": f"{name}: exclusive modelled cycles per function"
                    + (f" ({total_cycles:,} cycles in all)" if total_cycles else ""),
            "unit": "none",
            "startValue": 0,
            "endValue": end,
            "samples": samples,
            "weights": weights,
        }],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "bareflow-emu",
    }


def chrome_trace_document(rows: Sequence[dict[str, Any]], *, milestones: Iterable[Any] = (),
                          cpu_hz: int = CPU_HZ, name: str = "BareFlow") -> dict[str, Any]:
    """Chrome trace event format (JSON object form) with the profile and the boot journey."""
    us_per_cycle = 1e6 / cpu_hz
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": f"{name} boot journey"}},
        {"ph": "M", "pid": 1, "tid": 1, "name": "thread_name", "args": {"name": "milestones (emulated time)"}},
        {"ph": "M", "pid": 2, "tid": 0, "name": "process_name", "args": {"name": f"{name} profile"}},
        {"ph": "M", "pid": 2, "tid": 1, "name": "thread_name",
         "args": {"name": "exclusive cycles per function (aggregate, end to end)"}},
    ]
    for m in milestones:
        events.append({"ph": "i", "s": "g", "pid": 1, "tid": 1, "name": m.title, "cat": m.kind,
                       "ts": round(m.cycle * us_per_cycle, 3),
                       "args": {"cycle": m.cycle, "text": m.text, "details": list(m.details)}})
    t = 0
    for r in rows:
        excl = int(r["exclusive_cycles"])
        if excl <= 0:
            continue
        events.append({"ph": "X", "pid": 2, "tid": 1, "name": r["name"], "cat": "profile",
                       "ts": round(t * us_per_cycle, 3), "dur": round(excl * us_per_cycle, 3),
                       "args": {"calls": r.get("calls", 0), "exclusive_cycles": excl,
                                "inclusive_cycles": r.get("inclusive_cycles", excl),
                                "exclusive_pct": r.get("exclusive_pct")}})
        t += excl
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"exporter": "bareflow-emu", "cpu_hz": cpu_hz,
                          "note": "ts/dur are emulated microseconds at the nominal clock"}}


# ====================================================================== screen
def _cp437() -> tuple[str, ...]:
    from ..devices.base.cp437 import CP437
    return CP437


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def screen_svg(screen: bytes, *, cursor: tuple[int, int, bool] | None = None,
               cursor_lines: tuple[int, int] = (14, 15), cols: int = 80, rows: int = 25,
               cell_w: int = 9, cell_h: int = 16, font_size: int = 14) -> str:
    """SVG of a text screen (char, attribute pairs, like the 4000 bytes at 0xB8000).

    Attribute bits 0-3 are the foreground colour, 4-6 the background; bit 7 is "blink" in the
    default VGA mode (drawn steady: a picture cannot blink).  The cursor is drawn over the
    scanlines `cursor_lines` (start, end) of its cell, as the CRTC registers 0x0A/0x0B say."""
    if len(screen) < cols * rows * 2:
        screen = bytes(screen) + bytes(cols * rows * 2 - len(screen))
    cp = _cp437()
    width, height = cols * cell_w, rows * cell_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="\'DejaVu Sans Mono\', \'Courier New\', monospace" '
           f'font-size="{font_size}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="{CGA_PALETTE[0]}"/>']
    for r in range(rows):
        row = screen[r * cols * 2:(r + 1) * cols * 2]
        # backgrounds: runs of one colour
        c = 0
        while c < cols:
            bg = (row[c * 2 + 1] >> 4) & 7
            e = c
            while e < cols and (row[e * 2 + 1] >> 4) & 7 == bg:
                e += 1
            if bg:
                out.append(f'<rect x="{c * cell_w}" y="{r * cell_h}" width="{(e - c) * cell_w}" '
                           f'height="{cell_h}" fill="{CGA_PALETTE[bg]}"/>')
            c = e
        # text: runs of one foreground colour, each glyph pinned to its cell
        c = 0
        while c < cols:
            fg = row[c * 2 + 1] & 0x0F
            e = c
            while e < cols and row[e * 2 + 1] & 0x0F == fg:
                e += 1
            chars = [cp[row[i * 2]] for i in range(c, e)]
            while chars and chars[-1] == " ":
                chars.pop()
            if any(ch.strip() for ch in chars):
                text = "".join(chars)
                xs = " ".join(str(i * cell_w) for i in range(c, c + len(chars)))
                out.append(f'<text x="{xs}" y="{r * cell_h + cell_h - 4}" fill="{CGA_PALETTE[fg]}" '
                           f'xml:space="preserve">{_esc(text)}</text>')
            c = e
    if cursor is not None:
        crow, ccol, visible = cursor[:3]
        if visible and 0 <= crow < rows and 0 <= ccol < cols:
            start, end = cursor_lines
            start, end = max(0, min(start, cell_h - 1)), max(0, min(end, cell_h - 1))
            if end >= start:
                fg = screen[(crow * cols + ccol) * 2 + 1] & 0x0F
                out.append(f'<rect class="cursor" x="{ccol * cell_w}" y="{crow * cell_h + start}" width="{cell_w}" '
                           f'height="{end - start + 1}" fill="{CGA_PALETTE[fg or 7]}"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def machine_screen_svg(machine: Any) -> str:
    """The machine's screen now, with its hardware cursor."""
    row, col, visible, start, end = machine.vga.cursor()
    return screen_svg(machine.screen_bytes(), cursor=(row, col, visible), cursor_lines=(start, end))


# ====================================================================== files
def write_json(path: str | Path, doc: Any) -> None:
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def write_text(path: str | Path, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
