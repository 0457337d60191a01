"""Start-up (issue 11): what a short run pays before and after the guest's first instruction.

The figures themselves are bench/loops.py's (`--only one`, `--fill 1000`); these tests pin the
mechanisms that keep them low, so that a change which brings a cost back fails here: capstone
is not loaded when every price comes from the cache, RAM is not written at start, the price
cache stays bounded in bytes *and* shards, and the quick process exit loses no output.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import pricecache  # noqa: E402
from bareflow.emu.capstone_lazy import LazyModule  # noqa: E402
from bareflow.emu.pricecache import PriceCache  # noqa: E402

ONE = ROOT / "bench" / "loops" / "one.asm"

_PROBE = """
import json, sys
from bareflow.emu.machine import Machine, MachineConfig
m = Machine(MachineConfig(image=sys.argv[1]))
reason = m.run(max_cycles=2_000_000_000)
print(json.dumps({"capstone": "capstone" in sys.modules, "hashlib": "hashlib" in sys.modules,
                  "cycles": m.cycles, "insns": m.instructions, "reason": reason.value,
                  "serial": bytes(m.serial_out).hex()}))
"""


def _probe(img: Path, cache: Path) -> dict:
    env = {**os.environ, "BAREFLOW_CACHE_DIR": str(cache)}
    env.pop("BAREFLOW_PRICE_CACHE", None)
    out = subprocess.run([sys.executable, "-c", _PROBE, str(img)], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", [ONE, "core_pm.asm"])
def test_a_warm_run_loads_no_capstone_and_counts_the_same(name, tmp_path):
    """Cold: the blocks are priced (capstone decodes them).  Warm: every price is in the
    cache, so pricing loads neither capstone (15-25 ms to import) nor OpenSSL's hashlib; the
    cycles, instructions and COM1 output are the same.  (core_pm.asm executes watched
    instructions - LGDT, MOV CR0 - which emu/special.py decodes when they run, so capstone is
    loaded there at that point; the one-instruction image has none.)"""
    img = images.build(name, tmp_path)
    cold = _probe(img, tmp_path / "cache")
    warm = _probe(img, tmp_path / "cache")
    assert cold["capstone"] is True
    assert warm["hashlib"] is False
    if name == ONE:
        assert warm["capstone"] is False
    for key in ("cycles", "insns", "reason", "serial"):
        assert cold[key] == warm[key], key


def test_the_lazy_stand_in_is_the_module_once_used():
    lazy = LazyModule("json")
    assert "not loaded" in repr(lazy)
    assert lazy.dumps([1]) == "[1]" and lazy.JSONDecodeError is json.JSONDecodeError
    assert "loaded" in repr(lazy)


def test_cache_digest_is_sha256():
    """The built-in sha256 (no OpenSSL load) names shards exactly as hashlib would."""
    import hashlib
    data = bytes(range(256)) * 300
    assert pricecache._sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    h = hashlib.sha256((70000).to_bytes(8, "little"))
    h.update(data[:64 * 1024])
    assert pricecache.image_identity(data, 70000) == h.hexdigest()[:24]


def test_ram_is_zero_without_being_written_and_clears():
    from bareflow.emu.board import Board
    board = Board(64)
    assert board.ram[0x7C00] == 0 and board.ram[64 * 1024 * 1024 - 1] == 0
    board.ram[0x1000:0x1004] = b"abcd"
    board.ram[0x3FFFFFF] = 7
    assert board.read_phys(0x1000, 4) == b"abcd"
    board.clear_ram()
    assert board.read_phys(0x1000, 4) == b"\0\0\0\0" and board.ram[0x3FFFFFF] == 0
    assert len(board.ram) == 64 * 1024 * 1024 and bytes(board.ram[:16]) == bytes(16)


def test_shard_count_is_bounded(tmp_path, monkeypatch):
    """However small the shards, no more than MAX_SHARDS are kept (a save scans the folder)."""
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pricecache, "MAX_SHARDS", 20)
    for i in range(60):
        c = PriceCache(enabled=True, identity=f"img{i:04d}")
        c.put((i, b"\x90", True, True), _nop_price(i))
        c.save()
    shards = sorted(p.name for p in c.path.parent.iterdir())
    assert len(shards) == 20 and c.path.name in shards


def _nop_price(pc: int) -> tuple:
    from bareflow.emu.costs import CostModel
    return (dataclasses.astuple(CostModel().block(b"\x90", pc, True)), (), False)


def test_a_full_shard_restarts_from_the_prices_this_run_used(tmp_path, monkeypatch):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pricecache, "MAX_SHARD_ENTRIES", 10)
    first = PriceCache(enabled=True, identity="gen")
    for i in range(8):
        first.put((i, b"\x90", True, True), _nop_price(i))
    first.save()
    second = PriceCache(enabled=True, identity="gen")
    assert second.get((3, b"\x90", True, True)) == _nop_price(3)   # used by this run
    for i in range(100, 105):
        second.put((i, b"\x90", True, True), _nop_price(i))
    second.save()   # 8 + 5 > 10: restart from what this run used and priced
    third = PriceCache(enabled=True, identity="gen")
    assert third.keys() == {(3, b"\x90", True, True)} | {(i, b"\x90", True, True) for i in range(100, 105)}


def test_the_quick_exit_keeps_every_output(tmp_path):
    """`python -m bareflow.emu.cli run` ends with os._exit after flushing: COM1 on a pipe, the
    profile file and the price cache's save at exit are all there, and the status is the
    guest's."""
    img = images.build("core_pm.asm", tmp_path)
    env = {**os.environ, "BAREFLOW_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("BAREFLOW_PRICE_CACHE", None)
    prof = tmp_path / "p.json"
    run = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", str(img), "--no-stdin",
                          "--profile", str(prof)], env=env, capture_output=True, timeout=120)
    from bareflow.emu.exitcodes import exit_code
    from bareflow.emu.machine import Machine, MachineConfig
    m = Machine(MachineConfig(image=img))
    reason = m.run(max_cycles=2_000_000_000)
    assert run.stdout == bytes(m.serial_out) and run.stdout
    assert run.returncode == exit_code(m, reason)
    assert json.loads(prof.read_text())
    shards = list((tmp_path / "cache").glob("prices-*/*.bfp"))
    assert len(shards) == 1 and shards[0].stat().st_size > 0


