"""Benchmark: guest stores, Unicorn's store path (tools/unicorn/), beside QEMU in one run.

    .venv/bin/python bench/stores.py [--reps N] [--json FILE]

bench/loops/stores.asm (16 M dword stores to one data page) under BareFlow with the Unicorn
library it loads (the patched one when tools/setup.sh built it), under BareFlow with PyPI's
stock library (`LIBUNICORN_PATH=.venv/unicorn-stock`, kept by tools/unicorn/install.sh; left
out when absent) and under qemu-system-i386, interleaved.  Medians of the whole process's CPU
(user + system) and wall time; cycles and instructions must be the same on both engines.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
sys.path.insert(0, str(ROOT / "bench"))
from loops import QEMU, assemble  # noqa: E402

STOCK = Path(sys.prefix) / "unicorn-stock"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, bytes]:
    with tempfile.TemporaryFile() as out:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
        _, _status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, out.read()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    from bareflow.emu.engine_build import describe
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        img = assemble("stores", tmp)
        prof = tmp / "p.json"
        runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "bareflow": ([PY, "-m", "bareflow.emu.cli", "run", str(img), "--no-stdin", "--profile", str(prof)], None)}
        if (STOCK / "libunicorn.so.2").exists():
            runs["bareflow_stock_unicorn"] = (runs["bareflow"][0], dict(os.environ, LIBUNICORN_PATH=str(STOCK)))
        runs["qemu"] = (QEMU + ["-drive", f"file={img},format=raw,snapshot=on"], None)
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        wall: dict[str, list[float]] = {k: [] for k in runs}
        outs: dict[str, bytes] = {}
        counts: dict[str, tuple[int, int]] = {}
        for _ in range(args.reps):
            for name, (cmd, env) in runs.items():
                w, c, out = timed(cmd, env)
                wall[name].append(w)
                cpu[name].append(c)
                outs[name] = out
                if name != "qemu":
                    doc = json.loads(prof.read_text())
                    counts[name] = (doc["cycles"], doc["instructions"])
    med = {k: statistics.median(v) for k, v in cpu.items()}
    result = {"engine": describe(), "reps": args.reps, "load": os.getloadavg(),
              "cpu_median": {k: round(v, 3) for k, v in med.items()},
              "wall_median": {k: round(statistics.median(v), 3) for k, v in wall.items()},
              "ratio_cpu_vs_qemu": {k: round(v / med["qemu"], 2) for k, v in med.items() if k != "qemu"},
              "same_counts": len(set(counts.values())) == 1, "counts": counts,
              "same_serial": len(set(outs.values())) == 1}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
