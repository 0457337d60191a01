"""Errors the emulator reports to the user as one line (never a traceback)."""


class BareflowError(Exception):
    """Base: `str(err)` is the one-line message shown to the user."""

    exit_code = 64


class BadImage(BareflowError):
    """The disk image cannot be booted: missing, unreadable, too short, no 0x55AA signature."""

    exit_code = 64


class BadArgument(BareflowError):
    """A command-line value that makes no sense (bad number, unknown symbol, ...)."""

    exit_code = 64
