"""The DSDT of QEMU 7.2's i440FX machine (hw/i386/acpi-build.c `build_dsdt` for PIIX), built
with the AML encoder in aml.py for the machine BareFlow models: one CPU, the RAM size given,
no network card, the HPET when the board has one.

It describes what Linux's ACPI layer walks at boot (the order, names and methods are QEMU's):

- `\\_SB.PCI0` (PNP0A03): the root bridge with its `_CRS` windows (bus 0-255, I/O 0-0CF7h and
  0D00h-FFFFh, the VGA window A0000h-BFFFFh, the 32-bit hole from the end of RAM to the I/O
  APIC, QEMU's 2 GiB 64-bit hole at 4 GiB), `_PRT` (computed by a method: slot s pin p ->
  link (s + p) & 3, the PIIX4 PM function's INTA on LNKS), the interrupt links LNKA-LNKD
  (IRQ 5/10/11, reading and writing the PIIX3 PIRQ route registers 60h-63h through a
  PCI_Config region) and LNKS (IRQ 9, the SCI);
- one `Sxx` device per PCI slot (xx = devfn): the ISA bridge's devices in S08 (keyboard,
  mouse, floppy controller, LPT1, COM1, RTC), the VGA's S1D-S3D in S10, and ACPI PCI hot-plug
  (`_SUN`, `_EJ0`, PCNT/DVNT and GPE 1) on the 29 empty slots -- the "acpiphp: Slot [n]" lines;
- the CPU hot-plug container (`\\_SB.CPUS`, processor C000 with `_STA` read through the CPU
  hot-plug registers at AF00h, `_MAT`, `_OST`; GPE 2), the HPET device, the fw_cfg device,
  the GPE0 and hot-plug resource containers, `\\_S3`, `\\_S4` and `\\_S5`.

tests/bios/test_aml.py checks the result byte for byte against the DSDT read from QEMU's guest
memory (tests/bios/data/qemu_dsdt_64m.aml).
"""
from __future__ import annotations

from . import aml as A
from .aml import ARG, LOCAL
from .disk import FLOPPY_FORMATS

PCIHP_BASE = 0xAE00      # ACPI PCI hot-plug registers (hw/acpi/pcihp.c), 0x18 ports
CPUHP_BASE = 0xAF00      # CPU hot-plug registers (hw/acpi/cpu.c, the "modern" interface), 12 ports
GPE0_BASE = 0xAFE0
FW_CFG_BASE = 0x510
LINK_IRQS = (5, 10, 11)
N_SLOTS = 32
#: the _FDI entries after the drive geometry: SeaBIOS's diskette parameter table, which QEMU
#: reports whatever the drive
FDI_PARAMS = (0xAF, 0x02, 0x25, 0x02, 0x12, 0x1B, 0xFF, 0x6C, 0xF6, 0x0F, 0x08)
#: _FDE: drive A present, B-D absent, no tape (2)
FDE_ONE_DRIVE = bytes([1, 0, 0, 0]) + bytes(12) + bytes([2, 0, 0, 0])
#: drive A's CMOS type when no diskette is given: QEMU's fallback drive, 2.88 MB
NO_DISK_DRIVE_TYPE = 5


def floppy_fdi(drive_type: int) -> tuple[int, ...]:
    """_FDI of drive A: its CMOS type and the largest cylinder, sector and head numbers of any
    format QEMU's drive of that type reads (fdc-isa.c isa_fdc_get_drive_max_chs over fd_formats),
    not the diskette's own geometry."""
    fmts = [f for f in FLOPPY_FORMATS if f[0] == drive_type]
    maxc = max(f[2] for f in fmts) - 1
    maxs = max(f[1] for f in fmts)
    maxh = max(f[3] for f in fmts) - 1
    return (0, drive_type, maxc, maxs, maxh, *FDI_PARAMS)


