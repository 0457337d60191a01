"""Benchmark: third-party boots beside QEMU in one run (issue 11's GRUB 2 and Linux targets).

    .venv/bin/python bench/boot.py [--reps N] [--only grub,linux,grub-linux] [--json FILE]

Workloads (each skipped, with a line saying why, when its guest is not in the cache; build the
caches with `python -m bareflow.tools.guests linux|grub-shell|grub-linux`, which the slow tests
also do):
  grub        a GRUB 2 disk (bareflow.tools.guests SHELL_CFG): the menu on the serial terminal,
              `c` for the command line, a few commands (echo, ls, cat of grub.cfg, lsmmap), halt.
              Keys are sent over COM1 when the prompt they answer has appeared (an expect
              script), so both emulators see the same input at the same point of the guest
  linux       Debian's i386 kernel with --kernel / -kernel and "console=ttyS0 printk.time=0
              nokaslr panic=-1" to its root-fs panic (panic=-1 reboots: -no-reboot ends the run)
  grub-linux  the same kernel started by GRUB 2 from a disk (tests/emu/test_grub_linux.py)

Figures: medians of whole-process wall time and CPU time (user + system of the child); the
ratio is BareFlow / QEMU (TCG, `-m 64 -net none`).  "same" says whether COM1 matched QEMU's:
byte for byte for grub, the kernel lines with the host-timing lines masked for the Linux runs
(bareflow.tools.guests.normalise_linux).  On a shared machine compare CPU ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bareflow.tools import guests  # noqa: E402  (installed package; the path is for a bare checkout)

PY = sys.executable
QEMU = ["qemu-system-i386", "-m", "64", "-net", "none", "-display", "none", "-serial", "stdio",
        "-monitor", "none", "-no-reboot"]
BF = [PY, "-m", "bareflow.emu.cli", "run", "--no-reboot"]
WORKLOADS = ("grub", "linux", "grub-linux")
GRUB_SCRIPT = guests.GRUB_SHELL_SCRIPT
run_expect = guests.run_expect


def same_output(name: str, ours: bytes, theirs: bytes) -> bool:
    if name == "grub":
        return ours == theirs
    og, ol = guests.split_grub_linux(ours)
    tg, tl = guests.split_grub_linux(theirs)
    return og == tg and guests.normalise_linux(ol) == guests.normalise_linux(tl) and guests.LINUX_PANIC.encode() in ol


def commands(name: str) -> tuple[list[str], list[str], list[tuple[bytes, bytes]], float] | str:
    """(bareflow cmd, qemu cmd, script, timeout) or why the workload is skipped."""
    kernels = sorted(guests.LINUX_CACHE.glob("boot/vmlinuz-*-686"))
    if name == "grub":
        disks = sorted(guests.GRUB_CACHE.glob("grub-shell-*.img"))
        if not disks:
            return "no GRUB disk in the cache (python -m bareflow.tools.guests grub-shell)"
        d = str(disks[-1])
        return (BF + [d], QEMU + ["-drive", f"file={d},format=raw,snapshot=on"], GRUB_SCRIPT, 600)
    if name == "linux":
        if not kernels:
            return "no kernel in the cache (python -m bareflow.tools.guests linux)"
        k = str(kernels[-1])
        return (BF + ["--no-stdin", "--kernel", k, "--append", guests.LINUX_APPEND, "--max-cycles", "200000000000"],
                QEMU + ["-kernel", k, "-append", guests.LINUX_APPEND], [], 3600)
    if name == "grub-linux":
        disks = sorted(guests.GRUB_CACHE.glob("grub-linux-*.img"))
        if not disks:
            return "no GRUB Linux disk in the cache (python -m bareflow.tools.guests grub-linux)"
        d = str(disks[-1])
        return (BF + ["--no-stdin", d, "--max-cycles", "200000000000"],
                QEMU + ["-drive", f"file={d},format=raw,snapshot=on"], [], 3600)
    raise ValueError(name)


def measure(name: str, reps: int) -> dict:
    got = commands(name)
    if isinstance(got, str):
        return {"workload": name, "skipped": got}
    bf_cmd, q_cmd, script, timeout = got
    bf_w, bf_c, q_w, q_c = [], [], [], []
    same = True
    for _ in range(reps):
        w, c, out_q = run_expect(q_cmd, script, timeout)
        q_w.append(w)
        q_c.append(c)
        w, c, out_b = run_expect(bf_cmd, script, timeout)
        bf_w.append(w)
        bf_c.append(c)
        same &= same_output(name, out_b, out_q)
    med = statistics.median
    return {"workload": name, "reps": reps,
            "bareflow_wall": round(med(bf_w), 2), "bareflow_cpu": round(med(bf_c), 2),
            "qemu_wall": round(med(q_w), 2), "qemu_cpu": round(med(q_c), 2),
            "ratio_wall": round(med(bf_w) / med(q_w), 2), "ratio_cpu": round(med(bf_c) / med(q_c), 2),
            "same_serial_as_qemu": same}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    results = [measure(n, args.reps) for n in args.only.split(",") if n]
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    from bareflow.emu.engine_build import describe   # which Unicorn the runs loaded
    print(f"engine: {describe()}")
    for r in results:
        if "skipped" in r:
            print(f"{r['workload']:>10}: skipped: {r['skipped']}")
            continue
        print(f"{r['workload']:>10}: bareflow {r['bareflow_wall']:7.2f} s wall {r['bareflow_cpu']:7.2f} s CPU | "
              f"qemu {r['qemu_wall']:6.2f} s wall {r['qemu_cpu']:6.2f} s CPU | "
              f"ratio {r['ratio_wall']:6.2f}x wall {r['ratio_cpu']:6.2f}x CPU | same serial: {r['same_serial_as_qemu']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
