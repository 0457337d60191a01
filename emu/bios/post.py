"""POST: program the chipset through the port bus as SeaBIOS leaves it at boot.

Measured under QEMU at the first instruction of a boot sector: PIC master IMR B8h (IRQ0
timer, IRQ1 keyboard, IRQ2 cascade, IRQ6 floppy enabled), slave IMR 8Eh (IRQ8 RTC, IRQ12
mouse, IRQ13 FPU, IRQ14 IDE enabled), vectors 08h / 70h; PIT channel 0 in mode 2 with count
0 (65536: 18.2 Hz); 8042 command byte 61h (translate to set 1, mouse port off, keyboard
IRQ on); A20 on through port 92h; RTC status A 26h, B 02h (24-hour, BCD).
Everything goes through `bus.io_write`, so the device models stay the single source of truth.
"""
from __future__ import annotations

from .pciinit import seabios_pci_init
from .timer import RTC_A, RTC_B, RTC_B_24HR, RTC_B_DSE, RTC_C, RTC_D, Rtc

PIC_SETUP = [
    (0x20, 0x11), (0xA0, 0x11),     # ICW1: edge triggered, cascade, ICW4 follows
    (0x21, 0x08), (0xA1, 0x70),     # ICW2: vector bases 08h and 70h
    (0x21, 0x04), (0xA1, 0x02),     # ICW3: slave on IRQ2 / slave id 2
    (0x21, 0x01), (0xA1, 0x01),     # ICW4: 8086 mode, normal EOI
    (0x21, 0xB8), (0xA1, 0x8E),     # OCW1: the masks SeaBIOS ends with
]
PIT_SETUP = [(0x43, 0x34), (0x40, 0x00), (0x40, 0x00)]   # ch0, lobyte/hibyte, mode 2, count 0
KBC_SETUP = [(0x64, 0x60), (0x60, 0x61)]                 # write command byte = 61h


def kbc_self_test(bus) -> None:
    """8042 self-test (command AAh, answer 55h), as SeaBIOS's keyboard init does: it sets the
    status register's system flag, so a guest reads 1Ch at port 64h as under QEMU, not 18h."""
    if bus.device_at(0x64) is None:
        return
    bus.io_write(0x64, 1, 0xAA)
    for _ in range(16):             # the reply is immediate in the model; bounded all the same
        if bus.io_read(0x64, 1) & 0x01:
            bus.io_read(0x60, 1)
            break


def run_post(bus) -> int:
    """Program the devices; returns the BDA tick count for the RTC's time of day."""
    kbc_self_test(bus)              # first: ICW1 below then drops the IRQ1 edge its reply raised
    for port, value in PIC_SETUP + PIT_SETUP + KBC_SETUP:
        bus.io_write(port, 1, value)
    if bus.device_at(0x92) is not None:
        bus.io_write(0x92, 1, (bus.io_read(0x92, 1) | 0x02) & ~0x01)
    seabios_pci_init(bus)
    rtc = Rtc(bus)
    if rtc.present:
        rtc.write(RTC_A, 0x26)
        rtc.write(RTC_B, (rtc.read(RTC_B) & RTC_B_DSE) | RTC_B_24HR)
        rtc.read(RTC_C)
        rtc.read(RTC_D)
    return rtc.ticks_of_day()
