"""The page-walk view (Shift+F7, tui/pagewalk.py) on a real paging guest: tests/images/paging_pf
(identity map, a 4 MiB PSE page, two page faults repaired by its handler).  With Pilot through
the real session (the walk crosses the session boundary in the CPU view), and in tmux as a
person would use it: start `bareflow-emu IMAGE`, press Shift+F7, read CR2's walk, type another
address and Enter, close with Escape, quit with F10."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
sys.path.insert(0, str(ROOT / "tests" / "images"))

from build import build  # noqa: E402

needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
CR2_LINE = "Linear address 0x00301004 (CR2, the address of the last page fault)"
PTE_RO = "PTE[769]   at 0x00021c04 = 0x00301063"       # the handler made it writable; A and D set
PSE = "PDE[1]     at 0x00020004 = 0x004000a3"


def test_normalise_follows_the_tui_address_convention() -> None:
    from bareflow.tui.pagewalk import _normalise
    assert _normalise("301000") == "0x301000" and _normalise("0xC0000000") == "0xC0000000"
    assert _normalise("#4096") == "4096" and _normalise("kmain") == "kmain" and _normalise("  ") == ""


@needs_nasm
@pytest.mark.timeout(90)
def test_page_walk_view_pilot() -> None:
    from bareflow.emu.session.client import RemoteSession, SessionConfig
    from bareflow.tui.app import BareflowApp
    from bareflow.tui.pagewalk import PageWalkScreen
    img = build("paging_pf.asm")
    session = RemoteSession(SessionConfig(image=str(img), time_travel=False))
    app = BareflowApp(session, image=img.name, blink=False)

    async def wait_for(pilot, cond, timeout):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():
            assert loop.time() < end, "condition not reached in time"
            await pilot.pause(0.05)

    async def go():
        async with app.run_test(size=(200, 60)) as pilot:
            await wait_for(pilot, lambda: app.view is not None and app.view.state.startswith("power"), 60)
            await pilot.press("f19")
            await wait_for(pilot, lambda: isinstance(app.screen, PageWalkScreen) and CR2_LINE in app.screen.body(), 20)
            body = app.screen.body()
            assert PTE_RO in body and "= physical 0x00301004" in body
            assert ("allowed: kernel read, kernel write; #PF: user read, user write (user access to a supervisor page)"
                    in body)
            for ch in "400010":
                await pilot.press(ch)
            await pilot.press("enter")
            await wait_for(pilot, lambda: "Linear address 0x00400010 (as typed)" in app.screen.body(), 20)
            assert PSE in app.screen.body() and "4 MiB page" in app.screen.body()
            await pilot.press("ctrl+a", "ctrl+k", *"c0400000", "enter")   # a PDE that is not present
            await wait_for(pilot, lambda: "no mapping: PDE[769] is not present (P=0)" in app.screen.body(), 20)
            await pilot.press("ctrl+a", "ctrl+k", *"nowhere", "enter")
            await wait_for(pilot, lambda: "cannot walk 'nowhere'" in app.screen.body(), 20)
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, PageWalkScreen)

    try:
        asyncio.run(go())
    finally:
        session.close()


@needs_nasm
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.skipif(not EXE.exists(), reason="no .venv/bin/bareflow-emu (run tools/setup.sh)")
@pytest.mark.timeout(120)
def test_page_walk_view_in_tmux(tmp_path: Path) -> None:
    img = build("paging_pf.asm")
    sock = f"bareflow-walk-{os.getpid()}"
    status = tmp_path / "status"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True,
                              text=True, timeout=20).stdout

    def wait(cond, what: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        pane = ""
        while time.monotonic() < end:
            pane = tmux("capture-pane", "-p", "-t", "t")
            if cond(pane):
                return pane
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; the pane was:\n{pane}")

    env = "env -u COLUMNS -u LINES TERM=xterm-256color "
    tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "60",
         f"{env}sh -c '{EXE} {img}; echo $? > {status}'")
    try:
        wait(lambda p: "done" in p and "ro write=000000AB" in p, "the guest's COM1 lines")
        tmux("send-keys", "-t", "t", "S-F7")     # tmux sends ESC [18;2~, Textual: shift+f7
        pane = wait(lambda p: "Page walk" in p and CR2_LINE in p, "the page-walk view")
        assert PTE_RO in pane and "PDE[0]     at 0x00020000 = 0x00021023" in pane
        tmux("send-keys", "-t", "t", "-l", "400010")
        tmux("send-keys", "-t", "t", "Enter")
        pane = wait(lambda p: "Linear address 0x00400010 (as typed)" in p, "the walk of 0x400010")
        assert PSE in pane and "= physical 0x00400010 (offset 0x10 in a 4 MiB page" in pane
        tmux("send-keys", "-t", "t", "Escape")
        wait(lambda p: "Linear address" not in p, "the view to close")
        tmux("send-keys", "-t", "t", "F10")
        end = time.monotonic() + 20
        while not status.exists() and time.monotonic() < end:
            time.sleep(0.2)
        assert status.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
