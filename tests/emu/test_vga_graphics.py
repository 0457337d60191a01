"""VGA graphics and the picture: mode 13h / 12h / text guests give the same COM1 transcript and
the same screen as QEMU 7.2 + SeaBIOS (QEMU's `screendump`, compared pixel for pixel after
scaling our native-size frame by QEMU's factor), plus unit checks of the planar memory,
the window backing and the PNG writer."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "images"))

from build import build  # noqa: E402

from bareflow.devices.vga import VgaText  # noqa: E402
from bareflow.devices.vga_render import Frame, png_bytes, read_png_rgb, render  # noqa: E402
from bareflow.emu.clock import Clock  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig  # noqa: E402

needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
GUESTS = ["vga_mode13", "vga_mode12", "vga_text", "vga_text12", "vga_text13"]


def run_ours(name: str) -> Machine:
    m = Machine(MachineConfig(image=str(build(name))))
    m.send_serial(b"x")             # the byte the guest waits for after "DONE"
    m.run(max_cycles=3_000_000_000)
    assert m.exit_status == 1, m.stop_message
    return m


def scaled(frame: Frame) -> np.ndarray:
    sx, sy = frame.scale
    return frame.rgb().repeat(sy, axis=0).repeat(sx, axis=1)


@needs_nasm
@pytest.mark.parametrize("name", ["vga_mode13", "vga_mode12"])
def test_transcript_ours(name: str) -> None:
    m = run_ours(name)
    assert bytes(m.serial_out) == (HERE.parent / "images" / f"{name}.expected").read_bytes()


@needs_nasm
def test_mode13_frame_and_window() -> None:
    m = run_ours("vga_mode13")
    f = m.screen_frame()
    assert (f.kind, f.width, f.height, f.scale, f.mode) == ("graphics", 320, 200, (2, 2), "320x200x256")
    assert m.vga.window == "direct"
    px = np.frombuffer(f.pixels, dtype=np.uint8).reshape(200, 320)
    assert px[1, 2] == 3 and px[150, 7] == (7 ^ 150) and px[30, 260] == 200 and px[10, 10] == 15
    assert f.rgb()[30, 260].tolist() == [0x40, 0x80, 0xC0]       # DAC (10h, 20h, 30h), c6_to_8


@needs_nasm
def test_mode12_frame_and_window() -> None:
    m = run_ours("vga_mode12")
    f = m.screen_frame()
    assert (f.width, f.height, f.scale, f.mode) == (640, 480, (1, 1), "640x480x16")
    assert m.vga.window == "planar"
    px = np.frombuffer(f.pixels, dtype=np.uint8).reshape(480, 640)
    assert px[5, 45] == 1 and px[5, 600] == 15 and px[0, 0] == 0
    assert f.rgb()[5, 45].tolist() == [255, 255, 255]            # AR01 := 3Fh


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("name", GUESTS)
def test_screen_matches_qemu_screendump(name: str) -> None:
    from qemu_screen import qemu_screendump
    out, status, (w, h, rgb) = qemu_screendump(build(name))
    assert status == 1
    expected = HERE.parent / "images" / f"{name}.expected"
    if expected.exists():
        assert out == expected.read_bytes()
    frame = run_ours(name).screen_frame()
    ours = scaled(frame)
    theirs = np.frombuffer(rgb, dtype=np.uint8).reshape(h, w, 3)
    assert ours.shape == theirs.shape
    bad = np.argwhere((ours != theirs).any(axis=-1))
    assert len(bad) == 0, f"{len(bad)} pixels differ, first at (y, x) = {tuple(bad[0])}"


@needs_nasm
def test_cli_screen_png(tmp_path: Path) -> None:
    png = tmp_path / "s.png"
    proc = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", str(build("vga_mode13")),
                           "--screen-png", str(png)], input=b"x", capture_output=True, timeout=120)
    assert proc.returncode == 1, proc.stderr        # isa-debug-exit status (0 << 1) | 1
    w, h, rgb = read_png_rgb(png.read_bytes())
    assert (w, h) == (320, 200)
    frame = run_ours("vga_mode13").screen_frame()
    assert rgb == frame.rgb().tobytes()


def test_cli_screen_png_bad_path(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", str(build("vga_text")),
                           "--screen-png", str(tmp_path / "no" / "such" / "dir.png"), "--no-stdin",
                           "--max-cycles", "5000000"], capture_output=True, timeout=120, text=True)
    # checked before the run (issue 12): one line, exit 2
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "--screen-png" in proc.stderr and "does not exist" in proc.stderr


# -- units ------------------------------------------------------------------------------------
def _vga() -> VgaText:
    calls = []
    v = VgaText(clock=Clock(lambda: 0), on_window=lambda: calls.append(1))
    v.calls = calls  # type: ignore[attr-defined]
    return v


def _gc(v: VgaText, i: int, val: int) -> None:
    v.io_write(0x3CE, 1, i)
    v.io_write(0x3CF, 1, val)


def _sr(v: VgaText, i: int, val: int) -> None:
    v.io_write(0x3C4, 1, i)
    v.io_write(0x3C5, 1, val)


def test_window_kind_follows_the_registers() -> None:
    v = _vga()
    assert v.window == "ram" and not v.calls
    _gc(v, 6, 0x05)                    # A0000 64K, graphics
    assert v.window == "planar"
    _sr(v, 2, 0x0F)                    # all planes (mode 3 leaves 03h)
    _sr(v, 4, 0x0E)                    # chain 4
    assert v.window == "direct" and len(v.calls) == 2
    _sr(v, 2, 0x03)                    # not all planes: writes must be filtered
    assert v.window == "planar"
    _gc(v, 6, 0x0E)                    # B8000: text again
    assert v.window == "ram"


def test_write_modes_and_read_modes_on_the_planes() -> None:
    v = _vga()
    _gc(v, 6, 0x05)
    _gc(v, 5, 0x00)
    _sr(v, 4, 0x06)
    _sr(v, 2, 0x0F)
    mem = v.mem
    _gc(v, 0, 0x05)                    # set/reset colour 5 on every plane
    _gc(v, 1, 0x0F)
    mem.write(10, 0x00)
    assert [mem.vram[40 + p] for p in range(4)] == [0xFF, 0, 0xFF, 0]
    _gc(v, 1, 0x00)
    _gc(v, 8, 0x0F)                    # bit mask: only the low nibble from the data
    mem.read(10)                       # latches = (FF, 0, FF, 0)
    mem.write(10, 0x00)
    assert [mem.vram[40 + p] for p in range(4)] == [0xF0, 0, 0xF0, 0]
    _gc(v, 8, 0xFF)
    _gc(v, 5, 0x08)                    # read mode 1: compare with colour 5, all planes count
    _gc(v, 2, 0x05)
    assert mem.read(10) == 0xF0
    _gc(v, 7, 0x00)                    # nothing counts: every pixel matches
    assert mem.read(10) == 0xFF


def test_state_round_trip_keeps_the_planes() -> None:
    v = _vga()
    v.mem.vram[1234] = 0x5A
    _gc(v, 6, 0x05)
    st = v.state()
    w = _vga()
    w.load_state(st)
    assert w.mem.vram[1234] == 0x5A and w.window == "planar" and w.calls


def test_pel_mask_reads_zero_as_qemu() -> None:
    v = _vga()
    v.io_write(0x3C6, 1, 0x0F)
    assert v.io_read(0x3C6, 1) == 0x00


def test_text_frame_uses_the_font_and_the_ninth_column() -> None:
    v = _vga()
    mem = bytearray(0x8000)
    mem[0:2] = bytes([0xDB, 0x0F])     # full block, white on black: 9th column duplicated
    mem[2:4] = bytes([0x41, 0x1E])     # 'A', yellow on blue
    v.io_write(0x3D4, 1, 0x0A)
    v.io_write(0x3D5, 1, 0x20)         # cursor off
    f = render(v, bytes(mem))
    assert (f.kind, f.width, f.height) == ("text", 720, 400)
    px = np.frombuffer(f.pixels, dtype=np.uint8).reshape(400, 720)
    assert (px[0:16, 0:9] == 15).all()
    assert px[0, 9] == 1 and px[5, 9] == 14 and px[5, 9 + 3] == 1   # row 5 of A: ##...##.
    w, h, rgb = read_png_rgb(png_bytes(f))
    assert (w, h) == (720, 400) and rgb == f.rgb().tobytes()


def test_snapshots_share_an_unchanged_vram() -> None:
    v = _vga()
    a, b = v.state()["mem"]["vram"], v.state()["mem"]["vram"]
    assert a is b                       # time travel keeps one copy while nothing is drawn
    v.mem.vram[7] = 1
    c = v.state()["mem"]["vram"]
    assert c is not a and c[7] == 1 and a[7] == 0
