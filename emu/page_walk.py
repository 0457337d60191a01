"""One page walk, explained: every level of the guest's page tables for a linear address.

emu/paging.py's `Walker` answers "which physical address, or which #PF" as fast as it can for
the CPU's own accesses.  A learner asks more: which entries did the CPU read, where are they,
what do their bits say, and which bit refused the access.  `walk()` re-does the same walk
(Intel SDM vol. 3 4.3-4.4; QEMU 7.2 target/i386 mmu_translate as the oracle for the
reserved bits) and keeps each level:

- 32-bit paging: CR3 -> PDE (-> PTE, or a 4 MiB page with CR4.PSE and PDE.PS);
- PAE: CR3 -> PDPTE -> PDE (-> PTE, or a 2 MiB page with PDE.PS); NX (bit 63) with EFER.NXE.

Given the access (the #PF error code's W/R, U/S and I/D bits), it names the first thing that
refuses it, in the CPU's order: an entry that is not present, a reserved bit set, a user
access to a supervisor page (U/S=0 at some level), a write to a read-only page (R/W=0 at some
level, from ring 3 or with CR0.WP), an instruction fetch from a no-execute page.  When the
tables allow the access the CPU faulted on, the fault came from a stale TLB entry: the kernel
changed an entry without INVLPG or a CR3 reload.

Used by the fault explainer (emu/fault_causes.py), `bareflow-emu explain --address A`
(emu/cli.py) and the TUI's page-walk view (tui/pagewalk.py, through emu/session/runner.py).
Pure: it reads physical memory through the function it is given and never writes (no
Accessed/Dirty bits are set by looking).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .paging import CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, PF_I, PF_P, PF_RSVD, PF_U, PF_W

#: QEMU's i386 TCG CPU: 36 physical address bits (PSE-36 / PAE)
PHYS_BITS = 36
NX_BIT = 1 << 63
_PHYS_HIGH = ((1 << 63) - 1) & ~((1 << PHYS_BITS) - 1)     # PAE: bits 62..36 are reserved


@dataclass
class Level:
    """One entry the walk read."""

    name: str            # "PDPTE", "PDE", "PTE"
    index: int
    addr: int            # physical address of the entry
    value: int           # its raw value (4 or 8 bytes)
    width: int           # 4 or 8
    large: bool = False  # a PDE that maps a 4 MiB / 2 MiB page itself
    reserved: int = 0    # reserved bits that are set (a #PF with RSVD=1)

    def label(self) -> str:
        return f"{self.name}[{self.index}]"

    def flags(self) -> str:
        """The bits in words: 'P=1 present, R/W=0 read-only, U/S=0 supervisor, ...'."""
        v = self.value
        if not v & 1:
            return "P=0 not present (the CPU ignores the other bits: they are the OS's to use)"
        leaf = self.name == "PTE" or self.large
        if self.name == "PDPTE":       # PAE PDPTEs have only P, PWT, PCD
            bits = [_bit(v, 0, "P", "present", "not present")]
        else:
            bits = [_bit(v, 0, "P", "present", "not present"), _bit(v, 1, "R/W", "writable", "read-only"),
                    _bit(v, 2, "U/S", "user", "supervisor"), _bit(v, 5, "A", "accessed", "not accessed")]
            if leaf:
                bits.append(_bit(v, 6, "D", "dirty", "clean"))
            if self.name == "PDE":
                bits.append(_bit(v, 7, "PS", "large page", "page table"))
        # the cache and TLB bits: a word only when set
        extra = [("PWT", 3, "write-through"), ("PCD", 4, "cache disabled")]
        if self.name == "PTE":
            extra.append(("PAT", 7, "PAT"))
        if leaf:
            extra.append(("G", 8, "global"))
        if self.width == 8 and self.name != "PDPTE":
            extra.append(("NX", 63, "no-execute"))
        bits.append(" ".join(f"{n}={(v >> b) & 1}" + (f" ({w})" if v >> b & 1 else "") for n, b, w in extra))
        return ", ".join(bits)

    def target(self) -> int:
        mask = 0xFFFFFFFFF000 if self.width == 8 else 0xFFFFF000
        return self.value & mask


def _bit(v: int, n: int, name: str, on: str, off: str) -> str:
    return f"{name}={(v >> n) & 1} {on if v >> n & 1 else off}"


@dataclass
class PageWalk:
    """The walk of one linear address (see `walk`)."""

    linear: int
    cr0: int
    cr3: int
    cr4: int
    levels: list[Level] = field(default_factory=list)
    #: physical address the linear one maps to, or None (not present / reserved bit)
    phys: int | None = None
    page_size: int = 0
    #: where the walk stopped when it found no page ('' when it did)
    stop: str = ""
    #: the access checked (an error code's W/R, U/S, I/D bits) and what refused it ('' = allowed)
    access: int | None = None
    refusal: str = ""
    refused_by: str = ""      # the level that refused ('PTE[769]'), '' when none
    nxe: bool = False

    @property
    def paging(self) -> bool:
        return bool(self.cr0 & CR0_PG) and bool(self.cr0 & CR0_PE)

    @property
    def mode(self) -> str:
        if not self.paging:
            return "paging off"
        if self.cr4 & CR4_PAE:
            return "PAE paging" + (", EFER.NXE=1" if self.nxe else "")
        return "32-bit paging" + (", CR4.PSE=1 (4 MiB pages allowed)" if self.cr4 & CR4_PSE else "")

    def lines(self) -> list[str]:
        """The walk as text, one line per level, then where it ends."""
        out = [f"Page walk for linear {self.linear:#010x} ({self.mode}, CR3={self.cr3:#010x}, "
               f"CR0.WP={int(bool(self.cr0 & CR0_WP))}):"]
        if not self.paging:
            out.append(f"  CR0.PG is clear: linear = physical {self.linear:#010x}")
            return out
        w = 18 if self.cr4 & CR4_PAE else 10
        for lv in self.levels:
            hexv = f"{lv.value:#0{w}x}"
            out.append(f"  {lv.label():<10} at {lv.addr:#010x} = {hexv}  {lv.flags()}")
            if lv.reserved:
                out.append(f"             reserved bit{'s' if lv.reserved & (lv.reserved - 1) else ''} set: "
                           f"{_bits_list(lv.reserved)}")
            elif lv.value & 1:
                if lv.large or lv.name == "PTE":
                    size = "4 KiB" if lv.name == "PTE" else ("2 MiB" if lv.width == 8 else "4 MiB")
                    out.append(f"             -> {size} page frame at {lv.target() & ~(self.page_size - 1):#010x}")
                else:
                    nxt = "page directory" if lv.name == "PDPTE" else "page table"
                    out.append(f"             -> {nxt} at {lv.target():#010x}")
        if self.phys is not None:
            out.append(f"  = physical {self.phys:#010x} (offset {self.linear & (self.page_size - 1):#x} in a "
                       f"{_size_words(self.page_size)} page; rights: {self.rights()})")
        else:
            out.append(f"  no mapping: {self.stop}")
        if self.access is not None:
            out.append(f"  access checked: {access_words(self.access)}")
            out.append(f"  refused: {self.refusal}" if self.refusal else "  allowed by the tables")
        return out

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def rights(self) -> str:
        ents = [lv for lv in self.levels if lv.name != "PDPTE"]
        if not ents:
            return "?"
        rw = all(lv.value & 2 for lv in ents)
        us = all(lv.value & 4 for lv in ents)
        nx = self.nxe and any(lv.value & NX_BIT for lv in self.levels)
        return (f"{'read/write' if rw else 'read-only'}, {'user' if us else 'supervisor only'}"
                + (", no-execute" if nx else ""))

    def summary(self) -> str:
        """One line: where it maps or stops, and what refused the access."""
        where = f"{self.linear:#x} -> {self.phys:#x}" if self.phys is not None else \
            f"{self.linear:#x}: {self.stop}"
        return where + (f"; refused: {self.refusal}" if self.refusal else "")

    def to_dict(self) -> dict[str, Any]:
        return {"linear": self.linear, "phys": self.phys, "page_size": self.page_size, "stop": self.stop,
                "refusal": self.refusal, "refused_by": self.refused_by,
                "levels": [{"name": lv.name, "index": lv.index, "addr": lv.addr, "value": lv.value,
                            "flags": lv.flags()} for lv in self.levels]}


def _size_words(size: int) -> str:
    return {0x1000: "4 KiB", 0x200000: "2 MiB", 0x400000: "4 MiB"}.get(size, f"{size:#x}-byte")


def _bits_list(mask: int) -> str:
    bits = [n for n in range(64) if mask >> n & 1]
    return ", ".join(f"bit {n}" for n in bits)


def access_words(code: int) -> str:
    """An error code's access bits in words."""
    kind = "an instruction fetch" if code & PF_I else ("a write" if code & PF_W else "a read")
    return f"{kind} from {'user mode (CPL 3)' if code & PF_U else 'supervisor mode (CPL 0-2)'}"


