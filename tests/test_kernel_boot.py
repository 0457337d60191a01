"""--kernel: multiboot kernels and Linux boot-protocol images started as `qemu-system-i386
-kernel` starts them.  tests/kernels/bz_probe.asm is a minimal "HdrS" image whose real-mode
setup prints the registers and the setup header fields the loader filled.

tests/kernels/mb_info.asm prints what the loader handed over (registers, every multiboot info
field, modules, the memory map).  It is built as an ELF kernel (nasm + ld.lld) and as an a.out
kludge kernel (flat binary with load addresses); the expected transcripts were recorded under
qemu-system-i386 7.2 with the same file names (QEMU puts the kernel's file name, as given, at
the start of the command line).  The QEMU tests keep them honest.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KDIR = HERE / "kernels"
EMU = [sys.executable, "-m", "bareflow.emu.cli", "run", "--no-stdin"]
QEMU = ["qemu-system-i386", "-m", "64", "-serial", "stdio", "-display", "none", "-no-reboot",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-monitor", "none", "-net", "none"]
needs_tools = pytest.mark.skipif(not (shutil.which("nasm") and shutil.which("ld.lld")), reason="no nasm/ld.lld")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")

#: name -> (kernel file, --append, --initrd)
CASES = {
    "mb_elf": ("mb_info.elf", "hello world", "mod1.txt arg1,mod1.txt"),
    "mb_elf_plain": ("mb_info.elf", "", None),
    "mb_aout": ("mb_aout.bin", "console=ttyS0", None),
    "bz_probe": ("bz_probe.bin", "console=ttyS0 vga=ext", "rd.bin"),
    "bz_probe_plain": ("bz_probe.bin", "", None),
    "bz_probe_vga": ("bz_probe.bin", "vga=0x317 quiet", None),
}


@pytest.fixture(scope="module")
def kdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("kernels")
    src = KDIR / "mb_info.asm"
    subprocess.run(["nasm", "-f", "elf32", str(src), "-o", str(d / "mb_info.o")], check=True)
    subprocess.run(["ld.lld", "-m", "elf_i386", "-Ttext=0x100000", "-e", "start", str(d / "mb_info.o"),
                    "-o", str(d / "mb_info.elf")], check=True)
    subprocess.run(["nasm", "-f", "bin", "-DAOUT", str(src), "-o", str(d / "mb_aout.bin")], check=True)
    (d / "mod1.txt").write_bytes(b"module one\n")
    subprocess.run(["nasm", "-f", "bin", str(KDIR / "bz_probe.asm"), "-o", str(d / "bz_probe.bin")], check=True)
    (d / "rd.bin").write_bytes(b"INITRD-CONTENTS!")
    return d


def _args(case: str, qemu: bool) -> list[str]:
    kernel, append, initrd = CASES[case]
    prefix = "-" if qemu else "--"
    out = [f"{prefix}kernel", kernel]
    if append:
        out += [f"{prefix}append", append]
    if initrd:
        out += [f"{prefix}initrd", initrd]
    return out


@needs_tools
@pytest.mark.parametrize("case", sorted(CASES))
def test_multiboot_ours(case: str, kdir: Path) -> None:
    p = subprocess.run([*EMU, *_args(case, False)], capture_output=True, timeout=60, cwd=kdir)
    assert p.returncode == 1, p.stderr
    assert p.stdout == (KDIR / f"{case}.expected").read_bytes()


@needs_tools
@needs_qemu
@pytest.mark.parametrize("case", sorted(CASES))
def test_multiboot_qemu(case: str, kdir: Path) -> None:
    p = subprocess.run([*QEMU, *_args(case, True)], capture_output=True, timeout=60, cwd=kdir,
                       stdin=subprocess.DEVNULL)
    assert p.stdout == (KDIR / f"{case}.expected").read_bytes()


@pytest.mark.parametrize("content, words", [
    (b"\0" * 9000, "neither a multiboot kernel"),
    (None, "no such file"),
])
def test_bad_kernels_are_exit_64(content: bytes | None, words: str, tmp_path: Path) -> None:
    k = tmp_path / "k.bin"
    if content is not None:
        k.write_bytes(content)
    p = subprocess.run([*EMU, "--kernel", str(k)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 64 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1
