"""The per-block exclusive cycles and the two-way successor cache of fp_block_hook (issue 11).

The hook adds a block's exclusive cycles (and a taken Jcc's extra cycles) to the block's own
table entry, on the cache line it loads anyway, and fp_fold_excl moves them into func_excl when
the profile is read (FastPath.func_counters), written, or when an entry dies (re-translated,
invalidated) or is priced again with another function.  A wrong fold (cycles lost when a block
dies, counted twice when the profile is read twice, given to the function a block had before it
was priced again, an uncharge after a read) changes the profile; a stale successor link (its
taken-Jcc flag) changes the clock.  Driven through ctypes without an engine (the hook touches
the engine only to stop it) against a plain Python model of the same accounting: blocks with
functions, Jcc edges both ways, calls and returns, re-translation, invalidation, re-pricing,
uncharges, and profile reads at random points; then the same trace with the profile read only
at the end must give the same numbers.
"""
from __future__ import annotations

import ctypes
import random

from bareflow.emu.fastpath import MISS_FN, FastPath, _Header, _load

HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
EDGE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
END = {"other": 0, "call": 1, "ret": 2, "jcc": 3}
NONE = (1 << 64) - 1
NFUNCS = 6


class _TbView(ctypes.Structure):
    _fields_ = [("pc", ctypes.c_uint64), ("icount", ctypes.c_uint16), ("size", ctypes.c_uint16)]


class Block:
    def __init__(self, pc: int, size: int, cost: int, ninsn: int, func: int, ends: str,
                 target: int = NONE, taken_extra: int = 0) -> None:
        self.pc, self.size, self.cost, self.ninsn, self.func = pc, size, cost, ninsn, func
        self.ends, self.target, self.taken_extra = ends, target, taken_extra
        self.fallthrough = pc + size


class Model:
    """The accounting fp_block_hook did before the fold: func_excl[func] += cycles directly."""

    def __init__(self) -> None:
        self.cycles = self.insns = 0
        self.excl = [0] * NFUNCS
        self.incl = [0] * NFUNCS
        self.calls = [0] * NFUNCS
        self.active = [0] * NFUNCS
        self.stack: list[tuple[int, int, int]] = []
        self.prev: Block | None = None
        self.cur: Block | None = None

    def run(self, b: Block) -> None:
        now = self.cycles
        p = self.prev
        if p is not None:
            if p.ends == "jcc":
                if b.pc == p.target and b.pc != p.fallthrough:
                    now += p.taken_extra
                    if p.func >= 0:
                        self.excl[p.func] += p.taken_extra
            elif p.ends == "call":
                if b.func >= 0:
                    self.calls[b.func] += 1
                    self.active[b.func] += 1
                self.stack.append((p.fallthrough, b.func, now))
            elif p.ends == "ret" and self.stack:
                for k in range(len(self.stack) - 1, max(-1, len(self.stack) - 65), -1):
                    if self.stack[k][0] == b.pc:
                        while len(self.stack) > k:
                            _, fn, start = self.stack.pop()
                            if fn >= 0 and self.active[fn] > 0:
                                self.active[fn] -= 1
                                if self.active[fn] == 0:
                                    self.incl[fn] += now - start
                        break
        self.cycles = now + b.cost
        self.insns += b.ninsn
        if b.func >= 0:
            self.excl[b.func] += b.cost
        self.prev = self.cur = b

    def drop(self, b: Block) -> None:
        if self.prev is b:
            self.prev = None
        if self.cur is b:
            self.cur = None

    def uncharge(self, retired: int, retired_cycles: int) -> None:
        b = self.cur
        if b is None:
            return
        back = b.cost - min(retired_cycles, b.cost)
        self.cycles -= back
        self.insns -= b.ninsn - min(retired, b.ninsn)
        if b.func >= 0:
            self.excl[b.func] -= back
        self.prev = None


class Native:
    def __init__(self, lib) -> None:
        self.lib = lib
        self.st = lib.fp_new(NFUNCS)
        self.prices: dict[tuple[int, int], Block] = {}
        self.misses = 0

        def miss(_st, pc, size):
            self.misses += 1
            self.insert(self.prices[(pc, size)])
            return 0
        self._cb = MISS_FN(miss)
        lib.fp_set_api(self.st, None, None, None, ctypes.cast(self._cb, ctypes.c_void_p))
        self.hook = HOOK(lib.fp_block_hook_ptr())
        self.edge = EDGE(lib.fp_edge_hook_ptr())
        self.h = _Header.from_address(self.st)
        self._lib, self._state = lib, self.st   # what FastPath's profile methods use

    def insert(self, b: Block) -> None:
        zeros = (ctypes.c_uint32 * 4)()
        self.lib.fp_insert(self.st, b.pc, b.size, b.cost, b.cost, b.ninsn, b.taken_extra, b.target,
                           b.fallthrough, b.func, END[b.ends], 0, zeros, zeros)

    def run(self, b: Block) -> None:
        self.prices[(b.pc, b.size)] = b
        self.hook(None, b.pc, b.size, self.st)

    def retranslate(self, b: Block) -> None:
        view = _TbView(b.pc, 1, b.size)
        self.edge(None, ctypes.byref(view), None, self.st)

    def profile(self) -> tuple[list[int], list[int], list[int]]:
        excl, incl, calls = FastPath.func_counters(self, NFUNCS)   # it folds first
        return list(excl), list(incl), list(calls)

    def ensure_funcs(self, n: int) -> None:
        self.lib.fp_ensure_funcs(self.st, n)

    def free(self) -> None:
        self.lib.fp_free(self.st)


