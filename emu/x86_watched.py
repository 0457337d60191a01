"""A small exact decoder for the instructions emu/special.py watches while they execute.

Why: special.py puts a code hook on MOV CRn, LGDT/LIDT, LMSW, LTR/LLDT, far JMP/CALL, segment
loads, RDMSR/WRMSR and SYSENTER/SYSEXIT, and decodes each one as it runs to emit its event
(`cr_write`, `lgdt`, `ltr`...) or to find the selector a faulting segment load used.  It did
that with capstone, which loaded capstone (~18-25 ms: its library and the modules of every
architecture) inside the run loop of any guest that switches mode - the fluid_llama batch does,
37 times.  This module decodes exactly those opcodes, in 16- and 32-bit code, with the same
answers capstone 5 gives (mnemonic, length, prefixes, operands - register names, memory base,
index, scale, displacement and segment override, far pointers), including capstone's own
naming quirks (`call`/`jmp` for FF /3 and FF /5 in 32-bit code, `iretd`, register widths).
tests/emu/test_x86_watched.py compares the two over every ModRM byte, SIB byte, prefix
combination and both code sizes.

Anything else - another opcode, a LOCK/REP prefix, a repeated prefix, an encoding a real CPU
rejects - decodes to None, and the caller asks capstone as before: the answer is the same,
only slower.  The objects returned mimic the parts of capstone's CsInsn that special.py reads.
"""
from __future__ import annotations

from typing import NamedTuple

#: capstone's x86 operand types (capstone/x86_const.py), compared by a test
X86_OP_REG, X86_OP_IMM, X86_OP_MEM = 1, 2, 3

_R32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
_R16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")
_SEG = ("es", "cs", "ss", "ds", "fs", "gs")
_SEG_PREFIX = {0x26: "es", 0x2E: "cs", 0x36: "ss", 0x3E: "ds", 0x64: "fs", 0x65: "gs"}
#: 16-bit addressing: (base, index) of each r/m value
_RM16 = (("bx", "si"), ("bx", "di"), ("bp", "si"), ("bp", "di"), ("si", None), ("di", None),
         ("bp", None), ("bx", None))


class Mem(NamedTuple):
    segment: str | None
    base: str | None
    index: str | None
    scale: int
    disp: int


class Op(NamedTuple):
    type: int
    reg: str | None = None
    imm: int = 0
    mem: Mem | None = None
    size: int = 0


class Insn:
    """The parts of capstone's CsInsn that emu/special.py uses (register fields hold names)."""

    __slots__ = ("address", "mnemonic", "size", "prefix", "operands")

    def __init__(self, address: int, mnemonic: str, size: int, prefix: list[int], operands: list[Op]) -> None:
        self.address = address
        self.mnemonic = mnemonic
        self.size = size
        self.prefix = prefix
        self.operands = operands

    @staticmethod
    def reg_name(reg: str | None) -> str | None:
        return reg

    def __repr__(self) -> str:
        return f"Insn({self.address:#x}, {self.mnemonic!r}, size={self.size}, operands={self.operands!r})"


