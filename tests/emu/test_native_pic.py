"""The idle timer tick inside emu_start (emu/fastpath_pic.c, emu/fastpic.py): the same machine.

An idle guest's PIT tick -- HLT, channel 0's transitions, the 8259's IRQ0 and INTA, the
delivery through a same-ring gate -- is done by a code hook on the HLT without leaving
emu_start.  Each guest runs with BAREFLOW_NATIVE_PIC=1 and =0 and everything observable must
be equal: stop reason, cycles, instructions, registers, RAM, COM1, the profile, the trace file
byte for byte (every event with its cycle and instruction count), the events a subscriber
sees, the journey's milestones, the 8259's and PIT's state.  The guests that idle must have
had ticks delivered natively (the counter), so a path that silently falls back cannot pass.
"""
from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent / "images"))

import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.trace import TraceSink  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm is needed to assemble the guests")

LLAMA = ROOT / "images" / "fluid_llama.img"
LLAMA_CMDLINE = 'prompt="Once upon a time" steps=48 exit=1'

#: guest -> native ticks at least (0: the native tick must not act there: no EOI, IRQ0 masked,
#: IF clear, IRQ0 routed through the I/O APIC, a gate not present; None: either way)
GUESTS = {"pic_tick": 15, "irq_open": 1, "irq_noeoi": 0, "irq_masked": 0, "irq_cli": 0, "irq_tpr": 0,
          "irq_np": 0, "kern_lapic": None, "kern_hpet": None, "kern_ioapic": None, "core_pm": 1}


def _state(m: Machine) -> dict[str, Any]:
    m.fast.flush_frames()
    return {"cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
            "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
            "profile": [(p["name"], p["calls"], p["exclusive_cycles"], p["inclusive_cycles"])
                        for p in m.profile_table()],
            "pic": m.board.devices["pic"].state(), "pit": m.board.devices["pit"].state(),
            "pending": m.clock.pending(), "privilege": m.privilege.short()}


def _observe(img: Path, native: bool, monkeypatch: pytest.MonkeyPatch, tmp: Path, max_cycles: int,
             journey: bool = True, feed=None) -> tuple[dict[str, Any], dict[str, int]]:
    monkeypatch.setenv("BAREFLOW_NATIVE_PIC", "1" if native else "0")
    trace = tmp / f"trace-{int(native)}.jsonl"
    m = Machine(MachineConfig(image=img, trace=TraceSink(trace)))
    events: list[tuple] = []
    m.hooks.events.append(lambda kind, c, i, f: events.append((kind, c, i, sorted(f.items(), key=str))))
    j = None
    if journey:
        from bareflow.emu.journey import Journey
        j = Journey().attach(m)
    if feed is None:
        reason = m.run(max_cycles)
    else:
        reason = feed(m, max_cycles)
    out = _state(m)
    m.close()
    out.update(reason=reason, events=events, trace=trace.read_bytes(),
               journey=[(s.kind, s.cycle, s.title) for s in j.milestones] if j is not None else None)
    return out, m.pic_tick.counts()


def _compare(on: dict, off: dict, name: str) -> None:
    for key in on:
        assert on[key] == off[key], f"{name}: {key} differs with the native tick on"


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_native_tick_changes_nothing(name, monkeypatch, tmp_path):
    img = images.build(name)
    on, n_on = _observe(img, True, monkeypatch, tmp_path, 50_000_000)
    off, n_off = _observe(img, False, monkeypatch, tmp_path, 50_000_000)
    _compare(on, off, name)
    assert n_off["ticks"] == 0
    if GUESTS[name]:
        assert n_on["ticks"] >= GUESTS[name], n_on
    elif GUESTS[name] == 0:
        assert n_on["ticks"] == 0, n_on


def test_pic_tick_guest_prints_its_ticks(monkeypatch, tmp_path):
    """Every 8259 mode of the workout ran (it prints its tick count and powers off)."""
    on, n = _observe(images.build("pic_tick"), True, monkeypatch, tmp_path, 50_000_000, journey=False)
    assert on["reason"] == StopReason.POWER_OFF
    assert on["serial"].endswith(b"pic_tick ticks=00000028\r\n")
    assert n["ticks"] >= 15 and n["sites"] >= 5


