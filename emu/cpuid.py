"""CPUID as qemu-system-i386 7.2's default `-cpu qemu32` under TCG answers it.

Unicorn 2.1.4 is opened with its qemu32 model (machine.py), which already gives QEMU's vendor,
family/model/stepping, feature bits and brand string.  Unicorn's QEMU is older than 7.2, and a
CPUID dump under both (tests/images/kern_cpuid.asm) differs in exactly three places, which this
hook fills in with QEMU 7.2's values (target/i386/cpu.c, cpu_x86_cpuid):

- leaf 2 ECX: descriptor 4Dh (a 16 MiB, 16-way, 64-byte-line L3) -- QEMU 7.2 reports its
  legacy L3 cache in the leaf-2 descriptors where the older code had none;
- leaf 4 subleaf 3: the same L3 as a deterministic cache parameters record;
- leaf 40000000h: TCG's hypervisor vendor leaf (max 40000001h, "TCGTCGTCGTCG").

Leaf selection follows the CPU: a basic leaf above the maximum (4) or an extended one above
80000004h returns the maximum basic leaf (with the caller's ECX as subleaf), as on Intel
parts and in QEMU; so `cpuid(7, ecx=3)` also shows the L3 record.  Only the CPUID instruction
calls the hook: it costs nothing on any other instruction.
"""
from __future__ import annotations

from typing import Any

from unicorn import UC_HOOK_INSN
from unicorn import x86_const as X

MAX_BASIC = 4
MAX_EXTENDED = 0x80000004
HV_BASE = 0x40000000

#: Leaf 4 subleaf 3 of QEMU 7.2's legacy cache model: the L3.
#: EAX: type unified (3) | level 3 << 5 | self-initialising (bit 8); EBX: ways-1 = 15 << 22,
#: partitions-1 = 0, line-1 = 63; ECX: sets-1 = 16383 (16 MiB / 16 ways / 64 B); EDX: inclusive
#: (bit 1) | complex indexing (bit 2).
L3_LEAF4 = (0x163, (15 << 22) | 63, 16383, 0x6)
#: Leaf 2 ECX under QEMU 7.2: descriptor 4Dh, "L3: 16 MB, 16-way, 64-byte lines".
L3_DESCRIPTOR = 0x4D
#: "TCGTCGTCGTCG" as EBX, ECX, EDX (little endian): QEMU's TCG hypervisor signature.
TCG_SIGNATURE = tuple(int.from_bytes(s, "little") for s in (b"TCGT", b"CGTC", b"GTCG"))


#: Leaf 1 of qemu32 with one CPU (APIC ID 0, CLFLUSH line 8 qwords); only used when the board
#: has no (enabled) local APIC, to clear EDX bit 9 as QEMU does.
LEAF1 = (0x663, 0x800, 0x80000001, 0x0781ABFD)
EDX_APIC = 1 << 9
#: Leaf 2 of qemu32 under QEMU 7.2: Unicorn gives the same EAX/EBX/EDX and ECX = 0.
LEAF2 = (0x00000001, 0, L3_DESCRIPTOR, 0x002C307D)


def effective_leaf(leaf: int) -> int:
    """The leaf the CPU actually answers for `leaf` (out-of-range leaves -> max basic)."""
    if leaf & 0x80000000:
        return MAX_BASIC if leaf > MAX_EXTENDED else leaf
    if HV_BASE <= leaf <= HV_BASE + 1:
        return leaf
    return MAX_BASIC if leaf > MAX_BASIC else leaf


def qemu72_override(leaf: int, subleaf: int) -> tuple[int, int, int, int] | None:
    """QEMU 7.2's (EAX, EBX, ECX, EDX) where Unicorn's answer differs, else None."""
    eff = effective_leaf(leaf)
    if eff == HV_BASE:
        return (HV_BASE + 1, *TCG_SIGNATURE)
    if eff == 2:
        return LEAF2
    if eff == 4 and subleaf == 3:
        return L3_LEAF4
    return None


class CpuidHook:
    """Installs the hook.  `apic` (the board's local APIC, or None for a board without one)
    keeps leaf 1 EDX bit 9 in step: clear without an APIC or once it is globally disabled."""

    def __init__(self, uc, apic: Any = None) -> None:
        self.uc = uc
        self.apic = apic
        self.handle = uc.hook_add(UC_HOOK_INSN, self._on_cpuid, None, 1, 0, X.UC_X86_INS_CPUID)

    def go_native(self, ports: Any) -> None:
        """Hand the hook to the native path (emu/fastports.py `hook_cpuid`): leaf 0, 3 and
        80000000h-80000004h, which this hook never changes, are then left to the engine without
        entering Python (GRUB runs CPUID leaf 0 before every RDTSC); the rest come here."""
        self.uc.hook_del(self.handle)
        self.handle = None
        ports.hook_cpuid(lambda: self._on_cpuid(self.uc, None))

    def _on_cpuid(self, uc, _ud) -> int:
        leaf = uc.reg_read(X.UC_X86_REG_EAX)
        subleaf = uc.reg_read(X.UC_X86_REG_ECX)
        fixed = qemu72_override(leaf, subleaf)
        if fixed is None and effective_leaf(leaf) == 1 and not (self.apic is not None and self.apic.cpuid_apic):
            fixed = (LEAF1[0], LEAF1[1], LEAF1[2], LEAF1[3] & ~EDX_APIC)
        if fixed is None:
            return 0            # the engine's own answer is qemu32's
        self._set(uc, fixed)
        return 1                # skip the engine's CPUID

    @staticmethod
    def _set(uc, regs: tuple[int, int, int, int]) -> None:
        for reg, v in zip((X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX), regs):
            uc.reg_write(reg, v & 0xFFFFFFFF)
