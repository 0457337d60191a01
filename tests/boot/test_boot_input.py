"""Keyboard and serial input reach the kernel: test=input echoes lines read with
console_readline.  Keys go in through QEMU's monitor (`sendkey`: real 8042 scancodes, IRQ1),
serial text through COM1 (stdin of -serial stdio), each only after the prompt appeared, since
the kernel clears the UART FIFO when it initialises it."""
from __future__ import annotations

import atexit
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-system-i386")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 is not installed")


class Guest:
    def __init__(self, img: Path, sock: Path):
        # A UNIX socket path must fit in 108 bytes; pytest's tmp_path may not.
        sock = Path(tempfile.mkdtemp(prefix="bfmon")) / "m.sock"
        atexit.register(shutil.rmtree, sock.parent, True)
        self.p = subprocess.Popen(
            ["timeout", "20", QEMU, "-drive", f"file={img},format=raw", "-serial", "stdio",
             "-display", "none", "-no-reboot", "-m", "64",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-monitor", f"unix:{sock},server=on,wait=off"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.out = b""
        self.sock = sock

    def stop(self) -> None:
        """End QEMU: SIGTERM to `timeout`, which passes it on to QEMU (a SIGKILL would kill
        only `timeout` and leave QEMU running with nobody to stop it)."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

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

    def monitor(self, command: str) -> bytes:
        """Run one monitor command and wait for the next "(qemu)" prompt: its reply."""
        with socket.socket(socket.AF_UNIX) as mon:
            mon.connect(str(self.sock))
            mon.settimeout(5)
            reply = b""
            while b"(qemu)" not in reply:             # the greeting ends with a prompt
                reply += mon.recv(4096)
            mon.sendall(command.encode() + b"\n")
            reply = b""
            while reply.count(b"(qemu)") < 1:
                reply += mon.recv(4096)
            return reply

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
        g.stop()


def test_vga_text_screen_scrolls_and_matches_serial(tmp_path):
    """The boot prints more than 25 lines, so the screen has scrolled; what is left on it must
    be the last lines of the serial output, in the kernel's colours."""
    img = tmp_path / "t.img"
    shutil.copyfile(ROOT / "images" / "fluid_llama.img", img)
    subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), "set-cmdline", str(img),
                    "test=input"], check=True, capture_output=True)
    g = Guest(img, tmp_path / "mon.sock")
    dump = tmp_path / "screen.bin"
    try:
        assert g.wait_for(b"> "), g.out
        g.monitor(f'pmemsave 0xb8000 4000 "{dump}"')
        end = time.monotonic() + 5
        while (not dump.exists() or dump.stat().st_size < 4000) and time.monotonic() < end:
            time.sleep(0.1)
        cells = dump.read_bytes()
        g.serial(b"quit\r")
        g.p.wait(10)
    finally:
        g.stop()
    rows = [cells[r * 160:(r + 1) * 160] for r in range(25)]
    text = [bytes(row[0::2]).decode("cp437").rstrip() for row in rows]
    serial_lines = g.out.decode("latin-1").replace("\r\n", "\n").split("\n")
    cut = serial_lines.index("> ") if "> " in serial_lines else len(serial_lines) - 1
    # the screen = the serial lines up to the prompt, long lines wrapped at 80 columns
    wrapped = []
    for line in serial_lines[:cut + 1]:
        while len(line) > 80:
            wrapped.append(line[:80])
            line = line[80:]
        wrapped.append(line)
    assert len(wrapped) > 25                                  # so it did scroll
    assert text == [l.rstrip() for l in wrapped[-25:]]
    assert text[-1] == ">"
    assert all(a == 0x07 for a in rows[-1][1::2])             # light grey on black


def test_scancode_decoding(tmp_path):
    """Set-1 decoding through the 8042's translation: ctrl, shift, caps lock, the 0xE0
    extended keys and the function keys, as keyboard_getchar returns them."""
    img = tmp_path / "t.img"
    shutil.copyfile(ROOT / "images" / "fluid_llama.img", img)
    subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), "set-cmdline", str(img),
                    "test=keys"], check=True, capture_output=True)
    g = Guest(img, tmp_path / "mon.sock")
    try:
        assert g.wait_for(b"keys: press keys"), g.out
        g.keys(["ctrl-c", "shift-a", "a", "caps_lock", "b", "shift-b", "caps_lock", "1",
                "shift-1", "up", "down", "left", "right", "f1", "f10", "ctrl_r-z", "ret",
                "backspace", "q"])
        assert g.p.wait(15) == 1, g.out
        g.wait_for(b"\x00", 0.5)
    finally:
        g.stop()
    codes = [int(l.split()[1], 16) for l in g.out.decode("latin-1").replace("\r", "").splitlines()
             if l.startswith("keys: 0x")]
    assert codes == [0x03, ord("A"), ord("a"), ord("B"), ord("b"), ord("1"), ord("!"),
                     0x101, 0x102, 0x103, 0x104, 0x110, 0x119, 0x1A, ord("\n"), ord("\b"),
                     ord("q")]