@pytest.mark.parametrize("name", ["pic_tick", "irq_open", "irq_noeoi"])
def test_native_eois_change_nothing(name, monkeypatch, tmp_path):
    """Without the journey (which observes the 8259's ports) the EOIs -- non-specific, specific,
    rotating, the slave's and the master's cascade EOI -- are written in C too."""
    img = images.build(name)
    on, n_on = _observe(img, True, monkeypatch, tmp_path, 50_000_000, journey=False)
    off, n_off = _observe(img, False, monkeypatch, tmp_path, 50_000_000, journey=False)
    _compare(on, off, name)
    assert n_off["eois"] == 0
    if name == "pic_tick":
        assert n_on["eois"] >= 20, n_on


def _llama_idle(m: Machine, max_cycles: int) -> StopReason:
    """fluid_llama to its prompt, then idle; keys typed between idle stretches."""
    m.run(400_000_000)
    for text in ("hi", "\b\b", "x"):
        m.door.put("keys", text)
        m.run(m.cycles + max_cycles // 4)
    return m.run(m.cycles + max_cycles // 4)


def test_the_bundled_image_idles_natively_and_identically(monkeypatch, tmp_path):
    """fluid_llama.img at its prompt, 100 Hz ticks and keys typed: the same machine, the same
    trace, the same journey; almost every tick was native."""
    if not LLAMA.exists():
        pytest.skip("images/fluid_llama.img is not built")
    on, n_on = _observe(LLAMA, True, monkeypatch, tmp_path, 200_000_000, feed=_llama_idle)
    off, n_off = _observe(LLAMA, False, monkeypatch, tmp_path, 200_000_000, feed=_llama_idle)
    _compare(on, off, "fluid_llama")
    assert b"> " in on["serial"] and n_off["ticks"] == 0
    assert n_on["ticks"] >= 150, n_on                 # ~600 ticks in all, the first few in Python
    # the live journey no longer observes 0x20/0xA0 (emu/journey.py LIVE_PORTS): EOIs native too
    assert n_on["eois"] >= 150, n_on


def test_the_bundled_image_idles_headless_with_native_eois(monkeypatch, tmp_path):
    """Headless (no journey): the kernel's EOIs are written in C as well."""
    if not LLAMA.exists():
        pytest.skip("images/fluid_llama.img is not built")
    on, n_on = _observe(LLAMA, True, monkeypatch, tmp_path, 200_000_000, journey=False, feed=_llama_idle)
    off, _ = _observe(LLAMA, False, monkeypatch, tmp_path, 200_000_000, journey=False, feed=_llama_idle)
    _compare(on, off, "fluid_llama headless")
    assert n_on["ticks"] >= 150 and n_on["eois"] >= 150, n_on
    assert any(e[0] == "interrupt" for e in on["events"]) and any(e[0] == "hlt" for e in on["events"])


def test_the_paced_run_loop_keeps_the_machine(monkeypatch, tmp_path):
    """The TUI's run (wait_for_input, paced to the wall clock): 0.3 s of idle guest time, the
    same cycles and state; the slice ran several ticks natively (one wake-up per burst)."""
    if not LLAMA.exists():
        pytest.skip("images/fluid_llama.img is not built")

    def paced(m: Machine, max_cycles: int) -> StopReason:
        m.run(400_000_000)
        return m.run(m.cycles + max_cycles, wait_for_input=True)

    on, n_on = _observe(LLAMA, True, monkeypatch, tmp_path, 30_000_000, feed=paced)
    off, _ = _observe(LLAMA, False, monkeypatch, tmp_path, 30_000_000, feed=paced)
    _compare(on, off, "fluid_llama paced")
    assert n_on["ticks"] >= 20, n_on


def test_input_from_another_thread_wakes_the_native_idle(monkeypatch):
    """A key put by another thread (the TUI's session) ends a native idle slice at once: it
    reaches the keyboard within the pacing lead of the wall clock, not at the slice's end."""
    if not LLAMA.exists():
        pytest.skip("images/fluid_llama.img is not built")
    monkeypatch.setenv("BAREFLOW_NATIVE_PIC", "1")
    m = Machine(MachineConfig(image=LLAMA))
    m.run(400_000_000)
    start = m.cycles
    threading.Timer(0.2, lambda: m.door.put("keys", "a")).start()
    m.run(m.cycles + 60_000_000, wait_for_input=True)   # 0.6 s of guest time, paced
    arrived = [c for c, kind, _ in m.door.log if kind == "keys"]
    assert arrived and arrived[-1] - start < 35_000_000, (arrived, start)
    assert m.pic_tick.counts()["ticks"] > 10


def test_fluid_llama_batch_keeps_its_exact_cycles(monkeypatch, tmp_path):
    if not LLAMA.exists():
        pytest.skip("images/fluid_llama.img is not built")
    img = tmp_path / "fluid_llama.img"
    shutil.copy(LLAMA, img)
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img), LLAMA_CMDLINE],
                   check=True, capture_output=True)
    monkeypatch.setenv("BAREFLOW_NATIVE_PIC", "1")
    m = Machine(MachineConfig(image=img))
    assert m.run(3_000_000_000) == StopReason.POWER_OFF
    assert (m.cycles, m.instructions) == (110_135_667, 36_915_989)


