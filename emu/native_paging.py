"""Protected-mode delivery and the same-ring IRET filter with paging ON, in C (issue 11).

Why: a paging kernel (Linux) went through Python for every timer tick's delivery and for every
IRET / far RET it executes -- the tick's return and, during early boot, tens of thousands of
`sync_core` IRETs to the same ring -- each costing several Python page walks (the IDT gate, the
GDT descriptors, the stack).  emu/fastpath_paging.c does the same walks as emu/paging.py
`Walker` (32-bit and PAE, the same Accessed/Dirty bits written the same way) and the same
computation as the paging-off native path (emu/fastpath_pmirq.c), or nothing at all: any fault
or unusual case is left to the Python path, which stays the reference.

The same walker serves `Cpu.read` and `Cpu.fetch` (the pricer's code bytes of every block
seen, each descriptor read, ...): one C call instead of a Python walk per page.

This module only wires it: the C side needs QEMU's remembered-exception offset (emu/quirks.py
`probe_old_exception_offset`, which Python's watched-instruction hook clears with paging on) and
a Unicorn context to clear it through.  `BAREFLOW_NATIVE_PAGING=0` turns the paging-on part
off (the paging-off native delivery stays); `BAREFLOW_NATIVE_DELIVERY=0` turns both off.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from unicorn.unicorn_py3 import unicorn as _ucpy

from .quirks import probe_old_exception_offset

_SIGS_DONE: set[int] = set()
#: the largest read done in C (a block's code bytes, a descriptor, a few stack words)
READ_MAX = 4096
_new_buf = ctypes.create_string_buffer


def _declare(lib: ctypes.CDLL) -> None:
    if id(lib) in _SIGS_DONE:
        return
    vp, u64 = ctypes.c_void_p, ctypes.c_uint64
    for name, res, args in (("xg_new", vp, [vp, vp, vp, ctypes.c_int32]),
                            ("xg_free", None, [vp]),
                            ("xd_set_paging", None, [vp, vp]),
                            ("xg_counts", None, [vp, ctypes.POINTER(u64)]),
                            ("xg_read_linear", ctypes.c_int, [vp, vp, u64, ctypes.c_uint32, ctypes.c_uint32,
                                                              ctypes.c_char_p])):
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    _SIGS_DONE.add(id(lib))


class NativePaging:
    """The paging-on half of one core's native delivery (see the module docstring)."""

    def __init__(self, native: Any) -> None:
        self._lib = lib = native._lib
        _declare(lib)
        self._x = native._x
        self._g = None
        self._ctx = None
        self._counts = (ctypes.c_uint64 * 4)()
        if os.environ.get("BAREFLOW_NATIVE_PAGING", "1") == "0" or not native.allowed:
            return
        uclib = _ucpy.uclib
        ctx = ctypes.c_void_p()
        if uclib.uc_context_alloc(native.core.uc._uch, ctypes.byref(ctx)) != 0:
            return
        self._ctx = ctx
        self._free_ctx = uclib.uc_context_free
        off = probe_old_exception_offset()
        self._g = lib.xg_new(ctypes.cast(uclib.uc_context_save, ctypes.c_void_p),
                             ctypes.cast(uclib.uc_context_restore, ctypes.c_void_p),
                             ctx, -1 if off is None else off)
        if self._g:
            lib.xd_set_paging(self._x, self._g)
            self._uch = native.core.uc._uch
            self._read_fn = lib.xg_read_linear
            native.core.cpu.native_read = self.read

    def read(self, lin: int, n: int, touch: int) -> bytes | None:
        """Cpu.read (touch=1) / Cpu.fetch (touch=0) of n bytes at linear `lin` in C, or None:
        Python reads (and raises) as before (see xg_read_linear)."""
        if n > READ_MAX or n <= 0 or lin < 0:
            return None
        buf = _new_buf(n)     # one per call: ctypes lets another thread in during the call
        if self._read_fn(self._x, self._uch, lin, n, touch, buf):
            return buf.raw[:n]
        return None

    @property
    def active(self) -> bool:
        return bool(self._g)

    def counts(self) -> tuple[int, int, int, int]:
        """(deliveries, IRET/far RET, MOV CR3, linear reads) done in C with paging on, so far."""
        if not self._g:
            return 0, 0, 0, 0
        self._lib.xg_counts(self._g, self._counts)
        return tuple(self._counts)

    def __del__(self) -> None:
        try:
            if self._g:   # the core's xd_state goes with it (NativeDelivery holds this object)
                self._lib.xg_free(self._g)
                self._g = None
            if self._ctx is not None:
                self._free_ctx(self._ctx)
                self._ctx = None
        except Exception:
            pass
