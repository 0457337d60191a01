"""Record the input of a run with its cycle stamps; replay it bit for bit.

`bareflow-emu run IMAGE --record FILE` subscribes to the machine's input door (`hooks.inputs`,
emu/inputdoor.py), which every input passes whatever sends it (stdin, --keys, the TUI), and
writes, at the end, a JSON document: the image's SHA-256, the machine configuration,
every input with the cycle it arrived at, and how the run ended (cycles, instructions, stop
reason, a hash of the COM1 output).  `bareflow-emu replay FILE` boots the same image and feeds
each input at exactly the same point, then checks that the run ends identically.

Why two kinds of stamp: input queued by another thread (stdin pipe, TUI) is taken by the run
loop at a block boundary, at cycle C; replay schedules a clock event at C, and the machine
stops at the first block boundary with cycles >= C, which is that same boundary because the
run up to it is identical.  Input given from inside an I/O instruction (a `--keys-after`
pattern completed by a byte the guest wrote to COM1) happened mid-block, at the exact cycle of
that OUT; replay injects it from the same COM1 byte (`on_serial`, matched by the byte's index),
so the device sees the same `clock.now()`.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..devices.base.errors import BadArgument

FORMAT = "bareflow-replay"
VERSION = 1
#: exit status of `replay` when the run does not end as recorded (docs/debugging.md)
EXIT_DIVERGED = 71


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _encode(kind: str, data: Any) -> Any:
    if kind == "serial":
        return bytes(data).hex()
    if kind == "scancodes":
        return [int(c) for c in data]
    return str(data)


def _decode(kind: str, data: Any) -> Any:
    if kind == "serial":
        return bytes.fromhex(data)
    if kind == "scancodes":
        return [int(c) for c in data]
    return str(data)


class Recorder:
    """Logs every input the machine's devices receive, with where and when it arrived."""

    def __init__(self, machine: Any, path: str | Path, *, max_cycles: int | None = None) -> None:
        self.m = machine
        self.path = Path(path)
        self.max_cycles = max_cycles
        self.inputs: list[dict[str, Any]] = []
        try:   # fail now, with one line, rather than after a long run
            self.path.open("a").close()
        except OSError as exc:
            raise BadArgument(f"--record {path}: cannot write ({exc.strerror or exc})") from None
        machine.hooks.inputs.append(self._log)

    def _log(self, rec: Any) -> None:
        """Every input the machine's input door let in (emu/hooks.InputRecord)."""
        entry = {"cycle": rec.cycle, "kind": rec.kind, "data": _encode(rec.kind, rec.data), "where": rec.where}
        if rec.where == "io":
            entry["serial_len"] = rec.serial_len
        self.inputs.append(entry)

    def document(self, reason: Any, interrupted: bool = False) -> dict[str, Any]:
        m = self.m
        cfg = m.config
        return {
            "format": FORMAT, "version": VERSION,
            "image": str(Path(cfg.image).resolve()),
            "image_sha256": sha256_file(cfg.image),
            "config": {"memory_mb": cfg.memory_mb, "symbols": str(cfg.symbols) if cfg.symbols else None,
                       "boot_drive": cfg.boot_drive, "max_cycles": self.max_cycles,
                       "no_reboot": cfg.no_reboot},
            "inputs": self.inputs,
            "end": end_state(m, reason, interrupted),
        }

    error: str | None = None

    def finish(self, reason: Any, interrupted: bool = False) -> None:
        from .outputs import write_text
        if not write_text(self.path, json.dumps(self.document(reason, interrupted), indent=1) + "\n", "--record"):
            self.error = "not written"   # the line is printed; the run exits 74


def end_state(m: Any, reason: Any, interrupted: bool = False) -> dict[str, Any]:
    """What a faithful replay must reproduce."""
    return {
        "cycles": m.cycles, "instructions": m.instructions,
        "reason": "interrupted" if interrupted else getattr(reason, "value", str(reason)),
        "exit_status": m.exit_status,
        "serial_len": len(m.serial_out),
        "serial_sha256": hashlib.sha256(bytes(m.serial_out)).hexdigest(),
        "screen_sha256": hashlib.sha256(m.screen_bytes()).hexdigest(),
    }


def load(path: str | Path) -> dict[str, Any]:
    """Read and check a recording; one-line errors for anything wrong with it."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise BadArgument(f"{path}: no such file") from None
    except OSError as exc:
        raise BadArgument(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadArgument(f"{path}: not a BareFlow recording (not JSON: {exc})") from None
    except RecursionError:
        raise BadArgument(f"{path}: not a BareFlow recording (nested too deeply)") from None
    from .recording_schema import validate
    validate(doc, str(path), fmt=FORMAT, version=VERSION)
    return doc


class Player:
    """Feeds a recording's inputs into a fresh machine at their recorded points."""

    def __init__(self, machine: Any, inputs: list[dict[str, Any]]) -> None:
        self.m = machine
        self.io_inputs = [e for e in inputs if e["where"] == "io"]
        self._io_pos = 0
        self.mismatches: list[str] = []
        for e in inputs:
            if e["where"] == "boundary":
                machine.clock.schedule(e["cycle"], lambda now, e=e: self._inject(e, now), "replay input")
        machine.on_serial.append(self._on_serial)

    def _inject(self, e: dict[str, Any], now: int) -> None:
        if now != e["cycle"]:
            self.mismatches.append(f"input at cycle {e['cycle']} arrived at {now}")
        self.m.input(e["kind"], _decode(e["kind"], e["data"]))

    def _on_serial(self, _byte: int) -> None:
        n = len(self.m.serial_out)
        while self._io_pos < len(self.io_inputs) and self.io_inputs[self._io_pos].get("serial_len") == n:
            e = self.io_inputs[self._io_pos]
            self._io_pos += 1
            self._inject(e, self.m.clock.now())


