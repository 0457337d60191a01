"""GDB target descriptions and the register file layout the GDB stub sends.

gdb decides how to interpret a `g` packet from the target description it reads with
`qXfer:features:read:target.xml`.  For x86 it requires the `org.gnu.gdb.i386.core` feature in
gdb's own order (eax ecx edx ebx esp ebp esi edi, eip, eflags, cs ss ds es fs gs, st0-st7 as
80-bit values, then the eight x87 control registers); `org.gnu.gdb.i386.sse` adds xmm0-7 and
mxcsr.  One table (`REGISTERS`) drives both the XML and the packet encoding, so the two can
never disagree.  The `<architecture>` element is what changes with the CPU mode: `i8086` makes
gdb disassemble 16-bit code in real mode, `i386` 32-bit code in protected mode.

The XML below is written from gdb's documented format ("Target Descriptions" and "i386
Features" in the gdb manual), not copied from gdb's files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unicorn import x86_const as X


@dataclass(frozen=True)
class Reg:
    """One register as gdb numbers it."""

    name: str
    bits: int
    type: str
    group: str = ""


_GPR = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
_SEG = ["cs", "ss", "ds", "es", "fs", "gs"]
_FPCTL = ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"]

CORE: list[Reg] = (
    [Reg(n, 32, "data_ptr" if n in ("esp", "ebp") else "int32") for n in _GPR]
    + [Reg("eip", 32, "code_ptr"), Reg("eflags", 32, "i386_eflags")]
    + [Reg(n, 32, "int32") for n in _SEG]
    + [Reg(f"st{i}", 80, "i387_ext") for i in range(8)]
    + [Reg(n, 32, "int", "float") for n in _FPCTL]
)
SSE: list[Reg] = [Reg(f"xmm{i}", 128, "vec128") for i in range(8)] + [Reg("mxcsr", 32, "i386_mxcsr", "vector")]
#: control registers in a feature of our own: gdb shows them as $cr0..$cr4 (read-only here), and
#: $cr0 & 1 tells a stop hook whether to disassemble as i8086 or i386 (see GDB_MODE_HOOK)
SYS: list[Reg] = [Reg(n, 32, "int32", "system") for n in ("cr0", "cr2", "cr3", "cr4")]
#: gdb's register numbers are the indexes into this list (0 = eax ... 8 = eip ... 40 = mxcsr, 41 = cr0)
REGISTERS: list[Reg] = CORE + SSE + SYS
REGNUM = {r.name: i for i, r in enumerate(REGISTERS)}
EIP_REGNUM = REGNUM["eip"]

_EFLAGS_FIELDS = [(0, "CF"), (1, ""), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
                  (10, "DF"), (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"),
                  (20, "VIP"), (21, "ID")]
_MXCSR_FIELDS = [(0, "IE"), (1, "DE"), (2, "ZE"), (3, "OE"), (4, "UE"), (5, "PE"), (6, "DAZ"), (7, "IM"),
                 (8, "DM"), (9, "ZM"), (10, "OM"), (11, "UM"), (12, "PM"), (15, "FZ")]


def _reg_xml(r: Reg, regnum: int | None = None) -> str:
    extra = f' group="{r.group}"' if r.group else ""
    num = f' regnum="{regnum}"' if regnum is not None else ""
    return f'  <reg name="{r.name}" bitsize="{r.bits}" type="{r.type}"{extra}{num}/>'


def _flags_xml(ident: str, fields: list[tuple[int, str]]) -> str:
    body = "\n".join(f'    <field name="{n}" start="{b}" end="{b}"/>' for b, n in fields)
    return f'  <flags id="{ident}" size="4">\n{body}\n  </flags>'


def target_xml(mode: str) -> str:
    """The whole description, features inline (no xi:include round trips).

    mode: "real" gives architecture i8086 (16-bit disassembly), anything else i386."""
    arch = "i8086" if mode == "real" else "i386"
    core = "\n".join([_flags_xml("i386_eflags", _EFLAGS_FIELDS)] + [_reg_xml(r) for r in CORE])
    vec = "\n".join([
        '  <vector id="v4f" type="ieee_single" count="4"/>',
        '  <vector id="v2d" type="ieee_double" count="2"/>',
        '  <vector id="v16i8" type="int8" count="16"/>',
        '  <vector id="v8i16" type="int16" count="8"/>',
        '  <vector id="v4i32" type="int32" count="4"/>',
        '  <vector id="v2i64" type="int64" count="2"/>',
        '  <union id="vec128">',
        '    <field name="v4_float" type="v4f"/>',
        '    <field name="v2_double" type="v2d"/>',
        '    <field name="v16_int8" type="v16i8"/>',
        '    <field name="v8_int16" type="v8i16"/>',
        '    <field name="v4_int32" type="v4i32"/>',
        '    <field name="v2_int64" type="v2i64"/>',
        '    <field name="uint128" type="uint128"/>',
        '  </union>',
        _flags_xml("i386_mxcsr", _MXCSR_FIELDS)])
    sys_ = "\n".join(_reg_xml(r, REGNUM[r.name] if i == 0 else None) for i, r in enumerate(SYS))
    sse = "\n".join([vec, _reg_xml(SSE[0], REGNUM["xmm0"])] + [_reg_xml(r) for r in SSE[1:]])
    return ('<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target version="1.0">\n'
            f"  <architecture>{arch}</architecture>\n  <osabi>none</osabi>\n"
            f'  <feature name="org.gnu.gdb.i386.core">\n{core}\n  </feature>\n'
            f'  <feature name="org.gnu.gdb.i386.sse">\n{sse}\n  </feature>\n'
            f'  <feature name="org.bareflow.x86.sys">\n{sys_}\n  </feature>\n'
            "</target>\n")


# ----------------------------------------------------------------------------- values
_UC_FP = [getattr(X, f"UC_X86_REG_FP{i}") for i in range(8)]
_UC_XMM = [getattr(X, f"UC_X86_REG_XMM{i}") for i in range(8)]
_UC_FPCTL = {"fctrl": X.UC_X86_REG_FPCW, "fstat": X.UC_X86_REG_FPSW, "fiseg": X.UC_X86_REG_FCS,
             "fioff": X.UC_X86_REG_FIP, "foseg": X.UC_X86_REG_FDS, "fooff": X.UC_X86_REG_FDP,
             "fop": X.UC_X86_REG_FOP}


def _fpu_top(uc: Any) -> int:
    return (uc.reg_read(X.UC_X86_REG_FPSW) >> 11) & 7


def _full_tag_word(uc: Any) -> int:
    """The architectural 16-bit tag word from Unicorn's abridged one (1 bit per register:
    empty or not), classifying each non-empty register as valid/zero/special as FSTENV would."""
    abridged = uc.reg_read(X.UC_X86_REG_FPTAG)
    out = 0
    for phys in range(8):
        if abridged >> (2 * phys) & 1:
            tag = 3
        else:
            mant, exp = uc.reg_read(_UC_FP[phys])
            exp &= 0x7FFF
            if exp == 0 and mant == 0:
                tag = 1
            elif exp == 0x7FFF or exp == 0 or not mant >> 63:
                tag = 2
            else:
                tag = 0
        out |= tag << (2 * phys)
    return out


def _real_mode(machine: Any) -> bool:
    return machine.mode == "real"


def read_register(machine: Any, regnum: int) -> bytes | None:
    """Little-endian bytes of one register as gdb expects it, None when it cannot be read.

    In real mode eip is reported as the *linear* address CS*16+IP: gdb has no notion of
    segments, and with a linear $pc `x/4i $pc`, `break *0x7c00` and the frame display all
    point at the instruction the CPU really executes."""
    reg = REGISTERS[regnum]
    cpu = machine.cpu
    nbytes = reg.bits // 8
    name = reg.name
    try:
        if name == "eip":
            value = cpu.linear_pc() if _real_mode(machine) else cpu.get("eip")
        elif name in _GPR or name == "eflags" or name in _SEG:
            value = cpu.get(name)
        elif name.startswith("st"):
            uc = cpu.uc
            mant, exp = uc.reg_read(_UC_FP[(_fpu_top(uc) + int(name[2:])) & 7])
            value = (mant & ((1 << 64) - 1)) | ((exp & 0xFFFF) << 64)
        elif name == "ftag":
            value = _full_tag_word(cpu.uc)
        elif name in _UC_FPCTL:
            value = cpu.uc.reg_read(_UC_FPCTL[name])
        elif name.startswith("xmm"):
            value = cpu.uc.reg_read(_UC_XMM[int(name[3:])])
        elif name == "mxcsr":
            value = cpu.uc.reg_read(X.UC_X86_REG_MXCSR)
        elif name.startswith("cr"):
            value = cpu.get(name)
        else:
            return None
    except Exception:   # a register Unicorn cannot read in this state: gdb shows <unavailable>
        return None
    return (int(value) & ((1 << reg.bits) - 1)).to_bytes(nbytes, "little")


class RegisterWriteError(ValueError):
    """A register value the CPU cannot take (gdb gets an error reply with this text)."""


def write_register(machine: Any, regnum: int, data: bytes) -> None:
    """Set one register from gdb's little-endian bytes (see read_register for real-mode eip)."""
    reg = REGISTERS[regnum]
    if len(data) != reg.bits // 8:
        raise RegisterWriteError(f"{reg.name} takes {reg.bits // 8} bytes, got {len(data)}")
    value = int.from_bytes(data, "little")
    cpu = machine.cpu
    name = reg.name
    if name == "eip":
        if _real_mode(machine):
            ip = value - (cpu.get("cs") << 4)
            if not 0 <= ip <= 0xFFFF:
                raise RegisterWriteError(f"linear {value:#x} is outside CS={cpu.get('cs'):#06x}'s 64 KiB "
                                         "window; set $cs first")
            value = ip
        cpu.set("eip", value)
    elif name in _GPR or name == "eflags":
        cpu.set(name, value)
    elif name in _SEG:
        try:
            cpu.set(name, value & 0xFFFF)
        except Exception as exc:   # protected mode: Unicorn checks the selector against the GDT
            raise RegisterWriteError(f"{name}={value & 0xFFFF:#06x} is not a loadable selector ({exc})") from None
    elif name.startswith("st"):
        uc = cpu.uc
        uc.reg_write(_UC_FP[(_fpu_top(uc) + int(name[2:])) & 7],
                     (value & ((1 << 64) - 1), (value >> 64) & 0xFFFF))
    elif name in _UC_FPCTL:
        cpu.uc.reg_write(_UC_FPCTL[name], value)
    elif name.startswith("xmm"):
        cpu.uc.reg_write(_UC_XMM[int(name[3:])], value)
    elif name == "mxcsr":
        cpu.uc.reg_write(X.UC_X86_REG_MXCSR, value)
    elif name == "ftag":
        raise RegisterWriteError("ftag is derived from the x87 registers; write st0-st7 instead")
    elif name.startswith("cr"):
        raise RegisterWriteError(f"{name} is read-only from the debugger (a mode switch belongs to the guest)")
    else:
        raise RegisterWriteError(f"{name} cannot be written")


