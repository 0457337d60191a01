"""The local APIC's EOI and timer registers and the HPET main counter and comparators in C (emu/fastpath_lapic.c,
emu/fastlapic.py): the same machine with the native MMIO path on and off.

Each guest runs with BAREFLOW_NATIVE_LAPIC / BAREFLOW_NATIVE_HPET =1 and =0 and everything
observable must be equal: stop reason, cycles, instructions, registers, RAM, COM1, the profile,
the trace file byte for byte (every event with its cycle and instruction count), the events a
subscriber sees, the local APIC's, HPET's and 8259's state and the clock's pending events.  The
guests that exercise the path must have had their accesses answered natively (the counters), so
a path that silently falls back to Python cannot pass; with an MMIO observer (the journey) the
path must not act at all.
"""
from __future__ import annotations

import hashlib
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "images"))

import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.trace import TraceSink  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm is needed to assemble the guests")

#: guest -> the native answers it must at least have had: (EOIs, initial counts, current counts,
#: HPET counter reads)
GUESTS = {"lapic_tick": (600, 400, 2500, 2000), "kern_lapic": (5, 0, 0, 0), "kern_hpet": (1, 0, 0, 0),
          "kern_ioapic": (1, 0, 0, 0), "irq_open": (0, 0, 0, 0), "core_pm": (0, 0, 0, 0)}
_SWITCHES = ("BAREFLOW_NATIVE_LAPIC", "BAREFLOW_NATIVE_HPET")


def _state(m: Machine) -> dict[str, Any]:
    m.fast.flush_frames()
    devs = m.board.devices
    return {"cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
            "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
            "profile": [(p["name"], p["calls"], p["exclusive_cycles"], p["inclusive_cycles"])
                        for p in m.profile_table()],
            "lapic": m.board.lapic.state(), "hpet": devs["hpet"].state(), "ioapic": devs["ioapic"].state(),
            "pic": devs["pic"].state(), "pending": m.clock.pending()}


def _observe(monkeypatch: pytest.MonkeyPatch, tmp: Path, native: bool, max_cycles: int, *,
             img: Path | None = None, journey: bool = False, **config: Any) -> tuple[dict[str, Any], dict[str, int]]:
    for name in _SWITCHES:
        monkeypatch.setenv(name, "1" if native else "0")
    trace = tmp / f"trace-{int(native)}.jsonl"
    m = Machine(MachineConfig(image=img if img is not None else "", trace=TraceSink(trace), **config))
    events: list[tuple] = []
    m.hooks.events.append(lambda kind, c, i, f: events.append((kind, c, i, sorted(f.items(), key=str))))
    j = None
    if journey:
        from bareflow.emu.journey import Journey
        j = Journey().attach(m)
    reason = m.run(max_cycles)
    out = _state(m)
    counts = m.lapic_native.counts()
    m.close()
    out.update(reason=reason, events=events, trace=trace.read_bytes(),
               journey=[(s.kind, s.cycle, s.title) for s in j.milestones] if j is not None else None)
    return out, counts


def _compare(on: dict, off: dict, name: str) -> None:
    for key in on:
        assert on[key] == off[key], f"{name}: {key} differs with the native LAPIC/HPET path on"


def _native(n: dict[str, int]) -> tuple[int, int, int, int]:
    return n["eois"], n["tmicts"], n["tmccts"], n["hpet_reads"]


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_native_lapic_changes_nothing(name, monkeypatch, tmp_path):
    img = images.build(name)
    on, n_on = _observe(monkeypatch, tmp_path, True, 60_000_000, img=img)
    off, n_off = _observe(monkeypatch, tmp_path, False, 60_000_000, img=img)
    _compare(on, off, name)
    assert _native(n_off) == (0, 0, 0, 0) and n_off["learned"] == 0
    assert all(got >= want for got, want in zip(_native(n_on), GUESTS[name])), n_on


def test_lapic_tick_guest_runs_every_case(monkeypatch, tmp_path):
    """The workout ran to its end (one-shot re-armed after and before the EOI, a zero count,
    periodic with a self-IPI made deliverable by the EOI and a level vector, the HPET) and the
    level vector's EOIs went to Python (the I/O APIC's remote IRR)."""
    on, n = _observe(monkeypatch, tmp_path, True, 60_000_000, img=images.build("lapic_tick"))
    assert on["reason"] == StopReason.POWER_OFF
    lines = on["serial"].decode().splitlines()
    assert lines[-4].startswith("one-shot: ticks, checksum, count 0000012D ") and lines[-4].endswith(" 00000000")
    assert lines[-3].startswith("one-shot /16 re-armed before EOI: 00000096 ")
    assert lines[-2].startswith("periodic: ticks, ipis, level, checksum 000000C8 00000032 0000000C ")
    assert lines[-1].startswith("hpet counter checksum ")
    assert n["py_writes"] >= 12 and n["learned"] >= 4, n     # the level EOIs; one lesson per timed site
    assert n["hpet_cmps"] >= 1500, n                         # Linux's hpet_calibrate loop, natively