def _dbug() -> bytes:
    """\\DBUG: writes a value in hex to QEMU's debug port 0x402 (never called by an OS)."""
    return A.scope(
        "\\",
        A.op_region("DBG", A.SYSTEM_IO, 0x402, 1),
        A.field("DBG", A.BYTE_ACC, A.NO_LOCK, A.PRESERVE, ("DBGB", 8)),
        A.method("DBUG", 1, False,
                 A.to_hex_string(ARG[0], LOCAL[0]),
                 A.to_buffer(LOCAL[0], LOCAL[0]),
                 A.subtract(A.size_of(LOCAL[0]), 1, LOCAL[1]),
                 A.store(0, LOCAL[2]),
                 A.while_(A.lless(LOCAL[2], LOCAL[1]),
                          A.store(A.deref_of(A.index(LOCAL[0], LOCAL[2])), "DBGB"),
                          A.increment(LOCAL[2])),
                 A.store(0x0A, "DBGB")))


def _pcihp_methods() -> bytes:
    aidx = A.call("AIDX", A.deref_of(A.index(ARG[4], 0)), A.deref_of(A.index(ARG[4], 1)))
    none = (A.lequal(LOCAL[2], 0), A.lequal(LOCAL[2], 0xFFFFFFFF))
    return A.scope(
        "_SB.PCI0",
        A.op_region("PCST", A.SYSTEM_IO, PCIHP_BASE, 8),
        A.field("PCST", A.DWORD_ACC, A.NO_LOCK, A.WRITE_AS_ZEROS, ("PCIU", 32), ("PCID", 32)),
        A.op_region("SEJ", A.SYSTEM_IO, PCIHP_BASE + 8, 4),
        A.field("SEJ", A.DWORD_ACC, A.NO_LOCK, A.WRITE_AS_ZEROS, ("B0EJ", 32)),
        A.op_region("BNMR", A.SYSTEM_IO, PCIHP_BASE + 0x10, 8),
        A.field("BNMR", A.DWORD_ACC, A.NO_LOCK, A.WRITE_AS_ZEROS, ("BNUM", 32), ("PIDX", 32)),
        A.mutex("BLCK", 0),
        A.method("PCEJ", 2, False,
                 A.acquire("BLCK"), A.store(ARG[0], "BNUM"),
                 A.store(A.shift_left(1, ARG[1]), "B0EJ"), A.release("BLCK"), A.return_(0)),
        A.method("AIDX", 2, False,
                 A.acquire("BLCK"), A.store(ARG[0], "BNUM"),
                 A.store(A.shift_left(1, ARG[1]), "PIDX"), A.store("PIDX", LOCAL[0]),
                 A.release("BLCK"), A.return_(LOCAL[0])),
        A.method("PDSM", 5, True,
                 A.if_(A.lequal(ARG[2], 0),
                       A.store(A.buffer(b"\x00"), LOCAL[0]),
                       A.store(0, LOCAL[1]),
                       A.if_(A.lnotequal(ARG[0], A.to_uuid("e5c937d0-3553-4d7a-9117-ea4d19c3434d")),
                             A.return_(LOCAL[0])),
                       A.if_(A.lless(ARG[1], 2), A.return_(LOCAL[0])),
                       A.store(aidx, LOCAL[2]),
                       A.if_(A.lnot(A.or_(*none)),
                             A.or_(LOCAL[1], 1, LOCAL[1]),
                             A.or_(LOCAL[1], A.shift_left(1, 7), LOCAL[1])),
                       A.store(LOCAL[1], A.index(LOCAL[0], 0)),
                       A.return_(LOCAL[0])),
                 A.if_(A.lequal(ARG[2], 7),
                       A.store(aidx, LOCAL[2]),
                       A.store(A.package(count=2), LOCAL[0]),
                       A.if_(A.lnot(A.lor(*none)),
                             A.store(LOCAL[2], A.index(LOCAL[0], 0)),
                             A.store(A.string(""), A.index(LOCAL[0], 1))),
                       A.return_(LOCAL[0]))))


