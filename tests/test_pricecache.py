"""The persistent block-price cache changes speed, never results."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    assert again.path.parent.name.startswith("prices-") and again.path.parent.parent == tmp_path


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
        monkeypatch.setattr(PriceCache, "_by_identity", {})
        monkeypatch.setattr(pricecache, "_instances", [])
        if not enabled:
            monkeypatch.setenv("BAREFLOW_PRICE_CACHE", "0")
        else:
            monkeypatch.delenv("BAREFLOW_PRICE_CACHE", raising=False)
        m = Machine(MachineConfig(image=images.build("core_pm.asm")))
        cache = next(iter(PriceCache._by_identity.values()))
        cache.save()
        m.run(max_cycles=2_000_000_000)
        results.append((m.cycles, m.instructions, bytes(m.serial_out), m.profile_table()))
    assert results[0] == results[1] == results[2]
    assert len(cache._data) > 10 and cache.enabled


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("BAREFLOW_PRICE_CACHE", "0")
    c = PriceCache()
    assert not c.enabled and c.path is None
    c.put((0, b"", True, True), 1)
    assert c.get((0, b"", True, True)) is None
    assert pricecache.cache_dir().name == "bareflow"


def test_shards_are_bounded_and_least_recently_used_go_first(tmp_path, monkeypatch):
    """1,000 images each leave a shard; the folder stays within its budget, and the shard a
    run loads is its own (small), whatever else has been run on the machine."""
    import os
    import time
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BAREFLOW_PRICE_CACHE_MB", "0.05")   # ~50 KB
    filler = bytes(range(256)) * 4
    for i in range(1000):
        c = PriceCache(enabled=True, identity=f"img{i:04d}")
        c.put((i, filler, True, True), ((), (), False))
        c.save()
        if i == 0:
            keep = c.path
        if i % 10 == 0:
            os.utime(keep)          # image 0 keeps being used
    shards = list(c.path.parent.iterdir())
    total = sum(p.stat().st_size for p in shards)
    assert total <= 0.05 * 1024 * 1024
    assert keep.exists() and len(shards) < 1000
    t = time.perf_counter()
    again = PriceCache(enabled=True, identity="img0999")
    assert again.get((999, filler, True, True)) is not None
    assert time.perf_counter() - t < 0.05


def test_old_single_file_layout_is_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    old = tmp_path / "prices-0123456789abcdef.marshal"
    old.write_bytes(b"x" * 100_000)
    pricecache.prune(tmp_path, 50_000)
    assert not old.exists()


def test_identity_depends_on_size_and_head():
    a = pricecache.image_identity(b"\x00" * 512, 512)
    assert a == pricecache.image_identity(b"\x00" * 512, 512)
    assert a != pricecache.image_identity(b"\x00" * 512, 1024)
    assert a != pricecache.image_identity(b"\x01" + b"\x00" * 511, 512)
