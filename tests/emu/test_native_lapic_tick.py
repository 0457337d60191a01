"""The local APIC timer's interrupt taken inside emu_start (emu/fastpath_lapictick.c,
emu/fastlapictick.py): the same machine with BAREFLOW_NATIVE_LAPIC_TICK on and off.

Everything observable must be equal (test_native_lapic.py's `_state`): stop reason, cycles,
instructions, registers, RAM, COM1, the profile, the trace file byte for byte, the events a
subscriber sees, the local APIC's, HPET's, I/O APIC's and 8259's state and the clock's pending
events.  The run with the switch on must have taken ticks natively (a silent fallback fails)
and the run with it off none.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "images"))

import build as images  # noqa: E402
import test_native_lapic as base  # noqa: E402

from bareflow.emu.machine import Machine  # noqa: E402

pytestmark = base.pytestmark


def _run(monkeypatch: pytest.MonkeyPatch, tmp: Path, on: bool, max_cycles: int,
         **kw: Any) -> tuple[dict[str, Any], dict[str, int]]:
    monkeypatch.setenv("BAREFLOW_NATIVE_LAPIC_TICK", "1" if on else "0")
    got: dict[str, int] = {}
    close = Machine.close

    def counting_close(self: Machine) -> None:
        got.update(self.lapic_tick.counts())
        close(self)
    monkeypatch.setattr(Machine, "close", counting_close)
    sub = tmp / ("on" if on else "off")
    sub.mkdir()
    out, counts = base._observe(monkeypatch, sub, True, max_cycles, **kw)
    monkeypatch.setattr(Machine, "close", close)
    return out, dict(counts, **got)


def _compare(on: dict, off: dict, name: str) -> None:
    for key in on:
        assert on[key] == off[key], f"{name}: {key} differs with the native LAPIC timer tick on"


#: guest -> (ticks at the deadline branch, ticks for the run loop halted after a HLT) it must
#: at least have had natively: lapic_tick's handlers run with interrupts arriving mid-code,
#: kern_lapic waits for its ticks in HLT; irq_open (the 8259 only) must simply be unchanged
GUESTS = {"lapic_tick": (500, 0), "kern_lapic": (0, 3), "irq_open": (0, 0)}


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_native_tick_changes_nothing(name, monkeypatch, tmp_path):
    img = images.build(name)
    on, n_on = _run(monkeypatch, tmp_path, True, 60_000_000, img=img)
    off, n_off = _run(monkeypatch, tmp_path, False, 60_000_000, img=img)
    _compare(on, off, name)
    assert n_off["ticks"] == 0 and n_off["declined"] == 0
    running, idle = GUESTS[name]
    assert n_on["ticks"] - n_on["idle_ticks"] >= running and n_on["idle_ticks"] >= idle, n_on


def test_linux_boot_start_identical_with_native_ticks(monkeypatch, tmp_path):
    """The first 3.6 G cycles of the Debian kernel (decompression, early init, the first
    ~1,000 local APIC ticks, the initcalls): the same machine, trace and events."""
    from bareflow.tools import guests
    found = sorted(guests.LINUX_CACHE.glob("boot/vmlinuz-*-686"))
    if not found:
        pytest.skip("no cached Debian kernel (python -m bareflow.tools.guests linux)")
    kw = dict(kernel=str(found[-1]), append=guests.LINUX_APPEND, no_reboot=True)
    on, n_on = _run(monkeypatch, tmp_path, True, 3_600_000_000, **kw)
    off, n_off = _run(monkeypatch, tmp_path, False, 3_600_000_000, **kw)
    _compare(on, off, "linux")
    assert n_off["ticks"] == 0
    assert n_on["ticks"] >= 500, n_on          # 759 when written
