"""Snapshots: a point in the guest's history, and the way back to it.

The clock is deterministic, so running on from a restored snapshot replays the same
instructions and cycles.  A snapshot holds RAM once, the CPU context, the counters of the fast
path and the profiler, the board's state (A20, every device, the BIOS, the output lengths) and
the length of the input journal.  After a restore the `hooks.restores` subscribers are told
(the boot journey rewinds its story; time travel re-feeds later inputs itself).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any



@dataclass
class Snapshot:
    """A point in the guest's history (see Machine.snapshot)."""

    cycles: int
    instructions: int
    context: Any
    ram: bytes
    a20: bool
    devices: dict[str, Any]
    halted: bool
    serial_len: int
    debugcon_len: int
    func_counters: tuple[list[int], list[int], list[int]]
    func_names: list[str]
    input_log_len: int
    bios: Any = None


def take(m: Any) -> Snapshot:
    names = m.function_names()
    excl, incl, calls = m.fast.func_counters(len(names))
    board = m.board.state()
    return Snapshot(
        cycles=m.cycles, instructions=m.instructions,
        context=m.uc.context_save(), ram=bytes(m.board.ram), a20=board["a20"],
        devices=board["devices"], halted=m.halted, serial_len=board["serial_len"],
        debugcon_len=board["debugcon_len"], func_counters=(list(excl), list(incl), list(calls)),
        func_names=names, input_log_len=len(m.door.log), bios=board["bios"],
    )


def restore(m: Any, snap: Snapshot) -> None:
    """Return to a snapshot taken on this machine (only while not running)."""
    m.fast.flush_frames()
    m.board.ram[:] = snap.ram
    m.board.set_a20(snap.a20)
    m.uc.context_restore(snap.context)
    m.cpu.forget_cs()
    m.uc.ctl_flush_tb()
    m.fast.clear()
    m.pricer.forget()
    # the clock first: devices re-schedule their pending events relative to it
    m.fast.reset_counters()
    m.fast.write(cycles=snap.cycles, instructions=snap.instructions)
    m.fast.set_func_counters(*snap.func_counters)
    m.clock.clear()
    m.board.load_state({"a20": snap.a20, "devices": snap.devices, "bios": snap.bios,
                        "serial_len": snap.serial_len, "debugcon_len": snap.debugcon_len})
    m.halted = snap.halted
    del m.door.log[snap.input_log_len:]
    m.reset_transient()
    for cb in list(m.hooks.restores):
        cb(snap)