def _program() -> list[Block]:
    """A loop with a Jcc both ways, a call and its return, in three functions."""
    return [
        Block(0x1000, 8, 5, 2, 0, "jcc", target=0x1100, taken_extra=3),   # 0: -> 0x1008 or 0x1100
        Block(0x1008, 4, 7, 1, 0, "call"),                                 # 1: call 0x2000
        Block(0x2000, 6, 11, 3, 1, "jcc", target=0x2010, taken_extra=2),  # 2: callee, Jcc
        Block(0x2006, 10, 4, 2, 1, "other"),                               # 3: -> 0x2010
        Block(0x2010, 2, 9, 1, 1, "ret"),                                  # 4: ret -> 0x100c
        Block(0x100C, 4, 6, 2, 2, "other"),                                # 5: -> 0x1000
        Block(0x1100, 8, 13, 4, -1, "other"),                              # 6: no function; -> 0x1000
    ]


def _trace(rng: random.Random, prog: list[Block], n: int):
    """Execution order following the program's control flow, random Jcc outcomes."""
    i = 0
    for _ in range(n):
        yield prog[i]
        b = prog[i]
        if i == 0:
            i = 6 if rng.random() < 0.5 else 1
        elif i == 2:
            i = 4 if rng.random() < 0.4 else 3
        else:
            i = {1: 2, 3: 4, 4: 5, 5: 0, 6: 0}[i]
        del b


def _drive(seed: int, read_midway: bool) -> tuple:
    rng = random.Random(seed)
    when = random.Random(seed + 1000)         # the reads: the same trace with or without them
    lib = _load()
    nat = Native(lib)
    model = Model()
    prog = _program()
    reads = 0
    try:
        for step, b in enumerate(_trace(rng, prog, 3000)):
            nat.run(b)
            model.run(b)
            r = rng.random()
            if r < 0.01:                       # the block is translated again (new bytes, same price)
                victim = rng.choice(prog)
                nat.retranslate(victim)
                model.drop(victim)
            elif r < 0.015:                    # code written: every block in a range forgotten
                victim = rng.choice(prog)
                lo = victim.pc
                lib.fp_invalidate(nat.st, lo, lo + 0x10)
                for x in prog:
                    if x.pc < lo + 0x10 and x.pc + x.size > lo:
                        model.drop(x)
            elif r < 0.02:                     # priced again with another function (a symbol file)
                k = rng.randrange(len(prog))
                old = prog[k]
                new = Block(old.pc, old.size, old.cost, old.ninsn, rng.randrange(-1, NFUNCS), old.ends,
                            old.target, old.taken_extra)
                prog[k] = new
                nat.prices[(new.pc, new.size)] = new
                nat.insert(new)                # a live entry: its pending cycles stay with the old function
                if model.prev is old:
                    model.prev = new
                if model.cur is old:
                    model.cur = new
            elif r < 0.025:                    # a fault inside the block: part of its charge undone
                cur = model.cur
                if cur is not None:
                    retired = rng.randrange(cur.ninsn + 1)
                    rc = rng.randrange(cur.cost + 1)
                    lib.fp_uncharge_current(nat.st, retired, rc)
                    model.uncharge(retired, rc)
            if read_midway and when.random() < 0.05:
                reads += 1
                excl, incl, calls = nat.profile()
                assert excl == model.excl, (step, excl, model.excl)
                assert calls == model.calls
            assert nat.h.cycles == model.cycles, step
        excl, incl, calls = nat.profile()
        again = nat.profile()                  # a second read adds nothing
        assert again == (excl, incl, calls)
        assert (nat.h.cycles, nat.h.instructions) == (model.cycles, model.insns)
        assert excl == model.excl
        assert incl == model.incl
        assert calls == model.calls
        assert nat.misses > len(prog)          # the re-translations and invalidations did happen
        return nat.h.cycles, nat.h.instructions, excl, incl, calls, reads
    finally:
        nat.free()


def test_the_profile_read_midway_equals_the_model():
    for seed in range(4):
        _, _, excl, _, _, reads = _drive(seed, read_midway=True)
        assert reads > 10
        assert sum(excl) > 0


def test_setting_the_profile_midway_drops_the_pending_cycles():
    """FastPath.set_func_counters (a snapshot restored) replaces the profile: cycles the
    entries still hold must not land on top of the values set."""
    rng = random.Random(7)
    nat = Native(_load())
    model = Model()
    try:
        prog = _program()
        trace = list(_trace(rng, prog, 400))
        for b in trace[:200]:
            nat.run(b)
            model.run(b)
        base = [1000 * (i + 1) for i in range(NFUNCS)]
        FastPath.set_func_counters(nat, base, [0] * NFUNCS, [0] * NFUNCS)
        model.excl = list(base)
        for b in trace[200:]:
            nat.run(b)
            model.run(b)
        assert nat.profile()[0] == model.excl
    finally:
        nat.free()


