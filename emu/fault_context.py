"""What the fault explainer works on: the frozen state at a fault, the answer, and how to read
the faulting instruction.

`FaultContext` is the picture of the machine the CPU used when it raised the exception,
`Explanation` the explainer's answer, and the capstone helpers decode the instruction at the
fault (which segment register it loads, whether it touches SSE).  Split out of emu/explain.py
so that the causes (emu/fault_causes.py) and the live watcher (emu/fault_watch.py) share them
without importing each other; emu/explain.py re-exports everything.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .capstone_lazy import CX, capstone   # loaded at the first decode (emu/capstone_lazy.py)

from .cpu import Descriptor, decode_descriptor
from .interrupts import HAS_ERROR_CODE

SHORT_NAMES = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
               9: "#MF(old)", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC",
               18: "#MC", 19: "#XM", 20: "#VE"}
SEGMENT_REGS = ("cs", "ds", "es", "fs", "gs", "ss")


def vec(v: int) -> str:
    """Vectors the way people say them: exceptions by number (8, 13), the rest in hex (0x30)."""
    return str(v) if v < 32 else f"{v:#x}"


def hx(v: int) -> str:
    """Hex, except a bare 0 (an 'IDT limit is 0' reads better than '0x0')."""
    return "0" if v == 0 else f"{v:#x}"


def exc_name(v: int, error_code: int | None = None) -> str:
    """'#GP(0x48)', '#UD', 'vector 0x30'."""
    base = SHORT_NAMES.get(v, f"vector {vec(v)}")
    if error_code is not None and v in HAS_ERROR_CODE:
        return f"{base}({hx(error_code)})"
    return base


@dataclass
class FaultContext:
    """What the CPU saw when the exception was raised (before anything was pushed)."""

    vector: int
    kind: str                        # "exception", "software", "hardware"
    error_code: int | None
    cs: int
    eip: int                         # the faulting (or returning, for traps and INT n) EIP
    protected: bool
    code32: bool
    regs: dict[str, int]
    gdtr: tuple[int, int]
    idtr: tuple[int, int]
    read_mem: Callable[[int, int], bytes]
    cpl: int = 0
    #: events seen during the delivery: ("fault", vector, error_code, why) / ("delivered", vector) /
    #: ("triple", why)
    chain: list[tuple] = field(default_factory=list)
    #: (address, text) of the last instructions executed, oldest first, the faulting one last
    recent: list[tuple[int, str]] = field(default_factory=list)
    symbolize: Callable[[int], str] | None = None
    cycle: int = 0
    #: a #PF: the walk of CR2 in the tables at the fault (emu/page_walk.PageWalk), or None
    page_walk: Any = None

    # --- state helpers (the same rules as the CPU, over the frozen memory reader) ---------
    def descriptor(self, selector: int) -> Descriptor | None:
        base, limit = self.gdtr
        index = selector & ~7
        if selector & 4 or index + 7 > limit:
            return None
        return decode_descriptor(self.read_mem(base + index, 8))

    def descriptor_raw(self, selector: int) -> bytes | None:
        base, limit = self.gdtr
        index = selector & ~7
        if selector & 4 or index + 7 > limit:
            return None
        return self.read_mem(base + index, 8)

    def seg_base(self, seg: str) -> int:
        sel = self.regs.get(seg, 0)
        if not self.protected:
            return sel << 4
        d = self.descriptor(sel)
        return d.base if d is not None else 0

    def linear(self, cs: int, eip: int) -> int:
        if not self.protected:
            return ((cs << 4) + (eip & 0xFFFF)) & 0xFFFFFFFF
        d = self.descriptor(cs)
        return ((d.base if d else 0) + eip) & 0xFFFFFFFF


@dataclass
class Explanation:
    """The explainer's answer: `summary` is one line; `text()` is the full report."""

    summary: str
    steps: list[str] = field(default_factory=list)
    descriptors: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    outcome: str = ""
    cycle: int = 0
    #: a #PF: CR2, the error code in words and the page walk (emu/page_walk.fault_walk_lines)
    page_walk: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [self.summary]
        if self.page_walk:
            lines.append("The page walk for CR2:")
            lines += [f"  {w}" for w in self.page_walk]
        if self.steps:
            lines.append("What the CPU did:")
            lines += [f"  {i}. {s}" for i, s in enumerate(self.steps, 1)]
        if self.outcome:
            lines.append(f"Outcome: {self.outcome}")
        if self.descriptors:
            lines.append("Descriptors involved:")
            lines += [f"  {d}" for d in self.descriptors]
        if self.instructions:
            lines.append("Last instructions executed:")
            lines += [f"  {i}" for i in self.instructions]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "steps": self.steps, "outcome": self.outcome,
                "descriptors": self.descriptors, "instructions": self.instructions, "cycle": self.cycle,
                "page_walk": self.page_walk}


# ====================================================================== instruction decoding
_MD = {}


def _md(code32: bool) -> capstone.Cs:
    md = _MD.get(code32)
    if md is None:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32 if code32 else capstone.CS_MODE_16)
        md.detail = True
        _MD[code32] = md
    return md


def _insn_at(ctx: FaultContext, linear: int) -> Any | None:
    code = ctx.read_mem(linear, 16)
    for insn in _md(ctx.code32).disasm(code, linear):
        return insn
    return None


def _insn_text(insn: Any) -> str:
    return f"{insn.mnemonic} {insn.op_str}".strip()


def _loaded_segment(insn: Any) -> str | None:
    """Which segment register an instruction loads ('ds', 'cs' for far jumps...), or None."""
    mn = insn.mnemonic
    if mn in ("ljmp", "lcall", "retf", "iret", "iretd"):
        return "cs"
    if mn in ("lds", "les", "lfs", "lgs", "lss"):
        return mn[1:]
    if mn in ("mov", "pop") and insn.operands:
        op = insn.operands[0]
        if op.type == CX.X86_OP_REG:
            name = insn.reg_name(op.reg)
            if name in SEGMENT_REGS:
                return name
    return None


def _has_xmm(insn: Any) -> bool:
    return "xmm" in insn.op_str or insn.mnemonic in ("ldmxcsr", "stmxcsr", "fxsave", "fxrstor")
