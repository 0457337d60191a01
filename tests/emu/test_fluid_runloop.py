"""The fluid_llama batch run loop (issue 11, "fluid"): what stays out of Python there.

Pins the mechanisms, so that a change which brings a cost back into the run loop fails:
- the watched instructions the batch executes (LIDT, MOV CR0, far jumps, MOV SS: the kernel
  switches between real and protected mode for its BIOS calls) are decoded by
  emu/x86_watched.py, so a warm run never imports capstone;
- the decoder and capstone give the same events (cr_write, lidt with its entries, mode,
  privilege...), cycles, instructions and COM1 bytes (capstone forced by making the small
  decoder refuse everything).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import x86_watched  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig  # noqa: E402

LLAMA = ROOT / "images" / "fluid_llama.img"
CMDLINE = 'prompt="Once upon a time" steps=48 exit=1'
LLAMA_CYCLES, LLAMA_INSNS = 110_135_667, 36_915_989


def _llama(tmp_path: Path) -> Path:
    img = tmp_path / "llama.img"
    shutil.copy(LLAMA, img)
    elf = ROOT / "images" / "tinyllama_bare.elf"
    if elf.exists():
        shutil.copy(elf, tmp_path / elf.name)
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img), CMDLINE],
                   check=True, capture_output=True)
    return img


_PROBE = """
import json, sys
from bareflow.emu.machine import Machine, MachineConfig
m = Machine(MachineConfig(image=sys.argv[1]))
reason = m.run(max_cycles=2_000_000_000)
print(json.dumps({"capstone": "capstone" in sys.modules, "cycles": m.cycles,
                  "insns": m.instructions, "reason": reason.value,
                  "serial": bytes(m.serial_out).hex()}))
