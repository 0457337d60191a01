"""The TUI's journey timeline: the emulator-process feed on a real machine (pausing at each
milestone through a runner-like object) and the widget and modal screen under Textual's Pilot."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import OptionList

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.session.journey import JourneyFeed  # noqa: E402
from bareflow.tui.journey import JourneyPanel, JourneyScreen  # noqa: E402


class _Runner:
    """What JourneyFeed uses of the session's Runner: pause() and a message."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.message = ""
        self.pauses = 0

    def pause(self) -> None:
        self.pauses += 1
        self.machine.request_pause()


def feed_for(name: str, pause: bool) -> tuple[Machine, JourneyFeed, _Runner]:
    m = Machine(MachineConfig(image=images.build(name)))
    r = _Runner(m)
    return m, JourneyFeed(m, r, pause_at_milestones=pause), r


def test_feed_publishes_only_changes_and_pauses_at_milestones():
    m, feed, runner = feed_for("core_pm.asm", pause=True)
    first = feed.publish()
    assert [x["kind"] for x in first["milestones"]] == ["handover", "a20"] and first["fault"] is None
    assert feed.publish() is None                      # nothing new
    assert m.run(2_000_000_000) == StopReason.PAUSED
    data = feed.publish()
    assert data["paused_at"]["kind"] == "disk_read" and runner.message.startswith("paused at a milestone: Disk read #1")
    while m.run(2_000_000_000) == StopReason.PAUSED:
        pass
    assert m.exit_status == 33
    data = feed.publish()
    assert runner.pauses == sum(1 for x in data["milestones"][2:] if x["pause"])   # after the hand-over
    assert "#GP(0x48): selector 0x48 lies beyond the GDT limit 0x17" in data["fault"]


def test_feed_without_pausing_runs_straight_through():
    m, feed, runner = feed_for("fault_idt_limit.asm", pause=False)
    assert m.run(500_000_000) == StopReason.TRIPLE_FAULT and runner.pauses == 0
    data = feed.publish()
    assert data["fault"].startswith("IDT limit is 0, so vector 0x30 cannot be delivered\n")
    assert data["milestones"][-2]["kind"] == "triple_fault"


def _sample() -> dict:
    m, feed, _ = feed_for("fault_not_present.asm", pause=False)
    m.run(500_000_000)
    return feed.publish()


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield JourneyPanel(id="journey")


def test_panel_lists_milestones_and_explains_the_selected_one():
    data = _sample()

    async def body() -> None:
        app = PanelApp()
        async with app.run_test(size=(140, 40)) as pilot:
            panel = app.query_one(JourneyPanel)
            panel.update_from(data)
            await pilot.pause()
            ol = app.query_one(OptionList)
            assert ol.option_count == len(data["milestones"])
            assert ol.highlighted == ol.option_count - 1           # follows the newest
            detail = panel.detail_text()
            assert "The run ended" in detail and "Fault explainer" in detail
            assert "IDT entry 8 is not present" in detail
            ol.focus()
            ol.highlighted = 0
            await pilot.pause()
            assert panel.detail_text().startswith("BIOS hands over to the boot sector at 0000:7c00")
            assert not panel.follow
            panel.update_from(dict(data))                           # a refresh keeps the user's choice
            await pilot.pause()
            assert ol.highlighted == 0

    asyncio.run(body())


def test_journey_screen_refreshes_from_its_source():
    data = _sample()
    box: dict = {"data": None}

    class ScreenApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(JourneyScreen(lambda: box["data"]))

    async def body() -> None:
        app = ScreenApp()
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause(0.3)
            box["data"] = data
            await pilot.pause(0.5)
            ol = app.screen.query_one(OptionList)
            assert ol.option_count == len(data["milestones"])
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, JourneyScreen)

    asyncio.run(body())
