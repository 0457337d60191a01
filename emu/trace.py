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