"""


@pytest.mark.skipif(not LLAMA.exists(), reason="images/fluid_llama.img is not built")
def test_a_warm_fluid_llama_batch_loads_no_capstone(tmp_path):
    img = _llama(tmp_path)
    env = {**os.environ, "BAREFLOW_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("BAREFLOW_PRICE_CACHE", None)
    runs = []
    for _ in range(2):          # cold (prices the blocks with capstone), then warm
        out = subprocess.run([sys.executable, "-c", _PROBE, str(img)], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    assert warm["capstone"] is False
    assert (warm["cycles"], warm["insns"]) == (LLAMA_CYCLES, LLAMA_INSNS)
    for key in ("cycles", "insns", "reason", "serial"):
        assert cold[key] == warm[key], key


def _run_events(img: Path, max_cycles: int) -> dict:
    m = Machine(MachineConfig(image=str(img)))
    events: list = []
    m.hooks.events.append(lambda kind, cycle, icount, fields: events.append((kind, cycle, icount, repr(fields))))
    reason = m.run(max_cycles=max_cycles)
    return {"events": events, "cycles": m.cycles, "insns": m.instructions, "reason": reason.value,
            "serial": bytes(m.serial_out), "regs": {r: m.cpu.get(r) for r in ("eax", "ebx", "ecx", "edx", "esp", "eip", "cr0")}}


def _refuse(*_args, **_kw):
    return None


@pytest.mark.parametrize("which", ["core_pm.asm", "llama"])
def test_small_decoder_and_capstone_give_the_same_run(which, tmp_path, monkeypatch):
    if which == "llama":
        if not LLAMA.exists():
            pytest.skip("images/fluid_llama.img is not built")
        img, limit = _llama(tmp_path), 2_000_000_000
    else:
        img, limit = images.build(which, tmp_path), 50_000_000
    calls = []
    real = x86_watched.decode

    def counting(*a, **k):
        insn = real(*a, **k)
        calls.append(insn is not None)
        return insn
    monkeypatch.setattr(x86_watched, "decode", counting)
    ours = _run_events(img, limit)
    assert calls and all(calls), "the small decoder was not used for every watched instruction"
    monkeypatch.setattr(x86_watched, "decode", _refuse)       # special.py falls back to capstone
    theirs = _run_events(img, limit)
    kinds = {e[0] for e in ours["events"]}
    assert {"cr_write", "mode"} <= kinds and kinds & {"lgdt", "lidt"}, kinds
    assert ours == theirs
    if which == "llama":
        assert (ours["cycles"], ours["insns"]) == (LLAMA_CYCLES, LLAMA_INSNS)


# ---------------------------------------------------------------- the lazy I/O time
def _eager_on_in(self, port, size):          # emu/core.py before the lazy time, verbatim
    self._io_now = self.pricer.exact_now()
    try:
        return self.board.bus.io_read(port, size)
    finally:
        self._io_now = None
        self._after_io()


def _eager_on_out(self, port, size, value):
    self._io_now = self.pricer.exact_now()
    try:
        self.board.bus.io_write(port, size, value)
    finally:
        self._io_now = None
        self._after_io()


def _port_run(img: Path, trace_path: Path, **kw) -> tuple:
    from bareflow.emu.trace import TraceSink
    m = Machine(MachineConfig(image=img, trace=TraceSink(trace_path), **kw))
    m.ports.disable()          # every IN/OUT through Python: the time-dependent reads too
    reason = m.run(max_cycles=3_000_000_000)
    m.close()
    return (reason, m.cycles, m.instructions, bytes(m.serial_out), m.exit_status, m.profile_table(),
            trace_path.read_bytes())


@pytest.mark.parametrize("name", ["native_ports.asm", "bios_serial.asm", "reset_cmos.asm", "ata_pio.asm",
                                  "port61.asm", "irq_open.asm", "kern_lapic.asm", "llama"])
def test_lazy_io_time_changes_nothing(name, tmp_path, monkeypatch):
    """An IN/OUT's exact cycle computed when a device first asks (emu/core.py `_now`) must be
    the cycle computed on entry, as before: the same run, trace and profile, byte for byte."""
    from bareflow.emu import core as core_mod, pricing
    if name == "llama":
        if not LLAMA.exists():
            pytest.skip("images/fluid_llama.img is not built")
        img = _llama(tmp_path)
    else:
        img = images.build(name, tmp_path)
    kw: dict = {"no_reboot": False} if name == "reset_cmos.asm" else {}
    asked = []
    real = pricing.Pricer.exact_now
    monkeypatch.setattr(pricing.Pricer, "exact_now", lambda self: asked.append(1) or real(self))
    lazy = _port_run(img, tmp_path / "lazy.jsonl", **kw)
    lazy_asked = len(asked)
    monkeypatch.setattr(core_mod.Core, "_on_in", _eager_on_in)
    monkeypatch.setattr(core_mod.Core, "_on_out", _eager_on_out)
    asked.clear()
    eager = _port_run(img, tmp_path / "eager.jsonl", **kw)
    for what, a, b in zip(("reason", "cycles", "instructions", "COM1", "exit status", "profile", "trace"),
                          lazy, eager):
        assert a == b, f"{name}: {what} differs with the lazy I/O time"
    assert lazy_asked < len(asked), "every access still computed its time"


# ---------------------------------------------------------------- events routed by kind
def test_events_reach_only_the_subscribers_of_their_kind(tmp_path):
    """Hooks.kinds: a subscriber that declared kinds is called for those only, one without
    sees everything, in subscription order; the routes follow (un)subscriptions."""
    m = Machine(MachineConfig(image=str(images.build("core_pm.asm", tmp_path))))
    hooks = m.hooks
    seen: dict[str, list] = {"all": [], "serial": [], "mode": []}
    off_all = hooks.subscribe(hooks.events, lambda k, c, i, f: seen["all"].append(k))
    hooks.subscribe(hooks.events, lambda k, c, i, f: seen["serial"].append(k), kinds=frozenset({"serial"}))
    m.emit("serial", byte=65, char="A")
    m.emit("mode", mode="protected")
    late = hooks.subscribe(hooks.events, lambda k, c, i, f: seen["mode"].append(k), kinds=frozenset({"mode"}))
    m.emit("mode", mode="real")
    m.emit("serial", byte=66, char="B")
    late()
    m.emit("mode", mode="protected")
    off_all()
    m.emit("mode", mode="real")
    assert seen == {"all": ["serial", "mode", "mode", "serial", "mode"], "serial": ["serial", "serial"],
                    "mode": ["mode"]}
    # the watchers every run attaches read none of the COM1 bytes
    watchers = [m.special._observe, m.privilege.feed]
    assert all(w in hooks.events for w in watchers)
    assert not [w for w in watchers if w in hooks.observers_of("serial")]


def test_the_watchers_still_see_their_events(tmp_path):
    """ring3.asm goes to ring 3 and back: the privilege tracker (kinds privilege/interrupt/boot)
    counts the same transitions as before routing existed (all events delivered)."""
    from bareflow.emu import hooks as hooks_mod
    img = images.build("ring3.asm", tmp_path)

    def counts(routed: bool) -> tuple:
        orig = hooks_mod.Hooks.observers_of
        if not routed:
            hooks_mod.Hooks.observers_of = lambda self, kind: list(self.events)
        try:
            m = Machine(MachineConfig(image=str(img)))
            m.run(max_cycles=50_000_000)
            pt = m.privilege
            return m.cycles, bytes(m.serial_out), pt.to_user, pt.to_kernel, pt.cpl
        finally:
            hooks_mod.Hooks.observers_of = orig
    routed = counts(True)
    assert routed[2] > 0 and routed[3] > 0, routed      # it did go to ring 3 and back
    assert routed == counts(False)


# ---------------------------------------------------------------- BIOS services' memory view
def test_bios_services_read_physical_memory_without_a_cr0_read_each(tmp_path):
    """Cpu.bios_view: with paging off a service reads through read_phys (the same bytes as
    read, without one CR0 read through ctypes per access); with paging on it gets the CPU."""
    m = Machine(MachineConfig(image=str(images.build("core_pm.asm", tmp_path))))
    cpu = m.cpu
    view = cpu.bios_view()
    assert view is not cpu and view is cpu.bios_view()          # made once
    for addr, n in ((0x400, 2), (0x44A, 2), (0x7C00, 16), (0xFFFF0, 16)):
        assert view.read(addr, n) == cpu.read(addr, n)
    assert view.get("cs") == cpu.get("cs") and view.write == cpu.write
    cpu.set("cr3", 0x9000)
    cpu.set("cr0", cpu.get("cr0") | 0x80000001)
    assert cpu.bios_view() is cpu
