"""The kernel's own test modes print the same serial text under QEMU/SeaBIOS and under the
BareFlow emulator (both with 64 MiB, qemu32 CPUID), except lines starting "[jit] "/"[stats] "
which carry RDTSC figures.  This is the determinism contract of docs/unikernel.md; a
difference means the kernel printed something machine-dependent or the emulator differs from
the QEMU oracle (stage 2, E820, A20, PIC/PIT, 8042, UART loopback, exception delivery)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import comparable, run_qemu  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-system-i386")
pytest.importorskip("bareflow.emu.cli")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 is not installed")


_comparable = comparable


@pytest.mark.parametrize("cmdline,qemu_rc", [("test=lib", 1), ("test=gp", 155)])
def test_qemu_and_bareflow_print_the_same(tmp_path, cmdline, qemu_rc):
    img = tmp_path / "d.img"
    shutil.copyfile(ROOT / "images" / "fluid_llama.img", img)
    subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), "set-cmdline", str(img),
                    cmdline], check=True, capture_output=True)
    q = run_qemu(img, timeout=20)
    assert q.returncode == qemu_rc, q.stdout.decode("latin-1")
    e = subprocess.run(["timeout", "60", sys.executable, "-c",
                        "import sys; from bareflow.emu.cli import main; sys.exit(main())",
                        "run", "--no-stdin", "--memory", "64", str(img)],
                       capture_output=True, timeout=70, stdin=subprocess.DEVNULL)
    assert e.returncode != 124, "the emulator did not finish in 60 s"
    assert _comparable(e.stdout) == _comparable(q.stdout), e.stderr.decode("latin-1")[-2000:]
