"""The fault explainer's words in the TUI: a modal over the app when the guest faults.

`bareflow.emu.explain.FaultWatcher` runs in the emulator process (tui/journey.py's JourneyFeed)
and its text arrives with the snapshots as plain text: the one-line cause first, then the
delivery steps, the descriptor bytes and the last instructions executed.  `FaultScreen` shows it
whole, scrollable; `summary` gives the first line for the status bar and notifications.

`FaultTracker` decides when to show it, on the UI thread: the modal opens once per new
explanation when the run has stopped in an end state (triple fault, halt, guest error: the
guest cannot go on, so this is the answer to "what happened?"); an exception the guest
handles and runs on from only gets a notification, because a class watching a kernel take its
timer interrupts should not be interrupted by a modal each time.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

#: runner states in which a new fault explanation opens the modal
END_STATES = ("triple fault", "halted", "guest error")


def summary(text: str) -> str:
    """The explanation's first line (its one-line cause)."""
    return text.strip().splitlines()[0] if text.strip() else ""


class FaultScreen(ModalScreen[None]):
    """The fault explanation, whole.  Escape closes it; it can be opened again from the
    journey timeline (the fault's milestone) or with its key."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    FaultScreen { align: center middle; }
    FaultScreen > #fault-box { width: 95%; height: 85%; border: round $error; background: $surface; }
    FaultScreen #fault-scroll { height: 1fr; }
    """

    def __init__(self, text: str, state: str = "") -> None:
        super().__init__()
        self.text = text
        self.state = state

    def compose(self) -> ComposeResult:
        with Vertical(id="fault-box"):
            where = f" ({self.state})" if self.state else ""
            yield Label(f"[b]Fault explainer[/b]{where}  (Esc: close; the boot journey, shift+F1, has it too)")
            with VerticalScroll(id="fault-scroll"):
                yield Static(self.text, id="fault-text", markup=False)

    def body(self) -> str:
        return str(self.query_one("#fault-text", Static).render())


class FaultTracker:
    """Remembers which explanation the user has seen, so each is shown once."""

    def __init__(self) -> None:
        self.shown: str | None = None
        self.notified: str | None = None

    def check(self, fault: str | None, state: str) -> tuple[str, str] | None:
        """('modal' | 'notify', text) when something new should be shown, else None."""
        if not fault:
            return None
        if state in END_STATES and fault != self.shown:
            self.shown = self.notified = fault
            return "modal", fault
        if state not in END_STATES and fault != self.notified and fault != self.shown:
            self.notified = fault
            return "notify", fault
        return None
