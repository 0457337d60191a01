"""The interrupt path of a Machine, for its readers: `explain --irq` (emu/cli.py), the TUI's
Shift+F9 view (rows computed on the emulator thread by emu/session/runner.py) and the table
of every line.  The walk itself is emu/irqpath.py; this module reads the machine into an
`IrqFacts` (the devices themselves, not copies) and formats the answers."""
from __future__ import annotations

from typing import Any

from ..devices.base.errors import BadArgument
from .irqpath import NUM_PINS, TIMER, IrqFacts, IrqPath, all_paths, device_name, irq_path


def table_text(paths: list[IrqPath]) -> str:
    """One line per IRQ (the TUI's view and `explain --irq all`)."""
    rows = [f"{'line':<7}{'device':<14}{'route':<9}{'vector':<7}stops at / delivered to"]
    for p in paths:
        vec = f"{p.vector:#04x}" if p.vector is not None else "-"
        label = p.label if p.line != TIMER else "timer"
        rows.append(f"{label:<7}{device_name(p.line):<14}{p.route:<9}{vec:<7}{p.where()}")
    return "\n".join(rows) + "\n"


def machine_facts(machine: Any) -> IrqFacts:
    """Read the facts of a (paused, or between blocks) Machine; the devices are not copied."""
    from unicorn import x86_const as X
    board, cpu = machine.board, machine.cpu
    tr = machine.uc.reg_read(X.UC_X86_REG_TR)
    symbols = getattr(machine, "symbols", None)

    def symbolize(addr: int) -> str:
        if symbols is None:
            return ""
        hit = symbols.lookup(addr)
        if hit is None:
            return ""
        return hit[0] if hit[1] == 0 else f"{hit[0]}+{hit[1]:#x}"

    return IrqFacts(pic=board.devices["pic"], lapic=board.devices["lapic"], ioapic=board.devices["ioapic"],
                    eflags=cpu.get("eflags"), mode=machine.mode, cpl=machine.cpl, gdtr=cpu.table("gdtr"),
                    idtr=cpu.table("idtr"), tr=(tr[0] & 0xFFFF, tr[1] & 0xFFFFFFFF, tr[2] & 0xFFFFFFFF),
                    read=machine.read_mem, symbolize=symbolize, pc=cpu.linear_pc(), halted=machine.halted,
                    hpet_legacy=bool(getattr(board.gsi, "hpet_legacy", False)))


def rows(paths: list[IrqPath]) -> list[dict[str, str]]:
    """Plain data for a front end (the TUI's view, across the session boundary)."""
    return [{"line": p.label, "device": device_name(p.line),
             "route": p.route, "vector": f"{p.vector:#04x}" if p.vector is not None else "-",
             "where": p.where(), "state": "stops" if p.stop is not None else ("open" if p.line != 2 else "-"),
             "detail": p.text()} for p in paths]


def machine_rows(machine: Any) -> list[dict[str, str]]:
    return rows(all_paths(machine_facts(machine)))


def parse_lines(spec: str) -> list[int] | None:
    """`--irq` argument: a line number (0-23), 'timer' (the LAPIC timer) or 'all' (None)."""
    if spec.strip().lower() == "all":
        return None
    if spec.strip().lower() == "timer":
        return [TIMER]
    try:
        n = int(spec, 0)
    except ValueError:
        raise ValueError(f"--irq {spec}: expected a line number 0-23, 'timer' or 'all'") from None
    if not 0 <= n < NUM_PINS:
        raise ValueError(f"--irq {spec}: lines are 0-15 (ISA) and 16-23 (I/O APIC pins)")
    return [n]


def irq_option(spec: str | None) -> list[int] | None:
    """`explain --irq`: the lines to report ([] without the option); BadArgument (one line,
    exit 2) for a bad value."""
    if spec is None:
        return []
    try:
        return parse_lines(spec)
    except ValueError as err:
        raise BadArgument(str(err)) from None


def report(machine: Any, lines: list[int] | None) -> str:
    """`explain --irq N`: the one-line answer, then the stages; `all`: the table, then each answer."""
    f = machine_facts(machine)
    if lines is None:
        paths = all_paths(f)
        return table_text(paths) + "".join(p.answer + "\n" for p in paths)
    return "".join(irq_path(f, n).text() for n in lines)
