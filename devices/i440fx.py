"""The PCI functions of QEMU 7.2's default `pc` (i440FX) machine with `-net none`.

    00:00.0  i440FX host bridge        8086:1237 rev 02, class 0600
    00:01.0  PIIX3 PCI-to-ISA bridge   8086:7000 rev 00, class 0601, multi-function
    00:01.1  PIIX3 IDE (legacy ports)  8086:7010 rev 00, class 0101 prog-if 80, BAR4 16 B I/O
    00:01.3  PIIX4 ACPI / PM / SMBus   8086:7113 rev 03, class 0680, INTA
    00:02.0  standard VGA              1234:1111 rev 02, class 0300, BAR0 16 MiB prefetchable,
                                       BAR2 4 KiB MMIO, 64 KiB ROM BAR

These are the *power-on* contents (QEMU's realize/reset: hw/pci-host/i440fx.c, hw/isa/piix3.c,
hw/ide/piix.c, hw/acpi/piix4.c, hw/display/vga-pci.c), read back under QEMU and separated
from what SeaBIOS writes at POST; SeaBIOS's writes are replayed through the config ports by
emu/bios/pciinit.py, so a guest sees the same dwords as under QEMU + SeaBIOS
(tests/images/kern_pci.asm).  QEMU's subsystem ID 1AF4:1100 is on every function.
"""
from __future__ import annotations

from .pci import PciFunction

#: (device, function) -> function, on bus 0
SLOTS = ((0, 0), (1, 0), (1, 1), (1, 3), (2, 0))


def host_bridge(memory_bytes: int = 64 << 20) -> PciFunction:
    f = PciFunction(0x8086, 0x1237, 0x02, 0x060000)
    # QEMU's I440FX_COREBOOT_RAM_SIZE: RAM in 8 MiB units (at most 255), for coreboot
    f.set8(0x57, min(255, memory_bytes >> 23))
    f.set8(0x72, 0x02)          # SMRAM: C_BASE_SEG = 010b (A0000h); SeaBIOS sets G_SMRAME
    f.freeze()
    return f


def piix3_isa() -> PciFunction:
    f = PciFunction(0x8086, 0x7000, 0x00, 0x060100, header_type=0x80)
    f.set16(0x06, 0x0200)       # status: DEVSEL medium
    # piix3_reset: IORT, XBCS, PIRQ routing disabled (80h), TOM, MBIRQ, APIC base, SMI control
    for off, v in ((0x4C, 0x4D), (0x4E, 0x03), (0x60, 0x80), (0x61, 0x80), (0x62, 0x80),
                   (0x63, 0x80), (0x69, 0x02), (0x70, 0x80), (0x76, 0x0C), (0x77, 0x0C),
                   (0x78, 0x02), (0xA0, 0x08), (0xA8, 0x0F)):
        f.set8(off, v)
    f.freeze()
    return f


def piix3_ide() -> PciFunction:
    f = PciFunction(0x8086, 0x7010, 0x00, 0x010180)
    f.set16(0x06, 0x0280)       # status: fast back-to-back, DEVSEL medium
    f.add_bar(0x20, 16, 0x1)    # BAR4: bus-master IDE registers (I/O)
    f.freeze()
    return f


def piix4_pm() -> PciFunction:
    f = PciFunction(0x8086, 0x7113, 0x03, 0x068000)
    f.set16(0x06, 0x0280)
    f.set8(0x3D, 0x01)          # INTA (the SCI; hardwired to IRQ 9 on this chipset)
    f.set8(0x40, 0x01)          # PMBA: I/O space indicator, base not yet set
    for off, v in ((0x5B, 0x02), (0x5F, 0x90), (0x63, 0x60), (0x67, 0x08)):
        f.set8(off, v)          # DEVACTB / DEVRESx power-on values
    f.freeze()
    return f


def std_vga() -> PciFunction:
    f = PciFunction(0x1234, 0x1111, 0x02, 0x030000)
    f.add_bar(0x10, 16 << 20, 0x8)     # linear framebuffer, prefetchable
    f.add_bar(0x18, 4096, 0x0)         # bochs dispi / VGA ioports as MMIO
    f.add_bar(0x30, 64 << 10, 0x0)     # VGA BIOS ROM
    f.freeze()
    return f


def i440fx_functions(memory_bytes: int = 64 << 20) -> dict[tuple[int, int], PciFunction]:
    """Fresh power-on functions keyed by (device, function)."""
    return {(0, 0): host_bridge(memory_bytes), (1, 0): piix3_isa(), (1, 1): piix3_ide(), (1, 3): piix4_pm(),
            (2, 0): std_vga()}
