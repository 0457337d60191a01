"""emu/elf32.py against pyelftools: the same SymbolTable on real ELFs, clear errors on bad ones.

emu/symbols.py read ELFs with pyelftools until issue 11 (its import cost 30-110 ms per run);
`_reference` below is that reader, kept here as the oracle.  pyelftools is a test dependency only.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bareflow.emu import elf32
from bareflow.emu.jitdebug import parse_symfile
from bareflow.emu.symbols import (_BIND_RANK, _TYPE_RANK, SymbolError, SymbolTable, _Candidate,
                                  _disjoint)

elftools = pytest.importorskip("elftools")
ROOT = Path(__file__).resolve().parents[2]
LLAMA_ELF = ROOT / "images" / "tinyllama_bare.elf"
TOOLS = ("clang", "ld.lld", "nasm", "llvm-strip")
need_tools = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="clang, ld.lld, nasm or llvm-strip missing")

C_SRC = r"""
int counter; int table[16];
__attribute__((noinline)) static int helper(int x) { return x * 3 + counter; }
__attribute__((noinline)) __attribute__((weak)) int compute(int n) {
    int s = 0; for (int i = 0; i < n; i++) s += helper(i); return s; }
extern int undefined_thing;
__attribute__((section(".text.boot"))) void kmain(void) { counter = compute(10); for (;;) {} }
"""
ASM_SRC = r"""
bits 32
section .text.entry progbits alloc exec
global _start
absval equ 0x1234
global absval
_start:
    mov esp, 0x90000
.hang:
    hlt
    jmp .hang
common shared_buf 64:4
"""


def _reference(path: Path) -> tuple[list[tuple[int, int, str]], dict[str, int]] | str:
    """The pyelftools reader emu/symbols.py used before issue 11 (candidates -> functions)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
    try:
        with path.open("rb") as fh:
            elf = ELFFile(fh)
            if elf.elfclass != 32 or elf["e_machine"] != "EM_386":
                return "wrong architecture"
            if elf["e_type"] == "ET_REL":
                return "relocatable"
            symtab = elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection):
                return "no symbol table"
            sections = [elf.get_section(i) for i in range(elf.num_sections())]
            cands, labels, addresses = [], [], {}
            for sym in symtab.iter_symbols():
                name, stype = sym.name, sym["st_info"]["type"]
                bind, shndx = sym["st_info"]["bind"], sym["st_shndx"]
                if not name or stype not in _TYPE_RANK or not isinstance(shndx, int):
                    continue
                if name.startswith((".L", "$", "..@")):
                    continue
                addresses.setdefault(name, sym["st_value"])
                if shndx >= len(sections):
                    continue
                sec = sections[shndx]
                if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC:
                    continue
                if stype != "STT_FUNC" and not sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                    continue
                c = _Candidate(sym["st_value"], sym["st_size"], name, sec["sh_addr"],
                               sec["sh_addr"] + sec["sh_size"],
                               (_TYPE_RANK[stype], _BIND_RANK.get(bind, 3),
                                0 if sym["st_size"] else 1, name))
                (labels if stype == "STT_NOTYPE" else cands).append((name, c))
            known = {n for n, _ in cands} | {n for n, _ in labels}
            out = [c for _, c in cands]
            out += [c for n, c in labels if not (n.rpartition(".")[0] in known and n.rpartition(".")[0])]
    except (ELFError, ValueError, KeyError, IndexError, AssertionError):
        return "damaged"
    functions = _disjoint(out)
    if not functions:
        return "no function"
    return [(f.start, f.end, f.name) for f in functions], addresses


def _new(path: Path):
    try:
        t = SymbolTable.from_elf(path)
    except SymbolError as err:
        assert "\n" not in str(err) and str(err).startswith(str(path))
        return str(err)
    return [(f.start, f.end, f.name) for f in t.functions], t._addresses


def _same(path: Path) -> None:
    ref, new = _reference(path), _new(path)
    if isinstance(ref, str) or isinstance(new, str):
        # both refuse the file (messages may word the damage differently), or both accept it
        assert isinstance(ref, str) and isinstance(new, str), (path, ref, new)
        if ref != "damaged":
            words = {"no symbol table": "no symbol table", "relocatable": "relocatable",
                     "wrong architecture": "wrong architecture", "no function": "no function"}
            assert words[ref] in new, (ref, new)
    else:
        assert ref == new


