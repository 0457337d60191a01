"""The emulator process of a session: it runs the machine and publishes frames.

Why a process and not just the emulator thread: much of the machine is Python (the BIOS, device
models, timer ticks while the guest idles in HLT).  Sharing one interpreter, the UI thread got
the GIL only every few switch intervals and redrew the screen 4-10 times a second, and the guest
lost speed to Textual.  Here the child process runs the `Runner` over the real `Machine` plus a
publisher thread that sends the frames that changed (emu/session/frames.py) 25 times a second:
counters and state, the cursor, the 4000 screen bytes, new COM1 bytes, the CPU view when a new
one was captured, the profile twice a second, the journey.

`Publisher` reads only what the machine and the runner document as thread-safe snapshots, so it
runs on its own thread here and on the UI thread of an in-process session (tests/tui/tui_fake.py).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable

from .framebuffer import TEXT, FramebufferWatch
from .frames import (COMMANDS, CpuFrame, CursorFrame, ErrorFrame, Frame, GraphicsFrame, JourneyFrame, ProfileFrame,
                     ReadyFrame, ScreenFrame, SerialFrame, StateFrame, ByeFrame)

PUBLISH_HZ = 25
PROFILE_EVERY_S = 0.5


class SerialCursor:
    """How much of the machine's COM1 output has been published: the one serial cursor, and
    the one reset check (the runner counts resets; a reset clears the machine's output).

    A time-travel restore shortens `serial_out` and the re-run prints the same bytes again:
    those were published already, so the cursor never moves back except on a reset."""

    def __init__(self, output: Callable[[], bytearray], resets: Callable[[], int]) -> None:
        self._output = output
        self._resets = resets
        self._seen_resets = resets()
        self._pos = 0

    def take(self) -> SerialFrame | None:
        restart = False
        resets = self._resets()
        if resets != self._seen_resets:
            self._seen_resets, self._pos, restart = resets, 0, True
        out = self._output()
        n = len(out)
        data = bytes(out[self._pos:n]) if n > self._pos else b""
        self._pos = max(self._pos, n)
        if not data and not restart:
            return None
        return SerialFrame(data, restart)


class Publisher:
    """Builds the frames that changed since the last call (`tick`)."""

    def __init__(self, machine: Any, runner: Any, feed: Any = None) -> None:
        self.machine = machine
        self.runner = runner
        self.feed = feed
        self.serial = SerialCursor(lambda: machine.serial_out, lambda: runner.resets)
        self._screen = b""
        self._cursor: tuple | None = None
        self._cpu_seq = -1
        self._last_profile = 0.0
        self._state: StateFrame | None = None
        self._fb = FramebufferWatch()

    def tick(self) -> list[Frame]:
        m, r = self.machine, self.runner
        r.refresh_cpu()
        frames: list[Frame] = []
        screen = m.screen_bytes()
        if screen != self._screen:
            self._screen = screen
            frames.append(ScreenFrame(screen))
        cursor = tuple(m.cursor())[:3]
        if cursor != self._cursor:
            self._cursor = cursor
            frames.append(CursorFrame(int(cursor[0]), int(cursor[1]), bool(cursor[2])))
        serial = self.serial.take()
        if serial is not None:
            frames.append(serial)
        if r.cpu_seq != self._cpu_seq and r.cpu_view is not None:
            self._cpu_seq = r.cpu_seq
            frames.append(CpuFrame(r.cpu_view, r.cpu_seq))
        now = time.monotonic()
        if now - self._last_profile >= PROFILE_EVERY_S:
            self._last_profile = now
            frames.append(ProfileFrame(m.profile_table()))
        graphics = self._graphics()
        if graphics is not None:
            frames.append(GraphicsFrame(None if graphics == TEXT else graphics))
        journey = self._journey()
        if journey is not None:
            frames.append(JourneyFrame(journey))
        state = StateFrame(r.state, m.state, r.message, m.cycles, m.instructions,
                           m.wall_seconds, tuple(sorted(m.breakpoints)))
        if state != self._state:
            self._state = state
            frames.append(state)
        return frames

    def _graphics(self) -> Any:
        """A new graphics picture, TEXT, or None (nothing new); a render error costs a frame."""
        try:
            return self._fb.poll(self.machine)
        except Exception:
            return None

    def _journey(self) -> dict[str, Any] | None:
        """The journey's data when it changed; this thread reads lists the emulator thread
        appends to, so a read that races a change is simply taken next tick."""
        if self.feed is None:
            return None
        try:
            return self.feed.publish()
        except Exception:
            self.feed.forget_published()   # publish() remembered this state as sent: send it again
            return None


def serve(conn: Any, cfg: Any) -> None:
    """Entry point of the emulator process (`client.RemoteSession` starts it): build the
    machine, run the runner, publish frames, obey commands until "quit" or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal belongs to the UI
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from bareflow.emu.errors import BadImage, BareflowError
    from bareflow.emu.machine import Machine, MachineConfig

    from .history import MAX_MEMORY_MB, History
    from .journey import JourneyFeed
    from .runner import Runner
    try:
        machine = Machine(MachineConfig(image=cfg.image, memory_mb=cfg.memory_mb, symbols=cfg.symbols))
    except BareflowError as err:
        conn.send(ErrorFrame(str(err), 64 if isinstance(err, BadImage) else 2))
        return
    except Exception as err:  # a bug of ours: one line, the CLI's internal-error status
        conn.send(ErrorFrame(f"internal error: {type(err).__name__}: {err}", 70))
        return
    if cfg.replay is not None:   # `bareflow-emu replay FILE --tui`: start where the recorded run ended
        from bareflow.emu.replay import run_recording
        run_recording(machine, cfg.replay)
    history = History(machine) if cfg.time_travel and cfg.memory_mb <= MAX_MEMORY_MB else None
    runner = Runner(machine, initial_keys=cfg.initial_keys, history=history)
    if cfg.time_travel and history is None:
        runner.message = f"time travel is off above {MAX_MEMORY_MB} MiB of RAM (it keeps two copies)"
    # the journey and the fault explainer watch the machine from its first instruction
    feed = JourneyFeed(machine, runner, pause_at_milestones=cfg.pause_at_milestones)
    if history is not None:
        history.on_travel.append(lambda back: feed.set_pausing(cfg.pause_at_milestones and not back))
    conn.send(ReadyFrame(machine.image_path.name))
    runner.start(run=cfg.autostart)
    stop = threading.Event()
    publisher = threading.Thread(target=_publish, args=(conn, Publisher(machine, runner, feed), stop),
                                 name="bareflow-publisher", daemon=True)
    publisher.start()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "quit":
                break
            if msg[0] == "call" and msg[1] in COMMANDS:
                getattr(runner, msg[1])(*msg[2])
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
            conn.send(ByeFrame())
        except (OSError, EOFError):
            pass


def _publish(conn: Any, publisher: Publisher, stop: threading.Event) -> None:
    """Publisher thread: the changed frames every 1/PUBLISH_HZ s, as one message."""
    while not stop.wait(1 / PUBLISH_HZ):
        frames = publisher.tick()
        if not frames:
            continue
        try:
            conn.send(frames)
        except (OSError, EOFError, BrokenPipeError):
            return
