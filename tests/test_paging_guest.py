"""A guest with paging on (tests/images/core_paging.asm): interrupt delivery reads the IDT and
pushes the frame at linear addresses that the page tables map elsewhere, and three #PFs report
CR2 and the error code.  The COM1 transcript must be byte-identical to QEMU's."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402


def _ours(img: Path) -> tuple[bytes, int | None, StopReason, Machine]:
    m = Machine(MachineConfig(image=img))
    reason = m.run(max_cycles=2_000_000_000)
    return bytes(m.serial_out), m.exit_status, reason, m


def test_paging_guest_transcript() -> None:
    out, status, reason, m = _ours(images.build("core_paging.asm"))
    assert reason == StopReason.POWER_OFF, m.stop_message
    text = out.decode()
    assert "int 0x30: esp=00401FF0 [esp]=12345678" in text
    assert "#PF cr2=00800000 error=00000000" in text
    assert "#PF cr2=00402000 error=00000003" in text      # write to a read-only page, WP set
    assert text.endswith("done\r\n") and status == (0x21 << 1) | 1
    # the debugger's view goes through the same tables: linear 0x400000 is the IDT's page
    assert m.read_mem(0x400000 + 14 * 8 + 2, 2) == b"\x08\x00"
    assert m.read_mem(0x800000, 4) == b"\xff" * 4          # not present: reads as 0xFF
    from bareflow.emu.machine import PageFault
    with pytest.raises(PageFault) as e:
        m.read_linear(0x800000, 1)
    assert (e.value.address, e.value.error_code) == (0x800000, 0)
    with pytest.raises(PageFault) as e:
        m.write_linear(0x402000, b"x")                      # read-only, CR0.WP: as the guest saw
    assert e.value.error_code == 3
    m.write_linear(0x401000, b"ok")                         # the stack page maps to 0x201000
    assert m.read_phys(0x201000, 2) == b"ok"


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="qemu-system-i386 not installed")
def test_paging_guest_matches_qemu() -> None:
    img = images.build("core_paging.asm")
    q_out, q_status = images.run_qemu(img)
    out, status, reason, _ = _ours(img)
    assert reason == StopReason.POWER_OFF
    assert out == q_out and status == q_status
