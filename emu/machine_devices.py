"""Wiring the PC's devices onto the port bus (what a motherboard does).

Kept apart from machine.py so the list of devices and their connections reads at a glance:
which IRQ line each uses, and which machine callbacks they drive.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..devices.a20 import FastA20
from ..devices.cmos import Cmos
from ..devices.debug_exit import DebugExit
from ..devices.debugcon import DebugCon
from ..devices.pic import Pic
from ..devices.pit import Pit
from ..devices.power import AcpiPower
from ..devices.ps2 import I8042
from ..devices.reset_control import ResetControl
from ..devices.uart import Uart16550
from ..devices.vga import VgaText

if TYPE_CHECKING:
    from .machine import Machine


def build_devices(m: "Machine") -> dict[str, Any]:
    def on_intr(level: bool) -> None:
        if level:
            m.fast.set_deadline(0)  # deliver (or note) it at the next block boundary

    def on_tx(byte: int) -> None:
        if m.powered_off:
            return  # the rest of the block after a debug-exit write: QEMU has already exited
        m.serial_out.append(byte)
        m._emit("serial", byte=byte, char=chr(byte))
        for cb in m.on_serial:
            cb(byte)

    def on_debugcon(byte: int) -> None:
        m.debugcon_out.append(byte)
        m._emit("debugcon", byte=byte, char=chr(byte))

    pic = Pic(on_intr=on_intr)
    devices: dict[str, Any] = {
        "pic": pic,
        "pit": Pit(clock=m.clock, irq=pic),
        "uart": Uart16550(clock=m.clock, irq=pic, on_tx=on_tx),
        "ps2": I8042(clock=m.clock, irq=pic, on_reset_cpu=lambda: m.request_reset("8042 command 0xFE"),
                     on_a20=m.set_a20),
        "vga": VgaText(clock=m.clock),
        "a20": FastA20(on_a20=m.set_a20, on_reset=lambda: m.request_reset("port 0x92 bit 0")),
        "debug_exit": DebugExit(on_exit=m.power_off),
        "debugcon": DebugCon(on_byte=on_debugcon),
        "cmos": Cmos(clock=m.clock, irq=pic, memory_mb=m.memory_bytes // (1024 * 1024)),
        "power": AcpiPower(on_power_off=lambda: m.power_off(0)),
        "reset_control": ResetControl(on_reset=m.request_reset),
    }
    for dev in devices.values():
        m.bus.register(dev)
    return devices
