"""The status bar: where the machine is in time and how fast it is getting there.

Emulated time is modelled cycles / CPU_HZ (the guest's own clock, deterministic); MIPS is
guest instructions retired per second of host wall time, measured over the last second or so
(the figure to compare with `bareflow-emu run`); FPS is how often the UI actually redrew the
screen.  Cycles and time are exact; MIPS and FPS are host measurements and only shown while
the guest runs.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from rich.text import Text

from bareflow.emu.clock import CPU_HZ

from .textlines import TextLines

STATE_STYLES = {
    "running": "bold black on green", "paused": "bold black on yellow", "halted": "bold white on red",
    "powered off": "bold white on blue", "triple fault": "bold white on red", "breakpoint": "bold black on yellow",
    "error": "bold white on red", "guest error": "bold white on red", "reset": "bold white on red",
    "idle": "bold black on cyan",
}


class RateMeter:
    """Rate of a growing counter over a sliding wall-clock window (default 1 s)."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, value: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, value))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        t0, v0 = self._samples[0]
        if now - t0 <= 0:
            return None
        return (value - v0) / (now - t0)

    def reset(self) -> None:
        self._samples.clear()


@dataclass
class StatusInfo:
    state: str
    cycles: int
    instructions: int
    mips: float | None
    fps: float | None
    image: str
    breakpoints: int
    message: str = ""
    ring: str = ""          # "CPL 3 user, 2x 0->3 / 1x 3->0" (emu/privilege.py)


def format_time(cycles: int) -> str:
    """Emulated seconds with microsecond resolution (exact integer arithmetic)."""
    us = cycles * 1_000_000 // CPU_HZ
    return f"{us // 1_000_000}.{us % 1_000_000:06d} s"


def render_status(info: StatusInfo) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f" {info.state.upper()} ", style=STATE_STYLES.get(info.state, "bold reverse"))
    t.append(f"  cycles {info.cycles:,}  t={format_time(info.cycles)}  insns {info.instructions:,}")
    if info.state in ("running", "idle"):
        if info.mips is not None:
            t.append(f"  {info.mips:6.1f} MIPS", style="bold")
        if info.fps is not None:
            t.append(f"  {info.fps:4.1f} fps")
    if info.ring:
        t.append(f"  {info.ring}", style="bold magenta" if info.ring.startswith("CPL 3") else "")
    if info.breakpoints:
        t.append(f"  bp {info.breakpoints}", style="red")
    if info.message:
        t.append(f"  {info.message}", style="italic")
    t.append(f"  {info.image}", style="dim")
    return t


class StatusBar(TextLines):
    """One line at the bottom, above the key footer (a line-API widget: see textlines.py)."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    """

    def show(self, info: StatusInfo) -> None:
        self.set_text(render_status(info))
