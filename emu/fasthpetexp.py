"""An HPET timer's quiet expiry done inside emu_start (emu/fastpath_hpetexp.c).

Why: Linux's HPET character driver calibrates (`__hpet_calibrate`) by reading the main counter
and writing timer 2's comparator just ahead of it in a loop, with interrupts off, for ~1 ms at a
time.  Timer 2's interrupt is disabled, yet every comparator write arms its clock event one
tick ahead (QEMU 7.2's arithmetic, which devices/hpet.py follows), so ~9,100 `emu_start` slices
of the Debian boot ended only for the run loop to fire an expiry that changes nothing.  The
per-block callback's deadline branch now asks C first, which does such an expiry itself when it
is provably a no-op (the C file's header says exactly when) and goes on with the same block.

Exactness: C does `Hpet._expire`'s work for that case (nothing but the event going away) and
hands the event back as a native re-arm to "none" (the cell's `due`/`gen`), which
`Hpet.native_sync` takes at the next settle, before any other event can be scheduled.  What only
Python knows (the timer's interrupt-status bit, the I/O APIC's levels) is checked here before
each slice; the 8259's registers, which native code may change during the slice, are checked
in C when the expiry is due.  Any Python code during the slice withdraws the permission (this
module's settle hook runs before every Python IN/OUT, MMIO access and scheduled event).

`BAREFLOW_NATIVE_HPET_EXPIRY=0` turns it off, and so does anything that turns off the native
HPET registers (`BAREFLOW_NATIVE_HPET=0`) or the native LAPIC tick (`BAREFLOW_NATIVE_LAPIC_TICK=0`,
`BAREFLOW_NATIVE_LAPIC=0`, `BAREFLOW_NATIVE_DELIVERY=0`): every expiry goes through the run loop.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from ..devices.hpet import NUM_TIMERS
from .fastpath import bind

NONE = (1 << 64) - 1
NO_LINE = 0xFFFFFFFF


class _Fhx(ctypes.Structure):
    """Mirror of the public head of `fhx_state` (same order)."""

    _fields_ = [("allow", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("pic_line", ctypes.c_uint32 * NUM_TIMERS),
                ("pad2", ctypes.c_uint32), ("ev_limit", ctypes.c_uint64), ("expiries", ctypes.c_uint64),
                ("declined", ctypes.c_uint64), ("why", ctypes.c_uint64 * 8)]


def _lib() -> ctypes.CDLL:
    sz, vp = ctypes.c_size_t, ctypes.c_void_p
    return bind("fhx", {
        "fhx_init": (None, [vp, vp, vp, vp]),
        "fhx_attach": (None, [vp, vp]),
        "fhx_detach": (None, [vp, vp]),
        "fhx_state_size": (sz, []),
        "fhx_layout": (sz, [ctypes.POINTER(sz), sz]),
    }, _Fhx, "the native HPET expiry", "emu/fasthpetexp.py")


def _allowed() -> bool:
    return os.environ.get("BAREFLOW_NATIVE_HPET_EXPIRY", "1") != "0"


class HpetExpiry:
    """The native quiet HPET expiry of one core: its struct, the per-slice permission."""

    def __init__(self, core: Any, tick: Any) -> None:
        """`tick`: the core's LapicTick (emu/fastlapictick.py), which makes this and arms it."""
        self.core = core
        self._hpet = core.board.devices.get("hpet")
        native = core.lapic_native
        self.allowed = (_allowed() and self._hpet is not None and bool(native.h.hpet_on)
                        and getattr(tick, "allowed", False))
        if not self.allowed:
            self.h = _Fhx()
            return
        lib = _lib()
        self._lib = lib
        buf = ctypes.create_string_buffer(lib.fhx_state_size())
        lib.fhx_init(buf, native._state, core.pic_tick._state, core.fast._state)
        self._buf = buf
        self._state = ctypes.addressof(buf)
        self.h = _Fhx.from_buffer(buf)
        self._timers = self._hpet.timers
        lib.fhx_attach(self._state, core.fast._state)
        pic_tick = core.pic_tick
        prev = pic_tick.after_settle            # the LAPIC tick's settle (the native re-arms)

        def after_settle() -> None:
            self.h.allow = 0                    # Python code runs: no native expiry until the next slice
            if prev is not None:
                prev()
        pic_tick.after_settle = after_settle

    def arm(self, max_cycles: int | None) -> None:
        """Which timers' expiries may be done natively in the slice about to start?  (Called
        by LapicTick.arm; the settle at the slice's end withdraws it.)"""
        if not self.allowed:
            return
        h = self.h
        h.allow = 0
        core = self.core
        hpet = self._hpet
        allow = 0
        for t in self._timers:
            gsi = hpet.quiet_route(t)       # (the timer's mode is C's to check: it may change)
            if gsi is None:
                continue
            h.pic_line[t.tn] = gsi if gsi < 16 else NO_LINE
            allow |= 1 << t.tn
        if not allow or not core.pic_tick._listeners_ok():
            return
        limit = core.clock.next_deadline_excluding_all((core.board.lapic._timer_event,
                                                        *(t.event for t in self._timers)))
        if max_cycles is not None:
            limit = max_cycles if limit is None else min(limit, max_cycles)
        h.ev_limit = NONE if limit is None else limit
        h.allow = allow

    # ------------------------------------------------------------------ what tests read
    def counts(self) -> dict[str, int]:
        h = self.h
        return {"expiries": h.expiries, "declined": h.declined, "why": list(h.why)}
