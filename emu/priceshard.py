"""The price cache's file format: a binary shard the native fast path reads in place.

Why binary: the old shard was a `marshal` of a dict, decoded whole at every start (a 13.6 MB
shard, e.g. a GRUB disk that boots Linux, took 1.2-1.7 s of a 2.7 s run), and every block was
still priced through Python (`Pricer.on_miss`).  This shard is an open-addressing hash table
that costs one `mmap` to open; emu/fastpath_prices.c looks blocks up in it when Unicorn
translates one, so a block already priced never enters Python.

Layout (all little-endian):

    header   64 bytes: magic "BFPRICE1", u32 version, u32 slots (a power of two), u32 records,
             u32 0, u64 file length, 16 bytes cost-model id, u32 CRC-32 of bytes 0..47, padding
    index    slots x (u32 key hash, u32 record offset; offset 0 = empty)
    records  each: u32 CRC-32 of the rest of the record, u32 length, u64 pc, u32 size,
             u8 mode (bit 0 32-bit code, bit 1 protected), u8 flags (FLAG_*), u16 code length,
             the native fields fp_insert takes (cost, first cost, instructions, taken extra,
             u64 target, u64 fallthrough, ends, timed count, 4 offsets, 4 prefixes), u32 blob
             length, then the block's code bytes (the key) and a marshal blob of the full
             `BlockCost` tuple, the watched addresses and may-set-IF for Python

The key hash is CRC-32 of (u64 pc, u32 size, u8 mode, code).  A lookup checks the record's
bounds, its CRC and the whole key (the code bytes compared byte for byte), so a damaged,
truncated or foreign file is a miss, never a wrong price; the file length and the cost-model id
in the header reject a file cut short or written for another model.  The C reader
(emu/fastpath_prices.c, `ps_find`) applies exactly these checks; tests/emu/test_priceshard.py
fuzzes both.
"""
from __future__ import annotations

import marshal
import struct
import sys
import zlib
from array import array
from typing import Any, Iterable, Iterator

MAGIC = b"BFPRICE1"
VERSION = 1
HEADER = struct.Struct("<8sIIIIQ16sI12x")        # 64 bytes
SLOT = struct.Struct("<II")
REC = struct.Struct("<IIQIBBHIIIIQQII4I4II")     # 100 bytes, then code, then blob
KEYHEAD = struct.Struct("<QIB")
HEADER_SIZE = HEADER.size
REC_SIZE = REC.size
FLAG_NEEDS_PYTHON = 1   # the block holds watched instructions: Python installs their hooks
FLAG_ENDS_INT = 2       # the block ends with INT n (the native delivery marks it)
NO_TARGET = (1 << 64) - 1
END_KINDS = {"other": 0, "call": 1, "ret": 2, "jcc": 3, "iret": 4}
ENDS_MAY_SET_IF = 0x100
#: Key as pricing.py builds it: (pc, code bytes, 32-bit code, protected mode)
Key = tuple[int, bytes, bool, bool]

assert HEADER_SIZE == 64 and REC_SIZE == 100


def mode_byte(mode32: bool, protected: bool) -> int:
    return (1 if mode32 else 0) | (2 if protected else 0)


def key_hash(pc: int, size: int, mode: int, code: bytes) -> int:
    return zlib.crc32(code, zlib.crc32(KEYHEAD.pack(pc & 0xFFFFFFFFFFFFFFFF, size, mode)))


