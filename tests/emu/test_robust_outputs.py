"""Output paths are checked before the run; a write error during the run is one line, exit 74,
and the trace keeps whole lines only (issue 12 item 5)."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
EMU = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "bareflow.emu.cli"]


def emu(*args: str, preexec=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    return subprocess.run(EMU + list(args), capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
                          preexec_fn=preexec)


@pytest.fixture(scope="module")
def sector(tmp_path_factory) -> Path:
    img = tmp_path_factory.mktemp("img") / "spin.img"
    s = bytearray(512)
    s[:5] = b"\xfb\x66\x40\xeb\xfc"        # sti; inc eax; jmp back
    s[510:] = b"\x55\xaa"
    img.write_bytes(bytes(s))
    return img


OPTIONS = ["--trace", "--profile", "--screen", "--screen-png", "--export-speedscope", "--export-chrome-trace",
           "--export-screen-svg", "--record"]
BAD = {"missing folder": lambda d: str(d / "nope" / "out.json"), "a directory": lambda d: str(d),
       "/dev/full": lambda d: "/dev/full"}


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_output_path_is_refused_before_the_run(tmp_path, sector, option, case):
    if case == "/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    t0 = time.monotonic()
    r = emu("run", str(sector), "--no-stdin", "--max-cycles", "50000000000", option, BAD[case](tmp_path))
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert err.count("\n") == 1 and option in err and "Traceback" not in err, err
    assert time.monotonic() - t0 < 60          # refused up front, not after 50 G cycles


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_is_refused(tmp_path, sector):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    r = emu("run", str(sector), "--no-stdin", "--max-cycles", "1000", "--profile", str(ro / "p.json"))
    assert r.returncode == 2 and b"permission denied" in r.stderr


def test_explain_json_checked_up_front(tmp_path, sector):
    r = emu("explain", str(sector), "--max-cycles", "1000", "--json", str(tmp_path / "no" / "j.json"))
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1 and b"--json" in r.stderr


def test_replay_trace_checked_up_front(tmp_path):
    rec = tmp_path / "r.json"
    rec.write_text("{}")
    r = emu("replay", str(rec), "--trace", str(tmp_path))
    assert r.returncode == 2 and b"is a directory" in r.stderr


def _small_files():
    """The child may write files of 200 KB at most; beyond, write() fails with EFBIG (a full
    disk, as far as the emulator can tell) instead of raising SIGXFSZ."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_trace_write_error_during_the_run(tmp_path, sector):
    trace, prof = tmp_path / "t.jsonl", tmp_path / "p.json"
    r = emu("run", str(sector), "--no-stdin", "--max-cycles", "200000", "--trace", str(trace),
            "--trace-insns", "0:200000", "--profile", str(prof), preexec=_small_files)
    err = r.stderr.decode()
    assert r.returncode == 74, err
    assert "Traceback" not in err and "--trace" in err and "write failed" in err, err
    assert [line for line in err.splitlines() if "--trace" in line].__len__() == 1
    data = trace.read_bytes()
    assert 0 < len(data) <= 200_000 and data.endswith(b"\n")
    for line in data.splitlines():              # whole JSON lines only
        json.loads(line)
    assert json.loads(prof.read_text())["cycles"] >= 200_000   # the other outputs are written


def test_trace_sink_cuts_back_to_whole_lines(tmp_path, monkeypatch):
    from bareflow.emu import trace as tr
    sink = tr.TraceSink(tmp_path / "t.jsonl")
    for i in range(5000):
        sink.emit("serial", i, i, {"byte": i & 0xFF, "char": "x"})
    sink.flush()
    real = os.write
    calls = {"n": 0}

    def half_then_fail(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data[:len(data) // 2 + 3]))    # a partial write, mid-line
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tr.os, "write", half_then_fail)
    for i in range(5000):
        sink.emit("serial", i, i, {"byte": 1, "char": "y"})
    sink.close()
    assert sink.error and "space" in sink.error
    lines = (tmp_path / "t.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 5000 and all(line.endswith(b"\n") for line in lines)
    assert [json.loads(x)["cycle"] for x in lines] == list(range(5000))