def error_code_words(code: int) -> str:
    """'0x3: P=1 protection violation (the page is present), W/R=1 write, U/S=0 supervisor, ...'."""
    p_words = ("protection violation (the page is present)" if code & PF_P else
               "(QEMU 7.2 leaves P clear for a reserved-bit fault; Intel CPUs set it)" if code & PF_RSVD else
               "page not present")
    parts = [f"P={code & 1} {p_words}",
             f"W/R={code >> 1 & 1} " + ("write" if code & PF_W else "read"),
             f"U/S={code >> 2 & 1} " + ("user mode (CPL 3)" if code & PF_U else "supervisor mode"),
             f"RSVD={code >> 3 & 1}" + (" reserved bit set in an entry" if code & PF_RSVD else ""),
             f"I/D={code >> 4 & 1} " + ("instruction fetch" if code & PF_I else "data access")]
    return f"{code:#x}: " + ", ".join(parts)


def walk(read_phys: Callable[[int, int], bytes], cr0: int, cr3: int, cr4: int, linear: int, *,
         access: int | None = None, nxe: bool = False) -> PageWalk:
    """Walk the tables for `linear` as the CPU would; with `access` (an error code's W/R, U/S
    and I/D bits, or 0 for a supervisor read) also say which bit refuses that access."""
    linear &= 0xFFFFFFFF
    pw = PageWalk(linear=linear, cr0=cr0 & 0xFFFFFFFF, cr3=cr3 & 0xFFFFFFFF, cr4=cr4 & 0xFFFFFFFF,
                  access=None if access is None else access & (PF_W | PF_U | PF_I), nxe=nxe)
    if not pw.paging:
        pw.phys, pw.page_size = linear, 0x1000
        return pw
    if cr4 & CR4_PAE:
        _walk_pae(pw, read_phys)
    else:
        _walk32(pw, read_phys)
    if pw.access is not None:
        _refusal(pw)
    return pw


