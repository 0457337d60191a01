"""The machine in its own process, so the UI and the guest never wait for each other's GIL.

Why a process and not just the emulator thread: much of the machine is Python (the BIOS, device
models, timer ticks while the guest idles in HLT).  Sharing one interpreter, the UI thread got
the GIL only every few switch intervals and redrew the screen 4-10 times a second, and the guest
lost speed to Textual.  Here the child process runs the same `Runner` over the real `Machine`
(so every rule in runner.py still holds) plus a publisher thread that sends a small snapshot 30
times a second through a pipe: counters, state, cursor, the 4000 screen bytes when they changed,
new COM1 bytes, the CPU view when a new one was captured, the profile twice a second.  The UI
process keeps the latest snapshot in `RemoteMachine`/`RemoteRunner`, which offer exactly the
attributes and methods the app uses on an in-process machine and runner.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

PUBLISH_HZ = 25
PROFILE_EVERY_S = 0.5


@dataclass
class SessionConfig:
    image: str
    memory_mb: int = 64
    symbols: str | None = None
    initial_keys: list[tuple[str | None, str]] = field(default_factory=list)
    autostart: bool = True
    #: stop at each milestone of the boot journey (for a class); the timeline opens on it
    pause_at_milestones: bool = False
    #: forward execution through time travel (tui/history.py), so the UI can step back
    time_travel: bool = True
    #: a recording (emu/replay.py): replay it, then open paused where it ended (`replay --tui`)
    replay: dict[str, Any] | None = None


# --------------------------------------------------------------------------- child process
def _child_main(conn, cfg: SessionConfig) -> None:
    """Entry point of the emulator process: build the machine, run the runner, publish."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal belongs to the UI
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from bareflow.emu.errors import BadImage, BareflowError
    from bareflow.emu.machine import Machine, MachineConfig

    from .runner import Runner
    try:
        machine = Machine(MachineConfig(image=cfg.image, memory_mb=cfg.memory_mb, symbols=cfg.symbols))
    except BareflowError as err:
        conn.send(("error", str(err), 64 if isinstance(err, BadImage) else 2))
        return
    except Exception as err:  # a bug of ours: one line, the CLI's internal-error status
        conn.send(("error", f"internal error: {type(err).__name__}: {err}", 70))
        return
    if cfg.replay is not None:   # `bareflow-emu replay FILE --tui`: start where the recorded run ended
        from bareflow.emu.replay import run_recording
        run_recording(machine, cfg.replay)
    from .history import MAX_MEMORY_MB, History
    from .journey import JourneyFeed
    history = History(machine) if cfg.time_travel and cfg.memory_mb <= MAX_MEMORY_MB else None
    runner = Runner(machine, initial_keys=cfg.initial_keys, history=history)
    if cfg.time_travel and history is None:
        runner.message = f"time travel is off above {MAX_MEMORY_MB} MiB of RAM (it keeps two copies)"
    # the journey and the fault explainer watch the machine from its first instruction
    feed = JourneyFeed(machine, runner, pause_at_milestones=cfg.pause_at_milestones)
    if history is not None:
        history.on_travel.append(lambda back: setattr(feed, "pause_at_milestones",
                                                      cfg.pause_at_milestones and not back))
    conn.send(("ready", machine.image_path.name))
    runner.start(run=cfg.autostart)
    stop = threading.Event()
    publisher = threading.Thread(target=_publish, args=(conn, machine, runner, stop, feed), daemon=True)
    publisher.start()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "quit":
                break
            if msg[0] == "call":
                _, name, args = msg
                if name in _ALLOWED_CALLS:
                    getattr(runner, name)(*args)
    finally:
        runner.stop()
        if history is not None:
            history.close()
        stop.set()
        publisher.join(2)
        try:
            machine.close()
        except Exception:
            pass
        try:
            conn.send(("bye",))
        except (OSError, EOFError):
            pass


