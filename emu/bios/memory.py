"""INT 11h, INT 12h and INT 15h (memory map, A20, waits, system services).

The memory map is SeaBIOS's on QEMU's pc machine, measured with a test image under
qemu-system-i386 for -m 8/16/32/64/128/512 (tests/images/bios_mem.asm):

    0x00000000  0x0009FC00  usable     conventional memory below the 1 KiB EBDA
    0x0009FC00  0x00000400  reserved   EBDA
    0x000F0000  0x00010000  reserved   BIOS ROM segment
    0x00100000  top-1M-128K usable     extended memory
    top-128K    0x00020000  reserved   SeaBIOS's high tables (ACPI, SMBIOS, ...)
    0xFFFC0000  0x00040000  reserved   the BIOS flash at the top of 4 GiB

`top` is the RAM size (below 4 GiB; QEMU splits larger RAM, which BareFlow does not model).
"""
from __future__ import annotations

import struct
from typing import Callable

from ...devices.base.clock import CPU_HZ
from . import cost
from .frame import BiosCpu, fail, linear, rd16, return_to, set_cf, success
from .rom import CONFIG_TABLE_OFF, EBDA_BASE, EBDA_SEG, R_HALT, ROM_SEG

E820_RAM, E820_RESERVED = 1, 2
SMAP = 0x534D4150
#: SeaBIOS keeps 128 KiB at the top of RAM for its tables on QEMU (measured, any -m).
HIGH_TABLES = 0x20000
ENOTSUP = 0x86         # "function not supported" (AH) for INT 15h


def e820_map(memory_bytes: int) -> list[tuple[int, int, int]]:
    """(base, length, type) entries in SeaBIOS's order."""
    top = memory_bytes
    return [
        (0, EBDA_BASE, E820_RAM),
        (EBDA_BASE, 0xA0000 - EBDA_BASE, E820_RESERVED),
        (0xF0000, 0x10000, E820_RESERVED),
        (0x100000, top - HIGH_TABLES - 0x100000, E820_RAM),
        (top - HIGH_TABLES, HIGH_TABLES, E820_RESERVED),
        (0xFFFC0000, 0x40000, E820_RESERVED),
    ]


