"""A small struct-based ELF reader: the header, section headers and symbol tables.

Why not pyelftools: BareFlow reads the symbols of the image's ELF on every run that finds one
beside the image (the profiler, traces, the JIT interface).  Importing pyelftools costs 30-110 ms
(construct, dwarf, ...) - a tenth of a short batch run's CPU time - for the few hundred bytes of
format this needs.  This module reads exactly what emu/symbols.py and emu/jitdebug.py use:

* the ELF header (class, data encoding, e_type, e_machine, section header table);
* the section headers (name, type, flags, address, size, link, entry size);
* SHT_SYMTAB / SHT_DYNSYM entries with their names from the linked string table.

The whole file is read into memory (symbol files are at most a few MB) and every offset is
bounds-checked: a damaged or truncated file raises ElfFormatError with one line saying what is
wrong, never a struct.error or IndexError.  32-bit and 64-bit, little- and big-endian headers are
understood so a wrong-architecture file is reported as such rather than as "damaged".
"""
from __future__ import annotations

import struct
from typing import NamedTuple

# e_type
ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
# e_machine (the names used in messages; others print as EM_<number>)
EM_NAMES = {0: "EM_NONE", 3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64",
            40: "EM_ARM", 62: "EM_X86_64", 183: "EM_AARCH64", 243: "EM_RISCV"}
EM_386 = 3
# sh_type
SHT_SYMTAB, SHT_STRTAB, SHT_DYNSYM = 2, 3, 11
# sh_flags
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
# st_shndx special values
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
SPECIAL_SHNDX = {SHN_UNDEF: "SHN_UNDEF", SHN_ABS: "SHN_ABS", SHN_COMMON: "SHN_COMMON"}
# st_info type / bind
STT_NOTYPE, STT_OBJECT, STT_FUNC = 0, 1, 2
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2


# Section and Symbol are NamedTuples rather than dataclasses: ~2 ms less each to import.


class ElfFormatError(ValueError):
    """The bytes are not a well-formed ELF file; `str(err)` is one line."""


class Section(NamedTuple):
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class Symbol(NamedTuple):
    name: str
    value: int
    size: int
    type: int          # STT_*
    bind: int          # STB_*
    shndx: int         # a section index or SHN_UNDEF / SHN_ABS / SHN_COMMON / other reserved


