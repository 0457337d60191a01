"""Why a run stopped (what `Machine.run` and `step` return)."""
from __future__ import annotations

import enum


class StopReason(enum.Enum):
    PAUSED = "paused"
    BREAKPOINT = "breakpoint"
    STEP = "step"
    HALTED = "halted"              # HLT with interrupts off: nothing can wake the CPU
    IDLE = "idle"                  # HLT with interrupts on, but no event and no input can ever come
    POWER_OFF = "powered off"
    RESET = "reset"                # the guest asked for a reset (-no-reboot: we stop)
    TRIPLE_FAULT = "triple fault"
    CYCLE_LIMIT = "cycle limit"
    GUEST_ERROR = "guest error"    # unmapped memory, an instruction Unicorn cannot run
