"""The interrupt path: where does a raised IRQ stop on its way to the guest's handler?

"Why don't my interrupts arrive" has a handful of answers -- a mask bit in the 8259's IMR, a
missing EOI (the ISR bit still set), a masked I/O APIC redirection entry, the local APIC
software-disabled or its TPR above the vector's priority class, EFLAGS.IF clear, an IDT gate
that is not present or names a bad code segment -- and the CPU knows which one.  This module
reads the machine's state and walks one IRQ line from the device to the handler, stage by
stage, and says the FIRST place the request stops, in words, with the fix:

    IRQ1 stops at the master 8259: its mask bit (IMR bit 1) is set; unmask it with
    outb(0x21, inb(0x21) & ~0x02)

or "IRQ0 is delivered to handler timer_isr at 0x00101234" when every stage is open.

Routes (QEMU's i440FX wiring, devices/ioapic.py `GsiRouter`): every ISA line goes to the 8259
pair AND to the I/O APIC (IRQ0 on pin 2).  The 8259 reaches the CPU through LAPIC LINT0 in
ExtINT mode (virtual wire, SeaBIOS's setting) or directly in IMCR PIC mode; the I/O APIC sends
its message to the local APIC.  The route in use is the I/O APIC's when the pin is unmasked,
when the 8259 cannot reach the CPU, or when the 8259 is fully masked while the I/O APIC has
routes; otherwise the 8259's.  Pins 16-23 exist only on the I/O APIC.

The devices stay the owners of their state: the analysis reads their registers and asks
them (`Pic.blocking_in_service`, `LocalApic.processor_priority`, `accepts_destination`,
`accept_pic_intr`); it keeps no copy.  `irq_path(facts, line)` is a pure function of an
`IrqFacts` (the devices plus the CPU's registers and a memory reader), so it is tested on
hand-built devices as well as on guests (tests/emu/test_irqpath.py).  Reading a Machine,
the table, `explain --irq` and the TUI's rows: emu/irqpath_report.py.

Not modelled: the one-instruction interrupt shadow after STI / MOV SS (Unicorn does not expose
it; at most one instruction's delay), NMI/SMI/INIT delivery modes (the LAPIC drops them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .cpu import Descriptor, decode_descriptor

IF = 1 << 9
VM = 1 << 17
IO_MASKED = 1 << 16
IO_REMOTE_IRR = 1 << 14
IO_LEVEL = 1 << 15
NUM_LINES = 16
NUM_PINS = 24
TIMER = -1          # the local APIC timer, shown as one more "line"
ISA_NAMES = {0: "PIT timer", 1: "keyboard", 2: "cascade", 3: "COM2", 4: "COM1", 5: "", 6: "floppy",
             7: "LPT1", 8: "RTC", 9: "ACPI SCI", 10: "", 11: "", 12: "PS/2 mouse", 13: "FPU",
             14: "IDE primary", 15: "IDE secondary"}
DELIVERY = {0: "fixed", 1: "lowest priority", 2: "SMI", 4: "NMI", 5: "INIT", 7: "ExtINT"}
EXC_NAMES = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
             10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC",
             19: "#XM"}

Reader = Callable[[int, int], bytes]


@dataclass
class IrqFacts:
    """Everything the path depends on, read on the emulator thread (machine_facts)."""
    pic: Any                    # devices.pic.Pic
    lapic: Any                  # devices.lapic.LocalApic
    ioapic: Any                 # devices.ioapic.IoApic
    eflags: int
    mode: str                   # "real", "protected", "v86"
    cpl: int
    gdtr: tuple[int, int]
    idtr: tuple[int, int]
    tr: tuple[int, int, int]    # selector, base, limit
    read: Reader                # linear memory (the page tables applied), never faults
    symbolize: Callable[[int], str] = lambda addr: ""
    pc: int = 0                 # linear address of the next instruction
    halted: bool = False
    hpet_legacy: bool = False


@dataclass(frozen=True)
class Stage:
    """One stage of the path: `state` is "open", "stops" or "note" (informational)."""
    name: str
    state: str
    text: str
    fix: str = ""

    def line(self) -> str:
        mark = {"open": "ok   ", "stops": "STOP ", "note": "     "}[self.state]
        return f"{mark}{self.name}: {self.text}" + (f"  -> {self.fix}" if self.fix else "")


@dataclass
class IrqPath:
    line: int
    route: str                      # "8259" or "I/O APIC"
    vector: int | None = None
    stages: list[Stage] = field(default_factory=list)
    handler: str = ""               # "timer_isr at 0x00101234" once the gate is resolved
    answer: str = ""

    @property
    def stop(self) -> Stage | None:
        return next((s for s in self.stages if s.state == "stops"), None)

    @property
    def label(self) -> str:
        if self.line == TIMER:
            return "LAPIC timer"
        return f"pin {self.line}" if self.line >= NUM_LINES else f"IRQ{self.line}"

    def where(self) -> str:
        """Short form for a table: the stage it stops at, or 'handler ...'."""
        if self.line == 2:
            return "(the cascade: IRQ8-15 come in here)"
        s = self.stop
        return s.name if s is not None else f"delivered: {self.handler}"

    def lines(self) -> list[str]:
        out = [self.answer]
        out += ["  " + s.line() for s in self.stages]
        return out

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"


# --------------------------------------------------------------------------- helpers
def _bits(v: int, n: int = 8) -> str:
    return format(v & ((1 << n) - 1), f"0{n}b")


def device_name(line: int) -> str:
    if line == TIMER:
        return "local APIC"
    return ISA_NAMES.get(line, "") if line < NUM_LINES else "PCI"


def _isa(line: int) -> str:
    name = device_name(line) if line != TIMER else ""
    return f" ({name})" if name else ""


def _pin_of(line: int) -> int:
    return 2 if line == 0 else line


class _Path:
    """Builds one IrqPath; `add` records a stage, the first 'stops' fixes the answer."""

    def __init__(self, facts: IrqFacts, line: int, route: str) -> None:
        self.f = facts
        self.p = IrqPath(line, route)

    def add(self, name: str, state: str, text: str, fix: str = "") -> bool:
        self.p.stages.append(Stage(name, state, text, fix))
        return state != "stops"


def _eoi_text(line: int) -> str:
    return ("outb(0xA0, 0x20); outb(0x20, 0x20) (slave, then master)" if line >= 8
            else "outb(0x20, 0x20)")


# --------------------------------------------------------------------------- the 8259 route
def _pic_stages(b: _Path) -> bool:
    """The 8259 route: the chip, the cascade, the wire; a stop does not end the walk (the
    stages after it are shown too: what the learner meets next once it is fixed)."""
    _pic_chip(b)
    return _pic_rest(b)


def _pic_chip(b: _Path) -> bool:
    f, line = b.f, b.p.line
    pic = f.pic
    chip = pic.slave if line >= 8 else pic.master
    irq = line & 7
    which = "slave" if line >= 8 else "master"
    data = 0xA1 if line >= 8 else 0x21
    name = f"{which} 8259"
    regs = f"IMR={_bits(chip.imr)} IRR={_bits(chip.irr)} ISR={_bits(chip.isr)} (bit {irq})"
    if chip.init_state:
        return b.add(name, "stops", f"in the middle of its ICW initialisation (waits for ICW{chip.init_state + 1} "
                     f"on port {data:#x}); it delivers nothing until ICW2..ICW4 are written",
                     "finish the ICW1-ICW4 sequence")
    b.p.vector = (chip.irq_base + irq) & 0xFF
    if chip.imr >> irq & 1:
        return b.add(name, "stops", f"its mask bit (IMR bit {irq}) is set; {regs}",
                     f"unmask it with outb({data:#x}, inb({data:#x}) & ~{1 << irq:#04x})")
    blocker = pic.blocking_in_service(line)
    if blocker == line:
        return b.add(name, "stops", f"IRQ{line} is still in service (ISR bit {irq} set): the EOI for its last "
                     f"delivery was not sent, so the 8259 presents no new IRQ{line}; {regs}",
                     f"end the handler with {_eoi_text(line)}")
    if blocker >= 0:
        why = ("the cascade IRQ2 is in service on the master" if line >= 8 and blocker == 2
               else f"IRQ{blocker} (higher or equal priority) is in service without EOI")
        return b.add(name, "stops", f"{why}; the 8259 presents nothing of lower priority until its EOI; {regs}",
                     f"send the EOI for IRQ{blocker}: {_eoi_text(blocker)}")
    return b.add(name, "open", f"unmasked, no EOI missing; {regs}" + _pic_extras(chip, irq))


def _pic_extras(chip: Any, irq: int) -> str:
    extra = []
    if chip.irr >> irq & 1:
        extra.append("a request is waiting in IRR")
    if chip.auto_eoi:
        extra.append("auto-EOI mode: no EOI needed")
    if chip.elcr >> irq & 1:
        extra.append("level-triggered (ELCR)")
    return "; " + ", ".join(extra) if extra else ""


def _pic_rest(b: _Path) -> bool:
    """The cascade, the vector notes and the wire from the 8259 to the CPU."""
    f, line = b.f, b.p.line
    pic = f.pic
    chip = pic.slave if line >= 8 else pic.master
    irq = line & 7
    if line >= 8:
        m = pic.master
        if m.imr >> 2 & 1:
            b.add("cascade (master IRQ2)", "stops", "the slave reaches the CPU through master IRQ2, and "
                  f"IRQ2 is masked on the master (IMR={_bits(m.imr)})",
                  "unmask the cascade with outb(0x21, inb(0x21) & ~0x04)")
        else:
            b.add("cascade (master IRQ2)", "open", "master IRQ2 unmasked")
    if b.p.vector is None:
        return _pic_wire(b)
    base = chip.irq_base
    remap = (f"ICW2 base {base:#04x}: IRQ{line} -> vector {b.p.vector:#04x}")
    if f.mode != "real" and base < 0x20:
        b.add("vector", "note", remap + f" -- in protected mode vectors below 0x20 are the CPU's exceptions "
              f"(vector {b.p.vector:#04x} is {EXC_NAMES.get(b.p.vector, 'reserved')}): remap the 8259 with "
              f"ICW2 (e.g. 0x20/0x28)")
    else:
        b.add("vector", "note", remap)
    if irq == 7:
        b.add("spurious", "note", f"a request that goes away before INTA arrives as vector {base + 7:#04x} with "
              f"no ISR bit: check ISR (OCW3 0x0B) before sending an EOI for IRQ{line}")
    return _pic_wire(b)


def _pic_wire(b: _Path) -> bool:
    """IMCR PIC mode, or LAPIC LINT0 in ExtINT mode (virtual wire)."""
    lapic = b.f.lapic
    if not lapic.imcr_apic_mode:
        return b.add("IMCR", "open", "PIC mode: the 8259's INTR goes straight to the CPU")
    lvt0 = lapic.lvt[3]
    mode = (lvt0 >> 8) & 7
    if lvt0 & IO_MASKED:
        return b.add("LAPIC LINT0", "stops", f"LVT LINT0={lvt0:#010x} is masked: the 8259 no longer reaches the "
                     "CPU (virtual wire off; route the line through the I/O APIC instead)",
                     "unmask LINT0 in ExtINT mode: write 0x700 to 0xFEE00350")
    if mode != 7:
        return b.add("LAPIC LINT0", "stops", f"LVT LINT0={lvt0:#010x} is in {DELIVERY.get(mode, 'reserved')} mode, not "
                     "ExtINT: the 8259's vector is never asked for", "write 0x700 to 0xFEE00350 (ExtINT)")
    return b.add("LAPIC LINT0", "open", f"ExtINT (virtual wire, LVT={lvt0:#010x}): the CPU takes the 8259's "
                 "vector, TPR and the APIC's enable do not apply")


# --------------------------------------------------------------------------- the I/O APIC route
def _ioapic_stages(b: _Path) -> bool:
    """The I/O APIC route: the redirection entry, then the local APIC."""
    if _ioapic_entry(b) == "extint":
        _pic_chip(b)
    return _lapic_stages(b)


def _ioapic_entry(b: _Path) -> str:
    f, line = b.f, b.p.line
    pin = _pin_of(line) if line < NUM_LINES else line
    entry = f.ioapic.redir[pin]
    vec, mode = entry & 0xFF, (entry >> 8) & 7
    dest, dmode = entry >> 56, (entry >> 11) & 1
    desc = (f"entry {entry:#018x}: vector {vec:#04x}, {DELIVERY.get(mode, 'reserved')}, "
            f"{'level' if entry & IO_LEVEL else 'edge'}, {'logical' if dmode else 'physical'} destination {dest:#04x}")
    name = f"I/O APIC pin {pin}"
    sel = 0x10 + 2 * pin
    b.p.vector = None if mode == 7 or (entry & IO_MASKED and vec < 0x10) else vec
    if vec < 0x10 and mode != 7:
        b.add("vector", "note", f"vector {vec:#04x} is below 0x10: the local APIC rejects it (illegal vector)")
    if entry & IO_MASKED:
        b.add(name, "stops", f"the redirection entry is masked (bit 16); {desc}",
              f"write IOREGSEL={sel:#04x}, then IOWIN with bit 16 clear")
    elif mode in (2, 4, 5) or mode not in DELIVERY:
        b.add(name, "stops", f"delivery mode {DELIVERY.get(mode, mode)} is not delivered to a handler "
              f"here (not modelled); {desc}", "use fixed (0) delivery mode")
    elif entry & IO_LEVEL and entry & IO_REMOTE_IRR:
        b.add(name, "stops", f"remote IRR is set: the last level-triggered delivery of vector {vec:#04x} "
              f"has had no EOI from the local APIC; {desc}", "write 0 to the LAPIC EOI register 0xFEE000B0")
    elif not f.lapic.accepts_destination(dest, dmode):
        b.add(name, "stops", f"the destination matches no CPU (LAPIC ID {f.lapic.id}, LDR {f.lapic.log_dest:#04x}); "
              f"{desc}", f"set the destination (bits 56-63) to the APIC ID {f.lapic.id}")
    elif mode == 7:
        b.add(name, "open", f"ExtINT: the vector comes from the 8259; {desc}")
    else:
        pending = " (a request is latched)" if f.ioapic.irr >> pin & 1 else ""
        b.add(name, "open", desc + pending)
    return "extint" if mode == 7 else ""


def _lapic_stages(b: _Path) -> bool:
    lapic, vec = b.f.lapic, b.p.vector
    name = "local APIC"
    if vec is None:
        return True
    if not lapic.apicbase & (1 << 11):
        return b.add(name, "stops", "globally disabled (IA32_APIC_BASE bit 11 cleared): only a reset enables it again")
    if not lapic.spurious & (1 << 8):
        return b.add(name, "stops", f"software-disabled (SVR={lapic.spurious:#05x}, bit 8 clear)",
                     "set SVR bit 8: write 0x1FF to 0xFEE000F0")
    bit = 1 << vec
    ppr = lapic.processor_priority()
    regs = f"TPR={lapic.tpr:#04x} PPR={ppr:#04x}, vector {vec:#04x} class {vec >> 4}"
    if lapic.isr & bit:
        return b.add(name, "stops", f"vector {vec:#04x} is still in service (ISR bit set): the EOI for its last "
                     f"delivery was not sent; {regs}", "write 0 to the EOI register 0xFEE000B0")
    if ppr and (vec & 0xF0) <= (ppr & 0xF0):
        top = lapic.isr.bit_length() - 1
        if (lapic.tpr >> 4) >= (max(top, 0) >> 4):
            return b.add(name, "stops", f"the task priority TPR={lapic.tpr:#04x} (class {lapic.tpr >> 4}) is not "
                         f"below the vector's class {vec >> 4}: vector {vec:#04x} waits in IRR; {regs}",
                         f"lower the TPR below {vec & 0xF0:#04x}: write 0 to 0xFEE00080")
        return b.add(name, "stops", f"vector {top:#04x} (class {top >> 4}) is in service without EOI and "
                     f"blocks vector {vec:#04x}; {regs}", "write 0 to the EOI register 0xFEE000B0 in its handler")
    waiting = "; waiting in IRR" if lapic.irr & bit else ""
    return b.add(name, "open", f"software-enabled (SVR={lapic.spurious:#05x}), {regs}, no EOI missing{waiting}")


# --------------------------------------------------------------------------- the CPU and the table
def _cpu_stages(b: _Path) -> bool:
    f = b.f
    if not f.eflags & IF:
        if f.halted:
            return b.add("CPU", "stops", "EFLAGS.IF=0 and the CPU is halted: nothing can wake it",
                         "sti before hlt")
        return b.add("CPU", "stops", "interrupts are disabled: EFLAGS.IF=0", "sti (or IRET to code with IF set)")
    return b.add("CPU", "open", "EFLAGS.IF=1" + (" (halted in HLT: the interrupt wakes it)" if f.halted else ""))


def _segment(f: IrqFacts, selector: int) -> Descriptor | None:
    base, limit = f.gdtr
    index = selector & ~7
    if selector & 4 or index + 7 > limit:
        return None
    return decode_descriptor(f.read(base + index, 8))


def _where(f: IrqFacts, linear: int) -> str:
    sym = f.symbolize(linear)
    return f"{sym} at {linear:#010x}" if sym else f"{linear:#010x}"


def _table_stages(b: _Path) -> bool:
    f, vec = b.f, b.p.vector
    if vec is None:
        return True
    base, limit = f.idtr
    if f.mode == "real":
        if vec * 4 + 3 > limit:
            return b.add("IVT", "stops", f"vector {vec:#04x} is beyond the IVT limit {limit:#x}")
        raw = f.read(base + vec * 4, 4)
        off, seg = int.from_bytes(raw[:2], "little"), int.from_bytes(raw[2:], "little")
        linear = (seg << 4) + off
        if seg == 0 and off == 0:
            return b.add("IVT", "stops", f"IVT[{vec:#04x}] is 0000:0000: no handler installed",
                         f"store the handler's segment:offset at {base + vec * 4:#x}")
        b.p.handler = _where(f, linear)
        return b.add("IVT", "open", f"IVT[{vec:#04x}] = {seg:04x}:{off:04x} -> {b.p.handler}")
    name = f"IDT gate {vec:#04x}"
    if vec * 8 + 7 > limit:
        return b.add(name, "stops", f"beyond the IDT limit {limit:#x} ({(limit + 1) // 8} gates): the CPU raises #GP",
                     f"lidt with a limit of at least {vec * 8 + 7:#x}")
    d = decode_descriptor(f.read(base + vec * 8, 8))
    if d.s or d.type not in (0x5, 0x6, 0x7, 0xE, 0xF):
        return b.add(name, "stops", f"not an interrupt, trap or task gate (bytes {d.raw.hex()}): #GP",
                     "write a 32-bit interrupt gate (type 0xE, P=1)")
    if not d.present:
        return b.add(name, "stops", f"{d.gate_kind}, NOT present (P=0): the CPU raises #NP "
                     f"(error code {vec * 8 + 2:#x}: vector*8 + the IDT bit; QEMU 7.2 leaves EXT clear, a real CPU sets it: {vec * 8 + 3:#x})", "set the gate's P bit (access byte 0x8E)")
    dpl_note = f"DPL={d.dpl} (checked only for INT n; a hardware IRQ ignores it)"
    if d.type == 0x5:
        b.p.handler = f"a task switch to TSS {d.selector:#06x}"
        return b.add(name, "open", f"task gate -> TSS {d.selector:#06x}, present, {dpl_note}")
    gate = f"{d.gate_kind} -> {d.selector:#06x}:{d.offset:#010x}, present, {dpl_note}"
    if not d.selector & ~3:
        return b.add(name, "stops", gate + "; the target selector is null: #GP", "point the gate at the kernel code segment")
    cs = _segment(f, d.selector)
    if cs is None:
        return b.add(name, "stops", gate + f"; selector {d.selector:#06x} is beyond the GDT limit {f.gdtr[1]:#x}"
                     + (" (or in the LDT)" if d.selector & 4 else "") + ": #GP", "use a valid code selector")
    if not cs.is_code:
        return b.add(name, "stops", gate + f"; selector {d.selector:#06x} is not a code segment: #GP",
                     "use the kernel code selector")
    if not cs.present:
        return b.add(name, "stops", gate + f"; code segment {d.selector:#06x} is not present: #NP")
    if cs.dpl > f.cpl:
        return b.add(name, "stops", gate + f"; code segment DPL {cs.dpl} > CPL {f.cpl}: #GP")
    if cs.dpl < f.cpl and not cs.type & 4:
        if not f.tr[0] & ~3:
            return b.add(name, "stops", gate + f"; from ring {f.cpl} the CPU needs the TSS's SS0:ESP0, and no "
                         "TSS is loaded: #TS", "ltr a TSS with SS0:ESP0 set")
    b.p.handler = _where(f, (cs.base + d.offset) & 0xFFFFFFFF)
    kind = "IF cleared in the handler" if d.type in (0x6, 0xE) else "trap gate: IF stays set, IRQs may nest"
    return b.add(name, "open", f"{gate}; {kind}")


# --------------------------------------------------------------------------- the answer
def choose_route(f: IrqFacts, line: int) -> str:
    if line >= NUM_LINES:
        return "I/O APIC"
    io = f.ioapic.redir
    if not io[_pin_of(line)] & IO_MASKED or not f.lapic.accept_pic_intr():
        return "I/O APIC"
    if f.pic.master.imr == 0xFF and any(not e & IO_MASKED for e in io):
        return "I/O APIC"
    return "8259"


def timer_path(f: IrqFacts) -> IrqPath:
    """The local APIC timer: its LVT, the count, then the LAPIC, the CPU and the gate."""
    b = _Path(f, TIMER, "LVT")
    lapic = f.lapic
    lvt = lapic.lvt[0]
    b.p.vector = lvt & 0xFF
    periodic = bool(lvt & (1 << 17))
    desc = (f"LVT timer={lvt:#010x}: vector {lvt & 0xFF:#04x}, {'periodic' if periodic else 'one-shot'}, "
            f"initial count {lapic.initial_count:#x}, current {lapic.current_count():#x}, "
            f"divide by {1 << lapic.count_shift}")
    if lvt & IO_MASKED:
        b.add("LVT timer register", "stops", f"the LVT entry is masked (bit 16); {desc}",
              "clear bit 16 of 0xFEE00320")
    elif not lapic.initial_count:
        b.add("LVT timer register", "stops", f"not counting: the initial count is 0; {desc}", "write a count to 0xFEE00380")
    elif not lapic.timer_armed():
        b.add("LVT timer register", "stops", f"the one-shot count has expired; {desc}",
              "write 0xFEE00380 again, or set bit 17 (periodic) in 0xFEE00320")
    else:
        b.add("LVT timer register", "open", desc)
    _lapic_stages(b)
    _cpu_stages(b)
    _table_stages(b)
    _in_handler(b)
    _answer(b.p)
    return b.p


def irq_path(f: IrqFacts, line: int) -> IrqPath:
    """Walk IRQ `line` (0-15: ISA lines; 16-23: I/O APIC pins; TIMER: the LAPIC timer) from
    the device to the handler."""
    if line == TIMER:
        return timer_path(f)
    if not 0 <= line < NUM_PINS:
        raise ValueError(f"IRQ {line}: lines are 0-15 (ISA) and 16-23 (I/O APIC pins)")
    route = "8259" if line == 2 else choose_route(f, line)
    b = _Path(f, line, route)
    if line == 2:
        b.add("cascade", "note", "IRQ2 carries the slave 8259 (IRQ8-15) into the master; no device raises "
              "it (on the I/O APIC, pin 2 is IRQ0)")
        b.p.answer = "IRQ2 (cascade) is the slave 8259's input on the master: see IRQ8-15"
        return b.p
    if f.hpet_legacy and line in (0, 8):
        b.add("line", "stops", "the HPET is in legacy replacement mode: the "
              f"{'PIT' if line == 0 else 'RTC'} no longer drives IRQ{line} (the HPET's timer 0/1 does)")
    else:
        _pic_stages(b) if route == "8259" else _ioapic_stages(b)
        _cpu_stages(b)
        _table_stages(b)
    _other_route(b)
    _in_handler(b)
    p = b.p
    _answer(p)
    return p


def _other_route(b: _Path) -> None:
    """A note on the route not taken (both open = each raise arrives twice)."""
    f, line = b.f, b.p.line
    if line >= NUM_LINES:
        return
    entry = f.ioapic.redir[_pin_of(line)]
    master_bit = 2 if line >= 8 else line
    pic_open = (f.lapic.accept_pic_intr() and not f.pic.master.imr >> master_bit & 1
                and not (line >= 8 and f.pic.slave.imr >> (line & 7) & 1))
    if b.p.route == "8259":
        b.add("other route", "note", f"I/O APIC pin {_pin_of(line)} is masked (not used)")
    elif pic_open and not entry & IO_MASKED:
        b.add("other route", "note", f"the 8259 route is open too (IMR bit clear, LINT0 ExtINT): each IRQ{line} "
              "arrives twice; mask it in the 8259")
    else:
        b.add("other route", "note", "the 8259 route is closed (masked in the IMR or LINT0 not ExtINT)")


def _in_handler(b: _Path) -> None:
    """An ISR bit is expected while the handler runs: say so when the CPU is inside it."""
    s, f = b.p.stop, b.f
    if s is None or "still in service" not in s.text or not b.p.handler:
        return
    name = b.p.handler.split(" at ")[0].split("+")[0]
    here = f.symbolize(f.pc).split("+")[0]
    if name and not name.startswith("0x") and here == name:
        b.add("handler", "note", f"the CPU is inside {name} now: normal, as long as it sends the EOI before its IRET")


def _answer(p: IrqPath) -> None:
    s = p.stop
    who = f"{p.label}{_isa(p.line)}"
    if s is not None:
        p.answer = f"{who} stops at the {s.name}: {s.text.split('; ')[0]}" + (f"; {s.fix}" if s.fix else "")
        return
    vec = f" as vector {p.vector:#04x}" if p.vector is not None else ""
    p.answer = f"{who} is delivered{vec} to handler {p.handler} (route: {p.route})"
    warn = next((x for x in p.stages if x.name == "vector" and "exceptions" in x.text), None)
    if warn is not None:
        p.answer += f" -- but that vector is the CPU's {EXC_NAMES.get(p.vector or 0, 'reserved')} (8259 not remapped)"


def all_paths(f: IrqFacts) -> list[IrqPath]:
    """The 16 ISA lines, plus the I/O APIC pins 16-23 that the guest unmasked."""
    out = [irq_path(f, n) for n in range(NUM_LINES)]
    out += [irq_path(f, n) for n in range(NUM_LINES, NUM_PINS) if not f.ioapic.redir[n] & IO_MASKED]
    if not f.lapic.lvt[0] & IO_MASKED or f.lapic.initial_count:
        out.append(timer_path(f))
    return out
