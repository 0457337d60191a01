"""The guest CPU as the rest of the emulator sees it: Unicorn plus the x86 facts it hides.

Unicorn executes instructions; it does not deliver interrupts, and it does not tell us the
mode, CPL or descriptor contents in a convenient form.  This module wraps the engine with
named register access (including the 16- and 8-bit views BIOS services use), mode and CPL,
and GDT/IDT descriptor decoding shared by interrupt delivery, the trace and the debugger.
"""
from __future__ import annotations

import ctypes
import struct
from typing import Callable
from dataclasses import dataclass

from unicorn import Uc
from unicorn import x86_const as X

REG32 = {
    "eax": X.UC_X86_REG_EAX, "ebx": X.UC_X86_REG_EBX, "ecx": X.UC_X86_REG_ECX, "edx": X.UC_X86_REG_EDX,
    "esi": X.UC_X86_REG_ESI, "edi": X.UC_X86_REG_EDI, "ebp": X.UC_X86_REG_EBP, "esp": X.UC_X86_REG_ESP,
    "eip": X.UC_X86_REG_EIP, "eflags": X.UC_X86_REG_EFLAGS,
}
SEGS = {"cs": X.UC_X86_REG_CS, "ds": X.UC_X86_REG_DS, "es": X.UC_X86_REG_ES, "ss": X.UC_X86_REG_SS,
        "fs": X.UC_X86_REG_FS, "gs": X.UC_X86_REG_GS}
CRS = {"cr0": X.UC_X86_REG_CR0, "cr2": X.UC_X86_REG_CR2, "cr3": X.UC_X86_REG_CR3, "cr4": X.UC_X86_REG_CR4}
#: 16-bit views: name -> (32-bit register, shift, mask)
SUBREGS = {
    "ax": ("eax", 0, 0xFFFF), "bx": ("ebx", 0, 0xFFFF), "cx": ("ecx", 0, 0xFFFF), "dx": ("edx", 0, 0xFFFF),
    "si": ("esi", 0, 0xFFFF), "di": ("edi", 0, 0xFFFF), "bp": ("ebp", 0, 0xFFFF), "sp": ("esp", 0, 0xFFFF),
    "ip": ("eip", 0, 0xFFFF), "flags": ("eflags", 0, 0xFFFF),
    "al": ("eax", 0, 0xFF), "ah": ("eax", 8, 0xFF), "bl": ("ebx", 0, 0xFF), "bh": ("ebx", 8, 0xFF),
    "cl": ("ecx", 0, 0xFF), "ch": ("ecx", 8, 0xFF), "dl": ("edx", 0, 0xFF), "dh": ("edx", 8, 0xFF),
}

