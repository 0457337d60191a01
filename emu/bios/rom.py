"""What SeaBIOS leaves in low memory and in the F000 ROM segment when it jumps to 0:7C00.

Measured under qemu-system-i386 7.2 (SeaBIOS 1.16.2) with -m 64 and a raw IDE disk: the IVT,
the BIOS data area (BDA) at 0x400, the 1 KiB EBDA at 0x9FC00 with the fixed-disk parameter
table, the configuration table of INT 15h C0h and the diskette parameter table.  A guest that
peeks at any of these sees the same bytes here (exceptions listed in docs/bios.md).

ROM layout (segment F000, linear 0xF0000-0xFFFFF, written at install time):
    F000:E05B  POST entry (the reset vector's target): a jump to the reset continuation point
    F000:E6F5  configuration table (INT 15h C0h), at the address IBM BIOSes use
    F000:EFC7  diskette parameter table (IVT 1Eh), idem
    F000:FC00  256 one-byte `iret` stubs, one per vector: stub_address(v) = 0xFFC00 + v
    F000:FD00  continuation points (pseudo-vectors 100h-10Fh, one `iret` each)
    F000:FD10  firmware routines a Python service may continue into (R_*)
    F000:FD80  EDD device parameter table extension (DPTE) of INT 13h AH=48h
    F000:FFF0  reset vector `jmp F000:E05B`; FFF5 the BIOS date; FFFE the model byte
"""
from __future__ import annotations

import struct

from .frame import BiosCpu, wr16

ROM_SEG = 0xF000
ROM_BASE = 0xF0000

STUB_OFF = 0xFC00
STUB_BASE = ROM_BASE + STUB_OFF
#: Continuation points: one-byte `iret`s right after the 256 stubs, reached only from the ROM
#: routines below; vector_at() maps them to pseudo-vectors 100h+ so that `handle` can finish
#: work that had to call guest code in between (the INT 15h AH=4Fh keyboard intercept).
PSEUDO_KBD_INTERCEPT = 0x100
#: The POST entry (where the reset vector F000:FFF0 jumps): a guest that jumps there asks for
#: a reset, as SeaBIOS's entry_post does on a machine that has already booted (it resets the
#: machine through the 8042/port CF9h).
PSEUDO_RESET = 0x101
N_PSEUDO = 16
#: [start, end) of the stubs and continuation points: the machine's code hook covers exactly this.
STUB_RANGE = (STUB_BASE, STUB_BASE + 256 + N_PSEUDO)

POST_OFF = 0xE05B
CONFIG_TABLE_OFF = 0xE6F5
DISKETTE_TABLE_OFF = 0xEFC7
DPTE_OFF = 0xFD80
RESET_OFF = 0xFFF0

EBDA_SEG = 0x9FC0
EBDA_BASE = EBDA_SEG << 4
EBDA_KIB = 1
FDPT_OFF = 0x3D            # fixed disk parameter table of hd0 inside the EBDA (IVT 41h)
BDA = 0x400
CONVENTIONAL_KIB = EBDA_BASE // 1024   # 639: INT 12h and BDA 0x413

# Firmware routines (real code, run by the guest CPU after a service redirects CS:IP there,
# with the interrupt frame still on the stack).  A hardware IRQ handler that must call a
# software interrupt the guest may have hooked (IRQ0 -> INT 1Ch, Ctrl-Break -> INT 1Bh,
# PrtScr -> INT 05h) finishes in one of these: SeaBIOS calls the hook with IF=1, then EOIs.


def _chain(vector: int) -> bytes:
    return bytes([0xFB,                 # sti
                  0xCD, vector,         # int <vector>
                  0xFA,                 # cli
                  0x50,                 # push ax
                  0xB0, 0x20,           # mov al, 20h
                  0xE6, 0x20,           # out 20h, al  (non-specific EOI, master PIC)
                  0x58,                 # pop ax
                  0xCF])                # iret


#: vector -> offset of its "call it, then EOI the master PIC, then iret" routine
R_CHAIN = {0x1C: 0xFD10, 0x1B: 0xFD20, 0x05: 0xFD30}
# IRQ1 when the guest hooked INT 15h: call its AH=4Fh keyboard intercept like SeaBIOS (IF=1,
# CF=1, AL = scancode), then continue in Python at the continuation point (pseudo-vector 100h).
R_KBD_INTERCEPT = 0xFD60
_KBD_INTERCEPT = bytes([0xFB, 0xF9,     # sti; stc
                        0xCD, 0x15,     # int 15h
                        0xFA,           # cli
                        0xEA]) + struct.pack("<HH", STUB_OFF + PSEUDO_KBD_INTERCEPT, ROM_SEG)
