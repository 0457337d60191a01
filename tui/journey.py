"""The boot journey in the TUI: a timeline of milestones and the fault explainer's words.

Two halves, because the machine runs in its own process (tui/remote.py):

* `JourneyFeed` lives in the emulator process, next to the `Runner`: it attaches a
  `bareflow.emu.journey.Journey` and a `FaultWatcher` to the real machine, optionally pauses
  the runner at each milestone (`--pause-at-milestones`, for a class), and `publish()` returns
  plain data (lists of dicts and strings) for the snapshot pipe, only when something changed.
* `JourneyPanel` (a widget) and `JourneyScreen` (a modal over the app) live in the UI process
  and show that data: one line per milestone with its cycle stamp, and below it the selected
  milestone's sentences and decoded details, or the explanation of the last fault.

The widget never touches a machine, so it works the same over a pipe, a fake, or in tests.
"""
from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

CPU_HZ = 100_000_000


# --------------------------------------------------------------------------- emulator process
class JourneyFeed:
    """Emulator-process half: the journey and the fault explainer on the real machine."""

    def __init__(self, machine: Any, runner: Any = None, *, pause_at_milestones: bool = False) -> None:
        from bareflow.emu.explain import FaultWatcher
        from bareflow.emu.journey import Journey

        self.machine = machine
        self.runner = runner
        self.journey = Journey().attach(machine)
        self.watcher = FaultWatcher(machine)
        self.watcher.on_explanation.append(self.journey.add_explanation)
        self.pause_at_milestones = pause_at_milestones
        #: the milestone the run paused at (shown by the UI), or None
        self.paused_at: dict[str, Any] | None = None
        self._last_key: tuple | None = None
        self.journey.listeners.append(self._on_milestone)

    def _on_milestone(self, m: Any) -> None:
        # runs on the emulator thread, inside the machine's run loop: ask for a pause only
        if self.pause_at_milestones and m.pause:
            self.paused_at = m.to_dict()
            if self.runner is not None:
                self.runner.pause()
                self.runner.message = f"paused at a milestone: {m.title}"
            else:
                self.machine.request_pause()

    def publish(self) -> dict[str, Any] | None:
        """{"milestones": [...], "fault": text | None, "paused_at": dict | None} when it changed."""
        ms = self.journey.milestones
        last = self.watcher.last
        key = (len(ms), self.journey.revision, ms[-1].title if ms else "", ms[-1].text if ms else "",
               id(last), self.paused_at is not None and self.paused_at.get("cycle"))
        if key == self._last_key:
            return None
        self._last_key = key
        return {"milestones": [m.to_dict() for m in ms], "fault": last.text() if last is not None else None,
                "paused_at": self.paused_at}


# --------------------------------------------------------------------------- UI process
def milestone_line(m: dict[str, Any], cpu_hz: int = CPU_HZ) -> Text:
    """'   9,193,068  91.931 ms  Far jump ...' with the stamp dimmed."""
    ms = m["cycle"] * 1000.0 / cpu_hz
    line = Text(f"{m['cycle']:>13,} {ms:9.3f} ms  ", style="dim")
    style = "bold red" if m["kind"] in ("triple_fault", "fault", "exception") else \
        "bold" if m.get("pause", True) else ""
    line.append(m["title"], style=style)
    return line


def milestone_detail(m: dict[str, Any]) -> Text:
    out = Text(m["title"] + "\n", style="bold")
    out.append(m["text"] + "\n")
    for d in m.get("details", []):
        out.append("  " + d + "\n", style="cyan")
    return out


class JourneyPanel(Vertical):
    """The timeline: milestone list on top, the highlighted milestone's explanation below."""

    DEFAULT_CSS = """
    JourneyPanel { height: 1fr; }
    JourneyPanel > #journey-list { height: 2fr; border: none; }
    JourneyPanel > #journey-detail-box { height: 1fr; border-top: solid $secondary; }
    """

    def __init__(self, *, cpu_hz: int = CPU_HZ, **kw: Any) -> None:
        super().__init__(**kw)
        self.cpu_hz = cpu_hz
        self.milestones: list[dict[str, Any]] = []
        self.fault: str | None = None
        self.follow = True          # keep the newest milestone highlighted until the user moves

    def compose(self) -> ComposeResult:
        yield OptionList(id="journey-list")
        with VerticalScroll(id="journey-detail-box"):
            yield Static("The boot journey appears here as the machine boots.", id="journey-detail")

    def update_from(self, data: dict[str, Any] | None) -> None:
        """Take a `JourneyFeed.publish()` result (None: nothing changed)."""
        if not data:
            return
        self.set_milestones(data.get("milestones", []), fault=data.get("fault"))
        paused = data.get("paused_at")
        if paused is not None:
            self.show_cycle(paused["cycle"], paused["title"])

    def set_milestones(self, milestones: list[dict[str, Any]], *, fault: str | None = None) -> None:
        ol = self.query_one("#journey-list", OptionList)
        old = ol.highlighted
        self.milestones = list(milestones)
        self.fault = fault
        ol.clear_options()
        ol.add_options([Option(milestone_line(m, self.cpu_hz)) for m in self.milestones])
        if not self.milestones:
            return
        if self.follow or old is None:
            ol.highlighted = len(self.milestones) - 1
        else:
            ol.highlighted = min(old, len(self.milestones) - 1)
        self._show(ol.highlighted)

    def show_cycle(self, cycle: int, title: str) -> None:
        """Highlight the milestone with this stamp and title (the one the run paused at)."""
        for i, m in enumerate(self.milestones):
            if m["cycle"] == cycle and m["title"] == title:
                self.query_one("#journey-list", OptionList).highlighted = i
                self._show(i)
                return

    def _show(self, index: int | None) -> None:
        detail = self.query_one("#journey-detail", Static)
        if index is None or not 0 <= index < len(self.milestones):
            return
        m = self.milestones[index]
        text = milestone_detail(m)
        if self.fault and m["kind"] in ("exception", "triple_fault", "fault", "end") and \
                index >= len(self.milestones) - 2:
            text.append("\nFault explainer\n", style="bold red")
            text.append(self.fault)
        detail.update(text)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.follow = event.option_index == len(self.milestones) - 1
        self._show(event.option_index)

    def detail_text(self) -> str:
        """What the detail pane shows now, as plain text (for tests and screen readers)."""
        return str(self.query_one("#journey-detail", Static).render())


class JourneyScreen(ModalScreen[None]):
    """The timeline over the whole app (a key opens it; it refreshes itself from `source`).

    `source()` returns the latest `JourneyFeed.publish()` data kept by the UI process (or
    None); the screen polls it a few times a second so the timeline grows while it is open."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", priority=True)]
    DEFAULT_CSS = """
    JourneyScreen { align: center middle; }
    JourneyScreen > #journey-box { width: 95%; height: 90%; border: round $accent; background: $surface; }
    """

    def __init__(self, source: Callable[[], dict[str, Any] | None], *, cpu_hz: int = CPU_HZ) -> None:
        super().__init__()
        self.source = source
        self.cpu_hz = cpu_hz
        self._seen: Any = None

    def compose(self) -> ComposeResult:
        with Vertical(id="journey-box"):
            yield Label("[b]Boot journey[/b]  (arrows: select a milestone, Esc: close)")
            yield JourneyPanel(cpu_hz=self.cpu_hz, id="journey")

    def on_mount(self) -> None:
        self._refresh()
        self.set_interval(0.25, self._refresh)

    def _refresh(self) -> None:
        data = self.source()
        if data is not None and data is not self._seen:
            self._seen = data
            self.query_one(JourneyPanel).update_from(data)
