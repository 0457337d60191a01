"""What SeaBIOS writes into PCI configuration space on QEMU's i440FX (src/fw/pciinit.c,
src/fw/dev-piix.c), replayed through ports 0xCF8/0xCFC so the device model stays the single
source of truth.  Read with tests/images/kern_pci.asm under qemu-system-i386 -m 64 -net none.

- every function: COMMAND |= IO | MEMORY | SERR; INTERRUPT_LINE from the PIRQ routing when
  it has an interrupt pin (slot irq: pci_irqs[(pin - 1 + dev - 1) & 3]);
- PIIX3 0x60-0x63: PIRQA-D routed to IRQ 10, 10, 11, 11, and those IRQs made level-triggered
  in the ELCR (ports 0x4D0/0x4D1);
- PIIX3 IDE: IDETIM 0x40/0x42 = 8000h (decode both channels), BAR4 = C000h;
- PIIX4 PM: PMBA 0x40 = 600h|1, PMREGMISC 0x80 = 1, SMBBA 0x90 = 700h|1, SMBHSTCFG 0xD2 = 09h,
  INTERRUPT_LINE = 9 (the SCI is wired to IRQ 9);
- VGA: BAR0 = FD000000h, BAR2 = FEBF0000h, ROM BAR = FEBE0000h (disabled), the addresses
  SeaBIOS's allocator gives with 64 MiB of RAM (largest first, downwards from FEC00000h);
- i440FX: PAM0 = 10h, PAM1-5 = 11h, PAM6 = 33h (BIOS shadow read-only, the last region kept
  writable), SMRAM = 0Ah.
"""
from __future__ import annotations

PM_BASE = 0x600
SMB_BASE = 0x700
PCI_IRQS = (10, 10, 11, 11)
IDE_BM_BASE = 0xC000
VGA_LFB, VGA_MMIO, VGA_ROM = 0xFD000000, 0xFEBF0000, 0xFEBE0000


def _addr(dev: int, fn: int, reg: int) -> int:
    return 0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xFC)


def cfg_write(bus, dev: int, fn: int, reg: int, size: int, value: int) -> None:
    bus.io_write(0xCF8, 4, _addr(dev, fn, reg))
    bus.io_write(0xCFC + (reg & 3), size, value)


def cfg_read(bus, dev: int, fn: int, reg: int, size: int) -> int:
    bus.io_write(0xCF8, 4, _addr(dev, fn, reg))
    return bus.io_read(0xCFC + (reg & 3), size)


def seabios_pci_init(bus) -> None:
    """Program the i440FX functions as SeaBIOS does; a machine without PCI is left alone."""
    if bus.device_at(0xCFC) is None:
        return
    # PIIX3: PIRQ routing and the ELCR
    elcr = [0, 0]
    for i, irq in enumerate(PCI_IRQS):
        elcr[irq >> 3] |= 1 << (irq & 7)
        cfg_write(bus, 1, 0, 0x60 + i, 1, irq)
    bus.io_write(0x4D0, 1, elcr[0])
    bus.io_write(0x4D1, 1, elcr[1])
    # BARs
    cfg_write(bus, 1, 1, 0x20, 4, IDE_BM_BASE)
    cfg_write(bus, 2, 0, 0x10, 4, VGA_LFB)
    cfg_write(bus, 2, 0, 0x18, 4, VGA_MMIO)
    cfg_write(bus, 2, 0, 0x30, 4, VGA_ROM)
    # every function: command register and interrupt line
    for dev, fn in ((0, 0), (1, 0), (1, 1), (1, 3), (2, 0)):
        if cfg_read(bus, dev, fn, 0, 2) == 0xFFFF:
            continue
        cmd = cfg_read(bus, dev, fn, 0x04, 2)
        cfg_write(bus, dev, fn, 0x04, 2, cmd | 0x0103)
        pin = cfg_read(bus, dev, fn, 0x3D, 1)
        if pin:
            cfg_write(bus, dev, fn, 0x3C, 1, PCI_IRQS[(pin - 1 + dev - 1) & 3])
    # device-specific set-up
    cfg_write(bus, 1, 1, 0x40, 2, 0x8000)
    cfg_write(bus, 1, 1, 0x42, 2, 0x8000)
    cfg_write(bus, 1, 3, 0x3C, 1, 9)
    cfg_write(bus, 1, 3, 0x40, 4, PM_BASE | 1)
    cfg_write(bus, 1, 3, 0x80, 1, 0x01)
    cfg_write(bus, 1, 3, 0x90, 4, SMB_BASE | 1)
    cfg_write(bus, 1, 3, 0xD2, 1, 0x09)
    # SeaBIOS's runtime calls into 32-bit code through SMM (CALL32_SMM = 0xB5 on SMI_CMD): the
    # last value a guest reads back from port 0xB2 under QEMU (there is no SMM handler here)
    if bus.device_at(0xB2) is not None:
        bus.io_write(0xB2, 1, 0xB5)
    for reg, v in ((0x59, 0x10), (0x5A, 0x11), (0x5B, 0x11), (0x5C, 0x11), (0x5D, 0x11),
                   (0x5E, 0x11), (0x5F, 0x33), (0x72, 0x0A)):
        cfg_write(bus, 0, 0, reg, 1, v)
