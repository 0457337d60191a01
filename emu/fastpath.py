"""ctypes bridge to the native per-block callback (emu/fastpath.c).

The C side owns the hot state (cycle clock, instruction count, deadline, block cost table,
profile counters, shadow call stack).  This module loads it, registers its callbacks with
Unicorn through the raw C API (the 2.1.4 Python binding refuses an RDTSC instruction hook),
and exposes the counters to Python as plain attributes.  Python is called back only when a
block is seen for the first time, through `on_miss`.
"""
from __future__ import annotations

import ctypes
import importlib.util
from typing import Any, Callable

from unicorn.unicorn_py3 import unicorn as _ucpy
from unicorn.unicorn_const import UC_HOOK_BLOCK, UC_HOOK_EDGE_GENERATED, UC_HOOK_INSN
from unicorn.x86_const import UC_X86_INS_RDTSC

from ..devices.base.errors import BareflowError

END_KINDS = {"other": 0, "call": 1, "ret": 2, "jcc": 3, "iret": 4}
STOP_NONE, STOP_DEADLINE, STOP_MISS_ERROR, STOP_IRQ_WINDOW = 0, 1, 2, 3
ENDS_MAY_SET_IF = 0x100
NO_DEADLINE = (1 << 64) - 1


class _Header(ctypes.Structure):
    """Mirror of the public head of `fp_state` in fastpath.c (same order)."""

    _fields_ = [
        ("cycles", ctypes.c_uint64),
        ("instructions", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("block_base", ctypes.c_uint64),
        ("blocks", ctypes.c_uint64),
        ("misses", ctypes.c_uint64),
        ("stop_reason", ctypes.c_uint32),
        ("step_mode", ctypes.c_uint32),
        ("profiling", ctypes.c_uint32),
        ("nfuncs", ctypes.c_uint32),
        ("func_excl", ctypes.POINTER(ctypes.c_uint64)),
        ("func_incl", ctypes.POINTER(ctypes.c_uint64)),
        ("func_calls", ctypes.POINTER(ctypes.c_uint64)),
        ("func_active", ctypes.POINTER(ctypes.c_uint32)),
        ("sp", ctypes.c_uint32),
        ("irq_pending", ctypes.c_uint32),
        ("skip_window", ctypes.c_uint32),
        ("ring_pos", ctypes.c_uint32),
        ("ring", ctypes.c_uint64 * 32),
    ]


MISS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32)
_lib: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    spec = importlib.util.find_spec("bareflow.emu._fastpath")
    if spec is None or spec.origin is None:
        raise BareflowError("the native fast path is not built: run `bash tools/setup.sh` (pip install -e .)")
    lib = ctypes.CDLL(spec.origin)
    u64, u32, i32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int32, ctypes.c_void_p
    sig = {
        "fp_new": (vp, [u32]),
        "fp_free": (None, [vp]),
        "fp_set_api": (None, [vp, vp, vp, vp, vp]),
        "fp_ensure_funcs": (ctypes.c_int, [vp, u32]),
        "fp_insert": (ctypes.c_int, [vp, u64, u32, u32, u32, u32, u32, u64, u64, i32, u32, u32,
                                     ctypes.POINTER(u32), ctypes.POINTER(u32)]),
        "fp_invalidate": (u32, [vp, u64, u64]),
        "fp_clear": (None, [vp]),
        "fp_live_blocks": (u32, [vp]),
        "fp_push_frame": (None, [vp, u64, i32, u64]),
        "fp_flush_frames": (None, [vp, u64]),
        "fp_open_incl": (u64, [vp, i32, u64]),
        "fp_reset_counters": (None, [vp]),
        "fp_uncharge_current": (None, [vp, u32, u32]),
        "fp_break_chain": (None, [vp]),
        "fp_block_hook_ptr": (vp, []),
        "fp_current": (ctypes.c_int, [vp, ctypes.POINTER(u64), ctypes.POINTER(u32), ctypes.POINTER(i32)]),
        "fp_rdtsc_hook_ptr": (vp, []),
        "fp_state_size": (ctypes.c_size_t, []),
        "fp_layout": (ctypes.c_size_t, [ctypes.POINTER(ctypes.c_size_t), ctypes.c_size_t]),
        "fp_edge_hook_ptr": (vp, []),
        "fp_retranslated": (u64, [vp]),
        "fp_fold_excl": (None, [vp]),
        "fp_table_entries": (u32, [vp]),
        "fp_lookups": (u64, [vp]),
    }
    declare(lib, sig)
    check_layout(lib, _Header)
    _lib = lib
    return lib


def declare(lib: ctypes.CDLL, sig: dict[str, tuple[Any, list[Any]]]) -> None:
    """Give each native function its result and argument types (ctypes would otherwise pass and
    return C ints, truncating pointers and 64-bit values)."""
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


_bound: set[str] = set()


