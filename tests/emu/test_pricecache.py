"""The persistent block-price cache changes speed, never results."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import pricecache  # noqa: E402
from bareflow.emu.costs import BlockCost, CostModel  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig  # noqa: E402
from bareflow.emu.pricecache import PriceCache  # noqa: E402

BLOCK = bytes.fromhex("b8 34 12 00 00 01 c8 0f af d8 49 75 f5".replace(" ", ""))


def test_round_trip_through_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    bc = CostModel().block(BLOCK, 0x1000, True)
    key = (0x1000, BLOCK, True, True)
    c = PriceCache(enabled=True)
    c.put(key, (dataclasses.astuple(bc), (), False))
    c.save()
    again = PriceCache(enabled=True)
    fields, watched, may_if = again.get(key)
    assert BlockCost(*fields) == bc and watched == () and may_if is False
    assert again.path.name.startswith("prices-") and again.path.parent == tmp_path


def test_a_damaged_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    c = PriceCache(enabled=True)
    c.path.parent.mkdir(parents=True, exist_ok=True)
    c.path.write_bytes(b"\x00garbage")
    assert PriceCache(enabled=True).get((0, b"", True, True)) is None


def test_cold_and_warm_runs_are_identical(monkeypatch, tmp_path):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    results = []
    for enabled in (False, True, True):   # no cache, cache filled, cache hit
        monkeypatch.setattr(PriceCache, "_shared", PriceCache(enabled=enabled))
        m = Machine(MachineConfig(image=images.build("core_pm.asm")))
        m.run(max_cycles=2_000_000_000)
        results.append((m.cycles, m.instructions, bytes(m.serial_out), m.profile_table()))
    assert results[0] == results[1] == results[2]
    assert len(PriceCache._shared._data) > 10


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("BAREFLOW_PRICE_CACHE", "0")
    c = PriceCache()
    assert not c.enabled and c.path is None
    c.put((0, b"", True, True), 1)
    assert c.get((0, b"", True, True)) is None
    assert pricecache.cache_dir().name == "bareflow"
