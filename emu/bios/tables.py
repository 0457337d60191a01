"""Firmware tables as SeaBIOS installs them on QEMU 7.2's i440FX with one CPU: the MP floating
pointer and configuration table, ACPI (RSDP, RSDT, FADT, FACS, DSDT, MADT, WAET) and SMBIOS
2.8 (entry point and types 0, 1, 3, 4, 16, 17, 19, 32, 127).

Everything is *built* from the machine it describes (RAM size, the LAPIC/I/O APIC addresses,
the PM I/O base SeaBIOS programmed into the PIIX4, qemu32's CPUID signature), in the layout
read under qemu-system-i386 -m 64 -net none with tests/images/kern_tables.asm:

- F segment: RSDP at F59D0h, SMBIOS entry point at F59F0h with its structure table right after
  (F5A10h), the MP floating pointer at F5BA0h and the MP configuration table at F5BB0h -- the
  addresses SeaBIOS's F-segment allocator gives them; a guest scanning 16-byte boundaries finds
  the same signatures at the same places.
- ACPI tables in the reserved 128 KiB at the top of RAM (the E820 map already reserves it, as
  under QEMU): FACS (64-byte aligned), DSDT, FADT, MADT, HPET, WAET, RSDT, in QEMU's build order.
  OEM ID "BOCHS ", table ID "BXPC    ", creator "BXPC" revision 1, as QEMU 7.2 writes them.
- The DSDT is QEMU's i440FX DSDT built by dsdt.py (PCI root bridge, interrupt links, the ISA
  devices, PCI and CPU hot-plug, HPET, sleep states), byte-identical to QEMU's for the same
  RAM size, so every table after it lands at QEMU's address.
- The HPET table when the board has an HPET (devices/hpet.py), as on QEMU's default machine.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from . import pcibios
from .dsdt import NO_DISK_DRIVE_TYPE, dsdt_aml
from .pciinit import PM_BASE

if TYPE_CHECKING:
    from ..board import Board

LAPIC_BASE = 0xFEE00000
IOAPIC_BASE = 0xFEC00000
RSDP_AT = 0xF59D0
SMBIOS_AT = 0xF59F0
MPFP_AT = 0xF5BA0
#: qemu32's CPUID leaf 1 EAX / EDX (MP processor entry and SMBIOS type 4 ID)
CPU_SIGNATURE, CPU_FEATURES = 0x663, 0x0781ABFD
HIGH_TABLES = 0x20000
SEABIOS_VERSION = "1.16.2-debian-1.16.2-1"   # the SeaBIOS of the reference QEMU (SMBIOS type 0)
MACHINE_VERSION = "pc-i440fx-7.2"
PRODUCT = "Standard PC (i440FX + PIIX, 1996)"
PCI_IRQS = (5, 9, 10, 11)    # PCI-routable IRQs: level, active high in the MADT


def _sum_fix(buf: bytearray, at: int) -> None:
    buf[at] = (-sum(buf) + buf[at]) & 0xFF


# ------------------------------------------------------------------------------ MP
def mp_tables(config_at: int) -> tuple[bytes, bytes]:
    """(floating pointer, configuration table) per the MP spec 1.4, SeaBIOS's entries."""
    entries = [struct.pack("<BBBBII8x", 0, 0, 0x14, 0x03, CPU_SIGNATURE, CPU_FEATURES)]
    entries += [struct.pack("<BB6s", 1, 0, b"PCI   "), struct.pack("<BB6s", 1, 1, b"ISA   ")]
    entries.append(struct.pack("<BBBBI", 2, 0, 0x11, 0x01, IOAPIC_BASE))
    # PCI: the PIIX4 PM function (device 1, INTA) -> I/O APIC pin 9 (its interrupt line)
    entries.append(struct.pack("<BBHBBBB", 3, 0, 0x0001, 0, (1 << 2) | 0, 0, 9))
    for irq in range(16):
        if irq == 2 or irq in PCI_IRQS:
            continue
        entries.append(struct.pack("<BBHBBBB", 3, 0, 0, 1, irq, 0, 2 if irq == 0 else irq))
    entries.append(struct.pack("<BBHBBBB", 4, 3, 0, 1, 0, 0, 0))      # ExtINT -> LINT0
    entries.append(struct.pack("<BBHBBBB", 4, 1, 0, 1, 0, 0xFF, 1))   # NMI -> LINT1
    body = b"".join(entries)
    hdr = bytearray(struct.pack("<4sHBB8s12sIHHIHBB", b"PCMP", 44 + len(body), 4, 0, b"BOCHSCPU",
                                b"0.1         ", 0, 0, len(entries), LAPIC_BASE, 0, 0, 0))
    table = bytearray(hdr + body)
    _sum_fix(table, 7)
    fp = bytearray(struct.pack("<4sIBBB5x", b"_MP_", config_at, 1, 4, 0))
    _sum_fix(fp, 10)
    return bytes(fp), bytes(table)


