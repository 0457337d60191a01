"""`bareflow-emu replay FILE` checks the recording against its schema before running (issue 12
item 4): each crafted file exits 2 with one line naming the field, never 70."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
EMU = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "bareflow.emu.cli"]


def emu(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    return subprocess.run(EMU + list(args), capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    img = d / "spin.img"
    sector = bytearray(512)
    sector[:5] = b"\xfb\x66\x40\xeb\xfc"
    sector[510:] = b"\x55\xaa"
    img.write_bytes(bytes(sector))
    rec = d / "ok.json"
    r = emu("run", str(img), "--max-cycles", "200000", "--record", str(rec), "--keys", "ab")
    assert r.returncode == 67, r.stderr
    doc = json.loads(rec.read_text())
    doc["inputs"].append({"cycle": 10, "kind": "serial", "data": "4142", "where": "boundary"})
    doc["inputs"].append({"cycle": 12, "kind": "scancodes", "data": [30, 158], "where": "boundary"})
    return doc


def _set(doc, dotted, value):
    *parents, last = dotted.split(".")
    obj = doc
    for p in parents:
        obj = obj[int(p)] if isinstance(obj, list) else obj[p]
    if value is DELETE:
        del obj[last]
    elif isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value


DELETE = object()
#: (field to change, new value, words the one-line error must contain)
CASES = [
    ("inputs", 5, '"inputs"'),
    ("inputs", {"a": 1}, '"inputs"'),
    ("config", [64], '"config"'),
    ("config", DELETE, '"config" is missing'),
    ("config.max_cycles", "200000", '"config.max_cycles"'),
    ("config.max_cycles", -5, '"config.max_cycles"'),
    ("config.memory_mb", "64", '"config.memory_mb"'),
    ("config.memory_mb", 10 ** 12, '"config.memory_mb"'),
    ("config.memory_mb", True, '"config.memory_mb"'),
    ("config.boot_drive", 999, '"config.boot_drive"'),
    ("config.symbols", 7, '"config.symbols"'),
    ("inputs.1.data", "zz", '"inputs[1].data"'),
    ("inputs.1.data", "414", '"inputs[1].data"'),
    ("inputs.1.data", [65], '"inputs[1].data"'),
    ("inputs.2.data", [300], '"inputs[2].data"'),
    ("inputs.0.data", 5, '"inputs[0].data"'),
    ("inputs.0.cycle", "1", '"inputs[0].cycle"'),
    ("inputs.0.cycle", -1, '"inputs[0].cycle"'),
    ("inputs.0.kind", "mouse", '"inputs[0].kind"'),
    ("inputs.0.where", DELETE, '"inputs[0].where" is missing'),
    ("inputs.0", "x", '"inputs[0]"'),
    ("image", DELETE, '"image" is missing'),
    ("image", 3, '"image"'),
    ("image", "/", "cannot be read"),
    ("image", "/nonexistent/x.img", "is gone"),
    ("image_sha256", "abc", '"image_sha256"'),
    ("end", None, '"end"'),
    ("end.cycles", "12", '"end.cycles"'),
    ("end.reason", DELETE, '"end.reason" is missing'),
    ("end.serial_sha256", 1, '"end.serial_sha256"'),
    ("version", 2, "version 2"),
    ("version", "1", "version '1'"),
    ("format", DELETE, "not a BareFlow recording"),
]


@pytest.mark.parametrize("field,value,words", CASES, ids=[f"{c[0]}={c[1]!r}"[:40] for c in CASES])
def test_crafted_recording_is_one_line_exit_2(tmp_path, recording, field, value, words):
    doc = copy.deepcopy(recording)
    _set(doc, field, value)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    r = emu("replay", str(f))
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err, err


@pytest.mark.parametrize("content", ["[1, 2]", "5", "\"x\"", "null", "[" * 100000, "{}"], ids=["list", "number", "string", "null", "deep", "empty"])
def test_not_an_object(tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_text(content)
    r = emu("replay", str(f))
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1, r.stderr


def test_the_unmodified_recording_still_replays(tmp_path, recording):
    doc = copy.deepcopy(recording)
    doc["inputs"] = doc["inputs"][:-2]     # the two appended inputs change the run
    f = tmp_path / "ok.json"
    f.write_text(json.dumps(doc))
    r = emu("replay", str(f), "--quiet")
    assert r.returncode == 67 and b"identical" in r.stderr, r.stderr
