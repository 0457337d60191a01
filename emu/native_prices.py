"""Python's side of the price cache read in C (emu/fastpath_prices.c).

`NativePrices` hands the C fast path what it needs to charge a cached block without calling
`Pricer.on_miss`: the mapped shard, the prices Python computes during the run (the overlay),
the symbol ranges and the pseudo-function map of the profiler.  The C side logs every block it
inserted and every pseudo-function it named; `drain()` gives those to the pricer, which keeps
its own view (the blocks' full prices, the pages holding code, the function names) exact and
materialises a block's `BlockCost` only when something asks for it.
"""
from __future__ import annotations

import ctypes
from typing import Any

from .fastpath import _load

KEY_BIOS = 1 << 48
KEY_BOOT = (1 << 48) + 1
OVERLAY_BIT = 1 << 63
_sigs_done = False


def _lib() -> ctypes.CDLL:
    global _sigs_done
    lib = _load()
    if not _sigs_done:
        u64, u32, i32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int32, ctypes.c_void_p
        p64, p32 = ctypes.POINTER(u64), ctypes.POINTER(u32)
        sig = {
            "ps_new": (vp, [vp, vp]),
            "ps_free": (None, [vp]),
            "ps_install": (ctypes.c_int, [vp, vp]),
            "ps_attach": (ctypes.c_int, [vp, vp, u64]),
            "ps_overlay_add": (ctypes.c_int, [vp, ctypes.c_char_p, u32]),
            "ps_set_enabled": (None, [vp, u32]),
            "ps_set_functions": (ctypes.c_int, [vp, p64, p64, u32, u64, u64]),
            "ps_note_pseudo": (None, [vp, u64, i32, i32]),
            "ps_set_jit": (ctypes.c_int, [vp, p64, p64, ctypes.POINTER(i32), u32]),
            "ps_reset": (None, [vp, i32]),
            "ps_pending_ptr": (vp, [vp]),
            "ps_drain": (None, [vp, p64, p32, p64, p32, p64, p32]),
            "ps_counts": (None, [vp, p64]),
            "ps_lookup": (ctypes.c_int64, [vp, u64, u32, u32, ctypes.c_char_p]),
        }
        for name, (res, args) in sig.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        _sigs_done = True
    return lib


def pseudo_name(key: int) -> str:
    """The name Pricer.func_index gives the pseudo-function of `key` (see ps_func in C)."""
    if key == KEY_BIOS:
        return "[bios]"
    if key == KEY_BOOT:
        return "[boot sector]"
    return f"[code {key:#010x}]"


class NativePrices:
    """One ps_state, installed in one fast path (or standalone, for the tests' lookups)."""

    def __init__(self, fast: Any = None) -> None:
        from unicorn.unicorn_py3 import unicorn as _ucpy
        lib = _lib()
        self._lib = lib
        uclib = _ucpy.uclib
        self._p = lib.ps_new(ctypes.cast(uclib.uc_mem_read, ctypes.c_void_p),
                             ctypes.cast(uclib.uc_mem_write, ctypes.c_void_p))
        if not self._p:
            raise MemoryError("ps_new failed")
        self._fast = fast
        self._keep: Any = None
        self._pending = ctypes.c_uint32.from_address(lib.ps_pending_ptr(self._p))
        if fast is not None:
            lib.ps_install(fast._state, self._p)

    @property
    def pending(self) -> int:
        return self._pending.value

    def attach(self, cache: Any) -> bool:
        """Read `cache`'s mapped shard from C (the cache keeps the mapping alive)."""
        addr, length = cache.address()
        if not addr:
            return False
        self._keep = cache
        return bool(self._lib.ps_attach(self._p, addr, length))

    def add(self, record: bytes) -> bool:
        """A record priced in this run; True if it is new in the overlay."""
        return self._lib.ps_overlay_add(self._p, record, len(record)) == 2

    def enable(self, on: bool) -> None:
        self._lib.ps_set_enabled(self._p, 1 if on else 0)

    def set_functions(self, starts: list[int], ends: list[int], bios: tuple[int, int]) -> None:
        n = len(starts)
        a = (ctypes.c_uint64 * max(n, 1))(*starts)
        b = (ctypes.c_uint64 * max(n, 1))(*ends)
        self._lib.ps_set_functions(self._p, a, b, n, bios[0], bios[1])

    def set_jit(self, functions: list[tuple[int, int, int]]) -> None:
        """JitDebug.functions in their order: (start, end, profiler id or -1)."""
        n = len(functions)
        a = (ctypes.c_uint64 * max(n, 1))(*[f[0] for f in functions])
        b = (ctypes.c_uint64 * max(n, 1))(*[f[1] for f in functions])
        c = (ctypes.c_int32 * max(n, 1))(*[f[2] for f in functions])
        self._lib.ps_set_jit(self._p, a, b, c, n)

    def note_pseudo(self, key: int, func: int, next_func: int) -> None:
        self._lib.ps_note_pseudo(self._p, key, func, next_func)

    def drain(self) -> tuple[list[tuple[int, int, int]], list[int]]:
        """([(pc, size, source)], [pseudo keys named]) logged since the last drain."""
        n = self.pending
        if not n:
            return [], []
        pcs = (ctypes.c_uint64 * n)()
        sizes = (ctypes.c_uint32 * n)()
        offs = (ctypes.c_uint64 * n)()
        names = (ctypes.c_uint64 * n)()
        nb, nn = ctypes.c_uint32(n), ctypes.c_uint32(n)
        self._lib.ps_drain(self._p, pcs, sizes, offs, ctypes.byref(nb), names, ctypes.byref(nn))
        return list(zip(pcs[:nb.value], sizes[:nb.value], offs[:nb.value])), list(names[:nn.value])

    def counts(self) -> dict[str, int]:
        out = (ctypes.c_uint64 * 6)()
        self._lib.ps_counts(self._p, out)
        return {"hits": out[0], "declined": out[1], "overlay": out[2], "shard": out[3],
                "absent": out[4], "needs_python": out[5]}

    def lookup(self, pc: int, size: int, mode: int, code: bytes) -> int:
        """The shard offset of a key as the C reader finds it, or -1 (tests fuzz this)."""
        return self._lib.ps_lookup(self._p, pc, size, mode, code)

    def close(self) -> None:
        p, self._p = getattr(self, "_p", None), None
        if not p:
            return
        fast = self._fast
        if fast is not None and getattr(fast, "_state", None):
            self._lib.ps_install(fast._state, None)
        self._lib.ps_free(p)

    def __del__(self) -> None:
        self.close()
