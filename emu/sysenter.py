"""SYSENTER, which Unicorn leaves to its embedder.

Unicorn 2.1 replaces QEMU's SYSENTER with "call the UC_X86_INS_SYSENTER hooks, then step EIP
over the instruction" (qemu/target/i386/seg_helper.c `helper_sysenter`), so without a hook a
user program's system call is a 2-byte no-op (SYSEXIT is QEMU's own and works).  This hook does
what the CPU does (Intel SDM vol. 2 SYSENTER, QEMU's helper as the oracle): #GP(0) in real mode
or with IA32_SYSENTER_CS (MSR 0x174) zero; otherwise CS = SYSENTER_CS & 0xFFFC and SS = CS + 8
as flat ring-0 segments, ESP = IA32_SYSENTER_ESP (0x175), EIP = IA32_SYSENTER_EIP (0x176), and
EFLAGS.VM, IF and RF cleared.  CS and SS are loaded from the GDT (the kernel's GDT is laid out
for SYSENTER/SYSEXIT: code, data, user code, user data), so their descriptors must be there.

Unicorn adds the instruction's length to EIP after the hook, so the hook sets EIP two bytes
short of the entry point.  emu/special.py watches the instruction (the `privilege` event with
via="sysenter" that the journey narrates as the first system call).
"""
from __future__ import annotations

from typing import Any

from unicorn import UC_HOOK_INSN
from unicorn import x86_const as X

from .interrupts import lower_cpl

VM, IF, RF = 1 << 17, 1 << 9, 1 << 16
SYSENTER_LEN = 2          # 0F 34


def install(core: Any) -> None:
    """Hook SYSENTER on the core's engine (once, at construction)."""
    core.uc.hook_add(UC_HOOK_INSN, _on_sysenter, core, 1, 0, X.UC_X86_INS_SYSENTER)


def _on_sysenter(uc: Any, core: Any) -> None:
    cpu = core.cpu
    cs = uc.msr_read(0x174) & 0xFFFF
    eip = cpu.get("eip")                  # Unicorn synced it to the SYSENTER itself
    if not cpu.protected or cs & 0xFFFC == 0:
        core.deliver(13, eip, "exception", 0)
        cpu.set("eip", (cpu.get("eip") - SYSENTER_LEN) & 0xFFFFFFFF)
        return
    if cpu.cpl != 0:
        lower_cpl(cpu)
    cpu.set("eflags", cpu.get("eflags") & ~(VM | IF | RF))
    cpu.set("ss", (cs & 0xFFFC) + 8)
    cpu.set("cs", cs & 0xFFFC)
    cpu.set("esp", uc.msr_read(0x175) & 0xFFFFFFFF)
    cpu.set("eip", (uc.msr_read(0x176) - SYSENTER_LEN) & 0xFFFFFFFF)
