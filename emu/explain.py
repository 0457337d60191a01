"""The fault explainer: why did the CPU raise this exception, and why could it not deliver it?

A learner who sees "triple fault" learns nothing.  The CPU knows exactly why: the selector it
was asked to load lies beyond the GDT limit, the IDT is too short for the vector, the gate is
not present, the stack segment has no room for the interrupt frame.  This module re-reads the
machine state the CPU used (GDTR, IDTR, the descriptors, SS:ESP, the faulting instruction) and
says the cause in words, shows the descriptor bytes involved and the last instructions executed.

It works in two steps so that it can be tested without a running guest:
* `FaultContext` is a frozen picture of the state at the fault (taken by `FaultWatcher`, which
  wraps the machine's interrupt delivery to see the state *before* the CPU pushed anything);
* `explain(ctx)` turns it into an `Explanation` (a one-line summary first, then the chain,
  the descriptors and the instructions), using only the context's memory reader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import capstone
from capstone import x86_const as CX

from .cpu import Descriptor, decode_descriptor
from .interrupts import CONTRIBUTORY, HAS_ERROR_CODE

if TYPE_CHECKING:
    from .machine import Machine

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

    def text(self) -> str:
        lines = [self.summary]
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
                "descriptors": self.descriptors, "instructions": self.instructions, "cycle": self.cycle}


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


# ====================================================================== causes
def _describe(d: Descriptor) -> str:
    return d.describe()


def _raw(b: bytes) -> str:
    return b.hex(" ")


def _selector_cause(ctx: FaultContext, vector: int, ec: int, insn: Any | None,
                    descs: list[str]) -> str:
    """Why the selector in an error code was refused, in words."""
    name = exc_name(vector, ec)
    if ec & 2:
        v = ec >> 3
        problem = _gate_problem(ctx, v, "software" if not ec & 1 else "exception", descs)
        return f"{name}: the error code names IDT entry {vec(v)}: " + (problem[0] if problem else "see the gate below")
    sel = ec & 0xFFFC
    target = _loaded_segment(insn) if insn is not None else None
    into = f" into {target.upper()}" if target else ""
    base, limit = ctx.gdtr
    if sel & 4:
        return f"{name}: selector {sel:#x} has TI=1 (it refers to the LDT), but no LDT is in use"
    if (sel & ~7) + 7 > limit:
        count = (limit + 1) // 8
        descs.append(f"GDTR: base {base:#x}, limit {hx(limit)} ({count} descriptor{'s' if count != 1 else ''}: "
                     f"selectors 0x0 to {max(0, count - 1) * 8:#x})")
        for i in range(min(count, 16)):
            raw = ctx.read_mem(base + i * 8, 8)
            text = "null" if raw == bytes(8) else decode_descriptor(raw).describe()
            descs.append(f"GDT[{i}] selector {i * 8:#06x}: {_raw(raw)}  {text}")
        return f"{name}: selector {sel:#x} lies beyond the GDT limit {hx(limit)}"
    raw = ctx.read_mem(base + (sel & ~7), 8)
    d = decode_descriptor(raw)
    descs.append(f"GDT[{sel >> 3}] selector {sel:#06x}: {_raw(raw)}  "
                 f"{'null' if raw == bytes(8) else d.describe()}")
    if not d.present:
        return f"{name}: the descriptor of selector {sel:#x} is not present (P=0), so loading it{into} faults"
    if not d.s:
        return (f"{name}: selector {sel:#x} names a system descriptor ({d.gate_kind}), "
                f"not a code or data segment{', which' + into.replace(' into', '') + ' needs' if target else ''}")
    if target == "cs" and not d.is_code:
        return f"{name}: selector {sel:#x} is a data segment; a far jump or call needs a code segment"
    if target == "ss":
        if d.is_code or not d.type & 2:
            kind = "a code segment" if d.is_code else "a read-only data segment"
            return f"{name}: selector {sel:#x} is {kind}; SS needs a writable data segment"
        rpl = sel & 3
        if rpl != ctx.cpl or d.dpl != ctx.cpl:
            return f"{name}: SS needs RPL = DPL = CPL, but selector {sel:#x} has RPL {rpl}, DPL {d.dpl}, CPL {ctx.cpl}"
    if target in ("ds", "es", "fs", "gs") and d.is_code and not d.type & 2:
        return f"{name}: selector {sel:#x} is an execute-only code segment, which cannot be loaded{into}"
    if target in ("ds", "es", "fs", "gs") and not (d.is_code and d.type & 4):
        rpl = sel & 3
        if d.dpl < max(rpl, ctx.cpl):
            return (f"{name}: selector {sel:#x} has DPL {d.dpl}, more privileged than CPL {ctx.cpl} / "
                    f"RPL {rpl}, so it cannot be loaded{into}")
    return f"{name}: the CPU refused selector {sel:#x}{into} ({d.describe()})"


def _original_cause(ctx: FaultContext, descs: list[str]) -> str:
    """The cause of the first exception (before any delivery problem)."""
    v, ec = ctx.vector, ctx.error_code
    if ctx.kind == "software":
        return f"the program executed int {vec(v)} at {_where(ctx)}"
    if ctx.kind == "hardware":
        return f"hardware interrupt vector {vec(v)} arrived at {_where(ctx)}"
    lin = ctx.linear(ctx.cs, ctx.eip)
    insn = _insn_at(ctx, lin)
    itext = f" ({_insn_text(insn)})" if insn is not None else ""
    name = exc_name(v, ec)
    if v in (10, 11, 12, 13) and ec:
        return _selector_cause(ctx, v, ec, insn, descs)
    if v == 13:
        if insn is not None:
            target = _loaded_segment(insn)
            if target == "ss":
                return f"{name}: {_insn_text(insn)} loads a null selector into SS, which protected mode forbids"
            if insn.mnemonic in ("hlt", "cli", "sti", "lgdt", "lidt", "in", "out", "lmsw", "clts") \
                    or (insn.mnemonic == "mov" and "cr" in insn.op_str):
                return (f"{name}: {_insn_text(insn)} is privileged and CPL is {ctx.cpl}")
        return (f"{name} at {_where(ctx)}{itext}: a general-protection fault that names no selector; "
                f"the usual causes are an access beyond a segment limit, a write to a read-only segment "
                f"or a privileged instruction outside ring 0")
    if v == 12:
        ss = ctx.regs.get("ss", 0)
        d = ctx.descriptor(ss)
        lim = f", limit {d.limit:#x}" if d else ""
        return f"{name}: stack fault at {_where(ctx)}{itext}: SS:ESP={ss:#x}:{ctx.regs.get('esp', 0):#x}{lim}"
    if v == 6:
        if insn is None:
            return f"#UD at {_where(ctx)}: the bytes there do not decode as an instruction"
        if _has_xmm(insn) and not ctx.regs.get("cr4", 0) & (1 << 9):
            return (f"#UD: {_insn_text(insn)} is an SSE instruction and CR4.OSFXSR is clear: the OS has not "
                    f"enabled SSE")
        return f"#UD: {_insn_text(insn)} at {_where(ctx)} is an invalid (or deliberately undefined) opcode"
    if v == 0:
        return f"#DE: {_insn_text(insn) if insn else 'a division'} at {_where(ctx)} divided by zero " \
               f"(or the quotient does not fit the destination)"
    if v == 7:
        return f"#NM: {_insn_text(insn) if insn else 'an FPU/SSE instruction'} with CR0.EM or CR0.TS set"
    if v == 14:
        cr2 = ctx.regs.get("cr2", 0)
        what = "write" if (ec or 0) & 2 else "read"
        why = "a protection violation" if (ec or 0) & 1 else "a page that is not present"
        return f"#PF({hx(ec or 0)}): {what} of {cr2:#x} hit {why}"
    if v == 3:
        return f"#BP: int3 breakpoint at {_where(ctx)}"
    return f"{name} at {_where(ctx)}{itext}"


def _where(ctx: FaultContext) -> str:
    lin = ctx.linear(ctx.cs, ctx.eip)
    sym = ""
    if ctx.symbolize is not None:
        s = ctx.symbolize(lin)
        if s and not s.startswith("0x"):
            sym = f" ({s})"
    return f"{ctx.cs:#06x}:{ctx.eip:#x}{sym}"


def _gate_problem(ctx: FaultContext, v: int, kind: str, descs: list[str],
                  esp: int | None = None, ss: int | None = None,
                  with_error: bool = False) -> tuple[str, int, int] | None:
    """(why, fault vector, fault error code) if the CPU cannot deliver vector v, else None.

    The same checks, in the same order, as a protected-mode (or real-mode) delivery."""
    ext = 0 if kind == "software" else 1
    ibase, ilimit = ctx.idtr
    if not ctx.protected:
        if v * 4 + 3 > ilimit:
            return f"the real-mode IVT limit is {hx(ilimit)}, so vector {vec(v)} cannot be delivered", 13, 0
        return None
    gerr = v * 8 + 2 + ext
    if v * 8 + 7 > ilimit:
        descs.append(f"IDTR: base {ibase:#x}, limit {hx(ilimit)} ({(ilimit + 1) // 8} gates)")
        return f"IDT limit is {hx(ilimit)}, so vector {vec(v)} cannot be delivered", 13, gerr
    raw = ctx.read_mem(ibase + v * 8, 8)
    g = decode_descriptor(raw)
    descs.append(f"IDT entry {vec(v)}: {_raw(raw)}  "
                 f"{'all zero' if raw == bytes(8) else g.describe() if not g.s else 'not a gate (S=1)'}")
    if g.s or g.type not in (0x6, 0x7, 0xE, 0xF):
        if not g.s and g.type == 0x5:
            return f"IDT entry {vec(v)} is a task gate, and BareFlow does not emulate task switches", 13, gerr
        if not g.present and raw == bytes(8):
            return f"IDT entry {vec(v)} is not present (all zero)", 13, gerr
        return f"IDT entry {vec(v)} is not an interrupt or trap gate (type {g.type:#x})", 13, gerr
    if kind == "software" and g.dpl < ctx.cpl:
        return f"int {vec(v)} from CPL {ctx.cpl} through IDT entry {vec(v)} whose DPL is {g.dpl}", 13, gerr
    if not g.present:
        return f"IDT entry {vec(v)} is not present", 11, gerr
    target = ctx.descriptor(g.selector)
    if target is None or not target.is_code:
        lim = ctx.gdtr[1]
        if target is None:
            return (f"IDT entry {vec(v)} points at selector {g.selector:#x}, which lies beyond the GDT "
                    f"limit {hx(lim)}"), 13, (g.selector & 0xFFFC) + ext
        return (f"IDT entry {vec(v)} points at selector {g.selector:#x}, which is not a code segment"), 13, \
            (g.selector & 0xFFFC) + ext
    if not target.present:
        return f"the code segment {g.selector:#x} of IDT entry {vec(v)} is not present", 11, \
            (g.selector & 0xFFFC) + ext
    # the frame (same privilege level: no stack switch is modelled for ring 0 -> ring 0)
    ss = ctx.regs.get("ss", 0) if ss is None else ss
    esp = ctx.regs.get("esp", 0) if esp is None else esp
    width = 4 if g.type in (0xE, 0xF) else 2
    new_cpl = ctx.cpl if target.type & 4 else target.dpl
    if new_cpl < ctx.cpl:
        return None  # a stack switch through the TSS: not analysed here
    words = 3 + (1 if with_error else 0)
    total = words * width
    sd = ctx.descriptor(ss)
    sraw = ctx.descriptor_raw(ss)
    if sd is None or not sd.present:
        return f"the stack segment {ss:#x} is not a present GDT entry", 12, ss & 0xFFFC
    if not sd.db:
        esp &= 0xFFFF
    lo = esp - total
    if sd.type & 4:
        top = 0xFFFFFFFF if sd.db else 0xFFFF
        ok = lo > sd.limit and esp - 1 <= top
    else:
        ok = lo >= 0 and esp - 1 <= sd.limit
    if not ok:
        descs.append(f"GDT[{ss >> 3}] SS selector {ss:#06x}: {_raw(sraw or b'')}  {sd.describe()}")
        return (f"the CPU cannot push the {total}-byte {exc_name(v)} frame: SS:ESP={ss:#x}:{esp:#x} and the "
                f"stack segment's limit is {sd.limit:#x}"), 12, 0
    return None


def explain(ctx: FaultContext) -> Explanation:
    """Words for what happened, from the frozen state (see the module docstring)."""
    descs: list[str] = []
    cause = _original_cause(ctx, descs)
    steps: list[str] = []
    outcome = ""
    # replay the delivery with the CPU's rules, in words
    current, kind = ctx.vector, ctx.kind
    err = ctx.error_code
    first = True
    for _ in range(6):   # at most: the vector, a fault, another, #DF, then the triple fault
        has_err = kind == "exception" and current in HAS_ERROR_CODE and ctx.protected
        problem = _gate_problem(ctx, current, kind, descs, with_error=has_err)
        label = exc_name(current, err if has_err else None) if kind == "exception" else \
            (f"int {vec(current)}" if kind == "software" else f"IRQ vector {vec(current)}")
        if problem is None:
            if not first or kind == "exception":
                gate = ""
                if ctx.protected:
                    raw = ctx.read_mem(ctx.idtr[0] + current * 8, 8)
                    g = decode_descriptor(raw)
                    gate = f" through IDT entry {vec(current)} to {g.selector:#06x}:{g.offset:#x}"
                    if ctx.symbolize is not None:
                        s = ctx.symbolize(ctx.linear(g.selector, g.offset))
                        if s and not s.startswith("0x"):
                            gate += f" ({s})"
                steps.append(f"{label} was delivered{gate}.")
                outcome = (f"the double-fault handler runs" if current == 8 else
                           f"the {exc_name(current)} handler runs")
            break
        why, fvec, ferr = problem
        steps.append(f"Delivering {label}: {why} -> {exc_name(fvec, ferr)}.")
        if current == 8 or not ctx.protected:
            steps.append("A fault while delivering a double fault shuts the CPU down: a triple fault "
                         "(a PC resets; QEMU -no-reboot and BareFlow stop).")
            outcome = "triple fault"
            break
        if (current in CONTRIBUTORY and fvec in CONTRIBUTORY and kind == "exception") or \
                (current == 14 and (fvec == 14 or fvec in CONTRIBUTORY)):
            steps.append(f"{exc_name(current)} then {exc_name(fvec)}: two contributory exceptions in a row "
                         f"make a double fault (#DF, vector 8, error code 0).")
            current, err = 8, 0
        else:
            current, err = fvec, ferr
        kind = "exception"
        first = False
    if ctx.chain and any(c[0] == "triple" for c in ctx.chain) and outcome != "triple fault":
        outcome = "triple fault (" + "; ".join(c[1] for c in ctx.chain if c[0] == "triple") + ")"
    # the summary: the root cause; for software/hardware interrupts the first delivery problem
    summary = cause
    if ctx.kind != "exception" and steps:
        first_problem = _gate_problem(ctx, ctx.vector, ctx.kind, [], with_error=False)
        if first_problem is not None:
            summary = first_problem[0]
    instructions = []
    fault_lin = ctx.linear(ctx.cs, ctx.eip)
    for addr, text in ctx.recent:
        mark = "   <-- faulted here" if addr == fault_lin and ctx.kind == "exception" else ""
        sym = ""
        if ctx.symbolize is not None:
            s = ctx.symbolize(addr)
            if s and not s.startswith("0x"):
                sym = f" <{s}>"
        instructions.append(f"{addr:#010x}{sym}: {text}{mark}")
    return Explanation(summary=summary, steps=steps, descriptors=_dedupe(descs), instructions=instructions,
                       outcome=outcome, cycle=ctx.cycle)


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in items:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


# ====================================================================== the live side
def recent_instructions(machine: "Machine", stop_at: int | None = None, limit: int = 12) -> list[tuple[int, str]]:
    """The last instructions executed, from the native ring of recent block start PCs.

    Each block runs straight from its start to a control transfer, so disassembling from the
    block's PC up to its branch (or to the faulting instruction, for the last block) gives the
    exact instructions retired, in order."""
    try:
        pcs = machine.fast.recent_blocks()[-6:]
    except Exception:   # no native fast path (accounting off): nothing to show
        return []
    priced = _priced_blocks(machine, set(pcs))
    out: list[tuple[int, str]] = []
    for n, pc in enumerate(pcs):
        last = n == len(pcs) - 1
        nxt = pcs[n + 1] if not last else None
        exact = _exact_block(machine, priced.get(pc))
        if exact is not None:
            for addr, text in exact:
                if nxt is not None and addr == nxt and addr != pc:
                    break
                out.append((addr, text))
                if last and stop_at is not None and addr == stop_at:
                    break
            continue
        block: list[tuple[int, str]] = []
        for addr, _raw, text in machine.disasm(pc, 24):
            if nxt is not None and addr == nxt and block:
                # the machine ended this block early (a watched instruction, a deadline):
                # the next block carries on from here
                break
            block.append((addr, text))
            if last and stop_at is not None and addr == stop_at:
                break
            mn = text.split()[0] if text else ""
            if mn.startswith("j") or mn in ("call", "ret", "retf", "iret", "iretd", "int", "int3", "hlt",
                                              "lcall", "ljmp", "loop", "loope", "loopne", "ud2", "into"):
                break
        out += block
    return out[-limit:]


def _priced_blocks(machine: "Machine", pcs: set[int]) -> dict[int, Any]:
    """The machine's priced blocks (emu/costs.BlockCost) that start at these PCs."""
    out: dict[int, Any] = {}
    try:
        for (pc, _size), bc in machine.priced_blocks().items():
            if pc in pcs:
                out[pc] = bc
    except Exception:
        return {}
    return out