def _u(read_phys: Callable[[int, int], bytes], addr: int, width: int) -> int:
    return int.from_bytes(read_phys(addr, width), "little")


def _walk32(pw: PageWalk, read_phys: Callable[[int, int], bytes]) -> None:
    lin = pw.linear
    pi = lin >> 22
    pde = Level("PDE", pi, (pw.cr3 & 0xFFFFF000) | (pi << 2), 0, 4)
    pde.value = _u(read_phys, pde.addr, 4)
    pw.levels.append(pde)
    if not pde.value & 1:
        pw.stop = f"{pde.label()} is not present (P=0)"
        return
    if pde.value & 0x80 and pw.cr4 & CR4_PSE:
        pde.large = True
        pde.reserved = pde.value & 0x3E0000         # bit 21, and PA bits 39:36 beyond 36 bits
        if pde.reserved:
            pw.stop = f"{pde.label()} has reserved bits set ({_bits_list(pde.reserved)})"
            return
        base = (pde.value & 0xFFC00000) | ((pde.value & 0x1E000) << 19)
        pw.page_size = 0x400000
        pw.phys = base | (lin & 0x3FFFFF)
        return
    ti = (lin >> 12) & 0x3FF
    pte = Level("PTE", ti, (pde.value & 0xFFFFF000) | (ti << 2), 0, 4)
    pte.value = _u(read_phys, pte.addr, 4)
    pw.levels.append(pte)
    if not pte.value & 1:
        pw.stop = f"{pte.label()} is not present (P=0)"
        return
    pw.page_size = 0x1000
    pw.phys = (pte.value & 0xFFFFF000) | (lin & 0xFFF)


