"""Boot-journey recognisers for what happens once the kernel runs.

The first timer and keyboard interrupts, exceptions, faults during delivery and triple faults
(with the fault explainer's words, emu/explain.py), the kernel's entry and main symbols, and the
end of the run.  A mixin of `Journey` (emu/journey.py), kept apart so that each boot phase
reads on its own; the rings (TSS, user mode) have their own mixin in emu/privilege.py.
"""
from __future__ import annotations

from typing import Any

from .interrupts import EXCEPTION_NAMES
from .milestone import Milestone

IRQ_NAMES = {0: "timer (PIT channel 0)", 1: "keyboard", 2: "cascade", 3: "COM2", 4: "COM1", 8: "RTC",
             12: "PS/2 mouse", 14: "primary ATA"}
#: How many exceptions the journey records one by one (a kernel that faults in a loop must
#: not flood the timeline); later ones are counted on the last.
MAX_EXCEPTIONS = 8


class KernelMilestones:
    """Journey milestones of interrupts, faults, the kernel's symbols and the end of the run
    (a mixin of emu/journey.Journey)."""

    def _on_interrupt(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._rings_interrupt(cycle, icount, f)
        self._paging_interrupt(cycle, icount, f)      # first #PF, LAPIC timer (emu/journey_paging.py)
        kind = f.get("kind")
        vector = f.get("vector", 0)
        if kind == "hardware":
            line = f["irq_line"] if "irq_line" in f else self._irq_line(vector)
            if line not in (0, 1):
                return
            key = (line, self._protected32)
            if key in self._irq_seen:
                return
            self._irq_seen.add(key)
            mode = "protected" if self._protected32 else "real"
            to_cs, to_eip = f.get("to_cs", 0), f.get("to_eip", 0)
            handler = f"{to_cs:#06x}:{to_eip:#x}{self._sym(to_eip) if self._protected32 else ''}"
            if line == 0:
                text = ("The 8254 timer's channel 0 raised IRQ0; the PIC turned it into vector "
                        f"{vector:#x} and the CPU, with IF set, called the handler at {handler}. "
                        + ("This is the BIOS's own tick (18.2 Hz) keeping the time of day in the BIOS data area."
                           if not self._protected32 else
                           "The kernel's timer interrupt works: the PIT, the remapped PIC and the IDT gate "
                           "all did their part."))
            else:
                text = ("The 8042 controller had a byte for the CPU and raised IRQ1: a scancode from a key "
                        "press or release, or the keyboard's reply to a command (0xFA acknowledge, 0xAA "
                        f"self-test passed). The handler at {handler} reads it from port 0x60. "
                        + ("In real mode the BIOS handler puts it in its keyboard buffer for INT 16h."
                           if not self._protected32 else
                           "This is the kernel's own keyboard driver, reached through the IDT."))
            self.add(Milestone("irq", cycle, icount, f"First {IRQ_NAMES[line]} interrupt (IRQ{line}) in {mode} "
                               f"mode: vector {vector:#x}", text,
                               [f"interrupted {f.get('cs', 0):#06x}:{f.get('eip', 0):#x}, gate: {f.get('gate', '?')}"]))
            return
        if kind == "exception":
            self._flush_pe()
            name = EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")
            if self._exceptions >= MAX_EXCEPTIONS and self._last_exc is not None:
                self._last_exc.count += 1
                self._mutations += 1
                return
            self._exceptions += 1
            ec = f.get("error_code")
            m = Milestone("exception", cycle, icount,
                          f"Exception {name}" + (f" (error code {ec:#x})" if ec is not None else "")
                          + f" at {f.get('cs', 0):#06x}:{f.get('eip', 0):#x}",
                          f"The CPU delivered it through its gate to {f.get('to_cs', 0):#06x}:{f.get('to_eip', 0):#x}.",
                          pause=True)
            self._last_exc = m
            self.add(m)

    def add_explanation(self, expl: Any) -> None:
        """The fault explainer's words (emu/explain.py) for the latest exception or triple fault."""
        # a #PF's page walk (emu/page_walk.py) comes first: CR2, the error code, each level
        steps = list(getattr(expl, "page_walk", []) or []) + list(expl.steps)
        if not self._replaying and self.milestones:
            self._log.append(("explanation", self.milestones[-1].cycle, self.milestones[-1].icount,
                              {"summary": expl.summary, "steps": steps}))
        self._apply_explanation(expl.summary, steps)

    def _on_explanation(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._apply_explanation(f["summary"], f["steps"])

    def _apply_explanation(self, summary: str, steps: list[str]) -> None:
        for m in reversed(self.milestones[-4:]):
            if m.kind in ("exception", "triple_fault", "fault"):
                if summary in m.text:
                    return
                if m.kind == "triple_fault":
                    m.text = (f"{summary}. The CPU could not deliver it, and a fault while delivering a "
                              "double fault shuts the CPU down; a PC resets, QEMU -no-reboot and BareFlow stop.")
                else:
                    m.text = summary + ". " + m.text
                m.details = list(steps) + m.details
                return

    def _on_fault(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._flush_pe()
        v = f.get("vector", 0)
        self.add(Milestone("fault", cycle, icount,
                           f"Fault while delivering an interrupt: {EXCEPTION_NAMES.get(v, hex(v))}",
                           f"{f.get('why', '')}. The CPU raises the next exception instead (two contributory faults "
                           "in a row make a double fault).", pause=True))

    def _on_triple_fault(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._flush_pe()
        v = f.get("vector", 0)
        self.add(Milestone("triple_fault", cycle, icount, f"Triple fault ({EXCEPTION_NAMES.get(v, hex(v))} "
                           f"at {f.get('cs', 0):#06x}:{f.get('eip', 0):#x})",
                           f"{f.get('why', '')}. A fault while delivering a double fault shuts the CPU down; a PC "
                           "resets, QEMU -no-reboot and BareFlow stop.", pause=False))
        self._ended = True

    def _on_symbol(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._flush_pe()
        name, addr, role = f.get("name", "?"), f.get("address", 0), f.get("role", "main")
        if role == "entry":
            title = f"Kernel entry: {name} at {addr:#x}"
            text = (f"Execution reached {name}, the kernel's entry point. This first code usually sets up a "
                    "stack of its own and zeroes the BSS (the static variables C expects to start at 0, for "
                    "which the image carries no bytes) before it calls into C.")
        elif name in ("kmain", "kernel_main"):
            title = f"{name}: the kernel's C code starts at {addr:#x}"
            text = (f"Execution reached {name}: from here the kernel is ordinary C, compiled for a machine with "
                    "no operating system underneath (freestanding). A kernel's main typically sets up the IDT, the "
                    "PIC and timer, the console and the CPU features it needs, then starts the program.")
        else:
            title = f"{name}: the program's main at {addr:#x}"
            text = (f"Execution reached {name}. Everything before this point existed to make a bare PC able to "
                    "run this function: memory, protected mode, interrupts and devices are set up.")
        kernel = role != "entry" and name in ("kmain", "kernel_main")
        self.add(Milestone("symbol", cycle, icount, title, text,
                           role="entry" if role == "entry" else "kernel" if kernel else "main"))

    def _on_stop(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        reason = f.get("reason", "")
        if reason in ("paused", "breakpoint", "step"):
            return
        self._flush_pe()
        msg = f.get("message") or reason
        if len(msg) > 90:
            msg = reason
        if self.milestones and self.milestones[-1].kind == "end" and self.milestones[-1].role != "resumable":
            return
        self.add(Milestone("end", cycle, icount, f"The run ended: {msg}", _END_TEXT.get(reason, ""), pause=False,
                           role="resumable" if reason == "cycle limit" else None))


_END_TEXT = {
    "powered off": "The guest asked to power off (isa-debug-exit or ACPI).",
    "triple fault": "The CPU shut down after a triple fault.",
    "halted": "HLT with interrupts disabled: nothing can wake the CPU again.",
    "idle": "The CPU waits in HLT for an interrupt that can never come (no timer, no input left).",
    "cycle limit": "The cycle budget of the run was used up.",
    "guest error": "The guest did something the machine cannot continue from.",
}
