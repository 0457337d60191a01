"""Debian's i386 Linux kernel started with --kernel (the boots are slow: set BAREFLOW_SLOW=1).

The set-up fetches `linux-image-686`'s kernel package with apt (its own package lists for i386
in a cache directory: the host's apt configuration is not touched) and keeps the bzImage in
~/.cache/bareflow/linux between runs.

`test_linux_transcript_matches_qemu` boots it with `--kernel bzImage --append "console=ttyS0
printk.time=0 nokaslr panic=-1"` under BareFlow and under `qemu-system-i386 -m 64 -net none
-no-reboot` and compares every COM1 line up to and including the "VFS: Unable to mount root fs"
panic and its call trace.  Measured (Debian 6.1.0-57-686, a 2-core host shared with 7 other
jobs): QEMU 15-42 s wall (6-7 s CPU), BareFlow about 4 minutes wall (130 s CPU).

QEMU runs the guest's clocks on the host's: the TSC is the host's TSC and the PIT, HPET, local
APIC timer and PM timer follow the host's clock, so under a loaded host QEMU's own transcript
changes from run to run -- three runs of the same command differed exactly in the lines below,
which are therefore the only ones not compared literally (HOST_TIMING):

- dropped from both sides (QEMU prints them or not, or elsewhere, depending on host timing):
  the `tsc:` calibration lines ("Fast TSC calibration failed" appeared in two runs of three,
  "Unable to calibrate against PIT" / "using HPET reference calibration", "Detected N MHz
  processor", "Refined TSC clocksource calibration", which lands wherever the host lets a
  one-second timer fire), the TSC clocksource lines (`clocksource: tsc-early:`, `clocksource:
  tsc:`, "Switched to clocksource tsc"), and "APIC calibration not consistent with PM-Timer" /
  "APIC delta adjusted to PM-Timer" (the LAPIC timer measured against the PM timer: 107 ms and
  78 ms in two QEMU runs; BareFlow's deterministic clocks agree, so it prints neither);
- masked in place (the line must be there, its numbers are host timing): BogoMIPS / lpj,
  "Total of 1 processors activated (N BogoMIPS)", the RTC date ("setting system clock to"),
  "sched_clock: Marking stable (...)", and the ACPI PM timer's rate check (QEMU printed either
  the `clocksource: acpi_pm:` line or "PM-Timer running at invalid rate: 159% of normal");
- compared without their position: the audit line (value masked), "input: AT Translated
  Set 2 keyboard", which an asynchronous probe prints when it finishes, and "rtc_cmos 00:05: RTC
  can wake from S4"; "hpet: Lost N RTC interrupts" is dropped (both seen varying between QEMU runs
  of the GRUB-started kernel).  The lists are `tools/guests.py`'s HOST_TIMING_*: one copy.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bareflow.tools import guests

slow = pytest.mark.skipif(not os.environ.get("BAREFLOW_SLOW"), reason="slow: set BAREFLOW_SLOW=1")

APPEND = "console=ttyS0 printk.time=0 nokaslr panic=-1"
EARLY_APPEND = APPEND + " earlyprintk=serial,ttyS0,115200"
#: what QEMU 7.2 prints first with EARLY_APPEND (the setup and the decompressor), recorded
QEMU_PREFIX = (b"Probing EDD (edd=off to disable)... ok\r\n\r\n\r\n"
               b"KASLR disabled: 'nokaslr' on cmdline.\r\n\r\n")

#: the host-timing masks live in one place, tools/guests.py (also used by the GRUB tests and the
#: bench): see the module docstring for why each line is there
normalise = guests.normalise_linux
PANIC = guests.LINUX_PANIC


@pytest.fixture(scope="module")
def bzimage() -> Path:
    try:
        return guests.linux_kernel()
    except guests.Unavailable as e:
        pytest.skip(str(e))


def _bareflow(bzimage: Path, append: str, max_cycles: int, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", "--no-stdin", "--no-reboot",
                           "--kernel", str(bzimage), "--append", append, "--max-cycles", str(max_cycles)],
                          capture_output=True, timeout=timeout)


@slow
def test_linux_setup_and_decompressor_match_qemu(bzimage: Path) -> None:
    p = _bareflow(bzimage, EARLY_APPEND, 6_000_000_000, 1800)
    assert p.stdout.startswith(QEMU_PREFIX), p.stdout[:300]


def test_normalise_masks_only_the_named_lines() -> None:
    a = (b"tsc: Fast TSC calibration failed\r\nSMBIOS 2.8 present.\r\n"
         b"audit: type=2000 audit(1796393753.544:1): state=initialized audit_enabled=0 res=1\r\n"
         b"smpboot: Total of 1 processors activated (4882.73 BogoMIPS)\r\n")
    b = (b"SMBIOS 2.8 present.\r\nsmpboot: Total of 1 processors activated (200.00 BogoMIPS)\r\n"
         b"audit: type=2000 audit(1704067231.336:1): state=initialized audit_enabled=0 res=1\r\n")
    assert normalise(a) == normalise(b)
    assert normalise(a) != normalise(a.replace(b"SMBIOS 2.8", b"SMBIOS 2.7"))


@slow
@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
def test_linux_transcript_matches_qemu(bzimage: Path) -> None:
    t0 = time.monotonic()
    q = subprocess.run(["qemu-system-i386", "-m", "64", "-net", "none", "-display", "none", "-serial", "stdio",
                        "-monitor", "none", "-no-reboot", "-kernel", str(bzimage), "-append", APPEND],
                       capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    t1 = time.monotonic()
    p = _bareflow(bzimage, APPEND, 200_000_000_000, 3600)
    t2 = time.monotonic()
    print(f"wall time: QEMU {t1 - t0:.1f} s, BareFlow {t2 - t1:.1f} s")
    ours, theirs = normalise(p.stdout), normalise(q.stdout)
    assert PANIC in theirs[0], q.stdout[-2000:]
    assert PANIC in ours[0], p.stdout[-2000:]
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    assert p.returncode == 0, p.stderr[-500:]