def test_pit_arithmetic_in_c_matches_the_model(monkeypatch):
    """Channel 0's output and next transition, every mode, random reloads and times: the C
    code (fpic_pit_out / fpic_pit_next) against devices/pit.py `_Channel`."""
    from bareflow.devices.pit import _Channel, _ticks_to_cycle_ceil
    monkeypatch.setenv("BAREFLOW_NATIVE_PIC", "1")
    m = Machine(MachineConfig(image=images.build("core_pm")))
    h, rng = m.pic_tick.h, random.Random(11)
    for _ in range(3000):
        ch = _Channel(1)
        ch.mode = rng.randrange(6)
        ch.count = rng.choice([1, 2, 3, 1193, 0x10000, rng.randrange(1, 0x10001)])
        ch.load_cycle = rng.randrange(0, 1 << 40)
        now = ch.load_cycle + rng.choice([0, 1, 83, 84, rng.randrange(0, 1 << 32)])
        h.pit_mode, h.pit_count, h.pit_load_cycle = ch.mode, ch.count, ch.load_cycle
        tick = ch.next_transition_tick(now)
        want = (ch.out(now), None if tick is None else ch.load_cycle + _ticks_to_cycle_ceil(tick))
        assert m.pic_tick.pit_probe(now) == want, (ch.mode, ch.count, ch.load_cycle, now)


def test_the_8259_outlives_its_machine(monkeypatch):
    """The registers live in memory Python owns: a device kept after its machine is gone still
    reads and writes them."""
    import gc
    monkeypatch.setenv("BAREFLOW_NATIVE_PIC", "1")
    m = Machine(MachineConfig(image=images.build("irq_open")))
    m.run(50_000_000)
    pic = m.board.devices["pic"]
    base = pic.state()["vector_base"]
    m.close()
    del m
    gc.collect()
    assert pic.state()["vector_base"] == base == [0x20, 0x28]
    pic.io_write(0x21, 1, 0x5A)
    assert pic.io_read(0x21, 1) == 0x5A


def test_native_ticks_give_each_event_to_its_readers_only(monkeypatch, tmp_path):
    """The events of native ticks go through `Hooks.route`, as Core.emit's do: a subscriber that
    reads only "interrupt" (the privilege tracker, the watched-instruction observer, the fault
    watcher) is not called for each tick's "hlt"; one that reads everything still gets both, in
    order (issue 11: the idle TUI's per-tick Python)."""
    if not LLAMA.exists():
        pytest.skip("images/fluid_llama.img is not built")
    monkeypatch.setenv("BAREFLOW_NATIVE_PIC", "1")
    img = tmp_path / "llama.img"
    shutil.copyfile(LLAMA, img)
    m = Machine(MachineConfig(image=img))
    m.run(400_000_000)
    every: list[tuple] = []
    some: list[tuple] = []
    m.hooks.events.append(lambda kind, c, i, f: every.append((kind, c, i)))
    m.hooks.subscribe(m.hooks.events, lambda kind, c, i, f: some.append((kind, c, i)),
                      kinds=frozenset({"interrupt"}))
    t0 = m.pic_tick.counts()["ticks"]
    m.run(m.cycles + 30_000_000)
    ticks = m.pic_tick.counts()["ticks"] - t0
    m.close()
    assert ticks >= 20, ticks
    assert {e[0] for e in every} >= {"hlt", "interrupt"}
    assert some == [e for e in every if e[0] == "interrupt"] and len(some) >= ticks