def _exact_block(machine: "Machine", bc: Any) -> list[tuple[int, str]] | None:
    """A block's instructions exactly as the machine priced them: the instruction boundaries
    it recorded tell whether the block was 16- or 32-bit code (the CPU may have switched
    since), so each block is decoded in its own mode."""
    if bc is None:
        return None
    code = machine.read_mem(bc.address, bc.size)
    want = list(bc.insn_addrs)
    for code32 in (True, False):
        md = _md(code32)
        got = [(i.address, _insn_text(i)) for i in md.disasm(code, bc.address)]
        if [a for a, _ in got] == want:
            return got
    return None


def context_from_machine(machine: "Machine", vector: int, kind: str, error_code: int | None,
                         cs: int, eip: int) -> FaultContext:
    """Freeze what the explainer needs, now (call before the CPU pushes anything)."""
    cpu = machine.cpu
    regs = cpu.regs()
    snapshot: dict[tuple[int, int], bytes] = {}

    def read_mem(addr: int, n: int) -> bytes:
        key = (addr, n)
        if key not in snapshot:
            snapshot[key] = machine.read_mem(addr, n)
        return snapshot[key]

    symbolize = None
    if machine.symbols is not None:
        symbolize = machine.symbols.format
    ctx = FaultContext(vector=vector, kind=kind, error_code=error_code, cs=cs, eip=eip,
                       protected=cpu.protected, code32=cpu.code32(), regs=regs, gdtr=cpu.table("gdtr"),
                       idtr=cpu.table("idtr"), read_mem=read_mem, cpl=cpu.cpl if hasattr(cpu, "cpl") else cs & 3,
                       symbolize=symbolize, cycle=machine.cycles)
    fault_lin = ctx.linear(cs, eip)
    ctx.recent = recent_instructions(machine, stop_at=fault_lin if kind == "exception" else None)
    return ctx


