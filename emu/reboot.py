"""A real reset of a running machine (QEMU's qemu_system_reset without -no-reboot).

Reached from a reset request (8042 command 0xFE, port 0xCF9 bit 2, port 0x92 bit 0, a jump to
F000:FFF0, a triple fault) when the machine is not in `no_reboot` mode.  As QEMU: the CPU gets
its reset state, every device is reset, RAM keeps its contents (QEMU does not clear it; the
BIOS then rewrites its own areas), the CMOS RAM survives (it is battery-backed: only the RTC's
control bits reset), disk overlays survive, and the firmware POSTs and boots again.  The cycle
counter and the serial output go on (time does not restart, as in QEMU).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import x86_const as X

if TYPE_CHECKING:
    from .core import Core


def reboot(m: "Core", why: str) -> None:
    m._reboot_pending = None
    m.emit("reset", why=why)
    board = m.board
    cmos = board.devices.get("cmos")
    saved = bytes(cmos.ram) if cmos is not None else None
    m.uc.ctl_flush_tb()
    m.fast.clear()
    m.pricer.forget()
    board.set_a20(True)
    board.bus.reset()              # not board.reset(): the COM1 transcript goes on
    if saved is not None:
        # battery-backed bytes survive; the RTC status registers A-D are the device's own reset
        cmos.ram[0x0E:] = saved[0x0E:]
    cpu = m.cpu
    cpu.forget_cs()
    cpu.set("cr0", 0x10)
    for reg in ("cr3", "cr4"):
        cpu.set(reg, 0)
    for seg in ("ds", "es", "ss", "fs", "gs", "cs"):
        cpu.set(seg, 0)
    m.uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
    m.uc.reg_write(X.UC_X86_REG_GDTR, (0, 0, 0xFFFF, 0))
    cpu.set("eflags", 0x2)
    m.bios.install(cpu)
    m.bios.post()
    from .ide import after_post
    after_post(board)
    m.halted = False
    try:
        m.bios.boot(cpu)
    except Exception as exc:  # the disk was fine at power-on; say why it is not now
        m.guest_error(f"reboot ({why}) failed: {exc}")
    m.emit("boot", cs=cpu.get("cs"), eip=cpu.get("eip"), dl=cpu.get("dl"))
