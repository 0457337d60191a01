"""Test doubles shared by the device tests: a clock whose time the test sets."""
from __future__ import annotations

from bareflow.devices.base.clock import Clock


class Time:
    """A settable clock: `run_until` fires due events at their own cycle, in order, as the
    machine's run loop does between guest blocks."""

    def __init__(self) -> None:
        self.t = 0
        self.clock = Clock(lambda: self.t)

    def run_until(self, cycle: int) -> None:
        while True:
            nd = self.clock.next_deadline()
            if nd is None or nd > cycle:
                break
            self.t = nd
            self.clock.run_due(nd)
        self.t = cycle
