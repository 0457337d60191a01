"""Where a run loop enters Python: every Python hook kind, how often, and how long.

    .venv/bin/python bench/hook_counts.py IMAGE [--max-cycles N]

Runs IMAGE in-process (as `bareflow-emu run IMAGE --no-stdin`, with the fault watcher the CLI
attaches) with a counter and a timer around each entry point the native path hands to Python:
block pricing (`Pricer.on_miss`), port I/O (`Core._on_in`/`_on_out`), BIOS services
(`Core._on_stub`), watched instructions (`SpecialInsns._on_special`), exceptions and INT n
(`_on_intr`), interrupt checks and deliveries between slices, and the slices themselves
(`emu_start` calls).  Also the OUT ports and BIOS services by count.  Times are wall time
measured around each call (perf_counter, ~0.2 us added per call): compare them with each
other, not with an unwrapped run; the process CPU time of the run loop is printed too.
"""
from __future__ import annotations

import argparse
import collections
import functools
import sys
import time
from typing import Any


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--max-cycles", type=int, default=None)
    args = ap.parse_args()

    from bareflow.emu import core as core_mod, pricing, special
    from bareflow.emu.fault_watch import FaultWatcher
    from bareflow.emu.machine import Machine, MachineConfig

    stats: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
    ports: collections.Counter = collections.Counter()
    services: collections.Counter = collections.Counter()
    clock = time.perf_counter

    def wrap(cls: Any, name: str, note: Any = None) -> None:
        f = getattr(cls, name)
        label = f"{cls.__name__}.{name}"

        @functools.wraps(f)
        def timed(*a: Any, **k: Any) -> Any:
            if note is not None:
                note(*a)
            t = clock()
            try:
                return f(*a, **k)
            finally:
                s = stats[label]
                s[0] += 1
                s[1] += clock() - t
        setattr(cls, name, timed)

    core_cls = core_mod.Core
    wrap(core_cls, "_on_out", lambda self, port, size, value: ports.update([(port, "out")]))
    wrap(core_cls, "_on_in", lambda self, port, size: ports.update([(port, "in")]))

    def note_stub(self: Any, uc: Any, address: int, *_: Any) -> None:
        vector = self.bios.vector_at(address)
        if vector is not None:
            services.update([(vector, (self.cpu.get("eax") >> 8) & 0xFF)])
    wrap(core_cls, "_on_stub", note_stub)
    for name in ("_on_intr", "_irq_check", "deliver", "_emu_slice", "_apply_retranslate"):
        if hasattr(core_cls, name):
            wrap(core_cls, name)
    wrap(pricing.Pricer, "on_miss")
    wrap(special.SpecialInsns, "_on_special")
    wrap(special.SpecialInsns, "check_mode")

    m = Machine(MachineConfig(image=args.image))
    FaultWatcher(m)
    c0 = time.process_time()
    reason = m.run(max_cycles=args.max_cycles)
    run_cpu = time.process_time() - c0
    print(f"stop: {reason.value}; {m.cycles} cycles, {m.instructions} instructions; run loop "
          f"{run_cpu:.3f} s CPU; capstone loaded: {'capstone' in sys.modules}")
    print(f"{'entry point':34s} {'calls':>8s} {'ms':>9s} {'us/call':>8s}")
    for label, (n, t) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        print(f"{label:34s} {n:8d} {t * 1000:9.1f} {t / n * 1e6 if n else 0:8.1f}")
    print("ports:", ", ".join(f"{d} {p:#x} x{n}" for (p, d), n in ports.most_common(12)))
    print("BIOS services:", ", ".join(f"INT {v:02X}h AH={ah:02X}h x{n}" for (v, ah), n in services.most_common(8)))
    counts = m.ports.counts() if hasattr(m, "ports") else {}
    if counts:
        print("native port answers:", counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