def _walk_pae(pw: PageWalk, read_phys: Callable[[int, int], bytes]) -> None:
    lin = pw.linear
    nx_rsvd = 0 if pw.nxe else NX_BIT
    di = lin >> 30
    pdpte = Level("PDPTE", di, (pw.cr3 & 0xFFFFFFE0) + (di << 3), 0, 8)
    pdpte.value = _u(read_phys, pdpte.addr, 8)
    pw.levels.append(pdpte)
    if not pdpte.value & 1:
        pw.stop = f"{pdpte.label()} is not present (P=0)"
        return
    pdpte.reserved = pdpte.value & (_PHYS_HIGH | NX_BIT | 0x1E6)    # 63..36, 8:5 and 2:1
    if pdpte.reserved:
        pw.stop = f"{pdpte.label()} has reserved bits set ({_bits_list(pdpte.reserved)})"
        return
    ei = (lin >> 21) & 0x1FF
    pde = Level("PDE", ei, (pdpte.value & 0xFFFFFF000) + (ei << 3), 0, 8)
    pde.value = _u(read_phys, pde.addr, 8)
    pw.levels.append(pde)
    if not pde.value & 1:
        pw.stop = f"{pde.label()} is not present (P=0)"
        return
    if pde.value & 0x80:
        pde.large = True
        pde.reserved = pde.value & (_PHYS_HIGH | nx_rsvd | 0x1FE000)     # and bits 20:13
        if pde.reserved:
            pw.stop = f"{pde.label()} has reserved bits set ({_bits_list(pde.reserved)})"
            return
        pw.page_size = 0x200000
        pw.phys = (pde.value & 0xFFFE00000) | (lin & 0x1FFFFF)
        return
    pde.reserved = pde.value & (_PHYS_HIGH | nx_rsvd)
    if pde.reserved:
        pw.stop = f"{pde.label()} has reserved bits set ({_bits_list(pde.reserved)})"
        return
    ti = (lin >> 12) & 0x1FF
    pte = Level("PTE", ti, (pde.value & 0xFFFFFF000) + (ti << 3), 0, 8)
    pte.value = _u(read_phys, pte.addr, 8)
    pw.levels.append(pte)
    if not pte.value & 1:
        pw.stop = f"{pte.label()} is not present (P=0)"
        return
    pte.reserved = pte.value & (_PHYS_HIGH | nx_rsvd)
    if pte.reserved:
        pw.stop = f"{pte.label()} has reserved bits set ({_bits_list(pte.reserved)})"
        return
    pw.page_size = 0x1000
    pw.phys = (pte.value & 0xFFFFFF000) | (lin & 0xFFF)


def _refusal(pw: PageWalk) -> None:
    """Which bit refuses `pw.access`, in the CPU's order (see the module docstring)."""
    code = pw.access or 0
    user, write, fetch = bool(code & PF_U), bool(code & PF_W), bool(code & PF_I)
    last = pw.levels[-1] if pw.levels else None
    if pw.phys is None and last is not None:
        if last.reserved:
            pw.refusal = (f"reserved bit set at the {last.name}: {last.label()} has {_bits_list(last.reserved)} "
                          f"set, which must be 0 (error code bit RSVD=1)")
        else:
            pw.refusal = (f"not present at the {last.name}: {last.label()} at {last.addr:#x} has P=0, so there is "
                          f"no page at {pw.linear:#x} (error code bit P=0)")
        pw.refused_by = last.label()
        return
    ents = [lv for lv in pw.levels if lv.name != "PDPTE"]
    if user:
        sup = next((lv for lv in ents if not lv.value & 4), None)
        if sup is not None:
            pw.refusal = (f"user access to a supervisor page: {sup.label()} has U/S=0, so code at CPL 3 may not "
                          f"touch {pw.linear:#x} (every level must have U/S=1)")
            pw.refused_by = sup.label()
            return
    if write:
        ro = next((lv for lv in ents if not lv.value & 2), None)
        if ro is not None and (user or pw.cr0 & CR0_WP):
            why = "from ring 3" if user else "and CR0.WP=1 makes ring 0 obey read-only pages too"
            pw.refusal = f"write to a read-only page: {ro.label()} has R/W=0, {why}"
            pw.refused_by = ro.label()
            return
    if fetch and pw.nxe:
        nx = next((lv for lv in pw.levels if lv.value & NX_BIT), None)
        if nx is not None:
            pw.refusal = f"instruction fetch from a no-execute page: {nx.label()} has NX=1 (EFER.NXE=1)"
            pw.refused_by = nx.label()
            return


def nxe_of(machine: Any) -> bool:
    """EFER.NXE of a machine, False when it cannot be read (qemu32 has no NX)."""
    try:
        return bool(machine.uc.msr_read(0xC0000080) & (1 << 11))
    except Exception:
        return False


