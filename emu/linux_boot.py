"""Linux bzImage loading through the x86 boot protocol, as QEMU's x86_load_linux + linuxboot
option ROM do (see emu/kernel_boot.py for the entry point and docs/cli.md for the flags).

Protocol >= 2.02 with LOADED_HIGH ("high and recent"): setup at 0x10000, command line at 0x20000,
protected-mode kernel at 0x100000.  Older kernels: setup at 0x90000, command line just below
0x9A000, the kernel at 0x10000 (zImage) or 0x100000.  QEMU writes into the setup header:
type_of_loader B0h, loadflags |= CAN_USE_HEAP, heap_end_ptr = cmdline - setup - 200h,
cmd_line_ptr (or the old 0xA33F magic + offset), vid_mode from "vga=", ramdisk_image/size.
The initrd goes at (initrd_max - size) & ~4095, where initrd_max is the header's
initrd_addr_max clamped below RAM minus QEMU's ACPI data area (0x20000 bytes, measured).
Entry (linuxboot.S): IF=0, DF=0, DS=ES=FS=GS=SS=setup segment, SP = cmdline - setup - 16, EAX = the new CS, EBX=ECX=EDX=EDI=EBP=0 (measured), CS:IP = (setup segment + 20h):0000.
"""
from __future__ import annotations

import struct
from typing import Any

from ..devices.base.errors import BadImage

ACPI_DATA_SIZE = 0x20000      # QEMU 7.2 pc machine: initrd_max stays below RAM - this


class LinuxImage:
    def __init__(self, kb: Any) -> None:
        d = kb.data
        self.kb = kb
        name = kb.name
        protocol = struct.unpack_from("<H", d, 0x206)[0]
        loadflags = d[0x211]
        if protocol < 0x200 or not loadflags & 0x01:
            real, prot = 0x90000, 0x10000
            cmdline_addr = 0x9A000 - (len(kb.cmdline) + 1)
        elif protocol < 0x202:
            real, prot = 0x90000, 0x100000
            cmdline_addr = 0x9A000 - (len(kb.cmdline) + 1)
        else:
            real, prot, cmdline_addr = 0x10000, 0x100000, 0x20000
        if protocol >= 0x20C and struct.unpack_from("<H", d, 0x236)[0] & 0x02:
            initrd_max = 0xFFFFFFFF
        elif protocol >= 0x203:
            initrd_max = struct.unpack_from("<I", d, 0x22C)[0]
        else:
            initrd_max = 0x37FFFFFF
        initrd_max = min(initrd_max, kb.memory_bytes - ACPI_DATA_SIZE - 1)
        setup_sects = d[0x1F1] or 4
        setup_size = (setup_sects + 1) * 512
        if setup_size > len(d):
            raise BadImage(f"--kernel {name}: Invalid kernel header (setup of {setup_size} bytes, file of {len(d)})")
        header = bytearray(d[:setup_size])
        if protocol >= 0x202:
            struct.pack_into("<I", header, 0x228, cmdline_addr)
        else:
            struct.pack_into("<HH", header, 0x20, 0xA33F, cmdline_addr - real)
        mode = _vga_mode(kb.cmdline)
        if mode is not None:
            struct.pack_into("<H", header, 0x1FA, mode)
        if protocol >= 0x200:
            header[0x210] = 0xB0
        if protocol >= 0x201:
            header[0x211] |= 0x80
            struct.pack_into("<H", header, 0x224, (cmdline_addr - real - 0x200) & 0xFFFF)
        self.initrd: tuple[int, bytes] | None = None
        if kb.initrd:
            try:
                with open(kb.initrd, "rb") as f:
                    rd = f.read()
            except OSError as exc:
                raise BadImage(f"--initrd {kb.initrd}: cannot be read ({exc.strerror or exc})") from None
            if len(rd) >= initrd_max:
                raise BadImage(f"--initrd {kb.initrd}: initrd is too large ({len(rd)} bytes, at most {initrd_max})")
            addr = (initrd_max - len(rd)) & ~4095
            struct.pack_into("<II", header, 0x218, addr, len(rd))
            self.initrd = (addr, rd)
        self.kernel = d[setup_size:]
        if prot + len(self.kernel) > kb.memory_bytes:
            raise BadImage(f"--kernel {name}: {len(self.kernel)} bytes do not fit in RAM at {prot:#x}")
        self.real, self.prot, self.cmdline_addr, self.setup = real, prot, cmdline_addr, bytes(header)

    def start(self, cpu: Any) -> None:
        cpu.write(self.real, self.setup)
        cpu.write(self.prot, self.kernel)
        cpu.write(self.cmdline_addr, self.kb.cmdline.encode() + b"\0")
        if self.initrd is not None:
            cpu.write(*self.initrd)
        seg = self.real >> 4
        sp = self.cmdline_addr - self.real - 16          # linuxboot_dma: SP = cmdline - setup - 16
        for reg in ("ebx", "ecx", "edx", "edi", "ebp", "esi"):
            cpu.set(reg, 0)
        cpu.set("eax", seg + 0x20)                        # linuxboot_dma leaves the CS value in EAX
        for s in ("ds", "es", "fs", "gs", "ss"):
            cpu.set(s, seg)
        cpu.set("esp", sp & 0xFFFF)
        cpu.set("eflags", 0x0002)
        cpu.set("cs", seg + 0x20)
        cpu.set("eip", 0)


def _vga_mode(cmdline: str) -> int | None:
    """QEMU's vga= handling: normal/ext/ask or a number (C strtol with base 0)."""
    i = cmdline.find("vga=")
    if i < 0:
        return None
    v = cmdline[i + 4:].split(" ", 1)[0]
    if v.startswith("normal"):
        return 0xFFFF
    if v.startswith("ext"):
        return 0xFFFE
    if v.startswith("ask"):
        return 0xFFFD
    try:
        return int(v, 0) & 0xFFFF
    except ValueError:
        return 0
