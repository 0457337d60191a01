"""Machine watchpoints (the GDB stub's Z2/Z3/Z4): stop right after the accessing instruction,
with the access done exactly once, and no stop once removed."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "images" / "fluid_llama.img"
ELF = ROOT / "images" / "tinyllama_bare.elf"

pytestmark = pytest.mark.skipif(not IMAGE.exists() or not ELF.exists(), reason="images/ not built")


def make():
    from bareflow.emu.machine import Machine, MachineConfig
    return Machine(MachineConfig(image=IMAGE, symbols=ELF))


def test_write_watch_stops_after_the_store():
    m = make()
    col = m.resolve("col")
    m.add_watchpoint(col, 4, "write")
    seen, reps = [], 0
    for _ in range(20):
        r = m.run_until_stop(60_000_000)
        assert r.name == "BREAKPOINT", m.stop_message
        kind, addr, pc = m.watch_hit
        assert kind == "write" and col <= addr < col + 4
        m.clear_watch_hit()
        if m.disasm(pc, 1)[0][2].startswith("rep"):
            # a REP string instruction traps after the iteration that touched the range, with
            # EIP still on it (as x86 debug registers do): the BSS clear, byte by byte
            assert m.cpu.linear_pc() == pc
            reps += 1
            continue
        assert m.cpu.linear_pc() != pc          # the instruction has completed
        seen.append(int.from_bytes(m.read_mem(col, 4), "little"))
        if len(seen) == 4:
            break
    assert reps == 4                            # rep stosb over the 4 bytes of col
    # the cursor column counts up as characters are printed: each store happened exactly once
    assert seen[1:] == [seen[1], seen[1] + 1, seen[1] + 2], seen
    m.remove_watchpoint(col, 4, "write")
    assert m.watchpoints == []
    assert m.run_until_stop(m.cycles + 2_000_000).name == "CYCLE_LIMIT"


def test_watch_matches_unwatched_run():
    """Completing the watched instruction re-runs it once with hooks muted: memory and registers
    end as in a run without the watchpoint (a store undone and redone, never doubled)."""
    a, b = make(), make()
    col = a.resolve("col")
    a.add_watchpoint(col, 4, "access")
    for _ in range(3):
        assert a.run_until_stop(60_000_000).name == "BREAKPOINT"
    a.remove_watchpoint(col, 4, "access")
    b.run_until_stop(60_000_000)
    a.run_until_stop(60_000_000)
    assert a.read_mem(col, 4) == b.read_mem(col, 4)
    assert bytes(a.serial_out) == bytes(b.serial_out)


def test_bad_watch_arguments():
    from bareflow.devices.base.errors import BadArgument
    m = make()
    with pytest.raises(BadArgument):
        m.add_watchpoint(0x1000, 4, "execute")
    with pytest.raises(BadArgument):
        m.add_watchpoint(0x1000, 0, "write")
