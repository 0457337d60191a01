"""BIOS services on a fake CPU (dict of registers + 1 MiB) and the real device models.

Register results and CF/AH/ZF codes per service, the E820 map, disk reads past the end, CHS
geometry, teletype scrolling, keyboard scancodes into the BDA ring, the tick handler, boot
errors, the trace and the cost model.  Expected values come from SeaBIOS under QEMU (see
tests/images/*.expected, which record the same facts through a real guest).
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_bios_harness import Devices, FakeCpu  # noqa: E402

from bareflow.emu.bios import Bios, BootError  # noqa: E402
from bareflow.emu.bios import cost  # noqa: E402
from bareflow.emu.bios.disk import T_LARGE, T_LBA, T_NONE, Disk, qemu_geometry, seabios_lchs  # noqa: E402
from bareflow.emu.bios.memory import e820_map  # noqa: E402
from bareflow.devices.base.clock import Clock  # noqa: E402

MIB = 1 << 20


def tagged_image(sectors: int) -> bytes:
    """Sector 0 bootable; sector n starts with n as a dword."""
    data = bytearray(sectors * 512)
    for n in range(sectors):
        struct.pack_into("<I", data, n * 512, n)
    data[510:512] = b"\x55\xAA"
    return bytes(data)


class Env:
    def __init__(self, image: bytes | Disk = b"", memory_mb: int = 64) -> None:
        self.now = 0
        self.clock = Clock(lambda: self.now)
        self.dev = Devices(self.clock, memory_mb)
        self.cpu = FakeCpu()
        self.events: list[tuple[str, dict]] = []
        disk = image if isinstance(image, Disk) else Disk(image or tagged_image(200))
        self.bios = Bios(bus=self.dev.bus, clock=self.clock, disk=disk, memory_bytes=memory_mb * MIB,
                         a20_get=lambda: self.dev.a20, a20_set=self.dev.set_a20,
                         trace=lambda kind, **f: self.events.append((kind, f)))
        self.bios.install(self.cpu)
        self.bios.post()

    def call(self, vector: int, flags: int = 0x0202, **regs: int) -> int | None:
        cpu = self.cpu
        cpu.frame(flags)
        for name, value in regs.items():
            cpu.set(name, value)
        return self.bios.handle(vector, cpu)

    def advance_to_next_event(self) -> None:
        nxt = self.clock.next_deadline()
        assert nxt is not None
        self.now = max(self.now, nxt)
        self.clock.run_due(self.now)

    def pump_irqs(self, limit: int = 200) -> None:
        """Run time forward, delivering PIC interrupts to the BIOS handlers, until quiet."""
        for _ in range(limit):
            if self.dev.pic.intr_pending():
                self.call(self.dev.pic.acknowledge())
                continue
            if self.clock.next_deadline() is None:
                return
            self.advance_to_next_event()

    def bda16(self, off: int) -> int:
        return struct.unpack_from("<H", self.cpu.mem, 0x400 + off)[0]


@pytest.fixture
def env() -> Env:
    return Env()


# ---- install / POST --------------------------------------------------------------------------

def test_ivt_points_every_vector_at_its_own_stub(env: Env) -> None:
    for v in (0x10, 0x13, 0x08, 0x09, 0x1C, 0x70, 0xFF):
        off, seg = struct.unpack_from("<HH", env.cpu.mem, 4 * v)
        assert (seg << 4) + off == env.bios.stub_address(v)
        assert env.cpu.mem[env.bios.stub_address(v)] == 0xCF          # iret
        assert env.bios.vector_at(env.bios.stub_address(v)) == v
    assert struct.unpack_from("<HH", env.cpu.mem, 4 * 0x60) == (0, 0)    # reserved for users
    assert struct.unpack_from("<HH", env.cpu.mem, 4 * 0x41) == (0x3D, 0x9FC0)
    lo, hi = env.bios.stub_range
    assert lo == env.bios.stub_address(0) and env.bios.vector_at(hi) is None
    assert env.bios.vector_at(lo + 0x100) == 0x100            # the first continuation point


def test_bda_and_ebda_as_seabios_leaves_them(env: Env) -> None:
    assert env.bda16(0x00) == 0x3F8 and env.bda16(0x0E) == 0x9FC0 and env.bda16(0x10) == 0x4227
    assert env.bda16(0x13) == 639 and env.bda16(0x1A) == env.bda16(0x1C) == 0x1E
    assert env.bda16(0x80) == 0x1E and env.bda16(0x82) == 0x3E
    assert env.cpu.mem[0x449] == 3 and env.bda16(0x4A) == 80 and env.cpu.mem[0x484] == 24
    assert env.bda16(0x63) == 0x3D4 and env.cpu.mem[0x475] == 1
    assert env.cpu.mem[0x9FC00] == 1                                      # EBDA size, KiB
    assert env.bda16(0x50) == 0x0700                                      # banner: row 7
    assert bytes(env.cpu.mem[0xB8000:0xB8000 + 16:2]) == b"BareFlow"


def test_post_programs_devices_through_the_bus(env: Env) -> None:
    bus = env.dev.bus
    assert bus.io_read(0x21, 1) == 0xB8 and bus.io_read(0xA1, 1) == 0x8E
    bus.io_write(0x64, 1, 0x20)                                           # read command byte
    env.now += 10**6
    env.clock.run_due(env.now)
    assert bus.io_read(0x60, 1) == 0x61
    assert bus.io_read(0x92, 1) & 0x02
    assert env.clock.next_deadline() is not None                          # PIT channel 0 runs


# ---- INT 11h / 12h / 15h -------------------------------------------------------------------

def test_int11_int12(env: Env) -> None:
    env.call(0x11)
    assert env.cpu.get("ax") == 0x4227
    env.call(0x12, flags=0x0203)
    assert env.cpu.get("ax") == 639 and env.cpu.cf == 0


def read_e820(env: Env) -> list[tuple[int, int, int]]:
    out, ebx = [], 0
    for _ in range(20):
        env.call(0x15, eax=0xE820, edx=0x534D4150, ecx=24, ebx=ebx, es=0, edi=0x500)
        assert env.cpu.cf == 0 and env.cpu.get("eax") == 0x534D4150 and env.cpu.get("ecx") == 20
        out.append(struct.unpack_from("<QQI", env.cpu.mem, 0x500))
        ebx = env.cpu.get("ebx")
        if ebx == 0:
            return out
    raise AssertionError("E820 never ended")


def test_e820_for_64_mib(env: Env) -> None:
    assert read_e820(env) == [
        (0x0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2),
        (0x100000, 0x3EE0000, 1), (0x3FE0000, 0x20000, 2), (0xFFFC0000, 0x40000, 2)]


def test_e820_errors(env: Env) -> None:
    env.call(0x15, eax=0xE820, edx=0x12345678, ebx=0, ecx=20)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x86
    env.call(0x15, eax=0xE820, edx=0x534D4150, ebx=6, ecx=20)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x86


@pytest.mark.parametrize("mb, e801, ext88", [(64, (0x3C00, 0x02FE), 0xFB80), (16, (0x3B80, 0), 0x3B80),
                                             (128, (0x3C00, 0x06FE), 0xFC00), (8, (0x1B80, 0), 0x1B80),
                                             (3072, (0x3C00, 0xBEFE), 0xFC00)])   # all QEMU-measured
def test_e801_and_88(mb: int, e801: tuple[int, int], ext88: int) -> None:
    env = Env(memory_mb=mb)
    env.call(0x15, flags=0x0203, ax=0xE801)
    assert env.cpu.cf == 0
    assert (env.cpu.get("ax"), env.cpu.get("bx"), env.cpu.get("cx"), env.cpu.get("dx")) == e801 * 2
    env.call(0x15, flags=0x0203, ax=0x8800)
    assert env.cpu.cf == 0 and env.cpu.get("ax") == ext88
    assert e820_map(mb * MIB)[3][1] == mb * MIB - 0x120000


def test_a20_services_use_the_callbacks(env: Env) -> None:
    env.call(0x15, ax=0x2400)
    assert env.dev.a20 is False and env.cpu.get("ax") == 0x0000 and env.cpu.cf == 0
    env.call(0x15, ax=0x2402)
    assert env.cpu.get("ax") == 0x0000
    env.call(0x15, ax=0x2401)
    assert env.dev.a20 is True and env.cpu.get("ax") == 0x0001
    env.call(0x15, ax=0x2402)
    assert env.cpu.get("ax") == 0x0001
    env.call(0x15, ax=0x2403)
    assert env.cpu.get("bx") == 3 and env.cpu.get("ah") == 0
    env.call(0x15, ax=0x2405)
    assert env.cpu.cf == 1 and env.cpu.get("ax") == 0x8605


def test_int15_unsupported_and_intercept(env: Env) -> None:
    env.call(0x15, ax=0x2200)
    assert env.cpu.cf == 1 and env.cpu.get("ax") == 0x8600
    env.call(0x15, ax=0x4F1E)                    # keyboard intercept: CF=1, AX kept
    assert env.cpu.cf == 1 and env.cpu.get("ax") == 0x4F1E
    env.call(0x15, ax=0xC000)
    assert env.cpu.cf == 0 and (env.cpu.get("es"), env.cpu.get("bx")) == (0xF000, 0xE6F5)
    assert bytes(env.cpu.mem[0xFE6F5:0xFE6FF]) == bytes.fromhex("0800FC00017440000000")


def test_int15_86_waits_on_the_clock(env: Env) -> None:
    # a 100 ms wait spans PIT ticks: the service reports "waiting" until the time is reached
    polls = 0
    while True:
        r = env.call(0x15, ax=0x8600, cx=0x0001, dx=0x86A0)     # 100000 us
        if r is not None:
            break
        polls += 1
        env.advance_to_next_event()
    assert polls == 2                       # two PIT ticks (54.9 ms apart) fall inside 100 ms
    assert env.now + r - cost.SERVICE == 100_000 * 100            # exactly 100 ms of cycles
    assert env.cpu.cf == 0


def test_int15_87_block_move(env: Env) -> None:
    env.cpu.write(0x2000, b"hello, world")
    gdt = bytearray(48)
    gdt[0x10 + 2:0x10 + 5] = (0x2000).to_bytes(3, "little")
    gdt[0x18 + 2:0x18 + 5] = (0x3000).to_bytes(3, "little")
    env.cpu.write(0x600, bytes(gdt))
    env.call(0x15, ax=0x8700, cx=6, es=0, si=0x600)
    assert env.cpu.cf == 0 and env.cpu.get("ah") == 0 and bytes(env.cpu.mem[0x3000:0x300C]) == b"hello, world"


# ---- INT 13h ----------------------------------------------------------------------------

def test_disk_chs_read_and_past_the_end(env: Env) -> None:
    c = env.call(0x13, ax=0x0201, cx=0x000A, dx=0x0080, es=0, bx=0x1000)     # LBA 9
    assert env.cpu.cf == 0 and env.cpu.get("ax") == 0x0001
    assert struct.unpack_from("<I", env.cpu.mem, 0x1000)[0] == 9
    assert c == cost.SERVICE + cost.DISK_REQUEST + cost.DISK_SECTOR
    env.cpu.mem[0x1000:0x1800] = bytes(0x800)
    env.call(0x13, ax=0x0204, cx=0x000A, dx=0x0380, es=0, bx=0x1000)         # LBA 198..201
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x0C and env.cpu.get("al") == 2
    assert struct.unpack_from("<I", env.cpu.mem, 0x1200)[0] == 199
    assert env.cpu.mem[0x1400:0x1800] == bytes(0x400)
    env.call(0x13, ax=0x0100, dx=0x0080)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x0C
    for ax, cx, dx in [(0x0201, 0x0000, 0x0080), (0x0200, 0x0001, 0x0080), (0x0201, 0x0001, 0x1080),
                       (0x0281, 0x0001, 0x0080), (0x0201, 0x0101, 0x0080 | 0x0000)]:
        env.call(0x13, ax=ax, cx=cx, dx=dx, es=0, bx=0x1000)
        expected = 0x0C if cx == 0x0101 else 0x01      # cylinder 1 is inside the geometry
        assert env.cpu.cf == 1 and env.cpu.get("ah") == expected, (ax, cx, dx)


def test_disk_lba_read_partial_and_out_of_range(env: Env) -> None:
    dap = struct.pack("<BBHHHQ", 16, 0, 4, 0x1000, 0, 197)
    env.cpu.write(0x700, dap)
    env.call(0x13, ax=0x4200, dx=0x0080, ds=0, si=0x700)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x0C
    assert struct.unpack_from("<H", env.cpu.mem, 0x702)[0] == 3
    env.cpu.write(0x700, struct.pack("<BBHHHQ", 16, 0, 1, 0x1000, 0, 200))
    env.call(0x13, ax=0x4200, dx=0x0080, ds=0, si=0x700)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x01
    assert struct.unpack_from("<H", env.cpu.mem, 0x702)[0] == 1


def test_disk_params_and_extensions(env: Env) -> None:
    env.call(0x13, ax=0x0800, dx=0x0080, bx=0x1234)
    assert (env.cpu.get("ax"), env.cpu.get("bx"), env.cpu.get("cx"), env.cpu.get("dx")) == (0, 0x1234, 0x003F, 0x0F01)
    env.call(0x13, ax=0x0800, dx=0x0081)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x01
    env.call(0x13, ax=0x1500, dx=0x0080)
    assert (env.cpu.get("ax"), env.cpu.get("cx"), env.cpu.get("dx")) == (0x0300, 0, 1008)
    env.call(0x13, ax=0x4100, bx=0x55AA, dx=0x0080)
    assert (env.cpu.get("ax"), env.cpu.get("bx"), env.cpu.get("cx")) == (0x3000, 0xAA55, 0x0007)
    env.call(0x13, ax=0x2000, dx=0x0080)
    assert env.cpu.cf == 1 and env.cpu.get("ah") == 0x01


def test_disk_writes_stay_in_memory_unless_writeback(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(tagged_image(64))
    env = Env(Disk.open(path))
    env.cpu.write(0x3000, b"\xAB" * 512)
    env.cpu.write(0x700, struct.pack("<BBHHHQ", 16, 0, 1, 0x3000, 0, 5))
    env.call(0x13, ax=0x4300, dx=0x0080, ds=0, si=0x700)
    assert env.cpu.cf == 0
    env.call(0x13, ax=0x0201, cx=0x0006, dx=0x0080, es=0, bx=0x1000)
    assert env.cpu.mem[0x1000:0x1200] == b"\xAB" * 512
    env.bios.disk.flush()
    assert path.read_bytes() == tagged_image(64)                  # the user's file is untouched
    wb = Disk.open(path, writeback=True)
    wb.write(5, b"\xCD" * 512)
    wb.flush()
    assert path.read_bytes()[5 * 512:6 * 512] == b"\xCD" * 512


@pytest.mark.parametrize("sectors, mbr, pchs, trans, lchs", [
    (200, None, (2, 16, 63), T_NONE, (2, 16, 63)),
    (20480, None, (20, 16, 63), T_NONE, (20, 16, 63)),
    (1228800, None, (1219, 16, 63), T_LBA, (609, 32, 63)),
    (18874368, None, (16383, 16, 63), T_LBA, (1024, 255, 63)),
    (204800, (15, 32), (400, 16, 32), T_NONE, (400, 16, 32)),
    (4194304, (254, 63), (4161, 16, 63), T_LARGE, (520, 128, 63)),     # checked under QEMU
])
def test_chs_geometry(sectors, mbr, pchs, trans, lchs) -> None:
    sector0 = bytearray(512)
    sector0[510:] = b"\x55\xAA"
    if mbr:
        entry = bytearray(16)
        entry[5], entry[6] = mbr
        struct.pack_into("<I", entry, 12, 1000)
        sector0[0x1BE:0x1CE] = entry
    got_pchs, got_trans = qemu_geometry(sectors, bytes(sector0))
    assert (got_pchs, got_trans) == (pchs, trans)
    assert seabios_lchs(got_pchs, got_trans, sectors) == lchs


def test_empty_floppy_drive(env: Env) -> None:
    env.call(0x13, ax=0x0800, dx=0x0000)
    assert env.cpu.cf == 0 and (env.cpu.get("bx"), env.cpu.get("cx"), env.cpu.get("dx")) == (5, 0x4F24, 0x0101)
    env.call(0x13, ax=0x0201, cx=1, dx=0, es=0, bx=0x1000)
    assert env.cpu.cf == 1 and env.cpu.get("ax") == 0x2000


# ---- INT 10h ----------------------------------------------------------------------------

def crtc(env: Env, index: int) -> int:
    env.dev.bus.io_write(0x3D4, 1, index)
    return env.dev.bus.io_read(0x3D5, 1)


def screen(env: Env, row: int) -> bytes:
    return bytes(env.cpu.mem[0xB8000 + row * 160:0xB8000 + row * 160 + 160:2])


def test_mode_set_clears_and_homes(env: Env) -> None:
    env.call(0x10, ax=0x0003)
    assert env.cpu.get("al") == 0x30
    assert env.cpu.mem[0xB8000:0xB8004] == b"\x20\x07\x20\x07" and screen(env, 0) == b" " * 80
    assert env.bda16(0x50) == 0 and (crtc(env, 0x0E), crtc(env, 0x0F)) == (0, 0)
    assert (crtc(env, 0x0A), crtc(env, 0x0B)) == (0x0D, 0x0E)


def test_teletype_controls_and_scrolling(env: Env) -> None:
    env.call(0x10, ax=0x0003)
    for ch in b"Hi\x07\x08\x08\x08J":
        env.call(0x10, ax=0x0E00 | ch, bx=0x0007)
    assert screen(env, 0)[:3] == b"Ji " and env.bda16(0x50) == 0x0001
    env.call(0x10, ax=0x0200, bx=0, dx=0x184F)                # bottom-right corner
    env.call(0x10, ax=0x0E5A, bx=0)                           # 'Z' wraps and scrolls
    assert env.bda16(0x50) == 0x1800
    assert screen(env, 23)[79:80] == b"Z" and screen(env, 24) == b" " * 80
    assert env.cpu.mem[0xB8000 + 24 * 160 + 1] == 0x07
    assert screen(env, 0)[:2] == b"  "                         # row 0 ("Ji") scrolled away
    loc = crtc(env, 0x0E) << 8 | crtc(env, 0x0F)
    assert loc == 24 * 80


def test_write_char_attr_scroll_window_and_read_back(env: Env) -> None:
    env.call(0x10, ax=0x0003)
    env.call(0x10, ax=0x0200, bx=0, dx=0x0205)
    env.call(0x10, ax=0x0958, bx=0x001E, cx=3)
    env.call(0x10, ax=0x0800, bx=0)
    assert env.cpu.get("ax") == 0x1E58 and env.bda16(0x50) == 0x0205
    env.call(0x10, ax=0x0601, bx=0x4F00, cx=0x0000, dx=0x024F)   # up 1 in rows 0..2
    assert screen(env, 1)[5:8] == b"XXX" and env.cpu.mem[0xB8000 + 2 * 160 + 1] == 0x4F
    env.call(0x10, ax=0x0701, bx=0x2A00, cx=0x0000, dx=0x024F)   # and back down
    assert screen(env, 2)[5:8] == b"XXX" and env.cpu.mem[0xB8001] == 0x2A


def test_cursor_shape_and_video_info(env: Env) -> None:
    env.call(0x10, ax=0x0100, cx=0x0607)
    assert (crtc(env, 0x0A), crtc(env, 0x0B)) == (0x0E, 0x0F)   # scaled to the 16-line font
    env.call(0x10, ax=0x0300, bx=0)
    assert env.cpu.get("cx") == 0x0607
    env.call(0x10, ax=0x0F00)
    assert (env.cpu.get("ax"), env.cpu.get("bh")) == (0x5003, 0)
    env.call(0x10, ax=0x1200, bx=0xFF10)
    assert (env.cpu.get("bx"), env.cpu.get("cx")) == (0x0003, 0x0009)


def test_write_string(env: Env) -> None:
    env.call(0x10, ax=0x0003)
    env.cpu.write(0x800, b"Hello")
    env.call(0x10, ax=0x1301, bx=0x002F, cx=5, dx=0x0C03, es=0, ebp=0x800)
    assert screen(env, 12)[3:8] == b"Hello" and env.bda16(0x50) == 0x0C08


# ---- keyboard -----------------------------------------------------------------------------

def buffered(env: Env) -> list[int]:
    head, tail, out = env.bda16(0x1A), env.bda16(0x1C), []
    while head != tail:
        out.append(env.bda16(head))
        head = head + 2 if head + 2 < 0x3E else 0x1E
    return out


def test_scancodes_to_keyboard_buffer(env: Env) -> None:
    env.dev.ps2.type_text("aB1\n")
    env.pump_irqs()
    assert buffered(env) == [0x1E61, 0x3042, 0x0231, 0x1C0D]
    assert env.bda16(0x17) == 0                                # shift released again
    env.dev.ps2.press([0xE0, 0x48])                           # grey Up
    env.dev.ps2.press(0x1D)                                   # Ctrl alone: no key
    env.dev.ps2.press_make_break([0x1D, 0x2E, 0xAE, 0x9D])    # Ctrl+C
    env.dev.ps2.press(0x3A)                                   # Caps Lock on
    env.dev.ps2.press(0x10)                                   # q -> Q
    env.pump_irqs()
    assert buffered(env)[4:] == [0x48E0, 0x2E03, 0x1051]
    assert env.bda16(0x17) & 0x40                              # Caps Lock active


def test_int16_reads_and_waits(env: Env) -> None:
    assert env.call(0x16, ax=0x0000) is None                  # empty: wait for IRQ1
    env.call(0x16, ax=0x0100)
    assert env.cpu.zf == 1
    env.dev.ps2.press([0xE0, 0x48])
    env.pump_irqs()
    env.call(0x16, ax=0x0100)
    assert env.cpu.zf == 0 and env.cpu.get("ax") == 0x4800      # E0 hidden from AH=01h
    env.call(0x16, ax=0x1100)
    assert env.cpu.get("ax") == 0x48E0
    assert env.call(0x16, ax=0x0000) is not None and env.cpu.get("ax") == 0x4800
    env.call(0x16, ax=0x0100)
    assert env.cpu.zf == 1


def test_int16_store_until_full(env: Env) -> None:
    results = []
    for i in range(16):
        env.call(0x16, ax=0x0500, cx=0x1071 + i)
        results.append(env.cpu.get("al"))
    assert results == [0] * 15 + [1]


# ---- timer / RTC --------------------------------------------------------------------------

def test_irq0_ticks_rollover_and_int1c_chain(env: Env) -> None:
    env.cpu.write(0x46C, struct.pack("<I", 0x1800AF))
    env.call(0x08)
    assert struct.unpack_from("<I", env.cpu.mem, 0x46C)[0] == 0 and env.cpu.mem[0x470] == 1
    env.call(0x1A, ax=0x0000)
    assert env.cpu.get("al") == 1 and env.cpu.mem[0x470] == 0 and env.cpu.cf == 0
    env.cpu.write(4 * 0x1C, struct.pack("<HH", 0x1234, 0x0050))  # the guest hooks INT 1Ch
    env.cpu.set("cs", 0xF000)
    env.cpu.set("eip", 0xFC08)
    env.call(0x08)
    cs, ip = env.cpu.get("cs"), env.cpu.get("eip")
    assert cs == 0xF000 and env.cpu.mem[0xF0000 + ip:0xF0000 + ip + 3] == b"\xFB\xCD\x1C"  # sti; int 1Ch


def test_irq0_from_the_pit_counts_ticks(env: Env) -> None:
    start = struct.unpack_from("<I", env.cpu.mem, 0x46C)[0]
    for _ in range(3):
        env.advance_to_next_event()
        env.pump_irqs(limit=1)
    assert struct.unpack_from("<I", env.cpu.mem, 0x46C)[0] >= start + 1


def test_int1a_rtc_from_cmos(env: Env) -> None:
    env.call(0x1A, ax=0x0400)
    assert env.cpu.cf == 0 and (env.cpu.get("cx"), env.cpu.get("dx")) == (0x2024, 0x0101)
    env.call(0x1A, ax=0x0200)
    assert env.cpu.cf == 0 and env.cpu.get("ch") == 0x00 and env.cpu.get("dl") == 0
    env.call(0x1A, ax=0x0F00)
    assert env.cpu.cf == 1 and env.cpu.get("ax") == 0x0F00


# ---- boot ---------------------------------------------------------------------------------

def test_boot_hands_over_like_seabios(env: Env) -> None:
    env.bios.boot(env.cpu)
    c = env.cpu
    assert (c.get("cs"), c.get("eip"), c.get("eax"), c.get("edx"), c.get("esp"), c.get("eflags")) == \
        (0, 0x7C00, 0xAA55, 0x80, 0x6F04, 0x0202)
    assert c.mem[0x7DFE:0x7E00] == b"\x55\xAA"
    assert env.bda16(0x50) == 0x0800 and screen(env, 7).startswith(b"Booting from Hard Disk...")


@pytest.mark.parametrize("image, words", [(b"\x00" * 100, "100 bytes"), (bytes(512), "not bootable")])
def test_boot_errors_are_one_line(image: bytes, words: str) -> None:
    env = Env(Disk(image))
    with pytest.raises(BootError) as err:
        env.bios.boot(env.cpu)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_bad_image_files(tmp_path: Path) -> None:
    from bareflow.devices.base.errors import BadImage
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    for path, words in [(tmp_path / "missing.img", "no such file"), (tmp_path, "not a regular file"),
                        (empty, "empty")]:
        with pytest.raises(BadImage, match=words):
            Disk.open(path)


# ---- trace and costs ----------------------------------------------------------------------

def test_trace_fields_are_json(env: Env) -> None:
    env.call(0x13, ax=0x0201, cx=0x0001, dx=0x0080, es=0, bx=0x1000)
    kind, fields = env.events[-1]
    assert kind == "bios" and fields["vector"] == 0x13 and fields["ah"] == 2 and fields["cf"] == 0
    assert fields["name"] == "INT 13h AH=02h read sectors (CHS)"
    json.dumps(fields)
    env.call(0x12)
    assert env.events[-1][1]["name"] == "INT 12h memory size"
    env.call(0x15, ax=0x2200)
    assert env.events[-1][1]["name"] == "INT 15h AH=22h (unsupported)" and env.events[-1][1]["cf"] == 1


def test_costs_are_deterministic_and_scale(env: Env) -> None:
    one = env.call(0x13, ax=0x0201, cx=0x0001, dx=0x0080, es=0, bx=0x1000)
    again = env.call(0x13, ax=0x0201, cx=0x0001, dx=0x0080, es=0, bx=0x1000)
    four = env.call(0x13, ax=0x0204, cx=0x0001, dx=0x0080, es=0, bx=0x1000)
    assert one == again and four - one == 3 * cost.DISK_SECTOR


def test_state_round_trip(env: Env) -> None:
    env.cpu.write(0x3000, b"\x11" * 512)
    env.call(0x13, ax=0x0301, cx=0x0003, dx=0x0080, es=0, bx=0x3000)
    snap = env.bios.state()
    env.cpu.write(0x3000, b"\x22" * 512)
    env.call(0x13, ax=0x0301, cx=0x0003, dx=0x0080, es=0, bx=0x3000)
    assert env.bios.disk.read(2, 1) == b"\x22" * 512
    env.bios.load_state(snap)
    assert env.bios.disk.read(2, 1) == b"\x11" * 512


@pytest.mark.parametrize("sectors, dtype, media, state", [
    (2880, 4, (18, 80, 2), 0x17), (1440, 4, (9, 80, 2), 0x97), (5760, 5, (36, 80, 2), 0xD7),
    (720, 2, (9, 40, 2), 0x74), (2400, 2, (15, 80, 2), 0x15), (320, 2, (8, 40, 1), 0xB7),
    (145, 5, (36, 80, 2), 0xD7),                       # no format matches: QEMU's 2.88 fallback
])
def test_floppy_media_as_qemu_and_seabios_see_it(sectors, dtype, media, state) -> None:
    from bareflow.emu.bios.disk import FloppyMedia
    m = FloppyMedia(sectors)
    assert (m.drive_type, (m.spt, m.tracks, m.heads), m.media_state) == (dtype, media, state)


def test_floppy_boot_drive_serves_the_image_as_a() -> None:
    fl = Env(Disk(tagged_image(2880)))                    # (for its devices)
    bios = Bios(bus=fl.dev.bus, clock=fl.clock, disk=Disk(tagged_image(2880)), memory_bytes=64 * MIB,
                boot_drive=0x00, a20_get=lambda: True, a20_set=lambda on: None)
    cpu = FakeCpu()
    bios.install(cpu)
    assert cpu.mem[0x475] == 0 and cpu.mem[0x490] == 0x17
    assert struct.unpack_from("<HH", cpu.mem, 4 * 0x41) != (0x3D, 0x9FC0)     # no FDPT
    bios.boot(cpu)
    assert cpu.get("dl") == 0 and bytes(cpu.mem[0xB8000 + 7 * 160:0xB8000 + 7 * 160 + 38:2]) == b"Booting from Floppy"
    cpu.frame()
    cpu.set("ax", 0x0201), cpu.set("cx", 0x0102), cpu.set("dx", 0x0100), cpu.set("es", 0), cpu.set("bx", 0x1000)
    bios.handle(0x13, cpu)                                # C1 H1 S2 = LBA 55
    assert cpu.cf == 0 and struct.unpack_from("<I", cpu.mem, 0x1000)[0] == 55
    cpu.set("ax", 0x0800), cpu.set("dx", 0x0080)
    bios.handle(0x13, cpu)
    assert cpu.cf == 1 and cpu.get("ah") == 0x01          # no hard disk


def test_int1a_waits_out_the_rtc_update(env: Env) -> None:
    # UIP is set in the last 244 us before each second: read the time just then
    env.now = 100_000_000 - 10_000                      # 100 us before the 1 s update
    env.clock.run_due(env.now)
    results = []
    for _ in range(10):
        r = env.call(0x1A, ax=0x0200)
        results.append(r)
        if r is not None:
            break
        env.advance_to_next_event()
    assert results[0] is None and results[-1] is not None
    assert env.cpu.cf == 0 and env.cpu.get("dh") == 0x01   # 00:00:01


def test_ctrl_alt_del_resets_through_the_8042(env: Env) -> None:
    env.dev.ps2.press_make_break([0x1D, 0x38, 0x53, 0xD3, 0xB8, 0x9D])
    env.pump_irqs()
    assert env.dev.resets == 1 and env.bda16(0x72) == 0x1234 and buffered(env) == []


def test_mode_set_loads_the_dac_and_attribute_controller(env: Env) -> None:
    from bareflow.emu.bios.video import ega_palette
    env.call(0x10, ax=0x1010, bx=7, dx=0x0100, cx=0x0203)     # disturb DAC 7
    env.call(0x10, ax=0x1000, bx=0x3F01)                       # and palette register 1
    env.call(0x10, ax=0x0003)
    env.dev.bus.io_write(0x3C7, 1, 0)
    dac = bytes(env.dev.bus.io_read(0x3C9, 1) for _ in range(768))
    assert dac == ega_palette() and dac[7 * 3:8 * 3] == b"\x2A\x2A\x2A" and dac[63 * 3:64 * 3] == b"\x3F" * 3
    env.call(0x10, ax=0x1007, bx=0x0001)
    assert env.cpu.get("bh") == 0x01
