"""Pilot tests of the TUI as `bareflow-emu` runs it: the real Machine and the bundled image in
the emulator process (emu/session/).  Stepping changes the CPU state shown; a breakpoint on an
ELF symbol stops the guest there (in protected mode, after the whole boot chain); keys typed on
the VGA screen reach the guest through the PS/2 keyboard (it echoes them after its `> `
prompt); quitting stops the emulator process; a bad image is shown and exits 64."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from helpers import wait_for  # noqa: E402
from bareflow.tui.app import BareflowApp, ErrorScreen
from bareflow.tui.cpu import CpuPanel
from bareflow.emu.session.client import RemoteSession, SessionConfig, SessionError

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images" / "fluid_llama.img"
ELF = ROOT / "images" / "tinyllama_bare.elf"
SIZE = (200, 60)

pytestmark = pytest.mark.skipif(not IMAGE.exists() or not ELF.exists(), reason="no bundled image")


def symbol(name: str) -> int:
    from bareflow.emu.symbols import SymbolTable
    return SymbolTable.from_elf(ELF).address_of(name)


def run_app(body, *, autostart: bool) -> BareflowApp:
    session = RemoteSession(SessionConfig(image=str(IMAGE), autostart=autostart))
    app = BareflowApp(session, image=IMAGE.name, blink=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await body(app, pilot)
    try:
        asyncio.run(go())
    finally:
        session.close()
    return app


@pytest.mark.timeout(60)
def test_step_shows_the_boot_sector_in_real_mode():
    async def body(app, pilot):
        m = app.view
        await wait_for(pilot, lambda: app.view.cpu is not None, 20)
        assert m.instructions == 0 and app.view.cpu.mode == "real"
        start = app.view.cpu.pc
        await pilot.press("f6")
        await wait_for(pilot, lambda: m.instructions == 1, 30, lambda: (m.instructions, app.view.state, app.view.message))
        await wait_for(pilot, lambda: app.view.cpu.pc != start, 30)
        await pilot.pause(0.1)
        text = str(app.query_one("#cpu", CpuPanel).render())
        assert "mode real" in text and f"pc {app.view.cpu.pc:#010x}" in text
        assert m.cycles > 0
    app = run_app(body, autostart=False)
    assert not app.session.alive


@pytest.mark.timeout(240)
def test_breakpoint_on_kmain_stops_there_in_protected_mode():
    kmain = symbol("kmain")

    async def body(app, pilot):
        m = app.view
        await wait_for(pilot, lambda: app.view.cpu is not None, 20)
        await pilot.press("f9", *"kmain", "enter")
        await wait_for(pilot, lambda: kmain in m.breakpoints, 10)
        await pilot.press("f5")
        # not "wait until running, then until not": a fast run reaches kmain between two looks
        # of the poll; the PC at kmain (from the reset vector) is the proof that F5 ran it
        await wait_for(pilot, lambda: app.view.state != "running" and app.view.cpu.pc == kmain, 200)
        assert app.view.state == "paused", app.view.message
        view = app.view.cpu
        assert view.mode == "protected" and view.cpl == 0
        await pilot.pause(0.2)
        assert "<kmain>" in str(app.query_one("#cpu", CpuPanel).render())
        assert "breakpoint at kmain" in str(app.query_one("#status").render())
        n = m.instructions
        await pilot.pause(0.3)
        assert m.instructions == n  # paused means paused
    run_app(body, autostart=False)


@pytest.mark.timeout(300)
def test_keys_typed_on_the_screen_reach_the_guest():
    async def body(app, pilot):
        def com1() -> str:   # what the COM1 pane shows (the front end keeps no copy of the output)
            return "\n".join(app.serial.lines)
        await wait_for(pilot, lambda: com1().endswith("> "), 240)
        await pilot.press("h", "i")
        await wait_for(pilot, lambda: com1().endswith("> hi"), 30)
        await pilot.press("f10")
    app = run_app(body, autostart=True)
    assert app.return_code == 0
    assert not app.session.alive


@pytest.mark.timeout(60)
def test_bad_image_is_shown_in_the_app_and_exits_64(tmp_path):
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"\0" * 1024)
    with pytest.raises(SessionError) as info:
        RemoteSession(SessionConfig(image=str(bad)))
    assert info.value.exit_code == 64 and "0x55AA" in str(info.value)
    app = BareflowApp(startup_error=info.value, image=bad.name)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.1)
            assert isinstance(app.screen, ErrorScreen)
            assert "0x55AA" in str(app.screen.query_one("#error-message").render())
            await pilot.press("space")
            await pilot.pause(0.1)
    asyncio.run(go())
    assert app.return_code == 64
