"""Guest symbols from ELF files: address -> function, for the profiler, traces and the debugger.

Why: the profiler attributes every executed block to the guest function that contains it, and
traces / the TUI show `name+0x1c` instead of raw addresses.  The images BareFlow runs are raw
disk images; their symbols come from the ELF the image was built from (found beside the image
or given with --symbols).  Boot code may come with its own ELF (stage 2), so several ELFs can
be merged into one table.

The table is a sorted list of non-overlapping [start, end) ranges searched with bisect, so a
lookup is O(log n) and the dense index of a function is stable for a given set of ELFs.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import NamedTuple

from ..devices.base.errors import BadArgument
from . import elf32


class SymbolError(BadArgument):
    """A symbol file or name that cannot be used; `str(err)` is one line for the user.

    A BadArgument, so the CLI reports it like any bad option value (exit status 64).
    """


class Function(NamedTuple):
    """One guest function (or code label): the half-open address range [start, end).

    A NamedTuple, not a frozen dataclass: the same fields, order and immutability, and ~2 ms
    less to import (every run that reads an ELF imports this module; issue 11)."""

    start: int
    end: int
    name: str


class _Candidate(NamedTuple):
    """A symbol before the ranges are made disjoint (rank orders aliases at one address)."""

    start: int
    size: int
    name: str
    sec_start: int
    sec_end: int
    rank: tuple


# Preference among symbols that share an address: FUNC over labels, global over weak/local.
_TYPE_RANK = {"STT_FUNC": 0, "STT_NOTYPE": 1, "STT_OBJECT": 2}
_BIND_RANK = {"STB_GLOBAL": 0, "STB_WEAK": 1, "STB_LOCAL": 2}
_TYPE_NAMES = {elf32.STT_NOTYPE: "STT_NOTYPE", elf32.STT_OBJECT: "STT_OBJECT",
               elf32.STT_FUNC: "STT_FUNC"}
_BIND_NAMES = {elf32.STB_LOCAL: "STB_LOCAL", elf32.STB_GLOBAL: "STB_GLOBAL",
               elf32.STB_WEAK: "STB_WEAK"}


class SymbolTable:
    """Sorted, non-overlapping functions with bisect lookup; see the module docstring."""

    def __init__(self, functions: list[Function] | None = None,
                 addresses: dict[str, int] | None = None, sources: list[str] | None = None):
        self.functions: list[Function] = sorted(functions or [])
        self._addresses: dict[str, int] = dict(addresses or {})
        for f in self.functions:
            self._addresses.setdefault(f.name, f.start)
        self.sources: list[str] = list(sources or [])
        self._reindex()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_elf(cls, path, *, bias: int = 0) -> "SymbolTable":
        """Read the code symbols of a linked i386 ELF.  Raises SymbolError with one line.

        Kept: FUNC symbols, and NOTYPE/OBJECT labels that sit in an executable section (asm
        labels such as _start or pm_entry).  `bias` is added to every address, for code linked
        at an offset rather than at its linear address (e.g. 16-bit code linked at 0 that runs
        with CS = 0x07E0: bias=0x7E00).
        """
        p = Path(path)
        if not p.exists():
            raise SymbolError(f"symbol file not found: {p}")
        if not p.is_file():
            raise SymbolError(f"symbol file is not a regular file: {p}")
        # emu/elf32.py, not pyelftools: its import alone cost 30-110 ms on every such run
        try:
            data = p.read_bytes()
        except OSError as err:
            raise SymbolError(f"{p}: cannot read symbol file ({err.strerror or err})") from None
        if data[:4] != b"\x7fELF":
            raise SymbolError(f"{p}: not an ELF file (no \\x7fELF magic)")
        try:
            candidates, addresses = _read_elf(elf32.Elf(data), p)
        except elf32.ElfFormatError as err:
            raise SymbolError(f"{p}: damaged ELF file ({err})") from None
        functions = _disjoint(candidates)
        if not functions:
            raise SymbolError(f"{p}: the symbol table has no function or code-label symbols")
        if bias:
            functions = [Function(f.start + bias, f.end + bias, f.name) for f in functions]
            addresses = {name: addr + bias for name, addr in addresses.items()}
        return cls(functions, addresses, [str(p)])

    @staticmethod
    def find_beside(image_path) -> Path | None:
        """The ELF that goes with a disk image, by convention, or None.

        Tried in order: IMG.elf (images/x.img.elf), the image stem + .elf (images/x.elf), and
        the only *.elf in the image's directory (images/fluid_llama.img ->
        images/tinyllama_bare.elf).  Several unrelated ELFs beside it: None (ambiguous - pass
        --symbols, or use find_all_beside and merge).
        """
        img = Path(image_path)
        for cand in (img.with_name(img.name + ".elf"), img.with_suffix(".elf")):
            if cand != img and cand.is_file():
                return cand
        elves = SymbolTable.find_all_beside(img)
        return elves[0] if len(elves) == 1 else None

    @staticmethod
    def find_all_beside(image_path) -> list[Path]:
        """Every *.elf file in the image's directory, sorted by name (deterministic)."""
        img = Path(image_path)
        folder = img.parent if img.parent != Path("") else Path(".")
        try:
            return sorted(c for c in folder.glob("*.elf") if c.is_file() and c != img)
        except OSError:
            return []

    def merge(self, other: "SymbolTable") -> "SymbolTable":
        """Add `other`'s functions to this table (in place; returns self).

        Where ranges overlap, this table's functions win: `other` only fills addresses this
        table does not cover.  Dense indexes (index_of) change: take them after the last merge.
        """
        mine = self.functions
        starts = [f.start for f in mine]
        added: list[Function] = []
        for f in other.functions:
            # cut f into the pieces not covered by any of our functions
            lo = f.start
            i = bisect.bisect_right(starts, lo) - 1
            if i >= 0 and mine[i].end > lo:
                lo = mine[i].end
            j = bisect.bisect_left(starts, lo)
            while lo < f.end:
                nxt = mine[j].start if j < len(mine) else f.end
                hi = min(nxt, f.end)
                if hi > lo:
                    added.append(Function(lo, hi, f.name))
                    break  # a function keeps only its first uncovered piece (its entry side)
                if j >= len(mine):
                    break
                lo = max(lo, mine[j].end)
                j += 1
        self.functions = sorted(mine + added)
        for name, addr in other._addresses.items():
            self._addresses.setdefault(name, addr)
        self.sources.extend(other.sources)
        self._reindex()
        return self

    def _reindex(self) -> None:
        self._starts = [f.start for f in self.functions]
        if not hasattr(self, "_dynamic"):
            self._dynamic: list[Function] = []   # added at run time (GDB JIT interface)
            self._dyn_starts: list[int] = []

    def add_dynamic(self, start: int, end: int, name: str) -> None:
        """A function that appeared at run time (code a guest JIT generated, emu/jitdebug.py).

        Kept apart from `functions` so the dense ids of the ELF's functions (the profiler's
        indices) never move; lookups, `format` and `address_of` see both.  A new function
        replaces any dynamic one it overlaps (the guest reused the memory)."""
        keep = [f for f in self._dynamic if f.end <= start or f.start >= end]
        self._dynamic = sorted(keep + [Function(start, end, name)])
        self._dyn_starts = [f.start for f in self._dynamic]
        self._addresses[name] = start

    def dynamic_at(self, addr: int) -> Function | None:
        i = bisect.bisect_right(self._dyn_starts, addr) - 1
        if i >= 0 and addr < self._dynamic[i].end:
            return self._dynamic[i]
        return None

    # -- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.functions)

    def index_of(self, addr: int) -> int:
        """Dense id (position in `functions`) of the function containing addr, or -1."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.functions[i].end:
            return i
        return -1

    def function_at(self, addr: int) -> Function | None:
        i = self.index_of(addr)
        return self.functions[i] if i >= 0 else self.dynamic_at(addr)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset into it) of the function containing addr, or None."""
        f = self.function_at(addr)
        if f is None:
            return None
        return f.name, addr - f.start

    def address_of(self, name: str) -> int:
        """Address of a symbol by name (functions, labels and aliases)."""
        try:
            return self._addresses[name]
        except KeyError:
            raise SymbolError(f"unknown symbol: {name!r}") from None

    def format(self, addr: int) -> str:
        """'name+0x1c', 'name' at the entry, or '0x00101234' outside every function."""
        hit = self.lookup(addr)
        if hit is None:
            return f"0x{addr:08x}"
        name, off = hit
        return f"{name}+0x{off:x}" if off else name


