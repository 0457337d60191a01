"""Idle cost: host CPU used while the guest waits at its prompt (issue 11's idle target).

    .venv/bin/python bench/idle.py [--seconds 60] [--mode tui|headless|qemu|all]

tui       `bareflow-emu` (no argument: the bundled image) in a detached tmux session of
          200x60 on a private tmux server, as a person would run it; once fluid_llama's `> `
          prompt is on the pane, the CPU time (utime + stime from /proc/PID/stat, children
          excluded) of the UI process and of the emulator (session) process is read at the
          start and the end of the window
headless  `bareflow-emu run IMG` with its stdin on a pipe nobody writes to (it waits for
          input at the prompt as it would on a terminal)
qemu      qemu-system-i386 TCG on the same image, -display none, waiting at the same prompt

Each is reported as % of one core over the window (100% = one core busy).  `--threads` adds,
for the TUI, each thread's share and its wake-ups per second (voluntary context switches from
/proc/PID/task/TID/status: each one ends a sleep); `--root DIR` measures the checkout at DIR
(its .venv and images) with this script, to put two trees side by side.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXE = ROOT / ".venv" / "bin" / "bareflow-emu"
IMAGE = ROOT / "images" / "fluid_llama.img"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def python_descendants(pid: int) -> list[int]:
    """The python processes under pid (the UI, then the session process), depth first."""
    found: list[int] = []
    for c in children(pid):
        try:
            cmd = Path(f"/proc/{c}/cmdline").read_bytes()
        except OSError:
            continue
        if b"python" in cmd or b"bareflow" in cmd:
            found.append(c)
        found += python_descendants(c)
    return found


def measure(pids: dict[str, int], seconds: float) -> dict[str, float]:
    t0 = time.monotonic()
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    th0 = {k: threads(p) for k, p in pids.items()}
    time.sleep(seconds)
    dt = time.monotonic() - t0
    res: dict[str, Any] = {k: 100.0 * (cpu_seconds(p) - c0[k]) / dt for k, p in pids.items()}
    for k, p in pids.items():
        now = threads(p)
        res["threads:" + k] = [(f"{tid} {name}", 100.0 * (cpu - th0[k][tid][1]) / dt, (sw - th0[k][tid][2]) / dt)
                               for tid, (name, cpu, sw) in sorted(now.items()) if tid in th0[k]]
    return res


def threads(pid: int) -> dict[int, tuple[str, float, int]]:
    """Each thread of pid: (name, CPU seconds, voluntary context switches)."""
    out: dict[int, tuple[str, float, int]] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            base = f"/proc/{pid}/task/{task}"
            with open(f"{base}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"{base}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            out[int(task)] = (status["Name"].strip(), (int(fields[11]) + int(fields[12])) / TICKS,
                              int(status["voluntary_ctxt_switches"]))
        except (OSError, KeyError, ValueError):
            pass
    return out


def wait_for(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.5)
    raise SystemExit(f"idle.py: timed out waiting for {what}")


def run_tui(seconds: float, settle: float) -> dict[str, float]:
    sock = f"bareflow-idle-{os.getpid()}"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True,
                              text=True, timeout=20).stdout

    env = "env -u COLUMNS -u LINES TERM=xterm-256color "
    tmux("new-session", "-d", "-s", "idle", "-x", "200", "-y", "60", f"{env}sh -c 'cd {ROOT} && {EXE}'")
    try:
        def prompt() -> bool:
            pane = tmux("capture-pane", "-p", "-t", "idle")
            return any(line.lstrip("│ ").startswith(">") for line in pane.splitlines())
        shell = int(tmux("display-message", "-p", "-t", "idle", "#{pane_pid}").strip())
        wait_for(lambda: len(python_descendants(shell)) >= 2, 60, "the two processes")
        wait_for(prompt, 300, "the > prompt")
        time.sleep(settle)
        procs = python_descendants(shell)
        ui, emu = procs[0], procs[-1]
        res = measure({"ui": ui, "emulator": emu}, seconds)
        res["together"] = res["ui"] + res["emulator"]
        return res
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=20)


def run_headless(seconds: float, settle: float, cmd: list[str]) -> float:
    with tempfile.TemporaryFile() as out:
        r, w = os.pipe()
        p = subprocess.Popen(cmd, stdin=r, stdout=out, stderr=subprocess.DEVNULL)
        os.close(r)
        try:
            wait_for(lambda: (out.seek(0), b"> " in out.read())[1], 300, "the > prompt")
            time.sleep(settle)
            return measure({"p": p.pid}, seconds)["p"]
        finally:
            p.kill()
            p.wait()
            os.close(w)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=5, help="seconds to wait after the prompt")
    ap.add_argument("--mode", choices=["tui", "headless", "qemu", "all"], default="all")
    ap.add_argument("--threads", action="store_true", help="TUI: each thread's CPU and wake-ups")
    ap.add_argument("--root", type=Path, help="measure the checkout at ROOT (default: this one)")
    args = ap.parse_args()
    global ROOT, EXE, IMAGE
    if args.root is not None:
        ROOT = args.root.resolve()
        EXE, IMAGE = ROOT / ".venv" / "bin" / "bareflow-emu", ROOT / "images" / "fluid_llama.img"
    print(f"load: {os.getloadavg()}")
    if args.mode in ("tui", "all"):
        r = run_tui(args.seconds, args.settle)
        print(f"TUI idle at the prompt over {args.seconds:.0f} s: UI {r['ui']:.2f}%  "
              f"emulator {r['emulator']:.2f}%  together {r['together']:.2f}% of a core")
        if args.threads:
            for proc in ("ui", "emulator"):
                for name, cpu, wakes in r["threads:" + proc]:
                    print(f"  {proc:8s} {name:26s} {cpu:5.2f}%  {wakes:6.1f} wake-ups/s")
    if args.mode in ("headless", "all"):
        pct = run_headless(args.seconds, args.settle, [str(EXE), "run", str(IMAGE)])
        print(f"headless `bareflow-emu run` idle at the prompt: {pct:.2f}% of a core")
    if args.mode in ("qemu", "all"):
        qemu = ["qemu-system-i386", "-m", "64", "-serial", "stdio", "-display", "none", "-no-reboot",
                "-monitor", "none", "-drive", f"file={IMAGE},format=raw,snapshot=on"]
        pct = run_headless(args.seconds, args.settle, qemu)
        print(f"qemu-system-i386 idle at the prompt: {pct:.2f}% of a core")
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
