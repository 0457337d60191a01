"""Forward execution for the TUI's emulator thread, through time travel, at headless speed.

The TUI can step back and run back to a breakpoint (`bareflow.emu.timetravel.TimeTravel`), which
only works if every forward instruction ran through the time-travel object: it journals input
and keeps checkpoints to restore from.  `History` offers the runner the Machine's own forward
API (`run_until_stop`, `step`, `step_over`, `run_to`) plus the backward commands, and decides
when to take a checkpoint.

Why not `TimeTravel.run()` as is: it cuts a run into cycle-limit slices of 2M cycles and takes a
checkpoint at each (~60 ms: `Machine.snapshot` copies all RAM, then the page diff) and at every
stop.  The guest runs at ~85M cycles per second here, so that is ~40 checkpoints a second (more
time than the guest gets), and the TUI stops the run 4 times a second for its live CPU view
(another 4 checkpoints).  A cycle-limit stop is also a "run ended" milestone for the journey.
So here checkpoints are taken at *pauses* (which the machine makes at block boundaries, which do
not change the guest's path, and which the journey ignores), and only when the time spent in
checkpoints stays under `SHARE` of the run's wall time (at most one every `1/SHARE` times the
last checkpoint's cost, and never less than `interval` cycles apart).  A thread of ours asks for
that pause when it is due.  Where the checkpoints fall depends on the wall clock; what the guest
does does not (a pause is invisible to it; docs/tui.md measures it).  Going back from a stop
rebuilds the state from the nearest checkpoint before it, exactly (emu/timetravel.py).

All methods except the constructor's thread run on the emulator thread, like every other
machine call (emu/session/runner.py).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

#: at most this share of the emulator's time goes to periodic checkpoints
SHARE = 0.05
#: checkpoint no more often than this (seconds), whatever they cost
MIN_PERIOD_S = 1.0
#: guests bigger than this get no time travel (it keeps two full copies of RAM)
MAX_MEMORY_MB = 512
#: a periodic checkpoint needs the guest to have retired this many instructions per second
#: (on average) since the last one: an idle guest's timer interrupts (~10,000/s for fluid_llama
#: at its prompt) never reach it, a computing guest (millions/s) always does.  Testing the
#: machine's state alone ("idle" in HLT) let a sample taken inside a timer tick through, and a
#: checkpoint every few seconds was most of an idle TUI's cost (issue 11)
ACTIVE_IPS = 500_000
#: the pause thread looks every TICK_S while a checkpoint may be due; while none can be (no run,
#: the guest only idles, or the next is not due for a while) it sleeps up to IDLE_TICK_S, so an
#: idle TUI's emulator process is not woken 10 times a second for nothing (issue 11)
TICK_S = 0.1
IDLE_TICK_S = 1.0


class History:
    """The runner's forward API over TimeTravel, with budgeted checkpoints."""

    def __init__(self, machine: Any, *, interval: int | None = None, share: float = SHARE,
                 min_period_s: float = MIN_PERIOD_S) -> None:
        from bareflow.emu.timetravel import DEFAULT_INTERVAL
        self.m = machine
        self.interval = DEFAULT_INTERVAL if interval is None else interval
        self.share = share
        self.min_period_s = min_period_s
        #: returns the runner's count of pauses it asked for: a PAUSED that is not ours goes back
        self.outside_pauses: Callable[[], int] = lambda: 0
        #: called with True before going back and False after: the re-runs that rebuild the
        #: past must not be paused by anything (the journey's pause at each milestone)
        self.on_travel: list[Callable[[bool], None]] = []
        self.tt = self._new_timetravel()
        self._plain = False              # the last run was paused: go on with run(), not run_until_stop()
        self._cost_s = 0.06              # the last checkpoint's cost (first guess: docs/debugging.md)
        self._last_cp_wall = time.monotonic()
        self._cp_insns = machine.instructions
        self._running = False
        self._ours = 0                   # pauses our thread asked for during this run
        self._quit = threading.Event()
        #: set when a run starts (and on close): the pause thread looks at once, whatever it slept
        self._kick = threading.Event()
        self.periodic = 0                # periodic checkpoints taken (figures for the docs)
        self.periodic_s = 0.0
        self._ticker = threading.Thread(target=self._tick, name="bareflow-history", daemon=True)
        self._ticker.start()

    def _new_timetravel(self) -> Any:
        from bareflow.emu.timetravel import TimeTravel
        return TimeTravel(self.m, interval=self.interval)

    # ------------------------------------------------------------------ the pause thread
    def _due(self) -> bool:
        return time.monotonic() - self._last_cp_wall >= max(self.min_period_s, self._cost_s / self.share)

    def _computing(self) -> bool:
        """Has the guest computed since the last checkpoint (see ACTIVE_IPS)?"""
        done = self.m.instructions - self._cp_insns
        if done < 0:                 # a reset or a step back: count from here
            self._cp_insns = self.m.instructions
            return False
        return done >= ACTIVE_IPS * (time.monotonic() - self._last_cp_wall)

    def _tick(self) -> None:
        """Other thread: ask the machine for a pause when a checkpoint is due during a run."""
        wait = TICK_S
        while True:
            self._kick.wait(wait)
            self._kick.clear()
            if self._quit.is_set():
                return
            wait = self._look()

    def _look(self) -> float:
        """One look of the pause thread; returns the seconds until the next one."""
        if not self._running:
            return IDLE_TICK_S
        left = self._last_cp_wall + max(self.min_period_s, self._cost_s / self.share) - time.monotonic()
        if left > 0:                        # not due (the same rule as _due)
            return min(max(left, TICK_S), IDLE_TICK_S)
        idle = getattr(self.m, "state", "") == "idle"
        if not self._computing():
            return IDLE_TICK_S if idle else TICK_S      # asleep in HLT / starting to compute?
        # an idle guest (HLT, waiting for input or its timer) changes little: no checkpoint
        if not idle and self.m.cycles - self.tt.points[-1].cycles >= self.interval:
            self._ours += 1
            self.m.request_pause()
        return TICK_S

    def close(self) -> None:
        self._quit.set()
        self._kick.set()

    def _checkpoint(self, kind: str) -> None:
        t0 = time.perf_counter()
        self.tt.checkpoint(kind)
        self._cost_s = time.perf_counter() - t0
        self._last_cp_wall = time.monotonic()
        self._cp_insns = self.m.instructions
        if kind == "slice":
            self.periodic += 1
            self.periodic_s += self._cost_s

    # ------------------------------------------------------------------ forward
    def run_until_stop(self, max_cycles: int | None = None, wait_for_input: bool = False) -> Any:
        """Machine.run_until_stop, taking periodic checkpoints at our own pauses.

        After a pause (ours or the runner's) the run goes on with `Machine.run`, which does not
        skip a breakpoint on the next instruction: that instruction has not executed yet, and
        this is how a re-run from a checkpoint passes the same boundary (emu/timetravel.py)."""
        from bareflow.emu.machine import StopReason
        m = self.m
        go = m.run if self._plain else m.run_until_stop
        outside = self.outside_pauses()
        self._ours = 0
        self._running = True
        self._kick.set()
        try:
            while True:
                r = go(max_cycles, wait_for_input=wait_for_input)
                go = m.run
                if r == StopReason.PAUSED and self._ours and self.outside_pauses() == outside:
                    self._ours = 0
                    if self._due():
                        self._checkpoint("slice")
                    continue
                break
        finally:
            self._running = False
        self._plain = r == StopReason.PAUSED
        if not self._plain:
            self._checkpoint("stop")    # a breakpoint or an end: the place one goes back from
        return r

    def step(self) -> Any:
        """Machine.step with its checkpoint (stepping back over a step is then exact)."""
        self._plain = False
        return self.tt.step()

    def run_to(self, where: int | str, max_cycles: int | None = None) -> Any:
        """Machine.run_to: the one-shot breakpoint stays armed until the checkpoint of the
        stop is taken, so going back re-runs with it (a recursion stops there again)."""
        m = self.m
        addr = m.resolve(where)
        temp = addr not in m.breakpoints
        if temp:
            m.add_breakpoint(addr)
        try:
            self._plain = False
            return self.run_until_stop(max_cycles)
        finally:
            if temp:
                m.remove_breakpoint(addr)

    def step_over(self) -> Any:
        """Machine.step_over: a CALL or INT runs to the next instruction, anything else steps."""
        pc = self.m.cpu.linear_pc()
        insn = self.m.disasm(pc, 1)
        if insn and (insn[0][2].startswith("call") or insn[0][2].startswith("int ")):
            return self.run_to(pc + len(insn[0][1]))
        return self.step()

    # ------------------------------------------------------------------ backward
    def _travel(self, go: Callable[[], Any]) -> Any:
        self._plain = False
        for cb in self.on_travel:
            cb(True)
        try:
            return go()
        finally:
            for cb in self.on_travel:
                cb(False)

    def step_back(self) -> Any:
        """One instruction back (StopReason.STEP), or None at the oldest checkpoint."""
        return self._travel(self.tt.step_back)

    def run_back(self) -> Any:
        """Back to the last breakpoint hit before now (StopReason.BREAKPOINT), or None (then at
        the oldest checkpoint)."""
        return self._travel(self.tt.run_back)

    def run_back_to(self, addr: int) -> Any:
        """run_back with one more breakpoint at `addr` for the search."""
        return self._travel(lambda: self.tt.run_back_to(addr))

    def describe(self) -> str:
        """'N checkpoints from cycle C, M MiB' for the status line."""
        pts = self.tt.points
        return (f"history: {len(pts)} checkpoint{'s' if len(pts) != 1 else ''} from cycle {pts[0].cycles:,}, "
                f"{self.tt.memory_used() >> 20} MiB")

    def restart(self) -> None:
        """After a reset (the machine's clock starts again at 0): a new history.  The old
        TimeTravel stops journaling the machine's input first, so the two do not stack."""
        self.tt.detach()
        self.tt = self._new_timetravel()
        self._plain = False
        self._last_cp_wall = time.monotonic()
