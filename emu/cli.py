"""`bareflow-emu`: the command line (its headless half; the console script is tui/cli.py).

    bareflow-emu [IMAGE]              the TUI (IMAGE defaults to the bundled fluid_llama.img):
                                      arguments checked here (`front_end_args`), the TUI itself
                                      started by tui/cli.py, so this package imports no front end
    bareflow-emu run IMAGE [options]  headless: COM1 on stdin/stdout, like QEMU -serial stdio
    bareflow-emu explain IMAGE        the boot journey as text (docs/journey.md)
    bareflow-emu replay FILE          re-run a recording (emu/replay.py)
    bareflow-emu test SPEC IMAGE...   grade images against a boot-test spec (docs/grading.md)

Every failure the user can cause ends with one line on stderr and a documented exit status
(docs/cli.md), never a Python traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from ..devices.base.errors import BadArgument, BadImage, BareflowError
from .argparser import Parser
from .page_walk import add_address_option, addresses_text, resolve_address
from .process_exit import exit_process  # noqa: F401  (also the console script's quick exit)

from .args import parse_cycles, parse_memory  # noqa: F401  (also used by the grader)
from .exitcodes import (EXIT_BAD_IMAGE, EXIT_CYCLE_LIMIT, EXIT_GUEST_ERROR, EXIT_HALTED,  # noqa: F401
                        EXIT_IDLE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRIPLE_FAULT, EXIT_USAGE,
                        exit_code)

PROG = "bareflow-emu"


def bundled_image() -> Path:
    """images/fluid_llama.img of this checkout (the package is installed editable)."""
    here = Path(__file__).resolve().parent
    for base in (here.parent, Path.cwd()):
        candidate = base / "images" / "fluid_llama.img"
        if candidate.exists():
            return candidate
    return here.parent / "images" / "fluid_llama.img"


class _Ordered(argparse.Action):
    """Keeps --keys / --keys-after in command-line order (they pair up)."""

    def __call__(self, parser, namespace, values, option_string=None):
        seq = getattr(namespace, "key_script", None) or []
        seq.append((self.dest, values))
        namespace.key_script = seq


def decode_escapes(text: str) -> str:
    r"""`\n` is Enter, `\t` Tab, `\\` a backslash (for shells without $'...')."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            mapped = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r", "e": "\x1b"}.get(nxt)
            if mapped is not None:
                out.append(mapped)
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _check_typeable(text: str) -> None:
    """--keys types on a US PS/2 keyboard: refuse up front what no key produces."""
    from ..devices.scancodes import char_to_set1
    for ch in text:
        try:
            char_to_set1(ch)
        except ValueError:
            raise BadArgument(f"--keys: no key on a US keyboard types {ch!r} (use ASCII; \\n is Enter)") from None


def key_steps(script: list[tuple[str, str]] | None) -> list[tuple[str | None, str]]:
    """[(pattern or None, text)]: each text is typed once its pattern shows on serial."""
    steps: list[tuple[str | None, str]] = []
    pending: str | None = None
    for dest, value in script or []:
        if dest == "keys_after":
            if pending is not None:
                raise BadArgument(f"--keys-after {pending!r} is not followed by --keys")
            pending = value
        else:
            text = decode_escapes(value)
            _check_typeable(text)
            steps.append((pending, text))
            pending = None
    if pending is not None:
        raise BadArgument(f"--keys-after {pending!r} is not followed by --keys")
    return steps


def parse_window(text: str) -> tuple[int, int]:
    try:
        a, b = text.split(":")
        start = int(a.replace("_", ""), 0) if a else 0
        end = int(b.replace("_", ""), 0) if b else 1 << 62
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not START:END (cycles)") from None
    if end <= start:
        raise argparse.ArgumentTypeError(f"'{text}': END must be after START")
    return start, end


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", type=parse_memory, default=64, metavar="MIB",
                   help="RAM size in MiB (default 64)")
    p.add_argument("--symbols", metavar="ELF", help="ELF with symbols (default: the .elf beside the image)")
    p.add_argument("--keys", action=_Ordered, dest="keys", metavar="TEXT",
                   help=r"type TEXT on the PS/2 keyboard (\n is Enter)")
    p.add_argument("--keys-after", action=_Ordered, dest="keys_after", metavar="PATTERN",
                   help="type the next --keys once PATTERN appears on serial (after the previous keys)")


