"""`bareflow-emu [IMAGE]`: the machine, live, in the terminal.

The app owns no emulation: a `Runner` drives the `Machine` on its own thread, and the UI polls
the machine's thread-safe snapshots 30 times a second (screen, cursor, COM1 output, counters)
and the runner's published CPU view.  Emulator controls are F-keys bound with priority, so
every other key - Tab, Escape, ctrl+c - can reach the guest: the focused VGA screen turns keys
into PS/2 make/break codes, the focused COM1 log turns them into serial bytes.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from bareflow.emu.errors import BadImage, BareflowError

from .cpu import CpuPanel
from .fb_frame import TEXT, FramebufferWatch
from .fault import FaultScreen, FaultTracker, summary
from .journey import JourneyScreen
from .profile import ProfilePanel
from .remote import RemoteSession, SessionConfig, SessionError
from .runner import Runner
from .screen import VgaScreen
from .serial import LineSplitter, SerialLog
from .status import RateMeter, StatusBar, StatusInfo

POLL_HZ = 25
PROFILE_EVERY_S = 0.5
BLINK_TICK_S = 8 / 70
#: below these terminal sizes the CPU/profile column, then the COM1 row, are hidden
NARROW_BELOW = 150
SHORT_BELOW = 40
TINY_BELOW = 29  # no borders, no footer: 80x25 + the status line

HELP_TEXT = """\
[b]BareFlow: a PC you can watch[/b]

[b]F5[/b]        run / pause the guest
[b]F6[/b]        step one instruction (pauses first)
[b]F7[/b]        step over a call (runs the callee, stops after it returns)
[b]F8[/b]        run to a symbol or address (e.g. [i]matmul[/i], [i]0x101000[/i], [i]kmain+0x20[/i])
[b]F9[/b]        toggle a breakpoint on a symbol or address
[b]F3[/b]        memory view at a symbol or address (empty = follow the stack)
[b]F4[/b]        switch focus: VGA screen <-> COM1 log
[b]F2[/b]        reset the machine
[b]F1[/b]        this help
[b]F10[/b], [b]ctrl+q[/b]  quit (stops the guest)

[b]Shift+F1[/b]  the boot journey: each milestone with its cycle and what it means
[b]Shift+F6[/b]  step back one instruction (time travel)
[b]Shift+F5[/b]  run back to the previous breakpoint hit
[b]Shift+F8[/b]  run back to the last time a symbol or address ran
[b]Shift+F3[/b]  save the VGA picture as PNG (native size, as [i]run --screen-png[/i])
[b]Shift+F4[/b]  the descriptor tables: GDT, IDT, TSS decoded (as Bochs's info gdt/idt)
Going back restores a checkpoint and re-runs to the moment wanted (the clock is exact), which
can take a second or more.  A terminal sends Shift+F5..F8 as F17..F20, which the guest's
keyboard has no key for, so these never take a key from the guest.  After a triple fault or a
halt that follows an exception, the fault explainer says why; Shift+F1 shows it again.

With the [b]VGA screen[/b] focused, every other key goes to the guest's PS/2 keyboard as
make and break codes (set 1); pasting types the text.  With the [b]COM1 log[/b] focused,
keys are sent to the serial port (Enter = LF); Page Up/Down scroll the log.

Addresses are hexadecimal (0x optional) or [i]#decimal[/i]; symbols come from the ELF.

Press Escape or F1 to close."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", priority=True)]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(HELP_TEXT, id="help-text")


class PromptScreen(ModalScreen[str | None]):
    """One-line question (address/symbol); Enter answers, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.question)
            yield Input(placeholder=self.placeholder, id="prompt-input")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ErrorScreen(ModalScreen[None]):
    """A fatal start-up error (bad image): shown, then any key exits non-zero."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Label("[b]bareflow-emu cannot start this machine[/b]")
            yield Label(self.message, id="error-message")
            yield Label("Press any key to exit.")

    def on_key(self, event) -> None:
        event.stop()
        self.app.exit(return_code=getattr(self.app, "error_code", 64))