_ALLOWED_CALLS = {"toggle", "pause", "resume", "step", "step_over", "run_to", "toggle_breakpoint", "reset",
                  "set_memory", "send_keys", "type_text", "send_serial", "step_back", "run_back", "run_back_to",
                  "save_screen_png", "set_tables"}


def _framebuffer(watch, machine):
    """A new graphics frame, "text", or None (tui/fb_frame.py); a render error costs a frame."""
    try:
        return watch.poll(machine)
    except Exception:
        return None


def _journey(feed) -> dict[str, Any] | None:
    """The journey's data when it changed (JourneyFeed.publish); this thread reads lists the
    emulator thread appends to, so a read that races a change is simply taken next tick."""
    if feed is None:
        return None
    try:
        return feed.publish()
    except Exception:
        feed._last_key = None   # publish() remembered this state as sent: send it again
        return None


def _publish(conn, machine, runner, stop: threading.Event, feed=None) -> None:
    """Child thread: a snapshot message every 1/PUBLISH_HZ s (only thread-safe reads)."""
    last_screen = b""
    serial_pos = 0
    resets = runner.resets
    cpu_seq = -1
    last_profile = 0.0
    from .fb_frame import FramebufferWatch
    fb_watch = FramebufferWatch()
    while not stop.wait(1 / PUBLISH_HZ):
        runner.refresh_cpu()
        screen = machine.screen_bytes()
        if runner.resets != resets:
            resets, serial_pos = runner.resets, 0
        out = machine.serial_out
        n = len(out)
        serial = bytes(out[serial_pos:n]) if n > serial_pos else b""
        serial_pos = max(serial_pos, n)
        cpu = None
        if runner.cpu_seq != cpu_seq:
            cpu_seq, cpu = runner.cpu_seq, runner.cpu_view
        now = time.monotonic()
        profile = None
        if now - last_profile >= PROFILE_EVERY_S:
            last_profile = now
            profile = machine.profile_table()
        snap = {
            "cycles": machine.cycles, "instructions": machine.instructions, "mstate": machine.state,
            "state": runner.state, "message": runner.message, "resets": resets,
            "cursor": tuple(machine.cursor())[:3], "screen": screen if screen != last_screen else None,
            "serial": serial, "cpu": cpu, "cpu_seq": cpu_seq, "profile": profile,
            "breakpoints": sorted(machine.breakpoints), "wall": machine.wall_seconds,
            "journey": _journey(feed), "fb": _framebuffer(fb_watch, machine),
        }
        last_screen = screen
        try:
            conn.send(("tick", snap))
        except (OSError, EOFError, BrokenPipeError):
            return


# --------------------------------------------------------------------------- UI process
class RemoteMachine:
    """What the app reads from a machine, as last published by the emulator process."""

    def __init__(self) -> None:
        self.cycles = 0
        self.instructions = 0
        self.state = "paused"
        self.breakpoints: set[int] = set()
        self.serial_out = bytearray()
        self.wall_seconds = 0.0
        self._screen = bytes(4000)
        self._cursor: tuple[int, int, bool] = (0, 0, False)
        self._profile: list[dict[str, Any]] = []
        #: the latest JourneyFeed.publish() data: milestones, fault explanation, paused_at
        self.journey: dict[str, Any] | None = None
        #: (sequence, FramebufferFrame or "text") as last published (tui/fb_frame.py)
        self.framebuffer_state: tuple[int, Any] = (0, None)

    def screen_bytes(self) -> bytes:
        return self._screen

    def cursor(self) -> tuple[int, int, bool]:
        return self._cursor

    def profile_table(self) -> list[dict[str, Any]]:
        return self._profile


