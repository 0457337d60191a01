"""Interrupt and exception delivery, which Unicorn leaves to us.

Unicorn reports every `int n` and CPU exception to a hook and never dispatches it through the
guest's IVT or IDT.  This module does what the CPU would: in real mode push FLAGS, CS, IP and
load CS:IP from the IVT; in protected mode read the gate, check the IDT limit, the gate type,
its DPL and present bit, switch stacks through the TSS when the privilege level changes, push
the frame (with the error code where the exception has one), clear IF for interrupt gates.
A failure while delivering raises `DeliveryFault` so the machine can escalate exactly as the
CPU does: a second fault becomes #DF, a fault while delivering #DF is a triple fault.
"""
from __future__ import annotations

from dataclasses import dataclass

from unicorn.x86_const import UC_X86_REG_TR

from .cpu import AC, IF, NT, RF, TF, VM, Cpu, decode_descriptor
from .paging import PageFault

EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM device not available", 8: "#DF double fault",
    9: "coprocessor segment overrun", 10: "#TS invalid TSS", 11: "#NP segment not present",
    12: "#SS stack fault", 13: "#GP general protection", 14: "#PF page fault", 16: "#MF x87 error",
    17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD exception", 20: "#VE virtualization",
}
#: Exceptions that push an error code (protected mode only).
HAS_ERROR_CODE = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
#: Faults restart the faulting instruction; traps return after it.
TRAPS = frozenset({3, 4})


class DeliveryFault(Exception):
    """Delivering an interrupt itself faulted (bad IDT entry, stack overflow...)."""

    def __init__(self, vector: int, error_code: int, why: str) -> None:
        super().__init__(why)
        self.vector = vector
        self.error_code = error_code
        self.why = why


class TripleFault(Exception):
    """The CPU would shut down (QEMU -no-reboot stops here)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def is_double_fault(first: int, second: int) -> bool:
    """Intel SDM table 6-5: which pairs of exceptions make a #DF."""
    if first in CONTRIBUTORY and second in CONTRIBUTORY:
        return True
    return first == 14 and (second == 14 or second in CONTRIBUTORY)


@dataclass
class Delivered:
    """What a delivery did, for the trace and the profiler."""

    vector: int
    kind: str            # "exception", "software", "hardware"
    error_code: int | None
    from_cs: int
    from_eip: int
    to_cs: int
    to_eip: int
    gate: str


def _push16(cpu: Cpu, ss_base: int, sp: int, value: int) -> int:
    sp = (sp - 2) & 0xFFFF
    cpu.write(ss_base + sp, (value & 0xFFFF).to_bytes(2, "little"))
    return sp


def deliver_real(cpu: Cpu, vector: int, return_ip: int, kind: str) -> Delivered:
    """Real mode: the IVT (at IDTR.base, normally 0) holds segment:offset pairs."""
    idt_base, idt_limit = cpu.table("idtr")
    if vector * 4 + 3 > idt_limit:
        raise DeliveryFault(13, 0, f"vector {vector:#x} lies beyond the real-mode IVT limit {idt_limit:#x}")
    entry = cpu.read_u32(idt_base + vector * 4)
    off, seg = entry & 0xFFFF, entry >> 16
    flags = cpu.get("eflags")
    cs = cpu.get("cs")
    ss = cpu.get("ss")
    ss_base = ss << 4
    sp = cpu.get("esp") & 0xFFFF
    sp = _push16(cpu, ss_base, sp, flags)
    sp = _push16(cpu, ss_base, sp, cs)
    sp = _push16(cpu, ss_base, sp, return_ip)
    cpu.set("sp", sp)
    cpu.set("eflags", flags & ~(IF | TF | AC))
    cpu.set("cs", seg)
    cpu.set("eip", off)
    return Delivered(vector, kind, None, cs, return_ip, seg, off, "IVT")


