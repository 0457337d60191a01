"""The idle timer tick inside emu_start: the native 8259 + PIT channel 0 (emu/fastpath_pic.c).

Why: an idle kernel HLTs between timer ticks.  Each HLT ended `emu_start`; the run loop then
fired the PIT's transitions (`clock.run_due`), the 8259 raised INT, `_irq_check` took the
vector and `_deliver_now` entered the handler, and a new `emu_start` began -- about 0.15 ms of
host CPU per tick, 100 times a second, and with the TUI's pacing one wake-up per tick's slice.
A code hook on each HLT the guest executed before now does that in C when it is ordinary
(see the C file's header for the exact conditions), so the handler starts inside the same
`emu_start` and an idle guest's slice lasts until the pacing deadline, input, or any other
device event.

Exactness: the C code runs devices/pic.py's and devices/pit.py's own arithmetic (the 8259's
registers are the same bytes: `Pic.attach_cell`), `xd_deliver_pm` for the delivery, and the
cycles, chain break and profiler frame of `_deliver_now`.  What Python would have done around
it is done here, at the next moment Python code runs (`settle`, called when `emu_start`
returns, before each Python IN/OUT, MMIO access and event, and before any clock event is
scheduled): the PIT takes back IRQ0's level and its next transition (its clock event is
scheduled again there, before any newer event, so the queue keeps the Python path's order),
the ISA line level is noted in the IRQ router, and the `hlt` and `interrupt` events are
emitted with the cycle, instruction count and fields they had.

`BAREFLOW_NATIVE_PIC=0` (or `BAREFLOW_NATIVE_DELIVERY=0`) turns it off.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from unicorn.unicorn_py3 import unicorn as _ucpy
from unicorn.unicorn_const import UC_HOOK_CODE

from ..devices.base.errors import BareflowError
from ..devices.pic import _Chip
from .fastpath import bind
from .pacing import pace_limit

NONE = (1 << 64) - 1
LOG = 64
#: the lapic's LINT0 delivery mode ExtINT and mask bit; the I/O APIC's mask and level bits
_EXTINT, _IOAPIC_MASKED, _IOAPIC_LEVEL = 7, 1 << 16, 1 << 15
_GATES = {0xE: "32-bit interrupt gate", 0xF: "32-bit trap gate"}


class _Rec(ctypes.Structure):
    _fields_ = [("hlt_cycle", ctypes.c_uint64), ("hlt_icount", ctypes.c_uint64),
                ("int_cycle", ctypes.c_uint64), ("int_icount", ctypes.c_uint64),
                ("hlt_eip", ctypes.c_uint32), ("vector", ctypes.c_uint32), ("from_cs", ctypes.c_uint32),
                ("from_eip", ctypes.c_uint32), ("to_cs", ctypes.c_uint32), ("to_eip", ctypes.c_uint32),
                ("gate_type", ctypes.c_uint32), ("status", ctypes.c_uint32), ("has_hlt", ctypes.c_uint32)]


class _Fpic(ctypes.Structure):
    """Mirror of the public head of `fpic_state` (same order)."""

    _fields_ = [("master", _Chip), ("slave", _Chip), ("intr", ctypes.c_uint32), ("armed", ctypes.c_uint32),
                ("pit_valid", ctypes.c_uint32), ("pit_mode", ctypes.c_uint32), ("pit_count", ctypes.c_uint32),
                ("pit_level", ctypes.c_uint32), ("pit_load_cycle", ctypes.c_uint64), ("pit_next", ctypes.c_uint64),
                ("cpu_hz", ctypes.c_uint64), ("pit_hz", ctypes.c_uint64), ("ev_limit", ctypes.c_uint64),
                ("pace_limit", ctypes.c_uint64), ("stack_lo", ctypes.c_uint64), ("stack_hi", ctypes.c_uint64),
                ("arm_misses", ctypes.c_uint64), ("vec_cost", ctypes.c_uint32), ("nlog", ctypes.c_uint32),
                ("ticks", ctypes.c_uint64), ("declined", ctypes.c_uint64), ("transitions", ctypes.c_uint64),
                ("eois", ctypes.c_uint64),
                ("log", _Rec * LOG)]


def _lib() -> ctypes.CDLL:
    sz, vp = ctypes.c_size_t, ctypes.c_void_p
    return bind("fpic", {
        "fpic_init": (None, [vp, vp]),
        "fpic_set_ports": (None, [vp, vp]),
        "fpp_set_pic": (None, [vp, vp]),
        "fpic_hlt_hook_ptr": (vp, []),
        "fpic_idle": (ctypes.c_int, [vp, vp, ctypes.c_uint64]),
        "fpic_state_size": (sz, []),
        "fpic_layout": (sz, [ctypes.POINTER(sz), sz]),
        "fpic_pit_probe": (None, [vp, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64)]),
    }, _Fpic, "the native idle tick", "emu/fastpic.py")


class PicTick:
    """The native idle tick of one core: the struct the 8259 lives in, the HLT hooks, arming."""

    def __init__(self, core: Any) -> None:
        lib = _lib()
        self._lib = lib
        self.core = core
        # Python owns the memory: the 8259's registers live in it, and the device may outlive
        # the core (a board kept after its machine); the view below keeps the buffer alive
        buf = ctypes.create_string_buffer(lib.fpic_state_size())
        lib.fpic_init(buf, core.native._x)
        self._state = ctypes.addressof(buf)
        self.h = _Fpic.from_buffer(buf)
        self.allowed = (os.environ.get("BAREFLOW_NATIVE_PIC", "1") != "0"
                        and os.environ.get("BAREFLOW_NATIVE_DELIVERY", "1") != "0")
        board = core.board
        self._pic = board.devices["pic"]
        self._pit = board.devices["pit"]
        self._gsi = board.gsi
        self._ioapic = board.devices.get("ioapic")
        self._lapic = board.lapic
        self._pic.attach_cell(self.h)          # the 8259's registers live in the struct now
        self._pit.attach_tick(self.h)
        self.h.vec_cost = core.costs.interrupt_cycles(True, "hardware")
        self._transitions = 0                  # h.transitions Python has taken back
        self._sites: set[int] = set()
        self._hooks: list[ctypes.c_size_t] = []
        self._scheduling = False
        #: called at the end of every `settle` (emu/fastlapic.py: the local APIC timer's native
        #: re-arm is handed back there, after the PIT's, as the Python path's order has it)
        self.after_settle: Any = None
        core.ports.before_python = self.before_port
        lib.fpic_set_ports(self._state, core.ports._state)
        if self.allowed:     # OUT 0x20 / 0xA0: the EOIs in C (fpic_out) unless an observer wants them
            lib.fpp_set_pic(core.ports._state, self._state)
            core.ports.pic_command_ports((0x20, 0xA0))
        clock = core.clock
        clock.before_schedule = self.settle
        clock.schedule_listeners.append(self._on_schedule)

    def _on_schedule(self, cycle: int) -> None:
        """An event Python schedules during the slice: no native transition at or after it."""
        if not self._scheduling and cycle < self.h.ev_limit:
            self.h.ev_limit = cycle

    # ------------------------------------------------------------------ the HLT sites
    def hlt_seen(self, address: int) -> None:
        """The guest executed a HLT at linear `address` (Python saw emu_start end there): hook
        it, so that the next time the native tick can take over."""
        if not self.allowed or address in self._sites or len(self._sites) >= 64:
            return
        self._sites.add(address)
        handle = ctypes.c_size_t()
        err = _ucpy.uclib.uc_hook_add(self.core.uc._uch, ctypes.byref(handle), ctypes.c_int(UC_HOOK_CODE),
                                      ctypes.c_void_p(self._lib.fpic_hlt_hook_ptr()), ctypes.c_void_p(self._state),
                                      ctypes.c_uint64(address), ctypes.c_uint64(address))
        if err != 0:
            raise BareflowError(f"uc_hook_add failed with Unicorn error {err}")
        self._hooks.append(handle)
        self.core.uc.ctl_remove_cache(address, address + 1)   # translated again, with the hook

    # ------------------------------------------------------------------ before a slice
    def arm(self, max_cycles: int | None, paced: bool) -> None:
        """May the native tick act in the slice about to start?  (Python's conditions; the C
        hook checks the CPU's.)  Sets the limits it must stay below."""
        h = self.h
        core = self.core
        if not self._devices_ok() or not self._listeners_ok():
            h.armed = 0
            return
        pit = self._pit
        limit = core.clock.next_deadline_excluding(pit._event)
        if max_cycles is not None:
            limit = max_cycles if limit is None else min(limit, max_cycles)
        h.ev_limit = NONE if limit is None else limit
        h.pace_limit = pace_limit(core) if paced else NONE
        lo_hi = self._stack_range()
        if lo_hi is None:
            h.armed = 0
            return
        h.stack_lo, h.stack_hi = lo_hi
        h.arm_misses = core.fast.h.misses
        h.armed = 1

    def idle(self, deadline: int, max_cycles: int | None, paced: bool) -> bool:
        """The run loop, halted after a HLT whose event it emitted and whose pacing wait is
        over, would now advance the clock to `deadline` and go round: take the tick natively
        instead (fpic_idle: the same work as the HLT hook).  True if it was delivered."""
        self.arm(max_cycles, paced)
        if not self.h.armed:
            return False
        ok = self._lib.fpic_idle(self._state, self.core.uc._uch, deadline)
        self.settle(disarm=True)
        return bool(ok)

    def _devices_ok(self) -> bool:
        if not self.allowed or not self._sites or not self.h.pit_valid or self._pit._event is None:
            return False
        gsi, lapic, ioapic = self._gsi, self._lapic, self._ioapic
        if gsi.hpet_legacy or self._pit.irq is not gsi or self._pit.irq_line != 0:
            return False
        if ioapic is not None:
            entry = ioapic.redir[2]
            if not entry & _IOAPIC_MASKED or entry & _IOAPIC_LEVEL:
                return False
        return (lapic.lvt[3] >> 8) & 7 == _EXTINT and lapic.accept_pic_intr()

    def _listeners_ok(self) -> bool:
        core = self.core
        debug = core.debug
        batched = core.hooks.batched
        jit = getattr(core, "jit_debug", None)
        return (core.accounting and core.insn_window is None and not debug.breakpoints
                and not debug.watchpoints and all(cb in batched for cb in core.hooks.deliveries)
                and not (jit is not None and jit.functions))

    def _stack_range(self) -> tuple[int, int] | None:
        """The pages around the stack pointer, if they hold no priced code (a frame pushed
        there would make Python drop translations: Pricer.host_wrote)."""
        cpu = self.core.cpu
        if not cpu.protected or cpu.paging():
            return None
        ss = cpu.descriptor(cpu.get("ss"))
        if ss is None:
            return None
        esp = cpu.get("esp") if ss.db else cpu.get("esp") & 0xFFFF
        top = (ss.base + esp) & 0xFFFFFFFF
        lo, hi = (max(top - 0x1000, 0)) & ~0xFFF, (top + 0x1000) & ~0xFFF
        pages = self.core.pricer._code_pages
        if any(pages.get(p) for p in range(lo >> 12, hi >> 12)):
            return None
        return lo, hi

    # ------------------------------------------------------------------ after native ticks
    def settle(self, disarm: bool = False) -> None:
        """Whatever native ticks did since Python last looked: the PIT's level and next event,
        the router's line level, the events.  disarm: no native tick until the next slice is
        armed (the slice ended, or Python code may change what `arm` looked at: MMIO)."""
        h = self.h
        if disarm:
            h.armed = 0
        if h.transitions != self._transitions:
            self._transitions = h.transitions
            self.core.cpu._cs_cache = None     # as _deliver_now's forget_cs (C dropped its copy)
            nxt = h.pit_next
            level = h.pit_level
            self._gsi._levels[self._pit.irq_line] = level
            self._scheduling = True
            try:
                self._pit.native_advanced(level, None if nxt == NONE else nxt)
            finally:
                self._scheduling = False
        n = h.nlog
        if n:
            recs = [(r.hlt_cycle, r.hlt_icount, r.hlt_eip, r.int_cycle, r.int_icount, r.vector, r.from_cs,
                     r.from_eip, r.to_cs, r.to_eip, r.gate_type, r.status, r.has_hlt) for r in h.log[:n]]
            h.nlog = 0
            self._emit(recs)
        if self.after_settle is not None:
            self.after_settle()

    def _emit(self, recs: list[tuple]) -> None:
        core = self.core
        hooks = core.hooks
        trace, observers = core.trace, hooks.events
        # each event to its readers only (`Hooks.route`, as Core.emit does): the watchers the
        # machine always attaches read "interrupt" but not "hlt" (issue 11: an idle TUI)
        route = hooks.route if observers else (lambda _event: ())
        for (hc, hi, heip, ic, ii, vector, from_cs, from_eip, to_cs, to_eip, gtype, status, has_hlt) in recs:
            if status == 2:     # Unicorn refused the CS load: raise as cpu.set would
                core.cpu.set("cs", to_cs & ~3 | from_cs & 3)
            if trace is None and not observers:
                continue
            for event, cycle, icount, fields in (
                    ("hlt", hc, hi, {"eip": heip, "interrupts": True}) if has_hlt else (None, 0, 0, None),
                    ("interrupt", ic, ii, {"vector": vector, "kind": "hardware", "error_code": None,
                                           "cs": from_cs, "eip": from_eip, "to_cs": to_cs, "to_eip": to_eip,
                                           "gate": _GATES.get(gtype, "?")})):
                if event is None:
                    continue
                if trace is not None:
                    trace.emit(event, cycle, icount, fields)
                for observer in route(event):
                    observer(event, cycle, icount, fields)

    def before_port(self, port: int, write: bool) -> None:
        """A guest IN/OUT goes to Python (emu/fastports.py): settle first; the IMCR (0x22/0x23)
        decides whether the 8259 reaches the CPU, so a write there disarms."""
        self.settle(disarm=write and port in (0x22, 0x23))

    # ------------------------------------------------------------------ what tests read
    def counts(self) -> dict[str, int]:
        h = self.h
        return {"ticks": h.ticks, "declined": h.declined, "transitions": h.transitions, "eois": h.eois,
                "sites": len(self._sites)}

    def pit_probe(self, now: int) -> tuple[int, int | None]:
        """(channel 0's output, its next transition's cycle) at `now` by the C arithmetic."""
        out = (ctypes.c_uint64 * 2)()
        self._lib.fpic_pit_probe(self._state, now, out)
        return int(out[0]), None if out[1] == NONE else int(out[1])
