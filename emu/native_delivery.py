"""Real-mode interrupt and exception delivery in the native fast path (issue 11).

Why: a loop that lives in exceptions (`ud2` through an IVT handler) or in BIOS calls entered
Python two or three times per iteration (Unicorn's INTR hook, the delivery, the IRET watch) and,
for #UD, stopped and restarted `emu_start` every time.  The C side (the "native real-mode
delivery" section of emu/fastpath.c) now does the same work as emu/interrupts.py `deliver_real`
plus emu/core_delivery.py `_deliver_now` -- the pushes, FLAGS, CS:IP from the IVT, the
delivery's cycles, the profiler frame -- and leaves every case it is not sure about to the
Python path, which is unchanged.  The cycles, registers and memory are the same either way
(tests/emu/test_native_delivery.py runs workloads both ways and compares).

What Python still sees: native deliveries emit no `interrupt` event and call no
`hooks.deliveries` subscriber, so they happen only while every subscriber said it can do
without them (`Hooks.batched`: the fault explainer, which reads the native records lazily;
the privilege tracker and the watched-instruction observer, which ignore real-mode
deliveries) and there is no trace file, no breakpoint or watchpoint, no instruction window.
The journey, the recorder of a trace, a debugger: each turns the native path off while it is
attached, and every delivery goes through Python as before.

Protected mode (emu/fastpath_pmirq.c): `deliver_protected` below computes a hardware
interrupt's or INT n's delivery through a same-ring 32-bit gate in C, called from
`_deliver_now`, which still does everything around it (subscribers, events, cycles, profiler),
so it is used whoever listens; and the watched IRET filter answers same-ring returns.

`BAREFLOW_NATIVE_DELIVERY=0` in the environment turns it off (a debugging aid, and how the
tests get the reference run).
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from unicorn.unicorn_py3 import unicorn as _ucpy
from unicorn.unicorn_const import UC_HOOK_CODE, UC_HOOK_INTR

from ..devices.base.errors import BareflowError
from .interrupts import Delivered
from .native_paging import NativePaging

XD_SOFT, XD_EXC, XD_SPECIAL, XD_STUBS, XD_SERVICES = 1, 2, 4, 8, 16
XD_CRW = 32   # MOV CR3 with paging on (emu/fastpath_paging.c): its `cr_write` event is skipped
XF_ENDS_INT = 1
#: the register order of a native exception record (fastpath.c XD_NREGS)
RECORD_REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
               "es", "cs", "ss", "ds", "fs", "gs")

INTR_FN = ctypes.CFUNCTYPE(None, ctypes.c_uint32)
CODE_FN = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_uint32)
_SIGS_DONE: set[int] = set()


def _declare(lib: ctypes.CDLL) -> None:
    if id(lib) in _SIGS_DONE:
        return
    u64, u32, i32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int32, ctypes.c_void_p
    sig = {
        "xd_new": (vp, [vp, vp, vp, vp, vp]),
        "xd_free": (None, [vp]),
        "xd_configure": (None, [vp, u32, u32, u32]),
        "xd_enabled": (u32, [vp]),
        "xd_set_enabled": (None, [vp, u32]),
        "fp_set_xflags": (ctypes.c_int, [vp, u64, u32, u32]),
        "xd_note_handler": (None, [vp, u64, i32]),
        "xd_forget_handlers": (None, [vp]),
        "xd_add_site": (ctypes.c_int, [vp, u64, u64, u32, u32, u32, u32, u32, ctypes.c_char_p, u32, u32, u32]),
        "xd_clear_sites": (None, [vp]),
        "xd_site_count": (u32, [vp]),
        "xd_intr_hook_ptr": (vp, []),
        "xd_stub_hook_ptr": (vp, []),
        "xd_set_stubs": (None, [vp, u64, u64, u32, ctypes.POINTER(u32), vp]),
        "xd_set_disks": (None, [vp, u32, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]),
        "xd_site_hook_ptr": (vp, []),
        "xd_special_hook_ptr": (vp, []),
        "xd_counts": (None, [vp, ctypes.POINTER(u64)]),
        "xd_deliver_pm": (ctypes.c_int, [vp, vp, u32, u32, u32, ctypes.POINTER(u32)]),
        "xd_set_ram": (None, [vp, u64]),
        "xd_set_a20": (None, [vp, u32]),
        "xd_pm_special_count": (u64, [vp]),
        "xd_record_get": (ctypes.c_int, [vp, u64, ctypes.POINTER(u64), ctypes.POINTER(u32),
                                         ctypes.POINTER(u32), ctypes.POINTER(u64), ctypes.POINTER(u32)]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _SIGS_DONE.add(id(lib))


class NativeDelivery:
    """The native delivery of one core: its hooks, its switch, its records."""

    def __init__(self, core: Any) -> None:
        self.core = core
        fast = core.fast
        lib = fast._lib
        _declare(lib)
        self._lib = lib
        self.allowed = os.environ.get("BAREFLOW_NATIVE_DELIVERY", "1") != "0"
        self._hook_error: BaseException | None = None
        self._intr_cb = INTR_FN(self._py_intr)
        self._special_cb = CODE_FN(self._py_special)
        self._stub_cb = CODE_FN(self._py_stub)
        uclib = _ucpy.uclib
        self._x = lib.xd_new(fast._state, ctypes.cast(uclib.uc_mem_read, ctypes.c_void_p),
                             ctypes.cast(uclib.uc_mem_write, ctypes.c_void_p),
                             ctypes.cast(self._intr_cb, ctypes.c_void_p),
                             ctypes.cast(self._special_cb, ctypes.c_void_p))
        if not self._x:
            raise MemoryError("xd_new failed")
        costs = core.costs
        lib.xd_configure(self._x, 0, costs.interrupt_cycles(False, "exception"),
                         costs.interrupt_cycles(False, "software"))
        self._counts = (ctypes.c_uint64 * 5)()
        self._sites: set[int] = set()
        self._hooks: list[ctypes.c_size_t] = []
        self._add_hook(UC_HOOK_INTR, lib.xd_intr_hook_ptr(), 1, 0)
        self.enabled = 0
        self._pm_out = (ctypes.c_uint32 * 6)()
        self.pm_count = 0                 # protected-mode deliveries computed in C
        self.pm_from_base = 0
        self._uch = core.uc._uch
        lib.xd_set_ram(self._x, core.board.memory_bytes)
        lib.xd_set_a20(self._x, 0 if core.cpu.hma_alias else 1)   # then Core.a20_changed
        self.paging = NativePaging(self)  # paging on: emu/fastpath_paging.c

    def hook_stubs(self, lo: int, hi: int, cost: int, default_vectors: list[int]) -> None:
        """The code hook over the BIOS stubs [lo, hi): vectors in `default_vectors` have only
        the default handler (no state, no event), charged `cost` here; the rest go to
        Core._on_stub."""
        bits = (ctypes.c_uint32 * 8)()
        for v in default_vectors:
            bits[v >> 5] |= 1 << (v & 31)
        self._lib.xd_set_stubs(self._x, lo, hi, cost, bits, ctypes.cast(self._stub_cb, ctypes.c_void_p))
        self._add_hook(UC_HOOK_CODE, self._lib.xd_stub_hook_ptr(), lo, hi - 1)

    def bios_disks(self, answers: list[tuple[int, int, int]]) -> None:
        """INT 13h AH=08h's (CH, CL, DH) for each hard disk (emu/bios/disk.py `_params`),
        for the native answer (at most 4 disks; DL = their number)."""
        ch, cl, dh = (bytes(a[k] for a in answers[:4]).ljust(4, b"\0") for k in range(3))
        self._lib.xd_set_disks(self._x, len(answers), ch, cl, dh)

    def _add_hook(self, htype: int, fnptr: int, begin: int, end: int) -> None:
        handle = ctypes.c_size_t()
        err = _ucpy.uclib.uc_hook_add(self.core.uc._uch, ctypes.byref(handle), ctypes.c_int(htype),
                                      ctypes.c_void_p(fnptr), ctypes.c_void_p(self._x),
                                      ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if err != 0:
            raise BareflowError(f"uc_hook_add failed with Unicorn error {err}")
        self._hooks.append(handle)

    def __del__(self) -> None:
        x, self._x = getattr(self, "_x", None), None
        if x:
            self._lib.xd_free(x)

    # ------------------------------------------------------------------ Python behind C
    def _py_intr(self, intno: int) -> None:
        try:
            self.core._on_intr(self.core.uc, intno, None)
        except BaseException as exc:      # never unwind through C: re-raised after emu_start
            self._hook_error = exc
            self.core.uc.emu_stop()

    def _py_stub(self, address: int, size: int) -> None:
        try:
            self.core._on_stub(self.core.uc, address, size, None)
        except BaseException as exc:
            self._hook_error = exc
            self.core.uc.emu_stop()

    def _py_special(self, address: int, size: int) -> None:
        try:
            self.core.special._on_special(self.core.uc, address, size, None)
        except BaseException as exc:
            self._hook_error = exc
            self.core.uc.emu_stop()

    def raise_hook_error(self) -> None:
        """After emu_start: an exception a Python hook behind the native one raised."""
        err, self._hook_error = self._hook_error, None
        if err is not None:
            raise err

    # ------------------------------------------------------------------ the switch
    def update(self) -> None:
        """Before a slice: may deliveries skip Python?  (See the module docstring.)"""
        bits = 0
        if self.allowed:
            bits = XD_SPECIAL | XD_STUBS
            core = self.core
            hooks = core.hooks
            batched = hooks.batched
            debug = core.debug
            jit = getattr(core, "jit_debug", None)
            if (core.trace is None and core.accounting and core.insn_window is None
                    and not debug.breakpoints and not debug.watchpoints
                    and all(cb in batched for cb in hooks.events)
                    and all(cb in batched for cb in hooks.deliveries)
                    and not (jit is not None and jit.functions)):
                bits |= XD_SOFT | XD_EXC | XD_SERVICES | XD_CRW
        if bits != self.enabled:
            self.enabled = bits
            self._lib.xd_set_enabled(self._x, bits)

    def off(self) -> None:
        """Python takes every delivery until the next update() (single steps)."""
        self.enabled = 0
        self._lib.xd_set_enabled(self._x, 0)

    # ------------------------------------------------------------------ what Python tells C
    def block_priced(self, pc: int, size: int, ends_with: str) -> None:
        if ends_with == "int":
            self._lib.fp_set_xflags(self.core.fast._state, pc, size, XF_ENDS_INT)

    def handler_named(self, handler: int, func: int) -> None:
        self._lib.xd_note_handler(self._x, handler, func)

    def forget(self) -> None:
        """Power-on / restore: the profiler's functions and the sites are learnt again."""
        self._lib.xd_forget_handlers(self._x)
        self._lib.xd_clear_sites(self._x)

    def watch_special(self, address: int) -> None:
        """A watched instruction (emu/special.py): the native filter in front of its hook."""
        self._add_hook(UC_HOOK_CODE, self._lib.xd_special_hook_ptr(), address, address)

    def fault_site(self, vector: int, lin: int, bc: Any, cpu: Any) -> None:
        """A real-mode #UD went the slow way: deliver it natively next time.  The native hook
        checks that the bytes, CR0 and CR4 and the block are the same as now."""
        if vector != 6 or not self.allowed or cpu.protected or bc is None or lin + 8 > 0x100000:
            return
        if lin in bc.insn_addrs:
            i = bc.insn_addrs.index(lin)
            uncharge, retired, cycles = 1, i, bc.prefix[i]
        else:
            uncharge, retired, cycles = 0, 0, 0
        code = cpu.fetch(lin, 8)
        cur = self.core.fast.current_block()
        if cur is None:
            return
        if not self._lib.xd_add_site(self._x, lin, cur[0], cur[1], uncharge, retired, cycles, vector, code, 8,
                                     cpu.get("cr0"), cpu.get("cr4")):
            return
        if lin not in self._sites:
            self._sites.add(lin)
            self._add_hook(UC_HOOK_CODE, self._lib.xd_site_hook_ptr(), lin, lin)
            # a hook added after translation applies once the block is translated again
            self.core.uc.ctl_remove_cache(lin, lin + 1)

    def deliver_protected(self, vector: int, return_eip: int, kind: str) -> Any:
        """Protected mode, a hardware interrupt or INT n: emu/interrupts.py deliver_protected's
        common case computed in C (emu/fastpath_pmirq.c) -- a present 32-bit interrupt/trap gate
        to a code segment of the same privilege, paging off.  Returns the `Delivered` record,
        or None having changed nothing (then Python delivers, with its faults)."""
        if not self.allowed or kind == "exception":
            return None
        out = self._pm_out
        ok = self._lib.xd_deliver_pm(self._x, self._uch, vector, return_eip & 0xFFFFFFFF,
                                     kind == "software", out)
        if not ok:
            return None
        cpu = self.core.cpu
        hook = cpu._write_hook
        if hook is not None:              # cpu.write's hook, as deliver_protected's one frame write
            hook(out[4], 12)
        if ok == 2:                       # Unicorn refused the CS load: raise as cpu.set would
            cpu.set("cs", (out[1] & ~3) | (out[0] & 3))
        self.pm_from_base = out[5]
        self.pm_count += 1
        return Delivered(vector, kind, None, out[0], return_eip, out[1], out[2],
                         "32-bit interrupt gate" if out[3] == 0xE else "32-bit trap gate")

    # ------------------------------------------------------------------ what C tells Python
    def counts(self) -> tuple[int, ...]:
        """(software interrupts, exceptions, IRET/RETF, BIOS default handlers, BIOS services)
        handled natively so far."""
        self._lib.xd_counts(self._x, self._counts)
        return tuple(self._counts)

    def a20(self, enabled: bool) -> None:
        """The A20 gate changed: the native reads avoid the HMA only while it aliases."""
        self._lib.xd_set_a20(self._x, 1 if enabled else 0)

    def pm_counts(self) -> tuple[int, int]:
        """(protected-mode deliveries computed in C, protected-mode IRET/RETF answered in C);
        the deliveries include the idle ticks emu/fastpic.py made inside emu_start."""
        tick = getattr(self.core, "pic_tick", None)
        lapic = getattr(self.core, "lapic_tick", None)     # and the LAPIC timer's (emu/fastlapictick.py)
        return (self.pm_count + (tick.h.ticks if tick is not None else 0) + (lapic.h.ticks if lapic is not None else 0),
                self._lib.xd_pm_special_count(self._x))

    def exceptions(self) -> int:
        self._lib.xd_counts(self._x, self._counts)
        return self._counts[1]

    def record(self, seq: int) -> dict[str, Any] | None:
        """Native exception number `seq` (1-based), if still kept: vector, cycle, instructions,
        registers before the push, the recent blocks (oldest first)."""
        ci = (ctypes.c_uint64 * 2)()
        vec = ctypes.c_uint32()
        regs = (ctypes.c_uint32 * len(RECORD_REGS))()
        ring = (ctypes.c_uint64 * 32)()
        pos = ctypes.c_uint32()
        if not self._lib.xd_record_get(self._x, seq, ci, ctypes.byref(vec), regs, ring, ctypes.byref(pos)):
            return None
        n = min(pos.value, 32)
        return {"seq": seq, "vector": vec.value, "cycle": ci[0], "instructions": ci[1],
                "regs": dict(zip(RECORD_REGS, regs)),
                "recent": [ring[(pos.value - n + i) & 31] for i in range(n)]}
