"""Where a run is cut must not change what the guest does.

The TUI, the debugger and `Machine.run(max_cycles=...)` run a guest in slices; a batch run goes in
one.  Same image, same input: the same cycles, instructions, serial output and event trace (the
"stop" events aside), however it is sliced.  This failed on tests/images/core_pm.asm before
tools/unicorn/sync-pc.patch: after a native interrupt delivery wrote the PC inside `emu_start`,
Unicorn left every later IN/OUT hook of that `emu_start` reading its block's first PC, so the
PIT was programmed at the block's cycle in a whole run and at the OUT's own cycle in a sliced one
(and the run ended 299 cycles apart).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import engine_build  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.trace import TraceSink  # noqa: E402

pytestmark = pytest.mark.skipif(engine_build.store_patch() is None,
                                reason="PyPI's Unicorn keeps a stale PC after a native delivery "
                                       "(tools/unicorn/sync-pc.patch): set up with tools/setup.sh")


def _run(img: Path, step: int | None, trace: Path) -> tuple[tuple, list[str], int]:
    m = Machine(MachineConfig(image=img, trace=TraceSink(str(trace))))
    limit, slices = 0, 0
    while True:
        limit = limit + step if step else None
        reason = m.run(max_cycles=limit)
        slices += 1
        if reason != StopReason.CYCLE_LIMIT:
            break
    m.close()
    events = [line for line in trace.read_text().splitlines() if '"event":"stop"' not in line]
    return (str(reason), m.cycles, m.instructions, bytes(m.serial_out), m.regs()), events, slices


@pytest.mark.parametrize("name,steps", [
    ("core_pm.asm", (997, 20_011, 100_003)),   # exceptions and IRQs delivered natively, then OUTs to the PIT
    ("lapic_tick.asm", (20_011,)),             # the local APIC and HPET timers, native MMIO
    ("irq_open.asm", (997,)),
])
def test_a_sliced_run_is_the_whole_run(tmp_path, name, steps):
    img = images.build(name)
    whole, whole_events, _ = _run(img, None, tmp_path / "whole.jsonl")
    assert whole[0] == str(StopReason.POWER_OFF)
    for step in steps:
        sliced, sliced_events, slices = _run(img, step, tmp_path / f"sliced{step}.jsonl")
        assert slices > 3
        assert sliced == whole, f"{name} in {step}-cycle slices"
        assert sliced_events == whole_events, f"{name} in {step}-cycle slices"
