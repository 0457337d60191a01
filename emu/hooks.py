"""Hook points: where tools subscribe to the machine instead of patching it.

Four kinds of subscribers, each a plain list the machine walks only when it is not empty (an
empty list costs one truth test on the paths that have one, and the per-block path has none):

- `events`: every architectural event as (kind, cycle, icount, fields), like the trace file
  but in memory (mode switches, descriptor-table loads, interrupts, faults, serial bytes...);
- `deliveries`: called just BEFORE the core delivers an interrupt or exception, as
  (vector, return_eip, kind, error_code), so a watcher can freeze the state the CPU saw; it
  may return a callable, called after the delivery with True (delivered) or False (triple
  fault), which is how the fault explainer sees what the delivery did;
- `restores`: called after the machine went back to a snapshot (time travel), with it;
- `inputs`: every host input as it enters the guest's devices, an `InputRecord` (the one
  journal that record/replay and time travel read).
Port I/O has its own list on the bus (`Bus.observe_io`), next to the accesses it reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class InputRecord:
    """One host input as the guest's devices received it."""

    cycle: int          # the clock at that moment (exact, inside an I/O instruction)
    kind: str           # "serial" (COM1 bytes), "keys" (typed text), "scancodes" (set-1 codes)
    data: Any           # bytes, str or list[int]
    where: str          # "boundary" (between blocks) or "io" (inside a guest I/O access)
    serial_len: int     # COM1 bytes the guest had sent when it arrived (places "io" inputs)


class Hooks:
    """The machine's subscriber lists (see the module docstring)."""

    def __init__(self) -> None:
        self.events: list[Callable[[str, int, int, dict[str, Any]], None]] = []
        self.deliveries: list[Callable[[int, int, str, int | None], Callable[[bool], None] | None]] = []
        self.restores: list[Callable[[Any], None]] = []
        self.inputs: list[Callable[[InputRecord], None]] = []
        #: `events`/`deliveries` subscribers that can do without real-mode IVT deliveries (and
        #: the BIOS services) the native path makes without telling Python, one by one
        #: (emu/native_delivery.py), and without the `cr_write` event of a MOV CR3 with paging
        #: on (emu/fastpath_paging.c): while any other subscriber is attached, all go through Python
        self.batched: set[Callable] = set()

    def subscribe(self, where: list, callback: Callable, *, batched: bool = False) -> Callable[[], None]:
        """Append `callback` to a list; returns the function that removes it again.
        batched=True: it does not need each real-mode delivery (see `batched`)."""
        where.append(callback)
        if batched:
            self.batched.add(callback)

        def off() -> None:
            if callback in where:
                where.remove(callback)
            if callback not in where:
                self.batched.discard(callback)
        return off
