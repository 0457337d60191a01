"""Pilot tests of the TUI's boot journey, fault explainer and time travel over the real machine
in its own process (emu/session/), on the small test images (tests/images/*.asm):

* after a run of core_pm.img, Shift+F1 (a terminal's F13) opens the timeline and it lists the
  switch to protected mode with its cycle stamp and explanation;
* with --pause-at-milestones the run stops at a milestone and the timeline opens on it;
* Shift+F6 (F18) after a step returns to the previous instruction (pc and counters), and the
  history comes from forward execution through time travel;
* core_triple.img: the fault explainer's words appear in a modal when the guest triple-faults,
  and Shift+F6 takes the machine back from the fault to a state it can run from.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from textual.widgets import OptionList

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from helpers import wait_for  # noqa: E402
from bareflow.tui.app import BareflowApp  # noqa: E402
from bareflow.tui.fault import FaultScreen  # noqa: E402
from bareflow.tui.journey import JourneyPanel, JourneyScreen  # noqa: E402
from bareflow.emu.session.client import RemoteSession, SessionConfig  # noqa: E402

SIZE = (200, 60)


def run_app(image: str, body, *, autostart: bool, pause: bool = False) -> BareflowApp:
    session = RemoteSession(SessionConfig(image=str(images.build(image)), autostart=autostart,
                                          pause_at_milestones=pause))
    app = BareflowApp(session, image=image, blink=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await body(app, pilot)
    try:
        asyncio.run(go())
    finally:
        session.close()
    return app


def showing(app, cls, selector: str) -> bool:
    """The modal is up and composed (push_screen returns before its widgets exist)."""
    return isinstance(app.screen, cls) and bool(app.screen.query(selector))


def timeline_lines(app) -> list[str]:
    ol = app.screen.query_one(JourneyPanel).query_one(OptionList)
    return [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]


@pytest.mark.timeout(60)
def test_timeline_lists_the_switch_to_protected_mode():
    async def body(app, pilot):
        await wait_for(pilot, lambda: app.view.state == "powered off", 20, "power-off")
        await wait_for(pilot, lambda: (app.view.journey or {}).get("milestones", [{}])[-1].get("kind") == "end",
                       10, "the journey's end")
        await pilot.press("f13")                  # Shift+F1 as a terminal sends it
        await wait_for(pilot, lambda: showing(app, JourneyScreen, "JourneyPanel OptionList"), 5, "timeline open")
        await wait_for(pilot, lambda: len(timeline_lines(app)) > 5, 5, "timeline filled")
        lines = timeline_lines(app)
        pm = [ln for ln in lines if "protected mode" in ln]
        assert any("Far jump" in ln for ln in pm), lines
        stamp = pm[0].split()[0].replace(",", "")
        assert stamp.isdigit() and int(stamp) > 0           # its cycle stamp
        panel = app.screen.query_one(JourneyPanel)
        panel.query_one(OptionList).highlighted = next(i for i, ln in enumerate(lines) if "Far jump" in ln)
        await pilot.pause(0.1)
        assert "protected mode" in panel.detail_text() and "CS" in panel.detail_text()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, 5, "timeline closed")
    run_app("core_pm.asm", body, autostart=True)


@pytest.mark.timeout(60)
def test_pause_at_milestones_opens_the_timeline_on_the_milestone():
    async def body(app, pilot):
        await wait_for(pilot, lambda: showing(app, JourneyScreen, "#journey-detail"), 20, "timeline opened by a pause")
        assert app.view.state == "paused" and app.view.message.startswith("paused at a milestone: Disk read")
        panel = app.screen.query_one(JourneyPanel)
        await wait_for(pilot, lambda: "Disk read" in panel.detail_text(), 5, "the paused milestone shown")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, 5, "timeline closed")
        await pilot.press("f5")                    # on to the next milestone
        await wait_for(pilot, lambda: showing(app, JourneyScreen, "#journey-detail"), 20, "timeline reopened")
        assert not app.view.message.startswith("paused at a milestone: Disk read #1")
    run_app("core_pm.asm", body, autostart=True, pause=True)


@pytest.mark.timeout(60)
def test_step_back_after_a_step_returns_to_the_previous_pc():
    async def body(app, pilot):
        r = m = app.view
        await wait_for(pilot, lambda: r.cpu is not None, 20, "first CPU view")
        for n in (1, 2, 3):
            await pilot.press("f6")
            await wait_for(pilot, lambda: r.cpu is not None and r.cpu.instructions >= n
                           and r.state == "paused", 10, f"step {n}")
        before = (r.cpu.pc, r.cpu.cycles, r.cpu.instructions)
        await pilot.press("f6")
        await wait_for(pilot, lambda: r.cpu.instructions > before[2] and r.state == "paused", 10, "step 4")
        assert r.cpu.pc != before[0]
        await pilot.press("f18")                   # Shift+F6 as a terminal sends it
        await wait_for(pilot, lambda: r.message.startswith("stepped back"), 20, "step back")
        await wait_for(pilot, lambda: r.cpu.instructions == before[2], 5, "view of the past")
        assert (r.cpu.pc, r.cpu.cycles, r.cpu.instructions) == before
        assert m.instructions == before[2]
        await pilot.press("f6")                    # and forward again: the same step
        await wait_for(pilot, lambda: r.cpu.instructions > before[2] and r.state == "paused", 10, "redo")
    run_app("core_pm.asm", body, autostart=False)


@pytest.mark.timeout(60)
def test_triple_fault_shows_the_explainer_and_steps_back_from_it():
    async def body(app, pilot):
        r = app.view
        await wait_for(pilot, lambda: showing(app, FaultScreen, "#fault-text"), 30, "fault explainer")
        assert r.state == "triple fault"
        text = app.screen.body()
        assert "triple fault" in text.lower() and "Last instructions executed" in text, text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, 5, "explainer closed")
        await pilot.press("f18")
        await wait_for(pilot, lambda: r.message.startswith("stepped back"), 30, "step back from the fault")
        assert r.state == "paused"
        await pilot.press("f5")                    # running again replays the same fault
        await wait_for(pilot, lambda: r.state == "triple fault", 20, "the fault again")
    run_app("core_triple.asm", body, autostart=True)


BUNDLED = ROOT / "images" / "fluid_llama.img"


@pytest.mark.timeout(60)
@pytest.mark.skipif(not BUNDLED.exists(), reason="no bundled image")
def test_history_checkpoints_at_its_pauses_without_changing_the_run(tmp_path):
    """Forward execution through History (checkpoints at pauses it asks for, here as often as
    it can) ends on exactly the cycle and instruction of a plain run, and stepping back from
    there works from the nearest of those checkpoints.  The guest computes all along (the
    batch prompt: ~0.7 s of generation; at the interactive prompt it would sit in HLT after
    ~0.1 s, less than one look of the pause thread, and get no checkpoint)."""
    import subprocess
    import sys
    from bareflow.emu.machine import Machine, MachineConfig, StopReason
    from bareflow.emu.session.history import History
    img = tmp_path / "batch.img"
    img.write_bytes(BUNDLED.read_bytes())
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img),
                    'prompt="Once upon a time" steps=48 exit=1'], check=True, capture_output=True)
    limit = 100_000_000
    plain = Machine(MachineConfig(image=str(img)))
    assert plain.run(limit) == StopReason.CYCLE_LIMIT
    m = Machine(MachineConfig(image=str(img)))
    h = History(m, share=1.0, min_period_s=0.0)
    try:
        assert h.run_until_stop(limit) == StopReason.CYCLE_LIMIT
        assert (m.cycles, m.instructions) == (plain.cycles, plain.instructions)
        kinds = [k for _c, _i, k in h.tt.history()]
        assert h.periodic >= 1 and kinds.count("slice") == h.periodic and kinds[-1] == "stop"
        regs = m.regs()
        assert h.step() == StopReason.STEP and h.step_back() == StopReason.STEP
        assert m.regs() == regs
    finally:
        h.close()