def _link_package(link: str) -> bytes:
    return A.store(A.package(0, 0, link, 0), LOCAL[4])


def _prt_and_links() -> bytes:
    prt = A.method(
        "_PRT", 0, False,
        A.store(A.package(count=0x80), LOCAL[0]),
        A.store(0, LOCAL[1]),
        A.while_(A.lless(LOCAL[1], 0x80),
                 A.store(A.shift_right(LOCAL[1], 2), LOCAL[2]),
                 A.store(A.and_(A.add(LOCAL[1], LOCAL[2]), 3), LOCAL[3]),
                 A.if_(A.lequal(LOCAL[3], 0), _link_package("LNKD")),
                 A.if_(A.lequal(LOCAL[3], 1),
                       A.if_(A.lequal(LOCAL[1], 4), _link_package("LNKS")),
                       A.else_(_link_package("LNKA"))),
                 A.if_(A.lequal(LOCAL[3], 2), _link_package("LNKB")),
                 A.if_(A.lequal(LOCAL[3], 3), _link_package("LNKC")),
                 A.store(A.or_(A.shift_left(LOCAL[2], 0x10), 0xFFFF), A.index(LOCAL[4], 0)),
                 A.store(A.and_(LOCAL[1], 3), A.index(LOCAL[4], 1)),
                 A.store(LOCAL[4], A.index(LOCAL[0], LOCAL[1])),
                 A.increment(LOCAL[1])),
        A.return_(LOCAL[0]))
    iqst = A.method("IQST", 1, False, A.if_(A.and_(0x80, ARG[0]), A.return_(9)), A.return_(0x0B))
    iqcr = A.method("IQCR", 1, True,
                    A.name("PRR0", A.resource_template(A.interrupt(0))),
                    A.create_dword_field("PRR0", 5, "PRRI"),
                    A.if_(A.lless(ARG[0], 0x80), A.store(ARG[0], "PRRI")),
                    A.return_("PRR0"))
    links = b""
    for i in range(4):
        prq = f"PRQ{i}"
        links += A.device(
            f"LNK{'ABCD'[i]}",
            A.name("_HID", A.eisaid("PNP0C0F")), A.name("_UID", i),
            A.name("_PRS", A.resource_template(A.interrupt(*LINK_IRQS))),
            A.method("_STA", 0, False, A.return_(A.call("IQST", prq))),
            A.method("_DIS", 0, False, A.or_(prq, 0x80, prq)),
            A.method("_CRS", 0, False, A.return_(A.call("IQCR", prq))),
            A.method("_SRS", 1, False, A.create_dword_field(ARG[0], 5, "PRRI"), A.store("PRRI", prq)))
    links += A.device(
        "LNKS",
        A.name("_HID", A.eisaid("PNP0C0F")), A.name("_UID", 4),
        A.name("_PRS", A.resource_template(A.interrupt(9))),
        A.method("_STA", 0, False, A.return_(0x0B)),
        A.method("_DIS", 0, False),
        A.method("_CRS", 0, False, A.return_("_PRS")),
        A.method("_SRS", 1, False))
    return A.scope("_SB", A.scope("PCI0", prt), iqst, iqcr, links)


def _hpet(base: int) -> bytes:
    return A.scope("_SB", A.device(
        "HPET",
        A.name("_HID", A.eisaid("PNP0103")), A.name("_UID", 0),
        A.op_region("HPTM", A.SYSTEM_MEMORY, base, 0x400),
        A.field("HPTM", A.DWORD_ACC, A.LOCK, A.PRESERVE, ("VEND", 32), ("PRD", 32)),
        A.method("_STA", 0, False,
                 A.store("VEND", LOCAL[0]), A.store("PRD", LOCAL[1]),
                 A.shift_right(LOCAL[0], 0x10, LOCAL[0]),
                 A.if_(A.lor(A.lequal(LOCAL[0], 0), A.lequal(LOCAL[0], 0xFFFF)), A.return_(0)),
                 A.if_(A.lor(A.lequal(LOCAL[1], 0), A.lgreater(LOCAL[1], 100_000_000)), A.return_(0)),
                 A.return_(0x0F)),
        A.name("_CRS", A.resource_template(A.memory32_fixed(base, 0x400, writable=False)))))


