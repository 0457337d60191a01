"""The emulator thread of a session: the only thread that drives the machine.

Unicorn and the machine's Python state are not thread-safe, so the UI never calls `run`,
`step`, `regs`, `reset`... itself.  It asks this runner, which executes requests on its own
thread while the guest is stopped:

* while running, the thread sits in `machine.run_until_stop(wait_for_input=True)` (an idle
  guest - HLT with nothing scheduled - waits for keys instead of ending the run);
  `request_pause()`, which is thread-safe and makes `run` return PAUSED at the next block
  boundary, is how the UI gets the machine back: for a command, or 4 times a second for a
  fresh `CpuView` (the guest continues at once; the machine's clock is exact across pauses, so
  this costs a few microseconds and changes nothing the guest can see);
* commands (step, step over, run to, breakpoints, reset, memory view address) are closures
  queued by the UI and run on this thread between runs;
* `--keys-after/--keys` scripts are matched byte by byte in the machine's `on_serial`
  callback (emulator thread), so a text is queued as soon as its pattern is printed.

What the publisher (emu/session/publisher.py) may read at any time, because the machine
documents them as thread-safe snapshots: `screen_bytes()`, `cursor()`, `serial_out`, `cycles`,
`instructions`, `profile_table()`; and this runner's plain attributes (`state`, `message`,
`cpu_view`, `cpu_seq`, `resets`), which the emulator thread replaces, never mutates.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable

from bareflow.emu.errors import BareflowError

from .cpu import capture_cpu, where
from .frames import CpuView
from .keys import typeable_text

#: the machine's states after which running again needs a reset (F2)
TERMINAL_STATES = ("halted", "powered off", "triple fault", "guest error", "reset", "error")
#: stop reasons after which the guest is simply stopped where it was and can continue
_RESUMABLE = {"PAUSED": "paused", "BREAKPOINT": "paused", "STEP": "paused", "CYCLE_LIMIT": "paused"}
CPU_CAPTURE_EVERY_S = 0.25


class KeyScript:
    """`--keys-after PATTERN --keys TEXT` pairs: each text is typed once its pattern has
    appeared on COM1 after the previous text was typed (None = type at once).

    Fed the COM1 bytes as they are printed (the machine's `on_serial`), it keeps only the few
    bytes a pattern split across two calls needs: no position in the machine's output to
    track, nothing to re-read."""

    def __init__(self, items: list[tuple[str | None, str]]) -> None:
        self._items = list(items)
        self._window = b""

    @property
    def done(self) -> bool:
        return not self._items

    def due(self, new: bytes = b"") -> list[str]:
        """Texts to type now, given the COM1 bytes printed since the last call."""
        out: list[str] = []
        window = self._window + new
        while self._items:
            pattern, text = self._items[0]
            if pattern is not None:
                p = pattern.encode("latin-1")
                at = window.find(p)
                if at < 0:
                    window = window[max(0, len(window) - len(p) + 1):] if len(p) > 1 else b""
                    break
                window = window[at + len(p):]
            else:
                window = b""
            out.append(text)
            self._items.pop(0)
        self._window = window if self._items else b""
        return out

    def restart_output(self) -> None:
        """The machine was reset and its COM1 output cleared: nothing printed counts any more."""
        self._window = b""


def resolve_target(machine, target: str) -> int:
    """An address typed by the user: hexadecimal (0x optional), `#decimal`, or an ELF symbol,
    each with an optional `+offset`.  Raises BareflowError with a one-line message."""
    text = target.strip()
    if not text:
        raise BareflowError("empty address")
    base, _, off = text.partition("+")
    base = base.strip()
    try:
        offset = int(off.strip(), 16) if off.strip() else 0
    except ValueError:
        raise BareflowError(f"bad offset {off.strip()!r} (hexadecimal expected)") from None
    if base.startswith("#"):
        try:
            return int(base[1:], 10) + offset
        except ValueError:
            raise BareflowError(f"bad decimal address {base!r}") from None
    try:
        return int(base, 16) + offset
    except ValueError:
        pass
    return machine.resolve(base) + offset  # symbols; BadArgument (one line) when unknown


class Runner:
    """Owns the emulator thread for one machine."""

    def __init__(self, machine, *, initial_keys: list[tuple[str | None, str]] | None = None,
                 history=None) -> None:
        self.machine = machine
        #: emu/session/history.py: forward execution through time travel (None: plain machine calls,
        #: and the step-back commands say that time travel is off)
        self.history = history
        self.forward = history if history is not None else machine
        if history is not None:
            history.outside_pauses = lambda: self._pause_gen
        self.state = "paused"
        self.message = ""
        self.cpu_view: CpuView | None = None
        self.cpu_seq = 0
        #: bumped on each reset (the machine clears its COM1 output then)
        self.resets = 0
        self.mem_addr: int | None = None
        self.keys = KeyScript(initial_keys or [])
        self._want_run = False
        self._want_capture = False
        self._quit = False
        self._cmds: queue.SimpleQueue[tuple[Callable[[], object], Future]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._last_capture_request = 0.0
        #: bumped by every pause this runner requests; tells a stale pause from a real one
        self._pause_gen = 0
        self._thread = threading.Thread(target=self._loop, name="bareflow-emulator", daemon=True)
        if not self.keys.done:
            machine.on_serial.append(self._on_serial)

    # --- UI thread API --------------------------------------------------------------------
    def start(self, run: bool = True) -> None:
        self._want_run = run
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._want_run

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def resume(self) -> None:
        if self.state in TERMINAL_STATES:
            self.message = f"the guest {'is ' if self.state != 'reset' else 'asked for a '}{self.state}: F2 resets"
            return
        self.message = ""
        self._want_run = True
        self._wake.set()

    def _request_pause(self) -> None:
        self._pause_gen += 1
        self.machine.request_pause()

    def pause(self) -> None:
        self._want_run = False
        self._request_pause()
        self._wake.set()

    def toggle(self) -> None:
        if self._want_run or self.state == "running":
            self.pause()
        else:
            self.resume()

    def refresh_cpu(self, every: float | None = None) -> None:
        """Ask for a fresh CpuView while running, at most once per `every` seconds
        (CPU_CAPTURE_EVERY_S; the publisher asks less often while the guest sleeps in HLT)."""
        now = time.monotonic()
        if every is None:
            every = CPU_CAPTURE_EVERY_S
        if self._want_run and now - self._last_capture_request >= every:
            self._last_capture_request = now
            self._want_capture = True
            self._request_pause()

    def submit(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the emulator thread while the guest is stopped; the guest continues
        afterwards if it was running (unless `fn` changed that)."""
        fut: Future = Future()
        self._cmds.put((fn, fut))
        self._request_pause()
        self._wake.set()
        return fut

    def step(self) -> Future:
        self._want_run = False
        return self.submit(lambda: self._after(self.forward.step()))

    def step_over(self) -> Future:
        """A CALL runs to its return address: that can take long, so it is a run (pausable)."""
        self._want_run = False
        def go() -> None:
            self.state = "running"
            self._after(self._unstale(self.forward.step_over))
        return self.submit(go)

    def run_to(self, target: str) -> Future:
        """Run until the address or symbol is reached (the machine's one-shot breakpoint)."""
        def go() -> int:
            addr = resolve_target(self.machine, target)
            self.state = "running"
            self.message = f"running to {self._describe(addr)}"
            self._after(self._unstale(lambda: self.forward.run_to(addr)))
            return addr
        self._want_run = False
        return self.submit(go)

    def toggle_breakpoint(self, target: str) -> Future:
        def go() -> str:
            addr = resolve_target(self.machine, target)
            if addr in self.machine.breakpoints:
                self.machine.remove_breakpoint(addr)
                self.message = f"breakpoint removed at {self._describe(addr)}"
            else:
                self.machine.add_breakpoint(addr)
                self.message = f"breakpoint at {self._describe(addr)}"
            return self.message
        return self.submit(go)

    def reset(self) -> Future:
        def go() -> None:
            self.machine.reset()
            if self.history is not None:
                self.history.restart()
            self.resets += 1
            self.keys.restart_output()
            self.state = "paused"
            self.message = "reset: the machine is at its first instruction"
        return self.submit(go)

    # --- time travel (emu/session/history.py; the emulator process makes the History) -----
    def _back(self, what: str, go: Callable[[], object], done: Callable[[object], str]) -> Future:
        """A backward command: restores a checkpoint and re-runs up to the moment wanted, which
        can take a second or more, so the status says so meanwhile."""
        self._want_run = False

        def run() -> None:
            if self.history is None:
                self.message = "time travel is off in this session"
                return
            self.state = "running"
            self.message = what + "..."
            try:
                reason = go()
            finally:
                self.state = "paused"   # whatever ended the later run has not happened yet
            self.message = f"{done(reason)} ({self.history.describe()})"
        return self.submit(run)

    def step_back(self) -> Future:
        """One instruction back in time."""
        return self._back("stepping back", lambda: self.history.step_back(),
                          lambda r: "stepped back one instruction" if r is not None
                          else "at the oldest checkpoint: nothing earlier to go back to")

    def run_back(self) -> Future:
        """Back to the most recent breakpoint hit before now."""
        return self._back("running back to the previous breakpoint hit", lambda: self.history.run_back(),
                          lambda r: f"back at the previous breakpoint hit, {self._describe(self.machine.cpu.linear_pc())}"
                          if r is not None else "no breakpoint hit in the history: back at its oldest checkpoint")

    def run_back_to(self, target: str) -> Future:
        """Back to the last time execution reached an address or symbol."""
        def go() -> object:
            addr = resolve_target(self.machine, target)
            return self.history.run_back_to(addr)
        return self._back(f"running back to {target}", go,
                          lambda r: f"back at the last time {target} ran, {self._describe(self.machine.cpu.linear_pc())}"
                          if r is not None else f"{target} did not run in the history: back at its oldest checkpoint")

    def set_memory(self, target: str | None) -> Future:
        def go() -> None:
            self.mem_addr = None if target is None else resolve_target(self.machine, target)
        return self.submit(go)

    def send_keys(self, codes: list[int]) -> None:
        """Set-1 make/break codes for the guest keyboard (the machine's thread-safe input door)."""
        try:
            self.machine.press_keys(codes)
        except ValueError as err:  # a code the keyboard model has no key for
            self.message = str(err)

    def type_text(self, text: str) -> None:
        """Type text (a paste) on the guest keyboard; characters no key types are skipped."""
        typeable, skipped = typeable_text(text.replace("\r\n", "\n"))
        if skipped:
            self.message = f"paste: skipped {skipped} character(s) no US key types"
        if typeable:
            self.machine.type_text(typeable)

    def send_serial(self, data: bytes) -> None:
        self.machine.send_serial(data)

    def save_screen_png(self, path: str) -> None:
        """The VGA picture as PNG at its native size (as `run --screen-png`); the result is
        told in `message`.  Reads device state only, so it is safe while the guest runs."""
        from .screenshot import save_png
        self.message = save_png(self.machine, path)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the guest and the thread; True when the thread has ended."""
        self._quit = True
        self._want_run = False
        self._request_pause()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- emulator thread ----------------------------------------------------------------
    def _describe(self, addr: int) -> str:
        w = where(self.machine, addr)
        return f"{addr:#010x}" + (f" <{w}>" if w else "")

    def _on_serial(self, byte: int) -> None:
        """Machine callback for each COM1 byte (emulator thread): type scripted keys when due."""
        if not self.keys.done:
            self._type_due(bytes((byte,)))

    def _type_due(self, new: bytes = b"") -> None:
        """Emulator thread only: type through the machine's input door (journaled once) like
        `bareflow-emu run` does, so a scripted session takes the same cycles in the TUI as
        headless."""
        for text in self.keys.due(new):
            typeable, skipped = typeable_text(text)
            if skipped:
                self.message = f"--keys: skipped {skipped} character(s) no US key types"
            self.machine.input("keys", typeable)

    def _unstale(self, run: Callable[[], object]):
        """Call a running command, again if it returned PAUSED for a pause requested before
        it started (the machine keeps a pause request until its next run)."""
        while True:
            gen = self._pause_gen
            reason = run()
            if getattr(reason, "name", "") != "PAUSED" or gen != self._pause_gen or self._quit:
                return reason

    def set_tables(self, on: bool) -> None:
        """The tables view is open: decode GDT/IDT/TSS into each CpuView (emu/tables.py)."""
        self.want_tables = bool(on)
        if on:
            self.submit(self._capture)       # a capture now, also while paused

    def set_irqs(self, on: bool) -> None:
        """The interrupt-path view is open: walk every IRQ line into each CpuView (emu/irqpath.py)."""
        self.want_irqs = bool(on)
        if on:
            self.submit(self._capture)

    def set_walk(self, target: str | None) -> None:
        """The page-walk view is open on `target` (address or symbol, '' = CR2 or EIP; None =
        closed): walk it into each CpuView (emu/page_walk.py)."""
        self.want_walk = target
        if target is not None:
            self.submit(self._capture)

    def _capture(self) -> None:
        try:
            self.cpu_view = capture_cpu(self.machine, self.mem_addr)
            if getattr(self, "want_tables", False):
                from bareflow.emu.tables import machine_tables
                self.cpu_view.tables = machine_tables(self.machine).text()
            if getattr(self, "want_walk", None) is not None:
                from bareflow.emu.page_walk import view_text
                self.cpu_view.walk = view_text(self.machine, self.want_walk)
            if getattr(self, "want_irqs", False):
                from bareflow.emu.irqpath_report import machine_rows
                self.cpu_view.irqs = machine_rows(self.machine)
        except Exception as err:  # shown in the status bar; the guest is not affected
            self.message = f"cannot read CPU state: {type(err).__name__}: {err}"
        self.cpu_seq += 1

    def _after(self, reason) -> None:
        """Bookkeeping after run/step/step_over/run_to returned `reason` (a StopReason)."""
        name = getattr(reason, "name", str(reason))
        if name == "PAUSED" and self._want_run:
            return  # a pause for a command or a CPU view; the loop resumes
        if name in _RESUMABLE:
            self._want_run = False
            self.state = "paused"
            if name == "BREAKPOINT":
                self.message = self.machine.stop_message or "breakpoint"
            elif self.message.startswith("running to"):
                self.message = ""
            return
        self._want_run = False
        self.state = str(getattr(reason, "value", name.lower()))
        self.message = self.machine.stop_message or ""

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
            self._capture()

    def _loop(self) -> None:
        self._capture()
        if not self.keys.done:
            self._type_due(bytes(self.machine.serial_out))   # what was printed before we started
        while not self._quit:
            self._drain()
            if self._quit:
                break
            if self._want_run and self.state not in TERMINAL_STATES:
                self.state = "running"
                try:
                    reason = self.forward.run_until_stop(wait_for_input=True)
                except Exception as err:
                    self._want_run = False
                    self.state = "error"
                    self.message = f"emulator error: {type(err).__name__}: {err}"
                    self._capture()
                    continue
                self._after(reason)
                if self._want_capture or not self._want_run:
                    self._want_capture = False
                    self._capture()
            else:
                if self.state == "running":
                    self.state = "paused"
                self._wake.wait()
                self._wake.clear()
