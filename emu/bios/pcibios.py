"""The PCI BIOS as SeaBIOS offers it on QEMU's i440FX: the BIOS32 service directory ("_32_"),
the 32-bit PCI BIOS it points to, and the $PIR interrupt routing table.

- "_32_" at F6040h (SeaBIOS's place), entry F000:D26C: service "$PCI" -> base F0000h, length
  64 KiB, entry offset D1CAh -- Linux prints "PCI: PCI BIOS revision 2.10 entry at 0xfd1ca,
  last bus=0".
- The code at F000:D1CA is real x86 (emu/bios/pcibios32.asm, assembled by nasm; the bytes
  below), run by the guest CPU: installation check (B101h), find device (B102h), find class
  code (B103h), read/write configuration byte/word/dword (B108h-B10Dh) through ports
  0CF8h/0CFCh, get IRQ routing options (B10Eh, a copy of the $PIR slot entries); other
  functions answer FUNC_NOT_SUPPORTED (B106h generate special cycle, B10Fh set PCI IRQ).
- "$PIR" at F5C80h: the PCI IRQ routing table (router 00:01.0, the PIIX3, compatible with
  8086:122E; slots 1-6, INTA-INTD on links 60h-63h rotated by slot, IRQ bitmap DEF8h).
"""
from __future__ import annotations

import struct

BIOS32_AT = 0xF6040
PCIBIOS_AT = 0xFD1CA          # the blob starts with the PCI BIOS entry
BIOS32_ENTRY = 0xFD26C
PIR_AT = 0xF5C80

#: nasm -f bin emu/bios/pcibios32.asm
CODE = bytes.fromhex(
    "e9c0000000cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
    "cccccccccccccccccccccccccccccccccccc3d24504349751685db7515bb00000f00b900000100bacad10000b000cbb0"
    "80cbb081cb3c0174243c020f84a90000003c030f84b10000003c0e0f840d0100003c0872043c0d761ab481f9cbba5043"
    "4920b00166bb1002b100bfcad10f00b400f8cb52500fb7c3c1e00889fa88d024fc0d0000008066baf80cef8b042489fa"
    "3c0974223c0c742d3c0a74383c0d743d83e2036681c2fc0c3c08740588c8eeeb33ec88c1eb2e83e2026681c2fc0c66ed"
    "6689c1eb1f83e2026681c2fc0c6689c866efeb1066bafc0ced89c1eb0766bafc0c89c8ef585ab400f8cb52515653c1e1"
    "106689d189ca31c9eb115251565389ca81e2ffffff00b908000000500fb7f631db0fb7c3c1e00809c80d000000805266"
    "baf80cef66bafc0ced5a83f8ff741085c97403c1e80839d0750585f674134e66436681fb000172c9585b5e595ab486f9"
    "cb5866891c245b5e595ab400f8cb2666833f602666c70760007304b489f9cb5156570626c47f02bea05c0000b9600000"
    "00fcf32ea4075f5e596631dbb400f8cb"
)


def bios32_header() -> bytes:
    """The 16-byte BIOS32 service directory header (revision 0, length 1 paragraph)."""
    h = bytearray(struct.pack("<4sIBB6x", b"_32_", BIOS32_ENTRY, 0, 1))
    h[10] = -sum(h) & 0xFF
    return bytes(h)


def pir_table(slots: int = 6, router_devfn: int = 0x08) -> bytes:
    """$PIR: version 1.0, router 00:01.0 (PIIX3, compatible 8086:122E), one entry per slot
    1..slots with INTA-INTD wired to PIRQ links 60h-63h rotated by the slot number."""
    entries = b""
    for i in range(slots):
        links = b"".join(struct.pack("<BH", 0x60 + ((i + pin) & 3), 0xDEF8) for pin in range(4))
        entries += struct.pack("<BB", 0, (i + 1) << 3) + links + struct.pack("<BB", i, 0)
    head = bytearray(struct.pack("<4sHHBBHHHI11xB", b"$PIR", 0x0100, 32 + len(entries), 0,
                                 router_devfn, 0, 0x8086, 0x122E, 0, 0))
    table = head + entries
    table[31] = -sum(table) & 0xFF
    return bytes(table)


def install(ram: bytearray) -> None:
    """Write the directory, the code and the routing table into the F segment."""
    ram[PCIBIOS_AT:PCIBIOS_AT + len(CODE)] = CODE
    ram[BIOS32_AT:BIOS32_AT + 16] = bios32_header()
    pir = pir_table()
    ram[PIR_AT:PIR_AT + len(pir)] = pir
