"""The GDB stub against the real gdb of this machine and against a raw RSP client.

The end-to-end test drives `bareflow-emu run images/fluid_llama.img --gdb 0` with
`gdb -batch`, tinyllama_bare.elf loaded for symbols: break at kmain, continue, registers,
disassembly, stepping, a hardware watchpoint, reverse-stepi, kill.  The raw client checks the
protocol details gdb hides (target descriptions per mode, memory errors, Ctrl-C).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images" / "fluid_llama.img"
ELF = ROOT / "images" / "tinyllama_bare.elf"

pytestmark = pytest.mark.skipif(not IMAGE.exists() or not ELF.exists(), reason="images/ not built")


def _emu_cmd() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "bareflow-emu"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "bareflow.emu.cli"]


def start_emulator(*extra: str) -> tuple[subprocess.Popen, int]:
    """Start `run --gdb 0` and read the port it prints (no port race)."""
    proc = subprocess.Popen(_emu_cmd() + ["run", str(IMAGE), "--no-stdin", "--gdb", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 60
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.search(rb"waiting for gdb on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"the emulator did not announce its gdb port: {line!r}")


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int | None, str]:
    """Exit status and stderr; a hung emulator is killed (status None) so a failing assertion
    above is what the test reports."""
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        return None, err.decode(errors="replace")
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_real_gdb_session(tmp_path):
    from bareflow.emu.gdb_targets import GDB_MODE_HOOK
    hook = tmp_path / "mode.gdb"
    hook.write_text(GDB_MODE_HOOK)
    proc, port = start_emulator()
    try:
        cmds = [
            "set pagination off", "set confirm off",
            f"source {hook}",
            f"file {ELF}",
            f"target remote 127.0.0.1:{port}",
            "echo ==REAL\\n", "info registers eip cs cr0", "x/3i $pc",
            "echo ==MEM\\n", "x/2xb 0x7dfe", "set {char}0x600 = 0x5a", "x/1xb 0x600",
            "break kmain", "continue",
            "echo ==KMAIN\\n", "info registers", "x/4i $pc",
            "echo ==STEP\\n", "stepi", "stepi", "info registers eip esp",
            "echo ==BACK\\n", "reverse-stepi", "info registers eip esp",
            "echo ==WATCH\\n", "delete", "watch *(int*)&col", "continue", "continue", "info registers eip",
            "echo ==RC\\n", "delete", "break put_raw", "continue", "p $esp", "continue", "p $esp",
            "reverse-continue", "p $esp", "info registers eip",
            "echo ==END\\n", "kill",
        ]
        args = ["gdb", "-nx", "-batch"] + [a for c in cmds for a in ("-ex", c)]
        res = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=ROOT)
    finally:
        code, err = finish(proc)
    out = res.stdout + res.stderr
    sections = dict(re.findall(r"==(\w+)\n(.*?)(?===|\Z)", out, re.S))
    # real mode: the linear eip at the boot sector, i8086 disassembly of its first instruction
    assert re.search(r"eip\s+0x7c00", sections["REAL"]), out
    assert re.search(r"cr0\s+0x10\b", sections["REAL"]), out
    assert "=> 0x7c00:" in sections["REAL"], out
    assert "%ax" in sections["REAL"] and "%eax" not in sections["REAL"], out   # 16-bit code
    # memory read (boot signature) and write
    assert "0x55\t0xaa" in sections["MEM"], out
    assert "0x600:\t0x5a" in sections["MEM"], out
    # the breakpoint at kmain, in protected mode with flat 32-bit segments
    kmain = sections["KMAIN"]
    assert re.search(r"eip\s+0x100030\s+0x100030 <kmain>", kmain), out
    assert re.search(r"cs\s+0x8\b", kmain) and re.search(r"cr0\s+0x11\b", kmain), out
    assert "=> 0x100030 <kmain>:\tpush   %ebp" in kmain, out
    # two stepi: push ebp; push ebx -> eip kmain+2, esp 8 bytes lower
    esp0 = int(re.search(r"esp\s+(0x[0-9a-f]+)", kmain).group(1), 16)
    step = sections["STEP"]
    assert "<kmain+2>" in step, out
    assert int(re.search(r"esp\s+(0x[0-9a-f]+)", step).group(1), 16) == esp0 - 8, out
    back = sections["BACK"]
    assert "<kmain+1>" in back, out
    assert int(re.search(r"esp\s+(0x[0-9a-f]+)", back).group(1), 16) == esp0 - 4, out
    # the watchpoint fires with gdb's old/new value report, after the writing instruction
    watch = sections["WATCH"]
    assert "Hardware watchpoint" in watch and "New value" in watch, out
    # reverse-continue stops at the previous hit of put_raw (same stack depth as that hit)
    rc = sections["RC"]
    esps = re.findall(r"\$\d+ = \(void \*\) (0x[0-9a-f]+)", rc)
    assert len(esps) == 3 and esps[2] == esps[0], out
    assert "<put_raw>" in rc, out
    assert code == 0, err
    assert "killed by the debugger" in err


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_detach_lets_the_guest_run_to_its_end():
    proc, port = start_emulator("--max-cycles", "30000000")
    try:
        res = subprocess.run(["gdb", "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{port}", "-ex", "stepi",
                              "-ex", "detach"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    finally:
        code, err = finish(proc)
    assert "detached" in res.stdout + res.stderr
    assert code == 67 and "cycle limit reached" in err, err     # ran on headless to --max-cycles


class Rsp:
    """A minimal RSP client (what gdb does on the wire), for the details gdb hides."""

    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _read_packet(self) -> bytes:
        while True:
            m = re.search(rb"\$([^#]*)#([0-9a-f]{2})", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                payload = m.group(1)
                assert int(m.group(2), 16) == sum(payload) & 0xFF
                self.s.sendall(b"+")
                return payload
            chunk = self.s.recv(65536)
            assert chunk, "stub closed the connection"
            self.buf += chunk

    def cmd(self, text: str | bytes) -> bytes:
        data = text.encode() if isinstance(text, str) else text
        self.s.sendall(b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode())
        while True:
            p = self._read_packet()
            if not p.startswith(b"O") or p == b"OK":
                return p

    def send_only(self, text: str) -> None:
        data = text.encode()
        self.s.sendall(b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode())


def test_protocol_details():
    proc, port = start_emulator("--max-cycles", "400000000")
    try:
        c = Rsp(port)
        feats = c.cmd("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386")
        assert b"qXfer:features:read+" in feats and b"swbreak+" in feats and b"ReverseStep+" in feats
        xml = b""
        off = 0
        while True:
            part = c.cmd(f"qXfer:features:read:target.xml:{off:x},400")
            xml += part[1:]
            off += len(part) - 1
            if part[:1] == b"l":
                break
        assert b"<architecture>i8086</architecture>" in xml and b'name="org.gnu.gdb.i386.core"' in xml
        assert c.cmd("qXfer:features:read:other.xml:0,100") == b"E00"
        regs = c.cmd("g")
        # 16 x 4 + 8 x 10 + 8 x 4 (core), 8 x 16 + 4 (sse), 4 x 4 (control registers)
        assert len(regs) == 2 * (64 + 80 + 32 + 128 + 4 + 16)
        assert regs[8 * 8:8 * 8 + 8] == b"007c0000"            # eip = 0x7c00 (linear)
        assert c.cmd("m7dfe,2") == b"55aa"
        assert c.cmd("m7fffffff,4") == b"E14"                  # beyond RAM
        assert c.cmd("M500,3:010203") == b"OK" and c.cmd("m500,3") == b"010203"
        assert c.cmd("X510,2:" + "}\x03}\x04") == b"OK" and c.cmd("m510,2") == b"2324"  # escaped '#', '$'
        assert c.cmd("P0=78563412") == b"OK" and c.cmd("p0") == b"78563412"
        assert c.cmd("p99") == b"E45"
        assert c.cmd("qRcmd," + b"cycles".hex()) == b"OK"
        assert c.cmd("vCont?") == b"vCont;c;C;s;S"
        # step one instruction: eip moves past `cli` (1 byte)
        assert c.cmd("vCont;s:1").startswith(b"T05")
        assert c.cmd("p8") == b"017c0000"
        # run on to kmain (protected mode): the target description now says i386
        assert c.cmd("Z0,100030,1") == b"OK"
        assert c.cmd("c").startswith(b"T05swbreak:;")
        assert c.cmd("p8") == b"30001000"
        assert int.from_bytes(bytes.fromhex(c.cmd("p29").decode()), "little") & 1 == 1   # cr0.PE
        xml2 = c.cmd("qXfer:features:read:target.xml:0,3000")
        assert b"<architecture>i386</architecture>" in xml2
        assert c.cmd("z0,100030,1") == b"OK"
        # continue, then Ctrl-C: exactly one stop reply, SIGINT
        c.send_only("vCont;c")
        time.sleep(1.0)
        c.s.sendall(b"\x03")
        reply = c._read_packet()
        while reply.startswith(b"O"):
            reply = c._read_packet()
        assert reply.startswith(b"T02"), reply
        assert c.cmd("?").startswith(b"T02")      # the next answer is not a stale second stop reply
        c.send_only("k")
        c.s.close()
    finally:
        code, err = finish(proc, timeout=20)
    assert code == 0, err


def test_bad_port_is_one_line():
    res = subprocess.run(_emu_cmd() + ["run", str(IMAGE), "--gdb", "notaport"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "not a TCP port" in res.stderr
