"""`bareflow-emu`: the console script, a small front-end dispatcher.

The headless commands (`run`, `explain`, `replay`, `test`) are the emulator's own (emu/cli.py).
With no subcommand, `bareflow-emu [IMAGE]` opens the TUI on the image (the bundled one by
default), and `bareflow-emu replay FILE --tui` opens it paused where the recording ended.  This
module sits above both, so the emulator package never imports a front end.
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

from bareflow.emu import cli as emu_cli


def _tui(args: list[str]) -> int:
    ns, image, steps = emu_cli.front_end_args(args)
    try:
        from .app import run_tui
    except ImportError as exc:   # Textual missing or broken: one line, the usage status
        raise emu_cli.BareflowError(f"the TUI is not available ({exc})") from None
    return run_tui(str(image), memory_mb=ns.memory, symbols=ns.symbols, initial_keys=steps,
                   pause_at_milestones=ns.pause_at_milestones, time_travel=not ns.no_time_travel)


def _tui_replay(image: str, recording: dict[str, Any]) -> int:
    """`bareflow-emu replay FILE --tui`: the TUI, paused where the recorded run ended."""
    from .app import run_tui
    cfg = recording["config"]
    return run_tui(image, memory_mb=cfg.get("memory_mb", 64), symbols=cfg.get("symbols"), replay=recording)


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        from bareflow.emu.engine_build import version_line   # which Unicorn build runs
        print(version_line())
        return 0
    return emu_cli.main(argv, front_end=_tui, replay_front_end=_tui_replay)


def console_main() -> int:
    """The `bareflow-emu` console script: `main`, then a quick process exit once the outputs
    are flushed (emu/process_exit.py; only here, never for callers of `main`)."""
    return emu_cli.exit_process(main())


if __name__ == "__main__":
    raise SystemExit(console_main())
