"""An HPET timer's quiet expiry done inside emu_start (emu/fastpath_hpetexp.c,
emu/fasthpetexp.py): the same machine with BAREFLOW_NATIVE_HPET_EXPIRY on and off.

Everything observable must be equal (test_native_lapic.py's `_state`): stop reason, cycles,
instructions, registers, RAM, COM1, the profile, the trace file byte for byte, the events a
subscriber sees, the local APIC's, HPET's, I/O APIC's and 8259's state and the clock's pending
events.  The run with the switch on must have done expiries natively (a silent fallback fails),
and declined the ones that are not quiet for each reason the guest exercises; with the switch
off (or anything it depends on off) none.
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

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

pytestmark = base.pytestmark

#: fhx_state.why: Python's permission, port path held, periodic / 32-bit wrap, interrupt
#: enabled, another event due, the 8259 line would change
WHY_PYTHON, WHY_HELD, WHY_REARMS, WHY_RAISES, WHY_OTHER_EVENT, WHY_PIC = range(6)


def _run(monkeypatch: pytest.MonkeyPatch, tmp: Path, on: bool, max_cycles: int,
         env: dict[str, str] | None = None, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    monkeypatch.setenv("BAREFLOW_NATIVE_HPET_EXPIRY", "1" if on else "0")
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    # _observe turns the native MMIO path on: leave a switch this run sets alone
    switches = base._SWITCHES
    monkeypatch.setattr(base, "_SWITCHES", tuple(s for s in switches if s not in (env or {})))
    got: dict[str, Any] = {}
    close = Machine.close

    def counting_close(self: Machine) -> None:
        got.update(self.lapic_tick.hpet_expiry.counts(), allowed=self.lapic_tick.hpet_expiry.allowed,
                   lapic_ticks=self.lapic_tick.counts()["ticks"])
        close(self)
    monkeypatch.setattr(Machine, "close", counting_close)
    sub = tmp / ("on" if on else "off")
    sub.mkdir(exist_ok=True)
    out, counts = base._observe(monkeypatch, sub, True, max_cycles, **kw)
    monkeypatch.setattr(Machine, "close", close)
    for k in (env or {}):
        monkeypatch.delenv(k)
    monkeypatch.setattr(base, "_SWITCHES", switches)
    return out, dict(counts, **got)


def _compare(on: dict, off: dict, name: str) -> None:
    for key in on:
        assert on[key] == off[key], f"{name}: {key} differs with the native HPET expiry on"


#: guest -> native expiries it must at least have had
GUESTS = {"hpet_quiet": 5000, "lapic_tick": 0, "kern_hpet": 0}


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_native_expiry_changes_nothing(name, monkeypatch, tmp_path):
    img = images.build(name)
    on, n_on = _run(monkeypatch, tmp_path, True, 60_000_000, img=img)
    off, n_off = _run(monkeypatch, tmp_path, False, 60_000_000, img=img)
    _compare(on, off, name)
    assert not n_off["allowed"] and n_off["expiries"] == 0 and n_off["declined"] == 0
    assert n_on["allowed"] and n_on["expiries"] >= GUESTS[name], n_on


def test_quiet_guest_runs_every_case(monkeypatch, tmp_path):
    """The guest ran to its end, and each kind of expiry that is not quiet was left to Python
    for its own reason: the 8259 line held high by the PIT, the interrupt enabled, periodic
    and 32-bit-wrap re-arms, the I/O APIC's level line held by another timer."""
    on, n = _run(monkeypatch, tmp_path, True, 60_000_000, img=images.build("hpet_quiet"))
    assert on["reason"] == StopReason.POWER_OFF
    lines = on["serial"].decode().splitlines()
    heads = ["calibrate: ", "PIT high: ", "edge on GSI 10: ", "level held on GSI 11: ", "periodic: ", "32-bit wrap: ",
             "LAPIC ticks while polling: "]
    assert [line.split(":")[0] + ": " for line in lines[-7:]] == heads, lines[-7:]
    why = n["why"]
    for reason in (WHY_PYTHON, WHY_REARMS, WHY_RAISES, WHY_PIC):
        assert why[reason] > 0, (reason, n)
    assert n["expiries"] >= 5000, n


