"""The JSON Lines trace: architectural events stamped with cycle and instruction count.

One JSON object per line, `{"cycle": C, "icount": N, "event": KIND, ...fields}`, so traces
diff cleanly and load with any JSON Lines reader.  The file is written through a buffer and
flushed whenever the machine stops and on close, including when the guest crashes or the
emulator is interrupted, so the file is always complete, valid JSON Lines.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..devices.base.errors import BadArgument


class TraceSink:
    """Whole lines only: events are buffered as complete lines and written with os.write; if a
    write fails (a full disk, /dev/full) the file is cut back to the last complete line, the
    sink stops writing and keeps the reason in `error` (the command line reports it as one line
    and exits 74, docs/cli.md).  The run itself goes on: a trace never changes the guest."""

    FLUSH_AT = 1 << 16

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise BadArgument(f"--trace {path}: cannot write ({exc.strerror or exc})") from None
        self._f = self           # truthy while open (older callers test it)
        self._buf: list[str] = []
        self._size = 0
        self._good = 0           # bytes of the file that end on a line boundary
        self.count = 0
        self.error: str | None = None

    def emit(self, kind: str, cycle: int, icount: int, fields: dict[str, Any]) -> None:
        if self._fd is None:
            return
        record = {"cycle": cycle, "icount": icount, "event": kind}
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"), default=_jsonable) + "\n"
        self._buf.append(line)
        self._size += len(line)
        self.count += 1
        if self._size >= self.FLUSH_AT:
            self._write_out()

    def _write_out(self) -> None:
        if self._fd is None or not self._buf:
            self._buf.clear()
            self._size = 0
            return
        data = "".join(self._buf).encode("utf-8")
        self._buf.clear()
        self._size = 0
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                n = os.write(self._fd, view[done:])
                if n <= 0:
                    raise OSError(28, "No space left on device")
                done += n
            self._good += len(data)
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            try:
                os.ftruncate(self._fd, self._good)     # no half line at the end
            except OSError:
                pass
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def flush(self) -> None:
        self._write_out()

    def close(self) -> None:
        if self._fd is not None:
            self._write_out()
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError as exc:
                self.error = self.error or exc.strerror or str(exc)
            self._fd = None
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


class InsnWindow:
    """`--trace-insns START:END`: an "insn" event for every instruction executed while the
    cycle count is inside [START, END).  A code hook on every address is expensive, so it is
    added only while the clock is inside the window; the run loop calls `update()` between
    slices, and a clock event at each edge makes sure a slice ends there."""

    def __init__(self, core: Any, window: tuple[int, int]) -> None:
        import capstone
        self._core = core
        self.window = window
        self._hook: int | None = None
        self._md32 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._md16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)

    def update(self) -> None:
        from unicorn import UC_HOOK_CODE
        core = self._core
        start, end = self.window
        c = core.cycles
        inside = start <= c < end
        if inside and self._hook is None:
            self._hook = core.uc.hook_add(UC_HOOK_CODE, self._on_insn)
            core.uc.ctl_flush_tb()
        elif not inside and self._hook is not None:
            core.uc.hook_del(self._hook)
            self._hook = None
            core.uc.ctl_flush_tb()
        # make sure we stop at the window's edges
        nd = core.clock.next_deadline()
        edge = start if c < start else end if c < end else None
        if edge is not None and (nd is None or edge < nd):
            core.clock.schedule(edge, lambda _c: None, "trace-insns window")

    def _on_insn(self, uc: Any, address: int, size: int, _ud: Any) -> None:
        core = self._core
        code = core.cpu.fetch(address, size)
        md = self._md32 if core.cpu.code32() else self._md16
        text = next((f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(code, address)), "(bad)")
        core.emit("insn", cycle_exact=core.exact_now(), address=address, bytes=code.hex(), text=text)
