"""The AML encoder (emu/bios/aml.py), QEMU's DSDT built with it (emu/bios/dsdt.py) and the ACPI
tables laid out from it (emu/bios/tables.py).

tests/bios/data/qemu_acpi_tables_64m.bin is the top of guest RAM under
`qemu-system-i386 -m 64 -net none` (QEMU 7.2, SeaBIOS 1.16.2), read with the monitor's
`pmemsave 0x3fe0000 6924` after POST: FACS, DSDT, FADT, MADT, HPET, WAET, RSDT as SeaBIOS laid
them out.  Our tables must be those bytes, not merely equivalent AML.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bareflow.emu.bios import aml as A
from bareflow.emu.bios.dsdt import dsdt_aml
from bareflow.emu.bios.tables import acpi_blob, dsdt, rsdp

QEMU_TABLES = (Path(__file__).parent / "data" / "qemu_acpi_tables_64m.bin").read_bytes()
BASE_64M = 0x3FE0000


@pytest.mark.parametrize("length,encoded", [
    (0, b"\x01"), (0x3E, b"\x3F"),                  # one byte: the length counts itself
    (0x3F, b"\x41\x04"), (0xFFD, b"\x4F\xFF"),       # two bytes: low nibble, then bits 4-11
    (0xFFE, b"\x81\x00\x01"),                        # three bytes (0x1001 with itself)
])
def test_pkg_length(length: int, encoded: bytes) -> None:
    assert A.pkg_length(length) == encoded


def test_field_length_does_not_count_itself() -> None:
    assert A.pkg_length(32, incl_self=False) == b"\x20"
    assert A.pkg_length(0x40, incl_self=False) == b"\x40\x04"


@pytest.mark.parametrize("path,encoded", [
    ("PCI0", b"PCI0"), ("_SB", b"_SB_"), ("\\", b"\\\x00"),
    ("_SB.PCI0", b"\x2E_SB_PCI0"), ("\\_SB.PCI0.PRES", b"\\\x2F\x03_SB_PCI0PRES"),
    ("^LNKA", b"^LNKA"),
])
def test_name_string(path: str, encoded: bytes) -> None:
    assert A.name_string(path) == encoded


def test_name_segment_too_long_is_refused() -> None:
    with pytest.raises(ValueError):
        A.name_string("TOOLONG")


@pytest.mark.parametrize("value,encoded", [
    (0, b"\x00"), (1, b"\x01"), (2, b"\x0A\x02"), (0xFFFF, b"\x0B\xFF\xFF"),
    (0xFFFFFFFF, b"\x0C\xFF\xFF\xFF\xFF"), (0x100000000, b"\x0E" + struct.pack("<Q", 1 << 32)),
])
def test_integer(value: int, encoded: bytes) -> None:
    assert A.integer(value) == encoded


def test_eisaid_and_uuid() -> None:
    assert A.eisaid("PNP0A03") == b"\x0C\x41\xD0\x0A\x03"
    assert A.to_uuid("e5c937d0-3553-4d7a-9117-ea4d19c3434d")[4:8] == bytes.fromhex("d037c9e5")


def test_resource_descriptors() -> None:
    assert A.io(0x3F8, 0, 8) == bytes.fromhex("47 01 f8 03 f8 03 00 08")
    assert A.irq_noflags(4) == b"\x22\x10\x00"
    assert A.interrupt(5, 10, 11) == bytes.fromhex("89 0e 00 09 03 05000000 0a000000 0b000000")
    # a template ends with an End Tag whose checksum 0 means "not checked"
    assert A.resource_template(A.irq_noflags(1)).endswith(b"\x79\x00")


def test_dsdt_is_qemus_byte_for_byte() -> None:
    length = struct.unpack_from("<I", QEMU_TABLES, 0x44)[0]
    assert dsdt(64 << 20) == QEMU_TABLES[0x40:0x40 + length]


def test_every_acpi_table_is_qemus_byte_for_byte() -> None:
    blob, rsdt_at = acpi_blob(BASE_64M, memory_bytes=64 << 20)
    assert blob == QEMU_TABLES
    assert rsdt_at == BASE_64M + 0x1AD8       # "ACPI: RSDT 0x0000000003FE1AD8" under QEMU


def test_checksums() -> None:
    blob, rsdt_at = acpi_blob(BASE_64M, memory_bytes=64 << 20)
    at = 0x40                                  # after the FACS (no checksum)
    while at < len(blob):
        length = struct.unpack_from("<I", blob, at + 4)[0]
        assert sum(blob[at:at + length]) & 0xFF == 0, blob[at:at + 4]
        at += length + (-length % 4)
    assert sum(rsdp(rsdt_at)) & 0xFF == 0


def test_ram_size_moves_the_pci_window() -> None:
    """The root bridge's 32-bit window starts at the end of RAM, as QEMU's _CRS does."""
    small, big = dsdt_aml(64 << 20), dsdt_aml(128 << 20)
    assert len(small) == len(big)
    assert A.dword_memory(0x04000000, 0xFEBFFFFF, cacheable=False) in small
    assert A.dword_memory(0x08000000, 0xFEBFFFFF, cacheable=False) in big
    assert sum(dsdt(128 << 20)) & 0xFF == 0


def test_no_hpet_no_hpet_device() -> None:
    assert b"PNP0103" not in dsdt_aml(64 << 20)       # (EisaId is compressed: check the name)
    assert b"HPET" in dsdt_aml(64 << 20) and b"HPET" not in dsdt_aml(64 << 20, hpet_base=None)


#: drive A's _FDI package under QEMU 7.2 for diskettes of these sizes (read from the DSDT in
#: guest memory with -drive if=floppy; the rest of the DSDT is the same as without one)
QEMU_FDI = {None: (5, 0x4F, 0x30, 1), 1474560: (4, 0x52, 0x18, 1), 737280: (4, 0x52, 0x18, 1),
            2949120: (5, 0x4F, 0x30, 1), 1228800: (2, 0x52, 0x14, 1), 368640: (2, 0x52, 0x14, 1)}


@pytest.mark.parametrize("size", sorted(QEMU_FDI, key=lambda s: s or 0))
def test_floppy_drive_type_shows_in_fdi(size: int | None) -> None:
    from bareflow.emu.bios.disk import FloppyMedia
    from bareflow.emu.bios.dsdt import FDI_PARAMS, NO_DISK_DRIVE_TYPE, floppy_fdi
    dtype = FloppyMedia(size // 512).drive_type if size else NO_DISK_DRIVE_TYPE
    assert floppy_fdi(dtype) == (0, *QEMU_FDI[size], *FDI_PARAMS)
    table = dsdt(64 << 20, floppy_type=dtype)
    assert len(table) == len(dsdt(64 << 20)) and sum(table) & 0xFF == 0


def test_machine_with_a_diskette_describes_its_drive(tmp_path: Path) -> None:
    from bareflow.emu.machine import Machine, MachineConfig
    img = tmp_path / "fd.img"
    data = bytearray(1474560)
    data[0:3] = b"\xFA\xF4\xEB"             # cli; hlt: a boot sector that stops
    data[510:512] = b"\x55\xAA"
    img.write_bytes(bytes(data))
    m = Machine(MachineConfig(image=None, fda=str(img)))
    at = struct.unpack_from("<I", m.read_phys(BASE_64M + 0x198C + 40, 4))[0]     # FADT.DSDT
    table = m.read_phys(at, struct.unpack_from("<I", m.read_phys(at + 4, 4))[0])
    assert table == dsdt(64 << 20, floppy_type=4)


def test_to_uuid_is_uuid_bytes_le_without_importing_uuid():
    """ToUUID is done by hand (issue 11: `import uuid` was start-up cost): same bytes as uuid."""
    import uuid

    from bareflow.emu.bios import aml as _aml
    for s in ("e5c937d0-3553-4d7a-9117-ea4d19c3434d", "00112233-4455-6677-8899-aabbccddeeff"):
        assert _aml.to_uuid(s) == _aml.buffer(uuid.UUID(s).bytes_le)
    with pytest.raises(ValueError):
        _aml.to_uuid("e5c937d0-3553-4d7a-9117")