def _read_elf(elf: elf32.Elf, path: Path) -> tuple[list[_Candidate], dict[str, int]]:
    if elf.elfclass != 32 or elf.e_machine != elf32.EM_386:
        raise SymbolError(f"{path}: wrong architecture ({elf.elfclass}-bit "
                          f"{elf.machine_name}); expected a 32-bit i386 ELF")
    if elf.e_type == elf32.ET_REL:
        raise SymbolError(f"{path}: a relocatable object (.o) has no final addresses; "
                          "give the linked ELF")
    symtab = elf.section_by_name(".symtab")
    if symtab is None or symtab.type not in (elf32.SHT_SYMTAB, elf32.SHT_DYNSYM):
        raise SymbolError(f"{path}: no symbol table (stripped ELF?); "
                          "use the unstripped ELF the image was built from")
    sections = elf.sections()
    candidates: list[_Candidate] = []
    addresses: dict[str, int] = {}
    labels: list[tuple[str, _Candidate]] = []
    for sym in elf.symbols(symtab):
        name = sym.name
        stype = _TYPE_NAMES.get(sym.type)
        shndx = sym.shndx
        if not name or stype is None or shndx in elf32.SPECIAL_SHNDX:
            continue  # file/section symbols, undefined (SHN_UNDEF), absolute and common ones
        if name.startswith((".L", "$", "..@")):
            continue  # assembler-local temporaries and mapping symbols
        value = sym.value
        addresses.setdefault(name, value)
        if shndx >= len(sections):
            continue  # other reserved indexes (SHN_XINDEX, processor-specific) or out of range
        sec = sections[shndx]
        if not sec.flags & elf32.SHF_ALLOC:
            continue
        executable = bool(sec.flags & elf32.SHF_EXECINSTR)
        if stype != "STT_FUNC" and not executable:
            continue  # data objects are not functions
        cand = _Candidate(start=value, size=sym.size, name=name,
                          sec_start=sec.addr, sec_end=sec.addr + sec.size,
                          rank=(_TYPE_RANK[stype], _BIND_RANK.get(_BIND_NAMES.get(sym.bind), 3),
                                0 if sym.size else 1, name))
        if stype == "STT_NOTYPE":
            labels.append((name, cand))
        else:
            candidates.append(cand)
    # NASM writes local labels as "parent.local": they are loop heads inside `parent`, not
    # functions, so they must not split it.  Keep a dotted label only if its parent is unknown.
    known = {c.name for c in candidates} | {n for n, _ in labels}
    for name, cand in labels:
        parent = name.rpartition(".")[0]
        if parent and parent in known:
            continue
        candidates.append(cand)
    return candidates, addresses


def _disjoint(cands: list[_Candidate]) -> list[Function]:
    """Make [start, end) ranges sorted and non-overlapping.

    One symbol per address (the best-ranked alias); a zero-size symbol extends to the next
    symbol, clamped to its section; a sized one ends at start+size, cut at the next start.
    """
    best: dict[int, _Candidate] = {}
    for c in cands:
        if c.start not in best or c.rank < best[c.start].rank:
            best[c.start] = c
    ordered = [best[a] for a in sorted(best)]
    out: list[Function] = []
    for i, c in enumerate(ordered):
        nxt = ordered[i + 1].start if i + 1 < len(ordered) else None
        end = c.start + c.size if c.size else c.sec_end
        if nxt is not None:
            end = min(end, nxt)
        end = min(end, max(c.sec_end, c.start + c.size))
        if end > c.start:
            out.append(Function(c.start, end, c.name))
    return out
