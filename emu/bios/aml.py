"""A small AML (ACPI Machine Language) encoder: just what the DSDT of QEMU's i440FX needs.

Each function returns the encoded bytes of one AML term, following the ACPI 6.x grammar
(section 20.2) the way QEMU's hw/acpi/aml-build.c emits it -- minimal PkgLength encodings,
integers as ZeroOp/OneOp/Byte/Word/DWord/QWord constants, a missing target as NullName --
so that a table built from these functions matches QEMU's byte for byte
(tests/bios/test_aml.py compares the whole DSDT with one read from QEMU's guest memory).

Names are written as in ASL: "PCI0", "_SB.PCI0.PRES", "\\_SB.CPUS", "^FOO"; short segments
are padded with "_" ("_SB" -> "_SB_").  Terms are plain `bytes`; a term list is the
concatenation of its terms.
"""
from __future__ import annotations

import struct

# ----------------------------------------------------------------------------- encodings


def pkg_length(length: int, incl_self: bool = True) -> bytes:
    """PkgLength for `length` bytes of content (bits of a field when `incl_self` is False,
    where the encoding does not count itself -- QEMU's build_prepend_package_length)."""
    if length + 1 < 1 << 6:
        n = 1
    elif length + 2 < 1 << 12:
        n = 2
    elif length + 3 < 1 << 20:
        n = 3
    else:
        n = 4
    if incl_self:
        length += n
    if n == 1:
        return bytes([length])
    out = [((n - 1) << 6) | (length & 0x0F)]
    length >>= 4
    for _ in range(n - 1):
        out.append(length & 0xFF)
        length >>= 8
    return bytes(out)


def _pkg(op: bytes, content: bytes) -> bytes:
    return op + pkg_length(len(content)) + content


def _seg(s: str) -> bytes:
    if not 1 <= len(s) <= 4:
        raise ValueError(f"bad AML name segment {s!r}")
    return s.ljust(4, "_").encode("ascii")


def name_string(path: str) -> bytes:
    """NameString: root/parent prefixes, then NullName, one NameSeg, DualNamePath or
    MultiNamePath."""
    prefix = b""
    while path.startswith(("\\", "^")):
        prefix += path[0].encode()
        path = path[1:]
    segs = [s for s in path.split(".") if s]
    if not segs:
        body = b"\x00"
    elif len(segs) == 1:
        body = _seg(segs[0])
    elif len(segs) == 2:
        body = b"\x2E" + _seg(segs[0]) + _seg(segs[1])
    else:
        body = b"\x2F" + bytes([len(segs)]) + b"".join(_seg(s) for s in segs)
    return prefix + body


def integer(v: int) -> bytes:
    """ComputationalData for an integer constant, the shortest form (aml_int)."""
    if v == 0:
        return b"\x00"
    if v == 1:
        return b"\x01"
    if v <= 0xFF:
        return b"\x0A" + bytes([v])
    if v <= 0xFFFF:
        return b"\x0B" + struct.pack("<H", v)
    if v <= 0xFFFFFFFF:
        return b"\x0C" + struct.pack("<I", v)
    return b"\x0E" + struct.pack("<Q", v)


def _arg(x: "bytes | int | str") -> bytes:
    """A term argument: bytes are already encoded, an int is a constant, a str a name."""
    if isinstance(x, bytes):
        return x
    if isinstance(x, int):
        return integer(x)
    return name_string(x)


def string(s: str) -> bytes:
    return b"\x0D" + s.encode("ascii") + b"\x00"


def eisaid(s: str) -> bytes:
    """EisaId("PNP0A03"): three compressed letters and four hex digits, as a DWord."""
    c = [ord(ch) - 0x40 for ch in s[:3]]
    v = (c[0] << 26) | (c[1] << 21) | (c[2] << 16) | int(s[3:], 16)
    return b"\x0C" + struct.pack(">I", v)


LOCAL = [bytes([0x60 + i]) for i in range(8)]
ARG = [bytes([0x68 + i]) for i in range(7)]
NULL = b"\x00"        # NullName: no target
DEBUG = b"\x5B\x31"
SYSTEM_MEMORY, SYSTEM_IO, PCI_CONFIG = 0, 1, 2
ANY_ACC, BYTE_ACC, WORD_ACC, DWORD_ACC = 0, 1, 2, 3
NO_LOCK, LOCK = 0, 1
PRESERVE, WRITE_AS_ONES, WRITE_AS_ZEROS = 0, 1, 2