def walk_machine(machine: Any, linear: int, *, access: int | None = None) -> PageWalk:
    """The walk of `linear` in a live (stopped or paused) machine's tables, now."""
    regs = machine.regs()
    return walk(machine.read_phys, regs.get("cr0", 0), regs.get("cr3", 0), regs.get("cr4", 0), linear,
                access=access, nxe=nxe_of(machine))


def fault_walk_lines(pw: PageWalk, cr2: int, error_code: int) -> list[str]:
    """What the fault explainer adds for a #PF: CR2, the error code in words, the walk, and a
    note when the tables allow the access (a stale TLB entry)."""
    out = [f"CR2 = {cr2:#010x} (the linear address the CPU could not use)",
           f"error code {error_code_words(error_code)}"]
    out += pw.lines()
    if not pw.refusal and pw.phys is not None:
        out.append("  the tables as they are now allow this access: the CPU used a stale TLB entry (the "
                   "kernel changed an entry without INVLPG or a CR3 reload)")
    return out


def resolve_address(machine: Any, text: str) -> int:
    """A linear address from the command line: a number (0x.. hex, decimal) or a symbol of
    the ELF beside the image; BadArgument (one line, exit 2) otherwise."""
    from ..devices.base.errors import BadArgument
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        symbols = getattr(machine, "symbols", None)
        try:
            value = symbols.address_of(text) if symbols is not None else None
        except Exception:
            value = None
        if value is None:
            raise BadArgument(f"--address {text!r}: not a number (0x... or decimal) or a known symbol") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise BadArgument(f"--address {text!r}: a linear address is 32 bits (0 to 0xffffffff)")
    return value


def add_address_option(parser: Any) -> None:
    """`explain --address A` (repeatable)."""
    parser.add_argument("--address", action="append", default=[], metavar="A",
                        help="after the journey, walk the page tables for linear address A (0x.., or a symbol) "
                             "as the run left them (docs/journey.md); repeatable")


def addresses_text(machine: Any, addresses: list[int]) -> str:
    """`explain --address A`: the walk of each address in the tables as the run left them,
    with the supervisor read / write and the user read / write each would allow ('' for none)."""
    if not addresses:
        return ""
    out = [f"\nPage walks at the end of the run (cycle {machine.cycles:,}):"]
    for lin in addresses:
        pw = walk_machine(machine, lin)
        out += pw.lines()
        if pw.paging and pw.phys is not None:
            out.append(_access_line(machine, lin))
    return "\n".join(out) + "\n"


def _access_line(machine: Any, lin: int) -> str:
    """'  allowed: kernel read, kernel write; #PF: user read, user write (user access to ...)'."""
    ok, refused, why = [], [], []
    for code, what in ((0, "kernel read"), (PF_W, "kernel write"), (PF_U, "user read"), (PF_U | PF_W, "user write")):
        check = walk_machine(machine, lin, access=code)
        (refused if check.refusal else ok).append(what)
        reason = check.refusal.split(":")[0]
        if reason and reason not in why:
            why.append(reason)
    return ("  allowed: " + (", ".join(ok) or "nothing")
            + (f"; #PF: {', '.join(refused)} ({'; '.join(why)})" if refused else ""))


def view_text(machine: Any, target: str) -> str:
    """The TUI's page-walk view (tui/pagewalk.py, through emu/session/runner.py): the walk of
    `target` (an address or symbol; '' = CR2 when a page fault set it, else the current EIP)
    in the tables as they are now, what each kind of access would get, and the bytes there."""
    regs = machine.regs()
    target = (target or "").strip()
    if not target:
        cr2 = regs.get("cr2", 0)
        lin = cr2 if cr2 else machine.cpu.linear_pc()
        why = "CR2, the address of the last page fault" if cr2 else "the instruction pointer (CR2 is 0)"
    else:
        try:
            lin = resolve_address(machine, target.removeprefix("#") if target.startswith("#") else target)
        except Exception as err:        # BadArgument: shown in the view, the guest is not affected
            return f"cannot walk {target!r}: {str(err).removeprefix('--address ')}\n"
        why = "as typed"
    out = [f"Linear address {lin:#010x} ({why})"]
    pw = walk_machine(machine, lin)
    out += pw.lines()
    if pw.paging and pw.phys is not None:
        out.append(_access_line(machine, lin))
    if pw.phys is not None:
        try:
            data = machine.read_phys(pw.phys, 16)
            out.append(f"  bytes at {pw.phys:#010x}: {data.hex(' ')}")
        except Exception:
            pass
    return "\n".join(out) + "\n"