def read_all(machine: Any) -> str:
    """The `g` reply: every register in order, hex, 'xx' pairs for unavailable ones."""
    parts = []
    for i, reg in enumerate(REGISTERS):
        raw = read_register(machine, i)
        parts.append("xx" * (reg.bits // 8) if raw is None else raw.hex())
    return "".join(parts)


def write_all(machine: Any, hexdata: str) -> None:
    """The `G` packet: as many registers as the data covers, in order."""
    data = bytes.fromhex(hexdata)
    ends, total = {0}, 0
    for reg in REGISTERS:
        total += reg.bits // 8
        ends.add(total)
    if len(data) not in ends:      # a register cut in the middle: refuse before writing any
        raise RegisterWriteError(f"G: {len(data)} bytes do not end on a register boundary")
    pos = 0
    for i, reg in enumerate(REGISTERS):
        n = reg.bits // 8
        if pos + n > len(data):
            break
        chunk = data[pos:pos + n]
        pos += n
        if reg.name == "ftag" or reg.name.startswith("cr"):
            continue
        current = read_register(machine, i)
        if current == chunk:
            continue   # unchanged: do not poke segment registers or eip needlessly
        write_register(machine, i, chunk)


#: A gdb stop hook that follows the CPU mode: gdb reads the target description once, at
#: `target remote`, and an ELF loaded with `file` forces i386 anyway, so without it the
#: disassembly is 16-bit in protected mode or 32-bit in real mode.  (docs/debugging.md)
GDB_MODE_HOOK = """\
define hook-stop
  if ($cr0 & 1)
    set architecture i386
  else
    set architecture i8086
  end
end
"""
