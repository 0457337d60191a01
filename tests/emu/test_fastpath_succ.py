"""fp_block_hook's successor cache after a retranslation (emu/fastpath.c, issue 11 "fluid").

fp_tb_generated no longer scans the whole table to unlink a block Unicorn translated again:
the link stays and the hot path checks the entry's `used` flag.  Driven here through ctypes,
without an engine (the hook touches the engine only to stop it): block A runs, then B (A's
successor link now points at B), B is translated again, and the next A -> B must miss and
charge B's NEW price - with a stale link it would charge the old one.
"""
from __future__ import annotations

import ctypes

from bareflow.emu.fastpath import MISS_FN, _Header, _load

HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
EDGE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class _TbView(ctypes.Structure):
    _fields_ = [("pc", ctypes.c_uint64), ("icount", ctypes.c_uint16), ("size", ctypes.c_uint16)]


def _insert(lib, st, pc: int, size: int, cost: int) -> None:
    zeros = (ctypes.c_uint32 * 4)()
    lib.fp_insert(st, pc, size, cost, cost, 1, 0, (1 << 64) - 1, pc + size, -1, 0, 0, zeros, zeros)


def _run(lib, blocks_after_retranslation: int) -> tuple[int, int]:
    st = lib.fp_new(4)
    misses: list[tuple[int, int]] = []
    prices = {(0x1000, 8): 5, (0x2000, 8): 7}

    def miss(_st, pc, size):
        misses.append((pc, size))
        _insert(lib, st, pc, size, prices[(pc, size)])
        return 0
    cb = MISS_FN(miss)
    lib.fp_set_api(st, None, None, None, ctypes.cast(cb, ctypes.c_void_p))
    hook = HOOK(lib.fp_block_hook_ptr())
    edge = EDGE(lib.fp_edge_hook_ptr())
    try:
        for _ in range(3):                       # A, B, A, B, A, B: the link A -> B is made
            hook(None, 0x1000, 8, st)
            hook(None, 0x2000, 8, st)
        assert len(misses) == 2
        prices[(0x2000, 8)] = 100                # new bytes in B: Unicorn translates it again
        view = _TbView(0x2000, 1, 8)
        edge(None, ctypes.byref(view), None, st)
        for _ in range(blocks_after_retranslation):
            hook(None, 0x1000, 8, st)
            hook(None, 0x2000, 8, st)
        h = _Header.from_address(st)
        return h.cycles, len(misses)
    finally:
        lib.fp_free(st)


def test_a_retranslated_successor_is_priced_again():
    lib = _load()
    cycles, misses = _run(lib, 2)
    assert misses == 3                           # B missed once more, then its new entry is linked
    assert cycles == 3 * (5 + 7) + 2 * (5 + 100)


def test_the_successor_link_still_serves_a_live_block():
    lib = _load()
    cycles, misses = _run(lib, 0)
    assert (cycles, misses) == (3 * (5 + 7), 2)
