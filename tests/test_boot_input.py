"""Keyboard and serial input reach the kernel: test=input echoes lines read with
console_readline.  Keys go in through QEMU's monitor (`sendkey`: real 8042 scancodes, IRQ1),
serial text through COM1 (stdin of -serial stdio), each only after the prompt appeared, since
the kernel clears the UART FIFO when it initialises it."""
from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QEMU = shutil.which("qemu-system-i386")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 is not installed")


class Guest:
    def __init__(self, img: Path, sock: Path):
        self.p = subprocess.Popen(
            ["timeout", "20", QEMU, "-drive", f"file={img},format=raw", "-serial", "stdio",
             "-display", "none", "-no-reboot", "-m", "64",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-monitor", f"unix:{sock},server=on,wait=off"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.out = b""
        self.sock = sock

    def wait_for(self, text: bytes, seconds: float = 10) -> bool:
        end = time.monotonic() + seconds
        while text not in self.out and time.monotonic() < end:
            ready, _, _ = select.select([self.p.stdout], [], [], 0.2)
            if ready:
                data = os.read(self.p.stdout.fileno(), 4096)
                if not data:
                    break
                self.out += data
        return text in self.out

    def keys(self, names: list[str]) -> None:
        with socket.socket(socket.AF_UNIX) as mon:
            mon.connect(str(self.sock))
            for k in names:
                mon.sendall(f"sendkey {k}\n".encode())
                time.sleep(0.05)

    def serial(self, data: bytes) -> None:
        self.p.stdin.write(data)
        self.p.stdin.flush()


def test_keyboard_and_serial_lines(tmp_path):
    img = tmp_path / "t.img"
    shutil.copyfile(ROOT / "images" / "fluid_llama.img", img)
    subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), "set-cmdline", str(img),
                    "test=input"], check=True, capture_output=True)
    g = Guest(img, tmp_path / "mon.sock")
    try:
        assert g.wait_for(b"> "), g.out
        # shift, space, backspace, caps lock on and off: "Hi x<BS>" + caps "y" + "z" -> "Hi Yz"
        g.keys(["shift-h", "i", "spc", "x", "backspace", "caps_lock", "y", "caps_lock", "z",
                "ret"])
        assert g.wait_for(b'input: got "Hi Yz" (5 chars)'), g.out
        g.serial(b"hello serial\r\n")          # CR LF is one Enter
        assert g.wait_for(b'input: got "hello serial" (12 chars)\r\n> '), g.out
        assert b'input: got "" ' not in g.out
        g.serial(b"quit\r")
        assert g.p.wait(10) == 1
    finally:
        if g.p.poll() is None:
            g.p.kill()
            g.p.wait()
