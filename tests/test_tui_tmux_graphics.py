"""A person's view of a graphics guest: `bareflow-emu IMAGE` in a detached tmux session of
200x60 with a true-colour terminal; the mode 13h guest (tests/images/vga_mode13.asm) draws, the
VGA pane's title says 320x200x256, the pane is made of '▀' cells, and `capture-pane -e` shows
the guest's own DAC colour (entry 200 = (10h, 20h, 30h) -> RGB 64,128,192) as 24-bit escapes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
sys.path.insert(0, str(ROOT / "tests" / "images"))

from build import build  # noqa: E402

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm"),
    pytest.mark.skipif(not EXE.exists(), reason="no .venv/bin/bareflow-emu (run tools/setup.sh)"),
]


@pytest.mark.timeout(120)
def test_mode13_picture_in_tmux(tmp_path: Path) -> None:
    img = build("vga_mode13")
    sock = f"bareflow-gfx-{os.getpid()}"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True,
                              text=True, timeout=20).stdout

    env = "env -u COLUMNS -u LINES TERM=xterm-256color COLORTERM=truecolor "
    tmux("new-session", "-d", "-s", "t", "-x", "200", "-y", "60", f"{env}{EXE} {img}")
    try:
        end = time.monotonic() + 90
        plain = colour = ""
        while time.monotonic() < end:
            plain = tmux("capture-pane", "-p", "-t", "t")
            colour = tmux("capture-pane", "-e", "-p", "-t", "t")
            if "VGA 320x200x256" in plain and "DONE" in plain and "38;2;64;128;192" in colour:
                break
            time.sleep(0.5)
        assert "VGA 320x200x256" in plain, plain
        rows = [ln for ln in plain.splitlines()[1:26]]
        assert all(ln[1:81] == "▀" * 80 for ln in rows), "\n".join(rows[:3])
        assert "38;2;64;128;192" in colour and "48;2;64;128;192" in colour
        tmux("send-keys", "-t", "t", "F10")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
