"""Command-line value parsers shared by the commands (cli.py, grade/): a module of its own so
that a command's module never imports another command's.  Each raises
argparse.ArgumentTypeError with the one line argparse prints."""
from __future__ import annotations

import argparse


def parse_cycles(text: str) -> int:
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of cycles") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be positive")
    return value


def parse_memory(text: str) -> int:
    t = text.strip().upper().removesuffix("B")
    mult = 1
    if t.endswith("G"):
        mult, t = 1024, t[:-1]
    elif t.endswith("M"):
        t = t[:-1]
    try:
        value = int(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size in MiB (e.g. 64 or 64M or 1G)") from None
    return value
