"""A modal screen that shows one text field of the live CPU view (the tables, the page walk).

The text is computed on the emulator thread only while such a screen is open: the screen asks
the session for it when mounted (`start`) and stops asking when closed (`stop`); four times a
second it shows the newest CpuView's field if it changed.  Subclasses name the field
(`FIELD`), the Static that shows it (`TEXT_ID`), and how to start and stop the session's work.
"""
from __future__ import annotations

from textual.screen import ModalScreen
from textual.widgets import Static


class LiveTextScreen(ModalScreen[None]):
    FIELD = ""      # the CpuView attribute shown
    TEXT_ID = ""    # the id of the Static that shows it

    def __init__(self, session, cpu_view) -> None:
        """`session`: the SessionClient (asked for the field while this screen is open);
        `cpu_view()`: the latest CpuView the session published."""
        super().__init__()
        self.session = session
        self.cpu_view = cpu_view
        self._shown = None

    def start(self) -> None:
        """Ask the session to compute FIELD into each CPU view."""

    def stop(self) -> None:
        """Ask the session to stop computing FIELD."""

    def on_mount(self) -> None:
        self.start()
        self.set_interval(0.25, self.refresh_text)

    def on_unmount(self) -> None:
        self.stop()

    def refresh_text(self) -> None:
        view = self.cpu_view()
        text = getattr(view, self.FIELD, "") if view is not None else ""
        if text and text != self._shown:
            self._shown = text
            self.query_one(f"#{self.TEXT_ID}", Static).update(text)

    def body(self) -> str:
        return str(self.query_one(f"#{self.TEXT_ID}", Static).render())