class SystemServices:
    """INT 15h plus INT 11h / INT 12h (both just read the BDA, as SeaBIOS does)."""

    def __init__(self, memory_bytes: int, clock, a20_get: Callable[[], bool],
                 a20_set: Callable[[bool], None], bus=None) -> None:
        self.bus = bus
        self._apm_idle = False
        self.memory_bytes = memory_bytes
        self.e820 = e820_map(memory_bytes)
        #: RAM SeaBIOS reports to legacy calls (88h, E801h): usable RAM below the high tables.
        self.legacy_ram = memory_bytes - HIGH_TABLES
        self.clock = clock
        self.a20_get = a20_get
        self.a20_set = a20_set
        self._wait_until: int | None = None

    # INT 11h / 12h
    @staticmethod
    def int11(cpu: BiosCpu) -> int:
        cpu.set("ax", rd16(cpu, 0x410))
        return cost.SERVICE

    @staticmethod
    def int12(cpu: BiosCpu) -> int:
        cpu.set("ax", rd16(cpu, 0x413))
        set_cf(cpu, False)
        return cost.SERVICE

    # INT 15h
    def int15(self, cpu: BiosCpu) -> int | None:
        ah = cpu.get("ah")
        if ah == 0x24:
            return self._a20(cpu)
        if ah == 0x4F:              # keyboard intercept: "not handled, process the key"
            set_cf(cpu, True)
            return cost.SERVICE
        if ah == 0x52:              # removable media eject: nothing to do
            success(cpu)
            return cost.SERVICE
        if ah == 0x53:
            return self._apm(cpu)
        if ah == 0x86:
            return self._wait(cpu)
        if ah == 0x87:
            return self._block_move(cpu)
        if ah == 0x88:
            v = min(self.legacy_ram, 64 << 20)
            cpu.set("ax", (v - (1 << 20)) // 1024)
            set_cf(cpu, False)
            return cost.SERVICE
        if ah == 0xC0:
            cpu.set("es", ROM_SEG)
            cpu.set("bx", CONFIG_TABLE_OFF)
            success(cpu)
            return cost.SERVICE
        if ah == 0xC1:
            cpu.set("es", EBDA_SEG)
            set_cf(cpu, False)
            return cost.SERVICE
        if ah == 0xE8:
            al = cpu.get("al")
            if al == 0x01:
                return self._e801(cpu)
            if al == 0x20:
                return self._e820(cpu)
        fail(cpu, ENOTSUP)
        return cost.SERVICE

    def _apm(self, cpu: BiosCpu) -> int | None:
        """APM 1.2 real-mode interface as SeaBIOS answers it (src/apm.c).  Set Power State
        "off" (AX=5307h, BX=1, CX=3) writes SLP_EN to the ACPI PM1a control port 604h through
        the bus -- SeaBIOS's apm_shutdown -- which switches the machine off.  The protected-mode
        interfaces (5302h/5303h) are not offered: there is no BIOS code for a guest to call, so
        5300h reports CX=0 where SeaBIOS reports 3, and 5302h/5303h fail (06h/08h)."""
        al = cpu.get("al")
        if al == 0x00:
            cpu.set("ax", 0x0102)                  # APM 1.2
            cpu.set("bx", 0x504D)                  # "PM"
            cpu.set("cx", 0x0000)                  # (SeaBIOS: 3, 16/32-bit PM interfaces)
        elif al in (0x01, 0x04, 0x06, 0x08, 0x0F):
            pass                                   # connect, disconnect, busy, enable, engage
        elif al == 0x02:
            fail(cpu, 0x06)
            return cost.SERVICE
        elif al == 0x03:
            fail(cpu, 0x08)
            return cost.SERVICE
        elif al == 0x05:                           # CPU idle: wait for the next interrupt
            self._apm_idle = not self._apm_idle
            if self._apm_idle:
                return None
        elif al == 0x07:
            if cpu.get("bx") == 1 and cpu.get("cx") == 3:
                self.bus.io_write(0x604, 2, 0x2000)
                return_to(cpu, ROM_SEG, R_HALT)    # if nothing switched off: cli; hlt
                return cost.SERVICE
        elif al == 0x0A:
            cpu.set("bx", 0x01FF)                  # AC on line, battery status unknown
            cpu.set("cx", 0x80FF)                  # no system battery
            cpu.set("dx", 0xFFFF)
            cpu.set("si", 0)
        elif al == 0x0B:
            fail(cpu, 0x80)                        # no power-management event pending
            return cost.SERVICE
        elif al == 0x0E:
            cpu.set("ax", 0x0102)
        elif al == 0x10:
            cpu.set("bl", 0)
            cpu.set("cx", 0)
        else:
            set_cf(cpu, True)                      # unimplemented: CF=1, AX kept
            return cost.SERVICE
        set_cf(cpu, False)
        return cost.SERVICE

    def _a20(self, cpu: BiosCpu) -> int:
        al = cpu.get("al")
        if al == 0x00:
            self.a20_set(False)
            success(cpu)
        elif al == 0x01:
            self.a20_set(True)
            success(cpu)
        elif al == 0x02:
            cpu.set("al", 1 if self.a20_get() else 0)
            success(cpu)
        elif al == 0x03:
            cpu.set("bx", 0x0003)      # A20 via the keyboard controller and port 92h
            success(cpu)
        else:
            fail(cpu, ENOTSUP)
        return cost.SERVICE

    def _e801(self, cpu: BiosCpu) -> int:
        ram = self.legacy_ram
        if ram > 16 << 20:
            ax, bx = 15 * 1024, (ram - (16 << 20)) // 65536
        else:
            ax, bx = (ram - (1 << 20)) // 1024, 0
        cpu.set("ax", ax)
        cpu.set("bx", bx)
        cpu.set("cx", ax)
        cpu.set("dx", bx)
        set_cf(cpu, False)
        return cost.SERVICE

    def _e820(self, cpu: BiosCpu) -> int:
        idx = cpu.get("bx")            # SeaBIOS indexes with BX (the low half of EBX)
        if cpu.get("edx") != SMAP or idx >= len(self.e820):
            fail(cpu, ENOTSUP)
            return cost.SERVICE
        base, length, kind = self.e820[idx]
        cpu.write(linear(cpu.get("es"), cpu.get("di")), struct.pack("<QQI", base, length, kind))
        cpu.set("ebx", 0 if idx == len(self.e820) - 1 else idx + 1)
        cpu.set("eax", SMAP)
        cpu.set("ecx", 20)
        set_cf(cpu, False)
        return cost.SERVICE

    def _wait(self, cpu: BiosCpu) -> int | None:
        """AH=86h: wait CX:DX microseconds of emulated time, letting device events run.

        If another event (a timer tick) falls inside the wait, report "waiting" (None): the
        machine runs the clock to that event like `sti; hlt`, delivers the IRQ and calls
        again; the remaining time is then charged as this call's cycles.  CF=0, AH kept.
        """
        now = self.clock.now()
        if self._wait_until is None:
            us = (cpu.get("cx") << 16) | cpu.get("dx")
            self._wait_until = now + us * CPU_HZ // 1_000_000
        remaining = self._wait_until - now
        nxt = self.clock.next_deadline()
        if remaining > 0 and nxt is not None and nxt <= self._wait_until:
            return None
        self._wait_until = None
        set_cf(cpu, False)
        return cost.SERVICE + max(0, remaining)

    def _block_move(self, cpu: BiosCpu) -> int:
        """AH=87h: copy CX words between the GDT's source and destination descriptors."""
        gdt = linear(cpu.get("es"), cpu.get("si"))
        src_desc = cpu.read(gdt + 0x10, 8)
        dst_desc = cpu.read(gdt + 0x18, 8)

        def base(d: bytes) -> int:
            return d[2] | (d[3] << 8) | (d[4] << 16) | (d[7] << 24)

        n = cpu.get("cx") * 2
        src, dst = base(src_desc), base(dst_desc)
        # only RAM takes part (ROM/unmapped space above it reads as zeros, ignores writes)
        if n and dst < self.memory_bytes:
            data = cpu.read(src, max(0, min(n, self.memory_bytes - src))) if src < self.memory_bytes else b""
            data += bytes(n - len(data))
            cpu.write(dst, data[: self.memory_bytes - dst])
        success(cpu)
        return cost.SERVICE + cpu.get("cx") * cost.BLOCK_MOVE_WORD
