"""The real command in a real terminal: `bareflow-emu` (no arguments: the bundled image) runs
in a detached tmux session of 200x100 (tall enough for the reply and the JIT's figure lines);
we read the pane as a user would see it, wait for the guest's `> ` prompt, type a prompt with
tmux send-keys (it reaches the guest through the PS/2 keyboard), and wait for the reply on the pane; F10 must then quit with status 0.

Slow by nature (the guest boots and generates text under the emulator), so it waits with
generous timeouts but finishes as soon as the pane shows what it waits for."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
IMAGE = ROOT / "images" / "fluid_llama.img"
PROMPT = "Once upon a time"

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(not EXE.exists(), reason="no .venv/bin/bareflow-emu (run tools/setup.sh)"),
    pytest.mark.skipif(not IMAGE.exists(), reason="no bundled image"),
]


class Tmux:
    """One detached session on a private tmux server (never touches the user's sessions)."""

    def __init__(self, tmp: Path) -> None:
        self.sock = f"bareflow-test-{os.getpid()}"
        self.name = "tui"
        self.status_file = tmp / "status"

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, *args], check=True, capture_output=True,
                              text=True, timeout=20).stdout

    def start(self, command: str) -> None:
        shell = f"cd {ROOT} && {command}; echo $? > {self.status_file}"
        # pytest exports COLUMNS=80 LINES=24, and shutil.get_terminal_size (which Textual
        # uses) believes them over the terminal: drop them so the app sees tmux's 200x100
        env = "env -u COLUMNS -u LINES TERM=xterm-256color "
        self.tmux("new-session", "-d", "-s", self.name, "-x", "200", "-y", "100", f"{env}sh -c '{shell}'")

    def pane(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def send(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def wait(self, cond, timeout: float, what: str) -> str:
        end = time.monotonic() + timeout
        text = ""
        while time.monotonic() < end:
            try:
                text = self.pane()
            except subprocess.CalledProcessError:
                break  # the session ended
            if cond(text):
                return text
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; the pane was:\n{text}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=20)


def com1_text(pane: str) -> str:
    """The COM1 panel's lines (bottom-left box) joined, without the box borders."""
    lines = []
    inside = False
    for line in pane.splitlines():
        if "COM1" in line and line.lstrip().startswith("╭"):
            inside = True
            continue
        if inside:
            if line.lstrip().startswith("╰"):
                break
            m = re.match(r"\s*│(.*?)│", line)
            if m:
                lines.append(m.group(1).rstrip())
    return "\n".join(lines)


@pytest.mark.timeout(600)
def test_tui_in_tmux_prompt_and_reply(tmp_path):
    t = Tmux(tmp_path)
    t.start(f"{EXE}")
    try:
        # boot: the app prints its `> ` prompt (on VGA and COM1)
        t.wait(lambda p: re.search(r"^> ?$", com1_text(p), re.M) is not None, 300, "the guest's '> ' prompt")
        pane = t.pane()
        assert "RUNNING" in pane or "IDLE" in pane
        # type on the VGA screen (focused at start): the keys go to the PS/2 keyboard
        t.send(PROMPT, literal=True)
        t.send("Enter")

        def replied(p: str) -> bool:
            text = com1_text(p)
            i = text.find("> " + PROMPT)
            if i < 0:
                return False
            after = text[i + len("> " + PROMPT):]
            # the continuation: words after the echoed prompt, then the guest's next prompt
            return re.search(r"[A-Za-z]{2,}", after.split("[jit]")[0].split("[stats]")[0]) is not None \
                and re.search(r"^> ?$", after, re.M) is not None
        pane = t.wait(replied, 400, "the reply to the typed prompt and the next '> '")
        reply = com1_text(pane).split("> " + PROMPT, 1)[1]
        assert reply.strip(), pane
        # F10 quits, stopping the guest, with status 0
        t.send("F10")
        end = time.monotonic() + 30
        while not t.status_file.exists() and time.monotonic() < end:
            time.sleep(0.2)
        assert t.status_file.read_text().strip() == "0"
    finally:
        t.kill()
