"""A minimal PC around the BIOS for its own tests: Unicorn + the real device models.

Why not the full Machine?  The BIOS tests must pin the firmware's behaviour on its own
(registers, status codes, transcripts against QEMU) without the core's fast path, cost model
and profiler in the way.  This harness does only what the BIOS contract needs: real-mode IVT
delivery of `int n` (push FLAGS/CS/IP, clear IF/TF), the code hook on the stub range calling
`Bios.handle`, port I/O to the device bus, and -- when a service waits -- `sti; hlt`
semantics: run the clock to the next event and deliver the PIC's interrupt.
Also importable by other tests (`from test_bios_harness import MiniPC, FakeCpu`).
"""
from __future__ import annotations

import struct

import pytest
from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INTR, UC_MODE_32, Uc,
                     UcError)
from unicorn import x86_const as X

from bareflow.devices.ps2 import I8042
from bareflow.emu.bios.disk import Disk
from bareflow.emu.board import Board, NullHost
from bareflow.devices.base.clock import Clock
from bareflow.emu.cpu import Cpu

MIB = 1 << 20


class FakeCpu:
    """A BiosCpu over a dict of registers and 1 MiB (+64 KiB HMA) of bytes, for unit tests."""

    SUB = {"ax": ("eax", 0, 0xFFFF), "bx": ("ebx", 0, 0xFFFF), "cx": ("ecx", 0, 0xFFFF),
           "dx": ("edx", 0, 0xFFFF), "si": ("esi", 0, 0xFFFF), "di": ("edi", 0, 0xFFFF),
           "bp": ("ebp", 0, 0xFFFF), "sp": ("esp", 0, 0xFFFF), "ip": ("eip", 0, 0xFFFF),
           "flags": ("eflags", 0, 0xFFFF),
           "al": ("eax", 0, 0xFF), "ah": ("eax", 8, 0xFF), "bl": ("ebx", 0, 0xFF), "bh": ("ebx", 8, 0xFF),
           "cl": ("ecx", 0, 0xFF), "ch": ("ecx", 8, 0xFF), "dl": ("edx", 0, 0xFF), "dh": ("edx", 8, 0xFF)}

    def __init__(self) -> None:
        self.mem = bytearray(MIB + 0x10000)
        self.r = {k: 0 for k in ("eax", "ebx", "ecx", "edx", "esi", "edi", "esp", "ebp", "eip",
                                 "eflags", "cs", "ds", "es", "ss", "fs", "gs")}
        self.r["eflags"] = 0x0002

    def get(self, reg: str) -> int:
        if reg in self.SUB:
            full, shift, mask = self.SUB[reg]
            return (self.r[full] >> shift) & mask
        return self.r[reg]

    def set(self, reg: str, value: int) -> None:
        if reg in self.SUB:
            full, shift, mask = self.SUB[reg]
            self.r[full] = (self.r[full] & ~(mask << shift)) | ((value & mask) << shift)
        else:
            self.r[reg] = value & (0xFFFF if reg in ("cs", "ds", "es", "ss", "fs", "gs") else 0xFFFFFFFF)

    def read(self, addr: int, n: int) -> bytes:
        if addr + n > len(self.mem):
            return bytes(n)             # above 1 MiB: nothing is mapped in the fake
        return bytes(self.mem[addr:addr + n])

    def write(self, addr: int, data: bytes) -> None:
        if addr + len(data) <= len(self.mem):
            self.mem[addr:addr + len(data)] = data

    # -- test conveniences ------------------------------------------------------------------
    def frame(self, flags: int = 0x0202, ss: int = 0, sp: int = 0x7000) -> None:
        """Put an interrupt frame (IP, CS, FLAGS) on the stack as the machine would."""
        self.set("ss", ss)
        self.set("sp", sp)
        self.write((ss << 4) + sp, struct.pack("<HHH", 0x1234, 0x0000, flags))

    @property
    def out_flags(self) -> int:
        """The FLAGS the stub's iret will restore."""
        return struct.unpack_from("<H", self.mem, (self.get("ss") << 4) + self.get("sp") + 4)[0]

    @property
    def cf(self) -> int:
        return self.out_flags & 1

    @property
    def zf(self) -> int:
        return (self.out_flags >> 6) & 1


class HarnessHost(NullHost):
    """The board's host in these tests: no CPU core, but MiniPC stops on a power-off."""

    def __init__(self) -> None:
        super().__init__()
        self.on_exit = None

    def power_off(self, status: int) -> None:
        self.exit_status = status
        if self.on_exit:
            self.on_exit()


class Devices(Board):
    """The PC's real devices on their bus, wired by the machine's own board (emu/board.py),
    without a CPU; `exit_status`, `resets` and `serial` are what the devices asked for."""

    def __init__(self, clock: Clock, memory_mb: int = 64, disk=None, boot_drive: int = 0x80,
                 bios_trace=None) -> None:
        self.signals = HarnessHost()
        super().__init__(memory_mb, disk, boot_drive=boot_drive, clock=clock, host=self.signals,
                         bios_trace=bios_trace)

    @property
    def ps2(self) -> I8042:
        return self.kbd

    @property
    def serial(self) -> bytearray:
        return self.serial_out

    @property
    def exit_status(self) -> int | None:
        return self.signals.exit_status

    @property
    def resets(self) -> int:
        return len(self.signals.resets)


