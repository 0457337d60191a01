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
#: The lead while the front end reports that nothing visible has changed for a while (the
#: session's publisher is quiet: it looks once a second then, so bursts of a quarter of a second
#: cannot be seen).  Four wake-ups a second instead of ~17 for the same 100 ticks (issue 11);
#: the front end puts the lead back to PACE_LEAD_S as soon as anything visible changes or a
#: command comes (`lead_of`: the core's `pace_lead`, set from another thread: one attribute
#: store; a core nobody set it on uses PACE_LEAD_S).
QUIET_LEAD_S = 0.25


def lead_of(core: Any) -> float:
    """How far this core's idle clock may lead the wall clock now."""
    return getattr(core, "pace_lead", PACE_LEAD_S)


def _wait_cap(lead: float) -> float:
    """The longest single pacing wait: 0.1 s as always, or a little more than a larger lead
    (a wait ends early on input or a pause anyway)."""
    return max(0.1, lead + 0.05)


def pace_idle(core: Any, deadline: int) -> bool:
    """Interactive runs: a halted guest waits in real time, so an idle kernel's clock (and
    its timer ticks) keep pace with the wall clock instead of racing ahead.  Compute is never
    slowed: only HLT time is paced.  True if woken early (input, pause).  The lead is the
    core's `lead_of` (PACE_LEAD_S, or QUIET_LEAD_S while the front end is quiet)."""
    lead = lead_of(core)
    now = time.perf_counter()
    if core._pace_origin is None or core._pace_origin[1] > core.fast.h.cycles:
        core._pace_origin = (now, core.fast.h.cycles)
    wall0, cyc0 = core._pace_origin
    ahead = (deadline - cyc0) / CPU_HZ - (now - wall0)
    interval = (deadline - core.fast.h.cycles) / CPU_HZ
    # a lead earned computing is not paid back (issue 12), nor one granted while the front end
    # was quiet when the lead comes back down (a key then: what follows it must not wait)
    if ahead > interval + lead + 0.002:
        core._pace_origin = (now, core.fast.h.cycles)
        ahead = interval
    if ahead > lead:
        cap = _wait_cap(lead)
        core.state = "idle"
        woken = core._wake.wait(min(ahead, cap))
        core._wake.clear()
        core.state = "running"
        return woken or ahead > cap
    if ahead < -0.25:  # far behind (we were computing): do not try to catch up later
        core._pace_origin = (now, core.fast.h.cycles)
    return False


def pace_limit(core: Any) -> int:
    """The last cycle the idle clock may reach now without `pace_idle` sleeping first (it
    sleeps when the guest would be more than the core's `pace_lead` ahead).  Conservative: the current
    cycle when the origin is not set yet or would be reset (far behind)."""
    now = time.perf_counter()
    cycles = core.fast.h.cycles
    origin = core._pace_origin
    if origin is None or origin[1] > cycles:
        return cycles
    wall0, cyc0 = origin
    if (cycles - cyc0) / CPU_HZ - (now - wall0) < -0.25:
        return cycles
    return cyc0 + int((now - wall0 + lead_of(core)) * CPU_HZ)
