"""The local APIC's EOI and timer registers and the HPET main counter in C (emu/fastpath_lapic.c).

Why: a Linux kernel's timer tick writes the local APIC's EOI and the timer's next initial count,
and its clocksource reads the HPET main counter -- ~50,000 MMIO accesses in the Debian boot,
each a Python call through Unicorn's binding, the board's closure and the device.  This module
maps the two MMIO pages with the C callbacks of emu/fastpath_lapic.c: those accesses are answered
there when they are ordinary (the C file's header says exactly when), every other access calls
the board's own Python closure, as before.

Exactness: C runs devices/lapic.py's arithmetic (`_eoi`, `_update`, `_timer_update`,
`_current_count`) on the same registers (`LocalApic.attach_cell`: the struct is their storage)
and devices/hpet.py's `_ticks` on what the HPET publishes.  The timer's clock event stays
Python's: a native re-arm is handed back by `LocalApic.native_sync`, which runs chained to the
8259 tick's `settle` -- when `emu_start` returns, before every Python IN/OUT, MMIO access and
before any clock event is scheduled -- so the event queue keeps the order the Python path gave
it.  The exact cycle of a timed access comes from a prefix learnt from Python's own answer for
the same instruction in the same priced block (`flapic_learn`).

`BAREFLOW_NATIVE_LAPIC=0` leaves the local APIC page to Python, `BAREFLOW_NATIVE_HPET=0` the
HPET page; with both off the pages are mapped through Unicorn's binding exactly as before.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any, Callable

from unicorn.unicorn_py3 import unicorn as _ucpy

from ..devices.base.clock import CPU_HZ
from ..devices.base.errors import BareflowError
from ..devices.hpet import BASE as HPET_BASE, NUM_TIMERS, TimerCell
from ..devices.lapic import APIC_HZ, BASE as LAPIC_BASE, LapicCell
from .fastpath import bind

READ_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint64)
#: accesses whose answer depends on the cycle: Python's answer teaches C the prefix
_TIMED_LAPIC_READ = 0x390
_TIMED_LAPIC_WRITE = 0x380
_TIMED_HPET_READ = (0xF0, 0xF4)      # (and a running HPET's comparator writes)


class _Flapic(ctypes.Structure):
    """Mirror of the public head of `flapic_state` (same order)."""

    _fields_ = [("cell", LapicCell), ("lapic_on", ctypes.c_uint32), ("hpet_on", ctypes.c_uint32),
                ("observed", ctypes.c_uint32), ("hpet_mode", ctypes.c_uint32), ("hpet_counter", ctypes.c_uint64),
                ("hpet_offset_ns", ctypes.c_int64), ("ns_per_cycle", ctypes.c_uint64),
                ("eois", ctypes.c_uint64), ("tmicts", ctypes.c_uint64), ("tmccts", ctypes.c_uint64),
                ("hpet_reads", ctypes.c_uint64), ("py_reads", ctypes.c_uint64), ("py_writes", ctypes.c_uint64),
                ("learned", ctypes.c_uint64), ("hpet_t", TimerCell * NUM_TIMERS), ("hpet_cmps", ctypes.c_uint64),
                ("rearms", ctypes.c_uint64)]


def _lib() -> ctypes.CDLL:
    sz, vp, u64 = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint64
    return bind("flapic", {
        "flapic_init": (None, [vp, vp, vp, vp]),
        "flapic_set_python": (None, [vp, vp, vp, vp, vp]),
        "flapic_learn": (ctypes.c_int, [vp, vp, u64]),
        "flapic_lapic_read_ptr": (vp, []),
        "flapic_lapic_write_ptr": (vp, []),
        "flapic_hpet_read_ptr": (vp, []),
        "flapic_hpet_write_ptr": (vp, []),
        "flapic_state_size": (sz, []),
        "flapic_layout": (sz, [ctypes.POINTER(sz), sz]),
        "flapic_probe_tmcct": (ctypes.c_int, [vp, u64, ctypes.POINTER(ctypes.c_uint32)]),
        "flapic_probe_hpet": (ctypes.c_int, [vp, u64, ctypes.POINTER(u64)]),
    }, _Flapic, "the native local APIC", "emu/fastlapic.py")


def _switch(name: str) -> bool:
    return (os.environ.get(name, "1") != "0" and os.environ.get("BAREFLOW_NATIVE_DELIVERY", "1") != "0")


class FastLapic:
    """The native MMIO registers of one core: the struct the local APIC's registers live in,
    the two pages' C callbacks, the Python fallbacks."""

    def __init__(self, core: Any) -> None:
        lib = _lib()
        self._lib = lib
        self.core = core
        board = core.board
        self._board = board
        buf = ctypes.create_string_buffer(lib.flapic_state_size())
        lib.flapic_init(buf, core.fast._state, core.ports._state, core.pic_tick._state)
        self._buf = buf
        self._state = ctypes.addressof(buf)
        self.h = _Flapic.from_buffer(buf)
        if APIC_HZ // CPU_HZ != 1_000_000_000 // CPU_HZ or APIC_HZ % CPU_HZ:
            raise BareflowError("the native local APIC assumes the APIC and HPET clocks are whole ns per cycle")
        self.h.ns_per_cycle = APIC_HZ // CPU_HZ
        self.lapic = board.lapic
        self.hpet = board.devices.get("hpet")
        self.lapic.attach_cell(self.h)           # the registers live in the struct now
        self.h.lapic_on = 1 if _switch("BAREFLOW_NATIVE_LAPIC") else 0
        self.h.hpet_on = 1 if self.hpet is not None and _switch("BAREFLOW_NATIVE_HPET") else 0
        if self.hpet is not None:
            self.hpet.attach_cells(self.h.hpet_t)    # the timers' registers live here too
            self.hpet.native = self
            self.hpet._publish()
        self._rearms = 0
        self._cbs: list[Any] = []
        self._read_cbs: dict[int, Callable[..., int]] = {}
        self._write_cbs: dict[int, Callable[..., None]] = {}
        self._make_fallbacks()
        observers = board.mmio_observers
        if hasattr(observers, "on_change"):
            observers.on_change = self._observers_changed
        self._observers_changed()
        core.pic_tick.after_settle = self.native_sync
        if self.h.lapic_on or self.h.hpet_on:
            board.native_mmio = self._map_region
            board.remap_mmio()

    # ------------------------------------------------------------------ the pages
    def _make_fallbacks(self) -> None:
        """C calls these for every access it does not answer: the board's closure (the device,
        the observers, io_enter/io_exit), then, for a timed access, the prefix is learnt."""
        core = self.core
        lib, state = self._lib, self._state
        uc = core.uc

        def failed(exc: BaseException) -> None:
            if getattr(uc, "_hook_exception", None) is None:   # as the binding: stop, re-raise later
                uc._hook_exception = exc
            uc.emu_stop()

        def learn() -> None:
            lib.flapic_learn(state, uc._uch, core.pricer.exact_now())

        def lapic_read(offset: int, size: int) -> int:
            try:
                value = self._read_cbs[LAPIC_BASE](uc, offset, size, None)
                if self.h.lapic_on and size == 4 and (offset & 0xFF0) == _TIMED_LAPIC_READ:
                    learn()
                return value & 0xFFFFFFFFFFFFFFFF
            except BaseException as exc:
                failed(exc)
                return 0

        def lapic_write(offset: int, size: int, value: int) -> None:
            try:
                self._write_cbs[LAPIC_BASE](uc, offset, size, value, None)
                if self.h.lapic_on and size == 4 and (offset & 0xFF0) == _TIMED_LAPIC_WRITE:
                    learn()
            except BaseException as exc:
                failed(exc)

        def hpet_read(offset: int, size: int) -> int:
            try:
                value = self._read_cbs[HPET_BASE](uc, offset, size, None)
                if self.h.hpet_on and size == 4 and offset in _TIMED_HPET_READ:
                    learn()
                return value & 0xFFFFFFFFFFFFFFFF
            except BaseException as exc:
                failed(exc)
                return 0

        def hpet_write(offset: int, size: int, value: int) -> None:
            try:
                self._write_cbs[HPET_BASE](uc, offset, size, value, None)
                if self.h.hpet_on and size == 4 and 0x100 <= offset < 0x100 + 0x20 * NUM_TIMERS \
                        and (offset - 0x100) % 0x20 in (0x08, 0x0C):
                    learn()
            except BaseException as exc:
                failed(exc)

        self._fallbacks = [READ_FN(lapic_read), WRITE_FN(lapic_write), READ_FN(hpet_read), WRITE_FN(hpet_write)]
        lib.flapic_set_python(state, *[ctypes.cast(f, ctypes.c_void_p) for f in self._fallbacks])

    def _map_region(self, base: int, size: int, dev: Any, read: Callable[..., int],
                    write: Callable[..., None]) -> bool:
        """Board.native_mmio: map the LAPIC / HPET page with the C callbacks (the board's
        `read`/`write` closures are their fallback); any other region stays the board's."""
        lib = self._lib
        if dev is self.lapic and base == LAPIC_BASE and self.h.lapic_on:
            rd, wr = lib.flapic_lapic_read_ptr(), lib.flapic_lapic_write_ptr()
        elif dev is self.hpet and base == HPET_BASE and self.h.hpet_on:
            rd, wr = lib.flapic_hpet_read_ptr(), lib.flapic_hpet_write_ptr()
        else:
            return False
        self._read_cbs[base] = read
        self._write_cbs[base] = write
        user = ctypes.c_void_p(self._state)
        err = _ucpy.uclib.uc_mmio_map(self.core.uc._uch, ctypes.c_uint64(base), ctypes.c_uint64(size),
                                      ctypes.c_void_p(rd), user, ctypes.c_void_p(wr), user)
        if err != 0:
            raise BareflowError(f"uc_mmio_map failed with Unicorn error {err}")
        return True

    def _observers_changed(self) -> None:
        self.h.observed = 1 if len(self._board.mmio_observers) else 0

    def native_sync(self) -> None:
        """After the 8259 tick's settle: hand native re-arms back to the devices' clock events
        (one field read when there were none since the last look)."""
        n = self.h.rearms
        if n == self._rearms:
            return
        self._rearms = n
        self.lapic.native_sync()
        if self.hpet is not None:
            self.hpet.native_sync()

    # ------------------------------------------------------------------ the HPET publishes
    def publish_hpet(self, running: bool, counter: int, offset_ns: int) -> None:
        """devices/hpet.py `_publish`: the main counter's inputs (mode 0: Python answers)."""
        h = self.h
        if not running:
            h.hpet_counter, h.hpet_mode = counter & 0xFFFFFFFFFFFFFFFF, 1
        elif -(1 << 63) <= offset_ns < (1 << 63):
            h.hpet_offset_ns, h.hpet_mode = offset_ns, 2
        else:
            h.hpet_mode = 0

    # ------------------------------------------------------------------ what tests read
    def counts(self) -> dict[str, int]:
        h = self.h
        return {"eois": h.eois, "tmicts": h.tmicts, "tmccts": h.tmccts, "hpet_reads": h.hpet_reads,
                "hpet_cmps": h.hpet_cmps,
                "py_reads": h.py_reads, "py_writes": h.py_writes, "learned": h.learned}

    def probe_tmcct(self, now: int) -> int | None:
        out = ctypes.c_uint32()
        return int(out.value) if self._lib.flapic_probe_tmcct(self._state, now, ctypes.byref(out)) else None

    def probe_hpet(self, now: int) -> int | None:
        out = ctypes.c_uint64()
        return int(out.value) if self._lib.flapic_probe_hpet(self._state, now, ctypes.byref(out)) else None