@pytest.fixture(scope="module")
def elves(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("elf32")
    (d / "k.c").write_text(C_SRC)
    (d / "e.asm").write_text(ASM_SRC)
    subprocess.run(["clang", "--target=i386-elf", "-ffreestanding", "-O1", "-g", "-c",
                    str(d / "k.c"), "-o", str(d / "k.o")], check=True, capture_output=True)
    subprocess.run(["nasm", "-f", "elf32", str(d / "e.asm"), "-o", str(d / "e.o")], check=True,
                   capture_output=True)
    subprocess.run(["ld.lld", "-m", "elf_i386", "-e", "_start", "--unresolved-symbols=ignore-all",
                    "-Ttext=0x100000", str(d / "e.o"), str(d / "k.o"), "-o", str(d / "k.elf")],
                   check=True, capture_output=True)
    subprocess.run(["llvm-strip", str(d / "k.elf"), "-o", str(d / "stripped.elf")], check=True)
    (d / "m.c").write_text("int main(void){return 0;}\n")
    subprocess.run(["clang", "-ffreestanding", "-nostdlib", "-c", str(d / "m.c"), "-o",
                    str(d / "m.o")], check=True, capture_output=True)
    subprocess.run(["ld.lld", "-e", "main", str(d / "m.o"), "-o", str(d / "x64.elf")], check=True)
    return {p.name: p for p in d.iterdir()}


@need_tools
def test_same_table_as_pyelftools_on_real_elves(elves):
    for name in ("k.elf", "k.o", "e.o", "stripped.elf", "x64.elf", "m.o"):
        _same(elves[name])
    assert isinstance(_new(elves["k.elf"]), tuple)
    funcs, addrs = _new(elves["k.elf"])
    assert {"_start", "kmain", "compute", "helper"} <= {n for _, _, n in funcs}
    assert "absval" not in addrs                     # SHN_ABS: not an address in a section
    assert "shared_buf" in addrs and "shared_buf" not in {n for _, _, n in funcs}   # .bss data
    assert "relocatable" in _new(elves["k.o"]) and "no symbol table" in _new(elves["stripped.elf"])
    assert "wrong architecture (64-bit EM_X86_64)" in _new(elves["x64.elf"])


@pytest.mark.skipif(not LLAMA_ELF.is_file(), reason="images/tinyllama_bare.elf not built")
def test_same_table_on_the_bundled_image_elf():
    _same(LLAMA_ELF)
    assert len(SymbolTable.from_elf(LLAMA_ELF)) > 100


@pytest.mark.skipif(not LLAMA_ELF.is_file(), reason="images/tinyllama_bare.elf not built")
def test_truncated_and_corrupted_files_fail_alike(tmp_path):
    src = LLAMA_ELF.read_bytes()
    rng = random.Random(11)
    shoff = int.from_bytes(src[32:36], "little")
    cases = [src[:n] for n in (4, 10, 30, 52, 1000, len(src) // 2, len(src) - 1)]
    for _ in range(60):
        b = bytearray(src)
        for _ in range(rng.randint(1, 3)):
            where = rng.choice([rng.randrange(52), shoff + rng.randrange(len(src) - shoff),
                                rng.randrange(len(src))])
            b[where] = rng.randrange(256)
        cases.append(bytes(b))
    for i, data in enumerate(cases):
        p = tmp_path / f"case{i}.elf"
        p.write_bytes(data)
        _same(p)
    p.write_bytes(src[:4])
    assert "truncated" in _new(p)


def test_not_elf_and_bad_header(tmp_path):
    p = tmp_path / "x.elf"
    p.write_bytes(b"MZ" + bytes(100))
    assert "not an ELF file" in _new(p)
    p.write_bytes(b"\x7fELF\x03\x01" + bytes(60))
    assert "invalid ELF class 3" in _new(p)
    with pytest.raises(elf32.ElfFormatError):
        elf32.Elf(b"\x7fELF\x01\x01")


@need_tools
def test_jit_symfile_parse_matches_pyelftools(elves):
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
    for name in ("k.elf", "k.o", "x64.elf"):
        data = elves[name].read_bytes()
        with elves[name].open("rb") as fh:
            ref = [(s.name, s["st_value"], s["st_size"])
                   for sec in ELFFile(fh).iter_sections() if isinstance(sec, SymbolTableSection)
                   for s in sec.iter_symbols()
                   if s["st_info"]["type"] == "STT_FUNC" and s.name and s["st_size"] > 0]
        assert parse_symfile(data) == ref and ref
    assert parse_symfile(b"junk") == [] and parse_symfile(elves["k.elf"].read_bytes()[:300]) == []


@pytest.mark.skipif(not LLAMA_ELF.is_file(), reason="images/tinyllama_bare.elf not built")
def test_reading_symbols_does_not_import_pyelftools():
    code = ("import sys; from bareflow.emu.symbols import SymbolTable; "
            f"SymbolTable.from_elf({str(LLAMA_ELF)!r}); "
            "from bareflow.emu.jitdebug import parse_symfile; "
            f"parse_symfile(open({str(LLAMA_ELF)!r}, 'rb').read()); "
            "print(any(m.startswith('elftools') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