def bind(prefix: str, sig: dict[str, tuple[Any, list[Any]]], header: type[ctypes.Structure], what: str,
         mirror: str) -> ctypes.CDLL:
    """The fast path's library with one native part's functions typed and its struct's mirror
    checked, once per process (the 8259/PIT tick, the port path, the LAPIC, the LAPIC tick)."""
    lib = _load()
    if prefix not in _bound:
        declare(lib, sig)
        check_layout(lib, header, prefix, what, mirror)
        _bound.add(prefix)
    return lib


def check_layout(lib: ctypes.CDLL, header: type[ctypes.Structure], prefix: str = "fp",
                 what: str = "the native fast path", mirror: str = "emu/fastpath.py") -> None:
    """Compare a ctypes mirror with its C struct (`<prefix>_layout`: field offsets, then where the
    public head ends; `<prefix>_state_size`); a stale build or an edit on one side only is a clear
    error, not memory corruption."""
    names = [f[0] for f in header._fields_]
    buf = (ctypes.c_size_t * (len(names) + 8))()
    count = getattr(lib, f"{prefix}_layout")(buf, len(buf))
    c_offsets = list(buf[:min(count, len(buf))])
    py_offsets = [getattr(header, n).offset for n in names] + [ctypes.sizeof(header)]
    if c_offsets != py_offsets:
        where = next((i for i, (a, b) in enumerate(zip(c_offsets, py_offsets)) if a != b),
                     min(len(c_offsets), len(py_offsets)))
        field = (names + ["(end of the public head)"])[where] if where <= len(names) else "?"
        raise BareflowError(
            f"{what} does not match {mirror}: {len(c_offsets)} offsets in C, "
            f"{len(py_offsets)} in the mirror, first difference at {field!r} "
            f"(C {c_offsets[where] if where < len(c_offsets) else '-'}, "
            f"Python {py_offsets[where] if where < len(py_offsets) else '-'}); "
            f"rebuild with `bash tools/setup.sh` or fix {header.__name__}")
    if getattr(lib, f"{prefix}_state_size")() < ctypes.sizeof(header):
        raise BareflowError(f"{what}'s state is smaller than its Python mirror: rebuild it")


