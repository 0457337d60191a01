"""The fault explainer's reasoning: from a `FaultContext` to the cause in words.

Re-reads the GDT, IDT, descriptors and stack the CPU used, with the same rules as the CPU,
and says why a selector was refused, why a gate could not be used, and what the chain of
faults was (`explain`).  Pure: it reads only the context's frozen memory, so it is tested
without a running guest.  Split out of emu/explain.py, which re-exports `explain`.
"""
from __future__ import annotations

from typing import Any

from .cpu import Descriptor, decode_descriptor
from .fault_context import (Explanation, FaultContext, _has_xmm, _insn_at, _insn_text, _loaded_segment,
                            exc_name, hx, vec)
from .interrupts import CONTRIBUTORY, HAS_ERROR_CODE

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
        pw = ctx.page_walk
        if pw is not None and pw.refusal:
            return f"#PF({hx(ec or 0)}): {_access_verb(ec or 0)} {cr2:#x} at {_where(ctx)}: {pw.refusal}"
        return f"#PF({hx(ec or 0)}): {what} of {cr2:#x} hit {why}"
    if v == 3:
        return f"#BP: int3 breakpoint at {_where(ctx)}"
    return f"{name} at {_where(ctx)}{itext}"


def _access_verb(ec: int) -> str:
    return ("user " if ec & 4 else "") + ("fetch from" if ec & 16 else "write to" if ec & 2 else "read of")


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
    # QEMU 7.2's error codes: never the EXT bit (emu/interrupts.py deliver_protected)
    ibase, ilimit = ctx.idtr
    if not ctx.protected:
        if v * 4 + 3 > ilimit:
            return f"the real-mode IVT limit is {hx(ilimit)}, so vector {vec(v)} cannot be delivered", 13, 0
        return None
    gerr = v * 8 + 2
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
                    f"limit {hx(lim)}"), 13, (g.selector & 0xFFFC)
        return (f"IDT entry {vec(v)} points at selector {g.selector:#x}, which is not a code segment"), 13, \
            (g.selector & 0xFFFC)
    if not target.present:
        return f"the code segment {g.selector:#x} of IDT entry {vec(v)} is not present", 11, \
            (g.selector & 0xFFFC)
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
    walk_lines: list[str] = []
    if ctx.page_walk is not None and ctx.vector == 14 and ctx.kind == "exception":
        from .page_walk import fault_walk_lines
        walk_lines = fault_walk_lines(ctx.page_walk, ctx.regs.get("cr2", 0), ctx.error_code or 0)
    return Explanation(summary=summary, steps=steps, descriptors=_dedupe(descs), instructions=instructions,
                       outcome=outcome, cycle=ctx.cycle, page_walk=walk_lines)


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i in items:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out
