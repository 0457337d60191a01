"""Leaving the process quickly once a command's work is done and its outputs are flushed.

Why: a normal interpreter exit tears everything down - the Unicorn engine and its translation
buffers, every module, a garbage collection over all objects - which cost ~15 ms of a 0.15 s
`bareflow-emu run` (the fixed cost the speed issue measures against QEMU).  None of that is
visible to anyone: the process is ending.  `exit_process(status)` does what must happen - the
atexit handlers (the price cache's merge, emu/pricecache.py, is one), flushing stdout and
stderr - and then ends with `os._exit`.

It falls back to the ordinary exit (returns the status for `sys.exit`) whenever skipping the
tear-down could lose something: a non-daemon thread still running (the interpreter would have
waited for it), or a flush that fails (the ordinary exit reports it, e.g. a closed pipe).  Only
the console script (through emu/cli.py) and `python -m bareflow.emu.cli` call it, never library code or tests.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading


def exit_process(status: int) -> int:
    """End the process now with `status` (see the module doc); returns only when it cannot."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return status
    atexit._run_exitfuncs()   # what the interpreter runs first at exit; they are removed after
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return status
    os._exit(status if 0 <= status <= 255 else 1)
