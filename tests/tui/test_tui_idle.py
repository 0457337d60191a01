"""Issue 11, idle: the UI process wakes up only when there is something to show.

Over a session that says when frames arrived (`SessionClient.on_change`, as `RemoteSession`
does), the app has no poll timer: it polls once per notification (at most POLL_HZ a second),
so an idle guest's one status update a second is one wake-up.  The cursor blink's timer sleeps
while the blinking rests (after BLINK_IDLE_S without a key or a change) and a key wakes it.
These tests count the polls and the blink ticks; they fail if a periodic timer comes back.
"""
from __future__ import annotations

import asyncio
import threading

import pytest

from helpers import sync, wait_for  # noqa: E402
from bareflow.tui import app as app_mod
from bareflow.tui import screen as screen_mod
from bareflow.tui.app import BareflowApp
from bareflow.tui.screen import VgaScreen
from tui_fake import FakeSession

SIZE = (200, 60)


class NotifyingSession(FakeSession):
    """The fake session, telling the app when to poll as RemoteSession's reader thread does:
    `frames()` (from any thread) is "a message of frames arrived"; a command is followed by
    one, as the emulator process publishes at once after a command."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.callback = None

    def on_change(self, callback) -> bool:
        self.callback = callback
        return True

    def frames(self) -> None:
        threading.Thread(target=self.callback).start()

    def command(self, name: str, *args) -> None:
        super().command(name, *args)
        threading.Timer(0.04, self.callback).start()


@pytest.mark.timeout(30)
@sync
async def test_the_ui_polls_only_when_frames_arrive_and_a_key_shows_at_once():
    session = NotifyingSession(autostart=False)
    app = BareflowApp(session, image="fake.img", blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        p0 = app.polls_done
        await pilot.pause(1.0)
        assert app.polls_done == p0, "no frames: no poll (a poll timer would have run 25 times)"
        session.frames()
        await wait_for(pilot, lambda: app.polls_done == p0 + 1, 2, "one poll for one message")
        await pilot.pause(0.3)
        assert app.polls_done == p0 + 1
        vga = app.query_one("#vga", VgaScreen)
        await pilot.press("x")                 # the toy guest echoes it on its screen
        await wait_for(pilot, lambda: vga.text()[0].startswith("x"), 2, "the echo of a key")
        # many messages at once: one poll each at most, and never more than POLL_HZ a second
        p1 = app.polls_done
        for _ in range(40):
            session.callback()
        await pilot.pause(0.5)
        assert 1 <= app.polls_done - p1 <= 0.5 * app_mod.POLL_HZ + 2, app.polls_done - p1
    session.close()


@pytest.mark.timeout(30)
def test_the_blink_timer_sleeps_while_the_blinking_rests_and_a_key_wakes_it(monkeypatch):
    monkeypatch.setattr(screen_mod, "BLINK_IDLE_S", 0.4)
    ticks: list[int] = []
    original = VgaScreen.tick_blink
    monkeypatch.setattr(VgaScreen, "tick_blink", lambda self: (ticks.append(1), original(self)))
    session = NotifyingSession(autostart=False)
    app = BareflowApp(session, image="fake.img", blink=True)

    async def body() -> None:
        async with app.run_test(size=SIZE) as pilot:
            vga = app.query_one("#vga", VgaScreen)
            await wait_for(pilot, lambda: vga._blink_resting, 5, "the blinking rests")
            n = len(ticks)
            await pilot.pause(1.0)
            assert len(ticks) == n, "resting: the blink timer does not run (8.75 ticks a second did)"
            assert vga._cursor_phase_on and vga._char_phase_on, "it rests in the visible phase"
            await pilot.press("y")
            await wait_for(pilot, lambda: len(ticks) > n + 2, 3, "blinking again after a key")
    try:
        asyncio.run(body())
    finally:
        session.close()


@pytest.mark.timeout(30)
def test_the_input_thread_sleeps_until_a_key_and_still_times_out_a_lone_escape():
    """tui/driver.py: the terminal input thread (Textual's looks every 0.1 s) blocks until a
    byte comes; a lone Escape is still reported after ESCDELAY; stopping wakes it at once."""
    import os
    import pty
    import time

    from textual import events

    from bareflow.tui.driver import QuietLinuxDriver

    assert BareflowApp(None).driver_class is QuietLinuxDriver
    asyncio.run(_drive_a_pty(QuietLinuxDriver, events, os, pty, time))


async def _drive_a_pty(QuietLinuxDriver, events, os, pty, time) -> None:
    """The test's body: Textual's driver wants a running loop; nothing here needs it to run."""
    import tty
    master, slave = pty.openpty()
    tty.setraw(slave)                       # as the driver's application mode sets it
    driver = QuietLinuxDriver(BareflowApp(None))
    driver.fileno = slave
    got: list = []
    driver.process_message = got.append
    thread = threading.Thread(target=driver.run_input_thread)
    thread.start()

    def wakeups() -> int:       # the thread's voluntary context switches: each sleep it ends
        with open(f"/proc/self/task/{thread.native_id}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))
    try:
        time.sleep(0.3)
        w0 = wakeups()
        time.sleep(1.0)
        assert wakeups() - w0 <= 2, wakeups() - w0           # asleep (Textual's loop: 10)
        os.write(master, b"a")
        end = time.monotonic() + 5
        while not any(isinstance(e, events.Key) and e.key == "a" for e in got) and time.monotonic() < end:
            time.sleep(0.01)
        assert any(isinstance(e, events.Key) and e.key == "a" for e in got), got
        os.write(master, b"\x1b")                               # Escape alone: times out
        end = time.monotonic() + 5
        while not any(isinstance(e, events.Key) and e.key == "escape" for e in got) and time.monotonic() < end:
            time.sleep(0.01)
        assert any(isinstance(e, events.Key) and e.key == "escape" for e in got), got
        time.sleep(0.5)
        w1 = wakeups()
        time.sleep(1.0)
        assert wakeups() - w1 <= 2, "asleep again once the sequence timed out"
    finally:
        t0 = time.monotonic()
        driver.exit_event.set()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - t0 < 1.0, "the exit event wakes it"
        os.close(master)
        os.close(slave)
