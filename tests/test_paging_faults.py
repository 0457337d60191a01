"""Paging guests print what they print under QEMU: page faults with QEMU's error codes and CR2,
4 MiB pages, and (once the core reads code by linear address) higher-half kernels."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import quirks  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402


def test_qemu_error_code_is_found_in_the_cpu_state():
    assert quirks.probe_error_code_offset() is not None


@pytest.mark.parametrize("name", ["paging_pf.asm", "paging_higher.asm"])
def test_page_faults_match_qemu(name):
    img = images.build(name)
    q_out, q_status = images.run_qemu(img)
    m = Machine(MachineConfig(image=img))
    assert m.run(max_cycles=500_000_000) == StopReason.POWER_OFF, m.stop_message
    assert bytes(m.serial_out) == q_out
    assert m.exit_status == q_status
    # the handler saw a write to a read-only page: P|W (QEMU's error code, not a guess)
    assert b"#PF err=00000003 cr2=00301004" in q_out
