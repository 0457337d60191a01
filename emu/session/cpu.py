"""The CPU view, read on the emulator thread.

`capture_cpu` reads the machine between run slices or while paused (the only times
`Machine.regs()`/`read_mem()`/`disasm()` may be called) into a plain `CpuView`
(emu/session/frames.py), which travels to the front end in a `CpuFrame`.
"""
from __future__ import annotations

from .frames import CpuView, Insn

MEM_ROWS, MEM_COLS = 8, 16


def where(machine, addr: int) -> str:
    """'symbol+0xoff' for an address, or '' when there are no symbols or none covers it."""
    symbols = machine.symbols
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
    pc = machine.cpu.linear_pc()   # the CPU knows the CS base in every mode
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
    tracker = getattr(machine, "privilege", None)   # the toy machine of the TUI tests has none
    return CpuView(mode=mode, cpl=machine.cpl, regs=regs, gdtr=tuple(machine.gdtr), idtr=tuple(machine.idtr),
                   pc=pc, insns=insns, mem_addr=mem_addr, mem_label=label, mem=mem,
                   rings=tracker.summary() if tracker is not None else "",
                   ring_short=tracker.short() if tracker is not None else "",
                   cycles=machine.cycles, instructions=machine.instructions)
