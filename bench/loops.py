"""Benchmark: where Python is on the path (issue 11), each workload beside QEMU in one run.

    .venv/bin/python bench/loops.py [--reps N] [--only one,bios,ports,ud2] [--fill N] [--json FILE]

Workloads (boot sectors in bench/loops/, assembled with nasm):
  one     a boot sector that writes 0 to isa-debug-exit at once: the fixed cost of a run
  bios    20,000 x (INT 1Ah AH=00h + INT 13h AH=08h): BIOS services
  ports   300,000 x (CMOS index/data + two UART LSR reads): device ports
  ud2     50,000 x ud2 through a real-mode IVT handler that skips it: exceptions
`--fill N` first runs N distinct images (one byte differs) through the emulator, so that the
fixed cost is also measured after a machine has run many images (the price cache must stay
bounded: emu/pricecache.py).  Each figure is the median whole-process wall time (what a user
waits for) and CPU time (user + system, steadier on a shared machine); ratios are bareflow/QEMU.
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
QEMU = ["qemu-system-i386", "-m", "64", "-serial", "stdio", "-display", "none", "-no-reboot",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-monitor", "none"]
WORKLOADS = ("one", "bios", "ports", "ud2")


def assemble(name: str, out: Path) -> Path:
    img = out / f"{name}.img"
    subprocess.run(["nasm", "-f", "bin", "-o", str(img), str(ROOT / "bench" / "loops" / f"{name}.asm")], check=True)
    return img


def timed(cmd: list[str]) -> tuple[float, float, bytes]:
    """(wall seconds, CPU seconds of the child, stdout)."""
    with tempfile.TemporaryFile() as out:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _, _status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, out.read()


def fill(n: int, tmp: Path) -> None:
    """Run n distinct images, as a machine that has graded a class would have."""
    base = bytearray((tmp / "one.img").read_bytes())
    for i in range(n):
        img = tmp / "fill.img"
        base[100:104] = i.to_bytes(4, "little")   # after the hlt: never executed, but a new image
        img.write_bytes(base)
        subprocess.run([PY, "-m", "bareflow.emu.cli", "run", str(img), "--no-stdin"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def measure(name: str, img: Path, reps: int) -> dict:
    bf_w, bf_c, q_w, q_c = [], [], [], []
    same = True
    for _ in range(reps):
        w, c, out_b = timed([PY, "-m", "bareflow.emu.cli", "run", str(img), "--no-stdin"])
        bf_w.append(w)
        bf_c.append(c)
        w, c, out_q = timed(QEMU + ["-drive", f"file={img},format=raw,snapshot=on"])
        q_w.append(w)
        q_c.append(c)
        same &= out_b == out_q
    med = statistics.median
    return {"workload": name, "reps": reps,
            "bareflow_wall": round(med(bf_w), 3), "bareflow_cpu": round(med(bf_c), 3),
            "qemu_wall": round(med(q_w), 3), "qemu_cpu": round(med(q_c), 3),
            "ratio_wall": round(med(bf_w) / med(q_w), 2), "ratio_cpu": round(med(bf_c) / med(q_c), 2),
            "same_serial_as_qemu": same}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--fill", type=int, default=0, metavar="N",
                    help="run N distinct images first, then measure the fixed cost again")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    results = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        imgs = {n: assemble(n, tmp) for n in set(names) | {"one"}}
        for n in names:
            results.append(measure(n, imgs[n], args.reps))
        if args.fill:
            fill(args.fill, tmp)
            results.append(measure(f"one after {args.fill} images", imgs["one"], args.reps))
    for r in results:
        print(f"{r['workload']:>22}: bareflow {r['bareflow_wall']:7.3f} s wall {r['bareflow_cpu']:7.3f} s CPU | "
              f"qemu {r['qemu_wall']:6.3f} s wall {r['qemu_cpu']:6.3f} s CPU | "
              f"ratio {r['ratio_wall']:6.2f}x wall {r['ratio_cpu']:6.2f}x CPU | same serial: {r['same_serial_as_qemu']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