def _cpu_hotplug() -> bytes:
    p = "\\_SB.PCI0.PRES."
    lock = p + "CPLK"
    pres = A.device(
        "\\_SB.PCI0.PRES",
        A.name("_HID", A.eisaid("PNP0A06")), A.name("_UID", A.string("CPU Hotplug resources")),
        A.mutex("CPLK", 0),
        A.name("_CRS", A.resource_template(A.io(CPUHP_BASE, 1, 0x0C))),
        A.op_region("PRST", A.SYSTEM_IO, CPUHP_BASE, 0x0C),
        A.field("PRST", A.BYTE_ACC, A.NO_LOCK, A.WRITE_AS_ZEROS,
                (None, 32), ("CPEN", 1), ("CINS", 1), ("CRMV", 1), ("CEJ0", 1), ("CEJF", 1),
                (None, 3), ("CCMD", 8)),
        A.field("PRST", A.DWORD_ACC, A.NO_LOCK, A.PRESERVE, ("CSEL", 32), (None, 32), ("CDAT", 32)),
        A.method("_INI", 0, True, A.store(0, "CSEL")))
    scan_inner = A.while_(
        A.land(A.lequal(LOCAL[0], 1), A.lless(LOCAL[3], 1)),
        A.store(0, LOCAL[0]),
        A.store(LOCAL[3], p + "CSEL"), A.store(0, p + "CCMD"),
        A.if_(A.lless(p + "CDAT", LOCAL[3]), A.BREAK),
        A.if_(A.lequal(LOCAL[1], 0xFF), A.store(1, LOCAL[4]), A.BREAK),
        A.store(p + "CDAT", LOCAL[3]),
        A.if_(A.lequal(p + "CINS", 1),
              A.store(LOCAL[3], A.index("CNEW", LOCAL[1])), A.increment(LOCAL[1]), A.store(1, LOCAL[0])),
        A.else_(A.if_(A.lequal(p + "CRMV", 1),
                      A.call("CTFY", LOCAL[3], 3), A.store(1, p + "CRMV"), A.store(1, LOCAL[0]))),
        A.increment(LOCAL[3]))
    cpus = A.device(
        "\\_SB.CPUS",
        A.name("_HID", A.string("ACPI0010")), A.name("_CID", A.eisaid("PNP0A05")),
        A.method("CTFY", 2, False, A.if_(A.lequal(ARG[0], 0), A.notify("C000", ARG[1]))),
        A.method("CSTA", 1, True,
                 A.acquire(lock), A.store(ARG[0], p + "CSEL"), A.store(0, LOCAL[0]),
                 A.if_(A.lequal(p + "CPEN", 1), A.store(0x0F, LOCAL[0])),
                 A.release(lock), A.return_(LOCAL[0])),
        A.method("CEJ0", 1, True,
                 A.acquire(lock), A.store(ARG[0], p + "CSEL"), A.store(1, p + "CEJ0"), A.release(lock)),
        A.method("CSCN", 0, True,
                 A.acquire(lock),
                 A.name("CNEW", A.package(count=0xFF)),
                 A.store(0, LOCAL[3]), A.store(1, LOCAL[4]),
                 A.while_(A.lequal(LOCAL[4], 1),
                          A.store(0, LOCAL[4]), A.store(1, LOCAL[0]), A.store(0, LOCAL[1]),
                          scan_inner,
                          A.store(0, LOCAL[2]),
                          A.while_(A.lless(LOCAL[2], LOCAL[1]),
                                   A.store(A.deref_of(A.index("CNEW", LOCAL[2])), LOCAL[3]),
                                   A.call("CTFY", LOCAL[3], 1),
                                   A.store(LOCAL[3], A.DEBUG),
                                   A.store(LOCAL[3], p + "CSEL"), A.store(1, p + "CINS"),
                                   A.increment(LOCAL[2]))),
                 A.release(lock)),
        A.method("COST", 4, True,
                 A.acquire(lock), A.store(ARG[0], p + "CSEL"), A.store(1, p + "CCMD"),
                 A.store(ARG[1], p + "CDAT"), A.store(2, p + "CCMD"), A.store(ARG[2], p + "CDAT"),
                 A.release(lock)),
        A.processor("C000", 0, 0, 0,
                    A.method("_STA", 0, True, A.return_(A.call("CSTA", 0))),
                    A.name("_MAT", A.buffer(bytes([0, 8, 0, 0, 1, 0, 0, 0]))),
                    A.method("_OST", 3, True, A.call("COST", 0, ARG[0], ARG[1], ARG[2]))))
    return (A.scope("_SB", pres, cpus)
            + A.method("\\_GPE._E02", 0, False, A.call("\\_SB.CPUS.CSCN")))


