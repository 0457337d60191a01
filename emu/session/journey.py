"""The boot journey for a session: the emulator-process half of the TUI's timeline.

`JourneyFeed` lives next to the `Runner`: it attaches a `bareflow.emu.journey.Journey` and a
`FaultWatcher` to the real machine, optionally pauses the runner at each milestone
(`--pause-at-milestones`, for a class), and `publish()` returns plain data (lists of dicts and
strings) for a `JourneyFrame`, only when something changed.  tui/journey.py shows it.
"""
from __future__ import annotations

from typing import Any


class JourneyFeed:
    """Emulator-process half: the journey and the fault explainer on the real machine."""

    def __init__(self, machine: Any, runner: Any = None, *, pause_at_milestones: bool = False) -> None:
        from bareflow.emu.explain import FaultWatcher
        from bareflow.emu.journey import Journey

        self.machine = machine
        self.runner = runner
        self.journey = Journey().attach(machine)
        self.watcher = FaultWatcher(machine)
        self.watcher.on_explanation.append(self.journey.add_explanation)
        self.pause_at_milestones = pause_at_milestones
        #: the milestone the run paused at (shown by the UI), or None
        self.paused_at: dict[str, Any] | None = None
        self._last_key: tuple | None = None
        self.journey.listeners.append(self._on_milestone)

    def _on_milestone(self, m: Any) -> None:
        # runs on the emulator thread, inside the machine's run loop: ask for a pause only
        if self.pause_at_milestones and m.pause:
            self.paused_at = m.to_dict()
            if self.runner is not None:
                self.runner.pause()
                self.runner.message = f"paused at a milestone: {m.title}"
            else:
                self.machine.request_pause()

    def publish(self) -> dict[str, Any] | None:
        """{"milestones": [...], "fault": text | None, "paused_at": dict | None} when it changed."""
        ms = self.journey.milestones
        last = self.watcher.last
        key = (len(ms), self.journey.revision, ms[-1].title if ms else "", ms[-1].text if ms else "",
               id(last), self.paused_at is not None and self.paused_at.get("cycle"))
        if key == self._last_key:
            return None
        self._last_key = key
        return {"milestones": [m.to_dict() for m in ms], "fault": last.text() if last is not None else None,
                "paused_at": self.paused_at}

    def forget_published(self) -> None:
        """The last `publish()` could not be sent: send the present state again next time."""
        self._last_key = None

    def set_pausing(self, on: bool) -> None:
        """Pause at milestones or not (off while time travel re-runs the past)."""
        self.pause_at_milestones = on
