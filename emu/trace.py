"""The JSON Lines trace: architectural events stamped with cycle and instruction count.

One JSON object per line, `{"cycle": C, "icount": N, "event": KIND, ...fields}`, so traces
diff cleanly and load with any JSON Lines reader.  The file is written through a buffer and
flushed whenever the machine stops and on close, including when the guest crashes or the
emulator is interrupted, so the file is always complete, valid JSON Lines.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from ..devices.base.errors import BadArgument


class TraceSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._f: IO[str] | None = open(self.path, "w", encoding="utf-8", buffering=1 << 16)
        except OSError as exc:
            raise BadArgument(f"--trace {path}: cannot write ({exc.strerror or exc})") from None
        self.count = 0

    def emit(self, kind: str, cycle: int, icount: int, fields: dict[str, Any]) -> None:
        if self._f is None:
            return
        record = {"cycle": cycle, "icount": icount, "event": kind}
        record.update(fields)
        self._f.write(json.dumps(record, separators=(",", ":"), default=_jsonable))
        self._f.write("\n")
        self.count += 1

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.flush()
            self._f.close()
            self._f = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """Load a trace file (used by tests and tools)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
