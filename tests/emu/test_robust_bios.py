"""INT 13h AH=42h transfers above 64 KiB, including a buffer that would run past the end of RAM,
answer as SeaBIOS does (issue 12 item 8): CF=1, AH=09h, 0 sectors done.  The transcript was
recorded under `qemu-system-i386 -m 2` on the image padded (sparse) to 8 MiB; the QEMU test
keeps it honest."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
from build import QEMU_ARGS, build  # noqa: E402

EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
EMU = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "bareflow.emu.cli"]
EXPECTED = (ROOT / "tests" / "images" / "bios_dma_beyond.expected").read_bytes()
needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")


def _image(tmp_path: Path) -> Path:
    big = tmp_path / "dma.img"
    big.write_bytes(build("bios_dma_beyond").read_bytes())
    os.truncate(big, 8 << 20)
    return big


@needs_nasm
def test_dma_beyond_ram_ours(tmp_path):
    r = subprocess.run(EMU + ["run", str(_image(tmp_path)), "--memory", "2", "--no-stdin",
                              "--max-cycles", "2000000000"], capture_output=True, timeout=120)
    assert r.stdout == EXPECTED, r.stderr
    assert r.returncode == 1


@needs_nasm
@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
def test_dma_beyond_ram_qemu(tmp_path):
    args = ["2" if a == "64" else a for a in QEMU_ARGS]
    r = subprocess.run(["qemu-system-i386", *args, "-drive", f"file={_image(tmp_path)},format=raw,snapshot=on"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.stdout == EXPECTED and r.returncode == 1
