"""Pilot tests of the TUI's wiring over `tui_fake.FakeSession` (the session's runner and
publisher over a toy machine): keys reach the guest, pause/step change state, breakpoints on symbols stop there,
serial typing, bad image, clean quit."""
from __future__ import annotations

import asyncio

import pytest

from helpers import sync, wait_for  # noqa: E402
from bareflow.tui.app import BareflowApp, ErrorScreen
from bareflow.tui.cpu import CpuPanel
from bareflow.tui.screen import VgaScreen
from tui_fake import KMAIN, MATMUL, FakeMachine, FakeSession

SIZE = (200, 60)


def make_app(machine: FakeMachine | None = None, *, autostart: bool = False,
             initial_keys=None, blink: bool = False) -> tuple[BareflowApp, FakeMachine]:
    session = FakeSession(machine, autostart=autostart, initial_keys=initial_keys)
    return BareflowApp(session, image="fake.img", blink=blink), session.machine


@pytest.mark.timeout(30)
@sync
async def test_keys_on_screen_reach_the_guest_keyboard():
    app, m = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h", "i", "H", "enter", "up", "tab")
        expected = [0x23, 0xA3, 0x17, 0x97, 0x2A, 0x23, 0xA3, 0xAA, 0x1C, 0x9C,
                    0xE0, 0x48, 0xE0, 0xC8, 0x0F, 0x8F]
        await wait_for(pilot, lambda: len(m.keyboard.codes) >= len(expected))
        assert m.keyboard.codes == expected
        # the fake guest echoes letters on its screen; the widget shows them after a poll
        vga = app.query_one("#vga", VgaScreen)
        await wait_for(pilot, lambda: vga.text()[0].startswith("hiH"))
        # F-keys stay with the emulator: no scan codes for F1..F10
        n = len(m.keyboard.codes)
        await pilot.press("f4")  # focus COM1 ...
        await pilot.press("a", "b", "enter")
        await wait_for(pilot, lambda: m.serial_in == b"ab\n")
        assert len(m.keyboard.codes) == n
        await pilot.press("f4")  # ... and back to the screen
        assert vga.has_focus


@pytest.mark.timeout(30)
@sync
async def test_pause_step_and_run_change_state():
    app, m = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert app.view.state == "paused" and m.instructions == 0
        await pilot.press("f6")
        await wait_for(pilot, lambda: m.instructions == 1)
        await wait_for(pilot, lambda: app.view.cpu is not None and app.view.cpu.pc == KMAIN + 2)
        await pilot.pause(0.1)
        cpu_text = str(app.query_one("#cpu", CpuPanel).render())
        assert "kmain+0x2" in cpu_text and "EFLAGS" in cpu_text and "IF" in cpu_text
        await pilot.press("f7")  # not a call here: one instruction
        await wait_for(pilot, lambda: m.instructions == 2)
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.view.state == "running" and m.instructions > 1000)
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.view.state == "paused")
        frozen = m.instructions
        await pilot.pause(0.2)
        assert m.instructions == frozen
        status = str(app.query_one("#status").render())
        assert "PAUSED" in status and f"insns {frozen:,}" in status


@pytest.mark.timeout(30)
@sync
async def test_breakpoint_on_a_symbol_stops_there():
    app, m = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f9")
        await pilot.press(*"matmul", "enter")
        await wait_for(pilot, lambda: MATMUL in m.breakpoints)
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.view.state == "paused" and m.instructions > 0)
        assert m.pc == MATMUL and m.instructions == 16
        await wait_for(pilot, lambda: "breakpoint at matmul" in str(app.query_one("#status").render()))
        # continuing stops at the same place one loop later
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.view.state == "paused" and m.instructions > 16)
        assert m.pc == MATMUL and m.instructions == 16 + 24
        # toggling removes it
        await pilot.press("f9", *"matmul", "enter")
        await wait_for(pilot, lambda: not m.breakpoints)


@pytest.mark.timeout(30)
@sync
async def test_run_to_symbol_and_unknown_symbol_message():
    app, m = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f8", *"matmul", "enter")
        await wait_for(pilot, lambda: app.view.state == "paused" and m.pc == MATMUL)
        assert not m.breakpoints  # the one-shot breakpoint is gone
        await pilot.press("f8", *"nosuch", "enter")
        await wait_for(pilot, lambda: "unknown symbol: 'nosuch'" in app.view.message)
        assert m.pc == MATMUL


@pytest.mark.timeout(30)
@sync
async def test_bad_image_is_shown_and_exits_non_zero():
    from bareflow.emu.session.client import SessionError
    with pytest.raises(SessionError) as info:
        FakeSession(bad_image="images/x.img: no 0x55AA boot signature")
    app = BareflowApp(startup_error=info.value, image="x.img", blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.1)
        assert isinstance(app.screen, ErrorScreen)
        assert "no 0x55AA boot signature" in str(app.screen.query_one("#error-message").render())
        await pilot.press("enter")
        await pilot.pause(0.1)
    assert app.return_code == 64


@pytest.mark.timeout(30)
@sync
async def test_quit_stops_the_running_guest():
    app, m = make_app(autostart=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: m.instructions > 100)
        await pilot.press("f10")
        await pilot.pause(0.1)
    assert app.return_code == 0
    assert not app.session.alive
    n = m.instructions
    await asyncio.sleep(0.1)
    assert m.instructions == n


@pytest.mark.timeout(30)
@sync
async def test_initial_keys_wait_for_their_pattern():
    app, m = make_app(autostart=True, initial_keys=[("> ", "hello\n"), ("never", "x")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: m.keyboard.typed == ["hello\n"])
        await pilot.pause(0.2)
        assert m.keyboard.typed == ["hello\n"]


@pytest.mark.timeout(30)
@sync
async def test_guest_stats_lines_fill_the_profile():
    app, m = make_app()
    async with app.run_test(size=SIZE) as pilot:
        m.serial_out += b"hello\r\n[jit] matmul calls=10 avg_cycles=500 level=2\r\n[stats] tokens=5 cycles_per_token=1234 heap_peak=1\r\n"
        await pilot.pause(0.2)
        panel = app.query_one("#profile")
        assert panel.jit["matmul"].level == 2
        assert [s.cycles_per_token for s in panel.stats] == [1234]
