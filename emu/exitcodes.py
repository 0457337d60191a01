"""Exit statuses of `bareflow-emu run` and `replay` (docs/cli.md), from how the run stopped.

Its own module so that the CLI and the replayer share it without importing each other.
"""
from __future__ import annotations

from typing import Any

from .stops import StopReason

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_BAD_IMAGE = 64
EXIT_TRIPLE_FAULT = 65
EXIT_HALTED = 66
EXIT_CYCLE_LIMIT = 67
EXIT_GUEST_ERROR = 68
EXIT_IDLE = 69
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def exit_code(machine: Any, reason: Any) -> int:
    return {
        StopReason.POWER_OFF: machine.exit_status if machine.exit_status is not None else EXIT_OK,
        StopReason.RESET: EXIT_OK,
        StopReason.TRIPLE_FAULT: EXIT_TRIPLE_FAULT,
        StopReason.HALTED: EXIT_HALTED,
        StopReason.IDLE: EXIT_IDLE,
        StopReason.CYCLE_LIMIT: EXIT_CYCLE_LIMIT,
        StopReason.GUEST_ERROR: EXIT_GUEST_ERROR,
    }.get(reason, EXIT_INTERNAL)
