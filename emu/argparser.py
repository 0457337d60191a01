"""argparse with git-style errors: one line and a hint, not the whole usage block.

    bareflow-emu: error: argument --max-cycles: 'abc' is not a whole number of cycles
    see 'bareflow-emu run --help'

Status 2, as argparse's own (docs/cli.md).  `--help` still prints the full usage.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

PROG = "bareflow-emu"


def terminal_width() -> int:
    """shutil.get_terminal_size().columns without importing shutil (and bz2, lzma, zlib with
    it): $COLUMNS, else the size of the terminal on stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized as argparse sizes it (terminal width - 2).  argparse makes
    one for every add_argument, and the stock one imports shutil to ask the width: start-up
    time (issue 11) spent on help text that a run never prints."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         terminal_width() - 2 if width is None else width)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message}\nsee '{self.prog} --help'\n")
        sys.exit(2)