def test_reading_the_profile_midway_changes_nothing():
    for seed in range(4):
        a = _drive(seed, read_midway=True)
        b = _drive(seed, read_midway=False)
        assert a[:5] == b[:5]


def test_a_stale_taken_link_is_not_trusted_after_a_reprice():
    """Block P ends in a Jcc to T; the link P -> T carries "taken".  P is priced again with T as
    its fall-through (no longer taken): the next P -> T must not charge taken_extra."""
    lib = _load()
    nat = Native(lib)
    try:
        p = Block(0x3000, 8, 5, 1, 0, "jcc", target=0x3100, taken_extra=40)
        t = Block(0x3100, 4, 1, 1, 0, "other")
        for _ in range(3):
            nat.run(p)
            nat.run(t)
        assert nat.h.cycles == 3 * (5 + 40 + 1)
        p2 = Block(0x3000, 8, 5, 1, 0, "jcc", target=0x3200, taken_extra=40)
        nat.prices[(p.pc, p.size)] = p2
        nat.insert(p2)
        nat.run(p2)
        nat.run(t)
        assert nat.h.cycles == 3 * 46 + 5 + 1
    finally:
        nat.free()


def test_many_blocks_grow_the_index_and_reuse_dead_entries():
    """Enough blocks to rebuild the hash index twice, half of them re-translated and priced
    again: every block still found, the profile exact, dead entries reused (the dense array
    does not grow with re-translations)."""
    lib = _load()
    nat = Native(lib)
    model = Model()
    try:
        blocks = [Block(0x10000 + 16 * i, 16, 1 + i % 7, 1 + i % 3, i % NFUNCS, "other") for i in range(40000)]
        for b in blocks:
            nat.run(b)
            model.run(b)
        used = lib.fp_table_entries(nat.st)
        assert used == len(blocks)
        for b in blocks[::2]:
            nat.retranslate(b)
            model.drop(b)
        for b in blocks:
            nat.run(b)
            model.run(b)
        assert lib.fp_table_entries(nat.st) == used
        assert lib.fp_live_blocks(nat.st) == len(blocks)
        excl, _, _ = nat.profile()
        assert excl == model.excl
        assert nat.h.cycles == model.cycles
    finally:
        nat.free()


def test_a_machine_profile_read_every_slice_equals_one_read_at_the_end():
    """The same through the machine: the self-modifying image (its function is translated
    again, so its entries die with cycles pending) and the protected-mode image (calls, IRQs),
    run in short slices twice: once with `profile_table()` (FastPath.func_counters, which
    folds) read after every slice, once read only at the end: the same clock, the same profile.
    (Sliced runs equal whole ones since tools/unicorn/sync-pc.patch: tests/emu/test_slicing.py.)"""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "images"))
    import build as images
    from bareflow.emu.machine import Machine, MachineConfig, StopReason

    def sliced(img, step: int, read: bool):
        m = Machine(MachineConfig(image=img))
        limit, slices = 0, 0
        while True:
            limit += step
            reason = m.run(max_cycles=limit)
            slices += 1
            if read:
                m.profile_table()
            if reason != StopReason.CYCLE_LIMIT:
                break
        assert reason == StopReason.POWER_OFF
        assert slices > 10
        return m

    for name, step in (("core_smc.asm", 997), ("core_pm.asm", 20_011)):
        img = images.build(name)
        a, b = sliced(img, step, True), sliced(img, step, False)
        assert a.fast.retranslated > 0
        assert (a.cycles, a.instructions) == (b.cycles, b.instructions)
        rows = a.profile_table()
        assert rows == b.profile_table()
        assert sum(r["exclusive_cycles"] for r in rows) > 0


def test_both_ways_of_a_jcc_are_found_without_a_lookup():
    """The two-way successor cache: a Jcc block whose successors alternate (the xz decoder's
    bit loop) finds both without probing the hash index once they are linked, and charges the
    taken edge's extra cycles exactly on the taken way."""
    lib = _load()
    nat = Native(lib)
    try:
        j = Block(0x5000, 8, 5, 2, 0, "jcc", target=0x5100, taken_extra=3)
        t = Block(0x5100, 4, 2, 1, 1, "other")
        f = Block(0x5008, 4, 1, 1, 1, "other")
        seq = [j, t, j, f] * 50
        for b in seq[:8]:
            nat.run(b)
        before = lib.fp_lookups(nat.st)
        for b in seq[8:]:
            nat.run(b)
        assert lib.fp_lookups(nat.st) == before
        assert nat.h.cycles == 100 * 5 + 50 * (3 + 2) + 50 * 1
        assert nat.profile()[0][:2] == [100 * 5 + 50 * 3, 50 * 2 + 50 * 1]
    finally:
        nat.free()
