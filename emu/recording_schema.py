"""The schema of a `--record` file, checked before `bareflow-emu replay` runs anything.

A recording is user input (it can be edited, truncated, hand-written): every field the replay
reads is checked here for presence and type, and the first problem becomes one line naming the
field (`config.memory_mb`, `inputs[3].data`, ...) with exit status 2, instead of an internal
error half-way through building the machine.  Fields the replay does not read are ignored
(forward compatible); the version must be the one this BareFlow writes.
"""
from __future__ import annotations

import re
from typing import Any

from ..devices.base.errors import BadArgument

_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
KINDS = ("serial", "keys", "scancodes")
WHERE = ("io", "boundary")


class RecordingError(BadArgument):
    """One field of a recording is missing or has the wrong type."""


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _fail(path: str, field: str, want: str, got: Any = ..., missing: bool = False) -> RecordingError:
    if missing:
        return RecordingError(f"{path}: field \"{field}\" is missing ({want})")
    shown = repr(got) if len(repr(got)) <= 40 else repr(got)[:37] + "..."
    return RecordingError(f"{path}: field \"{field}\" must be {want}, not {_kind(got)} {shown}")


def _need(obj: dict, key: str, path: str, prefix: str, want: str, check: Any) -> Any:
    field = f"{prefix}{key}"
    if key not in obj:
        raise _fail(path, field, want, missing=True)
    v = obj[key]
    if not check(v):
        raise _fail(path, field, want, v)
    return v


def _opt(obj: dict, key: str, path: str, prefix: str, want: str, check: Any) -> None:
    if key in obj and not check(obj[key]):
        raise _fail(path, f"{prefix}{key}", want, obj[key])


def validate(doc: Any, path: str, *, fmt: str, version: int) -> None:
    """Raise RecordingError (one line, exit 2) for the first field that is not as recorded."""
    if not isinstance(doc, dict):
        raise RecordingError(f"{path}: not a BareFlow recording (the top level is {_kind(doc)}, not an object)")
    if doc.get("format") != fmt:
        raise RecordingError(f"{path}: not a BareFlow recording (no \"format\": \"{fmt}\")")
    v = doc.get("version")
    if not _int(v) or v != version:
        raise RecordingError(f"{path}: recording version {v!r}, this BareFlow reads {version}")
    _need(doc, "image", path, "", "the image's path (a non-empty string)", lambda x: isinstance(x, str) and x)
    _need(doc, "image_sha256", path, "", "64 lower-case hex digits",
          lambda x: isinstance(x, str) and _SHA256.fullmatch(x))
    cfg = _need(doc, "config", path, "", "an object", lambda x: isinstance(x, dict))
    _opt(cfg, "memory_mb", path, "config.", "a whole number of MiB from 1 to 3072",
         lambda x: _int(x) and 1 <= x <= 3072)
    _opt(cfg, "symbols", path, "config.", "a path (string) or null", lambda x: x is None or isinstance(x, str))
    _opt(cfg, "boot_drive", path, "config.", "a BIOS drive number 0-255", lambda x: _int(x) and 0 <= x <= 255)
    _opt(cfg, "max_cycles", path, "config.", "a positive whole number or null",
         lambda x: x is None or _int(x) and x > 0)
    inputs = _need(doc, "inputs", path, "", "a list", lambda x: isinstance(x, list))
    for i, e in enumerate(inputs):
        pre = f"inputs[{i}]."
        if not isinstance(e, dict):
            raise _fail(path, f"inputs[{i}]", "an object", e)
        _need(e, "cycle", path, pre, "a cycle count (whole number >= 0)", lambda x: _int(x) and x >= 0)
        kind = _need(e, "kind", path, pre, "one of " + ", ".join(KINDS), lambda x: x in KINDS)
        where = _need(e, "where", path, pre, "one of " + ", ".join(WHERE), lambda x: x in WHERE)
        if kind == "serial":
            _need(e, "data", path, pre, "the bytes as hex digits (pairs)",
                  lambda x: isinstance(x, str) and _HEX.fullmatch(x))
        elif kind == "keys":
            _need(e, "data", path, pre, "the typed text (a string)", lambda x: isinstance(x, str))
        else:
            _need(e, "data", path, pre, "a list of scancodes 0-255",
                  lambda x: isinstance(x, list) and all(_int(c) and 0 <= c <= 255 for c in x))
        if where == "io":
            _need(e, "serial_len", path, pre, "the COM1 byte count (whole number >= 0)",
                  lambda x: _int(x) and x >= 0)
    end = _need(doc, "end", path, "", "an object", lambda x: isinstance(x, dict))
    _need(end, "cycles", path, "end.", "a cycle count (whole number >= 0)", lambda x: _int(x) and x >= 0)
    _need(end, "reason", path, "end.", "the stop reason (a string)", lambda x: isinstance(x, str))
    for key in ("instructions", "serial_len"):
        _opt(end, key, path, "end.", "a whole number >= 0", lambda x: _int(x) and x >= 0)
    _opt(end, "exit_status", path, "end.", "a whole number or null", lambda x: x is None or _int(x))
    for key in ("serial_sha256", "screen_sha256"):
        _opt(end, key, path, "end.", "64 lower-case hex digits", lambda x: isinstance(x, str) and _SHA256.fullmatch(x))
