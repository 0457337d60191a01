"""Loading the boot sector and handing over to it the way SeaBIOS does (POST end, INT 19h).

SeaBIOS's call_boot_entry jumps to 0000:7C00 with AX=AA55h, DL=boot drive, every other
general register and DS/ES/FS/GS/SS zero, FLAGS=0202h (IF set), and SS:SP=0000:6F04 (its own
stack, a far return frame on top) -- read back from a boot sector under QEMU.
"""
from __future__ import annotations

from ...devices.base.errors import BadImage
from .disk import Disk
from .frame import BiosCpu
from .rom import BOOT_SP

BOOT_ADDR = 0x7C00


class BootError(BadImage):
    """The image cannot be booted (too short, no 0x55AA signature).  One-line message."""


def check_bootable(disk: Disk) -> bytes:
    """Sector 0 of a bootable image, or BootError saying why it is not one."""
    where = f"disk image {disk.path}" if disk.path else "disk image"
    if disk.size_bytes < 512:
        raise BootError(f"{where} is {disk.size_bytes} bytes: a boot sector needs 512")
    sector = disk.read(0, 1)
    if sector[510:512] != b"\x55\xAA":
        raise BootError(f"{where} is not bootable: sector 0 ends in "
                        f"{sector[510]:02X} {sector[511]:02X}, not the boot signature 55 AA")
    return sector


def hand_over(cpu: BiosCpu, drive: int) -> None:
    """Registers exactly as SeaBIOS leaves them when it jumps to the boot sector."""
    for reg in ("ebx", "ecx", "esi", "edi", "ebp"):
        cpu.set(reg, 0)
    cpu.set("eax", 0xAA55)
    cpu.set("edx", drive & 0xFF)
    for seg in ("ds", "es", "fs", "gs", "ss"):
        cpu.set(seg, 0)
    cpu.set("esp", BOOT_SP)
    cpu.set("eflags", 0x0202)
    cpu.set("cs", 0)
    cpu.set("eip", BOOT_ADDR)
