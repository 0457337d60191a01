"""The emulator thread: the only thread that drives the machine.

Unicorn and the machine's Python state are not thread-safe, so the UI never calls `run`,
`step`, `regs`, `reset`... itself.  It asks this runner, which executes requests on its own
thread between run slices:

* while running, the thread calls `machine.run(max_cycles=...)` in slices of roughly 50 ms
  of host time (the slice is resized from the measured speed), so even a request that races
  with the start of a slice waits at most one slice; `request_pause()` (thread-safe) ends the
  current slice at once when the UI wants the machine;
* between slices, and whenever the machine stops, it captures a `CpuView` for the CPU panel
  (at most 4 times a second while running: the capture is cheap but not free);
* commands (step, step over, run to, breakpoints, reset, memory view address) are closures
  queued by the UI and run on this thread while the guest is stopped.

What the UI may read at any time, because the machine documents them as thread-safe
snapshots: `screen_bytes()`, `cursor()`, `serial_out`, `cycles`, `instructions`,
`profile.table()`; and this runner's plain attributes (`state`, `message`, `cpu_view`,
`cpu_seq`), which are replaced, never mutated, by the emulator thread.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable

from bareflow.emu.errors import BareflowError

from .cpu import CpuView, capture_cpu, where

#: the machine's states after which running again needs a reset
TERMINAL_STATES = ("halted", "powered off", "triple fault", "error")
_SLICE_TARGET_S = 0.05
_CPU_CAPTURE_EVERY_S = 0.25


class KeyScript:
    """`--keys-after PATTERN --keys TEXT` pairs: each text is typed once its pattern has
    appeared on COM1 after the previous text was typed (None = type at once)."""

    def __init__(self, items: list[tuple[str | None, str]]) -> None:
        self._items = list(items)
        self._search_from = 0

    @property
    def done(self) -> bool:
        return not self._items

    def due(self, serial: bytes) -> list[str]:
        """Texts to type now, given all COM1 output so far."""
        out: list[str] = []
        while self._items:
            pattern, text = self._items[0]
            if pattern is not None:
                at = serial.find(pattern.encode("latin-1"), self._search_from)
                if at < 0:
                    break
                self._search_from = at + len(pattern)
            else:
                self._search_from = len(serial)
            out.append(text)
            self._items.pop(0)
        return out


def resolve_target(machine, target: str) -> int:
    """An address typed by the user: hex (0x optional), decimal with a `#` prefix, or an ELF
    symbol (with an optional +offset).  Raises BareflowError with a one-line message."""
    text = target.strip()
    if not text:
        raise BareflowError("empty address")
    base, _, off = text.partition("+")
    try:
        offset = int(off, 0) if off else 0
    except ValueError:
        raise BareflowError(f"bad offset {off!r}") from None
    if base.startswith("#"):
        try:
            return int(base[1:], 10) + offset
        except ValueError:
            raise BareflowError(f"bad decimal address {base!r}") from None
    try:
        return int(base, 16) + offset
    except ValueError:
        pass
    symbols = getattr(machine, "symbols", None)
    addr = symbols.address(base) if symbols is not None else None
    if addr is None:
        raise BareflowError(f"no symbol {base!r}" + ("" if symbols is not None else " (no symbols loaded)"))
    return addr + offset


class Runner:
    """Owns the emulator thread for one machine."""

    def __init__(self, machine, *, initial_keys: list[tuple[str | None, str]] | None = None,
                 slice_cycles: int = 2_000_000) -> None:
        self.machine = machine
        self.slice_cycles = slice_cycles
        self.state = "paused"
        self.message = ""
        self.cpu_view: CpuView | None = None
        self.cpu_seq = 0
        self.mem_addr: int | None = None
        self.keys = KeyScript(initial_keys or [])
        self._want_run = False
        self._quit = False
        self._cmds: queue.SimpleQueue[tuple[Callable[[], object], Future]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._temp_bp: int | None = None
        self._last_capture = 0.0
        self._thread = threading.Thread(target=self._loop, name="bareflow-emulator", daemon=True)

    # --- UI thread API --------------------------------------------------------------------
    def start(self, run: bool = True) -> None:
        self._want_run = run
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._want_run

    def resume(self) -> None:
        if self.state in TERMINAL_STATES:
            self.message = f"guest {self.state}: F2 resets"
            return
        self.message = ""
        self._want_run = True
        self._wake.set()

    def pause(self) -> None:
        self._want_run = False
        self.machine.request_pause()
        self._wake.set()

    def toggle(self) -> None:
        if self._want_run:
            self.pause()
        else:
            self.resume()

    def submit(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the emulator thread while the guest is stopped; the guest continues
        afterwards if it was running (unless `fn` changed that)."""
        fut: Future = Future()
        self._cmds.put((fn, fut))
        self.machine.request_pause()
        self._wake.set()
        return fut

    def step(self) -> Future:
        self._want_run = False
        return self.submit(lambda: self._stopped(self.machine.step()))

    def step_over(self) -> Future:
        self._want_run = False
        return self.submit(lambda: self._stopped(self.machine.step_over()))

    def run_to(self, target: str) -> Future:
        """Run until the address or symbol is reached (a one-shot breakpoint)."""
        def go() -> int:
            addr = resolve_target(self.machine, target)
            if addr not in self.machine.breakpoints:
                self.machine.add_breakpoint(addr)
                self._temp_bp = addr
            self.message = f"running to {target}"
            self._want_run = True
            return addr
        self._want_run = False
        return self.submit(go)

    def toggle_breakpoint(self, target: str) -> Future:
        def go() -> str:
            addr = resolve_target(self.machine, target)
            if addr == self._temp_bp:
                self._temp_bp = None
            elif addr in self.machine.breakpoints:
                self.machine.remove_breakpoint(addr)
                self.message = f"breakpoint removed at {self._describe(addr)}"
                return self.message
            self.machine.add_breakpoint(addr)
            self.message = f"breakpoint at {self._describe(addr)}"
            return self.message
        return self.submit(go)

    def reset(self) -> Future:
        def go() -> None:
            self.machine.reset()
            self.state = "paused" if not self._want_run else "running"
            self.message = "reset"
            self._capture(force=True)
        return self.submit(go)

    def set_memory(self, target: str | None) -> Future:
        def go() -> None:
            self.mem_addr = None if target is None else resolve_target(self.machine, target)
            self._capture(force=True)
        return self.submit(go)

    def send_keys(self, codes: list[int]) -> None:
        """Set-1 make/break codes to the guest keyboard (the machine queues them)."""
        self.machine.keyboard.press_make_break(codes)

    def type_text(self, text: str) -> None:
        self.machine.keyboard.type_text(text)

    def send_serial(self, data: bytes) -> None:
        self.machine.send_serial(data)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the guest and the thread; True when the thread has ended."""
        self._quit = True
        self._want_run = False
        self.machine.request_pause()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- emulator thread ----------------------------------------------------------------
    def _describe(self, addr: int) -> str:
        w = where(self.machine, addr)
        return f"{addr:#010x}" + (f" <{w}>" if w else "")

    def _capture(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_capture < _CPU_CAPTURE_EVERY_S:
            return
        self._last_capture = now
        try:
            self.cpu_view = capture_cpu(self.machine, self.mem_addr)
        except Exception as err:  # shown in the status bar; the guest is not affected
            self.message = f"cannot read CPU state: {err}"
        self.cpu_seq += 1

    def _stopped(self, reason) -> None:
        """Bookkeeping after run/step/step_over returned `reason` (a StopReason)."""
        name = getattr(reason, "name", str(reason))
        if name in ("CYCLE_LIMIT",):
            return
        if name == "PAUSED":
            if not self._want_run:
                self.state = "paused"
            return
        self._want_run = False
        if self._temp_bp is not None:
            if self._temp_bp in self.machine.breakpoints:
                self.machine.remove_breakpoint(self._temp_bp)
            self._temp_bp = None
            if name == "BREAKPOINT":
                self.message = ""
        self._capture(force=True)
        if name == "BREAKPOINT":
            self.state = "paused"
            if self.cpu_view is not None:
                self.message = f"breakpoint at {self._describe(self.cpu_view.pc)}"
        elif name == "STEP":
            self.state = "paused"
        else:
            self.state = str(getattr(self.machine, "state", name.lower()))
            self.message = getattr(self.machine, "stop_message", "") or ""

    def _drain(self) -> None:
        while True:
            try:
                fn, fut = self._cmds.get_nowait()
            except queue.Empty:
                return
            try:
                fut.set_result(fn())
            except BareflowError as err:
                self.message = str(err)
                fut.set_exception(err)
            except Exception as err:  # a bug must not kill the emulator thread silently
                self.message = f"{type(err).__name__}: {err}"
                fut.set_exception(err)
            self._capture(force=True)

    def _type_due(self) -> None:
        if self.keys.done:
            return
        for text in self.keys.due(bytes(self.machine.serial_out)):
            self.machine.keyboard.type_text(text)

    def _loop(self) -> None:
        self._capture(force=True)
        while not self._quit:
            self._drain()
            if self._quit:
                break
            self._type_due()
            if self._want_run and self.state not in TERMINAL_STATES:
                self.state = "running"
                t0 = time.monotonic()
                try:
                    reason = self.machine.run(max_cycles=self.slice_cycles)
                except Exception as err:
                    self._want_run = False
                    self.state = "error"
                    self.message = f"emulator error: {type(err).__name__}: {err}"
                    self._capture(force=True)
                    continue
                elapsed = time.monotonic() - t0
                if getattr(reason, "name", "") == "CYCLE_LIMIT" and elapsed > 0:
                    # keep slices near 50 ms of host time whatever the guest's speed
                    scale = min(4.0, max(0.25, _SLICE_TARGET_S / elapsed))
                    self.slice_cycles = max(10_000, int(self.slice_cycles * scale))
                self._stopped(reason)
                self._capture()
            else:
                if self.state == "running":
                    self.state = "paused"
                    self._capture(force=True)
                self._wake.wait()
                self._wake.clear()
        self.state = "stopped" if self.state == "running" else self.state