class Elf:
    """One ELF file held in memory; see the module docstring."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        if data[:4] != b"\x7fELF":
            raise ElfFormatError("not an ELF file (no \\x7fELF magic)")
        if len(data) < 16:
            raise ElfFormatError(f"truncated file: {len(data)} bytes, the ELF identification "
                                 "needs 16")
        ei_class, ei_data = data[4], data[5]
        if ei_class not in (1, 2):
            raise ElfFormatError(f"invalid ELF class {ei_class}")
        if ei_data not in (1, 2):
            raise ElfFormatError(f"invalid ELF data encoding {ei_data}")
        self.elfclass = 32 if ei_class == 1 else 64
        self._end = "<" if ei_data == 1 else ">"
        if self.elfclass == 32:
            hdr = self._unpack("HHIIIIIHHHHHH", 16, "ELF header")
            (self.e_type, self.e_machine, _ver, self.e_entry, _phoff, self.e_shoff, _flags,
             _ehsize, _phentsize, _phnum, shentsize, shnum, shstrndx) = hdr
        else:
            hdr = self._unpack("HHIQQQIHHHHHH", 16, "ELF header")
            (self.e_type, self.e_machine, _ver, self.e_entry, _phoff, self.e_shoff, _flags,
             _ehsize, _phentsize, _phnum, shentsize, shnum, shstrndx) = hdr
        self._shentsize, self._shnum, self._shstrndx = shentsize, shnum, shstrndx
        self._sections: list[Section] | None = None

    @property
    def machine_name(self) -> str:
        return EM_NAMES.get(self.e_machine, f"EM_{self.e_machine}")

    def _unpack(self, fmt: str, offset: int, what: str) -> tuple:
        fmt = self._end + fmt
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise ElfFormatError(f"truncated file: {what} at offset {offset:#x} "
                                 f"needs {size} bytes, the file has {len(self.data)}")
        return struct.unpack_from(fmt, self.data, offset)

    def cstring(self, offset: int) -> str:
        """The NUL-terminated string at a file offset (to the end of file if unterminated).

        An offset past the end gives "" (as pyelftools did): a damaged name, not a damaged file.
        """
        if offset < 0 or offset >= len(self.data):
            return ""
        nul = self.data.find(b"\0", offset)
        raw = self.data[offset:] if nul < 0 else self.data[offset:nul]
        return raw.decode("utf-8", errors="replace")

    # -- sections ---------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = self._read_sections()
        return self._sections

    def _read_sections(self) -> list[Section]:
        if self.e_shoff == 0:
            return []
        want = 40 if self.elfclass == 32 else 64
        if self._shentsize < want:
            raise ElfFormatError(f"section header entry size {self._shentsize} is below {want}")
        fmt = "IIIIIIIIII" if self.elfclass == 32 else "IIQQQQIIQQ"
        shnum = self._shnum
        if shnum == 0:   # more than 0xff00 sections: the count is in section 0's sh_size
            shnum = self._unpack(fmt, self.e_shoff, "section header 0")[5]
        if self.e_shoff + shnum * self._shentsize > len(self.data):
            raise ElfFormatError(f"truncated file: {shnum} section headers at {self.e_shoff:#x} "
                                 f"end past the file's {len(self.data)} bytes")
        raw = []
        for i in range(shnum):
            (name, stype, flags, addr, off, size, link, _info, _align, entsize) = self._unpack(
                fmt, self.e_shoff + i * self._shentsize, f"section header {i}")
            raw.append((name, stype, flags, addr, off, size, link, entsize))
        strndx = self._shstrndx
        if strndx == 0xFFFF and raw:          # SHN_XINDEX: the index is in section 0's sh_link
            strndx = raw[0][6]
        names_off = None
        if 0 < strndx < len(raw):
            names_off = raw[strndx][4]
        out = []
        for i, (name, stype, flags, addr, off, size, link, entsize) in enumerate(raw):
            sec_name = self.cstring(names_off + name) if names_off is not None else ""
            out.append(Section(i, sec_name, stype, flags, addr, off, size, link, entsize))
        return out

    def section_by_name(self, name: str) -> Section | None:
        for sec in self.sections():
            if sec.name == name:
                return sec
        return None

    # -- symbols ----------------------------------------------------------------------------
    def symbols(self, symtab: Section) -> list[Symbol]:
        """Every entry of a SHT_SYMTAB/SHT_DYNSYM section, names from its linked string table."""
        if symtab.type not in (SHT_SYMTAB, SHT_DYNSYM):
            raise ElfFormatError(f"section {symtab.name!r} is not a symbol table")
        if symtab.entsize <= 0:
            raise ElfFormatError(f"symbol table {symtab.name!r} has entry size 0")
        if symtab.size % symtab.entsize:
            raise ElfFormatError(f"symbol table {symtab.name!r}: size {symtab.size} is not a "
                                 f"multiple of its entry size {symtab.entsize}")
        secs = self.sections()
        if not 0 <= symtab.link < len(secs) or secs[symtab.link].type != SHT_STRTAB:
            raise ElfFormatError(f"symbol table {symtab.name!r} links to section {symtab.link}, "
                                 "which is not a string table")
        str_off = secs[symtab.link].offset
        count = symtab.size // symtab.entsize
        if symtab.offset + symtab.size > len(self.data):
            raise ElfFormatError(f"truncated file: symbol table {symtab.name!r} ends past the "
                                 f"file's {len(self.data)} bytes")
        is32 = self.elfclass == 32
        fmt = self._end + ("IIIBBH" if is32 else "IBBHQQ")
        need = struct.calcsize(fmt)
        if symtab.entsize < need:
            raise ElfFormatError(f"symbol table {symtab.name!r}: entry size {symtab.entsize} "
                                 f"is below {need}")
        out = []
        data = self.data
        for n in range(count):
            at = symtab.offset + n * symtab.entsize
            if is32:
                st_name, value, size, info, _other, shndx = struct.unpack_from(fmt, data, at)
            else:
                st_name, info, _other, shndx, value, size = struct.unpack_from(fmt, data, at)
            name = self.cstring(str_off + st_name) if st_name else ""
            out.append(Symbol(name, value, size, info & 0xF, info >> 4, shndx))
        return out

    def symbol_tables(self) -> list[Section]:
        return [s for s in self.sections() if s.type in (SHT_SYMTAB, SHT_DYNSYM)]
