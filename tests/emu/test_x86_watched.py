"""emu/x86_watched.py against capstone: the decoder special.py uses while watched
instructions execute must give capstone's answer (or None, and special.py asks capstone)."""
from __future__ import annotations

import random

import capstone
import pytest

from bareflow.emu import x86_watched as xw

_MDS = {}


def _cs(code32: bool):
    md = _MDS.get(code32)
    if md is None:
        md = _MDS[code32] = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32 if code32 else capstone.CS_MODE_16)
        md.detail = True
    return md


def _norm_capstone(insn):
    ops = []
    for o in insn.operands:
        if o.type == capstone.x86.X86_OP_REG:
            ops.append(("reg", insn.reg_name(o.reg)))
        elif o.type == capstone.x86.X86_OP_IMM:
            ops.append(("imm", o.imm))
        else:
            m = o.mem
            ops.append(("mem", insn.reg_name(m.segment) if m.segment else None,
                        insn.reg_name(m.base) if m.base else None,
                        insn.reg_name(m.index) if m.index else None, m.scale, m.disp))
    return insn.mnemonic, insn.size, insn.prefix[1], insn.prefix[2], ops


def _norm_ours(insn):
    ops = []
    for o in insn.operands:
        if o.type == xw.X86_OP_REG:
            ops.append(("reg", o.reg))
        elif o.type == xw.X86_OP_IMM:
            ops.append(("imm", o.imm))
        else:
            m = o.mem
            ops.append(("mem", m.segment, m.base, m.index, m.scale, m.disp))
    return insn.mnemonic, insn.size, insn.prefix[1], insn.prefix[2], ops


def _check(code: bytes, code32: bool) -> bool:
    """True if ours decoded it (and then it must equal capstone)."""
    ours = xw.decode(code, 0x1000, code32)
    if ours is None:
        return False
    theirs = next(iter(_cs(code32).disasm(code, 0x1000)), None)
    assert theirs is not None, f"{code.hex()} ({'32' if code32 else '16'}-bit): capstone finds no instruction, ours {ours}"
    assert _norm_ours(ours) == _norm_capstone(theirs), f"{code.hex()} ({'32' if code32 else '16'}-bit)"
    return True


def test_operand_type_constants_are_capstones():
    assert (xw.X86_OP_REG, xw.X86_OP_IMM, xw.X86_OP_MEM) == (
        capstone.x86.X86_OP_REG, capstone.x86.X86_OP_IMM, capstone.x86.X86_OP_MEM)


#: every opcode the decoder claims, with the ModRM byte to follow (None: no ModRM)
_OPCODES = [b"\x8e", b"\xc4", b"\xc5", b"\xff", b"\x0f\x22", b"\x0f\x00", b"\x0f\x01",
            b"\x0f\xb2", b"\x0f\xb4", b"\x0f\xb5"]
_PLAIN = [b"\x07", b"\x17", b"\x1f", b"\x0f\xa1", b"\x0f\xa9", b"\x0f\x30", b"\x0f\x32",
          b"\x0f\x34", b"\x0f\x35", b"\xea", b"\x9a"]
_PREFIXES = [b"", b"\x66", b"\x67", b"\x66\x67", b"\x26", b"\x2e", b"\x36", b"\x3e", b"\x64", b"\x65",
             b"\x65\x66\x67", b"\x67\x3e"]


@pytest.mark.parametrize("code32", [False, True])
def test_every_modrm_with_every_prefix(code32):
    rnd = random.Random(11)
    decoded = 0
    for prefix in _PREFIXES:
        for opcode in _OPCODES:
            for modrm in range(256):
                tail = bytes(rnd.randrange(256) for _ in range(6))
                decoded += _check(prefix + opcode + bytes([modrm]) + tail, code32)
        for opcode in _PLAIN:
            tail = bytes(rnd.randrange(256) for _ in range(8))
            decoded += _check(prefix + opcode + tail, code32)
    assert decoded > 10_000      # the decoder really answers (not None everywhere)


@pytest.mark.parametrize("code32", [False, True])
def test_every_sib_byte(code32):
    """32-bit addressing (code32, or a 0x67 prefix in 16-bit code): all SIB bytes, all mods."""
    prefix = b"" if code32 else b"\x67"
    for mod in (0x00, 0x40, 0x80):                                 # rm=100 (SIB) with mod 0/1/2
        for sib in range(256):
            for opcode, reg in ((b"\x0f\x01", 2), (b"\x0f\x01", 3), (b"\x8e", 2), (b"\xc4", 5),
                                (b"\x0f\xb2", 1), (b"\xff", 3), (b"\xff", 5), (b"\x0f\x00", 3)):
                m = mod | (reg << 3) | 4
                assert _check(prefix + opcode + bytes([m, sib]) + b"\x80\x90\xa0\xb0", code32)


def test_refuses_what_it_does_not_know():
    """None (capstone answers) for other opcodes, LOCK/REP, repeated prefixes, register forms
    the CPU rejects, truncated bytes."""
    for code in (b"\x90", b"\xf0\x0f\x22\xc0", b"\xf3\x0f\x01\x10", b"\x26\x26\x8e\x10", b"\x66\x66\x0f\x30",
                 b"\xc4\xc0", b"\xff\xd8", b"\x0f\x01\xd0", b"\x0f\x01", b"\xea\x00", b"\x8e\xf0",
                 b"\x0f\x20\xc0", b"\xcf"):
        assert xw.decode(code, 0, True) is None, code.hex()
        assert xw.decode(code, 0, False) is None, code.hex()
    assert xw.decode(b"\x0f\x01\x15\x00", 0, True) is None       # disp32 cut short
    assert xw.decode(b"\x0f\x01\x16\x00", 0, False) is None      # disp16 cut short


def test_the_fluid_llama_watched_instructions():
    """The encodings the fluid_llama batch executes (LIDT, MOV CR0, far jumps, MOV SS...)."""
    for code, code32 in ((b"\x0f\x22\xc0", True), (b"\x0f\x01\x54\x24\x02", True), (b"\xea\xb4\xf2\x10\x00\x08\x00", True),
                         (b"\x8e\xd0", True), (b"\x0f\x01\x1c\x24", True), (b"\x8e\xd0", False),
                         (b"\xea\x11\x7c\x00\x00", False), (b"\x0f\x01\x16\x00\x90", False), (b"\x0f\x22\xc0", False),
                         (b"\x66\xea\x81\x81\x00\x00\x08\x00", False)):
        assert _check(code + bytes(8), code32), code.hex()
