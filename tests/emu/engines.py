"""Running a machine on a chosen Unicorn library in its own process, for the tests that compare
PyPI's library with BareFlow's patched one (tests/emu/test_unicorn_store_patch.py,
tests/emu/test_unicorn_exit_check.py): a library is loaded once per process, so each engine gets
a fresh interpreter with LIBUNICORN_PATH pointing at it."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

STOCK_LIB_DIR = Path(sys.prefix) / "unicorn-stock"   # PyPI's library, kept by tools/unicorn/install.sh
PATCHED_LIB_DIR = Path(sysconfig.get_paths()["platlib"]) / "unicorn" / "lib"


def observe(script: str, lib_dir: Path, tmp_path: Path, tag: str, spec: dict) -> dict:
    """Run `script` (reads a JSON spec from argv[1], prints one JSON line last) on the library in
    `lib_dir`, with a trace file it writes; the trace comes back as its sha256 under "trace"."""
    trace = tmp_path / f"{tag}.jsonl"
    env = dict(os.environ, LIBUNICORN_PATH=str(lib_dir), BAREFLOW_PRICE_CACHE="0")
    env.pop("BAREFLOW_UC_EXIT_CHECK", None)
    spec = {**spec, "trace": str(trace)}
    out = subprocess.run([sys.executable, "-c", script, json.dumps(spec)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    doc["trace"] = hashlib.sha256(trace.read_bytes()).hexdigest()
    return doc
