"""BIOS test images: the same COM1 transcript under QEMU + SeaBIOS and under our BIOS.

Each tests/images/bios_*.asm calls BIOS services and prints the results on COM1; the expected
transcript (tests/images/bios_*.expected) was recorded under
`qemu-system-i386 -m 64 -drive file=X,format=raw -serial stdio -display none -no-reboot
-device isa-debug-exit,iobase=0xf4,iosize=0x04`.  The QEMU test keeps that file honest (it
fails if QEMU's answer changes); the MiniPC test runs our BIOS on the real device models.
The core's differential test runs the same images on the full Machine.
"""
from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "images"))
sys.path.insert(0, str(HERE))

from build import build, run_qemu  # noqa: E402
from test_bios_harness import MiniPC  # noqa: E402

from bareflow.emu.bios.disk import Disk  # noqa: E402

IMAGES = ["bios_mem", "bios_disk", "bios_video", "bios_kbd", "bios_serial", "bios_vga", "bios_apm"]
#: exit status under QEMU: the image's `out 0xF4, 0` gives 1; bios_apm powers off through APM (0)
STATUS = {"bios_apm": 0}
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")


def expected(name: str) -> bytes:
    return (HERE.parent / "images" / f"{name}.expected").read_bytes()


@needs_nasm
@pytest.mark.parametrize("name", IMAGES)
def test_transcript_ours(name: str) -> None:
    pc = MiniPC(build(name).read_bytes())
    out = pc.run()
    assert pc.error is None
    assert out.decode("latin-1") == expected(name).decode("latin-1")
    assert pc.dev.exit_status == STATUS.get(name, 1)


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("name", IMAGES)
def test_transcript_qemu(name: str) -> None:
    out, status = run_qemu(build(name))
    assert status == STATUS.get(name, 1)
    assert out.decode("latin-1") == expected(name).decode("latin-1")


# ---- geometry: the same boot code on images of other sizes / with partition tables ----------
# name -> (size in bytes, (end head, end sector) of a partition entry or None, expected line 1)
# (FDPT: the fixed disk parameter table at IVT 41h, Phoenix translated form when LCHS != PCHS)
GEOMETRY = {
    "200 sectors": ('02 00 10 00 00 FF FF 00 C8 00 00 00 02 00 3F 00', 200 * 512, None,
                    " cf=0 08 cx=003F dx=0F01 cf=0 15 ax=0300 cx=0000 dx=03F0 48 infos=0002 "
                    "c=00000002 h=00000010 s=0000003F n=000000C8"),
    "odd size": ('02 00 10 00 00 FF FF 00 C8 00 00 00 02 00 3F 00', 300 * 512 + 100, None,
                 " cf=0 08 cx=003F dx=0F01 cf=0 15 ax=0300 cx=0000 dx=03F0 48 infos=0002 "
                 "c=00000002 h=00000010 s=0000003F n=0000012D"),
    "10 MiB": ('14 00 10 00 00 FF FF 00 C8 00 00 00 14 00 3F 00', 10 << 20, None,
               " cf=0 08 cx=123F dx=0F01 cf=0 15 ax=0300 cx=0000 dx=4AD0 48 infos=0002 "
               "c=00000014 h=00000010 s=0000003F n=00005000"),
    "600 MiB (LBA translation)": ('61 02 20 A0 3F FF FF 00 C8 C3 04 10 C3 04 3F FB', 600 << 20, None,
                                  " cf=0 08 cx=5FBF dx=1F01 cf=0 15 ax=0300 cx=0012 dx=B400 48 infos=0002 "
                                  "c=000004C3 h=00000010 s=0000003F n=0012C000"),
    "9 GiB (geometry invalid)": ('00 04 FF A0 3F FF FF 00 C8 FF 3F 10 FF 3F 3F 8D', 9 << 30, None,
                                 " cf=0 08 cx=FEFF dx=FE01 cf=0 15 ax=0300 cx=00FA dx=C53F 48 infos=0000 "
                                 "c=00003FFF h=00000010 s=0000003F n=01200000"),
    "MBR 16 heads 32 sectors": ('90 01 10 00 00 FF FF 00 C8 00 00 00 90 01 20 00', 100 << 20, (15, 32),
                                " cf=0 08 cx=8E60 dx=0F01 cf=0 15 ax=0300 cx=0003 dx=1E00 48 infos=0002 "
                                "c=00000190 h=00000010 s=00000020 n=00032000"),
    "MBR 64 heads": ('CB 00 10 00 00 FF FF 00 C8 00 00 00 CB 00 3F 00', 100 << 20, (63, 32),
                     " cf=0 08 cx=C93F dx=0F01 cf=0 15 ax=0300 cx=0003 dx=1B60 48 infos=0002 "
                     "c=000000CB h=00000010 s=0000003F n=00032000"),
    "MBR 255 heads, 2 GiB (LARGE)": ('08 02 80 A0 3F FF FF 00 C8 41 10 10 41 10 3F E0', 2 << 30, (254, 63),
                                     " cf=0 08 cx=06BF dx=7F01 cf=0 15 ax=0300 cx=003F dx=DC80 48 infos=0002 "
                                     "c=00001041 h=00000010 s=0000003F n=00400000"),
}