def _sx(value: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (value & (sign - 1)) - (value & sign)


def _modrm_mem(code: bytes, i: int, addr32: bool, seg: str | None) -> tuple[Mem, int] | None:
    """The memory operand of the ModRM byte at code[i] (mod != 3): (Mem, index after it)."""
    if i >= len(code):
        return None
    modrm = code[i]
    mod, rm = modrm >> 6, modrm & 7
    i += 1
    if addr32:
        base: str | None = None
        index: str | None = None
        scale = 1
        if rm == 4:
            if i >= len(code):
                return None
            sib = code[i]
            i += 1
            ss, idx, b = sib >> 6, (sib >> 3) & 7, sib & 7
            scale = 1 << ss                  # capstone keeps it without an index too
            if idx != 4:
                index = _R32[idx]
            if b == 5 and mod == 0:
                n = 4
            else:
                base, n = _R32[b], (0, 1, 4)[mod]
        elif rm == 5 and mod == 0:
            n = 4
        else:
            base, n = _R32[rm], (0, 1, 4)[mod]
        if i + n > len(code):
            return None
        raw = int.from_bytes(code[i:i + n], "little")
        disp = _sx(raw, 8) if n == 1 else _sx(raw, 32) if n == 4 else 0
        return Mem(seg, base, index, scale, disp), i + n
    if rm == 6 and mod == 0:
        base16, index16, n = None, None, 2
    else:
        (base16, index16), n = _RM16[rm], (0, 1, 2)[mod]
    if i + n > len(code):
        return None
    raw = int.from_bytes(code[i:i + n], "little")
    disp = _sx(raw, 8 * n) if n else 0
    return Mem(seg, base16, index16, 1, disp), i + n


def decode(code: bytes, address: int, code32: bool) -> Insn | None:
    """The watched instruction at the start of `code`, or None (not one of ours: ask capstone)."""
    i = 0
    seg: str | None = None
    seg_byte = 0
    opsize = addrsize = False
    while i < len(code):
        b = code[i]
        if b in _SEG_PREFIX:
            if seg is not None:
                return None          # repeated segment prefixes: capstone's choice, not ours
            seg, seg_byte = _SEG_PREFIX[b], b
        elif b == 0x66:
            if opsize:
                return None
            opsize = True
        elif b == 0x67:
            if addrsize:
                return None
            addrsize = True
        elif b in (0xF0, 0xF2, 0xF3):
            return None
        else:
            break
        i += 1
    if i >= len(code):
        return None
    op32 = code32 != opsize
    addr32 = code32 != addrsize
    prefix = [0, seg_byte, 0x66 if opsize else 0, 0x67 if addrsize else 0]
    op = code[i]
    i += 1
    gpr = _R32 if op32 else _R16

    def done(mnemonic: str, end: int, operands: list[Op]) -> Insn:
        return Insn(address, mnemonic, end, prefix, operands)

    if op in (0x07, 0x17, 0x1F):                              # POP ES/SS/DS
        return done("pop", i, [Op(X86_OP_REG, reg=_SEG[op >> 3], size=2)])
    if op in (0xEA, 0x9A):                                    # far JMP/CALL ptr16:16/32
        n = 4 if op32 else 2
        if i + n + 2 > len(code):
            return None
        off = int.from_bytes(code[i:i + n], "little")
        sel = int.from_bytes(code[i + n:i + n + 2], "little")
        return done("ljmp" if op == 0xEA else "lcall", i + n + 2,
                    [Op(X86_OP_IMM, imm=sel, size=2), Op(X86_OP_IMM, imm=off, size=n)])
    if op == 0x8E:                                            # MOV Sreg, r/m16
        if i >= len(code):
            return None
        reg = (code[i] >> 3) & 7
        if reg > 5:
            return None
        dst = Op(X86_OP_REG, reg=_SEG[reg], size=2)
        if code[i] >> 6 == 3:
            return done("mov", i + 1, [dst, Op(X86_OP_REG, reg=gpr[code[i] & 7], size=4 if op32 else 2)])
        m = _modrm_mem(code, i, addr32, seg)
        return None if m is None else done("mov", m[1], [dst, Op(X86_OP_MEM, mem=m[0], size=2)])
    if op in (0xC4, 0xC5):                                    # LES/LDS r, m16:16/32
        if i >= len(code) or code[i] >> 6 == 3:
            return None                                       # VEX in 32-bit code, #UD in 16
        return _far_load("les" if op == 0xC4 else "lds", code, i, addr32, seg, gpr, op32, done)
    if op == 0xFF:                                            # FF /3 far CALL, FF /5 far JMP
        if i >= len(code):
            return None
        reg = (code[i] >> 3) & 7
        if reg not in (3, 5) or code[i] >> 6 == 3 or seg_byte == 0x3E:
            return None                   # 3E before FF: capstone says "notrack call" (CET)
        m = _modrm_mem(code, i, addr32, seg)
        if m is None:
            return None
        # capstone's naming: "call"/"jmp" with a 32-bit operand size, "lcall"/"ljmp" with 16
        name = ("call" if reg == 3 else "jmp") if op32 else ("lcall" if reg == 3 else "ljmp")
        return done(name, m[1], [Op(X86_OP_MEM, mem=m[0], size=6 if op32 else 4)])
    if op != 0x0F or i >= len(code):
        return None
    op2 = code[i]
    i += 1
    if op2 in (0x30, 0x32, 0x34, 0x35):
        return done({0x30: "wrmsr", 0x32: "rdmsr", 0x34: "sysenter", 0x35: "sysexit"}[op2], i, [])
    if op2 in (0xA1, 0xA9):                                   # POP FS/GS
        return done("pop", i, [Op(X86_OP_REG, reg="fs" if op2 == 0xA1 else "gs", size=2)])
    if op2 == 0x22:                                           # MOV CRn, r32 (mod is ignored)
        if i >= len(code):
            return None
        reg = (code[i] >> 3) & 7
        return done("mov", i + 1, [Op(X86_OP_REG, reg=f"cr{reg}", size=4),
                                   Op(X86_OP_REG, reg=_R32[code[i] & 7], size=4)])
    if op2 in (0xB2, 0xB4, 0xB5):                             # LSS/LFS/LGS r, m16:16/32
        if i >= len(code) or code[i] >> 6 == 3:
            return None
        return _far_load({0xB2: "lss", 0xB4: "lfs", 0xB5: "lgs"}[op2], code, i, addr32, seg, gpr, op32, done)
    if op2 in (0x00, 0x01):
        if i >= len(code):
            return None
        modrm = code[i]
        reg = (modrm >> 3) & 7
        if op2 == 0x00:
            name = {2: "lldt", 3: "ltr"}.get(reg)
            if name is None:
                return None
            if modrm >> 6 == 3:
                return done(name, i + 1, [Op(X86_OP_REG, reg=_R16[modrm & 7], size=2)])
            m = _modrm_mem(code, i, addr32, seg)
            return None if m is None else done(name, m[1], [Op(X86_OP_MEM, mem=m[0], size=2)])
        if reg in (2, 3):                                     # LGDT/LIDT m
            if modrm >> 6 == 3:
                return None                                   # VMX/SVM/MONITOR... encodings
            m = _modrm_mem(code, i, addr32, seg)
            return None if m is None else done("lgdt" if reg == 2 else "lidt", m[1],
                                               [Op(X86_OP_MEM, mem=m[0], size=6)])
        if reg == 6:                                          # LMSW r/m16
            if modrm >> 6 == 3:
                return done("lmsw", i + 1, [Op(X86_OP_REG, reg=_R16[modrm & 7], size=2)])
            m = _modrm_mem(code, i, addr32, seg)
            return None if m is None else done("lmsw", m[1], [Op(X86_OP_MEM, mem=m[0], size=2)])
        return None
    return None


def _far_load(name: str, code: bytes, i: int, addr32: bool, seg: str | None, gpr: tuple[str, ...],
              op32: bool, done) -> Insn | None:
    m = _modrm_mem(code, i, addr32, seg)
    if m is None:
        return None
    dst = Op(X86_OP_REG, reg=gpr[(code[i] >> 3) & 7], size=4 if op32 else 2)
    return done(name, m[1], [dst, Op(X86_OP_MEM, mem=m[0], size=6 if op32 else 4)])