# ----------------------------------------------------------------------------- named objects


def name(n: str, obj: "bytes | int | str") -> bytes:
    return b"\x08" + name_string(n) + _arg(obj)


def scope(n: str, *body: bytes) -> bytes:
    return _pkg(b"\x10", name_string(n) + b"".join(body))


def device(n: str, *body: bytes) -> bytes:
    return _pkg(b"\x5B\x82", name_string(n) + b"".join(body))


def method(n: str, argc: int, serialized: bool, *body: bytes) -> bytes:
    return _pkg(b"\x14", name_string(n) + bytes([argc | (8 if serialized else 0)]) + b"".join(body))


def processor(n: str, proc_id: int, pblk: int, plen: int, *body: bytes) -> bytes:
    return _pkg(b"\x5B\x83", name_string(n) + struct.pack("<BIB", proc_id, pblk, plen) + b"".join(body))


def mutex(n: str, sync: int = 0) -> bytes:
    return b"\x5B\x01" + name_string(n) + bytes([sync])


def op_region(n: str, space: int, offset: int, length: int) -> bytes:
    return b"\x5B\x80" + name_string(n) + bytes([space]) + integer(offset) + integer(length)


def field(region: str, access: int, lock: int, update: int, *units: tuple[str | None, int]) -> bytes:
    """Field(region, ...) {NAME, bits; ...}; a unit (None, bits) skips bits (Offset())."""
    body = b""
    for n, bits in units:
        body += (b"\x00" if n is None else _seg(n)) + pkg_length(bits, incl_self=False)
    return _pkg(b"\x5B\x81", name_string(region) + bytes([access | lock << 4 | update << 5]) + body)


def create_dword_field(source: "bytes | str", index: "bytes | int", n: str) -> bytes:
    return b"\x8A" + _arg(source) + _arg(index) + name_string(n)


def buffer(data: bytes) -> bytes:
    return _pkg(b"\x11", integer(len(data)) + data)


def package(*elements: "bytes | int | str", count: int | None = None) -> bytes:
    """Package(count) {elements}; names in a package are references (NameStrings)."""
    n = len(elements) if count is None else count
    return _pkg(b"\x12", bytes([n]) + b"".join(_arg(e) for e in elements))


def to_uuid(s: str) -> bytes:
    """ToUUID("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"): the 16 bytes in ACPI's (= Microsoft's GUID)
    order - the first three fields little-endian, the rest as written (uuid.UUID.bytes_le).
    Done by hand: `import uuid` cost every run ~5-7 ms of start-up (issue 11)."""
    parts = s.split("-")
    if [len(p) for p in parts] != [8, 4, 4, 4, 12]:
        raise ValueError(f"not a UUID: {s!r}")
    raw = bytes.fromhex("".join(parts))
    return buffer(raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:])


# ----------------------------------------------------------------------------- statements


def if_(pred: bytes, *body: bytes) -> bytes:
    return _pkg(b"\xA0", pred + b"".join(body))


def else_(*body: bytes) -> bytes:
    return _pkg(b"\xA1", b"".join(body))


def while_(pred: bytes, *body: bytes) -> bytes:
    return _pkg(b"\xA2", pred + b"".join(body))


def return_(x: "bytes | int | str") -> bytes:
    return b"\xA4" + _arg(x)


BREAK = b"\xA5"


def store(src: "bytes | int | str", dst: "bytes | str") -> bytes:
    return b"\x70" + _arg(src) + _arg(dst)


def notify(obj: "bytes | str", value: "bytes | int") -> bytes:
    return b"\x86" + _arg(obj) + _arg(value)


def acquire(mtx: str, timeout: int = 0xFFFF) -> bytes:
    return b"\x5B\x23" + name_string(mtx) + struct.pack("<H", timeout)


def release(mtx: str) -> bytes:
    return b"\x5B\x27" + name_string(mtx)


def increment(x: bytes) -> bytes:
    return b"\x75" + x


def call(n: str, *args: "bytes | int | str") -> bytes:
    return name_string(n) + b"".join(_arg(a) for a in args)


# ----------------------------------------------------------------------------- expressions


