"""The ATA controller (devices/ata.py) and the reset path, against QEMU + SeaBIOS.

tests/images/ata_pio.asm drives the primary IDE channel by hand (IDENTIFY, READ/WRITE SECTORS,
MULTIPLE, LBA48, aborts, nIEN, SRST, the secondary channel) and prints registers, data and
IRQ 14 counts; tests/images/reset_cmos.asm resets the machine five ways and counts boots in
CMOS.  Their transcripts were recorded under qemu-system-i386 7.2 (`run_qemu`, and without
-no-reboot for the reset guest); the QEMU tests keep the .expected files honest.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "images"))

from build import QEMU_ARGS, build, run_qemu  # noqa: E402

from bareflow.devices.ata import AtaChannel, AtaDrive  # noqa: E402
from bareflow.emu.clock import Clock  # noqa: E402
from bareflow.emu.storage import BackingStore  # noqa: E402

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
EMU = [sys.executable, "-m", "bareflow.emu.cli", "run"]


def expected(name: str) -> bytes:
    return (HERE / "images" / f"{name}.expected").read_bytes()


def ours(img: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*EMU, str(img), "--no-stdin", "--max-cycles", "3000000000", *args],
                          capture_output=True, timeout=120)


@needs_nasm
def test_ata_pio_transcript_ours() -> None:
    p = ours(build("ata_pio"))
    assert p.stdout.decode("latin-1") == expected("ata_pio").decode("latin-1")
    assert p.returncode == 1


@needs_nasm
@needs_qemu
def test_ata_pio_transcript_qemu() -> None:
    out, status = run_qemu(build("ata_pio"))
    assert status == 1
    assert out == expected("ata_pio")


@needs_nasm
def test_resets_reboot_like_qemu() -> None:
    p = ours(build("reset_cmos"))
    assert p.stdout == expected("reset_cmos")
    assert p.returncode == 1


@needs_nasm
def test_no_reboot_stops_at_the_first_reset() -> None:
    p = ours(build("reset_cmos"), "--no-reboot")
    assert p.stdout == expected("reset_cmos").split(b"8042 FEh\r\n")[0] + b"8042 FEh\r\n"
    assert p.returncode == 0


@needs_nasm
@needs_qemu
def test_resets_qemu() -> None:
    args = [a for a in QEMU_ARGS if a != "-no-reboot"]
    img = build("reset_cmos")
    p = subprocess.run(["qemu-system-i386", *args, "-drive", f"file={img},format=raw,snapshot=on"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.stdout == expected("reset_cmos")


# ---- the chip on its own ----------------------------------------------------------------------

class _Pic:
    def __init__(self) -> None:
        self.edges = 0
        self.level = 0

    def set_irq(self, line: int, level: int) -> None:
        if level and not self.level:
            self.edges += 1
        self.level = level


def _channel(sectors: int = 100) -> tuple[AtaChannel, _Pic, Clock, list[int], BackingStore]:
    now = [0]
    clock = Clock(lambda: now[0])
    pic = _Pic()
    data = b"".join(struct.pack("<I", i).ljust(512, bytes([i & 0xFF])) for i in range(sectors))
    store = BackingStore.from_bytes(data)
    ch = AtaChannel(name="ide0", base=0x1F0, ctrl=0x3F6, irq_line=14, clock=clock, irq=pic,
                    drives=(AtaDrive(store, chs=(2, 16, 63), serial="QM00001"), AtaDrive(None)))
    return ch, pic, clock, now, store


def _settle(clock: Clock, now: list[int]) -> None:
    now[0] += 10_000
    clock.run_due(now[0])


def test_bsy_then_drq_on_the_cycle_clock() -> None:
    ch, pic, clock, now, _ = _channel()
    ch.io_write(0x1F6, 1, 0xE0)
    ch.io_write(0x1F2, 1, 1)
    ch.io_write(0x1F3, 1, 7)
    ch.io_write(0x1F7, 1, 0x20)
    assert ch.io_read(0x3F6, 1) & 0x80          # BSY until the modelled access time has passed
    assert pic.edges == 0
    _settle(clock, now)
    assert ch.io_read(0x3F6, 1) == 0x58 and pic.edges == 1
    words = [ch.io_read(0x1F0, 2) for _ in range(256)]
    assert words[0] == 7 and ch.io_read(0x1F7, 1) == 0x50


def test_lba48_count_and_address_use_the_hob_bytes() -> None:
    ch, pic, clock, now, _ = _channel()
    ch.io_write(0x1F6, 1, 0x40)
    for port, hi, lo in ((0x1F2, 0, 2), (0x1F3, 0, 50), (0x1F4, 0, 0), (0x1F5, 0, 0)):
        ch.io_write(port, 1, hi)
        ch.io_write(port, 1, lo)
    ch.io_write(0x1F7, 1, 0x24)
    _settle(clock, now)
    assert ch.io_read(0x1F0, 4) == 50              # dword I/O on the data port
    for _ in range(127):
        ch.io_read(0x1F0, 4)
    _settle(clock, now)
    assert ch.io_read(0x1F0, 2) == 51
    d = ch.drives[0]
    assert d.lba48 and d.nsector == 0


def test_write_goes_to_the_overlay_only() -> None:
    ch, pic, clock, now, store = _channel()
    ch.io_write(0x1F6, 1, 0xE0)
    ch.io_write(0x1F2, 1, 1)
    ch.io_write(0x1F3, 1, 3)
    ch.io_write(0x1F7, 1, 0x30)
    assert ch.io_read(0x1F7, 1) == 0x58 and pic.edges == 0   # no IRQ for the first write block
    for _ in range(256):
        ch.io_write(0x1F0, 2, 0xBEEF)
    _settle(clock, now)
    assert pic.edges == 1 and ch.io_read(0x1F7, 1) == 0x50   # the completion IRQ
    assert store.read(3, 1) == b"\xEF\xBE" * 256 and list(store.overlay) == [3]


def test_absent_slave_reads_zero_and_ignores_commands() -> None:
    ch, pic, clock, now, _ = _channel()
    ch.io_write(0x1F6, 1, 0xB0)
    assert ch.io_read(0x1F7, 1) == 0 and ch.io_read(0x1F1, 1) == 0
    ch.io_write(0x1F7, 1, 0xEC)
    _settle(clock, now)
    assert pic.edges == 0 and ch.io_read(0x1F7, 1) == 0


def test_snapshot_restores_a_transfer_in_flight() -> None:
    ch, pic, clock, now, _ = _channel()
    ch.io_write(0x1F6, 1, 0xE0)
    ch.io_write(0x1F2, 1, 2)
    ch.io_write(0x1F3, 1, 9)
    ch.io_write(0x1F7, 1, 0x20)
    st = ch.state()
    _settle(clock, now)
    first = [ch.io_read(0x1F0, 2) for _ in range(4)]
    ch.load_state(st)
    _settle(clock, now)
    assert [ch.io_read(0x1F0, 2) for _ in range(4)] == first