def _geometry_image(tmp_path: Path, size: int, part) -> Path:
    """bios_geom.img padded (sparse) to `size`, with a partition entry if asked."""
    data = bytearray(build("bios_geom").read_bytes())
    if part is not None:
        entry = bytearray(16)
        entry[4], entry[5], entry[6], entry[7] = 0x83, part[0], part[1], 0xFF
        struct.pack_into("<II", entry, 8, 63, 1000)
        data[0x1BE:0x1CE] = entry
    p = tmp_path / "geom.img"
    p.write_bytes(data)
    os.truncate(p, size)                 # sparse: big images cost nothing
    return p


@needs_nasm
@pytest.mark.parametrize("case", list(GEOMETRY))
def test_geometry_ours(tmp_path: Path, case: str) -> None:
    fdpt, size, part, line = GEOMETRY[case]
    out = MiniPC(Disk.open(_geometry_image(tmp_path, size, part))).run().decode()
    assert out.splitlines()[0] == line
    assert out.splitlines()[2] == "fdpt=" + fdpt
    # reading the last logical CHS sector: inside the image, or 0Ch past its end
    small = size < 1008 * 512
    assert out.splitlines()[1] == (" cf=1 last ax=0C00" if small else " cf=0 last ax=0001")


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("case", ["200 sectors", "600 MiB (LBA translation)", "MBR 16 heads 32 sectors",
                                  "MBR 255 heads, 2 GiB (LARGE)"])
def test_geometry_qemu(tmp_path: Path, case: str) -> None:
    fdpt, size, part, line = GEOMETRY[case]
    out, _ = run_qemu(_geometry_image(tmp_path, size, part))
    assert out.decode().splitlines()[0] == line
    assert out.decode().splitlines()[2] == "fdpt=" + fdpt


# ---- floppy boot: the image as drive A: (QEMU `-drive if=floppy -boot a`, boot drive 00h) ----
FLOPPY_SIZES = [40 * 512, 163840, 368640, 737280, 1228800, 1474560, 2949120]


def _floppy_image(tmp_path: Path, size: int) -> Path:
    p = tmp_path / "floppy.img"
    p.write_bytes(build("bios_floppy").read_bytes())
    os.truncate(p, size)
    return p


@needs_nasm
@pytest.mark.parametrize("size", FLOPPY_SIZES)
def test_floppy_ours(tmp_path: Path, size: int) -> None:
    pc = MiniPC(Disk.open(_floppy_image(tmp_path, size)), boot_drive=0x00)
    out = pc.run()
    assert pc.error is None
    assert out.decode("latin-1") == expected(f"bios_floppy_{size}").decode("latin-1")


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("size", [40 * 512, 368640, 1474560])
def test_floppy_qemu(tmp_path: Path, size: int) -> None:
    out, status = run_qemu(_floppy_image(tmp_path, size), floppy=True)
    assert status == 1
    assert out.decode("latin-1") == expected(f"bios_floppy_{size}").decode("latin-1")


