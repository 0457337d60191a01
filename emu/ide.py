"""Wiring the PIIX3 IDE channels of QEMU's i440FX onto the board (devices/ata.py is the chip).

Primary channel 0x1F0-0x1F7 / 0x3F6, IRQ 14; secondary 0x170-0x177 / 0x376, IRQ 15 (legacy ISA
mode).  Drive n (0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave) gets
serial "QM0000<n+1>" as QEMU numbers them.  Without a drive at index 2, QEMU's pc machine adds an
empty IDE CD-ROM there (its default `-cdrom` slot): we do the same, so that a guest probing the
secondary channel finds what it finds under QEMU.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..devices.ata import AtaChannel, AtaDrive, bios_transfer, firmware_residue
from .bios.disk import qemu_geometry


def build_ide(clock, pic, stores: Sequence[Any | None],
              on_event: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, AtaChannel]:
    """Two channels over `stores` (index 0..3, None = no drive)."""
    stores = list(stores) + [None] * (4 - len(stores))
    drives = []
    for i, st in enumerate(stores[:4]):
        if st is None:
            drives.append(AtaDrive(None, kind="cd" if i == 2 else "none", serial=f"QM0000{i + 1}"))
        else:
            chs, _ = qemu_geometry(st.sectors, st.read(0, 1) if st.sectors else b"")
            drives.append(AtaDrive(st, chs=chs, serial=f"QM0000{i + 1}"))
    primary = AtaChannel(name="ide0", base=0x1F0, ctrl=0x3F6, irq_line=14, clock=clock, irq=pic,
                         drives=(drives[0], drives[1]), on_event=on_event)
    secondary = AtaChannel(name="ide1", base=0x170, ctrl=0x376, irq_line=15, clock=clock, irq=pic,
                           drives=(drives[2], drives[3]), on_event=on_event)
    return {"ide0": primary, "ide1": secondary}


def after_post(board: Any) -> None:
    """Called by the core after POST, before the boot read: the ATA registers as SeaBIOS's
    probe leaves them, and QEMU's drive bytes in the CMOS."""
    for ch in board.ide.values():
        firmware_residue(ch)
    cmos = board.devices.get("cmos")
    if cmos is not None and board.drives is not None:
        cmos_drive_info(cmos.ram, board.drives, board.bios.disks.floppy, board.boot_order)
        # the IBM PS/2 century byte: QEMU's pc machine has the century (32h) there too
        index = cmos.index
        cmos.io_write(0x70, 1, 0x32)
        cmos.ram[0x37] = cmos.io_read(0x71, 1)
        cmos.index = index


def cmos_drive_info(ram: bytearray, drives: Any, floppy_media: Any, boot_order: str) -> None:
    """What QEMU's pc_cmos_init writes about drives (measured, tests/images/drives_probe.asm):
    10h floppy types (drive A: always, 2.88 MB when empty), 14h bit 0 + bits 6-7 the floppy
    count, 12h/19h/1Ah the hard disk types (47 = user defined), 1Bh-23h and 24h-2Ch the first
    two disks' geometry, 39h the BIOS translation hints, 3Dh/38h the boot order."""
    fd_type = floppy_media.drive_type if floppy_media is not None else 5
    ram[0x10] = fd_type << 4
    ram[0x14] = (ram[0x14] & 0x3E) | 0x01
    ram[0x12] = 0
    ram[0x39] = 0
    for n, (types_bit, type_reg, base) in enumerate(((0xF0, 0x19, 0x1B), (0x0F, 0x1A, 0x24))):
        st = drives.ide[n]
        for i in range(9):
            ram[base + i] = 0
        ram[type_reg] = 0
        if st is None:
            continue
        (cyls, heads, secs), trans = qemu_geometry(st.sectors, st.read(0, 1) if st.sectors else b"")
        ram[0x12] |= types_bit
        ram[type_reg] = 47
        ram[base:base + 9] = bytes([cyls & 0xFF, cyls >> 8, heads, 0xFF, 0xFF,
                                    0xC0 | (0x08 if heads > 8 else 0), cyls & 0xFF, cyls >> 8, secs])
        ram[0x39] |= trans << (2 * n)
    codes = {"a": 1, "c": 2, "d": 3}
    bds = [codes[c] for c in (boot_order or "cad")[:3]] + [0, 0, 0]
    ram[0x3D] = (bds[1] << 4) | bds[0]
    ram[0x38] = (bds[2] << 4) | (ram[0x38] & 0x01)


def note_bios_transfer(channels: dict[str, AtaChannel], ata_index: int, lba: int, count: int) -> None:
    """An INT 13h transfer on ATA drive `ata_index`: the registers SeaBIOS's driver leaves."""
    ch = channels["ide0" if ata_index < 2 else "ide1"]
    bios_transfer(ch, ata_index & 1, lba, count)
