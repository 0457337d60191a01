"""Time travel on the real machine: incremental checkpoints, step back, run back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images" / "fluid_llama.img"
ELF = ROOT / "images" / "tinyllama_bare.elf"

pytestmark = pytest.mark.skipif(not IMAGE.exists() or not ELF.exists(), reason="images/ not built")


@pytest.fixture(scope="module")
def machine_factory():
    from bareflow.emu.machine import Machine, MachineConfig

    def make():
        return Machine(MachineConfig(image=IMAGE, symbols=ELF))
    return make


def state(m):
    return (m.cycles, m.instructions, m.regs(), bytes(m.ram_view()[0x100000:0x130000]))


def test_checkpoints_are_incremental_and_restore_exactly(machine_factory):
    from bareflow.emu.timetravel import PAGE, TimeTravel
    m = machine_factory()
    tt = TimeTravel(m, interval=1_000_000)
    r = tt.run(6_000_000)
    assert r.name == "CYCLE_LIMIT"
    kinds = [k for _c, _i, k in tt.history()]
    assert kinds[0] == "start" and kinds.count("slice") >= 4 and kinds[-1] == "stop"
    # only changed pages are kept: far fewer than the 16384 pages of 64 MiB per checkpoint
    assert all(len(p.pages) < 2000 for p in tt.points[1:])
    assert sum(len(p.pages) for p in tt.points[1:]) > 0
    # rebuild the RAM of a middle checkpoint and compare with a fresh run to the same cycle
    mid = 3
    target = tt.points[mid]
    ram = tt._ram_at(mid)
    ref = machine_factory()
    ref.run(target.cycles)
    assert ref.cycles == target.cycles
    assert np.array_equal(ram, np.frombuffer(ref.ram_view(), dtype=np.uint8))
    assert len(ram) % PAGE == 0


def test_restore_then_rerun_is_deterministic(machine_factory):
    from bareflow.emu.timetravel import TimeTravel
    m = machine_factory()
    tt = TimeTravel(m, interval=2_000_000)
    tt.run(5_000_000)
    tt.run(9_000_000)
    end = state(m)
    tt._restore(1, truncate=True)
    assert m.cycles == tt.points[1].cycles
    tt.run(9_000_000)
    assert state(m) == end


def test_step_back_through_steps_and_from_a_breakpoint(machine_factory):
    from bareflow.emu.timetravel import TimeTravel
    m = machine_factory()
    tt = TimeTravel(m)
    m.add_breakpoint("kmain")
    assert tt.run().name == "BREAKPOINT"
    m.remove_breakpoint("kmain")
    at_kmain = state(m)
    seen = [at_kmain]
    for _ in range(4):
        tt.step()
        seen.append(state(m))
    assert seen[-1][1] == at_kmain[1] + 4
    for k in range(4):
        assert tt.step_back().name == "STEP"
        assert state(m) == seen[-2 - k]
    # one more: the instruction before kmain (the caller's `call`), rebuilt from a run
    assert tt.step_back().name == "STEP"
    insn = m.disasm(m.cpu.linear_pc(), 1)[0][2]
    assert insn.startswith("call"), insn
    tt.step()
    assert m.cpu.linear_pc() == m.resolve("kmain")
    assert m.regs() == at_kmain[2]


def test_run_back_to_last_breakpoint_hit(machine_factory):
    from bareflow.emu.timetravel import TimeTravel
    m = machine_factory()
    tt = TimeTravel(m, interval=1_000_000)
    m.add_breakpoint("put_raw")
    hits = []
    for _ in range(3):
        assert tt.run(40_000_000).name == "BREAKPOINT"
        hits.append((m.cycles, m.instructions, m.regs()["eax"]))
    tt.run(m.cycles + 20_000)
    assert tt.run_back().name == "BREAKPOINT"
    assert m.cpu.linear_pc() == m.resolve("put_raw")
    assert (m.instructions, m.regs()["eax"]) == (hits[-1][1], hits[-1][2])
    assert tt.run_back().name == "BREAKPOINT"
    assert (m.instructions, m.regs()["eax"]) == (hits[-2][1], hits[-2][2])
    # run_back_to arms one more breakpoint for the search only
    m.remove_breakpoint("put_raw")
    assert tt.run_back_to("kmain").name == "BREAKPOINT"
    assert m.cpu.linear_pc() == m.resolve("kmain") and m.breakpoints == set()
    assert tt.run_back() is None and (m.cycles, m.instructions) == tt.history()[0][:2]


def test_budget_folds_old_deltas(machine_factory):
    from bareflow.emu.timetravel import TimeTravel
    m = machine_factory()
    tt = TimeTravel(m, interval=500_000, budget=64 * 4096)
    tt.run(8_000_000)
    assert tt.stats.folded > 0
    assert sum(p.nbytes for p in tt.points) <= 64 * 4096 or len(tt.points) <= 2
    # the oldest kept checkpoint is still exact after folding
    ref = machine_factory()
    ref.run(tt.points[0].cycles)
    assert np.array_equal(tt._ram_at(0), np.frombuffer(ref.ram_view(), dtype=np.uint8))


def test_sliced_run_matches_plain_run(machine_factory):
    """Checkpoint slices stop at block boundaries and do not change the guest's path."""
    from bareflow.emu.timetravel import TimeTravel
    a = machine_factory()
    tt = TimeTravel(a, interval=3_000_000)
    tt.run(16_000_000)
    b = machine_factory()
    b.run(16_000_000)
    assert state(a) == state(b) and bytes(a.serial_out) == bytes(b.serial_out)


def test_going_back_ignores_and_keeps_watchpoints(machine_factory):
    from bareflow.emu.timetravel import TimeTravel
    m = machine_factory()
    tt = TimeTravel(m)
    m.add_breakpoint("kmain")
    tt.run()
    m.remove_breakpoint("kmain")
    before = m.regs()
    tt.step()
    col = m.resolve("col")
    m.add_watchpoint(col, 4, "write")
    assert tt.step_back().name == "STEP" and m.regs() == before
    assert m.watchpoints == [(col, 4, "write")]
