"""Command-line promises of docs/cli.md (issue 12 items 7 and 9): argparse errors are one line
and a hint; a fault stop prints the explainer unless --brief-faults; explain exits 0 when done."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
EMU = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "bareflow.emu.cli"]


def emu(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    return subprocess.run(EMU + list(args), capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args,hint", [
    (["run", "x.img", "--max-cycles", "abc"], "see 'bareflow-emu run --help'"),
    (["run", "x.img", "--max-cycles"], "see 'bareflow-emu run --help'"),
    (["run", "x.img", "--bogus"], "see 'bareflow-emu run --help'"),
    (["explain", "x.img", "--after-main", "x"], "see 'bareflow-emu explain --help'"),
    (["replay"], "see 'bareflow-emu replay --help'"),
    (["--memory", "lots"], "see 'bareflow-emu --help'"),
])
def test_argparse_error_is_one_line_and_a_hint(args, hint):
    r = emu(*args)
    lines = r.stderr.decode().splitlines()
    assert r.returncode == 2
    assert len(lines) == 2 and lines[0].startswith("bareflow-emu: error: ") and lines[1] == hint, lines
    assert b"usage:" not in r.stderr


def test_fault_stop_explainer_and_brief_faults():
    from build import build
    img = str(build("core_triple.asm"))
    full = emu("run", img, "--no-stdin", "--no-reboot")
    brief = emu("run", img, "--no-stdin", "--no-reboot", "--brief-faults")
    assert full.returncode == brief.returncode == 65
    assert full.stderr.decode().count("\n") > 1               # the explainer follows the line
    assert brief.stderr.decode().count("\n") == 1, brief.stderr
    assert brief.stderr.decode().splitlines()[0] == full.stderr.decode().splitlines()[0]


def test_explain_exits_0_when_the_narrative_is_complete(tmp_path):
    s = bytearray(512)
    s[:5] = b"\xfb\x66\x40\xeb\xfc"
    s[510:] = b"\x55\xaa"
    img = tmp_path / "spin.img"
    img.write_bytes(bytes(s))
    r = emu("explain", str(img), "--max-cycles", "100000", "--brief")
    assert r.returncode == 0, r.stderr
    assert b"BIOS hands over" in r.stdout