def _brief_faults(p: argparse.ArgumentParser) -> None:
    p.add_argument("--brief-faults", action="store_true",
                   help="a fault stop prints only its one line, without the fault explainer's text")


def run_parser() -> argparse.ArgumentParser:
    p = Parser(prog=f"{PROG} run", description="Boot a raw disk image headless; COM1 is "
                                "stdin/stdout like QEMU's -serial stdio.")
    p.add_argument("image", nargs="?", help="raw bootable disk image (boot sector at LBA 0): IDE drive 0 "
                   "(as QEMU's positional image / -hda)")
    _common(p)
    from .drives import add_drive_arguments
    add_drive_arguments(p)
    p.add_argument("--no-reboot", action="store_true",
                   help="stop when the guest resets (QEMU -no-reboot; exit 0); by default it reboots as QEMU does")
    p.add_argument("--max-cycles", type=parse_cycles, metavar="N", help="stop after N modelled cycles (exit 67)")
    p.add_argument("--trace", metavar="FILE", help="write architectural events as JSON Lines")
    p.add_argument("--trace-io", action="store_true", help="add port I/O to the trace")
    p.add_argument("--trace-insns", type=parse_window, metavar="START:END",
                   help="add every executed instruction in that cycle window to the trace")
    p.add_argument("--profile", metavar="FILE", help="write the per-function cycle profile as JSON")
    p.add_argument("--screen", metavar="FILE", help="write the VGA text screen at exit as text")
    p.add_argument("--screen-png", metavar="FILE",
                   help="write the VGA picture at exit as PNG at its native size (like QEMU's screendump)")
    p.add_argument("--no-stdin", action="store_true", help="do not connect stdin to COM1")
    p.add_argument("--export-speedscope", metavar="FILE",
                   help="write the profile as a speedscope JSON file (docs/journey.md)")
    p.add_argument("--export-chrome-trace", metavar="FILE",
                   help="write the profile and the boot journey as Chrome trace JSON (opens in Perfetto)")
    p.add_argument("--export-screen-svg", metavar="FILE", help="write the VGA text screen at exit as SVG")
    # debugging (emu/gdbstub.py, emu/replay.py; docs/debugging.md)
    p.add_argument("--gdb", type=_port, metavar="PORT",
                   help="wait for gdb on PORT before the first instruction (0: any free port, printed)")
    p.add_argument("--gdb-host", default="127.0.0.1", metavar="HOST",
                   help="address the gdb stub listens on (default 127.0.0.1, loopback only)")
    p.add_argument("--record", metavar="FILE",
                   help="record the run's input with cycle stamps, for `bareflow-emu replay FILE`")
    _brief_faults(p)
    return p


def _port(text: str) -> int:
    from .gdbstub import parse_port
    try:
        return parse_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tui_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="BareFlow: watch a PC boot and run a bare-metal "
                                "program. With no subcommand, opens the TUI.",
                                epilog="subcommands: run IMAGE (headless; see `bareflow-emu run --help`), "
                                       "explain IMAGE (the boot journey as text)")
    p.add_argument("image", nargs="?", help="raw bootable disk image (default: the bundled fluid_llama.img)")
    _common(p)
    p.add_argument("--pause-at-milestones", action="store_true",
                   help="pause at each milestone of the boot journey and open the timeline on it (for a class)")
    p.add_argument("--no-time-travel", action="store_true",
                   help="no checkpoints: step back and run back are off (saves two copies of the RAM)")
    return p


HEADLESS = ("run", "explain", "replay", "test")


