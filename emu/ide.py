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


def after_post(channels: dict[str, AtaChannel]) -> None:
    """Leave the registers as SeaBIOS's probe does (called after POST, before the boot read)."""
    for ch in channels.values():
        firmware_residue(ch)


def note_bios_transfer(channels: dict[str, AtaChannel], ata_index: int, lba: int, count: int) -> None:
    """An INT 13h transfer on ATA drive `ata_index`: the registers SeaBIOS's driver leaves."""
    ch = channels["ide0" if ata_index < 2 else "ide1"]
    bios_transfer(ch, ata_index & 1, lba, count)
