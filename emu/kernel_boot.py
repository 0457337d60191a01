"""`--kernel FILE [--append CMDLINE] [--initrd FILE]`: start a kernel without a boot loader, as
`qemu-system-i386 -kernel` does (QEMU hw/i386/x86.c x86_load_linux, hw/i386/multiboot.c and
the option ROMs multiboot.bin / linuxboot.bin that SeaBIOS runs as the first boot entry).

Multiboot (v1): the header is searched in the first 8 KiB; an ELF kernel is loaded by its
PT_LOAD segments (physical addresses), an "a.out kludge" kernel (header flag 16) by the header's
load/load_end/bss_end addresses.  The information structure is where QEMU puts it: the memory
map (from the E820 table INT 15h gives) at 0x9000, the 88-byte MBI at 0x9500, then in the page
after the kernel the module list, the module command lines, the kernel command line ("FILE
CMDLINE": QEMU prefixes the kernel's file name as given), the loader name "qemu", and the modules
(--initrd "file args,file2 ...", each page aligned).  Entry as QEMU's option ROM leaves it:
EAX=2BADB002h, EBX=MBI, CS=08h / DS=ES=FS=GS=SS=10h (flat), CR0=PE, IF=0, A20 on -- reached by
running a small real-mode trampoline at 0x8000 (lgdt, CR0.PE, far jump), like the ROM does.

Linux bzImage (boot protocol 2.00+, "HdrS"): the real-mode setup at 0x10000, the protected-mode
kernel at 0x100000, the command line at 0x20000, the initrd at the top of the memory the
protocol allows (page aligned), and the setup header fields QEMU fills (type_of_loader B0h,
loadflags CAN_USE_HEAP, heap_end_ptr, cmd_line_ptr, ramdisk_image/size, vid_mode); started in
real mode at 1020:0000 with DS=ES=FS=GS=SS=1000h and SP=FFF0h... as linuxboot does.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from ..devices.base.errors import BadImage

MB_MAGIC = 0x1BADB002
MB_BOOT_MAGIC = 0x2BADB002
ADDR_E820_MAP = 0x9000
ADDR_MBI = 0x9500
TRAMPOLINE = 0x8000
PAGE = 0x1000


def _align(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


class KernelBoot:
    """Prepared at machine construction (file errors are exit 64 before anything runs);
    `start(cpu)` is called by the BIOS in place of the boot-sector load."""

    def __init__(self, path: str | Path, cmdline: str, initrd: str | None, memory_bytes: int,
                 e820: list[tuple[int, int, int]]) -> None:
        self.name = str(path)
        self.cmdline = cmdline
        self.initrd = initrd
        self.memory_bytes = memory_bytes
        self.e820 = e820
        p = Path(path)
        if not p.is_file():
            raise BadImage(f"--kernel {path}: {'no such file' if not p.exists() else 'not a regular file'}")
        try:
            self.data = p.read_bytes()
        except OSError as exc:
            raise BadImage(f"--kernel {path}: cannot be read ({exc.strerror or exc})") from None
        self.kind = self._detect()
        if self.kind == "linux":
            from .linux_boot import LinuxImage
            self.linux = LinuxImage(self)
        else:
            self._plan_multiboot()

    def _detect(self) -> str:
        d = self.data
        if len(d) >= 0x206 and d[0x202:0x206] == b"HdrS":
            return "linux"
        for i in range(0, min(len(d), 8192) - 48 + 1, 4):
            magic, flags, checksum = struct.unpack_from("<III", d, i)
            if magic == MB_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
                self.mb_offset, self.mb_flags = i, flags
                return "multiboot"
        raise BadImage(f"--kernel {self.name}: neither a multiboot kernel (no valid header in its first 8 KiB) "
                       f"nor a Linux kernel (no 'HdrS' boot protocol header)")

    # ---- multiboot ---------------------------------------------------------------------------
    def _plan_multiboot(self) -> None:
        d, i, flags = self.data, self.mb_offset, self.mb_flags
        self.segments: list[tuple[int, bytes, int]] = []      # (address, bytes, memsz)
        if not flags & 0x10000:
            if d[:4] != b"\x7fELF":
                raise BadImage(f"--kernel {self.name}: multiboot header without load addresses (flag 16) "
                               "and not an ELF file")
            if d[4] != 1 or struct.unpack_from("<H", d, 18)[0] == 62:
                raise BadImage(f"--kernel {self.name}: Cannot load x86-64 image, give a 32bit one.")
            entry, phoff = struct.unpack_from("<II", d, 24)
            phentsize, phnum = struct.unpack_from("<HH", d, 42)
            lo, hi = None, 0
            for n in range(phnum):
                ptype, off, _vaddr, paddr, filesz, memsz = struct.unpack_from("<IIIIII", d, phoff + n * phentsize)
                if ptype != 1:
                    continue
                self.segments.append((paddr, d[off:off + filesz], memsz))
                lo = paddr if lo is None else min(lo, paddr)
                hi = max(hi, paddr + memsz)
            if lo is None:
                raise BadImage(f"--kernel {self.name}: the ELF file has no loadable segment")
            load_addr, kernel_size, self.entry = lo, hi - lo, entry
        else:
            header_addr, load_addr, load_end, bss_end, self.entry = struct.unpack_from("<5I", d, i + 12)
            if header_addr < load_addr:
                raise BadImage(f"--kernel {self.name}: invalid mh_load_addr address")
            text_off = i - (header_addr - load_addr)
            if load_end:
                if load_end < load_addr:
                    raise BadImage(f"--kernel {self.name}: invalid mh_load_end_addr address")
                load_size = load_end - load_addr
            else:
                load_size = len(d) - text_off
            kernel_size = (bss_end - load_addr) if bss_end else load_size
            if bss_end and bss_end < load_addr + load_size:
                raise BadImage(f"--kernel {self.name}: invalid mh_bss_end_addr address")
            self.segments.append((load_addr, d[text_off:text_off + load_size], kernel_size))
        self.load_addr = load_addr
        # the buffer after the kernel: module list, command lines, loader name, then modules
        mods = _split_initrd(self.initrd) if self.initrd else []
        offset_mbinfo = _align(kernel_size)
        cmdline_len = len(self.name) + 1 + len(self.cmdline) + 1 + (len(self.initrd) + 1 if self.initrd else 0)
        size = _align(offset_mbinfo + cmdline_len + 16 * len(mods) + len("qemu") + 1)
        offset_cmdlines = offset_mbinfo + 16 * len(mods)
        offset_loader = offset_cmdlines + cmdline_len
        blob = bytearray()              # everything from offset_mbinfo on, written at start()
        strings = bytearray()
        mod_entries = []
        mod_data: list[tuple[int, bytes]] = []
        for text in mods:
            c = load_addr + offset_cmdlines + len(strings)
            strings += text.encode() + b"\0"
            fname = text.split(" ", 1)[0]
            try:
                content = Path(fname).read_bytes()
            except OSError as exc:
                raise BadImage(f"--initrd {fname}: cannot be read ({exc.strerror or exc})") from None
            offs = size
            size = _align(len(content) + size)
            mod_entries.append(struct.pack("<IIII", load_addr + offs, load_addr + offs + len(content), c, 0))
            mod_data.append((load_addr + offs, content))
        kcmd = load_addr + offset_cmdlines + len(strings)
        strings += f"{self.name} {self.cmdline}".encode() + b"\0"
        blob += b"".join(mod_entries) + strings
        loader = load_addr + offset_loader
        self.mb_end = load_addr + size
        if self.mb_end > self.memory_bytes or load_addr < 0x100000 and load_addr + kernel_size > 0xA0000:
            raise BadImage(f"--kernel {self.name}: {load_addr:#x}..{self.mb_end:#x} does not fit in RAM")
        self.mb_blob = (load_addr + offset_mbinfo, bytes(blob), (loader, b"qemu\0"), mod_data)
        mbi = bytearray(88)
        struct.pack_into("<IIIIIII", mbi, 0, 0x24F, 0, 0, 0x8000FFFF, kcmd, len(mods), load_addr + offset_mbinfo)
        struct.pack_into("<I", mbi, 48, ADDR_E820_MAP)
        struct.pack_into("<I", mbi, 64, loader)
        # the option ROM fills the memory fields from INT 12h and the E820 map it reads
        mmap = b"".join(struct.pack("<IQQI", 20, base, length, typ) for base, length, typ in self.e820)
        upper = next((length for base, length, typ in self.e820 if base == 0x100000 and typ == 1), 0)
        struct.pack_into("<II", mbi, 4, 639, upper // 1024)
        struct.pack_into("<I", mbi, 44, len(mmap))
        self.mbi, self.mmap = bytes(mbi), mmap

    def start(self, cpu: Any, video: Any) -> None:
        """Load into RAM and point the CPU at the entry (from the BIOS, after POST)."""
        video.print_text(cpu, "Booting from ROM...\r\n")
        if self.kind == "linux":
            self.linux.start(cpu)
            return
        for addr, data, memsz in self.segments:
            cpu.write(addr, data)
            if memsz > len(data):
                cpu.write(addr + len(data), bytes(memsz - len(data)))
        base, blob, (loader, name), mods = self.mb_blob
        cpu.write(base, blob)
        cpu.write(loader, name)
        for addr, content in mods:
            cpu.write(addr, content)
        cpu.write(ADDR_E820_MAP, self.mmap)
        cpu.write(ADDR_MBI, self.mbi)
        cpu.write(TRAMPOLINE, _trampoline(self.entry, ADDR_MBI))
        for reg in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"):
            cpu.set(reg, 0)
        for seg in ("ds", "es", "fs", "gs", "ss"):
            cpu.set(seg, 0)
        cpu.set("esp", 0x6F04)
        cpu.set("eflags", 0x0002)
        cpu.set("cs", 0)
        cpu.set("eip", TRAMPOLINE)


def _split_initrd(text: str) -> list[str]:
    """QEMU's option-value splitting: ',' separates modules, ',,' is a literal comma."""
    out, cur, i = [], "", 0
    while i < len(text):
        if text[i] == ",":
            if text[i + 1:i + 2] == ",":
                cur += ","
                i += 2
                continue
            out.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    out.append(cur)
    return out