@pytest.mark.parametrize("switch", ["BAREFLOW_NATIVE_HPET", "BAREFLOW_NATIVE_LAPIC_TICK"])
def test_off_with_what_it_depends_on(switch, monkeypatch, tmp_path):
    img = images.build("hpet_quiet")
    on, n_on = _run(monkeypatch, tmp_path, True, 60_000_000, img=img)
    off, n_off = _run(monkeypatch, tmp_path, True, 60_000_000, env={switch: "0"}, img=img)
    _compare(on, off, switch)
    assert n_on["expiries"] > 0
    assert not n_off["allowed"] and n_off["expiries"] == 0


def test_lapic_tick_does_not_step_over_a_native_hpet_rearm(monkeypatch, tmp_path):
    """The guest's last part: local APIC ticks taken natively while timer 1 (level, enabled) is
    re-armed by native comparator writes and polled.  The tick's new deadline must stop at the
    HPET event (the cells' dues are in its limit): the machine equals the one with the native
    tick off.  (Before the limit took the cells' dues, this differed: 715,436 vs 715,432
    cycles.)"""
    img = images.build("hpet_quiet")
    on, n_on = _run(monkeypatch, tmp_path, True, 60_000_000, img=img)
    off, n_off = _run(monkeypatch, tmp_path, True, 60_000_000, env={"BAREFLOW_NATIVE_LAPIC_TICK": "0"}, img=img)
    _compare(on, off, "lapic tick")
    assert n_on["lapic_ticks"] >= 30 and n_off["lapic_ticks"] == 0, (n_on, n_off)
    assert on["serial"].decode().splitlines()[-1].startswith("LAPIC ticks while polling: 0000002B ")


def test_cells_mirror_every_hpet_event(monkeypatch):
    """C knows every HPET timer event's cycle: at each stop the cells' `due` is the cycle of
    the timer's live clock event (none: all ones), whoever armed it."""
    from bareflow.devices.hpet import NO_DUE
    monkeypatch.setenv("BAREFLOW_NATIVE_HPET_EXPIRY", "1")
    m = Machine(MachineConfig(image=images.build("hpet_quiet")))
    hpet = m.board.devices["hpet"]
    seen = 0
    for stop in range(50_000, 1_200_000, 7_919):
        if m.run(stop) != StopReason.CYCLE_LIMIT:
            break
        for t in hpet.timers:
            ev = t.event
            live = ev is not None and not ev.cancelled
            assert t.cell.due == (ev.cycle if live else NO_DUE), (stop, t.tn)
            seen += live
    m.close()
    assert seen > 10


def test_linux_calibration_identical_with_native_expiry(monkeypatch, tmp_path):
    """The Debian kernel up to just after its HPET calibration (drivers/char/hpet.c's
    __hpet_calibrate, ~9,100 quiet expiries of timer 2): the same machine, trace and events."""
    from bareflow.tools import guests
    found = sorted(guests.LINUX_CACHE.glob("boot/vmlinuz-*-686"))
    if not found:
        pytest.skip("no cached Debian kernel (python -m bareflow.tools.guests linux)")
    kw = dict(kernel=str(found[-1]), append=guests.LINUX_APPEND, no_reboot=True)
    on, n_on = _run(monkeypatch, tmp_path, True, LINUX_CYCLES, **kw)
    off, n_off = _run(monkeypatch, tmp_path, False, LINUX_CYCLES, **kw)
    _compare(on, off, "linux")
    assert n_off["expiries"] == 0
    assert n_on["expiries"] >= 9000, n_on


#: just past the HPET driver's calibration in the Debian boot (its 9,106 timer-2 expiries fall
#: between cycles 3,381,885,462 and 3,382,085,511)
LINUX_CYCLES = 3_400_000_000