def main(argv: Sequence[str] | None = None, *, front_end: Callable[[list[str]], int] | None = None,
         replay_front_end: Callable[[str, dict[str, Any]], int] | None = None) -> int:
    """The headless commands (`run`, `explain`, `replay`, `test`); anything else goes to
    `front_end`, and `replay FILE --tui` to `replay_front_end(image, recording)` (the
    `bareflow-emu` console script is tui/cli.py, which passes the TUI: the emulator package
    never imports a front end).  Errors become one line and a documented status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "run":
            return _main_run(args[1:])
        if args and args[0] == "explain":
            return _main_explain(args[1:])
        if args and args[0] == "replay":
            from .replay import main_replay
            return main_replay(args[1:], front_end=replay_front_end)
        if args and args[0] == "test":   # the grader (emu/grade/, docs/grading.md)
            from .grade.cli import main_test
            return main_test(args[1:])
        if front_end is None:
            raise BadArgument("no subcommand: `run`, `explain`, `replay` or `test` (the TUI is `bareflow-emu [IMAGE]`)")
        return front_end(args)
    except BareflowError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_BAD_IMAGE if isinstance(exc, BadImage) else EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug of ours: one line unless asked for the traceback
        if os.environ.get("BAREFLOW_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (set BAREFLOW_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


def front_end_args(args: list[str]) -> tuple[Any, Path, list[tuple[str | None, str]]]:
    """A front end's command line (`bareflow-emu [IMAGE] [options]`), checked here so that an
    unreadable or unbootable image is one line before any UI starts: (namespace, image, keys)."""
    ns = tui_parser().parse_args(args)
    steps = key_steps(getattr(ns, "key_script", None))
    image = Path(ns.image) if ns.image else bundled_image()
    from .machine import read_image
    read_image(image)  # one-line error before the UI starts
    return ns, image, steps


class KeyScript:
    """Feeds --keys texts to the keyboard, each once its pattern has shown on COM1."""

    def __init__(self, machine: Any, steps: list[tuple[str | None, str]]) -> None:
        self.m = machine
        self.steps = list(steps)
        self.i = 0
        self.mark = 0
        machine.on_serial.append(self._on_byte)
        self._advance()

    def _advance(self) -> None:
        while self.i < len(self.steps):
            pattern, text = self.steps[self.i]
            if pattern is not None:
                if pattern.encode("latin-1") not in bytes(self.m.serial_out[self.mark:]):
                    return
            self.m.input("keys", text)
            self.mark = len(self.m.serial_out)
            self.i += 1

    def _on_byte(self, _b: int) -> None:
        if self.i < len(self.steps):
            pattern = self.steps[self.i][0]
            if pattern is not None and bytes(self.m.serial_out).endswith(pattern.encode("latin-1")):
                self._advance()


def _stdin_feeder(machine: Any) -> None:
    """COM1 input from stdin: a file is read up front (deterministic); a pipe or tty by a thread."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return
    import stat
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode) and not os.isatty(fd):
        data = sys.stdin.buffer.read()
        if data:
            machine.input("serial", data)
        return

    def pump() -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            machine.send_serial(chunk)

    threading.Thread(target=pump, name="stdin-to-COM1", daemon=True).start()


