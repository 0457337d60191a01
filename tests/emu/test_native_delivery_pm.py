"""Protected-mode delivery computed in C (emu/fastpath_pmirq.c): the same machine either way.

Hardware interrupts and INT n through a present 32-bit gate at the same privilege (paging off)
are computed by `xd_deliver_pm` instead of emu/interrupts.py `deliver_protected`, and a
watched IRET that stays in its ring is answered by a native filter.  Each guest here runs with
BAREFLOW_NATIVE_DELIVERY=1 and =0 and everything observable must be equal -- stop reason,
cycles, instructions, registers, RAM, COM1, the per-function profile, every event a subscriber
sees (the `interrupt` events with their gate and target), the journey's milestones -- and the
guests with timers must have been delivered natively, so a path that silently falls back
cannot pass.  Guests that need what the native code leaves to Python (a not-present gate, a
ring change) are in the list too: they must fall back and still match.  (Paging on is native
too since emu/fastpath_paging.c: core_paging's INT 0x30; tests/emu/test_native_paging.py.)
"""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "images"))

import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm is needed to assemble the guests")

#: guest -> (native deliveries at least, native same-ring IRETs at least)
GUESTS = {"irq_open": (3, 3), "irq_noeoi": (1, 1), "kern_lapic": (10, 10), "kern_hpet": (10, 10),
          "core_pm": (1, 1), "irq_np": (0, 0), "ring3": (0, 0), "irq_masked": (0, 0),
          "core_paging": (1, 1)}   # paging on: emu/fastpath_paging.c (tests/emu/test_native_paging.py)


def observe(name: str, monkeypatch: pytest.MonkeyPatch, native: bool, journey: bool = False) -> dict[str, Any]:
    monkeypatch.setenv("BAREFLOW_NATIVE_DELIVERY", "1" if native else "0")
    m = Machine(MachineConfig(image=images.build(name)))
    events: list[tuple] = []
    m.hooks.events.append(lambda kind, c, i, f: events.append((kind, c, i, sorted(f.items(), key=str))))
    j = None
    if journey:
        from bareflow.emu.journey import Journey
        j = Journey()
        j.attach(m)
    reason = m.run(50_000_000)
    m.fast.flush_frames()
    return {
        "reason": reason, "cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
        "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
        "profile": [(p["name"], p["calls"], p["exclusive_cycles"], p["inclusive_cycles"]) for p in m.profile_table()],
        "events": events, "privilege": m.privilege.short() if getattr(m, "privilege", None) else None,
        "journey": [(s.kind, s.cycle, s.title) for s in j.milestones] if j is not None else None,
        "pm": m.native.pm_counts(),
    }


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_protected_mode_deliveries_match(name, monkeypatch):
    on = observe(name, monkeypatch, True)
    off = observe(name, monkeypatch, False)
    assert off["pm"][0] == 0
    for key in on:
        if key != "pm":
            assert on[key] == off[key], key
    deliveries, irets = GUESTS[name]
    assert on["pm"][0] >= deliveries and on["pm"][1] >= irets
    if deliveries == 0:
        assert on["pm"][0] == 0       # these need what only Python does


def test_with_the_journey_attached(monkeypatch):
    """The journey listens to every delivery: the native computation gives it the same events."""
    on = observe("kern_lapic", monkeypatch, True, journey=True)
    off = observe("kern_lapic", monkeypatch, False, journey=True)
    for key in on:
        if key != "pm":
            assert on[key] == off[key], key
    assert on["pm"][0] >= 10 and on["journey"]


def test_the_bundled_unikernel_idles_natively_and_identically(monkeypatch):
    """fluid_llama.img at its prompt: its 100 Hz ticks (gate 0x20, kernel code at 0x10F800, in
    the HMA range with A20 on) are delivered and returned from natively, with the same machine."""
    img = HERE.parents[1] / "images" / "fluid_llama.img"
    if not img.exists():
        pytest.skip("images/fluid_llama.img is not built")
    runs = []
    for native in (True, False):
        monkeypatch.setenv("BAREFLOW_NATIVE_DELIVERY", "1" if native else "0")
        m = Machine(MachineConfig(image=img))
        m.run(400_000_000)
        m.fast.flush_frames()
        runs.append(({"cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
                      "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
                      "profile": [(p["name"], p["calls"], p["exclusive_cycles"]) for p in m.profile_table()]},
                     m.native.pm_counts()))
    (on, pm_on), (off, pm_off) = runs
    for key in on:
        assert on[key] == off[key], key
    assert b"> " in on["serial"]
    assert pm_on[0] >= 30 and pm_on[1] >= 30 and pm_off == (0, 0)
