"""SYSENTER (emu/sysenter.py): Unicorn leaves it to its embedder, so without the hook a user
program's fast system call was a 2-byte no-op.  tests/images/ring3_sysenter.asm sets the SYSENTER
MSRs, drops to ring 3 with IRET and makes three system calls with SYSENTER (the kernel returns
with SYSEXIT): the same COM1 transcript as QEMU, and the journey narrates the first one."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.journey import Journey  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

EXPECTED = (b"ring 0: SYSENTER MSRs set, IRET to ring 3\r\n"
            b"sysenter, kernel ESP=00087FF4: hello from ring 3\r\n"
            b"sysenter, kernel ESP=00087FF4: still in ring 3\r\n"
            b"exit by sysenter: ring 0, power off\r\n")


def test_sysenter_guest_runs_and_the_journey_names_the_first_system_call() -> None:
    m = Machine(MachineConfig(image=images.build("ring3_sysenter.asm")))
    j = Journey().attach(m)
    assert m.run(max_cycles=50_000_000) == StopReason.POWER_OFF
    assert bytes(m.serial_out) == EXPECTED and m.exit_status == 1
    (call,) = j.find("syscall")
    assert call.title == "First system call: SYSENTER from ring 3 to ring 0, entry 0x0008:0x8078"
    assert call.details == ["now CS=0x0008 SS=0x0010 ESP=0x00088000"]
    assert j.find("ring3")[0].cycle < call.cycle
    # both directions counted: IRET + 2 SYSEXITs up, 3 SYSENTERs down
    assert (m.privilege.to_user, m.privilege.to_kernel) == (3, 3)


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="qemu-system-i386 not installed")
def test_sysenter_guest_matches_qemu() -> None:
    img = images.build("ring3_sysenter.asm")
    q_out, q_status = images.run_qemu(img)
    assert q_out == EXPECTED and q_status == 1
