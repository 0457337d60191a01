"""`bareflow-emu`: the console script, a small front-end dispatcher.

The headless commands (`run`, `explain`, `replay`) are the emulator's own (emu/cli.py); with no
subcommand, `bareflow-emu [IMAGE]` opens the TUI on the image (the bundled one by default).
This module sits above both, so the emulator package never imports a front end.
"""
from __future__ import annotations

from typing import Sequence

from bareflow.emu import cli as emu_cli


def _tui(args: list[str]) -> int:
    ns, image, steps = emu_cli.front_end_args(args)
    try:
        from .app import run_tui
    except ImportError as exc:   # Textual missing or broken: one line, the usage status
        raise emu_cli.BareflowError(f"the TUI is not available ({exc})") from None
    return run_tui(str(image), memory_mb=ns.memory, symbols=ns.symbols, initial_keys=steps,
                   pause_at_milestones=ns.pause_at_milestones, time_travel=not ns.no_time_travel)


def main(argv: Sequence[str] | None = None) -> int:
    return emu_cli.main(argv, front_end=_tui)


if __name__ == "__main__":
    raise SystemExit(main())
