"""The BIOS32 directory, the PCI BIOS code and the $PIR table (emu/bios/pcibios.py).

The header and the table are compared with the bytes SeaBIOS 1.16.2 leaves in the F segment
under `qemu-system-i386 -m 64 -net none` (read with the monitor's pmemsave); what the code
does is compared with SeaBIOS by tests/images/kern_pcibios.asm (tests/devices/
test_kernels_apic_pci.py), which prints every register after every call under both.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bareflow.emu.bios import pcibios

ASM = Path(pcibios.__file__).with_name("pcibios32.asm")
#: F6040h and F5C80h under QEMU 7.2
QEMU_BIOS32 = bytes.fromhex("5f33325f6cd20f0000018f0000000000")
QEMU_PIR = bytes.fromhex(
    "2450495200018000000800008680 2e12 000000000000000000000000000000 37"
    "000860f8de61f8de62f8de63f8de0000 001061f8de62f8de63f8de60f8de0100"
    "001862f8de63f8de60f8de61f8de0200 002063f8de60f8de61f8de62f8de0300"
    "002860f8de61f8de62f8de63f8de0400 003061f8de62f8de63f8de60f8de0500".replace(" ", ""))


def test_bios32_header_is_seabios() -> None:
    assert pcibios.bios32_header() == QEMU_BIOS32
    assert sum(QEMU_BIOS32) & 0xFF == 0


def test_pir_table_is_seabios() -> None:
    assert pcibios.pir_table() == QEMU_PIR


def test_entry_points_are_where_the_header_says() -> None:
    # the BIOS32 entry is inside the blob, at the offset SeaBIOS uses
    off = pcibios.BIOS32_ENTRY - pcibios.PCIBIOS_AT
    assert pcibios.CODE[off:off + 5] == b"\x3d$PCI"        # cmp eax, "$PCI"


@pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
def test_code_bytes_are_the_assembled_source(tmp_path: Path) -> None:
    out = tmp_path / "pcibios32.bin"
    subprocess.run(["nasm", "-f", "bin", "-o", str(out), str(ASM)], check=True)
    assert out.read_bytes() == pcibios.CODE


def test_install_writes_the_f_segment() -> None:
    ram = bytearray(0x100000)
    pcibios.install(ram)
    assert ram[pcibios.BIOS32_AT:pcibios.BIOS32_AT + 16] == QEMU_BIOS32
    assert ram[pcibios.PIR_AT:pcibios.PIR_AT + len(QEMU_PIR)] == QEMU_PIR
    assert ram[pcibios.PCIBIOS_AT:pcibios.PCIBIOS_AT + len(pcibios.CODE)] == pcibios.CODE
