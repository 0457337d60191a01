"""The front end's side of a session: one protocol, and the client over the emulator process.

A front end (the TUI, or anything else that shows a running machine) talks to a session only
through `SessionClient`: it sends commands (`COMMANDS` in frames.py: run, pause, step, type,
...) and reads a `SessionView` that the client keeps up to date from the frames the emulator
process sends.  There is one real implementation, `RemoteSession` (the machine in its own
process, emu/session/publisher.py), and one fake for tests (tests/tui/tui_fake.py, a toy machine
run in-process by the same runner and publisher).

This module imports nothing from the machine: the UI process never loads Unicorn.
"""
from __future__ import annotations

import multiprocessing as mp
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

from .frames import COMMANDS, ByeFrame, ErrorFrame, Frame, ReadyFrame, SessionView


@dataclass
class SessionConfig:
    image: str
    memory_mb: int = 64
    symbols: str | None = None
    initial_keys: list[tuple[str | None, str]] = field(default_factory=list)
    autostart: bool = True
    #: stop at each milestone of the boot journey (for a class); the timeline opens on it
    pause_at_milestones: bool = False
    #: forward execution through time travel (emu/session/history.py), so the UI can step back
    time_travel: bool = True
    #: a recording (emu/replay.py): replay it, then open paused where it ended (`replay --tui`)
    replay: dict[str, Any] | None = None


class SessionError(Exception):
    """The emulator process could not start the machine: one line and an exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SessionClient(ABC):
    """What a front end may do with a running machine.

    Commands are fire-and-forget (their outcome shows in the view: state, message, CPU view);
    `poll()` is called on the front end's thread and returns the view with every frame received
    so far applied."""

    # --- reading -------------------------------------------------------------------------
    @abstractmethod
    def poll(self) -> SessionView:
        """The latest view (the same object each time, updated in place)."""

    def take_serial(self) -> list[tuple[bool, bytes]]:
        """COM1 output since the last call, as [(did the machine reset before it?, bytes)]:
        the front end keeps no cursor into the guest's output and makes no reset check."""
        return self.poll().take_serial()

    def on_change(self, callback: Callable[[], None] | None) -> bool:
        """Ask to be told when frames were applied to the view: `callback()` is then called,
        from any thread, after each batch (and once when the session ends), so a front end can
        sleep until there is something to show instead of polling (issue 11: an idle TUI).
        False: this client does not tell (the in-process fake of the tests); poll it."""
        return False

    @property
    @abstractmethod
    def alive(self) -> bool:
        """False once the machine's thread or process has ended."""

    @abstractmethod
    def close(self, timeout: float = 5.0) -> bool:
        """Stop the guest and the emulator; True when it has ended (idempotent)."""

    @abstractmethod
    def command(self, name: str, *args: Any) -> None:
        """Send one of `COMMANDS` with its arguments."""

    # --- commands (each a `Runner` method of the same name) ------------------------------
    def toggle(self) -> None: self.command("toggle")
    def pause(self) -> None: self.command("pause")
    def resume(self) -> None: self.command("resume")
    def step(self) -> None: self.command("step")
    def step_over(self) -> None: self.command("step_over")
    def run_to(self, target: str) -> None: self.command("run_to", target)
    def toggle_breakpoint(self, target: str) -> None: self.command("toggle_breakpoint", target)
    def reset(self) -> None: self.command("reset")
    def set_memory(self, target: str | None) -> None: self.command("set_memory", target)
    def step_back(self) -> None: self.command("step_back")
    def run_back(self) -> None: self.command("run_back")
    def run_back_to(self, target: str) -> None: self.command("run_back_to", target)
    def save_screen_png(self, path: str) -> None: self.command("save_screen_png", path)
    def set_tables(self, on: bool) -> None: self.command("set_tables", on)
    def set_walk(self, target: str | None) -> None: self.command("set_walk", target)
    def set_irqs(self, on: bool) -> None: self.command("set_irqs", on)

    # --- host input to the guest (the machine's one input door) --------------------------
    def send_keys(self, codes: list[int]) -> None:
        """Set-1 make/break codes for the PS/2 keyboard."""
        self.command("send_keys", list(codes))

    def type_text(self, text: str) -> None:
        """Text typed on the PS/2 keyboard (a paste); characters no US key types are skipped."""
        self.command("type_text", text)

    def send_serial(self, data: bytes) -> None:
        """Bytes for COM1's receiver, delivered in full as the guest reads them."""
        self.command("send_serial", bytes(data))


class RemoteSession(SessionClient):
    """Starts the emulator process and applies its frames to a view (a reader thread)."""

    def __init__(self, cfg: SessionConfig, start_timeout: float = 60.0) -> None:
        from .publisher import serve  # the child's entry point (it imports the machine itself)
        ctx = mp.get_context("spawn")  # a clean interpreter: no inherited threads or terminal state
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=serve, args=(child_conn, cfg), name="bareflow-emulator", daemon=True)
        self._send_lock = threading.Lock()
        self._view_lock = threading.Lock()
        self._closed = False
        self._on_change: Callable[[], None] | None = None
        self.view = SessionView()
        self._proc.start()
        child_conn.close()
        if not self._conn.poll(start_timeout):
            self._kill()
            raise SessionError("the emulator process did not start", 70)
        try:
            first = self._conn.recv()
        except EOFError:
            self._kill()
            raise SessionError("the emulator process ended while starting", 70) from None
        if isinstance(first, ErrorFrame):
            self._proc.join(5)
            raise SessionError(first.message, first.exit_code)
        assert isinstance(first, ReadyFrame), first
        self.image_name = first.image_name
        self._reader = threading.Thread(target=self._read, name="bareflow-session-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def poll(self) -> SessionView:
        return self.view

    def on_change(self, callback: Callable[[], None] | None) -> bool:
        self._on_change = callback
        return True

    def _changed(self) -> None:
        callback = self._on_change
        if callback is not None:
            try:
                callback()
            except Exception:       # a front end that is closing: the reader goes on
                pass

    def take_serial(self) -> list[tuple[bool, bytes]]:
        with self._view_lock:
            return self.view.take_serial()

    def command(self, name: str, *args: Any) -> None:
        if name not in COMMANDS:
            raise ValueError(f"not a session command: {name!r}")
        self._send(("call", name, args))

    def _send(self, msg: tuple) -> None:
        if self._closed:
            return
        with self._send_lock:
            try:
                self._conn.send(msg)
            except (OSError, EOFError, BrokenPipeError):
                pass

    def _read(self) -> None:
        view = self.view
        while True:
            try:
                frames: list[Frame] | Frame = self._conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(frames, ByeFrame):
                view.apply(frames)
                break
            with self._view_lock:
                for frame in frames:
                    view.apply(frame)
            self._changed()
        if not self._closed:
            view.state = "error"
            view.message = "the emulator process ended unexpectedly"
            view.version += 1
        self._changed()

    def close(self, timeout: float = 5.0) -> bool:
        if not self._closed:
            self._send(("quit",))
            self._closed = True
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._kill()
        return not self._proc.is_alive()

    def _kill(self) -> None:
        self._proc.terminate()
        self._proc.join(2)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)