class RemoteRunner:
    """The runner's interface in the UI process: commands go down the pipe, state comes up."""

    def __init__(self, session: "RemoteSession") -> None:
        self._session = session
        self.state = "starting"
        self.message = ""
        self.cpu_view = None
        self.cpu_seq = 0
        self.resets = 0

    @property
    def alive(self) -> bool:
        return self._session.alive

    def _call(self, name: str, *args: Any) -> None:
        self._session.send(("call", name, args))

    def toggle(self) -> None: self._call("toggle")
    def pause(self) -> None: self._call("pause")
    def resume(self) -> None: self._call("resume")
    def step(self) -> None: self._call("step")
    def step_over(self) -> None: self._call("step_over")
    def run_to(self, target: str) -> None: self._call("run_to", target)
    def toggle_breakpoint(self, target: str) -> None: self._call("toggle_breakpoint", target)
    def reset(self) -> None: self._call("reset")
    def set_memory(self, target: str | None) -> None: self._call("set_memory", target)
    def send_keys(self, codes: list[int]) -> None: self._call("send_keys", list(codes))
    def type_text(self, text: str) -> None: self._call("type_text", text)
    def send_serial(self, data: bytes) -> None: self._call("send_serial", bytes(data))
    def step_back(self) -> None: self._call("step_back")
    def run_back(self) -> None: self._call("run_back")
    def run_back_to(self, target: str) -> None: self._call("run_back_to", target)
    def save_screen_png(self, path: str) -> None: self._call("save_screen_png", path)
    def set_tables(self, on: bool) -> None: self._call("set_tables", on)

    def refresh_cpu(self) -> None:
        """The emulator process refreshes the CPU view itself (4 Hz while running)."""

    def stop(self, timeout: float = 5.0) -> bool:
        return self._session.close(timeout)


class RemoteSession:
    """Starts the emulator process and mirrors its snapshots (a reader thread)."""

    def __init__(self, cfg: SessionConfig, start_timeout: float = 60.0) -> None:
        ctx = mp.get_context("spawn")  # a clean interpreter: no inherited threads or terminal state
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_child_main, args=(child_conn, cfg), name="bareflow-emulator",
                                 daemon=True)
        self._send_lock = threading.Lock()
        self._closed = False
        self.machine = RemoteMachine()
        self.runner = RemoteRunner(self)
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
        if first[0] == "error":
            self._proc.join(5)
            raise SessionError(first[1], first[2])
        self._reader = threading.Thread(target=self._read, name="bareflow-emulator-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def send(self, msg: tuple) -> None:
        if self._closed:
            return
        with self._send_lock:
            try:
                self._conn.send(msg)
            except (OSError, EOFError, BrokenPipeError):
                pass

    def _read(self) -> None:
        m, r = self.machine, self.runner
        while True:
            try:
                kind, *rest = self._conn.recv()
            except (EOFError, OSError):
                break
            if kind == "bye":
                break
            if kind != "tick":
                continue
            s = rest[0]
            if s["resets"] != r.resets:
                m.serial_out = bytearray()
            m.serial_out += s["serial"]
            if s.get("fb") is not None:
                m.framebuffer_state = (m.framebuffer_state[0] + 1, s["fb"])
            if s["screen"] is not None:
                m._screen = s["screen"]
            if s["profile"] is not None:
                m._profile = s["profile"]
            if s.get("journey") is not None:
                m.journey = s["journey"]
            m._cursor = s["cursor"]
            m.breakpoints = set(s["breakpoints"])
            m.cycles, m.instructions, m.state, m.wall_seconds = s["cycles"], s["instructions"], s["mstate"], s["wall"]
            if s["cpu"] is not None:
                r.cpu_view = s["cpu"]
            r.state, r.message, r.resets, r.cpu_seq = s["state"], s["message"], s["resets"], s["cpu_seq"]
        if not self._closed:
            r.state = "error"
            r.message = "the emulator process ended unexpectedly"

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the guest and the emulator process; True when it has exited."""
        if not self._closed:
            self.send(("quit",))
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


class SessionError(Exception):
    """The emulator process could not start the machine: one line and an exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