# ------------------------------------------------------------------------------ ACPI
def _acpi(sig: bytes, body: bytes, revision: int = 1) -> bytes:
    t = bytearray(struct.pack("<4sIBB6s8sI4sI", sig, 36 + len(body), revision, 0, b"BOCHS ",
                              b"BXPC    ", 1, b"BXPC", 1) + body)
    _sum_fix(t, 9)
    return bytes(t)


def facs() -> bytes:
    return struct.pack("<4sI", b"FACS", 64) + bytes(56)


def dsdt(memory_bytes: int = 64 << 20, hpet: bool = True, floppy_type: int = NO_DISK_DRIVE_TYPE) -> bytes:
    """QEMU's i440FX DSDT (dsdt.py) for this RAM size and drive A."""
    from ...devices.hpet import BASE
    return _acpi(b"DSDT", dsdt_aml(memory_bytes, BASE if hpet else None, floppy_type))


def fadt(facs_at: int, dsdt_at: int, pm_base: int = PM_BASE) -> bytes:
    """FADT revision 1 (116 bytes) with QEMU's PIIX4 values."""
    body = struct.pack(
        "<IIBBHIBBBBIIIIIIIIBBBBBBBBHHHHBBBBBHBI",
        facs_at, dsdt_at,
        1, 0,                   # INT_MODEL (dual PIC: 1 on QEMU), reserved
        9,                      # SCI_INT
        0xB2, 0xF1, 0xF0, 0, 0,  # SMI_CMD, ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
        pm_base, 0,             # PM1a/PM1b event blocks
        pm_base + 4, 0,         # PM1a/PM1b control blocks
        0,                      # PM2 control block
        pm_base + 8,            # PM timer block
        0xAFE0, 0,              # GPE0, GPE1 blocks
        4, 2, 0, 4, 4, 0, 0, 0,  # PM1_EVT_LEN PM1_CNT_LEN PM2_CNT_LEN PM_TMR_LEN GPE0_LEN GPE1_LEN GPE1_BASE CST_CNT
        0x0FFF, 0x0FFF,         # P_LVL2_LAT, P_LVL3_LAT: C2/C3 not supported
        0, 0,                   # FLUSH_SIZE, FLUSH_STRIDE
        0, 0, 0, 0,             # DUTY_OFFSET, DUTY_WIDTH, DAY_ALRM, MON_ALRM
        0x32,                   # CENTURY: CMOS register 32h
        0, 0,                   # IAPC_BOOT_ARCH, reserved
        0x80A5)                 # WBINVD | PROC_C1 | SLP_BUTTON | RTC_S4 | RESET_REG_SUP... as QEMU
    return _acpi(b"FACP", body)


def madt() -> bytes:
    body = struct.pack("<II", LAPIC_BASE, 1)                       # PCAT_COMPAT: 8259s present
    body += struct.pack("<BBBBI", 0, 8, 0, 0, 1)                     # processor 0, APIC ID 0
    body += struct.pack("<BBBBII", 1, 12, 0, 0, IOAPIC_BASE, 0)      # I/O APIC 0, GSI base 0
    body += struct.pack("<BBBBIH", 2, 10, 0, 0, 2, 0)                # ISA IRQ0 -> GSI 2
    for irq in PCI_IRQS:                                             # level, active high
        body += struct.pack("<BBBBIH", 2, 10, 0, irq, irq, 0x000D)
    body += struct.pack("<BBBHB", 4, 6, 0xFF, 0, 1)                  # LAPIC NMI on LINT1
    return _acpi(b"APIC", body)


def hpet_table() -> bytes:
    """The HPET description table: event timer block ID (the capabilities' low half), the
    block's address as a memory-space GAS, HPET number 0, minimum tick 0, no page protection."""
    from ...devices.hpet import BASE, CAPABILITY
    return _acpi(b"HPET", struct.pack("<IBBBBQBHB", CAPABILITY & 0xFFFFFFFF, 0, 0, 0, 0, BASE, 0, 0, 0))


def waet() -> bytes:
    return _acpi(b"WAET", struct.pack("<I", 2))    # the ACPI PM timer is reliable to read once


def rsdt(pointers: list[int]) -> bytes:
    return _acpi(b"RSDT", b"".join(struct.pack("<I", p) for p in pointers))


def rsdp(rsdt_at: int) -> bytes:
    r = bytearray(struct.pack("<8sB6sBI", b"RSD PTR ", 0, b"BOCHS ", 0, rsdt_at))
    _sum_fix(r, 8)
    return bytes(r)


