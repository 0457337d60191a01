"""Differential tests: the same image prints byte-identical serial transcripts under
qemu-system-i386 (SeaBIOS, QEMU's device models) and under BareFlow's full Machine.

Only lines that report measured cycles may differ (`[jit] `, `[stats] `): time is modelled
differently by design (docs/cycle-model.md)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MEASURED_PREFIXES  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

MEASURED = tuple(p.encode() for p in MEASURED_PREFIXES)


def comparable(out: bytes) -> list[bytes]:
    return [ln for ln in out.replace(b"\r\n", b"\n").split(b"\n") if not ln.startswith(MEASURED)]


def ours(img: Path, max_cycles: int = 20_000_000_000) -> tuple[bytes, int | None, StopReason]:
    m = Machine(MachineConfig(image=img))
    reason = m.run(max_cycles=max_cycles)
    return bytes(m.serial_out), m.exit_status, reason


@pytest.mark.parametrize("name", ["core_pm.asm", "bios_disk.asm", "bios_mem.asm", "bios_video.asm",
                                  "bios_serial.asm", "bios_vga.asm", "bios_apm.asm"])
def test_test_images_match_qemu(name):
    img = images.build(name)
    q_out, q_status = images.run_qemu(img)
    b_out, b_status, reason = ours(img)
    assert reason == StopReason.POWER_OFF
    assert b_out == q_out
    assert b_status == q_status


def _llama_image(tmp_path: Path, cmdline: str) -> Path:
    img = tmp_path / "fluid_llama.img"
    shutil.copy(ROOT / "images" / "fluid_llama.img", img)
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img), cmdline], check=True,
                   capture_output=True)
    return img


def test_fluid_llama_batch_prompt_matches_qemu(tmp_path):
    img = _llama_image(tmp_path, 'prompt="Once upon a time" steps=24 exit=1')
    q_out, q_status = images.run_qemu(img, timeout=120)
    b_out, b_status, reason = ours(img)
    assert reason == StopReason.POWER_OFF, reason
    assert comparable(b_out) == comparable(q_out)
    assert b_status == q_status
    # the guest really generated text and reported its own profile
    assert b"[stats] tokens=" in b_out and b"[jit] matmul" in b_out


def test_fluid_llama_exception_self_tests_match_qemu(tmp_path):
    for test in ("de", "ud", "gp"):
        img = _llama_image(tmp_path, f"test={test}")
        q_out, q_status = images.run_qemu(img, timeout=60)
        b_out, b_status, _ = ours(img, max_cycles=5_000_000_000)
        assert comparable(b_out) == comparable(q_out), test
        assert b_status == q_status


def test_fluid_llama_is_deterministic(tmp_path):
    """Same image + same input = same cycles, instructions, serial bytes and profile."""
    img = _llama_image(tmp_path, 'prompt="One day" steps=12 exit=1')
    runs = []
    for _ in range(2):
        m = Machine(MachineConfig(image=img, symbols=ROOT / "images" / "tinyllama_bare.elf"))
        assert m.run(max_cycles=20_000_000_000) == StopReason.POWER_OFF
        runs.append((m.cycles, m.instructions, bytes(m.serial_out), m.profile_table()))
    assert runs[0] == runs[1]
    # the guest's own RDTSC figures come from the modelled clock, so they repeat exactly too
    assert b"[stats] tokens=12" in runs[0][2]
    names = {r["name"] for r in runs[0][3]}
    assert {"kmain", "llama_forward"} <= names
