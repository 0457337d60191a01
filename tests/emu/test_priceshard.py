"""The binary price shard (emu/priceshard.py) and its C reader (emu/fastpath_prices.c): a
damaged, truncated or foreign file is a miss, never a crash or a wrong price."""
from __future__ import annotations

import ctypes
import dataclasses
import os
import random
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

from bareflow.emu import pricecache, priceshard
from bareflow.emu.costs import CostModel
from bareflow.emu.native_prices import NativePrices
from bareflow.emu.pricecache import PriceCache

MODEL = "0123456789abcdef"
BLOCKS = [bytes.fromhex(h) for h in (
    "b834120000 01c8 0fafd8 49 75f5",        # mov/add/imul/dec/jnz
    "e460 a801 74fa",                        # in al,0x60; test; jz (an IN: a timed slot)
    "0f31 89c3 0f31 29d8 c3",                # rdtsc twice, ret
    "fa 0f0116 0010 0f20c0 0c01 0f22c0",     # cli, lgdt, mov eax,cr0 ... (watched: needs Python)
    "cd13 72fe",                             # int 13h; jc $
    "90",
)]


def _entries() -> list[tuple[tuple, tuple]]:
    model = CostModel()
    out = []
    for i, code in enumerate(BLOCKS):
        for pc, mode32, protected in ((0x7C00 + 0x40 * i, False, False), (0x100000 + 0x40 * i, True, True)):
            bc = model.block(code, pc, mode32, protected=protected)
            watched = (pc + 1,) if i == 3 else ()
            out.append(((pc, code, mode32, protected), (dataclasses.astuple(bc), watched, i == 3)))
    return out


def _shard_bytes() -> bytes:
    return priceshard.build([(k, priceshard.encode(k, v)) for k, v in _entries()], MODEL)


def _c_lookup(data: bytes) -> list[int]:
    """The C reader's answer for every key of _entries() over `data` (-1: miss)."""
    native = NativePrices()
    buf = ctypes.create_string_buffer(data, len(data))
    try:
        ok = native._lib.ps_attach(native._p, buf, len(data))
        out = []
        for (pc, code, mode32, protected), _ in _entries():
            mode = priceshard.mode_byte(mode32, protected)
            out.append(native.lookup(pc, len(code), mode, code) if ok else -1)
        return out
    finally:
        native.close()


def test_round_trip_in_python_and_in_c():
    data = _shard_bytes()
    shard = priceshard.Shard(data, MODEL)
    assert shard.ok and shard.nrecords == len(_entries())
    offsets = _c_lookup(data)
    for (key, value), off in zip(_entries(), offsets):
        assert shard.get(key) == value
        assert off == shard.find(key) and off > 0
        rec = shard.record_at(off)
        assert priceshard.record_key(rec) == key and priceshard.record_value(rec) == value
    # a key that differs in one byte, in the mode or the address is a miss in both readers
    (pc, code, m32, prot), _ = _entries()[0]
    for other in ((pc, code[:-1] + b"\x00", m32, prot), (pc, code, not m32, prot), (pc + 1, code, m32, prot)):
        assert shard.get(other) is None


def test_the_native_fields_are_what_on_miss_gives_fp_insert():
    """encode() computes cost, first cost, timed slots... as Pricer.on_miss does for insert()."""
    for key, value in _entries():
        rec = priceshard.encode(key, value)
        f = priceshard.REC.unpack_from(rec, 0)
        bc_fields = value[0]
        total, insn_addrs, prefix, n = bc_fields[2], bc_fields[3], bc_fields[4], bc_fields[5]
        assert f[7] == total and f[9] == n
        assert f[8] == (prefix[1] if n > 1 else total)
        assert bool(f[5] & priceshard.FLAG_NEEDS_PYTHON) == bool(value[1])
        assert bool(f[5] & priceshard.FLAG_ENDS_INT) == (bc_fields[8] == "int")
        rdtsc, io = bc_fields[10], bc_fields[11]
        assert f[14] & 0xFF == min(len(rdtsc), 4) and f[14] >> 8 == min(len(rdtsc) + len(io), 4)