# EFLAGS bits
CF, PF, AF, ZF, SF, TF, IF, DF, OF = 1 << 0, 1 << 2, 1 << 4, 1 << 6, 1 << 7, 1 << 8, 1 << 9, 1 << 10, 1 << 11
NT, RF, VM, AC = 1 << 14, 1 << 16, 1 << 17, 1 << 18
FLAG_NAMES = [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"),
              (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (21, "ID")]
CR0_NAMES = [(0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"), (18, "AM"),
             (29, "NW"), (30, "CD"), (31, "PG")]
CR4_NAMES = [(0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"), (6, "MCE"), (7, "PGE"),
             (8, "PCE"), (9, "OSFXSR"), (10, "OSXMMEXCPT")]


def decode_bits(value: int, names: list[tuple[int, str]]) -> list[str]:
    return [name for bit, name in names if value >> bit & 1]


@dataclass(frozen=True)
class Descriptor:
    """A decoded 8-byte GDT/LDT/IDT entry (segment or gate), with its raw bytes."""

    raw: bytes
    base: int
    limit: int          # in bytes, granularity applied
    type: int           # 4-bit type field
    s: bool             # 1 = code/data segment, 0 = system (gate, TSS, LDT)
    dpl: int
    present: bool
    db: bool            # D/B: 32-bit default operand size
    g: bool
    # gates
    selector: int = 0
    offset: int = 0

    @property
    def is_code(self) -> bool:
        return self.s and bool(self.type & 8)

    @property
    def gate_kind(self) -> str:
        return {0x5: "task gate", 0x6: "16-bit interrupt gate", 0x7: "16-bit trap gate",
                0xE: "32-bit interrupt gate", 0xF: "32-bit trap gate", 0xC: "32-bit call gate",
                0x9: "32-bit TSS (available)", 0xB: "32-bit TSS (busy)", 0x2: "LDT"}.get(self.type, f"type {self.type:#x}")

    def describe(self) -> str:
        """Words a learner can read, e.g. 'code, base 0, limit 4 GiB, DPL 0, 32-bit, present'."""
        if not self.s:
            if self.type in (0x6, 0x7, 0xE, 0xF, 0xC):
                return (f"{self.gate_kind} -> {self.selector:#06x}:{self.offset:#010x}, DPL {self.dpl}, "
                        f"{'present' if self.present else 'NOT present'}")
            return f"{self.gate_kind}, base {self.base:#x}, limit {self.limit:#x}, DPL {self.dpl}"
        kind = "code" if self.is_code else "data"
        if self.is_code:
            attrs = ("readable" if self.type & 2 else "execute-only") + (", conforming" if self.type & 4 else "")
        else:
            attrs = ("writable" if self.type & 2 else "read-only") + (", expand-down" if self.type & 4 else "")
        return (f"{kind} ({attrs}), base {self.base:#x}, limit {self.limit:#x}, DPL {self.dpl}, "
                f"{'32' if self.db else '16'}-bit, {'4 KiB' if self.g else 'byte'} granularity, "
                f"{'present' if self.present else 'NOT present'}")


def decode_descriptor(raw: bytes) -> Descriptor:
    lo, hi = struct.unpack("<II", raw)
    limit = (lo & 0xFFFF) | (hi & 0x000F0000)
    base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000)
    typ = (hi >> 8) & 0xF
    s = bool(hi >> 12 & 1)
    g = bool(hi >> 23 & 1)
    if g:
        limit = (limit << 12) | 0xFFF
    selector = lo >> 16
    offset = (lo & 0xFFFF) | (hi & 0xFFFF0000)
    return Descriptor(raw=bytes(raw), base=base, limit=limit, type=typ, s=s, dpl=(hi >> 13) & 3,
                      present=bool(hi >> 15 & 1), db=bool(hi >> 22 & 1), g=g, selector=selector, offset=offset)


#: decoded descriptors by their 8 raw bytes (a Descriptor is immutable): a kernel's interrupt
#: entry and IRET look up the same few CS/SS descriptors on every timer tick (issue 11)
_DECODED: dict[bytes, Descriptor] = {}


class _Mmr(ctypes.Structure):
    """unicorn's uc_x86_mmr (GDTR/IDTR/LDTR/TR), read through the raw C API."""

    _fields_ = [("selector", ctypes.c_uint16), ("base", ctypes.c_uint64), ("limit", ctypes.c_uint32),
                ("flags", ctypes.c_uint32)]


class Cpu:
    """Named access to one Unicorn x86 engine (also the `BiosCpu` the BIOS services use)."""

    def __init__(self, uc: Uc, write_hook=None) -> None:
        self.uc = uc
        # Reading registers through the raw C API is ~10x cheaper than the binding's reg_read,
        # which matters in the I/O hooks (a polled UART reads EIP/CS on every IN).
        from unicorn.unicorn_py3 import unicorn as _ucpy
        self._uc_reg_read = _ucpy.uclib.uc_reg_read
        self._uc_reg_write = _ucpy.uclib.uc_reg_write   # the same for writes (BIOS services)
        self._wbuf = ctypes.c_uint64()
        self._wbufref = ctypes.byref(self._wbuf)
        self._uch = uc._uch
        self._buf = ctypes.c_uint64()
        self._bufref = ctypes.byref(self._buf)
        self._mmr = _Mmr()
        self._mmr_ref = ctypes.byref(self._mmr)
        #: Guest RAM as a bytearray (set by the machine) for cheap reads; `hma_alias` is True while
        #: A20 is off (0x100000-0x10FFFF then reads through Unicorn, which applies the wrap).
        self.ram: bytearray | None = None
        self._cs_cache: tuple[int, int] | None = None
        #: told each time the CS cache is filled or dropped (the native port path uses the same
        #: base: emu/fastports.py)
        self.cs_cache_listener: Callable[[tuple[int, int] | None], None] | None = None
        self.hma_alias = False
        #: called as write_hook(addr, data) for host writes, so the machine can drop stale code
        self._write_hook = write_hook
        self._walker = None

    # --- registers -----------------------------------------------------------------------
    def _raw(self, regid: int) -> int:
        self._buf.value = 0
        self._uc_reg_read(self._uch, regid, self._bufref)
        return self._buf.value

    def get(self, reg: str) -> int:
        if reg in REG32:
            return self._raw(REG32[reg]) & 0xFFFFFFFF
        if reg in SUBREGS:
            full, shift, mask = SUBREGS[reg]
            return (self.get(full) >> shift) & mask
        if reg in SEGS:
            return self._raw(SEGS[reg]) & 0xFFFF
        if reg in CRS:
            return self._raw(CRS[reg]) & 0xFFFFFFFF
        raise KeyError(reg)

    def _raw_write(self, regid: int, value: int) -> None:
        self._wbuf.value = value
        err = self._uc_reg_write(self._uch, regid, self._wbufref)
        if err:
            self.uc.reg_write(regid, value)   # let the binding raise its UcError

    def set(self, reg: str, value: int) -> None:
        if reg in REG32:
            self._raw_write(REG32[reg], value & 0xFFFFFFFF)
        elif reg in SUBREGS:
            full, shift, mask = SUBREGS[reg]
            old = self.get(full)
            self._raw_write(REG32[full], (old & ~(mask << shift)) | ((value & mask) << shift))
        elif reg in SEGS:
            self._raw_write(SEGS[reg], value & 0xFFFF)
        elif reg in CRS:
            self._raw_write(CRS[reg], value & 0xFFFFFFFF)
        else:
            raise KeyError(reg)

    def regs(self) -> dict[str, int]:
        out = {name: self.get(name) for name in REG32}
        out.update({name: self.get(name) for name in SEGS})
        out.update({name: self.get(name) for name in CRS})
        return out

    # --- memory --------------------------------------------------------------------------
    # `read`/`write` take LINEAR addresses, as the CPU's own accesses do: with CR0.PG set they go
    # through the guest's page tables (emu/paging.py, raising PageFault), otherwise linear is
    # physical and the only cost is one CR0 read.  `read_phys`/`write_phys` skip the walk.
    def paging(self) -> bool:
        return (self._raw(X.UC_X86_REG_CR0) & 0x80000001) == 0x80000001

    def _regs_for_walk(self) -> tuple[int, int, int]:
        raw = self._raw
        return (raw(X.UC_X86_REG_CR0) & 0xFFFFFFFF, raw(X.UC_X86_REG_CR3) & 0xFFFFFFFF,
                raw(X.UC_X86_REG_CR4) & 0xFFFFFFFF)

    @property
    def walker(self):
        """The page-table walker over this engine's physical memory."""
        w = self._walker
        if w is None:
            from .paging import Walker
            w = self._walker = Walker(self.read_phys, self._write_phys_quiet, self._regs_for_walk)
        return w

    #: (linear, n, touch) -> bytes, or None to read here: the native walker
    #: (emu/native_paging.py), the same bytes and Accessed bits in one C call
    native_read: Callable[[int, int, int], bytes | None] | None = None

    def read(self, addr: int, n: int) -> bytes:
        """Linear read for the CPU (sets the page tables' Accessed bits when paging)."""
        nr = self.native_read
        if nr is not None:
            data = nr(addr, n, 1)
            if data is not None:
                return data
        if self.paging():
            return self.walker.read_linear(addr, n, touch=True)
        return self.read_phys(addr, n)

    def fetch(self, addr: int, n: int) -> bytes:
        """Code bytes at a linear address (the block pricer, the decoder): no A/D side effects."""
        nr = self.native_read
        if nr is not None:
            data = nr(addr, n, 0)
            if data is not None:
                return data
        if self.paging():
            return self.walker.read_linear(addr, n)
        return bytes(self.uc.mem_read(addr, n))

    def peek(self, addr: int, n: int) -> bytes:
        """Linear read for a debugger: the tables are not touched; raises PageFault."""
        if self.paging():
            return self.walker.read_linear(addr, n)
        return self.read_phys(addr, n)

    def write(self, addr: int, data: bytes) -> None:
        """Linear write for the CPU (delivery frames, BIOS services, the debugger's pokes)."""
        data = bytes(data)
        if self.paging():
            pos = 0
            for phys, k in self.walker.spans(addr, len(data), write=True, touch=True):
                self.uc.mem_write(phys, data[pos:pos + k])
                pos += k
        else:
            self.uc.mem_write(addr, data)
        if self._write_hook is not None:
            self._write_hook(addr, len(data))   # translated code is keyed by linear address

    def read_phys(self, addr: int, n: int) -> bytes:
        ram = self.ram
        if ram is not None and addr + n <= len(ram) and not (
                self.hma_alias and addr < 0x110000 and addr + n > 0x100000):
            return bytes(ram[addr:addr + n])
        return bytes(self.uc.mem_read(addr, n))

    def _write_phys_quiet(self, addr: int, data: bytes) -> None:
        """The walker's A/D bit updates: page-table bytes, never code."""
        self.uc.mem_write(addr, bytes(data))

    def read_u16(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 2), "little")

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    # --- mode ----------------------------------------------------------------------------
    @property
    def protected(self) -> bool:
        return bool(self.get("cr0") & 1)

    def table(self, which: str) -> tuple[int, int]:
        """(base, limit) of 'gdtr' or 'idtr'."""
        reg = X.UC_X86_REG_GDTR if which == "gdtr" else X.UC_X86_REG_IDTR
        self._uc_reg_read(self._uch, reg, self._mmr_ref)
        return self._mmr.base & 0xFFFFFFFF, self._mmr.limit & 0xFFFF

    def descriptor(self, selector: int) -> Descriptor | None:
        """The GDT descriptor a selector names, or None beyond the limit (LDT not modelled)."""
        base, limit = self.table("gdtr")
        index = selector & ~7
        if selector & 4 or index + 7 > limit:
            return None
        raw = bytes(self.read(base + index, 8))
        d = _DECODED.get(raw)
        if d is None:
            d = decode_descriptor(raw)
            if len(_DECODED) < 4096:
                _DECODED[raw] = d
        return d

    def seg_base(self, seg: str) -> int:
        sel = self.get(seg)
        if not self.protected or (self.get("eflags") & VM):
            return sel << 4
        d = self.descriptor(sel)
        return d.base if d is not None else 0

    def code32(self) -> bool:
        """Is the current code segment 32-bit (D bit)?"""
        if not self.protected:
            return False
        d = self.descriptor(self.get("cs"))
        return bool(d and d.db)

    def stack32(self) -> bool:
        if not self.protected:
            return False
        d = self.descriptor(self.get("ss"))
        return bool(d and d.db)

    @property
    def cpl(self) -> int:
        if not self.protected:
            return 0
        return self.get("cs") & 3

    def linear_pc(self) -> int:
        """CS base + EIP.  The protected-mode CS base is cached per selector, like the CPU's own
        descriptor cache; the machine drops it whenever CS may be reloaded from a changed GDT
        (watched instructions, interrupt delivery)."""
        raw = self._raw
        eip = raw(X.UC_X86_REG_EIP) & 0xFFFFFFFF
        cs = raw(X.UC_X86_REG_CS) & 0xFFFF
        if not raw(X.UC_X86_REG_CR0) & 1 or raw(X.UC_X86_REG_EFLAGS) & VM:
            return ((cs << 4) + (eip & 0xFFFF)) & 0xFFFFFFFF
        cached = self._cs_cache
        if cached is None or cached[0] != cs:
            d = self.descriptor(cs)
            cached = self._cs_cache = (cs, d.base if d is not None else 0)
            if self.cs_cache_listener is not None:
                self.cs_cache_listener(cached)
        return (cached[1] + eip) & 0xFFFFFFFF

    def forget_cs(self) -> None:
        self._cs_cache = None
        if self.cs_cache_listener is not None:
            self.cs_cache_listener(None)

    @property
    def mode(self) -> str:
        if not self.protected:
            return "real"
        if self.get("eflags") & VM:
            return "v86"
        return "protected"