def compare(recorded: dict[str, Any], got: dict[str, Any]) -> list[str]:
    diffs = []
    for key in ("cycles", "instructions", "reason", "exit_status", "serial_len", "serial_sha256", "screen_sha256"):
        if key in recorded and recorded[key] != got.get(key):
            diffs.append(f"{key}: recorded {recorded[key]!r}, replayed {got.get(key)!r}")
    return diffs


def run_recording(machine: Any, doc: dict[str, Any]) -> tuple[Player, Any]:
    """Feed a recording into a fresh machine and run it to where the recorded run ended;
    (the player, the stop reason or None for a run that was stopped by hand)."""
    from .machine import StopReason
    player = Player(machine, doc["inputs"])
    end = doc["end"]
    limit = doc["config"].get("max_cycles")
    if end.get("reason") in ("interrupted", "paused"):
        limit = end["cycles"]        # the recorded run was stopped by hand: stop at the same cycle
    reason = machine.run(limit)
    if end.get("reason") in ("interrupted", "paused") and reason == StopReason.CYCLE_LIMIT:
        reason = None
    return player, reason


def main_replay(args: Sequence[str], front_end: Callable[[str, dict[str, Any]], int] | None = None) -> int:
    """`bareflow-emu replay FILE`: the exit status is the recorded run's, or 71 on divergence."""
    from .argparser import Parser
    p = Parser(prog="bareflow-emu replay",
                                description="Re-run a session recorded with `run --record FILE`, feeding each "
                                "input at its recorded cycle, and check it ends identically.")
    p.add_argument("recording", help="the file written by --record")
    p.add_argument("--image", help="the image to use instead of the recorded path (must have the same SHA-256)")
    p.add_argument("--trace", metavar="FILE", help="write architectural events as JSON Lines")
    p.add_argument("--quiet", action="store_true", help="do not copy COM1 output to stdout")
    p.add_argument("--tui", action="store_true",
                   help="open the TUI, paused where the recorded run ended (a grader's failure: its cycle)")
    ns = p.parse_args(list(args))
    from .outputs import check_output
    check_output("--trace", ns.trace)
    doc = load(ns.recording)
    image = ns.image or doc["image"]
    if not Path(image).exists():
        raise BadArgument(f"{ns.recording}: the recorded image {image} is gone (use --image PATH)")
    try:
        digest = sha256_file(image)
    except OSError as exc:
        raise BadArgument(f"{ns.recording}: the recorded image {image} cannot be read "
                          f"({exc.strerror or exc})") from None
    if digest != doc["image_sha256"]:
        raise BadArgument(f"{image}: SHA-256 {digest[:12]}... differs from the recorded "
                          f"{doc['image_sha256'][:12]}...; the replay would not be the same run")
    cfg = doc["config"]
    if ns.tui:   # the front end is handed in by the console script (tui/cli.py): emu imports none
        if front_end is None:
            raise BadArgument("replay --tui: no front end here (run it as `bareflow-emu replay FILE --tui`)")
        return front_end(image, doc)
    from .exitcodes import exit_code
    from .machine import Machine, MachineConfig
    from .trace import TraceSink
    trace = TraceSink(ns.trace) if ns.trace else None
    machine = Machine(MachineConfig(image=image, memory_mb=cfg.get("memory_mb", 64), symbols=cfg.get("symbols"),
                                    boot_drive=cfg.get("boot_drive", 0x80), trace=trace,
                                    no_reboot=bool(cfg.get("no_reboot", True))))
    out = sys.stdout.buffer
    if not ns.quiet:
        machine.on_serial.append(lambda b: out.write(bytes((b,))))
    try:
        player, reason = run_recording(machine, doc)
    finally:
        out.flush()
        if trace is not None:
            trace.close()
    if trace is not None and trace.error:
        from .outputs import EXIT_WRITE_ERROR
        print(f"bareflow-emu: --trace {ns.trace}: write failed ({trace.error}); whole lines kept", file=sys.stderr)
        return EXIT_WRITE_ERROR
    end = doc["end"]
    got = end_state(machine, reason, interrupted=reason is None)
    diffs = compare(end, got) + player.mismatches
    if diffs:
        print(f"bareflow-emu: replay diverged from the recording: {'; '.join(diffs[:4])}", file=sys.stderr)
        return EXIT_DIVERGED
    print(f"bareflow-emu: replay identical to the recording: {got['cycles']} cycles, {got['instructions']} "
          f"instructions, {got['serial_len']} COM1 bytes, {len(doc['inputs'])} inputs", file=sys.stderr)
    if reason is None:
        return 0
    return exit_code(machine, reason)
