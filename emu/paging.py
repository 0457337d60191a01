"""The guest's page tables, walked in Python: linear -> physical, or a typed #PF.

Unicorn translates guest accesses itself, but every address Python reads on the guest's
behalf (the block pricer's code bytes, the IDT/GDT/TSS and the pushed frame during interrupt
delivery, decoded instructions, the debugger's and gdb stub's memory views) is a LINEAR
address, while the engine's `mem_read/mem_write` take PHYSICAL ones.  With CR0.PG clear the two
are the same and nothing here runs; with paging on, `translate` walks the tables as the CPU
does (Intel SDM vol. 3 4.3 and 4.4):

- 32-bit paging: CR3 -> page directory (1024 x 4-byte PDEs) -> page table -> 4 KiB page, or a
  4 MiB page straight from the PDE when CR4.PSE and PDE.PS are set;
- PAE (CR4.PAE): CR3 -> 4 PDPTEs -> page directory (512 x 8-byte) -> page table, 2 MiB pages
  from PDE.PS; physical addresses above 4 GiB are not reachable on this machine.

Rights are the AND of every level: a user access (CPL 3) to a supervisor page faults, so does
a user write to a read-only page, and a supervisor write to a read-only page when CR0.WP is
set.  The fault carries the architectural error code: bit 0 P (a protection violation, not a
missing page), bit 1 W/R, bit 2 U/S, bit 3 RSVD, bit 4 I/D (a fetch, with PAE + EFER.NXE only,
which this 32-bit machine does not model, so it is never set).  A walk made for the CPU
(`touch=True`) sets the Accessed bits on the way and the Dirty bit of the final entry on a
write, as the CPU does; the debugger's peeks leave the tables untouched.
"""
from __future__ import annotations

import struct
from typing import Callable

CR0_PE, CR0_WP, CR0_PG = 1 << 0, 1 << 16, 1 << 31
CR4_PSE, CR4_PAE = 1 << 4, 1 << 5
P, RW, US, A, D, PS = 1, 2, 4, 0x20, 0x40, 0x80
PF_P, PF_W, PF_U, PF_RSVD, PF_I = 1, 2, 4, 8, 16


class PageFault(Exception):
    """The walk failed: what the CPU would raise as #PF (vector 14) with CR2 = `address`."""

    def __init__(self, address: int, error_code: int, why: str = "") -> None:
        super().__init__(why or f"page fault at {address:#010x} (error code {error_code:#x})")
        self.address = address
        self.error_code = error_code
        self.why = why or str(self)


def paging_enabled(cr0: int) -> bool:
    return bool(cr0 & CR0_PG) and bool(cr0 & CR0_PE)