def acpi_blob(base: int, pm_base: int = PM_BASE, hpet: bool = True,
              memory_bytes: int = 64 << 20, floppy_type: int = NO_DISK_DRIVE_TYPE) -> tuple[bytes, int]:
    """The tables laid out from `base` in QEMU's order; returns (bytes, RSDT address)."""
    out = bytearray()

    def place(data: bytes, align: int = 4) -> int:
        out.extend(bytes(-len(out) % align))
        at = base + len(out)
        out.extend(data)
        return at

    facs_at = place(facs(), 64)
    dsdt_at = place(dsdt(memory_bytes, hpet, floppy_type))
    tables = [place(fadt(facs_at, dsdt_at, pm_base)), place(madt())]
    if hpet:
        tables.append(place(hpet_table()))
    tables.append(place(waet()))
    rsdt_at = place(rsdt(tables))
    return bytes(out), rsdt_at


# ------------------------------------------------------------------------------ SMBIOS
def _structure(stype: int, formatted: bytes, strings: list[str]) -> bytes:
    head = struct.pack("<BBH", stype, 4 + len(formatted), stype << 8) + formatted
    if not strings:
        return head + b"\0\0"
    return head + b"".join(s.encode() + b"\0" for s in strings) + b"\0"


def smbios_structures(memory_bytes: int) -> list[bytes]:
    kib, mib = memory_bytes // 1024, memory_bytes >> 20
    s = [
        _structure(0, struct.pack("<BBHBBQBBBBBB", 1, 2, 0xE800, 3, 0, 0x08, 0, 0x04, 0, 0, 0xFF, 0xFF),
                   ["SeaBIOS", SEABIOS_VERSION, "04/01/2014"]),
        _structure(1, struct.pack("<BBBB16sBBB", 1, 2, 3, 0, bytes(16), 6, 0, 0),
                   ["QEMU", PRODUCT, MACHINE_VERSION]),
        _structure(3, struct.pack("<BBBBBBBBBIBBBBB", 1, 0x01, 2, 0, 0, 3, 3, 3, 2, 0, 0, 0, 0, 0, 0),
                   ["QEMU", MACHINE_VERSION]),
        _structure(4, struct.pack("<BBBBIIBBHHHBBHHHBBBBBBHH", 1, 3, 1, 2, CPU_SIGNATURE, CPU_FEATURES,
                                  3, 0, 0, 2000, 2000, 0x41, 1, 0xFFFF, 0xFFFF, 0xFFFF, 0, 0, 0,
                                  1, 1, 1, 0x0002, 0x0001),
                   ["CPU 0", "QEMU", MACHINE_VERSION]),
        _structure(16, struct.pack("<BBBIHHQ", 1, 3, 6, kib, 0xFFFE, 1, 0), []),
        _structure(17, struct.pack("<HHHHHBBBBBHHBBBBBIHHHH", 0x1000, 0xFFFE, 0xFFFF, 0xFFFF, mib, 9, 0,
                                   1, 0, 7, 0x0002, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                   ["DIMM 0", "QEMU"]),
        _structure(19, struct.pack("<IIHBQQ", 0, kib - 1, 0x1000, 1, 0, 0), []),
        _structure(32, struct.pack("<6xB", 0), []),
        _structure(127, b"", []),
    ]
    return s


def smbios_entry(table_at: int, structures: list[bytes]) -> bytes:
    total = sum(len(x) for x in structures)
    ep = bytearray(struct.pack("<4sBBBBHB5s5sBHIHB", b"_SM_", 0, 0x1F, 2, 8,
                               max(len(x) for x in structures), 0, bytes(5), b"_DMI_", 0, total,
                               table_at, len(structures), 0x28))
    inter = bytearray(ep[0x10:])
    _sum_fix(inter, 5)
    ep[0x15] = inter[5]
    _sum_fix(ep, 4)
    return bytes(ep)


# ------------------------------------------------------------------------------ install
def install_tables(m: "Board") -> None:
    """Write every table into guest RAM (called at POST, after the PCI set-up)."""
    pci = m.devices.get("pci")
    pm_base = PM_BASE
    if pci is not None:
        pm_base = pci.config_read(1, 3, 0x40, 4) & 0xFFC0 or PM_BASE
    ram = m.ram
    top = m.memory_bytes
    floppy = getattr(getattr(m.bios, "disks", None), "floppy", None)
    blob, rsdt_at = acpi_blob(top - HIGH_TABLES, pm_base, hpet="hpet" in m.devices, memory_bytes=top,
                              floppy_type=floppy.drive_type if floppy is not None else NO_DISK_DRIVE_TYPE)
    ram[top - HIGH_TABLES: top - HIGH_TABLES + len(blob)] = blob
    ram[RSDP_AT:RSDP_AT + 20] = rsdp(rsdt_at)
    structures = smbios_structures(m.memory_bytes)
    table_at = SMBIOS_AT + 0x20
    ram[SMBIOS_AT:SMBIOS_AT + 0x1F] = smbios_entry(table_at, structures)
    data = b"".join(structures)
    ram[table_at:table_at + len(data)] = data
    pcibios.install(ram)
    fp, table = mp_tables(MPFP_AT + 16)
    ram[MPFP_AT:MPFP_AT + 16] = fp
    ram[MPFP_AT + 16:MPFP_AT + 16 + len(table)] = table
