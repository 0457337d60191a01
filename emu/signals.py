"""SIGINT, SIGTERM and SIGHUP end a headless run cleanly, whatever the guest is doing.

Why not Python's default KeyboardInterrupt: a Python signal handler runs only when the main
thread executes Python code, and the main thread spends its time inside Unicorn's C loop (the
fast path prices blocks in C); a guest spinning with no timer programmed never returns to
Python, so Ctrl-C did nothing and SIGTERM killed the process with its outputs unwritten.

Here the C-level handler writes the signal number to a wake-up pipe (`signal.set_wakeup_fd`,
async-signal-safe) and a small thread turns it into `Machine.request_pause()`, which is
thread-safe and stops the run at the next block boundary.  The caller then sees the run end
(PAUSED), finishes its outputs (trace `stop` event, profile, screen, exports, recording) and
exits with 128 + the signal number, the shell's convention: 130 for SIGINT, 143 for SIGTERM,
129 for SIGHUP.  A second signal while the outputs are being written ends the process at once
with the default action (the escape hatch when something hangs).
"""
from __future__ import annotations

import os
import signal
import threading
from typing import Any

HANDLED = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                            getattr(signal, "SIGHUP", None)) if s is not None)


def exit_status(signum: int) -> int:
    """128 + N, as a shell reports a process ended by signal N."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopOnSignal:
    """Context manager: while active, SIGINT/SIGTERM/SIGHUP pause `machine` and are remembered
    in `.signum`.  Only usable on the main thread (where Python installs signal handlers); on
    another thread it does nothing and the default behaviour stays."""

    def __init__(self, machine: Any = None) -> None:
        self.machine = machine
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        self._old_fd: int | None = None
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._active = False
        self._count = 0

    @property
    def name(self) -> str:
        return signal_name(self.signum) if self.signum is not None else ""

    def attach(self, machine: Any) -> None:
        """The machine may be built after the handlers are installed (a signal during the build
        is remembered and pauses the machine as soon as it exists)."""
        self.machine = machine
        if self.signum is not None:
            machine.request_pause()

    def _handler(self, signum: int, _frame: Any) -> None:
        # the watcher thread usually saw this signal first (and set .signum): count here, where
        # each signal is seen once, to tell a second signal from the first
        self._count += 1
        if self._count == 1:
            if self.signum is None:
                self.signum = signum
            if self.machine is not None:
                self.machine.request_pause()
            return
        # second signal: the default action now (terminate), so a stuck exit path can be ended
        self.restore()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def _watch(self, rfd: int) -> None:
        while True:
            try:
                data = os.read(rfd, 64)
            except OSError:
                return
            if not data:
                return
            for b in data:
                if b in HANDLED and self.signum is None:
                    self.signum = b
                if self.machine is not None and self.signum is not None:
                    self.machine.request_pause()

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is not threading.main_thread():
            return self
        rfd, wfd = os.pipe()
        os.set_blocking(wfd, False)
        self._pipe = (rfd, wfd)
        try:
            self._old_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        except (ValueError, OSError):
            os.close(rfd)
            os.close(wfd)
            self._pipe = None
            return self
        for s in HANDLED:
            try:
                self._old[s] = signal.signal(s, self._handler)
            except (ValueError, OSError):
                pass
        self._thread = threading.Thread(target=self._watch, args=(rfd,), name="signal-to-pause", daemon=True)
        self._thread.start()
        self._active = True
        return self

    def restore(self) -> None:
        if not self._active:
            return
        self._active = False
        for s, old in self._old.items():
            try:
                signal.signal(s, old if old is not None else signal.SIG_DFL)
            except (ValueError, OSError, TypeError):
                pass
        try:
            signal.set_wakeup_fd(self._old_fd if self._old_fd is not None else -1)
        except (ValueError, OSError):
            pass
        if self._pipe is not None:
            rfd, wfd = self._pipe
            os.close(wfd)          # the watcher thread's read returns b"" or fails: it ends
            if self._thread is not None:
                self._thread.join(timeout=1.0)
            try:
                os.close(rfd)
            except OSError:
                pass
            self._pipe = None

    def __exit__(self, *exc: Any) -> None:
        self.restore()