def _main_run(args: list[str]) -> int:
    ns = run_parser().parse_args(args)
    steps = key_steps(getattr(ns, "key_script", None))
    from .machine import Machine, MachineConfig, StopReason
    from .profile import profile_document
    from .trace import TraceSink
    from .outputs import EXIT_WRITE_ERROR, check_outputs

    check_outputs([("--trace", ns.trace), ("--profile", ns.profile), ("--screen", ns.screen),
                   ("--export-speedscope", ns.export_speedscope), ("--export-chrome-trace", ns.export_chrome_trace),
                   ("--export-screen-svg", ns.export_screen_svg), ("--record", ns.record),
                   ("--screen-png", getattr(ns, "screen_png", None))])
    trace = TraceSink(ns.trace) if ns.trace else None
    if ns.trace_io and not trace:
        raise BadArgument("--trace-io needs --trace FILE")
    if ns.trace_insns and not trace:
        raise BadArgument("--trace-insns needs --trace FILE")
    machine = None
    recorder = None
    watcher = journey = None
    killed = False
    reason = None
    out = sys.stdout.buffer
    from .signals import StopOnSignal
    stopper = StopOnSignal() if ns.gdb is None else None   # under gdb, Ctrl-C belongs to gdb
    if stopper is not None:
        stopper.__enter__()
    try:
        from .drives import machine_kwargs
        if ns.record and not ns.image:
            raise BadArgument("--record needs a disk IMAGE (runs from --hda/--fda/--drive/--kernel alone "
                              "cannot be recorded yet)")
        machine = Machine(MachineConfig(memory_mb=ns.memory, symbols=ns.symbols, trace=trace,
                                        trace_io=ns.trace_io, trace_insns=ns.trace_insns,
                                        no_reboot=ns.no_reboot, **machine_kwargs(ns)))
        if ns.record:
            from .replay import Recorder
            recorder = Recorder(machine, ns.record, max_cycles=ns.max_cycles)

        def write_serial(b: int) -> None:
            out.write(bytes((b,)))
            if b == 0x0A:
                out.flush()

        machine.on_serial.append(write_serial)
        KeyScript(machine, steps)
        from .fault_watch import FaultWatcher
        watcher = FaultWatcher(machine)
        journey = None
        if ns.export_chrome_trace:
            from .journey import Journey
            journey = Journey().attach(machine)
            watcher.on_explanation.append(journey.add_explanation)
        if not ns.no_stdin:
            _stdin_feeder(machine)
        if ns.gdb is not None:
            from .gdbstub import serve_gdb
            session = serve_gdb(machine, ns.gdb_host, ns.gdb, max_cycles=ns.max_cycles,
                                announce=lambda text: print(f"{PROG}: {text}", file=sys.stderr, flush=True))
            reason = session.reason
            killed = session.how == "kill"
        else:
            if stopper is not None:
                stopper.attach(machine)
            reason = machine.run(ns.max_cycles)
            if stopper is not None and stopper.signum is not None and reason == StopReason.PAUSED:
                reason = None
                machine.emit("stop", reason="interrupted", signal=stopper.name)
        machine.fast.flush_frames()
    except KeyboardInterrupt:
        reason = None
        code = EXIT_INTERRUPTED
        print(f"\n{PROG}: interrupted", file=sys.stderr)
    finally:
        if stopper is not None:
            stopper.restore()
        if recorder is not None and machine is not None:
            recorder.finish(reason, interrupted=reason is None)
        try:
            out.flush()
        except BrokenPipeError:
            pass
        if trace is not None:
            trace.close()
    assert machine is not None
    written = True
    if ns.profile:
        written &= _write_json(ns.profile, profile_document(machine))
    if ns.screen:
        written &= _write_text(ns.screen, machine.screen_text())
    written &= _write_exports(ns, machine, journey if reason is not None else None)
    if recorder is not None and getattr(recorder, "error", None):
        written = False
    if trace is not None and trace.error:
        print(f"{PROG}: --trace {ns.trace}: write failed ({trace.error}); the file holds the "
              f"events up to the failure, whole lines only", file=sys.stderr)
        written = False
    code = _main_run_status(machine, reason, killed, stopper, None if ns.brief_faults else watcher)
    return code if written else EXIT_WRITE_ERROR


def _main_run_status(machine: Any, reason: Any, killed: bool, stopper: Any, watcher: Any) -> int:
    """The stop line(s) on stderr and the exit status of a run whose outputs are written."""
    from .machine import StopReason
    if killed:
        print(f"{PROG}: killed by the debugger at cycle {machine.cycles}", file=sys.stderr)
        return EXIT_OK
    if reason is None:
        if stopper is not None and stopper.signum is not None:
            from .signals import exit_status
            print(f"{PROG}: interrupted by {stopper.name} at cycle {machine.cycles} ({machine.where()})",
                  file=sys.stderr)
            return exit_status(stopper.signum)
        return EXIT_INTERRUPTED
    code = exit_code(machine, reason)
    if reason not in (StopReason.POWER_OFF, StopReason.RESET):
        print(f"{PROG}: {machine.stop_message or reason.value}{_last_instructions(machine)}", file=sys.stderr)
        _print_fault_explanation(watcher, reason)
    return code