class MiniPC:
    """Boots an image with the BIOS on Unicorn; see the module docstring."""

    def __init__(self, image: bytes | Disk, memory_mb: int = 64, boot_drive: int = 0x80) -> None:
        self.cycles = 0
        self.clock = Clock(lambda: self.cycles)
        self.events: list[dict] = []
        self.disk = image if isinstance(image, Disk) else Disk(image)
        self.dev = Devices(self.clock, memory_mb, self.disk, boot_drive, bios_trace=self._trace)
        self.dev.signals.on_exit = self._stop
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.ctl_set_cpu_model(X.UC_CPU_X86_QEMU32)
        self.dev.attach(self.uc)        # RAM with the A20 gate's HMA window, as the machine maps it
        self.uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
        self.cpu = Cpu(self.uc)
        self.cpu.set("cr0", 0x10)
        self.bios = self.dev.bios
        self.waiting = False
        self.stopped = False
        self.error: str | None = None
        lo, hi = self.bios.stub_range
        self.uc.hook_add(UC_HOOK_INTR, self._on_intr)
        self.uc.hook_add(UC_HOOK_CODE, self._on_stub, None, lo, hi - 1)
        self.uc.hook_add(UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        self.uc.hook_add(UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)
        self.bios.install(self.cpu)
        self.bios.post()
        self.bios.boot(self.cpu)

    def _trace(self, kind: str, **fields) -> None:
        self.events.append({"kind": kind, **fields})

    def _stop(self) -> None:
        self.stopped = True
        self.uc.emu_stop()

    # -- hooks ------------------------------------------------------------------------------
    def deliver(self, vector: int, return_ip: int) -> None:
        cpu = self.cpu
        off, seg = struct.unpack("<HH", cpu.read(vector * 4, 4))
        sp = cpu.get("sp")
        base = cpu.get("ss") << 4
        for word in (cpu.get("flags"), cpu.get("cs"), return_ip):
            sp = (sp - 2) & 0xFFFF
            cpu.write(base + sp, struct.pack("<H", word))
        cpu.set("sp", sp)
        cpu.set("eflags", cpu.get("eflags") & ~0x300)
        cpu.set("cs", seg)
        cpu.set("eip", off)

    def _on_intr(self, uc, intno: int, _ud) -> None:
        if intno != 0x80000000 and 0 <= intno < 256:
            # `int n`: Unicorn reports it with EIP already past the instruction
            self.deliver(intno, self.cpu.get("ip"))
        else:
            self.error = f"exception {intno}"
            uc.emu_stop()

    def _on_stub(self, uc, address: int, size: int, _ud) -> None:
        vector = self.bios.vector_at(address)
        cost = self.bios.handle(vector, self.cpu)
        if cost is None:
            self.waiting = True
            uc.emu_stop()
            return
        self.cycles += cost

    def _on_in(self, uc, port: int, size: int, _ud) -> int:
        return self.dev.bus.io_read(port, size)

    def _on_out(self, uc, port: int, size: int, value: int, _ud) -> None:
        self.dev.bus.io_write(port, size, value)

    # -- running ----------------------------------------------------------------------------
    def run(self, max_slices: int = 10_000) -> bytes:
        """Run until debug exit, halt or an error; returns the COM1 bytes."""
        for _ in range(max_slices):
            if self.stopped or self.error:
                break
            self.waiting = False
            start = (self.cpu.get("cs") << 4) + self.cpu.get("ip")
            try:
                self.uc.emu_start(self.cpu.get("ip"), 1 << 40)
            except UcError as err:
                self.error = f"{err} at {start:#x}"
                break
            if self.stopped or self.error:
                break
            # a wait at a stub, or `hlt`: run time to the next event, deliver the interrupt
            if not self.waiting and (self.cpu.get("eflags") & 0x200) == 0:
                break                                   # hlt with interrupts off
            deadline = self.clock.next_deadline()
            if deadline is None and not self.dev.pic.intr_pending():
                self.error = "waiting with nothing scheduled"
                break
            if deadline is not None and deadline > self.cycles:
                self.cycles = deadline
            self.clock.run_due(self.cycles)
            if self.dev.pic.intr_pending():
                vector = self.dev.pic.acknowledge()
                self.deliver(vector, self.cpu.get("ip"))
        return bytes(self.dev.serial)

    def screen_row(self, row: int) -> str:
        data = self.cpu.read(0xB8000 + row * 160, 160)
        return bytes(data[0::2]).decode("latin-1")


def test_fake_cpu_views() -> None:
    cpu = FakeCpu()
    cpu.set("eax", 0x12345678)
    cpu.set("ah", 0xAB)
    assert cpu.get("ax") == 0xAB78 and cpu.get("al") == 0x78 and cpu.get("eax") == 0x1234AB78


def test_minipc_boots_a_boot_sector() -> None:
    sector = bytearray(512)
    # mov al, 'B'; out 0xE9... we only need COM1: mov dx,3F8h; mov al,'B'; out dx,al; out F4h,al
    code = bytes([0xBA, 0xF8, 0x03, 0xB0, 0x42, 0xEE, 0xE6, 0xF4, 0xF4])
    sector[:len(code)] = code
    sector[510:] = b"\x55\xAA"
    pc = MiniPC(bytes(sector))
    assert pc.run() == b"B"
    assert pc.dev.exit_status == (0x42 << 1) | 1
    assert pc.screen_row(7).startswith("Booting from Hard Disk...")


if __name__ == "__main__":
    pytest.main([__file__])
