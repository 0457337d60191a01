"""Helpers shared by the test folders (tests/ is on sys.path through tests/conftest.py).

Plain functions for module-level use; tests/conftest.py offers the same as fixtures.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "tests" / "images"
if str(IMAGES) not in sys.path:
    sys.path.insert(0, str(IMAGES))

from build import QEMU_ARGS as _IMAGE_ARGS  # noqa: E402  (tests/images/build.py: the one definition)

#: the reference machine: QEMU 7.2 i440FX + SeaBIOS, 64 MiB, COM1 on stdio, no monitor,
#: isa-debug-exit at 0xF4 (the same arguments tests/images/build.py's run_qemu uses)
QEMU_BIN = shutil.which("qemu-system-i386")
QEMU_ARGS = tuple(_IMAGE_ARGS)
#: lines that carry measured (RDTSC) figures: the only ones two runs may differ in
MEASURED_PREFIXES = ("[jit] ", "[stats] ")


def qemu_command(img: Path | str, *extra: str, timeout: int | None = 20, snapshot: bool = False,
                 args: Iterable[str] = QEMU_ARGS) -> list[str]:
    """The qemu-system-i386 command line that boots `img` as an IDE disk, bounded by
    `timeout` seconds (coreutils timeout: exit 124 on a hang)."""
    if QEMU_BIN is None:
        raise RuntimeError("qemu-system-i386 is not installed")
    drive = f"file={img},format=raw" + (",snapshot=on" if snapshot else "")
    cmd = [QEMU_BIN, "-drive", drive, *args, *extra]
    return (["timeout", str(timeout)] if timeout else []) + cmd


def run_qemu(img: Path | str, *extra: str, timeout: int = 20, **kw) -> subprocess.CompletedProcess:
    """Boot `img` under QEMU with no input; stdout is COM1."""
    return subprocess.run(qemu_command(img, *extra, timeout=timeout, **kw), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout + 5)


def drop_measured(lines: Iterable[str], prefixes: tuple[str, ...] = MEASURED_PREFIXES) -> list[str]:
    """The lines that must be identical between runs: without the measured [jit]/[stats] ones."""
    return [line for line in lines if not line.startswith(prefixes)]


def comparable(raw: bytes | str) -> list[str]:
    """A COM1 transcript as its comparable lines (CR LF -> LF, measured lines dropped)."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return drop_measured(text.replace("\r\n", "\n").split("\n"))


def sync(fn):
    """Run an async test body with asyncio.run (the project needs no async pytest plugin)."""
    def wrapper(*args, **kw):
        asyncio.run(fn(*args, **kw))
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 5.0,
                   what: str | Callable[[], object] = "condition") -> None:
    """Let the app run (Pilot pauses) until `cond()` holds, or fail after `timeout` seconds
    saying what was awaited (`what`, or what it returns) and the session's state and message."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            view = getattr(pilot.app, "view", None)
            where = f" (state {view.state!r}, message {view.message!r})" if view is not None else ""
            raise AssertionError(f"not reached in time: {what() if callable(what) else what}{where}")
        await pilot.pause(0.02)
