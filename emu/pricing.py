"""Block pricing: what each translated block costs, and the exact time inside one.

The native fast path (emu/fastpath.c) charges a block's cycles when it starts; when it has no
price for a (pc, size) it looks the block up in the price cache itself (emu/fastpath_prices.c)
and calls back into Python only for a block the cache does not hold or that needs Python (its
watched instructions' hooks, PAE paging).  `Pricer.on_miss` then reads the
block's bytes (by LINEAR address, through the guest's page tables when paging is on), prices
it with the cost model (emu/costs.py, cached across runs by emu/pricecache.py), finds its
function for the profiler, and notes instructions the core must watch (emu/special.py).
`exact_now()` turns the block-start clock into the cycle at the instruction executing now
(an IN/OUT, an RDTSC, an MMIO access), from the per-instruction prefix sums of the price.
Blocks C priced are learnt lazily (`_sync`: their pages, the pseudo-functions C named) and
their full `BlockCost` is read from the cache only when asked for (`_cost`).
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Any

from . import priceshard
from .costs import BlockCost, CostModel
from .native_prices import KEY_BIOS, KEY_BOOT, OVERLAY_BIT, NativePrices, pseudo_name
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
        self._names = func_names
        self._pseudo: dict[str, int] = {}
        #: the price cache read in C (emu/native_prices.py), once the fast path exists
        self._native: NativePrices | None = None
        self._pending: Any = None
        #: blocks C priced from the cache: (pc, size) -> shard offset or OVERLAY_BIT | number
        self._native_blocks: dict[tuple[int, int], int] = {}
        #: values Python priced in this run, by overlay number (what C logs for an overlay hit)
        self._overlay: list[Any] = []
        #: on_miss calls answered from the cache although nothing needed Python (tests: 0 warm)
        self.cached_in_python = 0
        #: (lo, hi) ranges to retranslate before running on (blocks with watched instructions)
        self.pending_retranslate: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ read side
    @property
    def func_names(self) -> list[str]:
        """The profiler's function names by id (the names C gave pseudo-functions included).

        Only the thread that runs the machine learns new names from C (`_sync` empties a log C
        appends to inside `emu_start`); another thread (the session's publisher reading
        `profile_table()`) sees the names known at the last sync, which `Core.run` makes when
        it returns: a pseudo-function C named during a run may show up in a live view a little
        late, never under a wrong name."""
        self._sync()
        return self._names

    def sync(self) -> None:
        """Learn what C priced and named (the machine's thread, outside `emu_start`)."""
        self._sync()

    def block(self, pc: int, size: int) -> BlockCost | None:
        return self._cost((pc, size))

    def blocks(self) -> dict[tuple[int, int], BlockCost]:
        """A copy of the priced blocks, keyed by (linear pc, size)."""
        self._sync()
        for key in list(self._native_blocks):
            self._cost(key)
        return dict(self._blocks)

    def current(self) -> BlockCost | None:
        """The price of the block running now (inside a hook), if known."""
        cur = self._core.fast.current_block()
        return self._cost((cur[0], cur[1])) if cur else None

    # ------------------------------------------------------------------ the native reader
    def attach_native(self) -> None:
        """Let the fast path price cached blocks itself (emu/fastpath_prices.c).  Only with the
        cache on and the clock running (an accounting-free core never misses)."""
        core = self._core
        if not self._prices.enabled or not core.accounting or self._native is not None:
            return
        native = NativePrices(core.fast)
        native.attach(self._prices)
        sym = core.symbols
        funcs = sym.functions if sym is not None else []
        native.set_functions([f.start for f in funcs], [f.end for f in funcs], core.bios.stub_range)
        native.note_pseudo(0, -1, len(self._names))
        native.enable(True)
        self._native = native
        self._pending = native._pending
        self._prices.before_save(self._sync)

    def jit_functions_changed(self, jit: Any) -> None:
        """GDB-JIT functions name code before the symbols do (func_index): C gets the same list,
        and the number of names (the JIT's names were appended by emu/jitdebug.py)."""
        if self._native is not None:
            self._native.set_jit([(f.start, f.end, jit.ids.get(f.name, -1)) for f in jit.functions])
            self._native.note_pseudo(0, -1, len(self._names))

    def _sync(self) -> None:
        """Learn what C priced and named since the last look (cheap when nothing is new)."""
        pending = self._pending
        if pending is None or not pending.value:
            return
        door = getattr(self._core, "door", None)
        owner = door.owner if door is not None else None
        if owner is not None and owner != threading.get_ident():
            return    # C may be appending inside emu_start on the machine's thread
        blocks, names = self._native.drain()   # type: ignore[union-attr]
        for key in names:
            name = pseudo_name(key)
            self._pseudo[name] = len(self._names)
            self._names.append(name)
        used = []
        pages = self._code_pages
        for pc, size, src in blocks:
            key = (pc, size)
            self._native_blocks[key] = src
            self._blocks.pop(key, None)        # a new price for these (pc, size): new bytes
            self._io_prefix.pop(key, None)
            for page in range(pc >> 12, ((pc + size - 1) >> 12) + 1):
                pages.setdefault(page, set()).add(key)
            if not src & OVERLAY_BIT:
                used.append(src)
        self._prices.used(used)

    def _cost(self, key: tuple[int, int]) -> BlockCost | None:
        """The full price of a priced block, read from the cache if C priced it."""
        if self._pending is not None and self._pending.value:
            self._sync()
        bc = self._blocks.get(key)
        if bc is not None:
            return bc
        src = self._native_blocks.pop(key, None)
        if src is None:
            return None
        value = self._overlay[src & ~OVERLAY_BIT] if src & OVERLAY_BIT else self._prices.value_at(src)
        bc = BlockCost(*value[0])
        self._remember(key, bc)
        return bc

    def _remember(self, key: tuple[int, int], bc: BlockCost) -> None:
        self._blocks[key] = bc
        if bc.io_addrs or bc.rdtsc_addrs:
            self._io_prefix[key] = {a: bc.prefix[bc.insn_addrs.index(a)]
                                    for a in bc.io_addrs + bc.rdtsc_addrs if a in bc.insn_addrs}

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
        if self._pending is not None and self._pending.value:
            self._sync()
        if (pc, size) in self._native_blocks:
            self._cost((pc, size))
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
            if not watched and self._native is not None:
                self.cached_in_python += 1
        else:
            bc = self.costs.block(code, pc, mode32, protected=protected)
            watched, may_set_if = core.special.classify(code, pc, mode32)
            value = (dataclasses.astuple(bc), watched, may_set_if)
            if self._native is not None:
                record = priceshard.encode(key, value)
                self._prices.put(key, value, record)
                if self._native.add(record):
                    self._overlay.append(value)   # a re-translation of it is priced in C
            else:
                self._prices.put(key, value)
        self._native_blocks.pop((pc, size), None)
        self._remember((pc, size), bc)
        for page in range(pc >> 12, ((pc + size - 1) >> 12) + 1):
            self._code_pages.setdefault(page, set()).add((pc, size))
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
        key = KEY_BIOS if lo <= pc < hi else KEY_BOOT if 0x7C00 <= pc < 0x7E00 else pc & ~0xFFF
        name = pseudo_name(key)   # "[bios]", "[boot sector]", "[code 0x...]"
        self._sync()              # names C gave first come first
        idx = self._pseudo.get(name)
        if idx is None:
            idx = len(self._names)
            self._names.append(name)
            self._pseudo[name] = idx
            core.fast.ensure_funcs(idx + 1)
            if self._native is not None:
                self._native.note_pseudo(key, idx, len(self._names))
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
        if self._pending is not None and self._pending.value:
            self._sync()
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
            self._native_blocks.pop(key, None)
            self._io_prefix.pop(key, None)
            pc, size = key
            for page in range(pc >> 12, ((pc + size - 1) >> 12) + 1):
                pages.get(page, set()).discard(key)
        core.uc.ctl_remove_cache(lo, hi)

    def forget(self) -> None:
        """All translations were flushed (power-on, restore): prices are learnt again."""
        self._sync()
        self._native_blocks.clear()
        self._blocks.clear()
        self._code_pages.clear()
        self._io_prefix.clear()

    def describe(self) -> dict[str, Any]:
        self._sync()
        out = {"blocks": len(self._blocks) + len(self._native_blocks), "code_pages": len(self._code_pages)}
        if self._native is not None:
            out["native_prices"] = self._native.counts()
        return out