def encode(key: Key, value: tuple[tuple, tuple[int, ...], bool]) -> bytes:
    """One record for `key` -> (astuple(BlockCost), watched, may_set_if), with the fields the
    native fast path needs computed as `Pricer.on_miss` computes them for `FastPath.insert`."""
    pc, code, mode32, protected = key
    fields, watched, may_set_if = value
    (address, size, total, insn_addrs, prefix, n_insns, taken_extra, branch_target, ends_with,
     fallthrough, rdtsc_addrs, io_addrs) = fields[:12]
    first = prefix[1] if n_insns > 1 else total
    rdtsc = [(a - pc, prefix[insn_addrs.index(a)]) for a in rdtsc_addrs if a in insn_addrs]
    io = [(a - pc, prefix[insn_addrs.index(a)]) for a in io_addrs if a in insn_addrs]
    timed = list(rdtsc[:4])
    n = len(timed)
    timed += list(io[:4 - n])
    offs = [o for o, _ in timed] + [0] * (4 - len(timed))
    pres = [p for _, p in timed] + [0] * (4 - len(timed))
    flags = (FLAG_NEEDS_PYTHON if watched else 0) | (FLAG_ENDS_INT if ends_with == "int" else 0)
    ends = END_KINDS.get(ends_with, 0) | (ENDS_MAY_SET_IF if may_set_if else 0)
    blob = marshal.dumps((tuple(fields), tuple(watched), bool(may_set_if)))
    body = REC.pack(0, REC_SIZE + len(code) + len(blob), pc, len(code), mode_byte(mode32, protected),
                    flags, len(code), total, first, n_insns, taken_extra,
                    NO_TARGET if branch_target is None else branch_target, fallthrough, ends,
                    n | (len(timed) << 8), *offs, *pres, len(blob)) + code + blob
    return struct.pack("<I", zlib.crc32(body[4:])) + body[4:]


def record_key(rec: bytes | memoryview) -> Key:
    _crc, _ln, pc, size, mode, _fl, clen = REC.unpack_from(rec, 0)[:7]
    code = bytes(rec[REC_SIZE:REC_SIZE + clen])
    return (pc, code, bool(mode & 1), bool(mode & 2))


def record_value(rec: bytes | memoryview) -> tuple[tuple, tuple[int, ...], bool]:
    clen = struct.unpack_from("<H", rec, 22)[0]
    blen = struct.unpack_from("<I", rec, 96)[0]
    start = REC_SIZE + clen
    return marshal.loads(bytes(rec[start:start + blen]))


class Shard:
    """A shard file opened for reading: its bytes (an mmap, or any buffer) and the checks."""

    def __init__(self, buf: Any, model_id: str) -> None:
        self.buf = buf
        self.mv = memoryview(buf)
        self.ok = False
        self.nslots = self.nrecords = 0
        self.records_at = HEADER_SIZE
        n = len(self.mv)
        if n < HEADER_SIZE:
            return
        magic, version, nslots, nrec, _z, flen, model, hcrc = HEADER.unpack_from(self.mv, 0)
        if (magic != MAGIC or version != VERSION or flen != n or model != model_id.encode()[:16].ljust(16, b"\0")
                or hcrc != zlib.crc32(self.mv[:48]) or nslots == 0 or nslots & (nslots - 1)
                or HEADER_SIZE + nslots * SLOT.size > n or 2 * nrec > nslots):
            return
        self.nslots, self.nrecords = nslots, nrec
        self.records_at = HEADER_SIZE + nslots * SLOT.size
        self.ok = True

    def record_at(self, off: int) -> memoryview | None:
        """The record at `off` if it is whole and its CRC matches, else None."""
        mv = self.mv
        n = len(mv)
        if off < self.records_at or off + REC_SIZE > n:
            return None
        crc, ln = struct.unpack_from("<II", mv, off)
        if ln < REC_SIZE or off + ln > n:
            return None
        clen = struct.unpack_from("<H", mv, off + 22)[0]
        blen = struct.unpack_from("<I", mv, off + 96)[0]
        if REC_SIZE + clen + blen != ln or zlib.crc32(mv[off + 4:off + ln]) != crc:
            return None
        return mv[off:off + ln]

    def find(self, key: Key) -> int:
        """Offset of the record for `key`, or -1."""
        if not self.ok:
            return -1
        pc, code, mode32, protected = key
        mode = mode_byte(mode32, protected)
        h = key_hash(pc, len(code), mode, code)
        mask = self.nslots - 1
        i = h & mask
        for _ in range(self.nslots):
            sh, off = SLOT.unpack_from(self.mv, HEADER_SIZE + i * SLOT.size)
            if off == 0:
                return -1
            if sh == h:
                rec = self.record_at(off)
                if rec is not None and record_key(rec) == (pc, code, mode32, protected) \
                        and REC.unpack_from(rec, 0)[3] == len(code):
                    return off
            i = (i + 1) & mask
        return -1

    def get(self, key: Key) -> Any:
        off = self.find(key)
        if off < 0:
            return None
        try:
            return record_value(self.record_at(off))   # type: ignore[arg-type]
        except (ValueError, EOFError, TypeError):
            return None

    def records(self) -> Iterator[tuple[Key, bytes]]:
        """Every valid record reachable from the index: (key, raw bytes)."""
        if not self.ok:
            return
        seen: set[int] = set()
        for i in range(self.nslots):
            _h, off = SLOT.unpack_from(self.mv, HEADER_SIZE + i * SLOT.size)
            if off == 0 or off in seen:
                continue
            seen.add(off)
            rec = self.record_at(off)
            if rec is not None:
                yield record_key(rec), bytes(rec)


