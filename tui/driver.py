"""The terminal driver: Textual's Linux driver with an input thread that sleeps until a key.

Textual's input thread waits for the terminal with a 0.1 s timeout, so it wakes 10 times a
second whatever happens: to see whether it should stop, and to let a lone Escape time out
(a terminal sends Escape alone or as the start of a sequence; after ESCDELAY without a next
byte it is the key).  With the rest of the app asleep while the guest idles (issue 11), those
wake-ups were a fifth of the UI process's idle cost.

Here the thread blocks until a byte arrives or the driver stops: setting the driver's exit
event also writes to a pipe the thread waits on.  Only while an escape sequence may still be
incomplete (ESCDELAY after the last byte, plus one look) does it wake after LOOK_S to let the
parser time it out, as Textual's loop does.  Everything else (the terminal modes, the writer
thread, resize, suspend) is Textual's own driver, unchanged.
"""
from __future__ import annotations

import os
import selectors
import threading
import time
from codecs import getincrementaldecoder
from typing import Any

from textual import constants
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

#: how often the thread looks while an escape sequence may be incomplete (Textual's timeout)
LOOK_S = 0.1


class _WakingEvent(threading.Event):
    """The driver's exit event: setting it also wakes the input thread (a byte on a pipe)."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        try:
            os.write(self._wake_fd, b"x")
        except OSError:     # the pipe is full (it wakes the thread all the same) or closed
            pass


class QuietLinuxDriver(LinuxDriver):
    """LinuxDriver whose input thread does not poll (see the module's docstring)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(wake_w, False)
        self.exit_event = _WakingEvent(wake_w)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except OSError:     # empty (EAGAIN)
            pass

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual's contract), without a polling timeout."""
        self._drain_wake()      # a stop of an earlier thread (suspend and resume)
        selector = selectors.DefaultSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        last_input = -1e9
        quiet_after = constants.ESCAPE_DELAY + LOOK_S
        try:
            while not self.exit_event.is_set():
                waiting = time.monotonic() - last_input < quiet_after
                for key, _mask in selector.select(LOOK_S if waiting else None):
                    if key.fd == self._wake_r:
                        self._drain_wake()
                        continue
                    data = decode(os.read(self.fileno, 4096))
                    if not data:        # end of input (stdin closed): stop watching it
                        selector.unregister(self.fileno)
                        continue
                    last_input = time.monotonic()
                    for event in parser.feed(data):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
