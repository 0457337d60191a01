"""Output files: checked before the run, written so that a failure is one line and leaves
nothing half-written.

Why up front: a profile or a screen dump to a missing folder used to be discovered after a
run of minutes.  `check_output(option, path)` refuses, before the machine is built, a path
whose folder is missing, that is a directory, that cannot be written, or that is `/dev/full`
(the one device known to refuse every write); one line, exit 2 (a bad command line).

During and after the run a write can still fail (a disk that fills up): `write_text` reports it
as one line and removes a partial regular file, the trace (emu/trace.py) keeps only whole
lines, and the command exits with `EXIT_WRITE_ERROR` (74, sysexits' EX_IOERR) so a script
can tell "the guest failed" from "an output is missing".
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from ..devices.base.errors import BadArgument

#: exit status when an output file could not be written completely (docs/cli.md)
EXIT_WRITE_ERROR = 74
PROG = "bareflow-emu"


def _is_dev_full(st: os.stat_result) -> bool:
    """Linux's /dev/full is the character device 1:7: every write fails with ENOSPC."""
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 7


def check_output(option: str, path: str | os.PathLike | None) -> None:
    """Raise BadArgument (one line, exit 2) if `path` cannot be written.  Creates nothing."""
    if path is None:
        return
    p = Path(path)
    text = str(path)
    if not text:
        raise BadArgument(f"{option}: an empty file name")
    try:
        st = p.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise BadArgument(f"{option} {text}: cannot write ({exc.strerror or exc})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise BadArgument(f"{option} {text}: is a directory")
        if _is_dev_full(st):
            raise BadArgument(f"{option} {text}: the device refuses every write (no space left)")
        if not os.access(p, os.W_OK):
            raise BadArgument(f"{option} {text}: cannot write (permission denied)")
        return
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise BadArgument(f"{option} {text}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise BadArgument(f"{option} {text}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadArgument(f"{option} {text}: cannot create a file in {parent} (permission denied)")


def check_outputs(pairs: list[tuple[str, object]]) -> None:
    """check_output for each (option, path) given; also refuses one file named twice."""
    seen: dict[str, str] = {}
    for option, path in pairs:
        if path is None:
            continue
        check_output(option, path)
        key = os.path.realpath(str(path))
        if key in seen and not key.startswith("/dev/"):
            raise BadArgument(f"{option} {path}: the same file as {seen[key]}")
        seen[key] = option


def write_text(path: str | os.PathLike, text: str, option: str = "") -> bool:
    """Write a whole output file; on failure one line on stderr, no partial regular file left.
    Returns False on failure (the caller exits with EXIT_WRITE_ERROR)."""
    p = Path(path)
    try:
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return True
    except OSError as exc:
        try:
            if p.is_file():
                p.unlink()
        except OSError:
            pass
        name = f"{option} {path}" if option else str(path)
        print(f"{PROG}: cannot write {name}: {exc.strerror or exc}", file=sys.stderr)
        return False
