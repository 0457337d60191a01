"""Ring 0 / ring 3: the privilege transitions of a run, counted and narrated.

Two sources of events: `interrupt` (emu/interrupts.py delivered through an IDT gate; CS before
and after give the CPL change, e.g. INT 0x80 from ring 3 to a ring-0 handler, with the stack
switched to the TSS's SS0:ESP0) and `privilege` (emu/special.py: an IRET, far RET, SYSEXIT or
SYSENTER changed the CPL; checked at the block boundary after the instruction), plus `ltr`
(the task register loaded: which TSS, its ring-0 stack).

`PrivilegeTracker` keeps the counts the status bar and CPU panel show; `RingMilestones` is
mixed into the journey (emu/journey.py) and adds its milestones: TSS loaded, first entry to
ring 3, first return to ring 0 (a system call, an IRQ or an exception from user mode).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VIA_WORDS = {"iret": "IRET", "iretd": "IRETD", "iretw": "IRET", "retf": "a far RET", "retfw": "a far RET",
             "retfd": "a far RET", "sysexit": "SYSEXIT", "sysenter": "SYSENTER"}


def interrupt_cpls(f: dict[str, Any]) -> tuple[int, int] | None:
    """(CPL before, CPL after) of a protected-mode delivery event, None for the real-mode IVT."""
    if f.get("gate") in (None, "IVT"):
        return None
    return f.get("cs", 0) & 3, f.get("to_cs", 0) & 3


@dataclass
class Transition:
    cycle: int
    before: int
    after: int
    how: str        # "IRET", "INT 0x80", "IRQ 0 (vector 0x20)", "#GP", ...


class PrivilegeTracker:
    """CPL now, how many transitions up (to ring 3) and down (to ring 0), and the last one."""

    def __init__(self) -> None:
        self.cpl = 0
        self.to_user = 0
        self.to_kernel = 0
        self.last: Transition | None = None

    def attach(self, machine: Any) -> "PrivilegeTracker":
        machine.hooks.subscribe(machine.observers, self.feed, kinds=frozenset({"privilege", "interrupt", "boot"}),
                                batched=True)   # real-mode (IVT) deliveries change no ring
        return self

    def feed(self, kind: str, cycle: int, _icount: int, f: dict[str, Any]) -> None:
        if kind == "privilege":
            self._move(cycle, f.get("previous", 0), f.get("cpl", 0), VIA_WORDS.get(f.get("via", ""), "?"))
        elif kind == "interrupt":
            cpls = interrupt_cpls(f)
            if cpls is not None and cpls[0] != cpls[1]:
                self._move(cycle, cpls[0], cpls[1], describe_interrupt(f))
        elif kind == "boot":
            self.__init__()

    def _move(self, cycle: int, before: int, after: int, how: str) -> None:
        if before == after:
            return
        if after > before:
            self.to_user += 1
        else:
            self.to_kernel += 1
        self.cpl = after
        self.last = Transition(cycle, before, after, how)

    def short(self) -> str:
        """For the status bar: 'CPL 3 user, 2 up / 1 down'."""
        ring = {0: "kernel", 3: "user"}.get(self.cpl, f"ring {self.cpl}")
        if self.last is None:
            return f"CPL {self.cpl} {ring}"
        return f"CPL {self.cpl} {ring}, {self.to_user}x 0->3 / {self.to_kernel}x 3->0"

    def summary(self) -> str:
        """One line: 'ring 3 (user) - 2x ring 0->3, 1x ring 3->0; last: INT 0x80 at cycle 1234'."""
        ring = "ring 3 (user)" if self.cpl == 3 else f"ring {self.cpl}" + (" (kernel)" if self.cpl == 0 else "")
        if self.last is None:
            return f"{ring}, no privilege change yet"
        t = self.last
        return (f"{ring} - {self.to_user}x to ring 3, {self.to_kernel}x to ring 0; last: {t.how} "
                f"{t.before}->{t.after} at cycle {t.cycle:,}")


def describe_interrupt(f: dict[str, Any]) -> str:
    vector, kind = f.get("vector", 0), f.get("kind")
    if kind == "software":
        return f"INT {vector:#x}"
    if kind == "hardware":
        return f"IRQ (vector {vector:#x})"
    from .interrupts import EXCEPTION_NAMES
    return EXCEPTION_NAMES.get(vector, f"exception {vector:#x}")


class RingMilestones:
    """Journey milestones for the rings (a mixin of emu/journey.Journey)."""

    def _reset_rings(self) -> None:
        self._ring3_seen = False
        self._ring0_back = False
        self._tss_loaded = False

    def _rings_state(self) -> tuple:
        return (self._ring3_seen, self._ring0_back, self._tss_loaded)

    def _on_ltr(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if self._tss_loaded:
            return
        self._tss_loaded = True
        sel = f.get("selector", 0)
        details = [f"descriptor: {f.get('text', '?')}"]
        if "esp0" in f:
            details.append(f"SS0:ESP0 = {f['ss0']:#06x}:{f['esp0']:#010x}, CR3 field {f['cr3']:#010x}, "
                           f"I/O map base {f['iomap']:#06x}")
        stack = (f" Its ring-0 stack is SS0:ESP0 = {f['ss0']:#06x}:{f['esp0']:#x}: that is where the CPU "
                 "will push the user's SS, ESP, EFLAGS, CS and EIP when an interrupt or a system call "
                 "arrives while ring 3 code runs.") if "esp0" in f else ""
        self.add(self._milestone("tss", cycle, icount, f"Task register loaded: LTR {sel:#06x} (TSS at "
                                 f"{f.get('base', 0):#x})",
                                 "LTR told the CPU where its task-state segment is. A protected-mode kernel "
                                 "that wants user mode needs one even without hardware task switching: the "
                                 "CPU reads the kernel stack from it on every entry from a less privileged "
                                 "ring, and LTR marks the descriptor busy." + stack, details))

    def _on_privilege(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        before, after = f.get("previous", 0), f.get("cpl", 0)
        via = VIA_WORDS.get(f.get("via", ""), "an instruction")
        where = f"{f.get('cs', 0):#06x}:{f.get('eip', 0):#x}{self._sym(f.get('eip', 0))}"
        if after == 3 and not self._ring3_seen:
            self._ring3_seen = True
            self.add(self._milestone(
                "ring3", cycle, icount, f"First entry to ring 3 (user mode) by {via}, at {where}",
                f"{via} popped a code selector with RPL 3, so the CPU dropped to CPL 3 and also took "
                "SS:ESP from the stack (a privilege change always switches stacks). From here the "
                "program cannot run CLI, HLT, LGDT or MOV to CR0, cannot use IN/OUT unless IOPL allows "
                "it, and can only reach the kernel through an IDT gate whose DPL is 3 (INT n), an "
                "interrupt or an exception.",
                [f"now CS={f.get('cs', 0):#06x} SS={f.get('ss', 0):#06x} ESP={f.get('esp', 0):#010x}"]))
        elif after < before and not self._ring0_back:
            self._ring0_back = True
            if f.get("via") == "sysenter":
                self.add(self._milestone(
                    "syscall", cycle, icount, f"First system call: SYSENTER from ring {before} to ring {after}, "
                    f"entry {where}",
                    "The user program executed SYSENTER, the fast system call: no IDT gate and nothing pushed. "
                    "The CPU loaded CS from IA32_SYSENTER_CS (MSR 0x174) and SS = CS + 8 as flat ring-0 "
                    "segments, ESP from IA32_SYSENTER_ESP (0x175) and EIP from IA32_SYSENTER_EIP (0x176), and "
                    "cleared IF. The user's return address and stack travel in registers (by convention EDX "
                    "and ECX), which SYSEXIT uses to go back to ring 3.",
                    [f"now CS={f.get('cs', 0):#06x} SS={f.get('ss', 0):#06x} ESP={f.get('esp', 0):#010x}"]))
                return
            self.add(self._milestone(
                "syscall", cycle, icount, f"First return to ring {after}: {via} from ring {before}, to {where}",
                f"{via} entered the kernel at CPL {after} without an interrupt gate (SYSENTER takes "
                "CS, EIP and ESP from its MSRs).", []))

    def _rings_interrupt(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        cpls = interrupt_cpls(f)
        if cpls is None or self._ring0_back or not (cpls[0] == 3 and cpls[1] < 3):
            return
        self._ring0_back = True
        how = describe_interrupt(f)
        target = f"{f.get('to_cs', 0):#06x}:{f.get('to_eip', 0):#x}{self._sym(f.get('to_eip', 0))}"
        if f.get("kind") == "software":
            title = f"First system call: {how} from ring 3 to ring 0, handler {target}"
            text = (f"The user program executed {how}. The CPU checked the gate's DPL against CPL 3 "
                    "(a gate with DPL 0 would have raised #GP instead), loaded SS0:ESP0 from the TSS, "
                    "pushed the user's SS, ESP, EFLAGS, CS and EIP on that kernel stack and jumped to the "
                    "handler at CPL 0. The handler's IRET pops them and returns to ring 3.")
        else:
            title = f"First return to ring 0 from ring 3: {how}, handler {target}"
            text = ("An interrupt or exception arrived while user code ran: the CPU switched to the "
                    "kernel stack from the TSS (SS0:ESP0), pushed the user's SS, ESP, EFLAGS, CS, EIP "
                    "and entered the handler at CPL 0.")
        self.add(self._milestone("syscall", cycle, icount, title, text,
                                 [f"from {f.get('cs', 0):#06x}:{f.get('eip', 0):#x}, gate: {f.get('gate', '?')}"]))

    def _milestone(self, kind: str, cycle: int, icount: int, title: str, text: str, details: list[str]):
        # the journey's own record type (journey.py sets it: this mixin must not import journey)
        return self.milestone_type(kind, cycle, icount, title, text, details)
