"""Time travel: incremental snapshots, step back, run back to a breakpoint.

The clock is deterministic (docs/architecture.md), so any earlier moment can be rebuilt by
restoring a snapshot taken before it and running forward again.  `TimeTravel` wraps a Machine:
forward execution goes through it (`run`, `step`) so that it can take a checkpoint every
`interval` cycles and at every stop; `step_back` and `run_back` go backwards.

Snapshots are incremental: `Machine.snapshot()` gives registers, devices and counters; guest
RAM is kept as one keyframe plus, per checkpoint, only the 4 KiB pages that changed since the
previous checkpoint (found with numpy, comparing 64-bit words against a shadow copy, ~20 ms for
64 MiB).  The ring is bounded by a memory budget: past it, the oldest delta is folded into the
keyframe.

Input that arrived during the recorded history (stdin, keys) is journaled at the devices with
its cycle stamp, exactly as `--record` does (emu/replay.py), and fed again when the machine
re-executes that stretch, so going back and forth never loses a key press.

Exactness: a checkpoint reached by a single step is restored as is (registers, RAM, devices,
cycles).  The instruction before a stop inside a run is rebuilt by running from the previous
checkpoint to a block boundary shortly before it (binary search on the cycle limit: a halted
CPU can sit still for many cycles) and single-stepping until the register file is the
present's; the state one step earlier is the answer.  Registers and
memory are those of the run; the cycle count follows the single-step pricing, which can differ
from the in-block pricing by a few cycles (docs/debugging.md).  If stepping cannot reach N-1
exactly, `TimeTravelError` says so; it is never silently wrong.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..devices.base.errors import BareflowError

PAGE = 4096
DEFAULT_INTERVAL = 2_000_000          # cycles between periodic checkpoints (20 ms of guest time)
DEFAULT_BUDGET = 256 * 1024 * 1024    # bytes of page deltas kept


class TimeTravelError(BareflowError):
    """A moment of the history could not be rebuilt exactly."""


@dataclass
class Point:
    """One checkpoint: machine state without RAM, plus the RAM pages changed since the previous one."""

    cycles: int
    instructions: int
    meta: Any                         # a Machine Snapshot whose .ram is empty
    pages: dict[int, bytes]           # page index -> 4 KiB, changed since the previous point
    kind: str                         # "start", "step" (one step after the previous point), "slice", "stop"
    journal_len: int                  # inputs journaled before this point
    breakpoints: frozenset[int] = frozenset()   # armed during the command that ended here
    regs: dict[str, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.pages) * PAGE


@dataclass
class Stats:
    checkpoints: int = 0
    restores: int = 0
    pages_saved: int = 0
    last_diff_ms: float = 0.0
    folded: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class TimeTravel:
    """Forward and backward execution over one Machine (run it on the machine's thread).

    For the TUI: `run()`, `step()`, `step_back()`, `run_back()`, `history()`; see
    docs/debugging.md."""

    def __init__(self, machine: Any, interval: int = DEFAULT_INTERVAL, budget: int = DEFAULT_BUDGET) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.m = machine
        self.interval = interval
        self.budget = budget
        self.points: list[Point] = []
        self.stats = Stats()
        self._journal: list[Any] = []    # emu/hooks.InputRecord, every input since points[0]
        self._player_cb: Callable[[int], None] | None = None
        self._unsubscribe = machine.hooks.subscribe(machine.hooks.inputs, self._journal.append)
        ram = self._ram()
        self._key = ram.copy()                # RAM at points[0]
        self._shadow = ram.copy()             # RAM at points[-1]
        self._add_point("start", pages={})

    # ------------------------------------------------------------------ RAM and checkpoints
    def _ram(self) -> np.ndarray:
        return np.frombuffer(self.m.ram_view(), dtype=np.uint8)

    def _changed_pages(self) -> dict[int, bytes]:
        import time
        t0 = time.perf_counter()
        cur = self._ram()
        words = PAGE // 8
        diff = (cur.view(np.uint64).reshape(-1, words) != self._shadow.view(np.uint64).reshape(-1, words)).any(axis=1)
        idx = np.flatnonzero(diff)
        pages = {}
        for i in idx.tolist():
            lo = i * PAGE
            pages[i] = cur[lo:lo + PAGE].tobytes()
            self._shadow[lo:lo + PAGE] = cur[lo:lo + PAGE]
        self.stats.last_diff_ms = (time.perf_counter() - t0) * 1000
        return pages

    def _add_point(self, kind: str, pages: dict[int, bytes] | None = None) -> Point:
        m = self.m
        if pages is None:
            pages = self._changed_pages()
        snap = m.snapshot()
        meta = dataclasses.replace(snap, ram=b"")
        p = Point(m.cycles, m.instructions, meta, pages, kind, len(self._journal), frozenset(m.breakpoints),
                  m.regs())
        self.points.append(p)
        self.stats.checkpoints += 1
        self.stats.pages_saved += len(pages)
        self._enforce_budget()
        return p

    def checkpoint(self, kind: str = "stop") -> Point:
        """Record the present (no-op if the last checkpoint is the present already)."""
        last = self.points[-1]
        if (last.cycles, last.instructions) == (self.m.cycles, self.m.instructions) and kind != "step":
            return last
        return self._add_point(kind)

    def _enforce_budget(self) -> None:
        while len(self.points) > 2 and sum(p.nbytes for p in self.points) > self.budget:
            nxt = self.points[1]
            for i, data in nxt.pages.items():
                self._key[i * PAGE:(i + 1) * PAGE] = np.frombuffer(data, dtype=np.uint8)
            nxt.pages = {}
            nxt.kind = "start"
            self.points.pop(0)
            self.stats.folded += 1

    def memory_used(self) -> int:
        """Bytes held: the keyframe and shadow copies plus the page deltas."""
        return self._key.nbytes + self._shadow.nbytes + sum(p.nbytes for p in self.points)

    def history(self) -> list[tuple[int, int, str]]:
        """(cycles, instructions, kind) of every checkpoint, oldest first (for a timeline)."""
        return [(p.cycles, p.instructions, p.kind) for p in self.points]

    def _ram_at(self, index: int) -> np.ndarray:
        arr = self._key.copy()
        for p in self.points[1:index + 1]:
            for i, data in p.pages.items():
                arr[i * PAGE:(i + 1) * PAGE] = np.frombuffer(data, dtype=np.uint8)
        return arr

    def _restore(self, index: int, truncate: bool) -> Point:
        p = self.points[index]
        arr = self._ram_at(index)
        self.m.restore(dataclasses.replace(p.meta, ram=memoryview(arr)))
        self.m.clear_watch_hit()
        self._shadow = arr
        self.stats.restores += 1
        if truncate:
            del self.points[index + 1:]
        self._replay_inputs_from(p.journal_len)
        return p

    # ------------------------------------------------------------------ input journal
    def detach(self) -> None:
        """Stop journaling the machine's inputs (a new history replaces this one)."""
        self._unsubscribe()

    def _feed_again(self, e: Any) -> None:
        self.m.door.put(e.kind, e.data, replay=True)

    def _replay_inputs_from(self, start: int) -> None:
        """After a restore: feed the journaled inputs that came after that point again, at the
        same cycles (boundary inputs as clock events, mid-I/O ones on the same COM1 byte)."""
        m = self.m
        if self._player_cb is not None and self._player_cb in m.on_serial:
            m.on_serial.remove(self._player_cb)
            self._player_cb = None
        pending = self._journal[start:]
        if not pending:
            return
        for e in pending:
            if e.where == "boundary":
                m.clock.schedule(e.cycle, lambda _now, e=e: self._feed_again(e), "time travel input")
        io = [e for e in pending if e.where == "io"]
        if io:
            pos = [0]

            def on_serial(_b: int) -> None:
                n = len(m.serial_out)
                while pos[0] < len(io) and io[pos[0]].serial_len == n:
                    e = io[pos[0]]
                    pos[0] += 1
                    self._feed_again(e)

            self._player_cb = on_serial
            m.on_serial.append(on_serial)

    # ------------------------------------------------------------------ forward
    def run(self, max_cycles: int | None = None, *, wait_for_input: bool = False) -> Any:
        """Like Machine.run_until_stop, with a checkpoint every `interval` cycles and at the stop."""
        from .machine import StopReason
        m = self.m
        first = True
        while True:
            limit = m.cycles + self.interval
            if max_cycles is not None:
                limit = min(limit, max_cycles)
            if first:
                r = m.run_until_stop(limit, wait_for_input=wait_for_input)
            else:
                r = m.run(limit, wait_for_input=wait_for_input)
            first = False
            if r == StopReason.CYCLE_LIMIT and (max_cycles is None or m.cycles < max_cycles):
                self._add_point("slice")
                continue
            self._add_point("stop")
            return r

    def step(self) -> Any:
        r = self.m.step()
        self._add_point("step")
        return r

    # ------------------------------------------------------------------ backward
    def _sync(self) -> None:
        last = self.points[-1]
        if (last.cycles, last.instructions) != (self.m.cycles, self.m.instructions):
            self._add_point("stop")

    def _forward_from(self, index: int, limit: int, bps: frozenset[int]) -> Any:
        """From restored point `index`, run to the first block boundary at or after `limit`
        with `bps` armed, the way the original command ran (a slice resumes with run())."""
        m = self.m
        saved = set(m.breakpoints)
        for a in bps - saved:
            m.add_breakpoint(a)
        for a in saved - bps:
            m.remove_breakpoint(a)
        try:
            p = self.points[index]
            if limit <= p.cycles:
                return None
            if p.kind == "slice":
                return m.run(limit)
            return m.run_until_stop(limit)
        finally:
            for a in set(m.breakpoints) - saved:
                m.remove_breakpoint(a)
            for a in saved - set(m.breakpoints):
                m.add_breakpoint(a)

    def _mute_watchpoints(self) -> list[tuple[int, int, str]]:
        """Watchpoints would stop the re-runs halfway: lift them while going back."""
        watches = list(getattr(self.m, "watchpoints", []))
        for addr, length, kind in watches:
            self.m.remove_watchpoint(addr, length, kind)
        return watches

    def _unmute_watchpoints(self, watches: list[tuple[int, int, str]]) -> None:
        for addr, length, kind in watches:
            self.m.add_watchpoint(addr, length, kind)

    def step_back(self) -> Any:
        """Go back exactly one instruction; None when already at the oldest checkpoint."""
        watches = self._mute_watchpoints()
        try:
            return self._step_back()
        finally:
            self._unmute_watchpoints(watches)

    def run_back(self) -> Any:
        """Run backwards to the most recent breakpoint hit before the present (breakpoints are
        the machine's, as armed now).  None (and the oldest checkpoint restored) if none."""
        watches = self._mute_watchpoints()
        try:
            return self._run_back()
        finally:
            self._unmute_watchpoints(watches)

    def run_back_to(self, where: int | str | None = None) -> Any:
        """run_back with one more breakpoint (an address or a symbol) armed for the search:
        "when was kmain last entered?" without touching the user's breakpoints."""
        if where is None:
            return self.run_back()
        addr = self.m.resolve(where)
        temp = addr not in self.m.breakpoints
        if temp:
            self.m.add_breakpoint(addr)
        try:
            return self.run_back()
        finally:
            if temp:
                self.m.remove_breakpoint(addr)

    def _step_back(self) -> Any:
        from .machine import StopReason
        self._sync()
        if len(self.points) < 2:
            return None
        cur = self.points[-1]
        base = len(self.points) - 2
        if cur.kind == "step":
            self._restore(base, truncate=True)
            return StopReason.STEP
        target_c, target_i = cur.cycles, cur.instructions
        m = self.m
        b0 = self.points[base].cycles

        def probe(limit: int) -> tuple[int, int]:
            self._restore(base, truncate=False)
            self._forward_from(base, limit, cur.breakpoints)
            return m.cycles, m.instructions

        # binary search for a block boundary shortly before the last instruction (a halted CPU
        # can sit still for many cycles, so the distance in cycles is unknown)
        lo, hi = b0, target_c
        while hi - lo > 256:
            mid = (lo + hi) // 2
            _c, i = probe(mid)
            if i < target_i:
                lo = mid
                if target_i - i <= 64:
                    break
            else:
                hi = mid
        limit = lo
        probe(limit)
        trail = [(m.cycles, m.instructions)]
        # step until the registers are the present's: the instruction counts of a stepped REP
        # and a run REP differ, the register file identifies the instruction boundary
        while len(trail) < 20000 and not (len(trail) > 1 and m.regs() == cur.regs):
            m.step()
            trail.append((m.cycles, m.instructions))
        if m.regs() != cur.regs or len(trail) < 2:
            raise TimeTravelError(f"step back: stepping from cycle {trail[0][0]} does not come back to the "
                                  f"present (instruction {target_i}, eip {cur.regs.get('eip', 0):#x})")
        k = len(trail) - 2
        self._restore(base, truncate=True)
        self._forward_from(base, limit, cur.breakpoints)
        for _ in range(k):
            self.m.step()
        if (self.m.cycles, self.m.instructions) != trail[-2]:
            raise TimeTravelError("step back: the second pass did not reproduce the first")
        self._add_point("stop")
        return StopReason.STEP

    def _run_back(self) -> Any:
        from .machine import StopReason
        self._sync()
        m = self.m
        now = (m.cycles, m.instructions)
        bps = frozenset(m.breakpoints)
        for j in range(len(self.points) - 2, -1, -1):
            end = self.points[j + 1].cycles + 1     # inclusive: a hit may be that checkpoint itself
            self._restore(j, truncate=False)
            hits = 0
            r = self._forward_from(j, end, bps)
            while r == StopReason.BREAKPOINT and (m.cycles, m.instructions) < now:
                hits += 1
                if m.cycles >= end:
                    break
                r = m.run_until_stop(end)
            if hits:
                self._restore(j, truncate=True)
                r = self._forward_from(j, end, bps)
                for _ in range(hits - 1):
                    r = m.run_until_stop(end)
                self._add_point("stop")
                return StopReason.BREAKPOINT
        self._restore(0, truncate=True)
        return None