def _damaged(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    b = bytearray(data)
    if kind == 0:                      # truncated anywhere
        return bytes(b[:rng.randrange(len(b))])
    if kind == 1:                      # a few random bytes flipped anywhere
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 2:                      # the index scribbled over (offsets into anything)
        at = priceshard.HEADER_SIZE + 8 * rng.randrange(struct.unpack_from("<I", b, 12)[0])
        struct.pack_into("<II", b, at, rng.getrandbits(32), rng.choice([rng.getrandbits(32), rng.randrange(len(b))]))
        return bytes(b)
    if kind == 3:                      # header fields changed and its CRC fixed up (a "valid" liar)
        field = rng.choice([12, 16, 24])
        if field == 24:
            struct.pack_into("<Q", b, 24, rng.getrandbits(20))
        else:
            struct.pack_into("<I", b, field, rng.choice([0, 1, 3, 1 << 20, rng.getrandbits(32)]))
        struct.pack_into("<I", b, 48, zlib.crc32(bytes(b[:48])))
        return bytes(b)
    if kind == 4:                      # a record's length or code length changed, CRC fixed up
        off = rng.choice([o for o in _offsets(data)])
        field, fmt = rng.choice([(4, "<I"), (22, "<H"), (96, "<I")])
        struct.pack_into(fmt, b, off + field, rng.getrandbits(8 * struct.calcsize(fmt)))
        ln = min(struct.unpack_from("<I", b, off + 4)[0], len(b) - off)
        if ln > 4:
            struct.pack_into("<I", b, off, zlib.crc32(bytes(b[off + 4:off + ln])))
        return bytes(b)
    if kind == 5:                      # random garbage of random length
        return rng.randbytes(rng.randrange(0, 300))
    return bytes(b) + rng.randbytes(rng.randrange(1, 50))   # trailing bytes (length mismatch)


def _offsets(data: bytes) -> list[int]:
    return [o for o in _c_lookup(data) if o > 0]


def test_fuzzed_shards_are_misses_never_wrong_prices():
    data = _shard_bytes()
    good = {k: v for k, v in _entries()}
    rng = random.Random(1234)
    hits = misses = 0
    for _ in range(600):
        bad = _damaged(data, rng)
        shard = priceshard.Shard(bad, MODEL)
        for (key, value), off in zip(_entries(), _c_lookup(bad)):
            got = shard.get(key)
            assert got is None or got == good[key]
            if off >= 0:   # C found a record: it must be this key's, whole and checked
                rec = priceshard.Shard(bad, MODEL).record_at(off)
                assert rec is not None and priceshard.record_key(rec) == key
                assert priceshard.record_value(rec) == value
                hits += 1
            else:
                misses += 1
        list(shard.records())   # iterating a damaged shard (a save's merge) never raises
    assert hits and misses       # the fuzz reached both outcomes


def test_a_foreign_model_or_version_is_a_miss():
    data = bytearray(_shard_bytes())
    assert not priceshard.Shard(bytes(data), "fedcba9876543210").ok
    struct.pack_into("<I", data, 8, 2)
    struct.pack_into("<I", data, 48, zlib.crc32(bytes(data[:48])))
    assert not priceshard.Shard(bytes(data), MODEL).ok
    assert _c_lookup(bytes(data)) == [-1] * len(_entries())


def test_concurrent_writers_never_break_a_reader(tmp_path):
    """Two processes keep merging their prices into one shard while this one opens it again
    and again: every open sees a whole file (atomic rename), every price found is right."""
    env = {**os.environ, "BAREFLOW_CACHE_DIR": str(tmp_path)}
    env.pop("BAREFLOW_PRICE_CACHE", None)
    writer = textwrap.dedent("""
        import sys, dataclasses
        from bareflow.emu.pricecache import PriceCache
        from bareflow.emu.costs import CostModel
        base = int(sys.argv[1])
        model = CostModel()
        for round_ in range(25):
            c = PriceCache(enabled=True, identity="shared")
            for i in range(20):
                pc = base + round_ * 0x100 + i
                bc = model.block(b"\\x90\\x40", pc, True)
                c.put((pc, b"\\x90\\x40", True, True), (dataclasses.astuple(bc), (), False))
            c.save()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(base)], env=env)
             for base in (0x100000, 0x900000)]
    model = CostModel()
    seen = 0
    os.environ["BAREFLOW_CACHE_DIR"] = str(tmp_path)
    try:
        while any(p.poll() is None for p in procs):
            c = PriceCache(enabled=True, identity="shared")
            for key in list(c.keys())[:50]:
                fields, watched, may_if = c.get(key)
                assert fields == dataclasses.astuple(model.block(key[1], key[0], True))
                seen += 1
        for p in procs:
            p.wait(timeout=120)
        final = PriceCache(enabled=True, identity="shared")
    finally:
        del os.environ["BAREFLOW_CACHE_DIR"]
        for p in procs:
            p.wait(timeout=120)
    assert all(p.returncode == 0 for p in procs)
    assert final.shard.ok and len(final.keys()) >= 20 and seen


def test_opening_a_big_shard_costs_nothing(tmp_path, monkeypatch):
    """100,000 blocks: opening maps the file, no record is decoded until asked for."""
    import time
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    c = PriceCache(enabled=True, identity="big")
    value = (dataclasses.astuple(CostModel().block(b"\x90\x40", 0, True)), (), False)
    for i in range(pricecache.MAX_SHARD_ENTRIES):
        c.put((i, b"\x90\x40", True, True), value)
    c.save()
    assert c.path.stat().st_size > 5_000_000
    t = time.perf_counter()
    again = PriceCache(enabled=True, identity="big")
    assert again.get((77_777, b"\x90\x40", True, True)) is not None
    assert time.perf_counter() - t < 0.05


@pytest.mark.parametrize("junk", [b"", b"BFPRICE1", b"\x00" * 64, b"x" * 1000])
def test_garbage_files_open_as_empty(tmp_path, monkeypatch, junk):
    monkeypatch.setenv("BAREFLOW_CACHE_DIR", str(tmp_path))
    c = PriceCache(enabled=True, identity="junk")
    c.path.parent.mkdir(parents=True, exist_ok=True)
    c.path.write_bytes(junk)
    again = PriceCache(enabled=True, identity="junk")
    assert not again.shard.ok and again.address() == (0, 0) and again.get((0, b"\x90", True, True)) is None


def test_append_keeps_the_old_records_and_grows_the_index():
    entries = _entries()
    first = priceshard.build([(k, priceshard.encode(k, v)) for k, v in entries[:3]], MODEL)
    shard = priceshard.Shard(first, MODEL)
    more = [(k, priceshard.encode(k, v)) for k, v in entries]          # 3 already there
    extra = []
    model = CostModel()
    for i in range(40):                                                 # forces the index to double
        key = (0x200000 + i, b"\x90\x40", True, True)
        value = (dataclasses.astuple(model.block(key[1], key[0], True)), (), False)
        extra.append((key, value))
        more.append((key, priceshard.encode(key, value)))
    data = priceshard.append(shard, more, MODEL)
    again = priceshard.Shard(data, MODEL)
    assert again.ok and again.nslots > shard.nslots
    assert again.nrecords == len(entries) + 40 == len(list(again.records()))
    for key, value in entries + extra:
        assert again.get(key) == value
    assert all(o > 0 for o in _c_lookup(data))


def test_append_onto_a_damaged_shard_still_finds_the_new_prices():
    rng = random.Random(99)
    data = _shard_bytes()
    entries = _entries()
    for _ in range(200):
        bad = _damaged(data, rng)
        old = priceshard.Shard(bad, MODEL)
        out = priceshard.append(old, [(k, priceshard.encode(k, v)) for k, v in entries[:4]], MODEL)
        merged = priceshard.Shard(out, MODEL)
        assert merged.ok
        for key, value in entries[:4]:
            assert merged.get(key) == value
        for key, value in entries[4:]:
            assert merged.get(key) in (None, value)
