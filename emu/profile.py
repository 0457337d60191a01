"""The exact per-function profile: calls, exclusive and inclusive modelled cycles.

The counting itself happens in the native block callback (emu/fastpath.c): every executed
block adds its cycles to the function that contains it (exclusive), blocks ending in CALL open
a frame on a shadow stack and execution landing on the saved return address closes it
(inclusive, counted once for recursive functions).  This module turns the counters into rows
for the CLI's JSON, the TUI's table and the speedscope export.
"""
from __future__ import annotations

from typing import Any



def profile_rows(machine: Any, *, include_open: bool = True) -> list[dict[str, Any]]:
    """Functions that ran, sorted by exclusive cycles (then name, for stable output)."""
    names = machine.function_names()
    excl, incl, calls = machine.fast.func_counters(len(names))
    total = max(1, machine.cycles)
    rows = []
    for i, name in enumerate(names):
        if excl[i] == 0 and calls[i] == 0:
            continue
        inclusive = incl[i] + (machine.fast.open_inclusive(i) if include_open else 0)
        inclusive = max(inclusive, excl[i])
        rows.append({
            "name": name,
            "calls": int(calls[i]),
            "exclusive_cycles": int(excl[i]),
            "inclusive_cycles": int(inclusive),
            "exclusive_pct": round(100.0 * excl[i] / total, 3),
            "inclusive_pct": round(100.0 * inclusive / total, 3),
        })
    rows.sort(key=lambda r: (-r["exclusive_cycles"], r["name"]))
    return rows


def profile_document(machine: Any) -> dict[str, Any]:
    """What `--profile FILE` writes."""
    wall = machine.wall_seconds
    return {
        "image": str(machine.image_path),
        "cycles": machine.cycles,
        "instructions": machine.instructions,
        "emulated_seconds": machine.seconds,
        "wall_seconds": round(wall, 6),
        "cpu_seconds": round(machine.cpu_seconds, 6),
        "mips": round(machine.instructions / wall / 1e6, 3) if wall > 0 else None,
        "cost_model": "docs/cycle-model.md",
        "stop": machine.last_stop.value if machine.last_stop else None,
        "functions": profile_rows(machine),
    }