def _trampoline(entry: int, mbi: int) -> bytes:
    """Real mode -> flat protected mode -> the kernel, as QEMU's multiboot option ROM does."""
    gdt_at = TRAMPOLINE + 0x40
    gdtr_at = gdt_at + 24
    code16 = (b"\xFA"                                            # cli
              + b"\x0F\x01\x16" + struct.pack("<H", gdtr_at)     # lgdt [gdtr]
              + b"\x66\xB8\x01\x00\x00\x00"                      # mov eax, 1
              + b"\x0F\x22\xC0")                                 # mov cr0, eax
    pm32_at = TRAMPOLINE + len(code16) + 8
    code16 += b"\x66\xEA" + struct.pack("<IH", pm32_at, 0x08)    # jmp dword 08:pm32
    code32 = (b"\xB8\x10\x00\x00\x00"                            # mov eax, 10h
              + b"\x8E\xD0\x8E\xD8\x8E\xC0\x8E\xE0\x8E\xE8"      # mov ss/ds/es/fs/gs, ax
              + b"\xBB" + struct.pack("<I", mbi)                 # mov ebx, mbi
              + b"\xB9" + struct.pack("<I", entry)               # mov ecx, entry
              + b"\xB8" + struct.pack("<I", MB_BOOT_MAGIC)       # mov eax, 2BADB002h
              + b"\xFF\xE1")                                     # jmp ecx
    code = code16 + code32
    assert len(code) <= 0x40
    gdt = struct.pack("<QQQ", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
    gdtr = struct.pack("<HI", 23, gdt_at)
    return code.ljust(0x40, b"\x90") + gdt + gdtr
