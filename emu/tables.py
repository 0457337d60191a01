"""The guest's descriptor tables in words, as Bochs's debugger prints them (`info gdt`,
`info idt`, `info tss`): every GDT and LDT descriptor, every IDT gate, the task-state segment.

Built on emu/cpu.py's `decode_descriptor` (one decoder for delivery, the trace and this view);
this module adds what a learner reads: the type in words (Bochs's "Code segment, ...,
Execute/Read, Non-Conforming, Accessed, 32-bit"), the flags (DPL, present, D/B, G, L), a gate's
target `selector:offset` with the handler's symbol, and the 32-bit TSS fields (back link,
ESP0/SS0 .. ESP2/SS2, CR3, EIP, EFLAGS, the general and segment registers, LDT selector,
I/O map base).  Tables are read at their linear addresses through `read(addr, n)`: the
machine's `read_mem` walks the page tables when paging is on (missing pages read as 0xFF).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from unicorn import x86_const as X

from .cpu import Descriptor, decode_descriptor

Reader = Callable[[int, int], bytes]

SYSTEM_TYPES = {
    0x1: "16-bit TSS (available)", 0x2: "LDT", 0x3: "16-bit TSS (busy)", 0x4: "16-bit call gate",
    0x5: "task gate", 0x6: "16-bit interrupt gate", 0x7: "16-bit trap gate",
    0x9: "32-bit TSS (available)", 0xB: "32-bit TSS (busy)", 0xC: "32-bit call gate",
    0xE: "32-bit interrupt gate", 0xF: "32-bit trap gate",
}
GATES = (0x4, 0x5, 0x6, 0x7, 0xC, 0xE, 0xF)
MAX_ENTRIES = 8192


def long_bit(d: Descriptor) -> bool:
    """Bit 53 (L): a 64-bit code segment (meaningless for a 32-bit CPU, shown as Bochs does)."""
    return bool(struct.unpack("<II", d.raw)[1] >> 21 & 1)


def type_words(d: Descriptor) -> str:
    """Bochs-style type: 'Code segment, Execute/Read, Non-Conforming, Accessed, 32-bit'."""
    if not d.s:
        return SYSTEM_TYPES.get(d.type, f"reserved system type {d.type:#x}")
    acc = ", Accessed" if d.type & 1 else ""
    bits = "32-bit" if d.db else "16-bit"
    if d.type & 8:
        rw = "Execute/Read" if d.type & 2 else "Execute-Only"
        conf = "Conforming" if d.type & 4 else "Non-Conforming"
        return f"Code segment, {rw}, {conf}{acc}, {bits}"
    rw = "Read/Write" if d.type & 2 else "Read-Only"
    exp = ", Expand-down" if d.type & 4 else ""
    return f"Data segment, {rw}{exp}{acc}, {bits}"


@dataclass(frozen=True)
class Entry:
    table: str          # "GDT", "LDT", "IDT"
    index: int
    d: Descriptor
    handler: str = ""   # IDT gates: symbol of the target, when known

    @property
    def selector(self) -> int:
        return self.index * 8 | (4 if self.table == "LDT" else 0)

    @property
    def empty(self) -> bool:
        return self.d.raw == bytes(8)

    def text(self) -> str:
        d = self.d
        head = (f"{self.table}[{self.index:#04x}]" if self.table == "IDT"
                else f"{self.table}[{self.index}] sel {self.selector:#06x}")
        if self.empty:
            return f"{head} = <null descriptor>" if self.index == 0 and self.table == "GDT" else f"{head} = <empty>"
        present = "present" if d.present else "NOT present"
        if not d.s and d.type in GATES:
            target = (f"target={d.selector:#06x}" if d.type == 0x5
                      else f"target={d.selector:#06x}:{d.offset:#010x}")
            sym = f" <{self.handler}>" if self.handler else ""
            return f"{head} = {type_words(d)} {target}{sym}, DPL={d.dpl}, {present}"
        return (f"{head} = {type_words(d)}, base={d.base:#010x}, limit={d.limit:#010x}, DPL={d.dpl}, "
                f"{present}, D/B={int(d.db)}, G={int(d.g)} ({'4 KiB' if d.g else 'byte'} units), "
                f"L={int(long_bit(d))}")


TSS_FIELDS = [("link", 0x00, 2), ("esp0", 0x04, 4), ("ss0", 0x08, 2), ("esp1", 0x0C, 4), ("ss1", 0x10, 2),
              ("esp2", 0x14, 4), ("ss2", 0x18, 2), ("cr3", 0x1C, 4), ("eip", 0x20, 4), ("eflags", 0x24, 4),
              ("eax", 0x28, 4), ("ecx", 0x2C, 4), ("edx", 0x30, 4), ("ebx", 0x34, 4), ("esp", 0x38, 4),
              ("ebp", 0x3C, 4), ("esi", 0x40, 4), ("edi", 0x44, 4), ("es", 0x48, 2), ("cs", 0x4C, 2),
              ("ss", 0x50, 2), ("ds", 0x54, 2), ("fs", 0x58, 2), ("gs", 0x5C, 2), ("ldt", 0x60, 2),
              ("trap", 0x64, 2), ("iomap", 0x66, 2)]


@dataclass
class Tables:
    mode: str
    gdtr: tuple[int, int]
    idtr: tuple[int, int]
    tr: tuple[int, int, int]        # selector, base, limit (the CPU's cached descriptor)
    ldtr: tuple[int, int, int]
    gdt: list[Entry] = field(default_factory=list)
    ldt: list[Entry] = field(default_factory=list)
    idt: list[Entry] = field(default_factory=list)
    tss: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self, *, all_entries: bool = False) -> list[str]:
        """The report; empty slots are left out unless `all_entries`."""
        out = [f"CPU mode: {self.mode}"]
        out.append(f"GDTR base={self.gdtr[0]:#010x} limit={self.gdtr[1]:#06x} "
                   f"({(self.gdtr[1] + 1) // 8} entries)")
        out += ["  " + e.text() for e in self.gdt if all_entries or not e.empty or e.index == 0]
        if self.ldtr[0] & ~3:
            out.append(f"LDTR selector={self.ldtr[0]:#06x} base={self.ldtr[1]:#010x} limit={self.ldtr[2]:#06x}")
            out += ["  " + e.text() for e in self.ldt if all_entries or not e.empty]
        else:
            out.append("LDTR: none (selector 0)")
        if self.mode == "real":
            out.append(f"IDTR base={self.idtr[0]:#010x} limit={self.idtr[1]:#06x}: real mode, the IVT "
                       f"(4-byte segment:offset vectors), not gates")
        else:
            out.append(f"IDTR base={self.idtr[0]:#010x} limit={self.idtr[1]:#06x} "
                       f"({(self.idtr[1] + 1) // 8} gates)")
            out += _runs(self.idt, all_entries)
        if self.tss is None:
            out.append("TR: no task register loaded (LTR not executed)" if not self.tr[0] & ~3
                       else f"TR selector={self.tr[0]:#06x}: TSS not readable")
        else:
            t = self.tss
            out.append(f"TR selector={self.tr[0]:#06x} base={self.tr[1]:#010x} limit={self.tr[2]:#06x}: 32-bit TSS")
            out.append(f"  ring-0 stack SS0:ESP0 = {t['ss0']:#06x}:{t['esp0']:#010x} "
                       f"(where an interrupt from ring 3 switches to)")
            out.append(f"  SS1:ESP1 = {t['ss1']:#06x}:{t['esp1']:#010x}  SS2:ESP2 = {t['ss2']:#06x}:{t['esp2']:#010x}")
            out.append(f"  back link={t['link']:#06x}  CR3={t['cr3']:#010x}  EIP={t['eip']:#010x}  "
                       f"EFLAGS={t['eflags']:#010x}")
            out.append("  " + " ".join(f"{r.upper()}={t[r]:#010x}" for r in
                                       ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")))
            out.append("  " + " ".join(f"{r.upper()}={t[r]:#06x}" for r in ("es", "cs", "ss", "ds", "fs", "gs"))
                       + f"  LDT={t['ldt']:#06x}  T={t['trap'] & 1}  I/O map base={t['iomap']:#06x}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def text(self, **kw: Any) -> str:
        return "\n".join(self.lines(**kw)) + "\n"


def _runs(entries: list[Entry], all_entries: bool) -> list[str]:
    """One line per gate; 3 or more identical neighbours (same bytes) share one line."""
    out, i = [], 0
    while i < len(entries):
        j = i
        while j + 1 < len(entries) and entries[j + 1].d.raw == entries[i].d.raw:
            j += 1
        e = entries[i]
        if e.empty and not all_entries:
            i = j + 1
            continue
        if j - i >= 2:
            out.append(f"  IDT[{e.index:#04x}..{entries[j].index:#04x}] ({j - i + 1} gates, the same) = "
                       + e.text().split(" = ", 1)[1])
        else:
            out += ["  " + x.text() for x in entries[i:j + 1]]
        i = j + 1
    return out


def read_entries(table: str, read: Reader, base: int, limit: int, symbolize=None) -> list[Entry]:
    n = min((limit + 1) // 8, MAX_ENTRIES)
    raw = read(base, n * 8) if n else b""
    out = []
    for i in range(n):
        d = decode_descriptor(raw[i * 8:i * 8 + 8])
        handler = ""
        if table == "IDT" and not d.s and d.type in (0x6, 0x7, 0xE, 0xF) and symbolize is not None:
            handler = symbolize(d.offset) or ""
        out.append(Entry(table, i, d, handler))
    return out


def read_tss(read: Reader, base: int, limit: int) -> dict[str, int] | None:
    if limit < 0x67:
        return None
    raw = read(base, 0x68)
    return {name: int.from_bytes(raw[off:off + size], "little") for name, off, size in TSS_FIELDS}


def machine_tables(machine: Any) -> Tables:
    """The tables of a (paused or running) Machine."""
    cpu, uc = machine.cpu, machine.uc
    tr = uc.reg_read(X.UC_X86_REG_TR)
    ldtr = uc.reg_read(X.UC_X86_REG_LDTR)
    symbols = getattr(machine, "symbols", None)

    def symbolize(addr: int) -> str:
        if symbols is None:
            return ""
        hit = symbols.lookup(addr)
        if hit is None:
            return ""
        name, off = hit
        return name if off == 0 else f"{name}+{off:#x}"

    t = Tables(mode=machine.mode, gdtr=cpu.table("gdtr"), idtr=cpu.table("idtr"),
               tr=(tr[0] & 0xFFFF, tr[1] & 0xFFFFFFFF, tr[2] & 0xFFFFFFFF),
               ldtr=(ldtr[0] & 0xFFFF, ldtr[1] & 0xFFFFFFFF, ldtr[2] & 0xFFFFFFFF))
    read = machine.read_mem
    t.gdt = read_entries("GDT", read, *t.gdtr)
    if t.ldtr[0] & ~3:
        t.ldt = read_entries("LDT", read, t.ldtr[1], t.ldtr[2])
    if t.mode != "real":
        t.idt = read_entries("IDT", read, *t.idtr, symbolize=symbolize)
    if t.tr[0] & ~3:
        t.tss = read_tss(read, t.tr[1], t.tr[2])
    if cpu.get("cr0") & 0x80000000:
        t.notes.append("paging is on: the tables were read at their linear addresses through the "
                       "page tables (an entry on a missing page reads as FFh bytes)")
    return t
