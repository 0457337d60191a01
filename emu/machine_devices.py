"""Wiring the PC's devices onto the port bus (what a motherboard does).

Kept apart from machine.py so the list of devices and their connections reads at a glance:
which IRQ line each uses, and which machine callbacks they drive.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..devices.a20 import FastA20
from ..devices.acpi_pm import AcpiPm
from ..devices.cmos import Cmos
from ..devices.debug_exit import DebugExit
from ..devices.debugcon import DebugCon
from ..devices.hpet import Hpet
from ..devices.i440fx import i440fx_functions
from ..devices.imcr import Imcr
from ..devices.ioapic import GsiRouter, IoApic
from ..devices.lapic import LocalApic
from ..devices.pci import PciHost
from ..devices.pic import Pic
from ..devices.pit import Pit
from ..devices.pmtimer import PmTimer
from ..devices.power import AcpiPower
from ..devices.ps2 import I8042
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

    def on_pic_intr(level: bool) -> None:
        lapic.lint(0, int(level))      # the 8259's INTR is wired to LINT0 (virtual wire)
        on_intr(level)

    pic = Pic(on_intr=on_pic_intr)
    # issue 10: local APIC + I/O APIC; ISA IRQs reach both the 8259s and the I/O APIC
    lapic = LocalApic(clock=m.clock, pic=pic, on_intr=on_intr)
    ioapic = IoApic(lapic=lapic, pic=pic)
    irq = GsiRouter(pic, ioapic)
    devices: dict[str, Any] = {
        "pic": pic,
        "lapic": lapic,
        "ioapic": ioapic,
        "pit": Pit(clock=m.clock, irq=irq),
        "uart": Uart16550(clock=m.clock, irq=irq, on_tx=on_tx),
        "ps2": I8042(clock=m.clock, irq=irq, on_reset_cpu=lambda: m.request_reset("8042 command 0xFE"),
                     on_a20=m.set_a20),
        "vga": VgaText(clock=m.clock),
        "a20": FastA20(on_a20=m.set_a20, on_reset=lambda: m.request_reset("port 0x92 bit 0")),
        "debug_exit": DebugExit(on_exit=m.power_off),
        "debugcon": DebugCon(on_byte=on_debugcon),
        "cmos": Cmos(clock=m.clock, irq=irq, memory_mb=m.memory_bytes // (1024 * 1024)),
        "power": AcpiPower(on_power_off=lambda: m.power_off(0)),
        # issue 10: PCI configuration space of QEMU's i440FX (devices/pci.py, devices/i440fx.py)
        "pci": PciHost(i440fx_functions(m.memory_bytes)),
        "imcr": Imcr(lapic=lapic),
        "pm_timer": PmTimer(clock=m.clock),
        "hpet": Hpet(clock=m.clock, irq=irq),
    }
    devices["acpi_pm1"] = AcpiPm(clock=m.clock, power=devices["power"])
    for dev in devices.values():
        m.bus.register(dev)
    return devices


# ---- issue 10: memory-mapped devices and what SeaBIOS sets up beyond the port bus ----------
#: (base, size, device name): the board's MMIO windows (until the board's map_mmio lands)
MMIO_DEVICES = (
    (0xFEE00000, 0x1000, "lapic"),
    (0xFEC00000, 0x1000, "ioapic"),
    (0xFED00000, 0x1000, "hpet"),      # 0x400 used; Unicorn maps whole pages
)


def map_board_mmio(m: "Machine") -> None:
    """Map each MMIO device with Unicorn's mmio_map; the callbacks run at the exact cycle of
    the access (like port I/O) and let the machine re-arm its deadline afterwards."""
    trace = bool(m.config.trace_io and m.trace)     # --trace-io records MMIO as "mmio" events
    for base, size, name in MMIO_DEVICES:
        dev = m.devices[name]

        def read(uc, offset: int, size: int, _ud, dev=dev, base=base) -> int:
            m._io_now = m._exact_now()
            try:
                value = dev.mmio_read(offset, size)
                if trace:
                    m._emit("mmio", dir="read", addr=base + offset, size=size, value=value)
                return value
            finally:
                m._io_now = None
                m._after_io()

        def write(uc, offset: int, size: int, value: int, _ud, dev=dev, base=base) -> None:
            m._io_now = m._exact_now()
            try:
                if trace:
                    m._emit("mmio", dir="write", addr=base + offset, size=size, value=value)
                dev.mmio_write(offset, size, value)
            finally:
                m._io_now = None
                m._after_io()

        m.uc.mmio_map(base, size, read, None, write, None)


def post_board(m: "Machine") -> None:
    """SeaBIOS's POST work that is not port I/O: the local APIC set-up and the firmware
    tables (MP, ACPI, SMBIOS) in RAM and the F segment."""
    m.devices["lapic"].seabios_setup()
    try:
        from .bios.tables import install_tables
    except ImportError:
        return
    install_tables(m)
