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
    assert again.path.parent.name.startswith("prices-") and again.path.parent.parent == tmp_path


def test_a_damaged_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    c = PriceCache(enabled=True)
    c.path.parent.mkdir(parents=True, exist_ok=True)
    c.path.write_bytes(b"\x00garbage")
    assert PriceCache(enabled=True).get((0, b"", True, True)) is None
    assert c.path.suffix == ".bfp"   # the binary shard (emu/priceshard.py); .marshal is never read


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
    assert len(cache.keys()) > 10 and cache.enabled


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
    value = (dataclasses.astuple(CostModel().block(filler, 0, True)), (), False)
    for i in range(1000):
        c = PriceCache(enabled=True, identity=f"img{i:04d}")
        c.put((i, filler, True, True), value)
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


# ---------------------------------------------------------------- the native reader (issue 11)
import hashlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

LLAMA_CMDLINE = 'prompt="Once upon a time" steps=48 exit=1'
#: guests whose blocks run in real mode, protected mode, with 4 KiB and 4 MiB pages, at
#: higher-half addresses, in ring 3, under PAE (the C reader declines: Python's walker), with
#: self-modifying code, BIOS INT n (the native delivery's XF_ENDS_INT) and timer interrupts
GUESTS = ["core_pm.asm", "core_paging.asm", "paging_higher.asm", "paging_user.asm",
          "paging_user_pae.asm", "core_smc.asm", "bios_disk.asm", "irq_open.asm", "kern_lapic.asm"]


def _image(name: str, tmp_path: Path) -> Path:
    if name != "fluid_llama":
        return images.build(name)
    src = ROOT / "images" / "fluid_llama.img"
    if not src.exists():
        pytest.skip("images/fluid_llama.img is not built")
    img = tmp_path / "fluid_llama.img"
    shutil.copy(src, img)
    shutil.copy(ROOT / "images" / "tinyllama_bare.elf", tmp_path / "fluid_llama.elf")
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img), LLAMA_CMDLINE],
                   check=True, capture_output=True)
    return img


def _observe(img: Path, monkeypatch, mode: str) -> dict:
    """One run with the cache off, cold (empty folder) or warm; everything observable."""
    monkeypatch.setattr(PriceCache, "_by_identity", {})
    monkeypatch.setattr(pricecache, "_instances", [])
    if mode == "off":
        monkeypatch.setenv("BAREFLOW_PRICE_CACHE", "0")
    else:
        monkeypatch.delenv("BAREFLOW_PRICE_CACHE", raising=False)
    m = Machine(MachineConfig(image=img))
    events: list = []
    m.hooks.events.append(lambda kind, c, i, f: events.append((kind, c, i, sorted(f.items(), key=str))))
    reason = m.run(max_cycles=3_000_000_000)
    m.fast.flush_frames()
    pricer = m.pricer
    out = {
        "reason": reason, "cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
        "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
        "profile": [(p["name"], p["calls"], p["exclusive_cycles"], p["inclusive_cycles"]) for p in m.profile_table()],
        "names": list(pricer.func_names), "events": events,
        "blocks": {k: dataclasses.astuple(v) for k, v in pricer.blocks().items()},
    }
    stats = {"python_misses": m.fast.h.misses, "cached_in_python": pricer.cached_in_python,
             "native": pricer.describe().get("native_prices")}
    m.close()
    for cache in list(pricecache._instances):
        cache.save()          # what the process's exit does
    return {"seen": out, "stats": stats}


def _equivalent(img: Path, monkeypatch, tmp_path: Path) -> tuple[dict, dict, dict]:
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path / "cache"))
    off = _observe(img, monkeypatch, "off")
    cold = _observe(img, monkeypatch, "cold")
    warm = _observe(img, monkeypatch, "warm")
    for key in off["seen"]:
        assert off["seen"][key] == cold["seen"][key] == warm["seen"][key], key
    assert off["stats"]["native"] is None      # BAREFLOW_PRICE_CACHE=0: nothing native attached
    return off["stats"], cold["stats"], warm["stats"]


@pytest.mark.parametrize("name", GUESTS)
def test_cache_off_cold_and_warm_are_the_same_machine(name, monkeypatch, tmp_path):
    """Cycles, instructions, registers, RAM, COM1, profile, function names, events and every
    block's full price are equal with the cache off, cold and warm; the warm run charges every
    cached block in C (a silent fallback to Python fails here)."""
    off, cold, warm = _equivalent(_image(name, tmp_path), monkeypatch, tmp_path)
    native = warm["native"]
    assert native["shard"] == 1 and native["hits"] > 0
    if name == "paging_user_pae.asm":
        assert native["declined"] > 0     # PAE: the C reader leaves the walk to Python
        return
    assert warm["cached_in_python"] == 0, "a cached block went through Python"
    assert warm["python_misses"] == native["needs_python"]   # only blocks with watched instructions
    assert warm["python_misses"] < off["python_misses"]


def test_fluid_llama_exact_with_the_cache_off_cold_and_warm(monkeypatch, tmp_path):
    off, cold, warm = _equivalent(_image("fluid_llama", tmp_path), monkeypatch, tmp_path)
    native = warm["native"]
    assert warm["cached_in_python"] == 0 and native["hits"] > 1000
    assert warm["python_misses"] == native["needs_python"] < 100
    assert off["python_misses"] > 2000


def test_the_fluid_llama_figures(monkeypatch, tmp_path):
    """The batch keeps its exact count with the native reader warm (issue 11's sacred figure)."""
    img = _image("fluid_llama", tmp_path)
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path / "cache"))
    for mode in ("cold", "warm"):
        got = _observe(img, monkeypatch, mode)["seen"]
        assert (got["cycles"], got["instructions"]) == (110_135_667, 36_915_989)


def test_a_block_priced_in_this_run_is_found_again_in_c(monkeypatch, tmp_path):
    """Cold: the overlay serves re-translations of blocks Python priced earlier in the run."""
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path / "cache"))
    cold = _observe(images.build("core_smc.asm"), monkeypatch, "cold")["stats"]
    assert cold["native"]["overlay"] > 0 and cold["native"]["shard"] == 0
