"""The deterministic cycle clock and its event queue.

Time in BareFlow is not wall time: it is the number of modelled CPU cycles the guest has
executed (see docs/cycle-model.md).  Devices never look at the host clock; they schedule
callbacks at absolute cycle stamps, and the machine runs the guest up to the earliest one.
Same image + same input therefore gives the same cycles, every run.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Callable

#: Nominal frequency of the emulated CPU (a 100 MHz Pentium).  Converts cycles to seconds.
CPU_HZ = 100_000_000
#: The 8254 PIT input clock, as on every PC.
PIT_HZ = 1_193_182


@dataclass(order=True)
class Event:
    """A callback due at an absolute cycle.  `seq` keeps ties in scheduling order."""

    cycle: int
    seq: int
    callback: Callable[[int], None] = field(compare=False)
    name: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)


class Clock:
    """Cycle counter plus a min-heap of pending device events.

    `now()` is supplied by the machine (it knows the cycle count mid-block, exactly at the
    instruction doing I/O); `run_due()` fires every event whose time has come, in order.
    """

    def __init__(self, now: Callable[[], int] | None = None) -> None:
        self._now = now or (lambda: 0)
        self._heap: list[Event] = []
        self._seq = itertools.count()
        #: each told the cycle of every new event (the machine's native port path must know when
        #: an event was scheduled from outside an I/O access: emu/fastports.py `hold`; the native
        #: ticks lower the limit they must stay below: emu/fastpic.py, emu/fastlapictick.py)
        self.schedule_listeners: list[Callable[[int], None]] = []
        #: called before an event is scheduled (the machine's native idle tick first hands
        #: back the PIT event it moved, so the queue's order is the Python path's: emu/fastpic.py)
        self.before_schedule: Callable[[], None] | None = None

    def bind(self, now: Callable[[], int]) -> None:
        """Attach the machine's exact cycle reader."""
        self._now = now

    def now(self) -> int:
        return self._now()

    def schedule(self, cycle: int, callback: Callable[[int], None], name: str = "") -> Event:
        """Call `callback(cycle)` once the clock reaches `cycle` (absolute)."""
        if self.before_schedule is not None:
            self.before_schedule()
        ev = Event(int(cycle), next(self._seq), callback, name)
        heapq.heappush(self._heap, ev)
        for listener in self.schedule_listeners:
            listener(ev.cycle)
        return ev

    def schedule_in(self, delta: int, callback: Callable[[int], None], name: str = "") -> Event:
        return self.schedule(self.now() + max(0, int(delta)), callback, name)

    @staticmethod
    def cancel(ev: Event | None) -> None:
        if ev is not None:
            ev.cancelled = True

    def next_deadline(self) -> int | None:
        """Cycle of the earliest live event, or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].cycle if heap else None

    def next_deadline_excluding(self, skip: Event | None) -> int | None:
        """Cycle of the earliest live event other than `skip`, or None."""
        return min((e.cycle for e in self._heap if not e.cancelled and e is not skip), default=None)

    def next_deadline_excluding_all(self, skip: tuple[Event | None, ...]) -> int | None:
        """Cycle of the earliest live event that is none of `skip` (by identity), or None."""
        ids = {id(e) for e in skip if e is not None}
        return min((e.cycle for e in self._heap if not e.cancelled and id(e) not in ids), default=None)

    def run_due(self, now: int) -> int:
        """Fire all events due at or before `now`; returns how many fired."""
        fired = 0
        heap = self._heap
        while heap and (heap[0].cancelled or heap[0].cycle <= now):
            ev = heapq.heappop(heap)
            if ev.cancelled:
                continue
            ev.callback(ev.cycle)
            fired += 1
        return fired

    def clear(self) -> None:
        """Drop every pending event (a snapshot restore: devices then re-schedule theirs)."""
        self._heap.clear()

    def pending(self) -> list[tuple[int, str]]:
        """(cycle, name) of live events, for snapshots and the debugger."""
        return sorted((e.cycle, e.name) for e in self._heap if not e.cancelled)


def pit_ticks_to_cycles(ticks: int) -> int:
    """Exact integer conversion of PIT input-clock ticks to CPU cycles."""
    return ticks * CPU_HZ // PIT_HZ


def cycles_to_pit_ticks(cycles: int) -> int:
    return cycles * PIT_HZ // CPU_HZ