def _record_hash(rec: bytes | memoryview) -> int:
    """key_hash of an encoded record: bytes 8..20 are (u64 pc, u32 size, u8 mode) as KEYHEAD."""
    clen = struct.unpack_from("<H", rec, 22)[0]
    return zlib.crc32(rec[REC_SIZE:REC_SIZE + clen], zlib.crc32(rec[8:21]))


def _index(nslots: int) -> array:
    """An empty index: 2 x u32 per slot (key hash, record offset; 0 = empty)."""
    return array("I", bytes(8 * nslots))


def _insert(slots: array, mask: int, h: int, off: int) -> None:
    i = h & mask
    while slots[2 * i + 1]:
        i = (i + 1) & mask
    slots[2 * i] = h
    slots[2 * i + 1] = off


def _header(nslots: int, nrecords: int, length: int, model_id: str) -> bytes:
    head = bytearray(HEADER.pack(MAGIC, VERSION, nslots, nrecords, 0, length,
                                 model_id.encode()[:16].ljust(16, b"\0"), 0))
    struct.pack_into("<I", head, 48, zlib.crc32(head[:48]))
    return bytes(head)


def _slots_for(n: int, at_least: int = 16) -> int:
    nslots = at_least
    while nslots < 2 * n:
        nslots *= 2
    return nslots


def build(records: Iterable[tuple[Key, bytes]], model_id: str) -> bytes:
    """A whole shard file holding `records` (key, encoded record)."""
    recs = [rec for _key, rec in records]
    nslots = _slots_for(len(recs))
    slots = _index(nslots)
    mask = nslots - 1
    pos = HEADER_SIZE + nslots * SLOT.size
    for rec in recs:
        _insert(slots, mask, _record_hash(rec), pos)
        pos += len(rec)
    return _header(nslots, len(recs), pos, model_id) + _tobytes(slots) + b"".join(recs)


def append(old: Shard, records: Iterable[tuple[Key, bytes]], model_id: str) -> bytes:
    """`old`'s file with `records` added (those whose key it does not hold yet).

    Why not decode and rebuild: a 62,000-block shard (a Linux boot) took seconds to re-read in
    Python at every exit that added one price.  The old records are copied as one slice and
    the old index is kept (or, when it must grow, re-hashed from the hashes it stores); only the
    new records are hashed.  Whatever the old file holds is copied as it is: a damaged record
    stays a miss for every reader, as it was."""
    if not old.ok:
        return build(records, model_id)
    fresh = [rec for key, rec in records if old.find(key) < 0]
    total = old.nrecords + len(fresh)
    nslots = _slots_for(total, old.nslots)
    body = old.mv[old.records_at:]
    old_index = array("I")
    old_index.frombytes(old.mv[HEADER_SIZE:old.records_at])
    if sys.byteorder != "little":
        old_index.byteswap()
    mask = nslots - 1
    if nslots == old.nslots:
        slots = old_index
    else:
        slots = _index(nslots)
        shift = (nslots - old.nslots) * SLOT.size
        end = len(old.mv)
        for i in range(old.nslots):
            off = old_index[2 * i + 1]
            if old.records_at <= off < end:      # anything else was never a record
                _insert(slots, mask, old_index[2 * i], off + shift)
    pos = HEADER_SIZE + nslots * SLOT.size + len(body)
    for rec in fresh:
        _insert(slots, mask, _record_hash(rec), pos)
        pos += len(rec)
    return b"".join([_header(nslots, total, pos, model_id), _tobytes(slots), body, *fresh])


def _tobytes(slots: array) -> bytes:
    if sys.byteorder != "little":
        slots = array("I", slots)
        slots.byteswap()
    return slots.tobytes()
