"""The one door for host input: COM1 bytes, typed text and set-1 scancodes.

Every input the guest gets from outside (stdin, --keys, the TUI, a replayed recording, time
travel re-feeding its journal) enters through `InputDoor.put`.  Called on the thread that runs
the machine (or before any thread has run it) the input reaches the device at once, exactly
where the emulator is (inside an I/O instruction, or between blocks); from any other thread it
waits in a thread-safe queue and the run loop takes it at the next block boundary.  Either
way it is journaled once, here: `Machine.input_log`, an "input" trace event and the
`hooks.inputs` subscribers (the recorder, time travel).  Devices see input only on the
emulator thread, so they hold no locks or queues of their own.
"""
from __future__ import annotations

import queue
import threading
from typing import Any

from .hooks import InputRecord


KINDS = ("serial", "keys", "scancodes")


class InputDoor:
    def __init__(self, core: Any) -> None:
        """`core` is the CPU core (emu/core.py) this part belongs to; typed loosely because the
        core imports this module, and the layers import only downward."""
        self._core = core
        self._queue: queue.SimpleQueue[tuple[str, Any, bool]] = queue.SimpleQueue()
        #: (cycle, kind, data) of every input that reached a device (snapshots truncate it)
        self.log: list[tuple[int, str, Any]] = []
        #: the thread that runs the machine; None until one has
        self.owner: int | None = None

    def put(self, kind: str, data: Any, *, replay: bool = False) -> None:
        """Thread-safe.  `replay=True` is for time travel re-feeding an input it journaled
        already: it reaches the device and `log` again (the restore cut the log), but the
        subscribers and the trace are not told twice."""
        if kind not in KINDS:
            raise ValueError(f"input kind {kind!r}: must be one of {', '.join(KINDS)}")
        data = bytes(data) if kind == "serial" else str(data) if kind == "keys" else [int(c) for c in data]
        if self.owner is None or self.owner == threading.get_ident():
            self._apply(kind, data, replay)
            return
        self._queue.put((kind, data, replay))
        self._core.wake()

    def pending(self) -> bool:
        return not self._queue.empty()

    def drain(self) -> bool:
        """Emulator thread: apply what other threads queued.  True if anything came."""
        self.owner = threading.get_ident()
        got = False
        while True:
            try:
                kind, data, replay = self._queue.get_nowait()
            except queue.Empty:
                return got
            got = True
            self._apply(kind, data, replay)

    def _apply(self, kind: str, data: Any, replay: bool) -> None:
        core = self._core
        board = core.board
        now = core.clock.now()
        where = "io" if core.in_io() else "boundary"
        serial_len = len(board.serial_out)
        if kind == "serial":      # the device first: a key no keyboard types raises, unlogged
            board.uart.feed(data)
        elif kind == "keys":
            board.kbd.type_text(data)
        else:
            board.kbd.press_make_break(data)
        self.log.append((now, kind, data))
        if replay:
            return
        core.emit("input", source=kind, data=data if isinstance(data, str) else list(data)
                  if not isinstance(data, bytes) else data.decode("latin-1"))
        if core.hooks.inputs:
            rec = InputRecord(now, kind, data, where, serial_len)
            for cb in core.hooks.inputs:
                cb(rec)