def test_the_console_script_exits_quickly_and_main_does_not():
    """Only the process entry points end the process; `main` returns (tests call it)."""
    from bareflow.tui import cli as tui_cli
    text = (ROOT / "pyproject.toml").read_text()
    assert 'bareflow-emu = "bareflow.tui.cli:console_main"' in text
    assert tui_cli.main(["run"]) == 2   # a usage error: returned, the test process goes on


def test_a_running_non_daemon_thread_falls_back_to_the_normal_exit():
    import threading
    from bareflow.emu.process_exit import exit_process
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert exit_process(3) == 3
    finally:
        stop.set()
        t.join()


def test_dataclass_prices_round_trip_unchanged():
    """The cached tuple layout is BlockCost's fields (costs.py is hashed into the folder name)."""
    from bareflow.emu.costs import BlockCost, CostModel
    bc = CostModel().block(bytes.fromhex("b834120000"), 0x7C00, False)
    assert BlockCost(*dataclasses.astuple(bc)) == bc


def test_help_is_formatted_as_argparse_formats_it(monkeypatch):
    """The formatter that skips shutil sizes help exactly as argparse's own (COLUMNS - 2)."""
    import argparse
    from bareflow.emu.argparser import Formatter, Parser
    monkeypatch.setenv("COLUMNS", "67")
    ours = Parser(prog="x", description="a description long enough to be wrapped " * 3)
    stock = argparse.ArgumentParser(prog="x", description="a description long enough to be wrapped " * 3)
    for p in (ours, stock):
        p.add_argument("--max-cycles", metavar="N", help="stop after N modelled cycles " * 4)
    assert ours.format_help() == stock.format_help()
    assert Formatter("x")._width == 65


def test_the_cli_imports_neither_page_walk_nor_pyelftools():
    """issue 11: `bareflow-emu run` paid for pyelftools (30-110 ms, now emu/elf32.py) and for
    emu/page_walk.py (only `explain --address` needs it, emu/address_option.py imports it then)."""
    code = ("import sys, bareflow.emu.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('elftools', 'bareflow.emu.page_walk'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_opening_a_shard_decodes_nothing(tmp_path, monkeypatch):
    """The shard is mapped, not decoded (the marshal shard's whole-file decode took 50-120 ms
    for fluid_llama and 1.2-1.7 s for a 13.6 MB GRUB/Linux shard): a record is unmarshalled
    only when Python asks for it."""
    from bareflow.emu import priceshard
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    first = PriceCache(enabled=True, identity="lazy")
    for i in range(50):
        first.put((i, b"\x90", True, True), _nop_price(i))
    first.save()
    calls = []
    real = priceshard.marshal.loads
    monkeypatch.setattr(priceshard.marshal, "loads", lambda raw: calls.append(1) or real(raw))
    again = PriceCache(enabled=True, identity="lazy")
    assert calls == [] and again.shard.ok and again.address()[0]
    assert again.get((7, b"\x90", True, True)) == _nop_price(7) and calls == [1]
