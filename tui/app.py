"""`bareflow-emu [IMAGE]`: the machine, live, in the terminal.

The app owns no emulation and never sees a machine: it talks to a session
(`bareflow.emu.session.SessionClient`: the machine runs in its own process) by sending commands
and reading the session's view 25 times a second (screen, cursor, COM1 output, counters, the
CPU view, the profile, the journey).  Emulator controls are F-keys bound with priority, so
every other key - Tab, Escape, ctrl+c - can reach the guest: the focused VGA screen turns keys
into PS/2 make/break codes, the focused COM1 log turns them into serial bytes.
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from bareflow.emu.session.client import RemoteSession, SessionClient, SessionConfig, SessionError
from bareflow.emu.session.frames import SessionView

from .cpu import CpuPanel
from .fault import FaultScreen, FaultTracker, summary
from .journey import JourneyScreen
from .profile import ProfilePanel
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
[b]Shift+F7[/b]  the page walk of an address: PDE/PTE, flags, physical address or where it stops
[b]Shift+F9[/b]  the interrupt path: where each IRQ line stops (mask, EOI, TPR, IF, gate) or its handler
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
    """The TUI over one session (`session`), or over the error that kept it from starting
    (`startup_error`, shown in the app, then any key exits with its status)."""

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
        Binding("f19,shift+f7", "page_walk", "Page walk", key_display="⇧F7", show=False, priority=True),
        Binding("f21,shift+f9", "irqs", "IRQs", key_display="⇧F9", priority=True),
    ]

    def __init__(self, session: SessionClient | None = None, *, image: str = "", blink: bool = True,
                 poll_hz: float = POLL_HZ, startup_error: SessionError | None = None) -> None:
        super().__init__()
        self.session = session
        self.startup_error = startup_error
        #: what the session last published (None until the app has a session)
        self.view: SessionView | None = None
        self.image = image
        self.blink = blink
        self.poll_hz = poll_hz
        self.error_message: str | None = None
        self.error_code = 64
        self._closed = False
        self._lines = LineSplitter()
        self._mips = RateMeter()
        self._fps = RateMeter()
        self._polls = 0
        self._cpu_seq = -1
        self._cpu_shown: tuple = (None, None)
        self._profile_shown: object = None
        self._seen_version = -1
        self._last_profile = 0.0
        self._last_status: StatusInfo | None = None
        self._graphics_seq = 0
        #: the journey timeline opens by itself on each milestone the run pauses at (once each)
        self._journey_opened_at: tuple | None = None
        self._faults = FaultTracker()
        #: event-driven polling (see _start_polling): a poll is posted / delayed / when it ran
        self._notified = False
        self._poll_posted = False
        self._poll_timer = None
        self._last_poll = 0.0
        #: polls so far (tests count the UI's wake-ups at idle with it)
        self.polls_done = 0
        #: figures the docs quote: polls per second and the guest's MIPS while running
        self.measured_fps: float | None = None
        self.measured_mips: float | None = None

    def get_driver_class(self):
        """Textual's Linux driver, but with an input thread that sleeps until a key comes
        (tui/driver.py); other platforms and drivers chosen by TEXTUAL_DRIVER as Textual has them."""
        cls = super().get_driver_class()
        if cls.__module__ == "textual.drivers.linux_driver" and cls.__name__ == "LinuxDriver":
            from .driver import QuietLinuxDriver
            return QuietLinuxDriver
        return cls

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
            self.view = self.session.poll()
            self._start_polling()

    def _start_polling(self) -> None:
        """A session that tells when frames arrive (the real one) is polled then, and the app
        sleeps while none come (an idle guest: one status update a second); one that does not
        (the tests' in-process fake) is polled POLL_HZ times a second."""
        self._notified = self.session.on_change(self._frames_arrived)
        if not self._notified:
            self.set_interval(1 / self.poll_hz, self.poll)
        if self.blink:
            self.vga.start_blinking(BLINK_TICK_S)
        self.poll()

    class _FramesArrived(Message):
        """The session applied new frames to its view (posted from its reader thread)."""

    def _frames_arrived(self) -> None:
        """Session reader thread: ask the UI thread for one poll (post_message is thread-safe);
        frames that arrive before it ran are shown by the same poll."""
        if not self._poll_posted:
            self._poll_posted = True
            self.post_message(self._FramesArrived())

    @on(_FramesArrived)
    def _on_frames_arrived(self) -> None:
        self._poll_posted = False           # first: frames arriving from now on post again
        wait = self._last_poll + 1 / self.poll_hz - time.monotonic()
        if wait <= 0:
            self.poll()
        elif self._poll_timer is None:      # at most POLL_HZ redraws a second
            self._poll_timer = self.set_timer(wait, self._delayed_poll)

    def _delayed_poll(self) -> None:
        self._poll_timer = None
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
        """Copy the session's view into the widgets (UI thread)."""
        if self.session is None:
            return
        v = self.view = self.session.poll()
        self._last_poll = time.monotonic()
        self.polls_done += 1
        self._fit(self.size.width, self.size.height)
        if v.version == self._seen_version:
            return      # no frame since the last poll: nothing to redraw (an idle guest)
        self._seen_version = v.version
        now = time.monotonic()
        with self.batch_update():
            self.vga.update_frame(v.screen, v.cursor)
            self._poll_graphics(v)
            self._poll_serial()
            if v.cpu_seq != self._cpu_seq:
                self._cpu_seq = v.cpu_seq
                note = "live, 4 Hz" if v.state == "running" else ""
                if not _same_cpu((v.cpu, note), self._cpu_shown):   # an idle guest's views repeat
                    self._cpu_shown = (v.cpu, note)
                    self.cpu.show(v.cpu, note)
            if now - self._last_profile >= PROFILE_EVERY_S and v.profile is not self._profile_shown:
                self._last_profile = now
                self._profile_shown = v.profile
                if self.profile.children:        # not while the app tears its widgets down
                    self.profile.update_profile(v.profile)
            self._polls += 1
            state = v.state
            if state == "running":
                mips = self._mips.sample(v.instructions, now)
                fps = self._fps.sample(self._polls, now)
                self.measured_mips = None if mips is None else mips / 1e6
                self.measured_fps = fps
                if v.machine_state == "idle":
                    state = "idle"
            else:
                self._mips.reset()
                self._fps.reset()
            self._poll_journey(v.journey, state, v.message)
            ring = v.cpu.ring_short if v.cpu is not None and v.cpu.mode == "protected" else ""
            info = StatusInfo(state, v.cycles, v.instructions, self.measured_mips, self.measured_fps,
                              self.image, len(v.breakpoints), v.message, ring)
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

    def _poll_graphics(self, v: SessionView) -> None:
        """Graphics frames replace the text screen in the VGA pane (and back on a text mode)."""
        if v.graphics_seq == self._graphics_seq:
            return
        self._graphics_seq = v.graphics_seq
        box = self.main_screen.query_one("#screen-box")
        if v.graphics is None:
            self.vga.set_graphics(None)
            box.border_title = "VGA 80x25"
        else:
            self.vga.set_graphics(v.graphics)
            box.border_title = f"VGA {v.graphics.mode}"

    def _poll_serial(self) -> None:
        for restart, new in self.session.take_serial():
            if restart:  # the machine was reset: COM1 output starts again
                self.serial.write("\n--- reset ---\n")
                self._lines = LineSplitter()
            if new:
                self.serial.feed(new)
                lines = self._lines.feed(new.decode("latin-1").replace("\r", ""))
                if lines:
                    self.profile.guest_lines(lines)

    # --- input to the guest -------------------------------------------------------------
    @on(VgaScreen.Scancodes)
    def _scancodes(self, event: VgaScreen.Scancodes) -> None:
        if self.session is not None:
            self.session.send_keys(event.codes)

    @on(VgaScreen.Pasted)
    def _pasted(self, event: VgaScreen.Pasted) -> None:
        if self.session is not None:
            self.session.type_text(event.text)

    @on(SerialLog.Typed)
    def _typed(self, event: SerialLog.Typed) -> None:
        if self.session is not None:
            self.session.send_serial(event.data)

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
        if self.session is not None:
            self.session.toggle()

    def action_step(self) -> None:
        if self.session is not None:
            self.session.step()

    def action_step_over(self) -> None:
        if self.session is not None:
            self.session.step_over()

    def action_journey(self) -> None:
        """The boot journey timeline (a modal that refreshes itself while open)."""
        if isinstance(self.screen, JourneyScreen):
            self.screen.dismiss()
        elif self.screen is self.main_screen or isinstance(self.screen, FaultScreen):
            self.push_screen(JourneyScreen(lambda: self.view.journey if self.view is not None else None))

    def action_step_back(self) -> None:
        if self.session is not None:
            self.session.step_back()

    def action_run_back(self) -> None:
        if self.session is not None:
            self.session.run_back()

    def action_run_back_to(self) -> None:
        self._ask("Run back to the last time this ran (symbol or address):",
                  lambda v: self.session.run_back_to(v))

    def action_reset(self) -> None:
        if self.session is not None:
            self.session.reset()

    def _ask(self, question: str, then: Callable[[str], None], allow_empty: bool = False) -> None:
        if self.session is None or isinstance(self.screen, (PromptScreen, ErrorScreen)):
            return

        def answered(value: str | None) -> None:
            if value is None or (not value and not allow_empty):
                return
            then(value)
        self.push_screen(PromptScreen(question, "symbol or address, e.g. matmul or 0x100000"), answered)

    def action_run_to(self) -> None:
        self._ask("Run to (symbol or address):", lambda v: self.session.run_to(v))

    def action_breakpoint(self) -> None:
        bps = ", ".join(f"{a:#x}" for a in sorted(self.view.breakpoints)) if self.view else ""
        self._ask("Toggle breakpoint (symbol or address)" + (f" [now: {bps}]" if bps else "") + ":",
                  lambda v: self.session.toggle_breakpoint(v))

    def action_screenshot(self) -> None:
        if self.session is None or self.view is None:
            return
        from .screenshot import default_path
        self.session.save_screen_png(default_path(self.image, self.view.cycles))

    def action_tables(self) -> None:
        from .tables import TablesScreen
        if isinstance(self.screen, TablesScreen):
            self.screen.dismiss()
        elif self.screen is self.main_screen and self.session is not None:
            self.push_screen(TablesScreen(self.session, lambda: self.view.cpu if self.view is not None else None))

    def action_page_walk(self) -> None:
        from .pagewalk import PageWalkScreen
        if isinstance(self.screen, PageWalkScreen):
            self.screen.dismiss()
        elif self.screen is self.main_screen and self.session is not None:
            self.push_screen(PageWalkScreen(self.session, lambda: self.view.cpu if self.view is not None else None))

    def action_irqs(self) -> None:
        from .irqs import IrqScreen
        if isinstance(self.screen, IrqScreen):
            self.screen.dismiss()
        elif self.screen is self.main_screen and self.session is not None:
            self.push_screen(IrqScreen(self.session, lambda: self.view.cpu if self.view is not None else None))

    def action_memory(self) -> None:
        self._ask("Memory view at (symbol or address; empty = stack):",
                  lambda v: self.session.set_memory(v or None), allow_empty=True)

    async def action_quit(self) -> None:
        self.shutdown()
        self.exit(return_code=self.error_code if self.error_message else 0)

    def shutdown(self) -> None:
        """Stop the guest and the emulator (idempotent)."""
        if self.session is not None and not self._closed:
            self._closed = True
            self.session.close()

    def on_unmount(self) -> None:
        self.shutdown()


def run_tui(image: str, *, memory_mb: int = 64, symbols: str | None = None,
            initial_keys: list[tuple[str | None, str]] = [],  # noqa: B006 (read-only)
            pause_at_milestones: bool = False, time_travel: bool = True,
            replay: dict | None = None) -> int:
    """Entry point for `bareflow-emu [IMAGE]` and `replay FILE --tui` (called by tui/cli.py);
    returns the exit code.

    The machine runs in its own process (emu/session/), started before Textual takes the
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
    app = BareflowApp(session, startup_error=error, image=Path(image).name)
    try:
        app.run()
    finally:
        if session is not None:
            session.close()
    if app.error_message:
        print(f"bareflow-emu: {app.error_message}", file=sys.stderr)
    return app.return_code or 0


def _same_cpu(a: tuple, b: tuple) -> bool:
    """The same CPU panel: equal views but for the counters (which the status line shows) and
    the same note.  A guest sleeping in HLT gives such views at every capture."""
    (va, na), (vb, nb) = a, b
    if na != nb or va is None or vb is None:
        return va is vb and na == nb
    return replace(va, cycles=0, instructions=0) == replace(vb, cycles=0, instructions=0)
