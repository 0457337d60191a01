"""Reference run for the benchmark: the same machine with no block hook at all.

The guest still needs its BIOS calls and port I/O (hooks that fire only on those
instructions), but nothing runs per block: no cycle clock, no profile, no timer events.
This is "Unicorn with no hooks" for a workload that must do I/O to be a real workload.
"""
from __future__ import annotations

import sys
import time

from bareflow.emu.machine import Machine, MachineConfig


def main() -> int:
    m = Machine(MachineConfig(image=sys.argv[1], accounting=False))
    t0 = time.process_time()
    reason = m.run()
    wall = time.process_time() - t0
    sys.stdout.buffer.write(bytes(m.serial_out))
    print(f"\n[unhooked] stop={reason.value} run_cpu_seconds={wall:.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