def _write_exports(ns: Any, machine: Any, journey: Any) -> bool:
    """--export-speedscope / --export-chrome-trace / --export-screen-svg (emu/export.py)."""
    if not (ns.export_speedscope or ns.export_chrome_trace or ns.export_screen_svg
            or getattr(ns, "screen_png", None)):
        return True
    from . import export
    try:
        if ns.export_speedscope:
            export.write_json(ns.export_speedscope, export.speedscope_document(
                machine.profile_table(), name=Path(ns.image).name, total_cycles=machine.cycles))
        if ns.export_chrome_trace:
            export.write_json(ns.export_chrome_trace, export.chrome_trace_document(
                machine.profile_table(), milestones=journey.milestones if journey else (),
                name=Path(ns.image).name))
        if ns.export_screen_svg:
            export.write_text(ns.export_screen_svg, export.machine_screen_svg(machine))
        if getattr(ns, "screen_png", None):
            from ..devices.vga_render import png_bytes
            Path(ns.screen_png).write_bytes(png_bytes(machine.screen_frame()))
    except OSError as exc:
        print(f"{PROG}: cannot write {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def explain_parser() -> argparse.ArgumentParser:
    p = Parser(prog=f"{PROG} explain", description="Boot an image headless and print its boot "
                                "journey: each milestone with its cycle stamp and what it means (docs/journey.md). "
                                "COM1 output is not shown; the exit status is the run's (docs/cli.md).")
    p.add_argument("image", help="raw bootable disk image")
    _common(p)
    p.add_argument("--max-cycles", type=parse_cycles, metavar="N", help="stop after N modelled cycles (exit 67)")
    p.add_argument("--pause-at-milestones", action="store_true",
                   help="print each milestone as it happens and, on a terminal, wait for Enter")
    p.add_argument("--after-main", type=int, default=20_000_000, metavar="CYCLES",
                   help="stop this many cycles after the program's main is reached (default 20000000, 0.2 s "
                        "emulated; exit 0); 0 runs on until the guest stops")
    p.add_argument("--brief", action="store_true", help="titles and texts only, without the decoded details")
    p.add_argument("--json", metavar="FILE", help="also write the milestones as JSON")
    p.add_argument("--tables", action="store_true",
                   help="after the journey, decode the GDT/LDT, IDT and TSS as the run left them "
                        "(as Bochs's info gdt / info idt / info tss)")
    add_address_option(p)
    p.add_argument("--irq", metavar="N|timer|all", help="after the journey, where a raised IRQ N (0-23, the LAPIC timer, or all) "
                   "stops on its way to the handler: 8259, I/O APIC, LAPIC, IF, IDT gate (docs/interrupts.md)")
    _brief_faults(p)
    return p


def _main_explain(args: list[str]) -> int:
    """`explain IMAGE`: the journey on stdout; the stop line (and a fault's explanation) on stderr."""
    ns = explain_parser().parse_args(args)
    from .outputs import check_output
    check_output("--json", ns.json)
    if ns.after_main < 0:
        raise BadArgument(f"--after-main {ns.after_main}: must be 0 or more cycles")
    steps = key_steps(getattr(ns, "key_script", None))
    from .irqpath_report import irq_option
    irq_lines = irq_option(ns.irq)
    from .fault_watch import FaultWatcher
    from .journey import Journey
    from .machine import Machine, MachineConfig, StopReason

    from .signals import StopOnSignal, exit_status
    # installed before the machine is built: a signal during the build is not lost
    stopper = None if ns.pause_at_milestones and sys.stdin.isatty() else StopOnSignal()  # input() needs Ctrl-C
    if stopper is not None:
        stopper.__enter__()
    try:
        machine = Machine(MachineConfig(image=ns.image, memory_mb=ns.memory, symbols=ns.symbols))
    except BaseException:
        if stopper is not None:
            stopper.restore()
        raise
    if stopper is not None:
        stopper.attach(machine)
    addresses = [resolve_address(machine, a) for a in ns.address]
    watcher = FaultWatcher(machine)
    journey = Journey().attach(machine)
    watcher.on_explanation.append(journey.add_explanation)
    KeyScript(machine, steps)
    details = not ns.brief
    interactive = ns.pause_at_milestones and sys.stdin.isatty()
    shown = 0
    limit = [ns.max_cycles]

    def on_milestone(m: Any) -> None:
        if m.kind == "symbol" and m.role == "main" and ns.after_main > 0:
            end = m.cycle + ns.after_main
            limit[0] = end if limit[0] is None else min(limit[0], end)
            machine.request_pause()          # pick up the new limit
        elif ns.pause_at_milestones and m.pause:
            machine.request_pause()

    journey.listeners.append(on_milestone)
    try:
        while True:
            reason = machine.run(limit[0])
            if stopper is not None and stopper.signum is not None:
                machine.emit("stop", reason="interrupted", signal=stopper.name)
                print(f"{PROG}: interrupted by {stopper.name} at cycle {machine.cycles} ({machine.where()})",
                      file=sys.stderr)
                return exit_status(stopper.signum)
            if ns.pause_at_milestones:
                for m in journey.milestones[shown:]:
                    print(m.format(journey.cpu_hz, details=details), flush=True)
                shown = len(journey.milestones)
            if reason != StopReason.PAUSED:
                break
            if interactive and ns.pause_at_milestones:
                try:
                    input("-- paused at this milestone; Enter to continue --")
                except EOFError:
                    interactive = False
        machine.fast.flush_frames()
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if stopper is not None:
            stopper.restore()
    if ns.pause_at_milestones:
        for m in journey.milestones[shown:]:
            print(m.format(journey.cpu_hz, details=details))
    else:
        sys.stdout.write(journey.text(details=details))
    if ns.tables:
        from .tables import machine_tables
        sys.stdout.write("\nDescriptor tables at the end of the run:\n" + machine_tables(machine).text())
    sys.stdout.write(addresses_text(machine, addresses))      # explain --address (emu/page_walk.py)
    if ns.irq is not None:
        from .irqpath_report import report
        sys.stdout.write("\nThe interrupt path at the end of the run:\n" + report(machine, irq_lines))
    sys.stdout.flush()
    if ns.json and not _write_json(ns.json, {"image": str(ns.image), "cycles": machine.cycles, "stop": reason.value,
                              "milestones": [m.to_dict() for m in journey.milestones],
                              "faults": [e.to_dict() for e in watcher.explanations]}):
        from .outputs import EXIT_WRITE_ERROR
        return EXIT_WRITE_ERROR
    if reason not in (StopReason.POWER_OFF, StopReason.RESET):
        print(f"{PROG}: {machine.stop_message or reason.value}{_last_instructions(machine)}", file=sys.stderr)
        _print_fault_explanation(None if ns.brief_faults else watcher, reason)
    if reason == StopReason.CYCLE_LIMIT:
        return EXIT_OK       # explain stopped where it was told to (--after-main, --max-cycles): done
    return exit_code(machine, reason)


def _print_fault_explanation(watcher: Any, reason: Any) -> None:
    """After the one-line stop message: the fault explainer's full text, for a triple fault, or
    for a stop that follows an exception (a panic handler that halts)."""
    from .machine import StopReason
    last = watcher.last if watcher is not None else None
    if last is None:
        return
    if reason == StopReason.TRIPLE_FAULT:
        sys.stderr.write(last.text())
    elif reason in (StopReason.HALTED, StopReason.IDLE, StopReason.GUEST_ERROR):
        sys.stderr.write(f"The last exception before the stop (cycle {last.cycle:,}):\n" + last.text())


def _last_instructions(machine: Any, n: int = 4) -> str:
    """'; last instructions: a: insn | b: insn' (the explainer reads them from the native ring)."""
    try:
        from .explain import recent_instructions
        insns = recent_instructions(machine, stop_at=machine.cpu.linear_pc(), limit=n)
    except Exception:  # a report must never crash the exit path
        return ""
    if not insns:
        return ""
    return "; last instructions: " + " | ".join(f"{addr:#x}: {text}" for addr, text in insns)


def _write_json(path: str, doc: Any) -> bool:
    from .outputs import write_text
    return write_text(path, json.dumps(doc, indent=2) + "\n")


def _write_text(path: str, text: str) -> bool:
    from .outputs import write_text
    return write_text(path, text)


if __name__ == "__main__":
    sys.exit(exit_process(main()))
