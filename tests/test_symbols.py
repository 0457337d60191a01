"""ELF symbol tables: built from real ELFs made with clang/ld.lld and nasm in a temp dir."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bareflow.emu.symbols import Function, SymbolError, SymbolTable

TOOLS = ("clang", "ld.lld", "nasm", "llvm-strip")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="clang, ld.lld, nasm or llvm-strip missing")

KERNEL_C = r"""
int counter;
int table[16];
__attribute__((noinline)) static int helper(int x) { return x * 3 + counter; }
__attribute__((noinline)) int compute(int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += helper(i);
    return s;
}
__attribute__((section(".text.boot"))) void kmain(void) {
    counter = compute(10);
    for (;;) __asm__ volatile("hlt");
}
"""

ENTRY_S = r"""
bits 32
section .text.entry progbits alloc exec
global _start
extern kmain
_start:
    mov esp, 0x90000
    call kmain
.hang:
    hlt
    jmp .hang
"""

STAGE2_ASM = r"""
bits 16
section .text
global stage2
stage2:
    cli
    xor ax, ax
.wait:
    in al, 0x64
    test al, 2
    jnz .wait
pm_entry:
    mov eax, cr0
    or al, 1
    mov cr0, eax
    ret
"""


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def elves(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("elf")
    (d / "k.c").write_text(KERNEL_C)
    (d / "entry.asm").write_text(ENTRY_S)
    (d / "stage2.asm").write_text(STAGE2_ASM)
    run("clang", "-m32", "-ffreestanding", "-nostdlib", "-O1", "-fno-pic", "-c",
        str(d / "k.c"), "-o", str(d / "k.o"))
    run("nasm", "-f", "elf32", str(d / "entry.asm"), "-o", str(d / "entry.o"))
    (d / "k.ld").write_text(
        "ENTRY(_start)\nSECTIONS {\n"
        "  . = 0x100000;\n  .text.entry : { *(.text.entry) }\n"
        "  . = 0x100400;\n  .text.boot : { *(.text.boot) }\n"
        "  .text : { *(.text*) }\n  .bss : { *(.bss*) *(COMMON) }\n}\n")
    run("ld.lld", "-m", "elf_i386", "-T", str(d / "k.ld"), str(d / "entry.o"), str(d / "k.o"),
        "-o", str(d / "kernel.elf"))
    run("llvm-strip", str(d / "kernel.elf"), "-o", str(d / "stripped.elf"))
    run("nasm", "-f", "elf32", str(d / "stage2.asm"), "-o", str(d / "stage2.o"))
    run("ld.lld", "-m", "elf_i386", "-Ttext=0x7e00", "-e", "stage2", str(d / "stage2.o"),
        "-o", str(d / "stage2.elf"))
    (d / "notelf.bin").write_bytes(b"\x55\xaa" * 300)
    return {p.name: p for p in d.iterdir()}


def nm(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) from llvm-nm, the independent reference."""
    out = subprocess.run(["llvm-nm", "-S", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        elif len(parts) == 3:
            syms[parts[2]] = (int(parts[0], 16), 0)
    return syms


def test_functions_from_several_sections(elves):
    t = SymbolTable.from_elf(elves["kernel.elf"])
    ref = nm(elves["kernel.elf"])
    names = [f.name for f in t.functions]
    assert {"_start", "kmain", "compute", "helper"} <= set(names)
    assert "counter" not in names and "table" not in names     # data objects are not code
    assert "_start.hang" not in names                           # nasm local label folded
    # sorted and non-overlapping
    assert t.functions == sorted(t.functions)
    for a, b in zip(t.functions, t.functions[1:]):
        assert a.end <= b.start
    # sized C functions keep their exact size
    compute = next(f for f in t.functions if f.name == "compute")
    assert (compute.start, compute.end - compute.start) == ref["compute"]
    # _start (an asm label, size 0) extends to the end of its section .text.entry
    start = next(f for f in t.functions if f.name == "_start")
    assert start.start == 0x100000 and start.end <= 0x100400
    kmain = next(f for f in t.functions if f.name == "kmain")
    assert kmain.start == 0x100400 == ref["kmain"][0]


def test_lookup_index_address_format(elves):
    t = SymbolTable.from_elf(elves["kernel.elf"])
    ref = nm(elves["kernel.elf"])
    c_addr, c_size = ref["compute"]
    assert t.lookup(c_addr) == ("compute", 0)
    assert t.lookup(c_addr + c_size - 1) == ("compute", c_size - 1)
    assert t.format(c_addr + 0x1C) == "compute+0x1c"
    assert t.format(c_addr) == "compute"
    assert t.address_of("compute") == c_addr
    assert t.address_of("counter") == ref["counter"][0]         # data names resolve too
    assert t.address_of("_start.hang") == ref["_start.hang"][0]
    i = t.index_of(c_addr + 3)
    assert t.functions[i].name == "compute"
    assert t.index_of(0x50) == -1 and t.lookup(0x50) is None
    assert t.format(0x00101234 + 0x10000000) == "0x10101234"
    assert t.format(0x50) == "0x00000050"
    # ids are dense 0..n-1 in address order
    assert [t.index_of(f.start) for f in t.functions] == list(range(len(t)))
    with pytest.raises(SymbolError, match="unknown symbol: 'nosuch'"):
        t.address_of("nosuch")


def test_sixteen_bit_stage2_labels_and_merge(elves):
    s2 = SymbolTable.from_elf(elves["stage2.elf"])
    assert [f.name for f in s2.functions] == ["stage2", "pm_entry"]
    assert s2.functions[0].start == 0x7E00
    assert s2.functions[0].end == s2.functions[1].start
    assert s2.format(0x7E01) == "stage2+0x1"
    kernel = SymbolTable.from_elf(elves["kernel.elf"])
    n = len(kernel)
    merged = kernel.merge(s2)
    assert merged is kernel and len(kernel) == n + 2
    assert kernel.lookup(0x7E00) == ("stage2", 0)
    assert kernel.functions[0].name == "stage2"                  # re-sorted, ids re-dense
    assert kernel.format(kernel.address_of("compute") + 1) == "compute+0x1"
    assert kernel.sources == [str(elves["kernel.elf"]), str(elves["stage2.elf"])]


def test_bias_relocates_code_linked_at_zero(elves):
    s2 = SymbolTable.from_elf(elves["stage2.elf"], bias=0x1000)
    assert s2.lookup(0x8E00) == ("stage2", 0)
    assert s2.address_of("pm_entry") == SymbolTable.from_elf(elves["stage2.elf"]).address_of(
        "pm_entry") + 0x1000


def test_symbol_error_is_a_bad_argument():
    from bareflow.devices.base.errors import BadArgument

    assert issubclass(SymbolError, BadArgument) and SymbolError("x").exit_code == 64


def test_merge_keeps_the_first_table_on_overlap():
    a = SymbolTable([Function(0x100, 0x200, "a")])
    b = SymbolTable([Function(0x80, 0x180, "b_head"), Function(0x180, 0x300, "b_tail"),
                     Function(0x400, 0x500, "c")])
    a.merge(b)
    assert [(f.start, f.end, f.name) for f in a.functions] == [
        (0x80, 0x100, "b_head"), (0x100, 0x200, "a"), (0x200, 0x300, "b_tail"),
        (0x400, 0x500, "c")]


def test_stripped_elf(elves):
    with pytest.raises(SymbolError, match="no symbol table") as err:
        SymbolTable.from_elf(elves["stripped.elf"])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name,pattern", [
    ("notelf.bin", "not an ELF file"),
    ("k.c", "not an ELF file"),
    ("k.o", "relocatable object"),
    ("missing.elf", "not found"),
])
def test_bad_files(elves, tmp_path, name, pattern):
    path = elves.get(name, tmp_path / "missing.elf")
    with pytest.raises(SymbolError, match=pattern) as err:
        SymbolTable.from_elf(path)
    assert "\n" not in str(err.value)