def _stack_ok(desc, offset_lo: int, offset_hi: int) -> bool:
    """Are stack offsets [lo, hi] inside the SS segment (expand-up or expand-down)?"""
    if desc is None:
        return False
    if desc.type & 4:  # expand-down: valid offsets are limit+1 .. 0xFFFF/0xFFFFFFFF
        top = 0xFFFFFFFF if desc.db else 0xFFFF
        return desc.limit < offset_lo and offset_hi <= top
    return offset_lo >= 0 and offset_hi <= desc.limit


def deliver_protected(cpu: Cpu, vector: int, return_eip: int, kind: str,
                      error_code: int | None) -> Delivered:
    """Protected mode: through an IDT interrupt or trap gate (task gates are reported)."""
    # error codes as QEMU 7.2 pushes them (target/i386/seg_helper.c): the IDT bit, never the
    # EXT bit the SDM adds for an interrupt the program did not raise itself (docs/interrupts.md)
    idt_base, idt_limit = cpu.table("idtr")
    gate_err = vector * 8 + 2
    if vector * 8 + 7 > idt_limit:
        raise DeliveryFault(13, gate_err,
                            f"IDT limit is {idt_limit:#x}, so vector {vector:#x} (entry at offset "
                            f"{vector * 8:#x}) cannot be delivered")
    gate = decode_descriptor(cpu.read(idt_base + vector * 8, 8))
    if gate.s or gate.type not in (0x6, 0x7, 0xE, 0xF):
        if not gate.s and gate.type == 0x5:
            raise DeliveryFault(13, gate_err, f"IDT entry {vector:#x} is a task gate (task switches are not emulated)")
        raise DeliveryFault(13, gate_err, f"IDT entry {vector:#x} is not an interrupt or trap gate "
                                          f"(raw {gate.raw.hex(' ')})")
    cpl = cpu.cpl
    if kind == "software" and gate.dpl < cpl:
        raise DeliveryFault(13, gate_err, f"int {vector:#x} from CPL {cpl} through a gate with DPL {gate.dpl}")
    if not gate.present:
        raise DeliveryFault(11, gate_err, f"IDT entry {vector:#x} is not present")
    target = cpu.descriptor(gate.selector)
    sel_err = gate.selector & 0xFFFC
    if target is None or not target.is_code:
        raise DeliveryFault(13, sel_err,
                            f"IDT entry {vector:#x} points at selector {gate.selector:#x}, which is not a code "
                            f"segment in the GDT")
    if not target.present:
        raise DeliveryFault(11, sel_err, f"code segment {gate.selector:#x} of IDT entry {vector:#x} is not present")

    big = gate.type in (0xE, 0xF)
    width = 4 if big else 2
    flags = cpu.get("eflags")
    old_cs, old_ss, old_esp = cpu.get("cs"), cpu.get("ss"), cpu.get("esp")
    conforming = bool(target.type & 4)
    new_cpl = cpl if conforming else target.dpl
    frame: list[int] = []
    if new_cpl < cpl:
        # inter-privilege: the new stack comes from the TSS (SS0:ESP0 for ring 0)
        _tr_sel, tss_base, _tss_limit, _ = cpu.uc.reg_read(UC_X86_REG_TR)
        new_esp = cpu.read_u32(tss_base + 4 + 8 * new_cpl)
        new_ss = cpu.read_u16(tss_base + 8 + 8 * new_cpl)
        frame += [old_ss, old_esp]
        ss_sel, esp = new_ss, new_esp
    else:
        ss_sel, esp = old_ss, old_esp
    frame += [flags, old_cs, return_eip]
    if error_code is not None:
        frame.append(error_code)
    ss_desc = cpu.descriptor(ss_sel)
    if ss_desc is None or not ss_desc.present:
        raise DeliveryFault(12 if ss_sel == old_ss else 10, ss_sel & 0xFFFC,
                            f"stack segment {ss_sel:#x} is not a present GDT entry")
    if not ss_desc.db:
        esp &= 0xFFFF
    total = width * len(frame)
    lo = esp - total
    if lo < 0 or not _stack_ok(ss_desc, lo, esp - 1):
        raise DeliveryFault(12, 0,
                            f"pushing the {total}-byte interrupt frame at SS:ESP={ss_sel:#x}:{esp:#x} leaves the "
                            f"stack segment (limit {ss_desc.limit:#x})")
    top = ss_desc.base + esp
    if (top - total) >> 12 == (top - 1) >> 12:
        # the whole frame lies in one page: one walk and one write (a timer tick of a paging
        # kernel pushes three words; issue 11).  The bytes are those the pushes below write,
        # and a fault on that page stops both before anything is written.
        mask = (1 << (8 * width)) - 1
        cpu.write(top - total, b"".join((v & mask).to_bytes(width, "little") for v in reversed(frame)))
        esp -= total
    else:
        for value in frame:
            esp -= width
            cpu.write(ss_desc.base + esp, (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))
    if new_cpl < cpl:
        _lower_cpl(cpu)
        cpu.set("ss", ss_sel)
    cpu.set("esp", esp if ss_desc.db else (old_esp & 0xFFFF0000) | esp)
    new_flags = flags & ~(TF | NT | RF | VM)
    if gate.type in (0x6, 0xE):
        new_flags &= ~IF
    cpu.set("eflags", new_flags)
    cpu.set("cs", (gate.selector & ~3) | new_cpl)
    cpu.set("eip", gate.offset if big else gate.offset & 0xFFFF)
    return Delivered(vector, kind, error_code, old_cs, return_eip, gate.selector, gate.offset, gate.gate_kind)


