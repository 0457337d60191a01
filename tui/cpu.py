"""The CPU panel: what the processor is doing, in the words of the Intel manual.

`capture_cpu` reads the machine on the emulator thread (between run slices or while paused,
the only times `Machine.regs()`/`read_mem()`/`disasm()` may be called) into a plain
`CpuView`; the panel renders that snapshot on the UI thread.  Registers that changed since the
previous snapshot are highlighted, which is what makes single-stepping readable.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from .textlines import TextLines

# Bit names (Intel SDM vol. 3, 2.3 and 2.5).
EFLAGS_BITS = ((0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
               (10, "DF"), (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (21, "ID"))
CR0_BITS = ((0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"), (18, "AM"),
            (29, "NW"), (30, "CD"), (31, "PG"))
CR4_BITS = ((0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"), (6, "MCE"), (7, "PGE"),
            (8, "PCE"), (9, "OSFXSR"), (10, "OSXMMEXCPT"))

GPRS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
SEGS = ("cs", "ds", "es", "ss", "fs", "gs")
MEM_ROWS, MEM_COLS = 8, 16


def decode_bits(value: int, names: tuple[tuple[int, str], ...]) -> list[str]:
    """Names of the set bits, low to high."""
    return [name for bit, name in names if value >> bit & 1]


def eflags_text(value: int) -> str:
    """EFLAGS as the set flags plus IOPL, e.g. 'IF ZF IOPL=0'."""
    return " ".join(decode_bits(value, EFLAGS_BITS) + [f"IOPL={(value >> 12) & 3}"])


@dataclass
class Insn:
    addr: int
    raw: bytes
    text: str
    where: str  # "symbol+0x12" or ""


@dataclass
class CpuView:
    """Everything the panel shows, read in one go on the emulator thread."""

    mode: str
    cpl: int
    regs: dict[str, int]
    gdtr: tuple[int, int]
    idtr: tuple[int, int]
    pc: int
    insns: list[Insn] = field(default_factory=list)
    mem_addr: int = 0
    mem_label: str = ""
    mem: bytes = b""
    #: privilege transitions so far (emu/privilege.py): panel line and status-bar form
    rings: str = ""
    ring_short: str = ""
    #: the decoded descriptor tables (emu/tables.py), only while the tables view is open
    tables: str = ""
    cycles: int = 0
    instructions: int = 0


def linear_pc(mode: str, regs: dict[str, int], machine=None) -> int:
    """Linear address of the next instruction: the machine's CPU knows the CS base in every
    mode; without it, CS*16+IP in real mode and EIP (flat segments) in protected mode."""
    cpu = getattr(machine, "cpu", None)
    if cpu is not None and hasattr(cpu, "linear_pc"):
        return cpu.linear_pc()
    if mode == "real":
        return ((regs.get("cs", 0) << 4) + (regs.get("eip", 0) & 0xFFFF)) & 0xFFFFFFFF
    return regs.get("eip", 0)


def where(machine, addr: int) -> str:
    """'symbol+0xoff' for an address, or '' when there are no symbols or none covers it."""
    symbols = getattr(machine, "symbols", None)
    if symbols is None:
        return ""
    found = symbols.lookup(addr)
    if not found:
        return ""
    name, off = found
    return f"{name}+{off:#x}" if off else name


def capture_cpu(machine, mem_addr: int | None = None, count: int = 6) -> CpuView:
    """Read registers, tables, the next `count` instructions and 128 bytes of memory.

    Emulator thread only (or while the machine is paused).  `mem_addr` None follows the stack
    pointer, the most useful default while stepping through calls.
    """
    regs = dict(machine.regs())
    mode = machine.mode
    pc = linear_pc(mode, regs, machine)
    insns: list[Insn] = []
    try:
        for addr, raw, text in machine.disasm(pc, count):
            insns.append(Insn(addr, bytes(raw), text, where(machine, addr)))
    except Exception as err:  # unmapped or undecodable memory is a fact to show, not a crash
        insns.append(Insn(pc, b"", f"(cannot disassemble: {err})", ""))
    if mem_addr is None:
        if mode == "real":
            mem_addr = ((regs.get("ss", 0) << 4) + (regs.get("esp", 0) & 0xFFFF)) & 0xFFFFFFFF
        else:
            mem_addr = regs.get("esp", 0)
        label = "stack, ss:esp"
    else:
        label = where(machine, mem_addr)
    try:
        mem = bytes(machine.read_mem(mem_addr, MEM_ROWS * MEM_COLS))
    except Exception:
        mem = b""
    tracker = getattr(machine, "privilege", None)
    return CpuView(mode=mode, cpl=machine.cpl, regs=regs, gdtr=tuple(machine.gdtr), idtr=tuple(machine.idtr),
                   pc=pc, insns=insns, mem_addr=mem_addr, mem_label=label, mem=mem,
                   rings=tracker.summary() if tracker is not None else "",
                   ring_short=tracker.short() if tracker is not None else "",
                   cycles=machine.cycles, instructions=machine.instructions)


def render_cpu(view: CpuView | None, previous: CpuView | None = None, note: str = "") -> Text:
    """The panel's text; registers that differ from `previous` are highlighted."""
    t = Text()
    if view is None:
        t.append("CPU: no state yet" + (f" ({note})" if note else ""), style="dim")
        return t
    prev = previous.regs if previous is not None else {}
    r = view.regs

    def reg(name: str, width: int = 8) -> None:
        changed = name in prev and prev[name] != r.get(name)
        t.append(f"{name.upper():>3} ", style="bold")
        t.append(f"{r.get(name, 0):0{width}x}", style="black on yellow" if changed else "")
        t.append("  ")

    t.append(f"mode {view.mode}", style="bold cyan")
    t.append(f"   CPL {view.cpl}", style="bold")
    t.append(f"   pc {view.pc:#010x}")
    if view.insns and view.insns[0].where:
        t.append(f" <{view.insns[0].where}>", style="green")
    if note:
        t.append(f"   ({note})", style="dim")
    t.append("\n")
    if view.rings and view.mode == "protected":
        t.append(view.rings + "\n", style="magenta")
    for name in GPRS[:4]:
        reg(name)
    t.append("\n")
    for name in GPRS[4:]:
        reg(name)
    t.append("\n")
    reg("eip")
    reg("eflags")
    t.append(eflags_text(r.get("eflags", 0)), style="magenta")
    t.append("\n")
    for name in SEGS:
        reg(name, 4)
    t.append("\n")
    reg("cr0")
    t.append("[" + " ".join(decode_bits(r.get("cr0", 0), CR0_BITS)) + "]  ", style="magenta")
    reg("cr3")
    t.append("\n")
    reg("cr2")
    reg("cr4")
    t.append("[" + " ".join(decode_bits(r.get("cr4", 0), CR4_BITS)) + "]", style="magenta")
    t.append("\n")
    t.append(f"GDTR base {view.gdtr[0]:08x} limit {view.gdtr[1]:04x}   "
             f"IDTR base {view.idtr[0]:08x} limit {view.idtr[1]:04x}\n")
    t.append("\n")
    for i, insn in enumerate(view.insns):
        mark = "► " if i == 0 else "  "
        style = "bold reverse" if i == 0 else ""
        t.append(mark)
        t.append(f"{insn.addr:08x}  {insn.raw.hex(' '):<24} {insn.text:<36}", style=style)
        if insn.where:
            t.append(f" {insn.where}", style="green")
        t.append("\n")
    t.append("\n")
    t.append(f"memory @ {view.mem_addr:#010x}", style="bold")
    if view.mem_label:
        t.append(f" ({view.mem_label})", style="green")
    t.append("\n")
    if not view.mem:
        t.append("  (not mapped)\n", style="dim")
    for row in range(0, len(view.mem), MEM_COLS):
        chunk = view.mem[row:row + MEM_COLS]
        asc = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        t.append(f"{(view.mem_addr + row) & 0xFFFFFFFF:08x}  {chunk.hex(' '):<48}  {asc}\n")
    return t


class CpuPanel(TextLines):
    """Renders the latest `CpuView`; the app calls `show()` when the runner publishes one
    (a line-API widget: an update repaints only the panel, from cached strips)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: CpuView | None = None
        self._previous: CpuView | None = None
        self._text = render_cpu(None)

    def show(self, view: CpuView | None, note: str = "") -> None:
        if view is not self.view:
            self._previous, self.view = self.view, view
        self.set_text(render_cpu(self.view, self._previous, note))