# Where a boot sector's far `ret` lands (SeaBIOS treats it as a boot failure): INT 18h.
R_BOOT_RETURN = 0xFD40
_BOOT_RETURN = bytes([0xCD, 0x18,       # int 18h
                      0xFA, 0xF4,       # cli; hlt
                      0xEB, 0xFC])      # jmp back to cli
# "No bootable device": stop with interrupts off (the machine reports a halt).
R_HALT = 0xFD50
_HALT = bytes([0xFA, 0xF4, 0xEB, 0xFC])  # cli; hlt; jmp $-2

#: The boot stack SeaBIOS hands over (SS:SP = 0000:6F04, a far return frame on top).
BOOT_SP = 0x6F04

# ---- tables ---------------------------------------------------------------------------
#: INT 15h C0h: length 8, model FC (AT), submodel 0, BIOS revision 1, feature bytes
#: 74h (2nd PIC, RTC, INT 9 calls INT 15h 4Fh), 40h (INT 16h AH=09h), 0, 0, 0.
CONFIG_TABLE = struct.pack("<H8B", 8, 0xFC, 0x00, 0x01, 0x74, 0x40, 0x00, 0x00, 0x00)
#: IVT 1Eh: the 11-byte diskette parameter table SeaBIOS installs (1.44 MB timing values).
DISKETTE_TABLE = bytes([0xAF, 0x02, 0x25, 0x02, 0x12, 0x1B, 0xFF, 0x6C, 0xF6, 0x0F, 0x08])
BIOS_DATE = b"06/23/99"
MODEL_BYTE = 0xFC

# ---- the BIOS data area as SeaBIOS + its VGA BIOS leave it (qemu -m 64, one IDE disk) ----
#: Equipment word (INT 11h, BDA 0x410): 1 floppy drive (bit 0, bits 6-7 = 0), x87 (bit 1),
#: PS/2 mouse (bit 2), 80x25 colour (bits 4-5 = 10b), 1 serial port (bits 9-11),
#: 1 parallel port (bits 14-15): QEMU's pc machine.
EQUIPMENT = 0x4227
KBD_BUF_START = 0x1E
KBD_BUF_END = 0x3E


def ivt_layout(stub_address, has_hd: bool = True) -> dict[int, tuple[int, int]]:
    """vector -> (segment, offset) exactly as SeaBIOS's ivt_init and device setup leave it.

    Every vector has its own one-byte stub (SeaBIOS shares one `iret` among most of them;
    we need one per vector to know which service was called).  Vectors that SeaBIOS points
    at data or at 0000:0000 do the same here.
    """
    ivt = {v: (ROM_SEG, stub_address(v) - ROM_BASE) for v in range(256)}
    for v in list(range(0x60, 0x67)) + [0x79]:
        ivt[v] = (0, 0)                                  # reserved for user programs
    ivt[0x1E] = (ROM_SEG, DISKETTE_TABLE_OFF)            # diskette parameter table
    if has_hd:
        ivt[0x41] = (EBDA_SEG, FDPT_OFF)                 # hd0 fixed disk parameter table
    return ivt


def write_ivt(cpu: BiosCpu, stub_address, has_hd: bool = True) -> None:
    table = bytearray(1024)
    for v, (seg, off) in ivt_layout(stub_address, has_hd).items():
        struct.pack_into("<HH", table, 4 * v, off, seg)
    cpu.write(0, bytes(table))


def write_rom(cpu: BiosCpu, dpte: bytes) -> None:
    """Stubs, routines and tables in the F000 segment (the rest of the ROM reads as zeros)."""
    cpu.write(ROM_BASE, bytes(0x10000))
    cpu.write(STUB_BASE, b"\xCF" * (256 + N_PSEUDO))          # iret x 256 (+ continuations)
    cpu.write(ROM_BASE + R_KBD_INTERCEPT, _KBD_INTERCEPT)
    for vector, off in R_CHAIN.items():
        cpu.write(ROM_BASE + off, _chain(vector))
    cpu.write(ROM_BASE + R_BOOT_RETURN, _BOOT_RETURN)
    cpu.write(ROM_BASE + R_HALT, _HALT)
    # POST entry: jmp far to the reset continuation point (then cli; hlt, never reached)
    cpu.write(ROM_BASE + POST_OFF, bytes([0xEA]) + struct.pack("<HH", STUB_OFF + PSEUDO_RESET, ROM_SEG)
              + bytes([0xFA, 0xF4]))
    cpu.write(ROM_BASE + CONFIG_TABLE_OFF, CONFIG_TABLE)
    cpu.write(ROM_BASE + DISKETTE_TABLE_OFF, DISKETTE_TABLE)
    cpu.write(ROM_BASE + DPTE_OFF, dpte)
    cpu.write(ROM_BASE + RESET_OFF, bytes([0xEA]) + struct.pack("<HH", POST_OFF, ROM_SEG))
    cpu.write(ROM_BASE + 0xFFF5, BIOS_DATE)
    cpu.write(ROM_BASE + 0xFFFE, bytes([MODEL_BYTE]))


