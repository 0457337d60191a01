"""Benchmark: how many images per minute `bareflow-emu test` grades, with 1 and 2 processes.

    .venv/bin/python bench/grade.py [--copies 100] [--jobs 1,2] [--dask]

It builds the grader's teaching kernel (tests/images/grade_ok.asm), makes COPIES copies of it,
and grades them with examples/grading/teaching_kernel.toml (9 checks: waits on COM1, a screen
check, COM1 input, a key, the power-off), once per job count, as a user would run it (the whole
command, Python start-up included).  It prints wall seconds and images per minute for each, and
checks that every run gave the same report (only the wall times may differ).  `--dask` adds a
run on a Dask LocalCluster (`--cluster local`) with the largest job count.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "grading" / "teaching_kernel.toml"
BAREFLOW = Path(sys.executable).parent / "bareflow-emu"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--jobs", default="1,2", help="comma-separated job counts (default 1,2)")
    ap.add_argument("--dask", action="store_true", help="also run on a Dask LocalCluster")
    ns = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "images"))
    from build import build
    runs = [(f"-j {j}", ["-j", str(j)]) for j in (int(x) for x in ns.jobs.split(","))]
    if ns.dask:
        top = max(int(x) for x in ns.jobs.split(","))
        runs.append((f"dask local -j {top}", ["--cluster", "local", "-j", str(top)]))
    with tempfile.TemporaryDirectory(prefix="bareflow-bench-grade-") as tmp:
        d = Path(tmp)
        kernel = build("grade_ok.asm", d)
        images = []
        for i in range(ns.copies):
            p = d / f"student{i:03d}.img"
            shutil.copy(kernel, p)
            images.append(str(p))
        reports = []
        print(f"grading {ns.copies} copies of grade_ok.img with {SPEC.name} "
              f"({kernel.stat().st_size} bytes, 9 checks each); {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} before")
        for label, args in runs:
            out = d / f"r{len(reports)}.json"
            t0 = time.perf_counter()
            proc = subprocess.run([str(BAREFLOW), "test", str(SPEC), *images, "--json", str(out), "--quiet",
                                   "--no-progress", *args], cwd=d)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"{label}: exit status {proc.returncode} (expected 0: every copy passes)", file=sys.stderr)
                return 1
            doc = json.loads(out.read_text())
            per_image = sum(r["wall_seconds"] for r in doc["images"]) / len(doc["images"])
            reports.append([{k: v for k, v in r.items() if k != "wall_seconds"} for r in doc["images"]])
            print(f"{label:>18}: {wall:6.1f} s wall, {ns.copies / wall * 60:6.0f} images/min "
                  f"({per_image * 1000:.0f} ms per image inside a worker)")
        same = all(r == reports[0] for r in reports)
        print("same report from every run: " + ("yes" if same else "NO"))
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
