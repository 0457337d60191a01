"""The emulator process of a session: it runs the machine and publishes frames.

Why a process and not just the emulator thread: much of the machine is Python (the BIOS, device
models, timer ticks while the guest idles in HLT).  Sharing one interpreter, the UI thread got
the GIL only every few switch intervals and redrew the screen 4-10 times a second, and the guest
lost speed to Textual.  Here the child process runs the `Runner` over the real `Machine` plus a
publisher thread that sends the frames that changed (emu/session/frames.py) 25 times a second
(once a second while nothing visible changes, see IDLE_PUBLISH_S):
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
#: While nothing visible changes (the guest sleeps in HLT at its prompt, or the machine is
#: paused), the publisher looks every IDLE_PUBLISH_S instead: the counters on the status line
#: still move, once a second (each look is a message, a wake-up of the UI and a redraw of the
#: status line).  A command from the front end (a key, F5...) or a byte the guest writes to COM1
#: wakes it at once, and any visible change (screen, cursor, COM1, state) brings back the full
#: rate (issue 11: the idle TUI's two processes took ~30% of a core, mostly sending and redrawing
#: unchanged data).
IDLE_PUBLISH_S = 1.0
#: after a command, once the guest has written to COM1 (a key's echo), this long for the rest
#: of the echo (the guest writes its screen beside it) before the frames go out
ECHO_SETTLE_S = 0.005
#: quiet ticks in a row (at the full rate) before the publisher slows down
IDLE_AFTER_TICKS = 5
#: below this many guest instructions per second the guest is not computing: what an idle
#: kernel's timer interrupts retire (fluid_llama at its prompt: ~10,000/s); a computing guest
#: retires millions
IDLE_MAX_IPS = 500_000
#: while quiet: a CPU view every IDLE_CPU_EVERY_S; the profile at most every
#: IDLE_PROFILE_EVERY_S, and only once the guest has retired IDLE_PROFILE_GROWTH more
#: instructions than at the last one sent (the shares shown then move by less than that)
IDLE_CPU_EVERY_S = 2.0
IDLE_PROFILE_EVERY_S = 5.0
IDLE_PROFILE_GROWTH = 0.01


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
        self._profile_insns = -1
        self._last_tick = (time.monotonic(), 0)
        #: ticks in a row that changed nothing but the counters of an idle or stopped guest
        self.quiet_ticks = 0
        #: told True when the publisher goes quiet, False when it leaves it (serve() lets the
        #: idle guest lag the wall clock while quiet: emu/pacing.py QUIET_LAG_S)
        self.on_quiet: Callable[[bool], None] | None = None
        self._told_quiet = False
        self._told_lock = threading.Lock()    # tick (publisher thread) and wake (command loop)

    def _tell_quiet(self) -> None:
        with self._told_lock:
            quiet = self.quiet
            if quiet != self._told_quiet:
                self._told_quiet = quiet
                if self.on_quiet is not None:
                    self.on_quiet(quiet)

    @property
    def quiet(self) -> bool:
        """Nothing visible has changed for a while: publish at the idle rate."""
        return self.quiet_ticks >= IDLE_AFTER_TICKS

    def period(self) -> float:
        """Seconds until the next tick."""
        return IDLE_PUBLISH_S if self.quiet else 1 / PUBLISH_HZ

    def wake(self) -> None:
        """A command came from the front end: look at full rate again (its effect is visible)."""
        self.quiet_ticks = 0
        self._tell_quiet()

    def tick(self) -> list[Frame]:
        m, r = self.machine, self.runner
        quiet = self.quiet
        live_view = getattr(r, "want_tables", False) or getattr(r, "want_irqs", False)   # a modal watches
        r.refresh_cpu(IDLE_CPU_EVERY_S if quiet and not live_view else None)
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
        insns = m.instructions
        if quiet and self.quiet_ticks == IDLE_AFTER_TICKS:    # just went quiet: the last figures
            due = insns != self._profile_insns
        elif quiet:
            due = (now - self._last_profile >= IDLE_PROFILE_EVERY_S
                   and abs(insns - self._profile_insns) > IDLE_PROFILE_GROWTH * self._profile_insns)
        else:
            due = now - self._last_profile >= PROFILE_EVERY_S and insns != self._profile_insns
        if due:
            self._last_profile = now
            self._profile_insns = insns
            frames.append(ProfileFrame(m.profile_table()))
        graphics = self._graphics()
        if graphics is not None:
            frames.append(GraphicsFrame(None if graphics == TEXT else graphics))
        journey = self._journey()
        if journey is not None:
            frames.append(JourneyFrame(journey))
        state = StateFrame(r.state, m.state, r.message, m.cycles, m.instructions,
                           m.wall_seconds, tuple(sorted(m.breakpoints)))
        visible = any(not isinstance(f, (StateFrame, ProfileFrame, CpuFrame)) for f in frames)
        t0, i0 = self._last_tick
        self._last_tick = (now, state.instructions)
        if state != self._state:
            old = self._state
            self._state = state
            frames.append(state)
            # counters that move while the guest sleeps in HLT (its timer interrupts) are not
            # activity; a guest that computes, or a change of state or message, is
            computing = state.instructions - i0 > IDLE_MAX_IPS * max(now - t0, 1 / PUBLISH_HZ)
            visible = visible or computing or old is None or (old.state, old.message, old.breakpoints) != (
                state.state, state.message, state.breakpoints)
        self.quiet_ticks = 0 if visible else self.quiet_ticks + 1
        self._tell_quiet()
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
    from bareflow.emu.pacing import QUIET_LAG_S

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
    nudge = threading.Event()      # set by a command: publish now, at the full rate
    pub = Publisher(machine, runner, feed)

    def on_quiet(quiet: bool) -> None:
        """Quiet: the idle guest may lag the wall clock by QUIET_LAG_S (fewer wake-ups,
        emu/pacing.py); anything else ends the lag at once, its overdue ticks running now."""
        machine.pace_lag = QUIET_LAG_S if quiet else 0.0
        if not quiet:
            machine.wake()
    pub.on_quiet = on_quiet
    echo = threading.Event()       # set by each COM1 byte: what a command (a key) caused has come

    def on_byte(_byte: int) -> None:
        """Emulator thread, each COM1 byte: a key's echo can be published at once, and guest
        output while quiet (a message printed without a key) is not left for the next idle look."""
        echo.set()
        if pub.quiet:
            nudge.set()
    machine.on_serial.append(on_byte)
    publisher = threading.Thread(target=_publish, args=(conn, pub, stop, nudge, echo),
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
                echo.clear()
                getattr(runner, msg[1])(*msg[2])
                pub.wake()
                nudge.set()
    finally:
        runner.stop()
        if history is not None:
            history.close()
        stop.set()
        nudge.set()
        publisher.join(2)
        try:
            machine.close()
        except Exception:
            pass
        try:
            conn.send(ByeFrame())
        except (OSError, EOFError):
            pass


def _publish(conn: Any, publisher: Publisher, stop: threading.Event, nudge: threading.Event,
             echo: threading.Event | None = None) -> None:
    """Publisher thread: the changed frames as one message, every 1/PUBLISH_HZ s (every
    IDLE_PUBLISH_S while nothing visible changes; at once after a command)."""
    while True:
        if nudge.wait(publisher.period()):
            nudge.clear()
            # let the command take effect first: a key's echo (its first COM1 byte, then
            # ECHO_SETTLE_S for the rest of it and the screen), at most 1/PUBLISH_HZ
            if echo is None:
                time.sleep(1 / PUBLISH_HZ)
            elif echo.wait(1 / PUBLISH_HZ):
                time.sleep(ECHO_SETTLE_S)
        if stop.is_set():
            return
        frames = publisher.tick()
        if not frames:
            continue
        try:
            conn.send(frames)
        except (OSError, EOFError, BrokenPipeError):
            return
