"""Debian's i386 Linux started by GRUB 2 from a disk, against QEMU (slow: set BAREFLOW_SLOW=1).

The set-up (bareflow.tools.guests) fetches by package name, with apt's own lists in a cache
directory and no root: `linux-image-686`'s kernel package (i386) and `grub-pc-bin` +
`grub-common` (+ `libdevmapper1.02.1`, which grub-mkimage links) for the host; it unpacks them
with `dpkg-deb -x`, makes `core.img` with `grub-mkimage -O i386-pc`, an ext2 file system with
`mke2fs -d` (e2fsprogs is on every Debian) holding /vmlinuz, /boot/grub/grub.cfg (serial
terminal, timeout 0, `linux /vmlinuz console=ttyS0 printk.time=0 nokaslr panic=-1`, `boot`) and
the modules, and writes boot.img + the partition table + core.img + the partition into a 24 MiB
disk, cached in ~/.cache/bareflow/grub between runs.

Both runs get the same disk (`-drive file=DISK,format=raw,snapshot=on` under QEMU, the image
under BareFlow: snapshot is BareFlow's default) with `-m 64 -net none -no-reboot`.
GRUB's own output (its terminal set-up escapes, "Booting `Debian i386 kernel'", the echo lines)
is compared byte for byte.  The kernel's lines are compared as tests/emu/test_linux_kernel.py
does for `--kernel`, with the host-timing lines of bareflow.tools.guests masked: the `tsc:`
calibration lines, the TSC clocksource lines, QEMU's "APIC calibration not consistent with
PM-Timer" / "APIC delta adjusted" pair and "hpet: Lost N RTC interrupts" (dropped: QEMU prints
them or not depending on host load), BogoMIPS/lpj, the RTC date, "sched_clock: Marking stable"
and the PM timer rate check (masked in place), and the audit line, the AT keyboard line and
"RTC can wake from S4" (compared without their position: asynchronous probes).
"""
from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bareflow.tools import guests

pytestmark = pytest.mark.skipif(not os.environ.get("BAREFLOW_SLOW"), reason="slow: set BAREFLOW_SLOW=1")

QEMU = ["qemu-system-i386", "-m", "64", "-net", "none", "-display", "none", "-serial", "stdio",
        "-monitor", "none", "-no-reboot"]
#: what GRUB prints before the kernel (grub.cfg's echo lines on its serial terminal), recorded
#: from QEMU 7.2 + SeaBIOS 1.16.2
GRUB_OUTPUT = (b"\x1b[H\x1b[J\x1b[1;1H\x1b[H\x1b[J\x1b[1;1H  Booting `Debian i386 kernel'\n\r\n\r"
               b"Loading Linux ...\n\rBooting ...\n\r")


@pytest.fixture(scope="module")
def disk() -> Path:
    try:
        return guests.grub_disk("linux")
    except guests.Unavailable as e:
        pytest.skip(str(e))


def test_disk_layout(disk: Path) -> None:
    """boot.img in the MBR, one active Linux partition at 2048, core.img right after sector 0."""
    head = disk.read_bytes()[:1024]
    assert head[510:512] == b"\x55\xaa"
    assert head[446] == 0x80 and head[450] == 0x83
    assert int.from_bytes(head[454:458], "little") == guests.PART_START
    # diskboot.img's block list (the end of core.img's first sector): the rest starts at LBA 2
    assert int.from_bytes(head[1024 - 12:1024 - 4], "little") == 2


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
def test_grub_started_linux_matches_qemu(disk: Path) -> None:
    t0 = time.monotonic()
    q = subprocess.run(QEMU + ["-drive", f"file={disk},format=raw,snapshot=on"],
                       capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    t1 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", str(disk), "--no-stdin", "--no-reboot",
                        "--max-cycles", "200000000000"], capture_output=True, timeout=3600)
    t2 = time.monotonic()
    print(f"wall time: QEMU {t1 - t0:.1f} s, BareFlow {t2 - t1:.1f} s")
    q_grub, q_linux = guests.split_grub_linux(q.stdout)
    b_grub, b_linux = guests.split_grub_linux(p.stdout)
    assert q_grub == GRUB_OUTPUT, q_grub
    assert b_grub == GRUB_OUTPUT, b_grub
    ours, theirs = guests.normalise_linux(b_linux), guests.normalise_linux(q_linux)
    assert guests.LINUX_PANIC in theirs[0], q.stdout[-2000:]
    diff = "\n".join(difflib.unified_diff(theirs[0], ours[0], "qemu", "bareflow", lineterm="", n=1))
    assert ours[0] == theirs[0], diff[:6000]
    assert ours[1] == theirs[1]
    assert p.returncode == 0, p.stderr[-500:]    # panic=-1 reboots: with --no-reboot, exit 0


@pytest.fixture(scope="module")
def shell_disk() -> Path:
    try:
        return guests.grub_disk("shell")
    except guests.Unavailable as e:
        pytest.skip(str(e))


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
def test_grub_menu_and_commands_match_qemu(shell_disk: Path) -> None:
    """GRUB's menu, command line and a few commands over COM1, then `halt` (GRUB's ACPI power-off
    through the DSDT's \\_S5): the same bytes as QEMU's.  Each key is sent when the prompt it
    answers has appeared (guests.run_expect), so both get the same input at the same point."""
    script = guests.GRUB_SHELL_SCRIPT
    qw, qc, q = guests.run_expect(QEMU + ["-drive", f"file={shell_disk},format=raw,snapshot=on"], script, 300)
    bw, bc, b = guests.run_expect([sys.executable, "-m", "bareflow.emu.cli", "run", "--no-reboot", str(shell_disk)],
                                  script, 900)
    print(f"QEMU {qw:.1f} s wall {qc:.1f} s CPU, BareFlow {bw:.1f} s wall {bc:.1f} s CPU")
    assert b"hello from the serial line" in q and b"GNU GRUB" in q, q[-1500:]
    assert b == q