def _binop(op: int):
    def f(a: "bytes | int | str", b: "bytes | int | str", target: "bytes | str" = NULL) -> bytes:
        return bytes([op]) + _arg(a) + _arg(b) + _arg(target)
    return f


add, subtract = _binop(0x72), _binop(0x74)
shift_left, shift_right = _binop(0x79), _binop(0x7A)
and_, or_ = _binop(0x7B), _binop(0x7D)
index = _binop(0x88)


def _cmp(op: int):
    def f(a: "bytes | int | str", b: "bytes | int | str") -> bytes:
        return bytes([op]) + _arg(a) + _arg(b)
    return f


land, lor = _cmp(0x90), _cmp(0x91)
lequal, lgreater, lless = _cmp(0x93), _cmp(0x94), _cmp(0x95)


def lnot(x: bytes) -> bytes:
    return b"\x92" + x


def lnotequal(a: "bytes | int | str", b: "bytes | int | str") -> bytes:
    return lnot(lequal(a, b))


def deref_of(x: bytes) -> bytes:
    return b"\x83" + x


def size_of(x: bytes) -> bytes:
    return b"\x87" + x


def to_hex_string(x: bytes, target: bytes = NULL) -> bytes:
    return b"\x98" + x + target


def to_buffer(x: bytes, target: bytes = NULL) -> bytes:
    return b"\x96" + x + target


# ----------------------------------------------------------------------------- resources


def resource_template(*descriptors: bytes) -> bytes:
    """ResourceTemplate: the descriptors and an End Tag (checksum 0) in a Buffer."""
    return buffer(b"".join(descriptors) + b"\x79\x00")


def io(base: int, align: int, length: int, decode16: bool = True) -> bytes:
    return struct.pack("<BBHHBB", 0x47, 1 if decode16 else 0, base, base, align, length)


def irq_noflags(*irqs: int) -> bytes:
    mask = 0
    for i in irqs:
        mask |= 1 << i
    return struct.pack("<BH", 0x22, mask)


def dma(channel: int, flags: int) -> bytes:
    """DMA descriptor; `flags` = transfer type bits (0 = 8-bit, compatibility, not bus master)."""
    return struct.pack("<BBB", 0x2A, 1 << channel, flags)


def interrupt(*irqs: int, consumer: bool = True, level: bool = True, active_high: bool = True,
              shared: bool = True) -> bytes:
    """Extended Interrupt Descriptor (Interrupt() in ASL)."""
    flags = (1 if consumer else 0) | (0 if level else 2) | (0 if active_high else 4) | (8 if shared else 0)
    body = bytes([flags, len(irqs)]) + b"".join(struct.pack("<I", i) for i in irqs)
    return struct.pack("<BH", 0x89, len(body)) + body


def memory32_fixed(base: int, length: int, writable: bool) -> bytes:
    return struct.pack("<BHBII", 0x86, 9, 1 if writable else 0, base, length)


def _address(fmt: str, kind: int, gflags: int, tflags: int, vals: tuple[int, ...]) -> tuple[bytes, int]:
    body = struct.pack("<BBB" + fmt * 5, kind, gflags, tflags, *vals)
    return body, len(body)


def word_bus_number(lo: int, hi: int) -> bytes:
    """WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, lo, hi, 0, len)."""
    body, n = _address("H", 2, 0x0C, 0, (0, lo, hi, 0, hi - lo + 1))
    return struct.pack("<BH", 0x88, n) + body


def word_io(lo: int, hi: int) -> bytes:
    """WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...)."""
    body, n = _address("H", 1, 0x0C, 3, (0, lo, hi, 0, hi - lo + 1))
    return struct.pack("<BH", 0x88, n) + body


def dword_memory(lo: int, hi: int, cacheable: bool) -> bytes:
    """DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable|NonCacheable,
    ReadWrite, ...)."""
    body, n = _address("I", 0, 0x0C, 3 if cacheable else 1, (0, lo, hi, 0, hi - lo + 1))
    return struct.pack("<BH", 0x87, n) + body


def qword_memory(lo: int, hi: int, cacheable: bool) -> bytes:
    body, n = _address("Q", 0, 0x0C, 3 if cacheable else 1, (0, lo, hi, 0, hi - lo + 1))
    return struct.pack("<BH", 0x8A, n) + body