# ---- real keystrokes: QEMU's monitor `sendkey` vs set-1 scancodes on the 8042 model ---------
#: QEMU key names -> set 1 make codes (E0-prefixed for the grey keys).
QCODE = {"a": [0x1E], "b": [0x30], "c": [0x2E], "x": [0x2D], "1": [0x02], "2": [0x03],
         "shift": [0x2A], "ctrl": [0x1D], "alt": [0x38], "ctrl_r": [0xE0, 0x1D], "alt_r": [0xE0, 0x38],
         "kp_enter": [0xE0, 0x1C], "kp_divide": [0xE0, 0x35], "up": [0xE0, 0x48], "kp_8": [0x48],
         "kp_7": [0x47], "f11": [0x57], "f1": [0x3B], "tab": [0x0F], "backspace": [0x0E],
         "caps_lock": [0x3A], "num_lock": [0x45], "kp_multiply": [0x37], "spc": [0x39], "ret": [0x1C],
         "esc": [0x01]}
KEYS = ("a shift-a ctrl-c alt-x kp_enter kp_divide up kp_8 f11 f1 shift-f1 ctrl-f1 alt-f1 tab "
        "shift-tab backspace caps_lock b shift-b caps_lock num_lock kp_8 kp_7 num_lock ctrl_r-c "
        "alt_r-x ctrl-up alt-up kp_multiply ctrl-kp_multiply 1 shift-1 ctrl-2 spc ret esc").split()


def scancodes(combo: str) -> list[int]:
    """Make codes in order, break codes in reverse order, as QEMU's sendkey does."""
    keys = [QCODE[k] for k in combo.split("-")]
    out = [c for k in keys for c in k]
    for k in reversed(keys):
        out += [k[0], k[1] | 0x80] if len(k) == 2 else [k[0] | 0x80]
    return out


def type_ours(name: str, keys: list[str]) -> bytes:
    pc = MiniPC(build(name).read_bytes())
    for combo in keys:
        pc.dev.ps2.press_make_break(scancodes(combo))
    out = pc.run()
    assert pc.error is None
    return out


def type_qemu(tmp_path: Path, name: str, keys: list[str]) -> bytes:
    """Boot `name` under QEMU, wait for "ready", type `keys` through the human monitor one
    every 0.25 s (held 50 ms), and return COM1 once the guest exits."""
    import socket
    import subprocess
    import time
    sock = tmp_path / "mon.sock"
    qemu = subprocess.Popen(["qemu-system-i386", "-m", "64", "-serial", "stdio", "-display", "none",
                             "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                             "-monitor", f"unix:{sock},server,nowait",
                             "-drive", f"file={build(name)},format=raw,snapshot=on"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out = b""
        deadline = time.monotonic() + 20
        while b"ready\r\n" not in out and time.monotonic() < deadline:
            out += os.read(qemu.stdout.fileno(), 256)
        mon = socket.socket(socket.AF_UNIX)
        mon.connect(str(sock))
        for combo in keys:
            mon.sendall(f"sendkey {combo} 50\n".encode())
            time.sleep(0.25)
        qemu.wait(20)
        out += qemu.stdout.read()
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    assert qemu.returncode == 1
    return out


#: the guest's INT 15h AH=4Fh hook turns 'a' into 'b' and swallows 'c' (see bios_intercept.asm)
INTERCEPT_KEYS = "a c x shift-c esc".split()


@needs_nasm
@pytest.mark.parametrize("name, keys", [("bios_keys", KEYS), ("bios_intercept", INTERCEPT_KEYS)])
def test_typed_keys_ours(name: str, keys: list[str]) -> None:
    assert type_ours(name, keys).decode("latin-1") == expected(name).decode("latin-1")


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("name, keys", [("bios_keys", KEYS), ("bios_intercept", INTERCEPT_KEYS)])
def test_typed_keys_qemu(tmp_path: Path, name: str, keys: list[str]) -> None:
    assert type_qemu(tmp_path, name, keys).decode("latin-1") == expected(name).decode("latin-1")