class BareflowApp(App[int]):
    """The TUI over one machine.  `machine_factory` builds it (so a bad image is reported in
    the app); `autostart` False leaves the guest paused at its first instruction."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses elsewhere work too
    TITLE = "BareFlow"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True),
        Binding("f2", "reset", "Reset", priority=True),
        Binding("f3", "memory", "Memory", priority=True),
        Binding("f4", "switch_focus", "Focus", priority=True),
        Binding("f5", "run_pause", "Run/Pause", priority=True),
        Binding("f6", "step", "Step", priority=True),
        Binding("f7", "step_over", "Step over", priority=True),
        Binding("f8", "run_to", "Run to", priority=True),
        Binding("f9", "breakpoint", "Breakpoint", priority=True),
        Binding("f10", "quit", "Quit", priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        # shifted F-keys: terminals send F13.. for them (shift+F1 = F13, shift+F5 = F17), keys
        # the PS/2 keyboard does not have; "shift+fN" is what the kitty protocol sends
        Binding("f13,shift+f1", "journey", "Journey", key_display="⇧F1", priority=True),
        Binding("f17,shift+f5", "run_back", "Run back", key_display="⇧F5", priority=True),
        Binding("f18,shift+f6", "step_back", "Step back", key_display="⇧F6", priority=True),
        Binding("f20,shift+f8", "run_back_to", "Back to", key_display="⇧F8", priority=True),
        Binding("f15,shift+f3", "screenshot", "PNG", key_display="⇧F3", priority=True),
        Binding("f16,shift+f4", "tables", "Tables", key_display="⇧F4", priority=True),
    ]

    def __init__(self, machine_factory: Callable[[], object] | None = None, *, image: str = "",
                 initial_keys: list[tuple[str | None, str]] | None = None, autostart: bool = True,
                 blink: bool = True, poll_hz: float = POLL_HZ,
                 session: RemoteSession | None = None, startup_error: SessionError | None = None) -> None:
        super().__init__()
        self.machine_factory = machine_factory
        #: a started `remote.RemoteSession` (the machine in its own process), or the error that
        #: kept it from starting; either overrides machine_factory
        self.session = session
        self.startup_error = startup_error
        self.image = image
        self.initial_keys = list(initial_keys or [])
        self.autostart = autostart
        self.blink = blink
        self.poll_hz = poll_hz
        self.machine = None
        self.runner: Runner | None = None
        self.error_message: str | None = None
        self.error_code = 64
        self._serial_pos = 0
        self._closed = False
        self._resets = 0
        self._lines = LineSplitter()
        self._mips = RateMeter()
        self._fps = RateMeter()
        self._polls = 0
        self._cpu_seq = -1
        self._last_profile = 0.0
        self._last_status: StatusInfo | None = None
        self._fb_watch = FramebufferWatch()
        #: the journey timeline opens by itself on each milestone the run pauses at (once each)
        self._journey_opened_at: tuple | None = None
        self._faults = FaultTracker()
        #: figures the docs quote: polls per second and the guest's MIPS while running
        self.measured_fps: float | None = None
        self.measured_mips: float | None = None

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            with Vertical(id="screen-box") as box:
                box.border_title = "VGA 80x25"
                yield VgaScreen(id="vga", blink=self.blink)
            with Vertical(id="cpu-box") as box:
                box.border_title = "CPU"
                yield CpuPanel(id="cpu")
        with Horizontal(id="bottom"):
            with Vertical(id="serial-box") as box:
                box.border_title = "COM1 (F4 to type here)"
                yield SerialLog(id="serial")
            with Vertical(id="profile-box") as box:
                box.border_title = "Profile"
                yield ProfilePanel(id="profile")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        # keep the main screen's widgets: while a prompt is open, app.query_one would search it
        self.vga = self.query_one("#vga", VgaScreen)
        self.serial = self.query_one("#serial", SerialLog)
        self.cpu = self.query_one("#cpu", CpuPanel)
        self.profile = self.query_one("#profile", ProfilePanel)
        self.status = self.query_one("#status", StatusBar)
        self.main_screen = self.screen
        self._fit(self.size.width, self.size.height)
        self.vga.focus()
        if self.startup_error is not None:
            self._fatal(str(self.startup_error), self.startup_error.exit_code)
            return
        if self.session is not None:
            self.machine, self.runner = self.session.machine, self.session.runner
            self._start_polling()
            return
        try:
            self.machine = self.machine_factory()
        except BareflowError as err:
            # the CLI's statuses: 64 for an image that cannot boot, 2 for a bad argument
            self._fatal(str(err), 64 if isinstance(err, BadImage) else 2)
            return
        except OSError as err:
            self._fatal(f"cannot read the image: {err.strerror or err}", 64)
            return
        except Exception as err:  # a bug of ours: one line, the CLI's internal-error status
            self._fatal(f"internal error: {type(err).__name__}: {err}", 70)
            return
        self.runner = Runner(self.machine, initial_keys=self.initial_keys)
        self.runner.start(run=self.autostart)
        self._start_polling()

    def _start_polling(self) -> None:
        self.set_interval(1 / self.poll_hz, self.poll)
        if self.blink:
            self.set_interval(BLINK_TICK_S, self.vga.tick_blink)
        self.poll()

    def on_resize(self, event) -> None:
        if hasattr(self, "main_screen"):
            self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """Small terminals keep what matters most: the VGA screen, then COM1, then the rest
        (the guest prints the same on VGA and COM1, so nothing is lost).  Also called from
        poll(): a terminal that changes size while the app starts must not stay in a layout
        for the wrong size."""
        if (width, height) == getattr(self, "_fitted", None):
            return
        self._fitted = (width, height)
        self.main_screen.set_class(width < NARROW_BELOW, "narrow")
        self.main_screen.set_class(height < SHORT_BELOW, "short")
        self.main_screen.set_class(height < TINY_BELOW or width < 82, "tiny")

    def _fatal(self, message: str, code: int) -> None:
        self.error_message = message
        self.error_code = code or 64
        self.status.show(StatusInfo("error", 0, 0, None, None, self.image, 0, message))
        self.push_screen(ErrorScreen(message))

    # --- polling ------------------------------------------------------------------------
    def poll(self) -> None:
        """Copy the machine's thread-safe snapshots into the widgets (UI thread)."""
        m, runner = self.machine, self.runner
        if m is None or runner is None:
            return
        now = time.monotonic()
        self._fit(self.size.width, self.size.height)
        runner.refresh_cpu()
        with self.batch_update():
            self.vga.update_frame(m.screen_bytes(), tuple(m.cursor())[:3])
            self._poll_graphics(m)
            self._poll_serial(m.serial_out)
            if runner.cpu_seq != self._cpu_seq:
                self._cpu_seq = runner.cpu_seq
                self.cpu.show(runner.cpu_view, "live, 4 Hz" if runner.state == "running" else "")
            if now - self._last_profile >= PROFILE_EVERY_S:
                self._last_profile = now
                if self.profile.children:        # not while the app tears its widgets down
                    self.profile.update_profile(m.profile_table())
            self._polls += 1
            state = runner.state
            if state == "running":
                mips = self._mips.sample(m.instructions, now)
                fps = self._fps.sample(self._polls, now)
                self.measured_mips = None if mips is None else mips / 1e6
                self.measured_fps = fps
                if getattr(m, "state", "") == "idle":
                    state = "idle"
            else:
                self._mips.reset()
                self._fps.reset()
            self._poll_journey(getattr(m, "journey", None), state, runner.message)
            view = runner.cpu_view
            ring = getattr(view, "ring_short", "") if view is not None and view.mode == "protected" else ""
            info = StatusInfo(state, m.cycles, m.instructions, self.measured_mips, self.measured_fps,
                              self.image, len(m.breakpoints), runner.message, ring)
            if info != self._last_status:
                self._last_status = info
                self.status.show(info)

    def _poll_journey(self, data: dict | None, state: str, message: str) -> None:
        """Open the timeline on a milestone the run paused at, the fault explainer on a fault."""
        if not data:
            return
        paused = data.get("paused_at")
        if paused is not None and state == "paused" and message.startswith("paused at a milestone"):
            key = (paused.get("cycle"), paused.get("title"))
            if key != self._journey_opened_at and self.screen is self.main_screen:
                self._journey_opened_at = key
                self.action_journey()
        shown = self._faults.check(data.get("fault"), state)
        if shown is not None:
            kind, text = shown
            if kind == "modal" and self.screen is self.main_screen:
                self.push_screen(FaultScreen(text, state))
            else:
                self.notify(summary(text) + "  (Shift+F1: the journey explains it)", title="Exception",
                            severity="warning", timeout=8)

    def _poll_graphics(self, m) -> None:
        """Graphics frames replace the text screen in the VGA pane (and back on a text mode)."""
        fb = self._fb_watch.poll(m)
        if fb is None:
            return
        box = self.main_screen.query_one("#screen-box")
        if fb == TEXT:
            self.vga.set_graphics(None)
            box.border_title = "VGA 80x25"
        else:
            self.vga.set_graphics(fb)
            box.border_title = f"VGA {fb.mode}"

    def _poll_serial(self, out: bytearray) -> None:
        n = len(out)
        if self.runner.resets != self._resets:  # the machine was reset: COM1 output starts again
            self._resets = self.runner.resets
            self._serial_pos = 0
            self.serial.write("\n--- reset ---\n")
            self._lines = LineSplitter()
        if n > self._serial_pos:
            new = bytes(out[self._serial_pos:n])
            self._serial_pos = n
            self.serial.feed(new)
            lines = self._lines.feed(new.decode("latin-1").replace("\r", ""))
            if lines:
                self.profile.guest_lines(lines)

    # --- input to the guest -------------------------------------------------------------
    @on(VgaScreen.Scancodes)
    def _scancodes(self, event: VgaScreen.Scancodes) -> None:
        if self.runner is not None:
            self.runner.send_keys(event.codes)

    @on(VgaScreen.Pasted)
    def _pasted(self, event: VgaScreen.Pasted) -> None:
        if self.runner is not None:
            self.runner.type_text(event.text)

    @on(SerialLog.Typed)
    def _typed(self, event: SerialLog.Typed) -> None:
        if self.runner is not None:
            self.runner.send_serial(event.data)

    # --- actions ------------------------------------------------------------------------
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())

    def action_switch_focus(self) -> None:
        vga = self.vga
        (self.serial if vga.has_focus else vga).focus()

    def action_run_pause(self) -> None:
        if self.runner is not None:
            self.runner.toggle()

    def action_step(self) -> None:
        if self.runner is not None:
            self.runner.step()

    def action_step_over(self) -> None:
        if self.runner is not None:
            self.runner.step_over()

    def action_journey(self) -> None:
        """The boot journey timeline (a modal that refreshes itself while open)."""
        if isinstance(self.screen, JourneyScreen):
            self.screen.dismiss()
        elif self.screen is self.main_screen or isinstance(self.screen, FaultScreen):
            self.push_screen(JourneyScreen(lambda: getattr(self.machine, "journey", None)))

    def _travel(self, name: str, *args: str) -> None:
        fn = getattr(self.runner, name, None) if self.runner is not None else None
        if fn is None:
            self.notify("time travel is not available here", severity="warning")
            return
        fn(*args)

    def action_step_back(self) -> None:
        self._travel("step_back")

    def action_run_back(self) -> None:
        self._travel("run_back")

    def action_run_back_to(self) -> None:
        self._ask("Run back to the last time this ran (symbol or address):",
                  lambda v: self._travel("run_back_to", v))

    def action_reset(self) -> None:
        if self.runner is not None:
            self.runner.reset()

    def _ask(self, question: str, then: Callable[[str], None], allow_empty: bool = False) -> None:
        if self.runner is None or isinstance(self.screen, (PromptScreen, ErrorScreen)):
            return

        def answered(value: str | None) -> None:
            if value is None or (not value and not allow_empty):
                return
            then(value)
        self.push_screen(PromptScreen(question, "symbol or address, e.g. matmul or 0x100000"), answered)

    def action_run_to(self) -> None:
        self._ask("Run to (symbol or address):", lambda v: self.runner.run_to(v))

    def action_breakpoint(self) -> None:
        bps = ", ".join(f"{a:#x}" for a in sorted(self.machine.breakpoints)) if self.machine else ""
        self._ask("Toggle breakpoint (symbol or address)" + (f" [now: {bps}]" if bps else "") + ":",
                  lambda v: self.runner.toggle_breakpoint(v))

    def action_screenshot(self) -> None:
        if self.runner is None or self.machine is None:
            return
        from .screenshot import default_path
        self.runner.save_screen_png(default_path(self.image, self.machine.cycles))

    def action_tables(self) -> None:
        from .tables import TablesScreen
        if isinstance(self.screen, TablesScreen):
            self.screen.dismiss()
        elif self.screen is self.main_screen and self.runner is not None:
            self.push_screen(TablesScreen(self.runner))

    def action_memory(self) -> None:
        self._ask("Memory view at (symbol or address; empty = stack):",
                  lambda v: self.runner.set_memory(v or None), allow_empty=True)

    async def action_quit(self) -> None:
        self.shutdown()
        self.exit(return_code=self.error_code if self.error_message else 0)

    def shutdown(self) -> None:
        """Stop the guest and join the emulator thread (idempotent)."""
        if self.runner is not None:
            stopped = self.runner.stop()
            close = getattr(self.machine, "close", None)
            if stopped and close is not None and not self._closed:
                self._closed = True
                close()

    def on_unmount(self) -> None:
        self.shutdown()


def run_tui(image: str, *, memory_mb: int = 64, symbols: str | None = None,
            initial_keys: list[tuple[str | None, str]] = [],  # noqa: B006 (read-only)
            pause_at_milestones: bool = False, time_travel: bool = True,
            replay: dict | None = None) -> int:
    """Entry point for `bareflow-emu [IMAGE]` (called by emu/cli.py); returns the exit code.

    The machine runs in its own process (tui/remote.py), started before Textual takes the
    terminal over (multiprocessing needs the real stderr); a start-up error is then shown in
    the app like any other."""
    cfg = SessionConfig(image=str(image), memory_mb=memory_mb, symbols=symbols, initial_keys=list(initial_keys),
                        pause_at_milestones=pause_at_milestones, time_travel=time_travel,
                        replay=replay, autostart=replay is None)
    session: RemoteSession | None = None
    error: SessionError | None = None
    try:
        session = RemoteSession(cfg)
    except SessionError as err:
        error = err
    app = BareflowApp(session=session, startup_error=error, image=Path(image).name)
    try:
        app.run()
    finally:
        if session is not None:
            session.close()
    if app.error_message:
        print(f"bareflow-emu: {app.error_message}", file=sys.stderr)
    return app.return_code or 0
