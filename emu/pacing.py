"""Pacing an idle guest to the wall clock (interactive runs), and how far the idle clock may run.

A halted guest waits in real time, so an idle kernel's clock (and its timer ticks) keep pace
with the wall clock instead of racing ahead; compute is never slowed, only HLT time is paced.
The run loop asks `pace_idle` before it moves the idle clock to the next event; the native idle
tick (emu/fastpic.py) asks `pace_limit` for the last cycle it may move the clock to inside a
slice without the run loop having had to sleep first.  One rule, in one place.
"""
from __future__ import annotations

import time
from typing import Any

from ..devices.base.clock import CPU_HZ

#: How far an idle guest's clock may run ahead of the wall clock before the loop sleeps: its
#: timer ticks are then handled in bursts of a few (5 at 100 Hz) with one wake-up per burst,
#: not one per tick (issue 11).  Input still wakes the loop at once; no one sees 50 ms.
PACE_LEAD_S = 0.05
#: While the front end reports that nothing visible has changed for a while (the session's
#: publisher is quiet: it looks once a second then), an idle guest may fall this far BEHIND the
#: wall clock before the loop runs the ticks that are due, as one burst: ~4 wake-ups a second
#: instead of ~17 for the same 100 ticks (issue 11).  Behind, not ahead: the guest never leads
#: by more than PACE_LEAD_S, so nothing it does on its own is shown early and no lead is ever
#: forgiven (a lead the next key found would be kept, as issue 12 keeps one earned computing,
#: and the guest's clock would gain on the wall clock at every quiet spell).  What it does on
#: its own while quiet comes up to QUIET_LAG_S late; a key or a visible change ends the lag at
#: once (the front end sets `pace_lag` back to 0 and wakes the loop: `Core.wake`), and the
#: overdue ticks run back to back.
QUIET_LAG_S = 0.2
#: behind the wall clock by more than this (the guest computed slower than real time), the
#: pacing origin is set again: the guest does not race to catch up
FAR_BEHIND_S = 0.25 + QUIET_LAG_S


def lag_of(core: Any) -> float:
    """How far this core's idle clock may fall behind the wall clock before its due ticks run
    (`pace_lag`, set by the front end from another thread: one attribute store; 0 by default)."""
    return getattr(core, "pace_lag", 0.0)


def pace_idle(core: Any, deadline: int) -> bool:
    """Interactive runs: a halted guest waits in real time, so an idle kernel's clock (and
    its timer ticks) keep pace with the wall clock instead of racing ahead.  Compute is never
    slowed: only HLT time is paced.  True if woken early (input, pause).  With a lag
    (`lag_of`: QUIET_LAG_S while the front end is quiet) each sleep lasts until the guest's next
    event is that far in the past, and the due ticks then run until it leads by PACE_LEAD_S
    again: one wake-up per lag + lead, on the native path and the Python one alike."""
    lag = lag_of(core)
    now = time.perf_counter()
    if core._pace_origin is None or core._pace_origin[1] > core.fast.h.cycles:
        core._pace_origin = (now, core.fast.h.cycles)
    wall0, cyc0 = core._pace_origin
    ahead = (deadline - cyc0) / CPU_HZ - (now - wall0)
    interval = (deadline - core.fast.h.cycles) / CPU_HZ
    if ahead > interval + PACE_LEAD_S + 0.002:   # a lead earned computing is not paid back (issue 12)
        core._pace_origin = (now, core.fast.h.cycles)
        ahead = interval
    if ahead > PACE_LEAD_S:
        wait, cap = ahead + lag, 0.1 + lag
        core.state = "idle"
        woken = core._wake.wait(min(wait, cap))
        core._wake.clear()
        core.state = "running"
        return woken or wait > cap
    if ahead < -FAR_BEHIND_S:  # far behind (we were computing): do not try to catch up later
        core._pace_origin = (now, core.fast.h.cycles)
    return False


def pace_limit(core: Any) -> int:
    """The last cycle the idle clock may reach now without `pace_idle` sleeping first (it
    sleeps when the guest would be more than PACE_LEAD_S ahead).  Conservative: the current
    cycle when the origin is not set yet or would be reset (far behind)."""
    now = time.perf_counter()
    cycles = core.fast.h.cycles
    origin = core._pace_origin
    if origin is None or origin[1] > cycles:
        return cycles
    wall0, cyc0 = origin
    if (cycles - cyc0) / CPU_HZ - (now - wall0) < -FAR_BEHIND_S:
        return cycles
    return cyc0 + int((now - wall0 + PACE_LEAD_S) * CPU_HZ)
