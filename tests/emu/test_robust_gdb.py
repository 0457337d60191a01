"""Malformed gdb packets get an `E nn` reply (or the empty "unsupported" reply) and the stub
carries on (issue 12 item 3): `Z0,-1,1` used to end the emulator with exit 70.

Table-driven through a real socket: `bareflow-emu run SECTOR --gdb 0`, a raw RSP client sends
each packet, checks the reply, then checks that valid packets are still served.
"""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
EMU = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "bareflow.emu.cli"]

E = re.compile(rb"E[0-9a-fA-F]{2}")
#: packet -> "E" (an error reply) or "" (the RSP's empty reply: not supported)
MALFORMED = [
    ("Z0,-1,1", "E"), ("z0,-1,1", "E"), ("Z0,100000000,1", "E"), ("Z1,1ffffffff,1", "E"), ("Z0,zz,1", "E"),
    ("Z0,7c00", "E"), ("Z0", "E"), ("Z2,7c00,0", "E"), ("Z2,-4,4", "E"), ("Z9,7c00,1", ""),
    ("Z0,0x7c00,1", "E"), ("Z0,7c00,-1", "E"),
    ("m-1,4", "E"), ("m100000000,4", "E"), ("mzz,4", "E"), ("m7c00", "E"), ("m7c00,-4", "E"),
    ("m7c00,zz", "E"), ("m,", "E"), ("m", "E"), ("mffffffff,10", "E"), ("m" + "f" * 40 + ",1", "E"),
    ("M7c00,2:01", "E"), ("M7c00,2:zz11", "E"), ("M-1,1:00", "E"), ("M7c00,1", "E"), ("M", "E"),
    ("M7c00,1:0", "E"), ("X7c00,2:a", "E"), ("X-5,1:a", "E"), ("X7c00", "E"), ("X,:", "E"),
    ("p-1", "E"), ("pzz", "E"), ("p", "E"), ("p100000000", "E"), ("P0=zz", "E"), ("P0=11", "E"),
    ("P0", "E"), ("P99=00000000", "E"), ("P-1=00000000", "E"), ("G00", "E"), ("Gzz", "E"),
    ("qXfer:features:read:target.xml:zz,10", "E"), ("qXfer:features:read:target.xml", "E"),
    ("qXfer:features:read:target.xml:-1,10", "E"), ("qXfer:features:read:x.xml:0,10", "E"),
    ("qRcmd,zz", "E"), ("qRcmd,1", "E"),
    ("c-1", "E"), ("c100000000", "E"), ("czz", "E"), ("s-1", "E"), ("C05;zz", "E"),
    ("vCont;x", "E"), ("vCont;", "E"),
    ("unknown_packet", ""), ("vMustReplyEmpty", ""), ("qFooBar", ""), ("Q", ""), ("", ""),
    ("\xff\xfe", ""), ("jfoo", ""),
]


class Rsp:
    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def cmd(self, data: bytes) -> bytes:
        self.s.sendall(b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode())
        while True:
            m = re.search(rb"\$([^#]*)#([0-9a-f]{2})", self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                self.s.sendall(b"+")
                if m.group(1).startswith(b"O") and m.group(1) != b"OK":
                    continue
                return m.group(1)
            chunk = self.s.recv(65536)
            assert chunk, f"the stub closed the connection after {data!r}"
            self.buf += chunk


def test_malformed_packets_get_an_error_and_the_stub_carries_on(tmp_path):
    img = tmp_path / "spin.img"
    sector = bytearray(512)
    sector[:3] = b"\xfa\xeb\xfe"
    sector[510:] = b"\x55\xaa"
    img.write_bytes(bytes(sector))
    proc = subprocess.Popen(EMU + ["run", str(img), "--no-stdin", "--gdb", "0", "--max-cycles", "1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            m = re.search(rb"waiting for gdb on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
            if not line:
                break
        assert port, "no gdb port announced"
        c = Rsp(port)
        bad = []
        for packet, want in MALFORMED:
            reply = c.cmd(packet.encode("latin-1"))
            ok = E.fullmatch(reply) if want == "E" else reply == b""
            if not ok:
                bad.append((packet, reply))
        assert not bad, bad
        # still serving, and nothing was left behind by the refused breakpoints
        assert c.cmd(b"m7dfe,2") == b"55aa"
        assert c.cmd(b"p8") == b"007c0000"
        assert c.cmd(b"Z0,7c01,1") == b"OK" and c.cmd(b"z0,7c01,1") == b"OK"
        assert c.cmd(b"c").startswith(b"W") or c.cmd(b"?")    # runs to the cycle limit
        c.s.sendall(b"$k#6b")
        c.s.close()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert b"Traceback" not in err and b"internal error" not in err, err
    assert proc.returncode in (0, 67), err
