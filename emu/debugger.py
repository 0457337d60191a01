"""Breakpoints, stepping over calls, running to an address, watchpoints.

Breakpoints are Unicorn code hooks bounded to one address (so they cost nothing elsewhere);
the instruction at a breakpoint is not charged (the fast path charged its block at entry, so
the debugger hands back what had not retired).  Watchpoints are memory hooks bounded to the
watched range; they stop right after the access, as an x86 debug register traps.

Interface for the core's run loop: `breakpoints`, `skip_bp` (step over the breakpoint we sit
on), `bp_hit`, `watch_pending` and `finish_watched_insn()`.
"""
from __future__ import annotations

from typing import Any

from unicorn import UC_HOOK_CODE, UcError

from ..devices.base.errors import BadArgument
from .stops import StopReason



class Debugger:
    def __init__(self, core: Any) -> None:
        """`core` is the CPU core (emu/core.py) this part belongs to; typed loosely because the
        core imports this module, and the layers import only downward."""
        self._core = core
        self.breakpoints: set[int] = set()
        self._bp_hooks: dict[int, int] = {}
        self.skip_bp: int | None = None
        self.bp_hit: int | None = None
        self._watch_hooks: dict[tuple[int, int, str], int] = {}
        self.watch_pending: tuple[str, int, int] | None = None
        self._watch_undo: list[tuple[int, bytes]] = []
        self._watch_mute = False
        self.watch_hit: tuple[str, int, int] | None = None   # (kind, address, pc) of the last hit

    # ------------------------------------------------------------------ breakpoints
    def resolve(self, where: int | str) -> int:
        if isinstance(where, int):
            return where
        text = where.strip()
        try:
            return int(text, 0)
        except ValueError:
            pass
        symbols = self._core.symbols
        if symbols is None:
            raise BadArgument(f"unknown symbol '{text}': no ELF symbols loaded (use --symbols)")
        from .symbols import SymbolError
        try:
            return symbols.address_of(text)
        except SymbolError as exc:
            raise BadArgument(str(exc)) from None

    def add_breakpoint(self, where: int | str) -> int:
        addr = self.resolve(where)
        uc = self._core.uc
        if addr not in self._bp_hooks:
            self._bp_hooks[addr] = uc.hook_add(UC_HOOK_CODE, self._on_breakpoint, None, addr, addr)
            uc.ctl_remove_cache(addr & ~0xFFF, (addr & ~0xFFF) + 0x1000)
        self.breakpoints.add(addr)
        return addr

    def remove_breakpoint(self, where: int | str) -> None:
        addr = self.resolve(where)
        h = self._bp_hooks.pop(addr, None)
        if h is not None:
            uc = self._core.uc
            uc.hook_del(h)
            uc.ctl_remove_cache(addr & ~0xFFF, (addr & ~0xFFF) + 0x1000)
        self.breakpoints.discard(addr)

    def _on_breakpoint(self, uc, address: int, size: int, _ud) -> None:
        if self.skip_bp == address:
            self.skip_bp = None
            return
        core = self._core
        core.pricer.uncharge_to(address)
        self.bp_hit = address
        core.finish(StopReason.BREAKPOINT,
                    f"breakpoint at {core.symbols.format(address) if core.symbols else hex(address)}")
        uc.emu_stop()

    # ------------------------------------------------------------------ running
    def run_until_stop(self, max_cycles: int | None = None, wait_for_input: bool = False) -> StopReason:
        """run(), stepping over a breakpoint we are sitting on."""
        core = self._core
        pc = core.cpu.linear_pc()
        if pc in self.breakpoints:
            self.skip_bp = pc
        self.bp_hit = None
        r = core.run(max_cycles, wait_for_input=wait_for_input)
        if r == StopReason.BREAKPOINT:
            core.clear_stop()
        self.bp_hit = None
        return r

    def step_over(self, disasm: Any) -> StopReason:
        """Step, but run a CALL (or INT) to its return address."""
        core = self._core
        pc = core.cpu.linear_pc()
        insn = disasm(pc, 1)
        if insn and (insn[0][2].startswith("call") or insn[0][2].startswith("int ")):
            return self.run_to(pc + len(insn[0][1]))
        return core.step()

    def run_to(self, where: int | str, max_cycles: int | None = None) -> StopReason:
        addr = self.resolve(where)
        temp = addr not in self.breakpoints
        if temp:
            self.add_breakpoint(addr)
        try:
            return self.run_until_stop(max_cycles)
        finally:
            if temp:
                self.remove_breakpoint(addr)

    # ------------------------------------------------------------------ watchpoints
    def add_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        """Stop with StopReason.BREAKPOINT and `watch_hit` set right after an instruction that
        writes ("write"), reads ("read") or touches ("access") [addr, addr+length), as an x86
        debug register traps after the access.  A Unicorn memory hook bounded to the range."""
        from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
        types = {"write": UC_HOOK_MEM_WRITE, "read": UC_HOOK_MEM_READ,
                 "access": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}.get(kind)
        if types is None:
            raise BadArgument(f"watchpoint kind '{kind}': must be write, read or access")
        if length <= 0:
            raise BadArgument(f"watchpoint length {length}: must be positive")
        key = (addr & 0xFFFFFFFF, length, kind)
        if key not in self._watch_hooks:
            uc = self._core.uc
            self._watch_hooks[key] = uc.hook_add(types, self._on_watch, kind, key[0], key[0] + length - 1)
            uc.ctl_flush_tb()

    def remove_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        h = self._watch_hooks.pop((addr & 0xFFFFFFFF, length, kind), None)
        if h is not None:
            uc = self._core.uc
            uc.hook_del(h)
            uc.ctl_flush_tb()

    @property
    def watchpoints(self) -> list[tuple[int, int, str]]:
        return sorted(self._watch_hooks)

    def _on_watch(self, uc, access: int, address: int, size: int, value: int, kind: str) -> None:
        """Unicorn stops inside the instruction (registers at its start, a store already done),
        so remember what the stores overwrite; finish_watched_insn undoes them and runs the
        instruction once more, whole, with the hooks muted."""
        if self._watch_mute:
            return
        from unicorn import UC_MEM_WRITE
        if access == UC_MEM_WRITE:
            self._watch_undo.append((address, bytes(uc.mem_read(address, size))))
        if self.watch_pending is not None:
            return
        core = self._core
        pc = core.cpu.linear_pc()
        self.watch_pending = (kind, address, pc)
        core.pricer.uncharge_to(pc)
        what = "written" if access == UC_MEM_WRITE else "read"
        core.finish(StopReason.BREAKPOINT, f"watchpoint: {address:#x} {what} by the instruction at {pc:#x}")
        uc.emu_stop()

    def finish_watched_insn(self) -> None:
        core = self._core
        for addr, old in reversed(self._watch_undo):
            core.uc.mem_write(addr, old)
        self._watch_undo.clear()
        hit, self.watch_pending = self.watch_pending, None
        self._watch_mute = True
        self.skip_bp = core.cpu.linear_pc()
        core.fast.write(step_mode=1)
        core.fast.set_deadline(None)       # finish() asked for a stop: not before this instruction
        try:
            core.run_one_instruction()
        except UcError as exc:
            core.guest_error(core.uc_error_message(exc))
        finally:
            core.fast.write(step_mode=0)
            core.fast.set_deadline(0)
            self._watch_mute = False
            self.skip_bp = None
        self.watch_hit = hit
