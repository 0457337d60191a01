"""Benchmark: the same work three ways in one run, reported as ratios.

    .venv/bin/python bench/run.py [--reps N] [--workload compute|llama|all]

For each workload (bench/compute.asm, a float matmul loop; images/fluid_llama.img with one
batch prompt) it runs, interleaved, N times each:
  bareflow   `bareflow-emu run IMG` with full cycle accounting and the exact profile
  unhooked   the same machine with no block hook (bench/unhooked.py): Unicorn's own speed
  qemu       qemu-system-i386 (TCG) on the same image
  qemu -icount  the same with `-icount shift=0,sleep=off` (QEMU's deterministic mode, the fair
             peer of a cycle-exact emulator)
and prints the median CPU times and the ratios bareflow/unhooked and bareflow/qemu.  Times are
whole-process wall times (what a user waits for) and, for the two Unicorn runs, the time
spent inside the run loop (without Python start-up).  All figures are host CPU seconds
(user + system), which stay meaningful when other work shares the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
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
LLAMA_CMDLINE = 'prompt="Once upon a time" steps=48 exit=1'


def build_compute(out: Path) -> Path:
    img = out / "compute.img"
    subprocess.run(["nasm", "-f", "bin", "-I", f"{ROOT / 'tests' / 'images'}/", "-o", str(img),
                    str(ROOT / "bench" / "compute.asm")], check=True)
    return img


def build_llama(out: Path) -> Path:
    img = out / "llama.img"
    shutil.copy(ROOT / "images" / "fluid_llama.img", img)
    elf = ROOT / "images" / "tinyllama_bare.elf"
    if elf.exists():
        shutil.copy(elf, out / "tinyllama_bare.elf")
    subprocess.run([PY, "-m", "bareflow.tools.image", "set-cmdline", str(img), LLAMA_CMDLINE], check=True)
    return img


def timed(cmd: list[str], timeout: float = 900) -> tuple[float, bytes, bytes, int]:
    """CPU seconds (user + system) the command used: steadier than wall time when other work
    shares the machine, and what a fair comparison of three emulators of one core wants."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return usage.ru_utime + usage.ru_stime, out.read(), err.read(), p.returncode


def run_workload(name: str, img: Path, reps: int, tmp: Path) -> dict:
    prof = tmp / f"{abs(hash(name))}.prof.json"
    samples: dict[str, list[float]] = {"bareflow": [], "unhooked": [], "qemu": [], "qemu_icount": [],
                                       "bareflow_run": [], "unhooked_run": []}
    outputs: dict[str, bytes] = {}
    doc: dict = {}
    for _ in range(reps):
        w, out, err, rc = timed([PY, "-m", "bareflow.emu.cli", "run", str(img), "--no-stdin", "--profile", str(prof)])
        samples["bareflow"].append(w)
        doc = json.loads(prof.read_text())
        samples["bareflow_run"].append(doc["cpu_seconds"])
        outputs["bareflow"] = out
        w, out, err, rc = timed([PY, str(ROOT / "bench" / "unhooked.py"), str(img)])
        samples["unhooked"].append(w)
        samples["unhooked_run"].append(float(err.decode().rsplit("run_cpu_seconds=", 1)[1].split()[0]))
        outputs["unhooked"] = out
        w, out, err, rc = timed(QEMU + ["-drive", f"file={img},format=raw,snapshot=on"])
        samples["qemu"].append(w)
        outputs["qemu"] = out
        w, out, err, rc = timed(QEMU + ["-icount", "shift=0,sleep=off",
                                        "-drive", f"file={img},format=raw,snapshot=on"])
        samples["qemu_icount"].append(w)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "workload": name,
        "reps": reps,
        "median_seconds": {k: round(v, 4) for k, v in med.items()},
        "ratio_bareflow_vs_unhooked_run": round(med["bareflow_run"] / med["unhooked_run"], 3),
        "ratio_bareflow_vs_unhooked_process": round(med["bareflow"] / med["unhooked"], 3),
        "ratio_bareflow_vs_qemu_process": round(med["bareflow"] / med["qemu"], 3),
        "ratio_bareflow_vs_qemu_icount_process": round(med["bareflow"] / med["qemu_icount"], 3),
        "guest_instructions": doc.get("instructions"),
        "guest_cycles": doc.get("cycles"),
        "mips_bareflow": doc.get("mips"),
        "same_serial_as_qemu": _strip_measured(outputs["bareflow"]) == _strip_measured(outputs["qemu"]),
    }


def _strip_measured(out: bytes) -> list[bytes]:
    return [ln for ln in out.replace(b"\r", b"").split(b"\n")
            if not ln.startswith((b"[jit] ", b"[stats] "))]


def warm_bytecode() -> None:
    """Write the package's .pyc files before timing anything.

    Why: an editable install has no bytecode until a module is first imported, and with
    PYTHONDONTWRITEBYTECODE set (as in some shells and CI images) none is ever written, so every
    timed run would compile each changed module again (emu/cli.py alone: ~10 ms).  An installed
    package is byte-compiled by pip; this measures that, not the compiler."""
    subprocess.run([PY, "-m", "compileall", "-q", "-j", "1"] +
                   [str(ROOT / d) for d in ("emu", "devices", "tui", "tools")],
                   check=False, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workload", choices=["compute", "llama", "all"], default="all")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    results = []
    warm_bytecode()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.workload in ("compute", "all"):
            results.append(run_workload("compute loop (bench/compute.asm)", build_compute(tmp), args.reps, tmp))
        if args.workload in ("llama", "all"):
            results.append(run_workload(f"fluid_llama.img ({LLAMA_CMDLINE})", build_llama(tmp), args.reps, tmp))
    from bareflow.emu.engine_build import describe   # which Unicorn the runs loaded
    print(f"engine: {describe()}")
    for r in results:
        m = r["median_seconds"]
        print(f"\n== {r['workload']}  (median of {r['reps']})")
        print(f"  bareflow-emu run   {m['bareflow']:8.3f} s CPU process, {m['bareflow_run']:8.3f} s CPU in the run loop")
        print(f"  unhooked Unicorn   {m['unhooked']:8.3f} s CPU process, {m['unhooked_run']:8.3f} s CPU in the run loop")
        print(f"  qemu-system-i386   {m['qemu']:8.3f} s process (TCG), {m['qemu_icount']:8.3f} s with -icount shift=0,sleep=off")
        print(f"  ratio vs unhooked: {r['ratio_bareflow_vs_unhooked_run']:.2f}x (run loop), "
              f"{r['ratio_bareflow_vs_unhooked_process']:.2f}x (process)")
        print(f"  ratio vs QEMU:     {r['ratio_bareflow_vs_qemu_process']:.2f}x (process), "
              f"{r['ratio_bareflow_vs_qemu_icount_process']:.2f}x vs QEMU -icount")
        print(f"  guest: {r['guest_instructions']} instructions, {r['guest_cycles']} cycles, "
              f"{r['mips_bareflow']} MIPS; serial identical to QEMU: {r['same_serial_as_qemu']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
