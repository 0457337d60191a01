"""Debian's i386 Linux kernel started with --kernel (slow: set BAREFLOW_SLOW=1).

The set-up fetches `linux-image-686`'s kernel package with apt (its own package lists for i386
in a cache directory: the host's apt configuration is not touched) and keeps the bzImage in
~/.cache/bareflow/linux between runs.  How far it gets today: the boot protocol, the real-mode
setup (its EDD probe message via earlyprintk), the decompressor, and the kernel through paging
(higher half at 0xC0000000) to its first local APIC read at 0xFEE00020, which stops the run
(exit 68, unmapped memory: the APICs are issue 10's other part) -- COM1 byte-identical with
QEMU's up to there (~1m50s here for ~4 G cycles, QEMU reaches the panic in ~6 s).  The full
transcript (to the "VFS: Unable to mount root fs" panic) is therefore an expected failure.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("BAREFLOW_SLOW"), reason="slow: set BAREFLOW_SLOW=1")

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bareflow" / "linux"
APPEND = "console=ttyS0 printk.time=0 nokaslr panic=-1 earlyprintk=serial,ttyS0,115200"
#: what QEMU 7.2 prints first with APPEND (the setup and the decompressor), recorded
QEMU_PREFIX = (b"Probing EDD (edd=off to disable)... ok\r\n\r\n\r\n"
               b"KASLR disabled: 'nokaslr' on cmdline.\r\n\r\n")


def _apt(*args: str) -> subprocess.CompletedProcess:
    opts = ["-o", "APT::Architectures::=i386", "-o", "APT::Architecture=i386",
            "-o", f"Dir::State::Lists={CACHE / 'lists'}", "-o", f"Dir::Cache={CACHE / 'apt'}",
            "-o", "Dir::State::status=/dev/null"]
    return subprocess.run([args[0], *opts, *args[1:]], capture_output=True, text=True, timeout=600, cwd=CACHE)


@pytest.fixture(scope="module")
def bzimage() -> Path:
    found = sorted(CACHE.glob("boot/vmlinuz-*-686"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get to fetch the kernel package")
    for d in ("lists/partial", "apt/archives/partial"):
        (CACHE / d).mkdir(parents=True, exist_ok=True)
    if _apt("apt-get", "update").returncode != 0:
        pytest.skip("apt-get update failed (no Debian mirror reachable)")
    dep = _apt("apt-cache", "depends", "linux-image-686").stdout
    pkg = next((ln.split(":", 1)[1].strip() for ln in dep.splitlines() if "Depends:" in ln), None)
    if pkg is None or _apt("apt-get", "download", pkg).returncode != 0:
        pytest.skip("the kernel package could not be downloaded")
    deb = sorted(CACHE.glob(f"{pkg}_*.deb"))[-1]
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "./boot"], input=tar, cwd=CACHE, check=True)
    deb.unlink()
    return sorted(CACHE.glob("boot/vmlinuz-*-686"))[-1]


def test_linux_setup_and_decompressor_match_qemu(bzimage: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", "--no-stdin", "--no-reboot",
                        "--kernel", str(bzimage), "--append", APPEND, "--max-cycles", "6000000000"],
                       capture_output=True, timeout=1800)
    assert p.stdout.startswith(QEMU_PREFIX), p.stdout[:300]


@pytest.mark.xfail(reason="no local APIC / I/O APIC / firmware tables yet (issue 10's other part)", strict=False)
def test_linux_reaches_the_root_fs_panic(bzimage: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", "--no-stdin", "--no-reboot",
                        "--kernel", str(bzimage), "--append", APPEND, "--max-cycles", "200000000000"],
                       capture_output=True, timeout=3600)
    assert b"VFS: Unable to mount root fs" in p.stdout