class FastPath:
    """The native clock/profiler attached to one Unicorn engine."""

    def __init__(self, uc, on_miss: Callable[[int, int], bool], nfuncs: int = 64, *,
                 block_hook: bool = True) -> None:
        lib = _load()
        self._lib = lib
        self._uc = uc
        self._state = lib.fp_new(max(1, nfuncs))
        if not self._state:
            raise MemoryError("fp_new failed")
        self.h = _Header.from_address(self._state)
        self._on_miss = on_miss

        def miss(_state: int, pc: int, size: int) -> int:
            try:
                return 0 if on_miss(pc, size) else 1
            except BaseException as exc:  # never let an exception unwind through C
                self.miss_error = exc
                return 1

        self.miss_error: BaseException | None = None
        self._cur_out = (ctypes.c_uint64(), ctypes.c_uint32(), ctypes.c_int32())
        self._cur_refs = tuple(ctypes.byref(x) for x in self._cur_out)
        self._miss_cb = MISS_FN(miss)  # keep a reference: C holds the pointer
        uclib = _ucpy.uclib
        lib.fp_set_api(
            self._state,
            ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p),
            ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p),
            ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p),
            ctypes.cast(self._miss_cb, ctypes.c_void_p),
        )
        self._hooks: list[ctypes.c_size_t] = []
        if block_hook:  # False only for the benchmark's "Unicorn without hooks" reference
            self._add_raw_hook(UC_HOOK_BLOCK, lib.fp_block_hook_ptr(), 1, 0)
            # self-modifying code: a block translated again is priced again (fastpath.c)
            self._add_raw_hook(UC_HOOK_EDGE_GENERATED, lib.fp_edge_hook_ptr(), 1, 0)
        self._add_raw_hook(UC_HOOK_INSN, lib.fp_rdtsc_hook_ptr(), 1, 0, UC_X86_INS_RDTSC)

    def _add_raw_hook(self, htype: int, fnptr: int, begin: int, end: int, *extra: int) -> None:
        uclib = _ucpy.uclib
        handle = ctypes.c_size_t()
        args = [self._uc._uch, ctypes.byref(handle), ctypes.c_int(htype), ctypes.c_void_p(fnptr),
                ctypes.c_void_p(self._state), ctypes.c_uint64(begin), ctypes.c_uint64(end)]
        args += [ctypes.c_int(x) for x in extra]
        err = uclib.uc_hook_add(*args)
        if err != 0:
            raise BareflowError(f"uc_hook_add failed with Unicorn error {err}")
        self._hooks.append(handle)

    def __del__(self) -> None:
        # Garbage collection may already have closed the engine (finalizers of a cycle run in
        # any order), so touch nothing of Unicorn's here: the engine is unreachable and will
        # never call our hooks again, freeing our state is all that is left.
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.fp_free(state)

    def close(self) -> None:
        if self._state:
            uclib = _ucpy.uclib
            for h in self._hooks:
                uclib.uc_hook_del(self._uc._uch, h)
            self._hooks.clear()
            self._lib.fp_free(self._state)
            self._state = None

    # --- block table -------------------------------------------------------------------
    def insert(self, pc: int, size: int, cost: int, first_cost: int, ninsn: int, taken_extra: int,
               target: int | None, fallthrough: int, func: int, ends: str,
               rdtsc: list[tuple[int, int]], may_set_if: bool = False,
               io: list[tuple[int, int]] = ()) -> None:
        """`rdtsc` and `io`: (offset in the block, cycles before it) of each RDTSC and IN/OUT;
        four slots, RDTSCs first (the native port path, fastpath_ports.c, uses the rest)."""
        timed = list(rdtsc[:4])
        n = len(timed)
        timed += list(io[:4 - n])
        offs = (ctypes.c_uint32 * 4)(*[o for o, _ in timed])
        pres = (ctypes.c_uint32 * 4)(*[p for _, p in timed])
        self._lib.fp_insert(self._state, pc, size, cost, first_cost, ninsn, taken_extra,
                            NO_DEADLINE if target is None else target, fallthrough, func,
                            END_KINDS.get(ends, 0) | (ENDS_MAY_SET_IF if may_set_if else 0),
                            n | (len(timed) << 8), offs, pres)

    def invalidate(self, lo: int, hi: int) -> int:
        return self._lib.fp_invalidate(self._state, lo, hi)

    @property
    def retranslated(self) -> int:
        """Priced blocks dropped because Unicorn translated them again (new bytes, flushes)."""
        return self._lib.fp_retranslated(self._state)

    def clear(self) -> None:
        self._lib.fp_clear(self._state)

    def ensure_funcs(self, n: int) -> None:
        self._lib.fp_ensure_funcs(self._state, n)

    # --- the shared header: every Python-side write goes through here --------------------
    _WRITABLE = frozenset({"cycles", "instructions", "stop_reason", "step_mode", "irq_pending",
                           "skip_window", "profiling"})

    def write(self, **fields: int) -> None:
        """Change fields of the header the C callback reads (`deadline` has `set_deadline`).
        The one writer, so the C side's assumptions (which fields Python may touch, and when)
        are visible in one place."""
        h = self.h
        for name, value in fields.items():
            if name not in self._WRITABLE:
                raise AttributeError(f"fast path header field {name!r} is not writable from Python")
            setattr(h, name, value)

    def add_cycles(self, n: int) -> None:
        """Charge cycles Python modelled (a BIOS service, an interrupt delivery)."""
        self.h.cycles += n

    def advance_to(self, cycle: int) -> None:
        """Idle time: move the clock forward to `cycle` (never back)."""
        h = self.h
        if cycle > h.cycles:
            h.cycles = cycle

    # --- clock ---------------------------------------------------------------------------
    @property
    def cycles(self) -> int:
        return self.h.cycles

    @cycles.setter
    def cycles(self, value: int) -> None:
        self.h.cycles = value

    @property
    def instructions(self) -> int:
        return self.h.instructions

    @instructions.setter
    def instructions(self, value: int) -> None:
        self.h.instructions = value

    def set_deadline(self, cycle: int | None) -> None:
        self.h.deadline = NO_DEADLINE if cycle is None else max(0, cycle)

    def current_block(self) -> tuple[int, int, int] | None:
        """(pc, size, function id) of the block running now, or None."""
        pc, size, func = self._cur_out
        if not self._lib.fp_current(self._state, *self._cur_refs):
            return None
        return pc.value, size.value, func.value

    def recent_blocks(self) -> list[int]:
        """PCs of the last blocks executed, oldest first."""
        pos = self.h.ring_pos
        n = min(pos, 32)
        return [self.h.ring[(pos - n + i) & 31] for i in range(n)]

    def uncharge_current(self, retired: int, retired_cycles: int) -> None:
        self._lib.fp_uncharge_current(self._state, retired, retired_cycles)

    def break_chain(self) -> None:
        self._lib.fp_break_chain(self._state)

    def push_frame(self, ret: int, func: int, start: int) -> None:
        self._lib.fp_push_frame(self._state, ret, func, start)

    def flush_frames(self) -> None:
        self._lib.fp_flush_frames(self._state, self.h.cycles)

    def open_inclusive(self, func: int) -> int:
        return self._lib.fp_open_incl(self._state, func, self.h.cycles)

    def reset_counters(self) -> None:
        self._lib.fp_reset_counters(self._state)

    def func_counters(self, n: int) -> tuple[list[int], list[int], list[int]]:
        """(exclusive, inclusive, calls) for function ids 0..n-1."""
        # exclusive cycles are summed per block in C and moved into func_excl on demand
        self._lib.fp_fold_excl(self._state)
        n = min(n, self.h.nfuncs)
        h = self.h
        return h.func_excl[:n], h.func_incl[:n], h.func_calls[:n]

    def set_func_counters(self, excl: list[int], incl: list[int], calls: list[int]) -> None:
        self.ensure_funcs(len(excl))
        self._lib.fp_fold_excl(self._state)   # pending per-block sums would land on top
        h = self.h
        for i, (a, b, c) in enumerate(zip(excl, incl, calls)):
            h.func_excl[i], h.func_incl[i], h.func_calls[i] = a, b, c
