"""What crosses the session boundary: typed frames up, named commands down.

The emulator process (emu/session/publisher.py) turns the machine's state into *frames*, small
picklable dataclasses sent as messages over the pipe about 25 times a second, and only the
ones that changed.  The front end keeps a `SessionView`, a mirror built by applying the frames
in order; widgets read the view and never a machine.  Commands go the other way as a name from
`COMMANDS` plus arguments (emu/session/client.py).

This module imports nothing from the machine, so a front end can import it without Unicorn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Nominal CPU frequency (cycles per emulated second), for front ends that show emulated time.
from bareflow.emu.clock import CPU_HZ  # noqa: F401  (re-exported: the clock is the bottom layer)

SCREEN_BYTES = 80 * 25 * 2
#: COM1 bytes the view keeps for a front end that has not taken them yet (a stalled UI must not
#: make the view grow without bound; the log widget keeps far fewer lines anyway)
SERIAL_PENDING_MAX = 1 << 20

#: the commands a front end may send (each a method of emu/session/runner.py's `Runner`)
COMMANDS = ("toggle", "pause", "resume", "step", "step_over", "run_to", "toggle_breakpoint", "reset",
            "set_memory", "send_keys", "type_text", "send_serial", "step_back", "run_back", "run_back_to",
            "save_screen_png", "set_tables", "set_irqs", "set_walk")


# --------------------------------------------------------------------------- the CPU view
@dataclass
class Insn:
    addr: int
    raw: bytes
    text: str
    where: str  # "symbol+0x12" or ""


@dataclass
class CpuView:
    """Everything the CPU panel shows, read in one go on the emulator thread."""

    mode: str
    cpl: int
    regs: dict[str, int]
    gdtr: tuple[int, int]
    idtr: tuple[int, int]
    pc: int
    insns: list[Insn] = field(default_factory=list)
    mem_addr: int = 0
    mem_label: str = ""
    mem: bytes = b""
    #: privilege transitions so far (emu/privilege.py): panel line and status-bar form
    rings: str = ""
    ring_short: str = ""
    #: the decoded descriptor tables (emu/tables.py), only while the tables view is open
    tables: str = ""
    #: the page walk of one address (emu/page_walk.view_text), only while that view is open
    walk: str = ""
    #: the interrupt path of every IRQ line (emu/irqpath.py `rows`), only while that view is open
    irqs: list = field(default_factory=list)
    cycles: int = 0
    instructions: int = 0


# --------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class ReadyFrame:
    """The machine is built (first message of a session)."""
    image_name: str


@dataclass(frozen=True)
class ErrorFrame:
    """The machine could not be built: one line and the CLI's exit status (64 image, 2 usage, 70 bug)."""
    message: str
    exit_code: int


@dataclass(frozen=True)
class StateFrame:
    """Counters and the run state, sent when any of them changed.

    `state` is the runner's word (running, paused, halted, ...); `machine_state` the machine's
    own (idle while the guest waits in HLT); `message` the status line's note."""
    state: str
    machine_state: str
    message: str
    cycles: int
    instructions: int
    wall_seconds: float
    breakpoints: tuple[int, ...]


@dataclass(frozen=True)
class ScreenFrame:
    """The 4000 bytes of the VGA text screen (character, attribute), when they changed."""
    data: bytes


@dataclass(frozen=True)
class CursorFrame:
    row: int
    col: int
    visible: bool


@dataclass(frozen=True)
class SerialFrame:
    """New COM1 output.  `restart`: the machine was reset and its output starts again before `data`."""
    data: bytes
    restart: bool = False


@dataclass(frozen=True)
class CpuFrame:
    """A fresh CPU view (4 times a second while running, after every command)."""
    view: CpuView
    seq: int


@dataclass(frozen=True)
class ProfileFrame:
    """The per-function cycle profile (twice a second)."""
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class JourneyFrame:
    """The boot journey when it changed: {"milestones": [...], "fault": text|None, "paused_at": dict|None}."""
    data: dict[str, Any]