class FaultWatcher:
    """Explains every exception (and faulting INT n) of a running machine as it happens.

    It subscribes to the machine's deliveries (`hooks.deliveries`) to freeze the state before
    the CPU pushes the frame, and to its events (`hooks.events`) to learn what the delivery
    did.  `explanations` keeps the most recent ones; `last` is the latest.
    `on_explanation(expl)` callbacks run right after each (the TUI shows it).
    """

    KEEP = 16

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.explanations: list[Explanation] = []
        self.on_explanation: list[Callable[[Explanation], None]] = []
        self._events: list[tuple] | None = None
        self._unsubscribe = [machine.hooks.subscribe(machine.hooks.deliveries, self._before_delivery),
                             machine.hooks.subscribe(machine.hooks.events, self._observe)]

    @property
    def last(self) -> Explanation | None:
        return self.explanations[-1] if self.explanations else None

    def detach(self) -> None:
        for off in self._unsubscribe:
            off()
        self._unsubscribe = []

    def _observe(self, kind: str, cycle: int, icount: int, fields: dict[str, Any]) -> None:
        if self._events is None:
            return
        if kind == "fault":
            self._events.append(("fault", fields.get("vector"), fields.get("error_code"), fields.get("why")))
        elif kind == "triple_fault":
            self._events.append(("triple", fields.get("why", "")))
        elif kind == "interrupt":
            self._events.append(("delivered", fields.get("vector")))

    def _before_delivery(self, vector: int, return_eip: int, kind: str,
                         error_code: int | None) -> Callable[[bool], None] | None:
        """Freeze the state before the CPU pushes the frame; the returned callable reads what
        the delivery did (the events it emitted) and explains it."""
        m = self.m
        if kind != "exception" and not m.cpu.protected:
            return None    # BIOS calls and ticks: the IVT
        ctx = None
        pre: dict[str, int] = {}
        if kind == "exception":
            try:
                ctx = context_from_machine(m, vector, kind, error_code, m.cpu.get("cs"), return_eip)
            except Exception:   # the explainer must never break the machine
                ctx = None
        else:
            # INT n or an IRQ in protected mode: usually delivered fine, so only keep what delivery changes
            cpu = m.cpu
            pre = {r: cpu.get(r) for r in ("cs", "ss", "esp", "eflags")}
        self._events = []

        def after(ok: bool) -> None:
            self._after_delivery(vector, return_eip, kind, error_code, ctx, pre)

        return after

    def _after_delivery(self, vector: int, return_eip: int, kind: str, error_code: int | None,
                        ctx: Any, pre: dict[str, int]) -> None:
        m = self.m
        events, self._events = self._events or [], None
        interesting = kind == "exception" or any(e[0] in ("fault", "triple") for e in events)
        if not interesting:
            return
        if ctx is None and pre:
            try:
                ctx = context_from_machine(m, vector, kind, error_code, pre["cs"], return_eip)
                ctx.regs.update(pre)
                ctx.cpl = pre["cs"] & 3
                ctx.code32 = bool((d := ctx.descriptor(pre["cs"])) and d.db)
            except Exception:
                ctx = None
        if ctx is None:
            return
        ctx.chain = events
        try:
            expl = explain(ctx)
        except Exception as exc:   # never break the run over a report
            expl = Explanation(summary=f"{exc_name(vector, error_code)} (the explainer failed: {exc})")
        self.explanations.append(expl)
        del self.explanations[:-self.KEEP]
        for cb in list(self.on_explanation):
            cb(expl)
