"""Working around what Unicorn 2.1.x does differently from a CPU when we deliver exceptions.

QEMU remembers the last exception raised (`env->old_exception`) to turn a second contributory
fault into a #DF, and forgets it when its own delivery code finishes.  Unicorn hands every
exception to our hook instead and never runs that code, so QEMU keeps remembering: the guest's
next #GP after a #DE handler returned would reach us as #DF.  The field is not exposed, so we
find where it lives in the saved CPU context once per process (a probe with a known fault) and
clear it after each exception we deliver: double faults are then decided only by our delivery
code (emu/interrupts.py), as on a real CPU.
"""
from __future__ import annotations

import ctypes
import struct

from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, Uc, UcError
from unicorn import x86_const as X

_offset: int | None | bool = False  # False: not probed yet; None: probe found nothing
_err_offset: int | None | bool = False


def _context_bytes(uc: Uc) -> tuple[object, bytes]:
    ctx = uc.context_save()
    return ctx, ctypes.string_at(ctx.context.value, ctx.size)


def _flat_engine(size: int, code: bytes, cr0: int, cr3: int = 0,
                 memory: dict[int, bytes] | None = None) -> Uc:
    """A throwaway engine in flat 32-bit protected mode (GDT at 0x3000, code at 0x1000, page
    tables or other data in `memory`, written before CR0 so paging finds them), for the probes
    below."""
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, size)
    uc.mem_write(0x1000, code)
    for addr, data in (memory or {}).items():
        uc.mem_write(addr, data)
    uc.mem_write(0x3000, struct.pack("<QQQ", 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF))
    uc.reg_write(X.UC_X86_REG_GDTR, (0, 0x3000, 23, 0))
    if cr3:
        uc.reg_write(X.UC_X86_REG_CR3, cr3)
    uc.reg_write(X.UC_X86_REG_CR0, cr0)
    uc.reg_write(X.UC_X86_REG_CS, 8)
    uc.reg_write(X.UC_X86_REG_DS, 0x10)
    uc.reg_write(X.UC_X86_REG_SS, 0x10)
    return uc


def probe_old_exception_offset() -> int | None:
    """Offset of `old_exception` in Unicorn's saved x86 context, found by experiment."""
    global _offset
    if _offset is not False:
        return _offset  # type: ignore[return-value]
    found: list[int] = []
    try:
        uc = _flat_engine(0x10000, bytes([0x31, 0xDB, 0xF7, 0xF3, 0xF4]), 0x11)   # xor ebx,ebx; div ebx; hlt
        _, before = _context_bytes(uc)

        def hook(uc_: Uc, intno: int, _ud: object) -> None:
            _, after = _context_bytes(uc_)
            for off in range(0, min(len(before), len(after)) - 3, 4):
                if struct.unpack_from("<i", before, off)[0] == -1 and struct.unpack_from("<i", after, off)[0] == 0:
                    found.append(off)
            uc_.reg_write(X.UC_X86_REG_EIP, 0x1004)

        uc.hook_add(UC_HOOK_INTR, hook)
        uc.emu_start(0x1000, 0x2000)
    except UcError:
        found.clear()
    _offset = found[0] if len(found) == 1 else None
    return _offset


def forget_last_exception(uc: Uc) -> None:
    """Clear QEMU's memory of the last exception (see the module doc)."""
    off = probe_old_exception_offset()
    if off is None:
        return
    ctx = uc.context_save()
    ctypes.memmove(ctx.context.value + off, struct.pack("<i", -1), 4)
    uc.context_restore(ctx)


def probe_error_code_offset() -> int | None:
    """Offset of QEMU's `env->error_code` in the saved context, found by experiment.

    Unicorn hands us QEMU's exceptions without their error codes, but QEMU computed them (a
    page fault's P/W/U/RSVD/I bits, the selector of a #GP/#NP/#SS/#TS) exactly as the CPU
    would, and left them in the CPU state.  The probe raises three page faults whose error codes
    are known (write to a not-present page: 2; write to a read-only page with CR0.WP: 3; read of
    a not-present page: 0) and keeps the one offset that held those three values."""
    global _err_offset
    if _err_offset is not False:
        return _err_offset  # type: ignore[return-value]
    snaps: list[bytes] = []
    try:
        table = bytearray()
        for page in range(32):   # identity map 0-128 KiB; page 0x10 absent, page 0x11 read-only
            table += struct.pack("<I", 0 if page == 0x10 else (page << 12) | (1 if page == 0x11 else 3))
        code = (bytes.fromhex("c705 00000100 01000000") + bytes.fromhex("c705 00100100 01000000")
                + bytes.fromhex("a1 00000100") + b"\xf4")
        uc = _flat_engine(0x20000, code, 0x80010011, cr3=0x4000,
                          memory={0x5000: bytes(table), 0x4000: struct.pack("<I", 0x5000 | 3)})
        resume = {0x1000: 0x100A, 0x100A: 0x1014, 0x1014: 0x1019}

        def hook(uc_: Uc, intno: int, _ud: object) -> None:
            eip = uc_.reg_read(X.UC_X86_REG_EIP)
            snaps.append(_context_bytes(uc_)[1] if intno == 14 else b"")
            forget_last_exception(uc_)
            uc_.reg_write(X.UC_X86_REG_EIP, resume.get(eip, 0x1019))

        uc.hook_add(UC_HOOK_INTR, hook)
        uc.emu_start(0x1000, 0x1019, count=16)
    except UcError:
        snaps.clear()
    found = []
    if len(snaps) == 3 and all(snaps):
        size = min(len(s) for s in snaps)
        found = [off for off in range(0, size - 3, 4)
                 if [struct.unpack_from("<i", s, off)[0] for s in snaps] == [2, 3, 0]]
    _err_offset = found[0] if len(found) == 1 else None
    return _err_offset


def exception_error_code(uc: Uc) -> int | None:
    """The error code QEMU computed for the exception being delivered (None: unknown)."""
    off = probe_error_code_offset()
    if off is None:
        return None
    ctx = uc.context_save()
    return struct.unpack("<i", ctypes.string_at(ctx.context.value + off, 4))[0] & 0xFFFFFFFF


def forget_stale_double_fault(uc: Uc) -> bool:
    """True (and the memory cleared) if QEMU still remembers a #DF.

    With `old_exception` = #DF, QEMU's `check_exception` treats the next fault as a triple fault
    and halts the virtual CPU (EXCP_HLT): `emu_start` returns at the faulting instruction with
    no exception reported, and the instruction would fault the same way on every retry.  Seen
    with Linux started by GRUB 2: a #DF QEMU composed from two of its own page-fault probes was
    never delivered to us, and the kernel's WP test (a write to a read-only fixmap page that must
    raise #PF) then stopped the CPU for ever.  Double faults are decided by our delivery code, so
    the remembered one is forgotten and the instruction runs again to raise its own fault."""
    off = probe_old_exception_offset()
    if off is None:
        return False
    ctx = uc.context_save()
    if struct.unpack("<i", ctypes.string_at(ctx.context.value + off, 4))[0] != 8:
        return False
    ctypes.memmove(ctx.context.value + off, struct.pack("<i", -1), 4)
    uc.context_restore(ctx)
    return True