class Walker:
    """Walks one guest's page tables over its physical memory.

    `read_phys(addr, n)` and `write_phys(addr, data)` reach physical memory (the board's);
    `regs()` returns the current (cr0, cr3, cr4).
    """

    def __init__(self, read_phys: Callable[[int, int], bytes], write_phys: Callable[[int, bytes], None],
                 regs: Callable[[], tuple[int, int, int]]) -> None:
        self.read_phys = read_phys
        self.write_phys = write_phys
        self.regs = regs

    # ------------------------------------------------------------------ the walk
    def translate(self, lin: int, *, write: bool = False, user: bool = False, touch: bool = False,
                  regs: tuple[int, int, int] | None = None) -> int:
        """Physical address of linear `lin` (identity when paging is off), or PageFault."""
        cr0, cr3, cr4 = regs if regs is not None else self.regs()
        lin &= 0xFFFFFFFF
        if not paging_enabled(cr0):
            return lin
        if cr4 & CR4_PAE:
            return self._walk_pae(lin, cr0, cr3, write, user, touch)
        return self._walk32(lin, cr0, cr3, cr4, write, user, touch)

    def _check(self, lin: int, rights: int, cr0: int, write: bool, user: bool) -> None:
        code = PF_P | (PF_W if write else 0) | (PF_U if user else 0)
        if user and not rights & US:
            raise PageFault(lin, code, f"page fault: user-mode access to supervisor page at {lin:#010x}")
        if write and not rights & RW and (user or cr0 & CR0_WP):
            raise PageFault(lin, code, f"page fault: write to read-only page at {lin:#010x}")

    def _missing(self, lin: int, level: str, write: bool, user: bool) -> PageFault:
        code = (PF_W if write else 0) | (PF_U if user else 0)
        return PageFault(lin, code, f"page fault: {level} for {lin:#010x} is not present")

    def _u32(self, addr: int) -> int:
        return struct.unpack("<I", self.read_phys(addr, 4))[0]

    def _u64(self, addr: int) -> int:
        return struct.unpack("<Q", self.read_phys(addr, 8))[0]

    def _set_bits(self, addr: int, entry: int, bits: int, width: int) -> None:
        if entry & bits != bits:
            self.write_phys(addr, ((entry | bits) & 0xFFFFFFFF).to_bytes(4, "little"))

    def _walk32(self, lin: int, cr0: int, cr3: int, cr4: int, write: bool, user: bool, touch: bool) -> int:
        pde_addr = (cr3 & 0xFFFFF000) | ((lin >> 22) << 2)
        pde = self._u32(pde_addr)
        if not pde & P:
            raise self._missing(lin, "page directory entry", write, user)
        if pde & PS and cr4 & CR4_PSE:
            self._check(lin, pde, cr0, write, user)
            if touch:
                self._set_bits(pde_addr, pde, A | (D if write else 0), 4)
            return (pde & 0xFFC00000) | (lin & 0x3FFFFF)
        pte_addr = (pde & 0xFFFFF000) | (((lin >> 12) & 0x3FF) << 2)
        pte = self._u32(pte_addr)
        if not pte & P:
            raise self._missing(lin, "page table entry", write, user)
        self._check(lin, pde & pte, cr0, write, user)
        if touch:
            self._set_bits(pde_addr, pde, A, 4)
            self._set_bits(pte_addr, pte, A | (D if write else 0), 4)
        return (pte & 0xFFFFF000) | (lin & 0xFFF)

    def _walk_pae(self, lin: int, cr0: int, cr3: int, write: bool, user: bool, touch: bool) -> int:
        pdpte = self._u64((cr3 & 0xFFFFFFE0) + ((lin >> 30) << 3))
        if not pdpte & P:
            raise self._missing(lin, "page directory pointer entry", write, user)
        pde_addr = (pdpte & 0xFFFFF000) + (((lin >> 21) & 0x1FF) << 3)
        pde = self._u64(pde_addr)
        if not pde & P:
            raise self._missing(lin, "page directory entry", write, user)
        if pde & PS:
            self._check(lin, pde, cr0, write, user)
            if touch:
                self._set_bits(pde_addr, pde & 0xFFFFFFFF, A | (D if write else 0), 8)
            return (pde & 0xFFE00000) | (lin & 0x1FFFFF)
        pte_addr = (pde & 0xFFFFF000) + (((lin >> 12) & 0x1FF) << 3)
        pte = self._u64(pte_addr)
        if not pte & P:
            raise self._missing(lin, "page table entry", write, user)
        self._check(lin, pde & pte, cr0, write, user)
        if touch:
            self._set_bits(pde_addr, pde & 0xFFFFFFFF, A, 8)
            self._set_bits(pte_addr, pte & 0xFFFFFFFF, A | (D if write else 0), 8)
        return (pte & 0xFFFFF000) | (lin & 0xFFF)

    # ------------------------------------------------------------------ linear access
    def spans(self, lin: int, n: int, *, write: bool = False, user: bool = False,
              touch: bool = False) -> list[tuple[int, int]]:
        """(physical address, length) pieces of [lin, lin+n), split at page boundaries; every
        page is checked before any byte moves (an access that faults does nothing)."""
        regs = self.regs()
        if not paging_enabled(regs[0]):
            return [(lin & 0xFFFFFFFF, n)]
        out = []
        while n > 0:
            chunk = min(n, 0x1000 - (lin & 0xFFF))
            out.append((self.translate(lin, write=write, user=user, touch=touch, regs=regs), chunk))
            lin = (lin + chunk) & 0xFFFFFFFF
            n -= chunk
        return out

    def read_linear(self, lin: int, n: int, *, user: bool = False, touch: bool = False) -> bytes:
        return b"".join(self.read_phys(p, k) for p, k in self.spans(lin, n, user=user, touch=touch))

    def write_linear(self, lin: int, data: bytes, *, user: bool = False, touch: bool = False) -> None:
        data = bytes(data)
        pos = 0
        for p, k in self.spans(lin, len(data), write=True, user=user, touch=touch):
            self.write_phys(p, data[pos:pos + k])
            pos += k