def _container(uid: str, base: int, length: int) -> bytes:
    return (A.name("_HID", A.string("PNP0A06")), A.name("_UID", A.string(uid)), A.name("_STA", 0x0B),
            A.name("_CRS", A.resource_template(A.io(base, 1, length))))


def _root_resources(pci_hole_start: int) -> bytes:
    crs = A.resource_template(
        A.word_bus_number(0, 0xFF),
        A.io(0xCF8, 1, 8),
        A.word_io(0, 0xCF7),
        A.word_io(0xD00, 0xFFFF),
        A.dword_memory(0xA0000, 0xBFFFF, cacheable=True),
        A.dword_memory(pci_hole_start, 0xFEBFFFFF, cacheable=False),
        A.qword_memory(0x100000000, 0x17FFFFFFF, cacheable=True))
    return A.scope("\\_SB.PCI0",
                   A.name("_CRS", crs),
                   A.device("GPE0", *_container("GPE0 resources", GPE0_BASE, 4)),
                   A.device("PHPR", *_container("PCI Hotplug resources", PCIHP_BASE, 0x18)))


def _sleep_states() -> bytes:
    return A.scope("\\",
                   A.name("_S3", A.package(1, 1, 0, 0)),
                   A.name("_S4", A.package(2, 2, 0, 0)),
                   A.name("_S5", A.package(0, 0, 0, 0)))


def _fw_cfg() -> bytes:
    return A.scope("\\_SB.PCI0", A.device(
        "FWCF", A.name("_HID", A.string("QEMU0002")), A.name("_STA", 0x0B),
        A.name("_CRS", A.resource_template(A.io(FW_CFG_BASE, 1, 0x0C)))))


def _isa_devices(floppy_type: int) -> bytes:
    """What the PIIX3 ISA bridge (00:01.0) contributes: the PIRQ route registers as PRQ0-3
    and its ISA devices."""
    def dev(n: str, hid: str, crs: bytes, uid: int | None = None, sta: bool = True) -> bytes:
        body = [A.name("_HID", A.eisaid(hid))]
        if uid is not None:
            body.append(A.name("_UID", uid))
        if sta:
            body.append(A.name("_STA", 0x0F))
        return A.device(n, *body, A.name("_CRS", crs))

    fdc = A.device(
        "FDC0", A.name("_HID", A.eisaid("PNP0700")),
        A.name("_CRS", A.resource_template(A.io(0x3F2, 0, 4), A.io(0x3F7, 0, 1), A.irq_noflags(6), A.dma(2, 0))),
        A.device("FLPA", A.name("_ADR", 0), A.name("_FDI", A.package(*floppy_fdi(floppy_type)))),
        A.name("_FDE", A.buffer(FDE_ONE_DRIVE)))
    return b"".join([
        A.op_region("P40C", A.PCI_CONFIG, 0x60, 4),
        A.scope("\\_SB", A.field("PCI0.S08.P40C", A.BYTE_ACC, A.NO_LOCK, A.PRESERVE,
                                 *((f"PRQ{i}", 8) for i in range(4)))),
        dev("KBD", "PNP0303", A.resource_template(A.io(0x60, 1, 1), A.io(0x64, 1, 1), A.irq_noflags(1))),
        dev("MOU", "PNP0F13", A.resource_template(A.irq_noflags(12))),
        fdc,
        dev("LPT1", "PNP0400", A.resource_template(A.io(0x378, 8, 8), A.irq_noflags(7)), uid=1),
        dev("COM1", "PNP0501", A.resource_template(A.io(0x3F8, 0, 8), A.irq_noflags(4)), uid=1),
        dev("RTC", "PNP0B00", A.resource_template(A.io(0x70, 1, 8), A.irq_noflags(8)), sta=False),
    ])


