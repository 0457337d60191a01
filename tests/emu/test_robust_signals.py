"""SIGINT, SIGTERM and SIGHUP end a headless run as Ctrl-C does (issue 12 item 2).

The emulator runs as a subprocess on a guest that spins for ever; after it has started we send
the signal and check: one line on stderr, exit status 128+N (130/143/129, the shell's
convention), a complete JSON Lines trace whose last event is `stop` (reason `interrupted`, the
signal's name), and the `--profile` and `--screen` files written.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
EMU = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "bareflow.emu.cli"]


def spin_sector(path: Path, code: bytes) -> Path:
    """A raw boot sector: `code` at 0x7C00, then the 0x55AA signature."""
    sector = bytearray(512)
    sector[:len(code)] = code
    sector[510:] = b"\x55\xaa"
    path.write_bytes(bytes(sector))
    return path


#: a newline on COM1 (the test waits for it: the guest runs), then cli; jmp $
CLI_SPIN = b"\xba\xf8\x03\xb0\x0a\xee\xfa\xeb\xfe"
#: the newline, then sti; inc eax; jmp back : the PIT ticks
STI_SPIN = b"\xba\xf8\x03\xb0\x0a\xee\xfb\x66\x40\xeb\xfc"


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, CLI_SPIN), (signal.SIGHUP, STI_SPIN),
                                      (signal.SIGINT, CLI_SPIN), (signal.SIGTERM, STI_SPIN)])
def test_signal_ends_the_run_with_outputs(tmp_path, sig, code):
    img = spin_sector(tmp_path / "spin.img", code)
    trace, prof, screen = tmp_path / "t.jsonl", tmp_path / "p.json", tmp_path / "s.txt"
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    proc = subprocess.Popen(EMU + ["run", str(img), "--no-stdin", "--trace", str(trace), "--profile", str(prof),
                                   "--screen", str(screen)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            # a background child of a non-interactive shell ignores SIGINT: undo that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline() == b"\n"     # the guest runs
        time.sleep(0.5)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = err.decode()
    assert proc.returncode == 128 + sig, text
    assert text.count("\n") == 1 and f"interrupted by {signal.Signals(sig).name}" in text, text
    assert "Traceback" not in text
    lines = trace.read_text().splitlines()
    events = [json.loads(line) for line in lines]          # every line is whole JSON
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "interrupted"
    assert events[-1]["signal"] == signal.Signals(sig).name
    doc = json.loads(prof.read_text())
    assert doc["cycles"] > 0
    assert screen.exists()


def test_explain_sigterm_is_one_line_and_143(tmp_path):
    img = spin_sector(tmp_path / "spin.img", CLI_SPIN)
    proc = subprocess.Popen(EMU + ["explain", str(img), "--after-main", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        time.sleep(4.0)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert err.decode().count("\n") == 1 and b"interrupted by SIGTERM" in err
