"""Where a Linux boot's time goes: guest time, host CPU and emulated MIPS per boot phase.

    .venv/bin/python bench/linux_phases.py [--kernel BZIMAGE] [--max-cycles N] [--json FILE]

Runs Debian's i386 kernel (`python -m bareflow.tools.guests linux` caches it) in this process
with `--kernel ... --append "console=ttyS0 printk.time=0 nokaslr panic=-1"` and `no_reboot`, as
bench/boot.py's `linux` workload, and stamps every COM1 line with the exact cycle clock and the
process's CPU time.  The phases are cut at fixed kernel lines (PHASES below): the first line
printed comes only after the real-mode set-up and the xz decompression of the kernel, so the
first phase is "before the console".  `--max-cycles` stops early, for a shorter reproducible
workload (e.g. 1500000000 is the decompression alone).  The guest's cycles and instructions at
the end are printed too: they must not change when the emulator is made faster.

Figures and what they mean: docs/performance.md, "The Linux boot".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bareflow.devices.base.clock import CPU_HZ  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig  # noqa: E402
from bareflow.tools import guests  # noqa: E402

#: (first line of the phase, what the kernel does there)
PHASES = [
    ("", "power-on to the first console line: real-mode set-up, xz decompression, early paging"),
    ("Linux version", "early init: memory map, ACPI tables, APIC, timers, per-CPU set-up"),
    ("cblist_init_generic", "initcalls: PCI, ACPI devices, PnP, drivers, the RTC"),
    ("Loading compiled-in X.509", "keys and certificates (RSA signature checks)"),
    ("evm:", "late initcalls: a long multi-precision computation before the root mount"),
    ("clk: Disabling unused clocks", "the root mount fails: the panic"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", help="a bzImage (default: the cached Debian kernel)")
    ap.add_argument("--max-cycles", type=int, default=200_000_000_000)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    kernel = args.kernel
    if kernel is None:
        found = sorted(guests.LINUX_CACHE.glob("boot/vmlinuz-*-686"))
        if not found:
            print("no kernel in the cache (python -m bareflow.tools.guests linux)", file=sys.stderr)
            return 2
        kernel = str(found[-1])
    c0 = time.process_time()
    m = Machine(MachineConfig(memory_mb=64, no_reboot=True, image="", kernel=kernel, append=guests.LINUX_APPEND))
    line = bytearray()
    stamps: list[tuple[int, int, float, str]] = []   # (cycle, instructions, cpu, line)

    def on_serial(b: int) -> None:
        if b != 0x0A:
            line.append(b)
            return
        stamps.append((m.cycles, m.instructions, time.process_time() - c0, line.decode("latin-1").rstrip()))
        line.clear()

    m.on_serial.append(on_serial)
    reason = m.run(max_cycles=args.max_cycles)
    end = (m.cycles, m.instructions, time.process_time() - c0)
    # cut the stamps into phases at the first line starting with each marker
    cuts = [(0, 0, 0.0)]
    k = 1
    for cyc, ins, cpu, text in stamps:
        while k < len(PHASES) and text.startswith(PHASES[k][0]):
            cuts.append((cyc, ins, cpu))
            k += 1
    cuts.append(end)
    rows = []
    for i in range(len(cuts) - 1):
        (c_a, i_a, t_a), (c_b, i_b, t_b) = cuts[i], cuts[i + 1]
        cpu = t_b - t_a
        rows.append({"phase": PHASES[i][1], "guest_s": round((c_b - c_a) / CPU_HZ, 3),
                     "instructions": i_b - i_a, "cpu_s": round(cpu, 2),
                     "mips": round((i_b - i_a) / cpu / 1e6, 1) if cpu > 0 else None})
    from bareflow.emu.engine_build import describe
    print(f"engine: {describe()}")
    print(f"{'phase':<78} {'guest s':>8} {'insns (M)':>10} {'CPU s':>7} {'MIPS':>6}")
    for r in rows:
        print(f"{r['phase'][:78]:<78} {r['guest_s']:8.2f} {r['instructions'] / 1e6:10.0f} {r['cpu_s']:7.2f} "
              f"{r['mips'] if r['mips'] is not None else '-':>6}")
    print(f"stop: {reason.value}; {end[0]:,} cycles, {end[1]:,} instructions, {end[2]:.2f} s CPU "
          f"(set-up included), {len(stamps)} COM1 lines")
    if args.json:
        Path(args.json).write_text(json.dumps({"phases": rows, "cycles": end[0], "instructions": end[1],
                                               "cpu_s": end[2], "stop": reason.value}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