def _slots(present: dict[int, str], floppy_type: int) -> bytes:
    """One device per slot: `present` maps slot -> "host" / "isa" / "vga"; the other slots
    are empty hot-plug slots."""
    dsm = A.method("_DSM", 4, True,
                   A.store(A.package("BSEL", "ASUN"), LOCAL[0]),
                   A.return_(A.call("PDSM", ARG[0], ARG[1], ARG[2], ARG[3], LOCAL[0])))
    out = [A.name("BSEL", 0)]
    hotplug = []
    for slot in range(N_SLOTS):
        body = [A.name("_ADR", slot << 16), A.name("ASUN", slot), dsm]
        kind = present.get(slot)
        if kind == "isa":
            body.append(_isa_devices(floppy_type))
        elif kind == "vga":
            body += [A.method(f"_S{n}D", 0, False, A.return_(0)) for n in (1, 2, 3)]
        elif kind is None:
            body += [A.name("_SUN", slot), A.method("_EJ0", 1, False, A.call("PCEJ", "BSEL", "_SUN"))]
            hotplug.append(slot)
        out.append(A.device(f"S{slot << 3:02X}", *body))
    out.append(A.method("DVNT", 2, False, *(
        A.if_(A.and_(ARG[0], 1 << s), A.notify(f"S{s << 3:02X}", ARG[1])) for s in hotplug)))
    out.append(A.method("PCNT", 0, False,
                        A.store(0, "BNUM"), A.call("DVNT", "PCIU", 1), A.call("DVNT", "PCID", 3)))
    return A.scope("\\_SB", A.scope("PCI0", *out))


def dsdt_aml(memory_bytes: int, hpet_base: int | None = 0xFED00000,
             floppy_type: int = NO_DISK_DRIVE_TYPE) -> bytes:
    """The DSDT's AML body (without the 36-byte table header); `floppy_type` is drive A's CMOS
    type (emu/bios/disk.py FloppyMedia.drive_type), which QEMU picks from the diskette."""
    parts = [
        _dbug(),
        A.scope("_SB", A.device("PCI0", A.name("_HID", A.eisaid("PNP0A03")), A.name("_ADR", 0),
                                A.name("_UID", 0))),
        _pcihp_methods(),
        _prt_and_links(),
    ]
    if hpet_base is not None:
        parts.append(_hpet(hpet_base))
    parts += [
        A.scope("_GPE", A.name("_HID", A.string("ACPI0006"))),
        _cpu_hotplug(),
        _root_resources(min(memory_bytes, 0xE0000000)),
        _sleep_states(),
        _fw_cfg(),
        _slots({0: "host", 1: "isa", 2: "vga"}, floppy_type),
        A.scope("_GPE", A.method("_E01", 0, False, A.acquire("\\_SB.PCI0.BLCK"),
                                 A.call("\\_SB.PCI0.PCNT"), A.release("\\_SB.PCI0.BLCK"))),
    ]
    return b"".join(parts)
