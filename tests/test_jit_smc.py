"""Self-modifying code: a guest rewrites a function in place (same address, same length) and
calls it again.  Unicorn must run the new bytes and BareFlow must charge their price: block
prices are cached per (pc, size), so without the re-pricing of re-translated blocks
(emu/fastpath.c, UC_HOOK_EDGE_GENERATED) the second call would be charged body A's price."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import fastpath  # noqa: E402
from bareflow.emu.costs import CostModel  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

BODY_A = bytes.fromhex("b801000000909090c3")     # mov eax, 1; nop x3; ret
BODY_B = bytes.fromhex("31c0406bc0074040c3")     # xor eax, eax; inc; imul eax, eax, 7; inc; inc; ret


def _run() -> tuple[Machine, list[tuple[int, int]]]:
    img = images.build("core_smc.asm")
    data = img.read_bytes()
    assert BODY_A in data and BODY_B in data
    m = Machine(MachineConfig(image=img))
    assert m.run(max_cycles=500_000_000) == StopReason.POWER_OFF
    rows = [line.split() for line in bytes(m.serial_out).decode().splitlines() if line.strip()]
    return m, [(int(a, 16), int(b, 16)) for a, b in rows]


def _price(code: bytes) -> int:
    return CostModel().block(code, 0x8000, True, protected=True).total


def test_rewritten_function_runs_and_is_repriced():
    m, rows = _run()
    assert [r for r, _ in rows] == [1, 9, 1]           # Unicorn ran the new bytes, then the old
    (_, d_a), (_, d_b), (_, d_a2) = rows
    assert d_a2 == d_a                                   # restored body: the old price again
    assert d_b - d_a == _price(BODY_B) - _price(BODY_A) == 10
    assert m.fast.retranslated >= 2                      # both rewrites were seen


def test_without_repricing_the_stale_price_would_stay(monkeypatch):
    """The check above can fail: with the re-pricing hook left out, B is charged A's price."""
    real = fastpath.FastPath._add_raw_hook

    def no_edge(self, htype, fnptr, begin, end, *extra):
        if htype == fastpath.UC_HOOK_EDGE_GENERATED:
            return
        real(self, htype, fnptr, begin, end, *extra)

    monkeypatch.setattr(fastpath.FastPath, "_add_raw_hook", no_edge)
    _, rows = _run()
    assert [r for r, _ in rows] == [1, 9, 1]
    assert rows[1][1] == rows[0][1]                      # stale: same cycles for different code


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="qemu-system-i386 not installed")
def test_qemu_runs_the_same_bodies():
    out, _ = images.run_qemu(images.build("core_smc.asm"))
    rows = [line.split() for line in out.decode().splitlines() if line.strip()]
    assert [int(r[0], 16) for r in rows] == [1, 9, 1]
