"""Pilot tests of graphics in the TUI: a mode 13h guest (tests/images/vga_mode13.asm) runs in
the emulator process; its picture shows in the VGA pane as half-block cells whose colours are
the guest's DAC colours; the screenshot key (Shift+F3) saves the native-size PNG; units of the
half-block picture (fit, area averaging)."""
from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "images"))

from build import build  # noqa: E402

from bareflow.devices.vga_render import read_png_rgb  # noqa: E402
from bareflow.tui.app import BareflowApp  # noqa: E402
from bareflow.tui.fb_frame import FramebufferFrame  # noqa: E402
from bareflow.tui.graphics import GraphicsPicture, downsample, fit  # noqa: E402
from bareflow.tui.remote import RemoteSession, SessionConfig  # noqa: E402

needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")


async def wait_for(pilot, cond, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def _style_at(strip, x: int):
    pos = 0
    for seg in strip:
        if pos <= x < pos + len(seg.text):
            return seg.text[x - pos], seg.style
        pos += len(seg.text)
    raise AssertionError("x beyond the strip")


@needs_nasm
@pytest.mark.timeout(90)
def test_mode13_guest_shows_its_picture_and_saves_a_png(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    img = build("vga_mode13")
    session = RemoteSession(SessionConfig(image=str(img), time_travel=False))
    app = BareflowApp(session=session, image=img.name, blink=False)

    async def go():
        async with app.run_test(size=(200, 60)) as pilot:
            await wait_for(pilot, lambda: app.vga.graphics is not None
                           and b"DONE" in bytes(app.machine.serial_out), 60)
            await pilot.pause(0.3)
            fb = app.vga.graphics
            assert (fb.mode, fb.width, fb.height) == ("320x200x256", 320, 200)
            assert app.main_screen.query_one("#screen-box").border_title == "VGA 320x200x256"
            # the box of DAC entry 200 = (10h, 20h, 30h) -> #4080c0, at x 250-299, y 20-59:
            # 320x200 in 80x50 half-cells is 4x4 pixels a half-cell; row 3 col 68 is inside
            ch, style = _style_at(app.vga.render_line(3), 68)
            assert ch == "▀"
            assert style.color.triplet.hex == "#4080c0" and style.bgcolor.triplet.hex == "#4080c0"
            # the top-left cell: pixels (x + y) & 3Fh over the red ramp, averaged; not black
            _, style = _style_at(app.vga.render_line(0), 1)
            assert style.color.triplet.hex != "#000000"
            await pilot.press("f15")
            await wait_for(pilot, lambda: any(tmp_path.glob("*.png")), 20)
            await pilot.pause(0.3)

    try:
        asyncio.run(go())
    finally:
        session.close()
    png = next(tmp_path.glob("bareflow-vga_mode13-*.png"))
    w, h, rgb = read_png_rgb(png.read_bytes())
    assert (w, h) == (320, 200)
    px = np.frombuffer(rgb, dtype=np.uint8).reshape(200, 320, 3)
    assert px[30, 260].tolist() == [0x40, 0x80, 0xC0]


def test_fit_keeps_the_aspect() -> None:
    assert fit(320, 200, 80, 25) == (80, 25)
    assert fit(640, 480, 80, 25) == (67, 25)
    assert fit(640, 480, 40, 100) == (40, 15)


def test_downsample_averages_areas() -> None:
    pal = bytearray(768)
    pal[3:6] = bytes([255, 255, 255])
    pixels = bytes([1, 0] * 8)                      # 4x4: alternating white/black columns
    f = FramebufferFrame("4x4", 4, 4, bytes(pal), pixels)
    out = downsample(f, 2, 2)
    assert out.shape == (2, 2, 3) and (out == 128).all()
    pic = GraphicsPicture()
    pic.set_frame(f)
    strip = pic.strip(0, 2, 1)
    assert strip.text == "▀▀"
