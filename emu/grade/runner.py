"""Grade one image against a spec: boot it, run the steps, return a plain-dict result.

Determinism is the point (a grader that flakes under load is worse than none), so nothing here
looks at the wall clock: every budget is in modelled cycles, and every check is taken at a
point fixed by the guest's own execution:
* a wait on COM1 listens to each byte the guest writes (`Machine.on_serial`); the byte that
  completes the text stamps the check with its exact cycle and asks the machine to pause at the
  next block boundary, where the next step (an input, a check) happens;
* a wait on the screen looks at it every `SCREEN_POLL` cycles from the wait's start;
* input is handed to the machine while it is stopped at a block boundary, which is where
  `bareflow-emu replay` puts it back.
So the same spec and image give the same cycle stamps for every check, whatever the host's
load, the number of processes or the machine the run lands on.

The result is a dict of plain values (it crosses process and network boundaries); for a
failed image it carries a recording (emu/replay.py's format) that stops at the first failure.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import BareflowError
from .spec import SCREEN_POLL, Spec, SpecBlob, Step, machine_kwargs

#: a regex wait on COM1 is matched against at most this many of the latest bytes
REGEX_WINDOW = 4096
#: how many COM1 lines a result keeps (the table shows the last few)
TAIL_LINES = 8


def grade_blob(blob: SpecBlob, image: bytes, name: str) -> dict[str, Any]:
    """Entry point for workers (local processes and Dask): everything arrives as bytes."""
    return grade_image(blob.parse(), image, name)


def grade_image(spec: Spec, image: bytes, name: str) -> dict[str, Any]:
    from ..explain import FaultWatcher
    from ..machine import Machine, MachineConfig
    from ..replay import Recorder

    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "image": name, "sha256": hashlib.sha256(image).hexdigest(), "status": "error", "error": None,
        "checks": [], "points": 0.0, "max_points": spec.total_points, "passed": 0, "total": len(spec.checks),
        "cycles": 0, "instructions": 0, "stop": None, "stop_message": "", "exit_status": None, "fault": None,
        "exceptions": 0, "serial_tail": [], "serial_bytes": 0, "serial_sha256": None, "first_failure": None,
        "recording": None,
    }
    with tempfile.TemporaryDirectory(prefix="bareflow-grade-") as tmp:
        tmpdir = Path(tmp)
        img_path = tmpdir / (Path(name).name or "image.img")
        img_path.write_bytes(image)
        paths: dict[str, Path] = {}
        for key, data in spec.files.items():
            p = tmpdir / f"option-{key}"
            p.write_bytes(data)
            paths[key] = p
        try:
            machine = Machine(MachineConfig(image=str(img_path), **machine_kwargs(spec, paths)))
        except BareflowError as exc:
            result["error"] = str(exc).replace(str(img_path), name)
            for step in spec.checks:
                result["checks"].append(_check(step, "not-run", None, f"not run: {result['error']}"))
            result["first_failure"] = {"check": spec.checks[0].name, "index": spec.checks[0].index,
                                       "cycle": None, "message": result["error"]}
            result["wall_seconds"] = round(time.perf_counter() - t0, 3)
            return result
        try:
            watcher = FaultWatcher(machine)
            recorder = Recorder(machine, tmpdir / "recording.json")
            session = _Session(spec, machine, watcher, recorder)
            session.run_steps()
            machine.fast.flush_frames()
            result.update(session.summary())
        finally:
            machine.close()
    result["status"] = "pass" if result["passed"] == result["total"] else "fail"
    result["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _check(step: Step, status: str, cycle: int | None, message: str) -> dict[str, Any]:
    return {"index": step.index, "name": step.name, "kind": step.kind, "status": status,
            "points": step.points if status == "pass" else 0.0, "max_points": step.points,
            "cycle": cycle, "message": message}


class _Session:
    """The steps of one spec against one running machine."""

    def __init__(self, spec: Spec, machine: Any, watcher: Any, recorder: Any) -> None:
        from ..machine import StopReason
        self.SR = StopReason
        self.spec, self.m, self.watcher, self.recorder = spec, machine, watcher, recorder
        self.checks: list[dict[str, Any]] = []
        self.cursor = 0                    # COM1 index after the last wait's match
        self.stopped: Any = None           # the guest stopped by itself (power-off, fault, halt...)
        self.ended: str | None = None      # why no more guest-running steps are run
        self.exceptions: list[tuple[int, int, int | None]] = []   # (cycle, vector, error code)
        self.triple: tuple[int, str] | None = None
        self.first_failure: dict[str, Any] | None = None
        self.recording: dict[str, Any] | None = None
        self._waiter: tuple[Step, Any] | None = None
        self._hit: tuple[int, int] | None = None      # (cycle, end index) of a serial wait's match
        machine.observers.append(self._observe)
        machine.on_serial.append(self._on_byte)

    # ----------------------------------------------------------------- machine hooks
    def _observe(self, kind: str, cycle: int, _icount: int, fields: dict[str, Any]) -> None:
        if kind == "interrupt" and fields.get("kind") == "exception":
            self.exceptions.append((cycle, fields.get("vector"), fields.get("error_code")))
        elif kind == "fault":
            self.exceptions.append((cycle, fields.get("vector"), fields.get("error_code")))
        elif kind == "triple_fault":
            self.triple = (cycle, str(fields.get("why", "")))

    def _on_byte(self, byte: int) -> None:
        if self._waiter is None:
            return
        step, pattern = self._waiter
        buf = self.m.serial_out
        if isinstance(pattern, bytes):
            if byte != pattern[-1] or not buf.endswith(pattern) or len(buf) - len(pattern) < self.cursor:
                return
            end = len(buf)
        else:
            lo = max(self.cursor, len(buf) - REGEX_WINDOW)
            found = pattern.search(bytes(buf[lo:]).decode("latin-1"))
            if found is None:
                return
            end = lo + found.end()
        self._hit = (self.m.clock.now(), end)   # the exact cycle of the OUT that completed it
        self._waiter = None
        self.m.request_pause()

    # ----------------------------------------------------------------- running
    def _run(self, until: int) -> None:
        """Run to cycle `until` (capped by options.max_cycles) or until the guest stops."""
        limit = until if self.spec.max_cycles is None else min(until, self.spec.max_cycles)
        reason = self.m.run(limit)
        if reason not in (self.SR.PAUSED, self.SR.CYCLE_LIMIT, self.SR.BREAKPOINT, self.SR.STEP):
            self.stopped = reason

    def _budget_gone(self) -> bool:
        return self.spec.max_cycles is not None and self.m.cycles >= self.spec.max_cycles

    def _stop_text(self) -> str:
        """How the guest stopped, in one short clause (a triple fault's delivery chain is left
        to the explainer's cause, which the reports show beside it)."""
        text = self.m.stop_message or self.stopped.value
        if self.stopped == self.SR.TRIPLE_FAULT:
            text = text.split(" (", 1)[0]
        return text

    def run_steps(self) -> None:
        for step in self.spec.steps:
            if step.is_check:
                self._do_check(step)
            else:
                self._do_action(step)

    def _do_action(self, step: Step) -> None:
        if self.ended or self.stopped is not None:
            return
        m = self.m
        if step.kind == "send":
            m.send_serial(step.arg.encode("latin-1"))
        elif step.kind == "type":
            m.type_text(step.arg)
        elif step.kind == "scancodes":
            m.press_keys(list(step.arg))
        elif step.kind == "run":
            self._run(m.cycles + step.arg)

    def _do_check(self, step: Step) -> None:
        k = step.kind
        if k in ("wait", "wait_regex"):
            status, cycle, msg = self._wait(step)
        elif k == "exit":
            status, cycle, msg = self._exit(step)
        else:
            status, cycle, msg = self._static(step)
        c = _check(step, status, cycle, msg)
        self.checks.append(c)
        if status != "pass" and self.first_failure is None:
            self.first_failure = {"check": step.name, "index": step.index, "cycle": cycle, "message": msg,
                                  "recorded_at": self.m.cycles}
            self._capture_recording()

    def _capture_recording(self) -> None:
        """The recording a failure saves: the inputs so far, and the state now, so that
        `bareflow-emu replay` stops at this very cycle with this very output."""
        reason = self.stopped if self.stopped is not None else self.SR.CYCLE_LIMIT
        doc = self.recorder.document(reason)
        doc["inputs"] = [dict(e) for e in doc["inputs"]]   # the inputs so far, not the later ones
        if self.stopped is None:
            doc["config"]["max_cycles"] = self.m.cycles
        elif self.spec.max_cycles is not None:
            doc["config"]["max_cycles"] = self.spec.max_cycles
        doc["grade"] = {"spec": self.spec.name, "spec_sha256": self.spec.sha256,
                        "failed_check": self.first_failure}
        self.recording = doc

    # ----------------------------------------------------------------- checks
    def _wait(self, step: Step) -> tuple[str, int | None, str]:
        m = self.m
        within = step.within or self.spec.within
        what = f"/{step.arg}/" if step.regex else repr(step.arg)
        where = "the screen" if step.on == "screen" else "COM1"
        if step.on == "serial":
            pattern: Any = step.regex if step.regex else step.arg.encode("latin-1")
            found = self._find_serial(pattern)
            if found is not None:
                self.cursor = found
                return "pass", m.cycles, f"{what} already on COM1"
        else:
            if self._on_screen(step):
                return "pass", m.cycles, f"{what} already on the screen"
        if self.ended:
            return "not-run", None, f"not run: {self.ended}"
        if self.stopped is not None:
            self.ended = f"the guest had stopped: {self._stop_text()}"
            return "fail", m.cycles, f"{what} never shown on {where}; the guest stopped first: {self._stop_text()}"
        start = m.cycles
        end = start + within
        if step.on == "serial":
            self._hit = None
            self._waiter = (step, pattern)
            try:
                while self._hit is None and self.stopped is None and m.cycles < end and not self._budget_gone():
                    self._run(end)
            finally:
                self._waiter = None
            if self._hit is not None:
                cycle, self.cursor = self._hit
                return "pass", cycle, f"{what} at cycle {cycle:,}"
        else:
            while self.stopped is None and m.cycles < end and not self._budget_gone():
                self._run(min(m.cycles + SCREEN_POLL, end))
                if self._on_screen(step):
                    return "pass", m.cycles, f"{what} on the screen at cycle {m.cycles:,}"
        if self.stopped is not None:
            self.ended = f"the guest had stopped: {self._stop_text()}"
            return "fail", m.cycles, f"{what} never shown on {where}; the guest stopped first: {self._stop_text()}"
        if self._budget_gone():
            self.ended = f"the run's budget (options.max_cycles = {self.spec.max_cycles:,}) ran out"
            return "fail", m.cycles, f"{what} not shown on {where} before {self.ended}"
        self.ended = f"step {step.index} waited in vain"
        return "fail", m.cycles, (f"{what} not shown on {where} within {within:,} cycles "
                                  f"(from cycle {start:,} to {m.cycles:,})")

    def _find_serial(self, pattern: Any) -> int | None:
        buf = self.m.serial_out
        if isinstance(pattern, bytes):
            i = bytes(buf).find(pattern, self.cursor)
            return None if i < 0 else i + len(pattern)
        found = pattern.search(bytes(buf[self.cursor:]).decode("latin-1"))
        return None if found is None else self.cursor + found.end()

    def _on_screen(self, step: Step) -> bool:
        text = self.m.screen_text()
        return bool(step.regex.search(text)) if step.regex else step.arg in text

    def _exit(self, step: Step) -> tuple[str, int | None, str]:
        m = self.m
        if self.stopped is None:
            if self.ended:
                return "not-run", None, f"not run: {self.ended}"
            within = step.within or self.spec.within
            start = m.cycles
            while self.stopped is None and m.cycles < start + within and not self._budget_gone():
                self._run(start + within)
            if self.stopped is None:
                self.ended = f"the guest was still running at cycle {m.cycles:,}"
                budget = (f"the run's budget (options.max_cycles = {self.spec.max_cycles:,})"
                          if self._budget_gone() else f"{within:,} cycles")
                return "fail", m.cycles, f"expected {step.arg}, but the guest was still running after {budget}"
        SR = self.SR
        got = self.stopped
        status = m.exit_status
        kind = {SR.HALTED: "halt", SR.IDLE: "idle", SR.RESET: "reset", SR.TRIPLE_FAULT: "triple-fault",
                SR.GUEST_ERROR: "guest error"}.get(got)
        if got == SR.POWER_OFF:
            kind = "power-off" if status == 0 else "debug-exit"
        said = f"{kind}" + (f" status {status}" if got == SR.POWER_OFF else "") + f" at cycle {m.cycles:,}"
        if step.arg not in ("any", kind):
            return "fail", m.cycles, f"expected {step.arg}, got {said}: {self._stop_text()}"
        if step.status is not None and status != step.status:
            return "fail", m.cycles, f"expected status {step.status}, got {said}"
        return "pass", m.cycles, said

    def _static(self, step: Step) -> tuple[str, int | None, str]:
        m = self.m
        k = step.kind
        cycle = m.cycles
        if k in ("expect", "expect_regex", "forbid", "forbid_regex"):
            if step.on == "screen":
                text = m.screen_text()
            else:
                text = bytes(m.serial_out).decode("latin-1")
            found = step.regex.search(text) if step.regex else (step.arg in text or None)
            what = f"/{step.arg}/" if step.regex else repr(step.arg)
            where = "the screen" if step.on == "screen" else "COM1"
            if k.startswith("expect"):
                return ("pass", cycle, f"{what} on {where}") if found else \
                       ("fail", cycle, f"{what} not on {where} (at cycle {cycle:,})")
            if not found:
                return "pass", cycle, f"no {what} on {where}"
            shown = found.group(0) if isinstance(found, re.Match) else step.arg
            return "fail", cycle, f"{where} shows the forbidden {shown!r}"
        if k == "screen":
            line = m.screen_text().split("\n")
            row = line[step.row] if step.row < len(line) else ""
            got = row[step.col:step.col + len(step.arg)]
            if got == step.arg:
                return "pass", cycle, f"{step.arg!r} at row {step.row} col {step.col}"
            return "fail", cycle, f"row {step.row} col {step.col} shows {got!r}, not {step.arg!r}"
        # no_fault
        bad = [e for e in self.exceptions if e[1] not in step.allow]
        if bad:     # the first exception not allowed, in the explainer's words when it has them
            from ..explain import exc_name
            at, vector, code = bad[0]
            said = next((x.summary for x in self.watcher.explanations if x.cycle == at), None)
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return "fail", cycle, f"{said or exc_name(vector, code)} (cycle {at:,}){more}"
        if self.triple is not None or self.stopped == self.SR.GUEST_ERROR:
            return "fail", cycle, self.fault_line() or f"the guest stopped: {self._stop_text()}"
        return "pass", cycle, "no exception"

    # ----------------------------------------------------------------- summary
    def fault_line(self) -> str | None:
        """The fault explainer's one-line cause of the latest fault, with its cycle."""
        last = self.watcher.last
        if last is not None:
            return f"{last.summary} (cycle {last.cycle:,})"
        if self.stopped == self.SR.GUEST_ERROR:
            return self.m.stop_message
        return None

    def summary(self) -> dict[str, Any]:
        m = self.m
        text = bytes(m.serial_out).decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")
        tail = [ln for ln in text.rstrip("\n").split("\n")][-TAIL_LINES:] if text else []
        stop = self.stopped.value if self.stopped is not None else "stopped by the grader"
        out = {
            "checks": self.checks,
            "points": sum(c["points"] for c in self.checks),
            "passed": sum(c["status"] == "pass" for c in self.checks),
            "cycles": m.cycles, "instructions": m.instructions, "stop": stop,
            "stop_message": m.stop_message if self.stopped is not None else "",
            "exit_status": m.exit_status, "fault": self.fault_line(),
            "exceptions": len(self.exceptions),
            "serial_tail": tail, "serial_bytes": len(m.serial_out),
            "serial_sha256": hashlib.sha256(bytes(m.serial_out)).hexdigest(),
            "first_failure": self.first_failure, "recording": self.recording,
        }
        return out
