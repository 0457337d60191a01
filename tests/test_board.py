"""The board without a CPU (emu/board.py), its MMIO mechanism, the input door and the fast
path's layout check."""
from __future__ import annotations

import ctypes
import struct
import threading

import pytest
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn import x86_const as X

from bareflow.devices.base.errors import BareflowError
from bareflow.emu.board import Board, NullHost
from bareflow.emu.fastpath import _Header, _load, check_layout


class Scratch:
    """A tiny MMIO device: four 32-bit registers; reads of register 3 count themselves."""

    def __init__(self) -> None:
        self.regs = [0, 0, 0, 0]
        self.log: list[tuple[str, int, int, int]] = []

    def mmio_read(self, offset: int, size: int) -> int:
        self.log.append(("r", offset, size, 0))
        if offset == 12:
            self.regs[3] += 1
        return self.regs[offset // 4 % 4] >> (8 * (offset % 4)) & ((1 << (8 * size)) - 1)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        self.log.append(("w", offset, size, value))
        self.regs[offset // 4 % 4] = value


def test_board_builds_without_a_cpu_and_devices_work() -> None:
    board = Board(4)
    assert isinstance(board.host, NullHost)
    assert set(board.devices) >= {"pic", "pit", "uart", "ps2", "vga", "a20", "debug_exit", "cmos", "power"}
    board.bus.io_write(0xF4, 1, 0x21)                 # isa-debug-exit
    assert board.host.exit_status == (0x21 << 1) | 1       # as QEMU computes it
    board.bus.io_write(0x92, 1, 0x01)                 # port 0x92 bit 0: reset
    assert board.host.resets == ["port 0x92 bit 0"]
    board.bus.io_write(0x3F8, 1, ord("A"))            # COM1 THR
    assert board.serial_out == b"A"


def test_a20_gate_on_the_board_alone() -> None:
    board = Board(4)
    board.ram[0x1234] = 0x5A
    board.set_a20(False)
    assert board.read_phys(0x101234, 1) == b"\x5a"    # the 8086 wrap
    board.set_a20(True)
    assert board.read_phys(0x101234, 1) == b"\x00"


def test_adding_a_device_is_one_line_and_ports_are_checked() -> None:
    board = Board(4)

    class Port:
        name = "scratchport"

        def __init__(self) -> None:
            self.last = None

        def ports(self):
            return [0x510]

        def reset(self) -> None:
            pass

        def io_read(self, port: int, size: int) -> int:
            return 0x42

        def io_write(self, port: int, size: int, value: int) -> None:
            self.last = value

    dev = board.add_device(Port())
    board.bus.io_write(0x510, 1, 7)
    assert dev.last == 7 and board.bus.io_read(0x510, 1) == 0x42 and board.devices["scratchport"] is dev
    with pytest.raises(ValueError):
        board.add_device(Port())


def test_map_mmio_on_the_board_and_through_unicorn() -> None:
    board = Board(4)
    dev = Scratch()
    board.map_mmio(0xFE000000, 0x1000, dev, "scratch")   # free: the APICs/HPET are at FEC/FED/FEE
    with pytest.raises(ValueError):
        board.map_mmio(0xFE000000, 0x1000, Scratch())            # overlap
    with pytest.raises(ValueError):
        board.map_mmio(0xFE100010, 0x1000, Scratch())            # not page-aligned
    # CPU-less access
    board.write_phys(0xFE000004, b"\x99")
    assert dev.regs[1] == 0x99 and board.read_phys(0xFE000004, 1) == b"\x99"
    # a guest: mov dword [0xFE000008], 0x12345678; mov eax, [0xFE00000C]; hlt
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    board.attach(uc)
    code = bytes.fromhex("c705 080000fe 78563412") + bytes.fromhex("a1 0c0000fe") + b"\xf4"
    board.ram[0x1000:0x1000 + len(code)] = code
    gdt = struct.pack("<QQQ", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
    board.ram[0x8000:0x8000 + len(gdt)] = gdt
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x8000, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR0, 0x11)
    uc.reg_write(X.UC_X86_REG_CS, 0x08)
    uc.reg_write(X.UC_X86_REG_DS, 0x10)
    dev.log.clear()
    uc.emu_start(0x1000, 0x1000 + len(code) - 1)
    assert dev.regs[2] == 0x12345678
    assert ("w", 8, 4, 0x12345678) in dev.log and ("r", 12, 4, 0) in dev.log
    assert uc.reg_read(X.UC_X86_REG_EAX) == 1                   # the read counted itself first


def test_mmio_accesses_are_bracketed_for_exact_time() -> None:
    calls = []

    class Host(NullHost):
        def io_enter(self) -> None:
            calls.append("enter")

        def io_exit(self) -> None:
            calls.append("exit")

    board = Board(4, host=Host())
    dev = Scratch()
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    board.attach(uc)
    board.map_mmio(0xFE000000, 0x1000, dev)                      # mapped after attach: live at once
    uc.mem_write(0x2000, bytes.fromhex("a1 000000fe"))            # mov eax, [0xFE000000] (Unicorn starts flat 32-bit)
    uc.emu_start(0x2000, 0x2000 + 5)
    assert calls == ["enter", "exit"] and dev.log[0][:2] == ("r", 0)


def test_fast_path_layout_check_catches_a_stale_mirror() -> None:
    lib = _load()
    check_layout(lib, _Header)                                   # the real pair agrees

    class Shifted(ctypes.Structure):
        _fields_ = [("pad", ctypes.c_uint32)] + list(_Header._fields_)

    with pytest.raises(BareflowError, match="does not match"):
        check_layout(lib, Shifted)


def test_input_door_is_thread_safe_and_journals_once(tmp_path) -> None:
    from bareflow.emu.machine import Machine, MachineConfig
    sector = bytearray(512)
    sector[:3] = b"\xfa\xf4\xf4"          # cli; hlt
    sector[510:] = b"\x55\xaa"
    img = tmp_path / "halt.img"
    img.write_bytes(bytes(sector))
    m = Machine(MachineConfig(image=img, memory_mb=4, auto_symbols=False))
    seen = []
    m.hooks.inputs.append(seen.append)
    m.input("serial", b"hi")                 # no thread has run the machine: applied at once
    assert m.uart.rx_pending() and [r.kind for r in seen] == ["serial"]
    m.run(max_cycles=m.cycles + 10_000)      # this thread now owns the machine
    t = threading.Thread(target=m.input, args=("keys", "a"))
    t.start()
    t.join()
    assert not m.kbd.keys_pending()          # queued at the door, not in the chip
    assert m.door.pending()
    m.step()                                 # the emulator thread drains it
    assert m.kbd.keys_pending()
    assert [(k, d) for _, k, d in m.input_log] == [("serial", b"hi"), ("keys", "a")]
    assert [r.kind for r in seen] == ["serial", "keys"] and seen[1].where == "boundary"
    with pytest.raises(ValueError):
        m.input("mouse", b"")


def test_screen_text_follows_the_crtc_start_address(tmp_path) -> None:
    from bareflow.emu.machine import Machine, MachineConfig
    sector = bytearray(512)
    sector[:3] = b"\xfa\xf4\xf4"
    sector[510:] = b"\x55\xaa"
    img = tmp_path / "halt.img"
    img.write_bytes(bytes(sector))
    m = Machine(MachineConfig(image=img, memory_mb=4, auto_symbols=False))
    ram = m.ram_view()
    page2 = 0xB8000 + 80 * 25 * 2 + 96        # where page 1 starts with start address 2048
    start = (page2 - 0xB8000) // 2
    ram[page2:page2 + 4] = b"P\x07g\x07"
    m.bus.io_write(0x3D4, 1, 0x0C)
    m.bus.io_write(0x3D5, 1, start >> 8)
    m.bus.io_write(0x3D4, 1, 0x0D)
    m.bus.io_write(0x3D5, 1, start & 0xFF)
    assert m.screen_text().startswith("Pg")
    assert m.screen_bytes()[:4] == b"P\x07g\x07" and len(m.screen_bytes()) == 4000
