"""Block pricing: what each translated block costs, and the exact time inside one.

The native fast path (emu/fastpath.c) charges a block's cycles when it starts; it calls back
into Python only the first time it sees a (pc, size) block.  `Pricer.on_miss` then reads the
block's bytes (by LINEAR address, through the guest's page tables when paging is on), prices
it with the cost model (emu/costs.py, cached across runs by emu/pricecache.py), finds its
function for the profiler, and notes instructions the core must watch (emu/special.py).
`exact_now()` turns the block-start clock into the cycle at the instruction executing now
(an IN/OUT, an RDTSC, an MMIO access), from the per-instruction prefix sums of the price.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .costs import BlockCost, CostModel
from .pricecache import PriceCache



class Pricer:
    def __init__(self, core: Any, func_names: list[str], price_shard: str = "default") -> None:
        """`core` is the CPU core (emu/core.py) this part belongs to; typed loosely because the
        core imports this module, and the layers import only downward."""
        self._core = core
        self.costs = CostModel()
        self._prices = PriceCache.for_image(price_shard)   # this image's shard of the cache
        self._blocks: dict[tuple[int, int], BlockCost] = {}
        #: 4 KiB page -> the priced blocks (pc, size) that touch it: a host write is checked
        #: against the blocks themselves, so a stack push beside code costs nothing
        self._code_pages: dict[int, set[tuple[int, int]]] = {}
        self._io_prefix: dict[tuple[int, int], dict[int, int]] = {}
        self.func_names = func_names
        self._pseudo: dict[str, int] = {}
        #: (lo, hi) ranges to retranslate before running on (blocks with watched instructions)
        self.pending_retranslate: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ read side
    def block(self, pc: int, size: int) -> BlockCost | None:
        return self._blocks.get((pc, size))

    def blocks(self) -> dict[tuple[int, int], BlockCost]:
        """A copy of the priced blocks, keyed by (linear pc, size)."""
        return dict(self._blocks)

    def current(self) -> BlockCost | None:
        """The price of the block running now (inside a hook), if known."""
        cur = self._core.fast.current_block()
        return self._blocks.get((cur[0], cur[1])) if cur else None

    def uncharge_to(self, lin: int) -> None:
        """Inside a block, stop at instruction `lin`: keep only what retired before it."""
        bc = self.current()
        if bc is not None and lin in bc.insn_addrs:
            i = bc.insn_addrs.index(lin)
            self._core.fast.uncharge_current(i, bc.prefix[i])

    def exact_now(self) -> int:
        """Cycle count exactly at the instruction being executed (inside a hook)."""
        core = self._core
        fast = core.fast
        cur = fast.current_block()
        base = fast.h.block_base
        if cur is None:
            return fast.h.cycles
        pc, size, _ = cur
        prefixes = self._io_prefix.get((pc, size))
        if prefixes:
            p = prefixes.get(core.cpu.linear_pc())
            if p is not None:
                return base + p
        bc = self._blocks.get((pc, size))
        if bc is None:
            return fast.h.cycles
        lin = core.cpu.linear_pc()
        try:
            return base + bc.prefix[bc.insn_addrs.index(lin)]
        except ValueError:
            return fast.h.cycles

    # ------------------------------------------------------------------ the miss
    def on_miss(self, pc: int, size: int) -> bool:
        """First execution of a (pc, size) block: price it, find its function, note specials."""
        core = self._core
        cpu = core.cpu
        code = cpu.fetch(pc, size)
        mode32 = cpu.code32()
        protected = cpu.protected
        key = (pc, code, mode32, protected)
        cached = self._prices.get(key)
        if cached is not None:
            fields, watched, may_set_if = cached
            bc = BlockCost(*fields)
        else:
            bc = self.costs.block(code, pc, mode32, protected=protected)
            watched, may_set_if = core.special.classify(code, pc, mode32)
            self._prices.put(key, (dataclasses.astuple(bc), watched, may_set_if))
        self._blocks[(pc, size)] = bc
        for page in range(pc >> 12, ((pc + size - 1) >> 12) + 1):
            self._code_pages.setdefault(page, set()).add((pc, size))
        if bc.io_addrs or bc.rdtsc_addrs:
            self._io_prefix[(pc, size)] = {a: bc.prefix[bc.insn_addrs.index(a)]
                                           for a in bc.io_addrs + bc.rdtsc_addrs if a in bc.insn_addrs}
        func = self.func_index(pc)
        rdtsc = [(a - pc, bc.prefix[bc.insn_addrs.index(a)]) for a in bc.rdtsc_addrs if a in bc.insn_addrs]
        io = [(a - pc, bc.prefix[bc.insn_addrs.index(a)]) for a in bc.io_addrs if a in bc.insn_addrs]
        first = bc.prefix[1] if bc.n_insns > 1 else bc.total
        needs_hooks = core.special.watch(watched)
        core.fast.insert(pc, size, bc.total, first, bc.n_insns, bc.taken_extra, bc.branch_target,
                         bc.fallthrough, func, bc.ends_with, rdtsc, may_set_if, io)
        if bc.ends_with == "int":
            native = core.__dict__.get("native")
            if native is not None:
                native.block_priced(pc, size, bc.ends_with)
        if needs_hooks:
            # this block holds instructions we watch (CR writes, LGDT...): retranslate it with the
            # hooks compiled in, before it runs
            self.pending_retranslate.append((pc, pc + size))
            return False
        return True

    def func_index(self, pc: int) -> int:
        core = self._core
        jit = getattr(core, "jit_debug", None)      # code the guest generated (emu/jitdebug.py)
        if jit is not None and jit.functions:
            idx = jit.index_of(pc)
            if idx >= 0:
                return idx
        if core.symbols is not None:
            idx = core.symbols.index_of(pc)
            if idx >= 0:
                return idx
        lo, hi = core.bios.stub_range
        if lo <= pc < hi:
            name = "[bios]"
        elif 0x7C00 <= pc < 0x7E00:
            name = "[boot sector]"
        else:
            name = f"[code {pc & ~0xFFF:#010x}]"
        idx = self._pseudo.get(name)
        if idx is None:
            idx = len(self.func_names)
            self.func_names.append(name)
            self._pseudo[name] = idx
            core.fast.ensure_funcs(idx + 1)
        return idx

    # ------------------------------------------------------------------ invalidation
    def host_wrote(self, addr: int, n: int) -> None:
        """Python wrote guest memory (disk read, BIOS, a pushed interrupt frame): drop the
        translated code and prices of the blocks those bytes overlap.

        Only blocks we have run can have translations (every executed block is priced first),
        and only the written bytes matter: a real-mode stack just below the boot sector shares
        its page with code, and invalidating the whole page on every push re-priced a loop at
        every interrupt (an exception loop ran 1.7x slower, a BIOS-call loop 1.9x)."""
        if n <= 0:
            return
        core = self._core
        lo, hi = addr, addr + n
        if not core.accounting:
            core.uc.ctl_remove_cache(lo & ~0xFFF, (hi + 0xFFF) & ~0xFFF)
            return
        pages = self._code_pages
        hit: list[tuple[int, int]] = []
        for page in range(lo >> 12, ((hi - 1) >> 12) + 1):
            keys = pages.get(page)
            if keys:
                hit += [k for k in keys if k[0] < hi and k[0] + k[1] > lo]
        if not hit:
            return
        core.fast.invalidate(lo, hi)
        for key in hit:
            self._blocks.pop(key, None)
            self._io_prefix.pop(key, None)
            pc, size = key
            for page in range(pc >> 12, ((pc + size - 1) >> 12) + 1):
                pages.get(page, set()).discard(key)
        core.uc.ctl_remove_cache(lo, hi)

    def forget(self) -> None:
        """All translations were flushed (power-on, restore): prices are learnt again."""
        self._blocks.clear()
        self._code_pages.clear()
        self._io_prefix.clear()

    def describe(self) -> dict[str, Any]:
        return {"blocks": len(self._blocks), "code_pages": len(self._code_pages)}
