"""The page-table walker (emu/paging.py) on hand-built tables, and the linear accessors of the
CPU wrapper on a real Unicorn engine with paging on (Unicorn's own MMU is the oracle)."""
from __future__ import annotations

import struct

import pytest
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn import x86_const as X

from bareflow.emu.cpu import Cpu
from bareflow.emu.paging import (A, CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, D, P, PS, PageFault, RW,
                                 US, Walker)

MEM = 8 << 20
PD, PT = 0x10000, 0x11000


class Phys:
    def __init__(self) -> None:
        self.mem = bytearray(MEM)

    def read(self, a: int, n: int) -> bytes:
        return bytes(self.mem[a:a + n])

    def write(self, a: int, data: bytes) -> None:
        self.mem[a:a + len(data)] = data

    def u32(self, a: int, v: int | None = None) -> int:
        if v is not None:
            struct.pack_into("<I", self.mem, a, v)
        return struct.unpack_from("<I", self.mem, a)[0]


def make(cr0: int = CR0_PE | CR0_PG, cr4: int = 0) -> tuple[Phys, Walker]:
    phys = Phys()
    regs = [cr0, PD, cr4]
    w = Walker(phys.read, phys.write, lambda: tuple(regs))
    w._regs = regs  # test handle
    # 0x00400000-0x00400FFF -> 0x00200000 (4 KiB page, supervisor, writable)
    phys.u32(PD + 1 * 4, PT | P | RW | US)
    phys.u32(PT + 0 * 4, 0x200000 | P | RW)
    # 0x00401000 -> 0x00201000 user, read-only
    phys.u32(PT + 1 * 4, 0x201000 | P | US)
    # 0x00402000: not present
    # 0x00800000-0x00BFFFFF: a 4 MiB page at 0x00400000 (needs CR4.PSE)
    phys.u32(PD + 2 * 4, 0x400000 | P | RW | US | PS)
    return phys, w


def test_paging_off_is_identity() -> None:
    _, w = make(cr0=CR0_PE)
    assert w.translate(0x12345678) == 0x12345678
    assert w.spans(0xFFF, 2) == [(0xFFF, 2)]


def test_4k_page_translation_and_offsets() -> None:
    phys, w = make()
    assert w.translate(0x400123) == 0x200123
    assert w.translate(0x401FFF) == 0x201FFF
    phys.write(0x200FFE, b"ab")
    phys.write(0x201000, b"cd")
    assert w.read_linear(0x400FFE, 4) == b"abcd"       # crosses into the next page's frame


def test_4mib_page_needs_pse() -> None:
    _, w = make(cr4=CR4_PSE)
    assert w.translate(0x812345) == 0x412345
    assert w.translate(0xBFFFFF) == 0x7FFFFF


def test_4mib_without_pse_reads_the_pde_as_a_table() -> None:
    _, w = make(cr4=0)
    with pytest.raises(PageFault) as e:
        w.translate(0x801000)
    assert e.value.error_code == 0


def test_not_present_error_codes() -> None:
    _, w = make()
    with pytest.raises(PageFault) as e:
        w.translate(0x402000)
    assert (e.value.address, e.value.error_code) == (0x402000, 0)          # read, supervisor
    with pytest.raises(PageFault) as e:
        w.translate(0x402000, write=True, user=True)
    assert e.value.error_code == 0b110                                     # W + U, P clear
    with pytest.raises(PageFault) as e:
        w.translate(0xC00000)                                              # PDE not present
    assert e.value.error_code == 0 and "directory" in e.value.why


def test_user_supervisor_and_write_protect() -> None:
    phys, w = make()
    with pytest.raises(PageFault) as e:
        w.translate(0x400000, user=True)                                   # supervisor page
    assert e.value.error_code == 0b101
    assert w.translate(0x401000, user=True) == 0x201000                    # user page, read
    with pytest.raises(PageFault) as e:
        w.translate(0x401000, user=True, write=True)                       # read-only
    assert e.value.error_code == 0b111
    assert w.translate(0x401000, write=True) == 0x201000                   # supervisor, WP clear
    w._regs[0] |= CR0_WP
    with pytest.raises(PageFault) as e:
        w.translate(0x401000, write=True)
    assert e.value.error_code == 0b011
    # the PDE's rights count too: a user page under a supervisor PDE is supervisor
    phys.u32(PD + 1 * 4, PT | P | RW)
    with pytest.raises(PageFault):
        w.translate(0x401000, user=True)


