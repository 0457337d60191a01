"""SVG snapshot tests of the TUI on deterministic content: a fixed VGA test pattern (all 16
foreground colours on the 8 backgrounds, code page 437 glyphs, a blink-attribute cell with
blinking off, the hardware cursor) over the fake machine, paused after a known number of
steps; and the help screen.  Update after an intended change with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs."""
from __future__ import annotations

import asyncio

from bareflow.tui.app import BareflowApp
from tui_fake import FakeMachine, FakeSession

SIZE = (200, 60)


def test_pattern() -> bytes:
    """80x25 cells: a title, a colour grid (fg 0-15 x bg 0-7), glyph rows, a blink cell."""
    cells = bytearray(b" \x07" * 2000)

    def put(row: int, col: int, text: str | bytes, attr: int) -> None:
        data = text.encode("cp437") if isinstance(text, str) else text
        for i, ch in enumerate(data):
            o = (row * 80 + col + i) * 2
            cells[o], cells[o + 1] = ch, attr

    put(0, 0, " BareFlow VGA test pattern ".center(80), 0x1F)
    for bg in range(8):
        for fg in range(16):
            put(2 + bg, 2 + fg * 4, f"{fg:X}{bg:X}", (bg << 4) | fg)
    put(11, 2, bytes(range(1, 32)), 0x0E)
    put(12, 2, bytes(range(0xB0, 0xE0)), 0x0B)
    put(13, 2, "\u2554" + "\u2550" * 20 + "\u2557", 0x0A)
    put(14, 2, "\u2551 box drawing, cp437 \u2551", 0x0A)
    put(15, 2, "\u255a" + "\u2550" * 20 + "\u255d", 0x0A)
    put(17, 2, "BLINK", 0xCE)   # blink attribute + red background (blinking off in the test)
    put(19, 0, "> ", 0x07)
    return bytes(cells)


test_pattern.__test__ = False  # a helper, not a test


def _app() -> tuple[BareflowApp, FakeMachine]:
    m = FakeMachine(screen=test_pattern())
    m._row, m._col = 19, 2
    m.serial_out += b"\r\n[jit] matmul calls=120 avg_cycles=84000 level=2\r\n"
    m.serial_out += b"[stats] tokens=12 cycles_per_token=9100000 heap_peak=4194304\r\n"
    m.serial_out += b"[stats] tokens=12 cycles_per_token=6300000 heap_peak=4194304\r\n> "
    for _ in range(20):
        m.step()
    app = BareflowApp(FakeSession(m, autostart=False), image="fluid_llama.img", blink=False)
    return app, m


async def _settle(pilot) -> None:
    app = pilot.app
    for _ in range(200):
        if app.view is not None and app.view.cpu is not None and app._cpu_seq == app.session.runner.cpu_seq:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.6)  # one profile refresh (every 0.5 s) and a few polls


def test_main_view_snapshot(snap_compare):
    app, _ = _app()
    assert snap_compare(app, terminal_size=SIZE, run_before=_settle)


def test_help_snapshot(snap_compare):
    app, _ = _app()

    async def open_help(pilot):
        await _settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.2)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_help)


def test_no_thread_left_after_snapshot():
    """The snapshot runs quit the app; make sure that stops the emulator thread too."""
    app, m = _app()

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await _settle(pilot)
    asyncio.run(go())
    assert app.session is not None and not app.session.alive