@dataclass(frozen=True)
class GraphicsFrame:
    """The VGA left or entered a graphics mode, or its picture changed: `frame` is the picture
    (emu/session/framebuffer.py's FramebufferFrame) or None for "back to a text mode"."""
    frame: Any


@dataclass(frozen=True)
class ByeFrame:
    """The emulator process has stopped the machine and is about to exit."""


Frame = (ReadyFrame | ErrorFrame | StateFrame | ScreenFrame | CursorFrame | SerialFrame | CpuFrame
         | ProfileFrame | JourneyFrame | GraphicsFrame | ByeFrame)


# --------------------------------------------------------------------------- the front end's mirror
class SessionView:
    """The latest state of the session as a front end sees it: frames applied in order.

    Owned by the front end's thread; a client applies frames to it (under its own lock when
    frames arrive on another thread).  COM1 output is not a growing copy of everything the
    guest printed: it waits here until `take_serial()` hands it over (at most
    SERIAL_PENDING_MAX bytes), with the resets in between."""

    def __init__(self) -> None:
        self.state = "starting"
        self.machine_state = "paused"
        self.message = ""
        self.cycles = 0
        self.instructions = 0
        self.wall_seconds = 0.0
        self.breakpoints: frozenset[int] = frozenset()
        self.screen = bytes(SCREEN_BYTES)
        self.cursor: tuple[int, int, bool] = (0, 0, False)
        self.cpu: CpuView | None = None
        self.cpu_seq = 0
        self.profile: list[dict[str, Any]] = []
        self.journey: dict[str, Any] | None = None
        #: the graphics picture (None: text mode) and how many GraphicsFrames came so far
        self.graphics: Any = None
        self.graphics_seq = 0
        self.resets = 0
        self.ended = False
        #: bumped by every frame applied: a front end with nothing new to show skips its redraw
        self.version = 0
        self._serial: list[tuple[bool, bytearray]] = []
        self._serial_len = 0

    def apply(self, frame: Frame) -> None:
        self.version += 1
        if isinstance(frame, StateFrame):
            self.state, self.machine_state, self.message = frame.state, frame.machine_state, frame.message
            self.cycles, self.instructions, self.wall_seconds = frame.cycles, frame.instructions, frame.wall_seconds
            self.breakpoints = frozenset(frame.breakpoints)
        elif isinstance(frame, ScreenFrame):
            self.screen = frame.data
        elif isinstance(frame, CursorFrame):
            self.cursor = (frame.row, frame.col, frame.visible)
        elif isinstance(frame, SerialFrame):
            self._add_serial(frame)
        elif isinstance(frame, CpuFrame):
            self.cpu, self.cpu_seq = frame.view, frame.seq
        elif isinstance(frame, ProfileFrame):
            self.profile = frame.rows
        elif isinstance(frame, JourneyFrame):
            self.journey = frame.data
        elif isinstance(frame, GraphicsFrame):
            self.graphics, self.graphics_seq = frame.frame, self.graphics_seq + 1
        elif isinstance(frame, ByeFrame):
            self.ended = True

    def _add_serial(self, frame: SerialFrame) -> None:
        if frame.restart:
            self.resets += 1
        if frame.restart or not self._serial:
            self._serial.append((frame.restart, bytearray()))
        self._serial[-1][1].extend(frame.data)
        self._serial_len += len(frame.data)
        while self._serial_len > SERIAL_PENDING_MAX:   # drop the oldest bytes, keep the markers
            restart, chunk = self._serial[0]
            cut = min(len(chunk), self._serial_len - SERIAL_PENDING_MAX)
            del chunk[:cut]
            self._serial_len -= cut
            if not chunk and len(self._serial) > 1 and not restart:
                self._serial.pop(0)

    def take_serial(self) -> list[tuple[bool, bytes]]:
        """COM1 output since the last call: [(restart before it?, bytes)], in order."""
        out = [(restart, bytes(chunk)) for restart, chunk in self._serial]
        self._serial.clear()
        self._serial_len = 0
        return out