def _lower_cpl(cpu: Cpu) -> None:
    """Let the host load ring-0 selectors while the CPU is at CPL 3.

    Unicorn checks a host write of SS/CS against the current CPL like a MOV would (SS DPL must
    equal CPL, CS DPL >= CPL), and its CPL follows SS's cached DPL.  A real-mode segment load
    has no checks and gives DPL 0, so: PE off, load SS (CPL becomes 0), PE back on; the caller
    then loads the ring-0 SS and CS from the GDT with the normal checks."""
    cr0 = cpu.get("cr0")
    cpu.set("cr0", cr0 & ~0x80000001)
    cpu.set("ss", 0)
    cpu.set("cr0", cr0)


#: for emu/sysenter.py, which enters ring 0 the same way
lower_cpl = _lower_cpl


def deliver(cpu: Cpu, vector: int, return_eip: int, kind: str, error_code: int | None = None) -> Delivered:
    """Deliver once (no escalation): real-mode IVT or protected-mode IDT.  With paging on, the
    IDT, GDT, TSS and stack are read through the page tables; a missing page there is a #PF
    during delivery (CR2 set), escalated like any other delivery fault."""
    if not cpu.protected:
        return deliver_real(cpu, vector, return_eip & 0xFFFF, kind)
    if kind != "exception" or vector not in HAS_ERROR_CODE:
        error_code = None
    elif error_code is None:
        error_code = 0
    try:
        return deliver_protected(cpu, vector, return_eip, kind, error_code)
    except PageFault as pf:
        cpu.set("cr2", pf.address)
        raise DeliveryFault(14, pf.error_code, f"while delivering vector {vector:#x}: {pf.why}") from None


def deliver_with_escalation(cpu: Cpu, vector: int, return_eip: int, kind: str,
                            error_code: int | None = None) -> list[Delivered | DeliveryFault]:
    """Deliver, turning faults during delivery into the next exception, #DF, or a triple fault.

    Returns the chain of what happened (faults then the final delivery) for the trace and the
    fault explainer; raises TripleFault when the CPU would shut down.
    """
    chain: list[Delivered | DeliveryFault] = []
    current, cur_kind, cur_err = vector, kind, error_code
    while True:
        try:
            chain.append(deliver(cpu, current, return_eip, cur_kind, cur_err))
            return chain
        except DeliveryFault as fault:
            chain.append(fault)
            if current == 8 or not cpu.protected:
                why = "; ".join(f.why for f in chain if isinstance(f, DeliveryFault))
                raise TripleFault(why) from None
            if is_double_fault(current, fault.vector) or (cur_kind == "exception" and current in CONTRIBUTORY
                                                          and fault.vector in CONTRIBUTORY):
                current, cur_err = 8, 0
            else:
                current, cur_err = fault.vector, fault.error_code
            cur_kind = "exception"