@pytest.mark.parametrize("name", ["lapic_tick", "kern_lapic"])
def test_an_mmio_observer_keeps_every_access_in_python(name, monkeypatch, tmp_path):
    """The journey observes MMIO: the native path must step aside (and the machine be equal)."""
    img = images.build(name)
    on, n_on = _observe(monkeypatch, tmp_path, True, 60_000_000, img=img, journey=True)
    off, _ = _observe(monkeypatch, tmp_path, False, 60_000_000, img=img, journey=True)
    _compare(on, off, name)
    assert _native(n_on) == (0, 0, 0, 0), n_on


def test_an_observer_added_mid_run_takes_over(monkeypatch, tmp_path):
    monkeypatch.setenv("BAREFLOW_NATIVE_LAPIC", "1")
    m = Machine(MachineConfig(image=images.build("lapic_tick")))
    m.run(300_000)
    before = m.lapic_native.counts()
    assert before["eois"] > 0
    seen: list[tuple] = []
    m.board.mmio_observers.append(lambda *a: seen.append(a))
    m.run(60_000_000)
    after = m.lapic_native.counts()
    assert _native(after) == _native(before) and seen
    assert any(a[0] == "write" and a[1] == 0xFEE000B0 for a in seen)


def test_lapic_and_hpet_arithmetic_in_c_match_the_models(monkeypatch):
    """The current count (every divide, both modes) and the HPET main counter, random values
    and times: the C code against devices/lapic.py `_current_count` and devices/hpet.py `_ticks`."""
    from bareflow.devices.lapic import TIMER_PERIODIC
    monkeypatch.setenv("BAREFLOW_NATIVE_LAPIC", "1")
    m = Machine(MachineConfig(image=images.build("core_pm")))
    lapic, hpet, fl = m.board.lapic, m.board.devices["hpet"], m.lapic_native
    rng = random.Random(7)
    for _ in range(3000):
        lapic.initial_count = rng.choice([0, 1, 2, 0xFFFFFFFF, rng.randrange(1 << 32)])
        lapic.count_shift = rng.randrange(8)
        lapic.lvt[0] = rng.choice([0, TIMER_PERIODIC]) | 0x40
        lapic.load_time = rng.randrange(1 << 40) * 10     # a write's cycle in ns
        now = lapic.load_time // 10 + rng.choice([0, 1, rng.randrange(1 << 30), rng.randrange(1 << 40)])
        m.fast.h.cycles = now
        assert fl.probe_tmcct(now) == lapic.current_count(), (lapic.state(), now)
    for _ in range(2000):
        hpet.config = rng.choice([0, 1])
        hpet.counter = rng.choice([0, rng.randrange(1 << 64)])
        hpet.offset_ns = rng.randrange(-(1 << 40), 1 << 62)
        hpet._publish()
        now = rng.randrange(1 << 40)
        m.fast.h.cycles = now
        want = hpet._read64(0xF0)
        got = fl.probe_hpet(now)
        assert got is None or got == want, (hpet.state(), now)
        if hpet.config == 0 or hpet.offset_ns + now * 10 >= 0:
            assert got == want


def test_the_lapic_registers_outlive_their_machine(monkeypatch):
    import gc
    monkeypatch.setenv("BAREFLOW_NATIVE_LAPIC", "1")
    m = Machine(MachineConfig(image=images.build("lapic_tick")))
    m.run(60_000_000)
    lapic = m.board.lapic
    state = lapic.state()
    m.close()
    del m
    gc.collect()
    assert lapic.state() == state
    lapic.mmio_write(0x80, 4, 0x20)
    assert lapic.mmio_read(0x80, 4) == 0x20


def test_linux_boot_start_identical(monkeypatch, tmp_path):
    """The first 3.6 G cycles of the Debian kernel (decompression, early init with the HPET
    clocksource and the first local APIC ticks): the same machine, trace and events."""
    from bareflow.tools import guests
    found = sorted(guests.LINUX_CACHE.glob("boot/vmlinuz-*-686"))
    if not found:
        pytest.skip("no cached Debian kernel (python -m bareflow.tools.guests linux)")
    kw = dict(kernel=str(found[-1]), append=guests.LINUX_APPEND, no_reboot=True)
    on, n_on = _observe(monkeypatch, tmp_path, True, 3_600_000_000, **kw)
    off, n_off = _observe(monkeypatch, tmp_path, False, 3_600_000_000, **kw)
    _compare(on, off, "linux")
    assert _native(n_off) == (0, 0, 0, 0)
    assert n_on["eois"] >= 100 and n_on["tmicts"] >= 100 and n_on["hpet_reads"] >= 10000, n_on
    assert n_on["hpet_cmps"] >= 10000 and n_off["hpet_cmps"] == 0, n_on
