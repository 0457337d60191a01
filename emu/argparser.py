"""argparse with git-style errors: one line and a hint, not the whole usage block.

    bareflow-emu: error: argument --max-cycles: 'abc' is not a whole number of cycles
    see 'bareflow-emu run --help'

Status 2, as argparse's own (docs/cli.md).  `--help` still prints the full usage.
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

PROG = "bareflow-emu"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message}\nsee '{self.prog} --help'\n")
        sys.exit(2)