def test_directory_and_wrong_arch_and_damaged(tmp_path, elves):
    with pytest.raises(SymbolError, match="not a regular file"):
        SymbolTable.from_elf(tmp_path)
    x64 = tmp_path / "x64.elf"
    (tmp_path / "m.c").write_text("int main(void){return 0;}\n")
    run("clang", "-ffreestanding", "-nostdlib", "-c", str(tmp_path / "m.c"), "-o",
        str(tmp_path / "m.o"))
    run("ld.lld", "-e", "main", str(tmp_path / "m.o"), "-o", str(x64))
    with pytest.raises(SymbolError, match="wrong architecture"):
        SymbolTable.from_elf(x64)
    broken = tmp_path / "broken.elf"
    broken.write_bytes(elves["kernel.elf"].read_bytes()[:200])
    with pytest.raises(SymbolError) as err:
        SymbolTable.from_elf(broken)
    assert "\n" not in str(err.value)


def test_find_beside(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    img = images / "fluid_llama.img"
    img.write_bytes(b"\0" * 512)
    assert SymbolTable.find_beside(img) is None
    (images / "tinyllama_bare.elf").write_bytes(b"\x7fELF")
    assert SymbolTable.find_beside(img) == images / "tinyllama_bare.elf"
    (images / "stage2.elf").write_bytes(b"\x7fELF")
    assert SymbolTable.find_beside(img) is None                  # ambiguous
    assert SymbolTable.find_all_beside(img) == [images / "stage2.elf",
                                                images / "tinyllama_bare.elf"]
    (images / "fluid_llama.elf").write_bytes(b"\x7fELF")
    assert SymbolTable.find_beside(img) == images / "fluid_llama.elf"
    (images / "fluid_llama.img.elf").write_bytes(b"\x7fELF")
    assert SymbolTable.find_beside(img) == images / "fluid_llama.img.elf"