def write_bda(cpu: BiosCpu, *, hd_count: int, floppy_media_state: int | None = None) -> None:
    """The BDA (0x400-0x4FF) field by field; the video fields are the VGA BIOS's mode 3."""
    bda = bytearray(256)

    def w8(off: int, v: int) -> None:
        bda[off] = v & 0xFF

    def w16(off: int, v: int) -> None:
        struct.pack_into("<H", bda, off, v & 0xFFFF)

    w16(0x00, 0x3F8)                 # COM1 base (COM2-4 absent)
    w16(0x08, 0x378)                 # LPT1 base
    w16(0x0E, EBDA_SEG)              # EBDA segment
    w16(0x10, EQUIPMENT)
    w16(0x13, CONVENTIONAL_KIB)      # 639 KiB below the EBDA
    w16(0x1A, KBD_BUF_START)         # keyboard ring head / tail (empty)
    w16(0x1C, KBD_BUF_START)
    w8(0x49, 0x03)                   # video mode 3
    w16(0x4A, 80)                    # columns
    w16(0x4C, 0x1000)                # page size (80*25*2 rounded to 2 KiB)
    w16(0x4E, 0)                     # page start
    w16(0x60, 0x0607)                # cursor type (CGA-style, emulated on the 16-line font)
    w8(0x62, 0)                      # active page
    w16(0x63, 0x3D4)                 # CRTC base port
    w8(0x75, hd_count)               # number of hard disks
    w8(0x76, 0xC0)                   # hard disk control byte
    w8(0x78, 0x14)                   # LPT1 timeout
    w8(0x7C, 0x0A)                   # COM1 timeout
    w16(0x80, KBD_BUF_START)         # keyboard buffer start / end offsets
    w16(0x82, KBD_BUF_END)
    w8(0x84, 24)                     # rows - 1
    w16(0x85, 16)                    # character height
    w8(0x87, 0x60)                   # video control: 256 KiB, cursor emulation on
    w8(0x88, 0xF9)                   # EGA/VGA switches
    w8(0x89, 0x51)                   # VGA mode-set control: 400 lines, default palette
    w8(0x8A, 0x08)                   # display combination code index
    w8(0x8F, 0x07)                   # floppy drive 0 information
    w8(0x96, 0x10)                   # keyboard: 101/102-key enhanced keyboard installed
    if floppy_media_state is not None:   # booted from A:: the boot read sensed the media
        w8(0x3E, 0x01)                   # drive 0 recalibrated
        w8(0x90, floppy_media_state)     # drive 0 media state (data rate, established)
    cpu.write(BDA, bytes(bda))


def write_ebda(cpu: BiosCpu, *, pchs: tuple[int, int, int], lchs: tuple[int, int, int] | None) -> None:
    """1 KiB EBDA: size word and, with a disk, the hd0 fixed disk parameter table (FDPT)."""
    ebda = bytearray(EBDA_KIB * 1024)
    ebda[0] = EBDA_KIB
    if lchs is not None:
        ebda[FDPT_OFF:FDPT_OFF + 16] = fdpt(pchs, lchs)
    cpu.write(EBDA_BASE, bytes(ebda))


def fdpt(pchs: tuple[int, int, int], lchs: tuple[int, int, int]) -> bytes:
    """The 16-byte FDPT SeaBIOS builds (Phoenix translated form when LCHS != PCHS)."""
    npc, nph, nps = pchs
    nlc, nlh, nls = lchs
    t = bytearray(16)
    struct.pack_into("<HB", t, 0, nlc, nlh)
    struct.pack_into("<H", t, 5, 0xFFFF)                 # precompensation
    t[8] = 0xC0 | ((nph > 8) << 3)                       # drive control byte
    struct.pack_into("<H", t, 12, npc)                   # landing zone
    t[14] = nls
    if (nlc, nlh, nls) != (npc, nph, nps):
        struct.pack_into("<H", t, 9, npc)
        t[11] = nph
        t[4] = nps
        t[3] = 0xA0
        t[15] = (-sum(t)) & 0xFF
    return bytes(t)


def write_boot_stack(cpu: BiosCpu) -> None:
    """The far return frame under SS:SP at hand-over: `retf` from a boot sector = INT 18h."""
    wr16(cpu, BOOT_SP, R_BOOT_RETURN)
    wr16(cpu, BOOT_SP + 2, ROM_SEG)


__all__ = ["write_ivt", "write_rom", "write_bda", "write_ebda", "write_boot_stack", "ivt_layout", "fdpt"]
