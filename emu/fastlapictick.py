"""The local APIC timer's interrupt taken inside emu_start (emu/fastpath_lapictick.c).

Why: a Linux kernel's timer tick is the local APIC timer's expiry, ~18,000 of them in the Debian
boot.  Each one ended `emu_start` at the slice's deadline and went through the Python run loop
(`clock.run_due` -> LocalApic._on_timer, `_irq_check` -> the INTA, `_deliver_now`'s
bookkeeping) before a new `emu_start`.  The per-block callback's deadline branch now calls C
first, which does that work when it is ordinary (the C file's header says exactly when), so the
handler starts inside the same `emu_start`.

Exactness: C runs devices/lapic.py's arithmetic (`_on_timer`, `_timer_update`, `acknowledge`)
on the registers the local APIC keeps in emu/fastlapic.py's struct, `xd_deliver_pm` for the
delivery, and `_deliver_now`'s cycles, chain break and profiler frame.  What Python would have
done around it is done at the next point Python code runs (`settle`, chained after the 8259
tick's and the native MMIO path's: when `emu_start` returns, before every Python IN/OUT, MMIO
access, event and before any clock event is scheduled): the fired timer event is replaced by
the re-armed one (LocalApic.native_sync, as after a native initial-count write) and the
`interrupt` events are emitted with the cycle and instruction count they had.  Every event
Python schedules during the slice lowers the limit C must stay below (the earliest other event),
and LocalApic mirrors its timer event's cycle into the cell (`timer_due`), so C always knows
which deadline is the timer's; the HPET timers' events are left out of that limit because their
cycles are in their cells too (devices/hpet.py mirrors them; C adds them to the limit).  The run loop halted after a HLT asks too (`idle`).

`BAREFLOW_NATIVE_LAPIC_TICK=0` (or `BAREFLOW_NATIVE_LAPIC=0`, `BAREFLOW_NATIVE_DELIVERY=0`)
turns it off: every tick goes through the run loop as before.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from .fasthpetexp import HpetExpiry
from .fastpath import bind

NONE = (1 << 64) - 1
LOG = 64
_GATES = {0xE: "32-bit interrupt gate", 0xF: "32-bit trap gate"}


class _Rec(ctypes.Structure):
    _fields_ = [("cycle", ctypes.c_uint64), ("icount", ctypes.c_uint64), ("vector", ctypes.c_uint32),
                ("from_cs", ctypes.c_uint32), ("from_eip", ctypes.c_uint32), ("to_cs", ctypes.c_uint32),
                ("to_eip", ctypes.c_uint32), ("gate_type", ctypes.c_uint32), ("status", ctypes.c_uint32),
                ("pad", ctypes.c_uint32)]


class _Flt(ctypes.Structure):
    """Mirror of the public head of `flt_state` (same order)."""

    _fields_ = [("armed", ctypes.c_uint32), ("vec_cost", ctypes.c_uint32), ("ev_limit", ctypes.c_uint64),
                ("stack_lo", ctypes.c_uint64),
                ("stack_hi", ctypes.c_uint64), ("guard_hits", ctypes.c_uint64), ("nlog", ctypes.c_uint32),
                ("pad", ctypes.c_uint32), ("ticks", ctypes.c_uint64), ("declined", ctypes.c_uint64),
                ("why", ctypes.c_uint64 * 12), ("idle_ticks", ctypes.c_uint64),
                ("log", _Rec * LOG)]


def _lib() -> ctypes.CDLL:
    sz, vp, u64 = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint64
    return bind("flt", {
        "flt_init": (None, [vp, vp, vp]),
        "flt_attach": (None, [vp, vp]),
        "flt_detach": (None, [vp]),
        "flt_set_guard": (None, [vp, vp, u64, u64]),
        "flt_probe_frame": (ctypes.c_int, [vp, vp, ctypes.POINTER(u64)]),
        "flt_idle": (ctypes.c_int, [vp, vp, u64]),
        "flt_state_size": (sz, []),
        "flt_layout": (sz, [ctypes.POINTER(sz), sz]),
    }, _Flt, "the native LAPIC timer tick", "emu/fastlapictick.py")


def _allowed() -> bool:
    return all(os.environ.get(name, "1") != "0" for name in
               ("BAREFLOW_NATIVE_LAPIC_TICK", "BAREFLOW_NATIVE_LAPIC", "BAREFLOW_NATIVE_DELIVERY"))


class LapicTick:
    """The native LAPIC timer tick of one core: its struct, arming per slice, settling."""

    def __init__(self, core: Any) -> None:
        lib = _lib()
        self._lib = lib
        self.core = core
        buf = ctypes.create_string_buffer(lib.flt_state_size())
        lib.flt_init(buf, core.lapic_native._state, core.native._x)
        self._buf = buf
        self._state = ctypes.addressof(buf)
        self.h = _Flt.from_buffer(buf)
        self.h.vec_cost = core.costs.interrupt_cycles(True, "hardware")
        self.allowed = _allowed() and bool(core.lapic_native.h.lapic_on)
        self._lapic = core.board.lapic
        self._hpet = core.board.devices.get("hpet")
        self._ticks = 0                        # h.ticks at the last settle
        self._scheduling = False
        self._at = ctypes.c_uint64()
        if not self.allowed:
            self.hpet_expiry = HpetExpiry(core, self)   # (off with this tick)
            return
        lib.flt_attach(self._state, core.fast._state)
        pic_tick = core.pic_tick
        self._mmio_sync = pic_tick.after_settle        # FastLapic.native_sync
        pic_tick.after_settle = self.settle
        core.clock.schedule_listeners.append(self._on_schedule)
        # an HPET timer's quiet expiry, chained in front of this tick (emu/fasthpetexp.py)
        self.hpet_expiry = HpetExpiry(core, self)

    def _on_schedule(self, cycle: int) -> None:
        """An event Python schedules during the slice: no native tick at or after it."""
        if not self._scheduling and cycle < self.h.ev_limit:
            self.h.ev_limit = cycle

    # ------------------------------------------------------------------ before a slice
    def arm(self, max_cycles: int | None) -> None:
        """May the deadline branch take the timer's interrupt in the slice about to start?"""
        h = self.h
        if not self.allowed:
            return
        self.hpet_expiry.arm(max_cycles)
        h.armed = 0
        core = self.core
        if not core.pic_tick._listeners_ok():
            return
        # armed without a timer event too: the handler's native initial-count write gives one
        # (the event's cycle is the cell's timer_due: LocalApic mirrors it)
        ev = self._lapic._timer_event
        if ev is not None and ev.cancelled:
            ev = None
        # the HPET timers' events too: C reads their cycles from the cells (devices/hpet.py
        # mirrors them, a native comparator write or expiry stores its own)
        limit = core.clock.next_deadline_excluding_all((ev, *self._hpet_events()))
        if max_cycles is not None:
            limit = max_cycles if limit is None else min(limit, max_cycles)
        at = self._at
        if not self._lib.flt_probe_frame(self._state, core.uc._uch, ctypes.byref(at)):
            return
        lo, hi = max(at.value - 0x1000, 0) & ~0xFFF, (at.value + 12 + 0x1FFF) & ~0xFFF
        pricer = core.pricer
        if pricer._pending is not None and pricer._pending.value:
            pricer._sync()                     # blocks C priced: their pages
        pages = pricer._code_pages
        if any(pages.get(p) for p in range(lo >> 12, hi >> 12)):
            return
        self._lib.flt_set_guard(self._state, core.fast._state, lo, hi)
        h.ev_limit = NONE if limit is None else limit
        h.armed = 1

    def _hpet_events(self) -> tuple:
        hpet = self._hpet
        return () if hpet is None else tuple(t.event for t in hpet.timers)

    def idle(self, deadline: int, max_cycles: int | None) -> bool:
        """The run loop, halted after a HLT whose event it emitted (its pacing wait over), would
        advance the clock to `deadline` and go round: take the timer's tick natively instead
        when that deadline is the timer's (flt_idle).  True if it was delivered."""
        if not self.allowed:
            return False
        self.arm(max_cycles)
        if not self.h.armed:
            return False
        ok = self._lib.flt_idle(self._state, self.core.uc._uch, deadline)
        self.h.armed = 0
        self.core.pic_tick.settle()
        return bool(ok)

    # ------------------------------------------------------------------ after native ticks
    def settle(self) -> None:
        """After the 8259 tick's settle: the timer's clock event (re-armed natively by a tick
        or an initial-count write) and the `interrupt` events of native ticks, in order."""
        was, self._scheduling = self._scheduling, True
        try:
            self._mmio_sync()
        finally:
            self._scheduling = was
        h = self.h
        if h.ticks != self._ticks:
            self._ticks = h.ticks
            self.core.cpu._cs_cache = None     # as _deliver_now's forget_cs (C dropped its copy)
        n = h.nlog
        if n:
            recs = [(r.cycle, r.icount, r.vector, r.from_cs, r.from_eip, r.to_cs, r.to_eip, r.gate_type, r.status)
                    for r in h.log[:n]]
            h.nlog = 0
            self._emit(recs)

    def _emit(self, recs: list[tuple]) -> None:
        core = self.core
        trace = core.trace
        observers = core.hooks.route("interrupt") if core.hooks.events else ()
        for cycle, icount, vector, from_cs, from_eip, to_cs, to_eip, gtype, status in recs:
            if status == 2:     # Unicorn refused the CS load: raise as cpu.set would
                core.cpu.set("cs", to_cs & ~3 | from_cs & 3)
            if trace is None and not observers:
                continue
            fields = {"vector": vector, "kind": "hardware", "error_code": None, "cs": from_cs, "eip": from_eip,
                      "to_cs": to_cs, "to_eip": to_eip, "gate": _GATES.get(gtype, "?")}
            if trace is not None:
                trace.emit("interrupt", cycle, icount, fields)
            for observer in observers:
                observer("interrupt", cycle, icount, fields)

    # ------------------------------------------------------------------ what tests read
    def counts(self) -> dict[str, int]:
        h = self.h
        return {"ticks": h.ticks, "idle_ticks": h.idle_ticks, "declined": h.declined, "why": list(h.why)}
