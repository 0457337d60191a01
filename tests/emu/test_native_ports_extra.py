"""OUT 0x80 and IN 0x64 answered in C (emu/fastports.py `ignore_writes`, devices/ps2.py
publishing its status): the same machine either way, and really native.

tests/images/port80_kbd.asm polls them as Linux's delay loops and keyboard probes do, then runs
8042 commands that change the status between reads.  Run with the native answers on and off
(off = every IN/OUT through Python): stop reason, cycles, instructions, COM1, exit status, the
profile and the event trace must be identical, the transcript must be QEMU's
(tests/images/port80_kbd.expected), and the loop's 3,000 OUT 0x80 and IN 0x64 must not have
entered Python -- a silent fallback fails.  A device that claims port 0x80 later gets its
writes back.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.trace import TraceSink  # noqa: E402


def _run(native: bool, trace: Path) -> tuple:
    m = Machine(MachineConfig(image=images.build("port80_kbd"), trace=TraceSink(trace)))
    if not native:
        m.ports.disable()
    reason = m.run(max_cycles=100_000_000)
    m.close()
    return (reason, m.cycles, m.instructions, bytes(m.serial_out), m.exit_status, m.profile_table(),
            trace.read_bytes()), m.ports.counts()


def test_port80_and_8042_status_native_and_identical(tmp_path):
    on, c_on = _run(True, tmp_path / "on.jsonl")
    off, c_off = _run(False, tmp_path / "off.jsonl")
    assert on == off
    assert on[0] == StopReason.POWER_OFF
    assert on[3] == (ROOT / "tests" / "images" / "port80_kbd.expected").read_bytes()
    assert c_on["native_out"] >= 3001 and c_on["native_in"] >= 3000
    assert c_on["python_in"] <= 10          # the commands' 0x60 reads only
    assert c_off["native_in"] == 0 and c_off["native_out"] == 0


def test_a_device_on_port_80_gets_its_writes(tmp_path):
    m = Machine(MachineConfig(image=images.build("port80_kbd")))
    seen: list[int] = []

    class Post:
        name = "post"

        def ports(self):
            return (0x80,)

        def io_read(self, port, size):
            return 0xFF

        def io_write(self, port, size, value):
            seen.append(value)

        def reset(self):
            pass

    m.board.bus.register(Post())
    m.run(max_cycles=100_000_000)
    assert len(seen) == 3001


def test_observers_of_port_80_see_every_write(tmp_path):
    m = Machine(MachineConfig(image=images.build("port80_kbd")))
    seen: list[tuple] = []
    m.board.bus.observe_io(lambda d, p, s, v: seen.append((d, p)), ports=[0x80, 0x64])
    m.run(max_cycles=100_000_000)
    assert sum(1 for d, p in seen if p == 0x80) == 3001
    assert sum(1 for d, p in seen if (d, p) == ("in", 0x64)) == 3004


def test_a_writes_only_observer_sees_every_write_and_reads_stay_native(tmp_path):
    """`observe_io(..., writes_only=True)` (the live journey's 8042/8259 data ports): every
    write of those ports reaches the observer, while the 3,000 status reads stay in C; the
    machine is the same as with a full observer."""
    runs = []
    for writes_only in (True, False):
        m = Machine(MachineConfig(image=images.build("port80_kbd")))
        seen: list[tuple] = []
        m.board.bus.observe_io(lambda d, p, s, v: seen.append((d, p, v)), ports=[0x60, 0x64],
                               writes_only=writes_only)
        m.run(max_cycles=100_000_000)
        runs.append((m.cycles, m.instructions, bytes(m.serial_out), [x for x in seen if x[0] == "out"],
                     m.ports.counts()))
    (cyc_w, ins_w, out_w, writes_w, c_w), (cyc_a, ins_a, out_a, writes_a, c_a) = runs
    assert (cyc_w, ins_w, out_w) == (cyc_a, ins_a, out_a)
    assert writes_w == writes_a and writes_w        # the 8042 commands, each seen
    assert c_w["native_in"] >= 3000 and c_a["native_in"] < 100


def test_the_live_journey_leaves_the_8042_status_reads_native():
    from bareflow.emu.journey import Journey
    m = Machine(MachineConfig(image=images.build("port80_kbd")))
    Journey().attach(m)
    m.run(max_cycles=100_000_000)
    assert m.ports.counts()["native_in"] >= 3000
