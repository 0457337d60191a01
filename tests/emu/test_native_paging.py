"""Protected-mode delivery, same-ring IRET / far RET and MOV CR3 with paging ON, in C
(emu/fastpath_paging.c): the same machine either way.

The same walker answers `Cpu.read`/`Cpu.fetch` (the pricer's code bytes, descriptor reads).
Each guest runs three ways -- everything native, `BAREFLOW_NATIVE_PAGING=0` (the paging-on part
back in Python, the rest native) and `BAREFLOW_NATIVE_DELIVERY=0` (the reference) -- and
everything observable must be equal: stop reason, cycles, instructions, registers, RAM (the
page tables' Accessed and Dirty bits among it), COM1, the per-function profile, every event,
the privilege counts.  The paging tick guests (tests/images/paging_tick*.asm: 32-bit with a PSE
page, PAE with a 2 MiB page) must have been handled natively -- deliveries, IRETs, MOV CR3 --
so a path that silently falls back cannot pass; guests with ring changes and page faults must
fall back where the native code does not go and still match.
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

#: guest -> (paging-on native deliveries, IRET/RETF, MOV CR3, Cpu.read/fetch) at least
GUESTS = {"paging_tick": (2000, 4000, 2000, 30), "paging_tick_pae": (2000, 4000, 2000, 30),
          "core_paging": (1, 1, 0, 10), "paging_user": (0, 0, 0, 10), "paging_user_pae": (0, 0, 0, 10),
          "paging_higher": (0, 0, 0, 10)}
MODES = {"native": {}, "no_paging": {"BAREFLOW_NATIVE_PAGING": "0"},
         "python": {"BAREFLOW_NATIVE_DELIVERY": "0"}}


def observe(name: str, monkeypatch: pytest.MonkeyPatch, mode: str, batched: bool = True) -> dict[str, Any]:
    monkeypatch.delenv("BAREFLOW_NATIVE_PAGING", raising=False)
    monkeypatch.delenv("BAREFLOW_NATIVE_DELIVERY", raising=False)
    for k, v in MODES[mode].items():
        monkeypatch.setenv(k, v)
    m = Machine(MachineConfig(image=images.build(name)))
    events: list[tuple] = []

    def seen(kind, c, i, f):
        events.append((kind, c, i, sorted(f.items(), key=str)))

    # a batched subscriber keeps the native paths on: it is promised every event but the
    # `cr_write` of a MOV CR3 with paging on; a plain one turns MOV CR3 (only) back to Python
    m.hooks.subscribe(m.hooks.events, seen, batched=batched)
    reason = m.run(200_000_000)
    m.fast.flush_frames()
    return {
        "reason": reason, "cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
        "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
        "profile": [(p["name"], p["calls"], p["exclusive_cycles"], p["inclusive_cycles"]) for p in m.profile_table()],
        "events": [e for e in events if not (batched and e[0] == "cr_write")],
        "privilege": m.privilege.short() if getattr(m, "privilege", None) else None,
        "counts": m.native.paging.counts(),
    }


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in a:
        if key != "counts":
            assert a[key] == b[key], key


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_paging_on_deliveries_match(name, monkeypatch):
    on = observe(name, monkeypatch, "native")
    half = observe(name, monkeypatch, "no_paging")
    off = observe(name, monkeypatch, "python")
    _same(on, off)
    _same(half, off)
    assert half["counts"] == (0, 0, 0, 0) and off["counts"] == (0, 0, 0, 0)
    need = GUESTS[name]
    assert all(got >= n for got, n in zip(on["counts"], need)), on["counts"]
    if need[0] == 0:
        assert on["counts"][0] == 0       # ring changes and exceptions: Python's


def test_a_plain_subscriber_sees_every_cr_write(monkeypatch):
    """A subscriber that is not batched gets MOV CR3's `cr_write` events: that one goes back to
    Python, the deliveries and IRETs stay native, and the events are identical."""
    on = observe("paging_tick", monkeypatch, "native", batched=False)
    off = observe("paging_tick", monkeypatch, "python", batched=False)
    _same(on, off)
    assert on["counts"][0] >= 2000 and on["counts"][1] >= 4000 and on["counts"][2] == 0
    assert sum(1 for e in on["events"] if e[0] == "cr_write") >= 2000


def test_the_tick_guests_print_what_qemu_prints_about_paging():
    """The transcript's tick count and page-table bits (A/D) as under QEMU, except the two
    known differences of the model: the INT 0x31 count (how many loop turns fit in a tick
    depends on the cycle model) and the GDT page's Dirty bit (Unicorn sets the descriptors'
    Accessed bit when the host loads CS after a delivery; QEMU's own delivery does not)."""
    for name in ("paging_tick", "paging_tick_pae"):
        m = Machine(MachineConfig(image=images.build(name)))
        m.run(200_000_000)
        lines = bytes(m.serial_out).decode().split("\r\n")
        assert lines[0] == "paging on"
        assert lines[1].startswith("ticks 00000028 int31 ")
        pt1 = lines[4].split()
        assert pt1[1:4] == ["00200023", "00201063", "00202063"]
        assert pt1[5] == "00204063"   # the page only a delivery frame wrote: Accessed + Dirty