def test_accessed_and_dirty_bits_only_when_touching() -> None:
    phys, w = make()
    w.read_linear(0x400000, 4)
    assert not phys.u32(PT) & (A | D) and not phys.u32(PD + 4) & A
    w.read_linear(0x400000, 4, touch=True)
    assert phys.u32(PT) & A and not phys.u32(PT) & D and phys.u32(PD + 4) & A
    w.write_linear(0x400000, b"x", touch=True)
    assert phys.u32(PT) & D and phys.mem[0x200000] == ord("x")


def test_a_faulting_write_changes_nothing() -> None:
    phys, w = make()
    with pytest.raises(PageFault):
        w.write_linear(0x401FFE, b"abcd")      # second page is not present
    assert phys.mem[0x201FFE:0x201FFF + 1] == b"\0\0"


def test_pae_4k_and_2m_pages() -> None:
    phys = Phys()
    regs = (CR0_PE | CR0_PG, 0x20000, CR4_PAE)
    w = Walker(phys.read, phys.write, lambda: regs)
    struct.pack_into("<Q", phys.mem, 0x20000 + 0, 0x21000 | P)          # PDPTE 0
    struct.pack_into("<Q", phys.mem, 0x21000 + 1 * 8, 0x22000 | P | RW)  # PDE 1: 0x200000-0x3FFFFF
    struct.pack_into("<Q", phys.mem, 0x22000 + 3 * 8, 0x5000 | P)        # PTE 3
    struct.pack_into("<Q", phys.mem, 0x21000 + 2 * 8, 0x600000 | P | PS)  # 2 MiB page at 0x400000
    assert w.translate(0x203ABC) == 0x5ABC
    assert w.translate(0x412345) == 0x612345
    with pytest.raises(PageFault):
        w.translate(0x40000000)                                          # PDPTE 1 missing


def test_cpu_linear_reads_agree_with_unicorn_mmu() -> None:
    """A guest with paging on stores through its mapping; Cpu.read of the linear address sees
    the byte, Cpu.read_phys of the frame too, and a missing page is a typed PageFault."""
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 4 << 20)
    mem = bytearray(4 << 20)
    struct.pack_into("<I", mem, PD + 1 * 4, PT | P | RW)          # 0x400000 -> PT
    struct.pack_into("<I", mem, PT + 0, 0x300000 | P | RW)        # 0x400000 -> 0x300000
    struct.pack_into("<I", mem, PD + 0, 0x0 | P | RW | PS)        # 0-4 MiB identity (4 MiB page)
    code = bytes.fromhex("c705 00004000 44332211") + b"\xf4"      # mov dword [0x400000], 0x11223344
    mem[0x1000:0x1000 + len(code)] = code
    uc.mem_write(0, bytes(mem))
    # flat 32-bit segments so linear = offset
    gdt = struct.pack("<QQQ", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
    uc.mem_write(0x8000, gdt)
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x8000, len(gdt) - 1, 0))
    uc.reg_write(X.UC_X86_REG_CR4, CR4_PSE)
    uc.reg_write(X.UC_X86_REG_CR3, PD)
    uc.reg_write(X.UC_X86_REG_CR0, CR0_PE | CR0_PG | 0x10)
    uc.reg_write(X.UC_X86_REG_CS, 0x08)
    uc.reg_write(X.UC_X86_REG_DS, 0x10)
    uc.emu_start(0x1000, 0x1000 + len(code) - 1)
    cpu = Cpu(uc)
    assert cpu.paging()
    assert cpu.read(0x400000, 4) == bytes.fromhex("44332211")
    assert cpu.read_phys(0x300000, 4) == bytes.fromhex("44332211")
    assert cpu.fetch(0x1000, 2) == code[:2]
    with pytest.raises(PageFault) as e:
        cpu.peek(0x401000, 1)
    assert e.value.address == 0x401000
    cpu.write(0x400004, b"\x55")
    assert cpu.read_phys(0x300004, 1) == b"\x55"
