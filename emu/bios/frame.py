"""Register and memory helpers every BIOS service shares.

A service runs while the guest sits at the BIOS stub with the interrupt frame on its stack
(IP at SS:SP, CS at SS:SP+2, FLAGS at SS:SP+4).  Results in CF/ZF must go into that stacked
FLAGS word, because the stub's `iret` reloads FLAGS from there -- exactly how a real BIOS
reports status.  Everything here is real mode: the IVT stubs are only reachable in real mode.
"""
from __future__ import annotations

import struct
from typing import Protocol

CF = 1 << 0
ZF = 1 << 6
IF = 1 << 9
TF = 1 << 8


class BiosCpu(Protocol):
    """What the machine gives a BIOS service (see docs/bios.md)."""

    def get(self, reg: str) -> int: ...

    def set(self, reg: str, value: int) -> None: ...

    def read(self, addr: int, n: int) -> bytes: ...

    def write(self, addr: int, data: bytes) -> None: ...


def linear(seg: int, off: int) -> int:
    """Real-mode segment:offset -> linear address (no A20 wrap: the BIOS never relies on it)."""
    return ((seg & 0xFFFF) << 4) + (off & 0xFFFF)


def rd8(cpu: BiosCpu, addr: int) -> int:
    return cpu.read(addr, 1)[0]


def rd16(cpu: BiosCpu, addr: int) -> int:
    return struct.unpack("<H", cpu.read(addr, 2))[0]


def rd32(cpu: BiosCpu, addr: int) -> int:
    return struct.unpack("<I", cpu.read(addr, 4))[0]


def wr8(cpu: BiosCpu, addr: int, value: int) -> None:
    cpu.write(addr, bytes((value & 0xFF,)))


def wr16(cpu: BiosCpu, addr: int, value: int) -> None:
    cpu.write(addr, struct.pack("<H", value & 0xFFFF))


def wr32(cpu: BiosCpu, addr: int, value: int) -> None:
    cpu.write(addr, struct.pack("<I", value & 0xFFFFFFFF))


def frame_addr(cpu: BiosCpu) -> int:
    """Linear address of the interrupt frame (the stacked IP)."""
    return linear(cpu.get("ss"), cpu.get("sp"))


def stacked_flags(cpu: BiosCpu) -> int:
    return rd16(cpu, linear(cpu.get("ss"), cpu.get("sp") + 4))


def set_stacked_flags(cpu: BiosCpu, value: int) -> None:
    wr16(cpu, linear(cpu.get("ss"), cpu.get("sp") + 4), value)


def set_flag(cpu: BiosCpu, bit: int, on: bool) -> None:
    """Set or clear one bit of the FLAGS the stub's iret will restore."""
    flags = stacked_flags(cpu)
    set_stacked_flags(cpu, (flags | bit) if on else (flags & ~bit))


def set_cf(cpu: BiosCpu, on: bool) -> None:
    set_flag(cpu, CF, on)


def set_zf(cpu: BiosCpu, on: bool) -> None:
    set_flag(cpu, ZF, on)


def success(cpu: BiosCpu) -> None:
    """SeaBIOS `set_code_success`: AH = 0, CF = 0 (AL untouched)."""
    cpu.set("ah", 0)
    set_cf(cpu, False)


def fail(cpu: BiosCpu, code: int) -> None:
    """SeaBIOS `set_code_invalid`: AH = code, CF = 1 (AL untouched)."""
    cpu.set("ah", code)
    set_cf(cpu, True)


def return_to(cpu: BiosCpu, seg: int, off: int) -> None:
    """Continue execution at seg:off instead of the stub (the frame stays on the stack)."""
    cpu.set("cs", seg)
    cpu.set("eip", off)
