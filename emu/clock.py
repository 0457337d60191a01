"""Old import path kept for code written before the bottom layer existed: use
`bareflow.devices.base.clock` (devices must: they may not import `bareflow.emu`)."""
from ..devices.base.clock import *  # noqa: F401,F403
from ..devices.base.clock import CPU_HZ, PIT_HZ, Clock, Event, cycles_to_pit_ticks, pit_ticks_to_cycles  # noqa: F401
