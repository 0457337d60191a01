"""Run a test image under qemu-system-i386 and take QEMU's own `screendump` of its screen.

The guest prints its transcript on COM1, then a line "DONE", then waits for one byte on COM1
before it powers off (isa-debug-exit).  We wait for "DONE", ask the monitor (on a unix socket)
for `screendump FILE` (PPM), then send the byte.  Returns (COM1 bytes, exit status,
(width, height, rgb bytes)).
"""
from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from build import QEMU_ARGS, BuildError


def read_ppm(data: bytes) -> tuple[int, int, bytes]:
    """Decode a binary PPM (P6, maxval 255) as QEMU's screendump writes it."""
    parts = data.split(maxsplit=4)
    if parts[0] != b"P6" or int(parts[3]) != 255:
        raise ValueError("not a P6/255 PPM")
    w, h = int(parts[1]), int(parts[2])
    return w, h, parts[4][:w * h * 3]


def _read_until(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while marker not in buf:
        if time.monotonic() > end:
            raise TimeoutError(f"QEMU monitor: no {marker!r} in {buf[-200:]!r}")
        r, _, _ = select.select([sock], [], [], 0.2)
        if r:
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
    return buf


def qemu_screendump(img: Path, timeout: float = 30.0) -> tuple[bytes, int, tuple[int, int, bytes]]:
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        raise BuildError("qemu-system-i386 is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        sock_path = os.path.join(tmp, "mon.sock")
        ppm = os.path.join(tmp, "screen.ppm")
        args = [a for a in QEMU_ARGS]
        i = args.index("-monitor")
        args[i + 1] = f"unix:{sock_path},server=on,wait=off"
        proc = subprocess.Popen([qemu, *args, "-drive", f"file={img},format=raw,snapshot=on"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            out = b""
            end = time.monotonic() + timeout
            while b"DONE" not in out:
                if time.monotonic() > end or proc.poll() is not None:
                    raise TimeoutError(f"QEMU: no DONE in {out[-300:]!r}")
                r, _, _ = select.select([proc.stdout], [], [], 0.2)
                if r:
                    out += os.read(proc.stdout.fileno(), 4096)
            time.sleep(0.3)               # let the last frame's writes settle
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                for _ in range(50):
                    try:
                        s.connect(sock_path)
                        break
                    except OSError:
                        time.sleep(0.1)
                _read_until(s, b"(qemu)", timeout)
                s.sendall(f"screendump {ppm}\n".encode())
                _read_until(s, b"(qemu)", timeout)
            for _ in range(50):
                if os.path.exists(ppm) and os.path.getsize(ppm) > 0:
                    break
                time.sleep(0.1)
            shot = read_ppm(Path(ppm).read_bytes())
            proc.stdin.write(b"x")
            proc.stdin.flush()
            rest, _ = proc.communicate(timeout=timeout)
            return out + rest, proc.returncode, shot
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
