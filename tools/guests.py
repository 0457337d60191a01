"""Third-party guests fetched from Debian by package name, for the slow tests and bench/boot.py.

    python -m bareflow.tools.guests linux        # prints the cached bzImage's path
    python -m bareflow.tools.guests grub-linux   # builds (or finds) the GRUB 2 disk that boots it
    python -m bareflow.tools.guests grub-shell   # the GRUB 2 disk that stops at its menu

Nothing here needs root or touches the host's apt configuration: apt runs with its own package
lists and archive directory under the cache (``~/.cache/bareflow``, ``$XDG_CACHE_HOME`` is
honoured), packages are unpacked with ``dpkg-deb -x`` and the disk is assembled in Python.

The GRUB disk (how ``grub-install`` lays out a BIOS/MBR disk, done by hand):

* sector 0: GRUB's ``boot.img`` (its first 440 bytes) + an MBR partition table with one Linux
  partition (type 83h) at LBA 2048;
* sectors 1..: ``core.img`` from ``grub-mkimage -O i386-pc`` (``diskboot.img`` + the compressed
  kernel and the modules named in ``CORE_MODULES``).  boot.img's default ``kernel_sector`` is 1
  and diskboot.img's default block list starts at sector 2 with the length grub-mkimage writes,
  so no patching is needed for the "embedded after the MBR" layout;
* the partition: an ext2 file system made by ``mke2fs -d`` from a directory (no mount; e2fsprogs
  is "required" priority in Debian, so it is on every system) holding ``/boot/grub/grub.cfg``,
  ``/boot/grub/i386-pc/*.mod`` (normal.mod loads what the configuration needs) and, for the
  Linux disk, ``/vmlinuz``.

Disks are rebuilt only when missing; the key of each cached file names what went into it.
"""
from __future__ import annotations

import hashlib
import os
import re
import selectors
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bareflow"
LINUX_CACHE = CACHE / "linux"
GRUB_CACHE = CACHE / "grub"

#: modules built into core.img: enough to read the partition, the serial terminal and normal mode
CORE_MODULES = ("biosdisk", "part_msdos", "ext2", "normal", "serial", "terminfo", "configfile",
                "linux", "echo", "ls", "cat", "halt", "reboot", "test", "boot", "minicmd")
#: the kernel command line of the issue-10 comparison
LINUX_APPEND = "console=ttyS0 printk.time=0 nokaslr panic=-1"
#: grub.cfg that boots Linux at once, on the serial terminal
LINUX_CFG = f"""serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry 'Debian i386 kernel' {{
  echo 'Loading Linux ...'
  linux /vmlinuz {LINUX_APPEND}
  echo 'Booting ...'
  boot
}}
"""
#: grub.cfg that shows the menu and waits (the issue-11 "menu, a few commands, halt" workload)
SHELL_CFG = """serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=-1
menuentry 'Say hello' {
  echo hello
}
menuentry 'Halt' {
  halt
}
"""
#: (wait for this on COM1, then send this): the shell disk's session (menu, commands, halt)
GRUB_SHELL_SCRIPT = [
    (b"for a command-line.", b"c"),
    (b"grub> ", b"echo hello from the serial line\r"),
    (b"grub> ", b"ls\r"),
    (b"grub> ", b"cat (hd0,msdos1)/boot/grub/grub.cfg\r"),
    (b"grub> ", b"lsmmap\r"),
    (b"grub> ", b"halt\r"),
]
PART_START = 2048                    # LBA of the partition (1 MiB, as fdisk aligns it)
DISK_MB = 24                         # room for the 7 MB kernel and the 1.8 MB of modules


#: Linux lines that carry the host's timing under QEMU (its TSC, PIT, HPET, APIC and PM timers
#: follow the host clock, so QEMU's own transcript changes between two runs in exactly these):
#: dropped from both sides (QEMU prints them or not, or somewhere else) ...
HOST_TIMING_DROPPED = [re.compile(p) for p in (
    r"^tsc: ", r"^clocksource: tsc(-early)?: ", r"^clocksource: Switched to clocksource tsc$",
    r"^APIC calibration not consistent with PM-Timer", r"^APIC delta adjusted to PM-Timer",
    r"^hpet: Lost \d+ RTC interrupts$",
    r"^hrtimer: interrupt took \d+ ns$")]      # QEMU on a loaded host: a tick handler ran late
#: ... masked in place (the line must be there; its numbers are host timing) ...
HOST_TIMING_MASKED = [(re.compile(p), r) for p, r in (
    (r"^(Calibrating delay loop .*\.\. )[0-9.]+ BogoMIPS \(lpj=\d+\)$", r"\1<N> BogoMIPS (lpj=<N>)"),
    (r"^(smpboot: Total of 1 processors activated) \([0-9.]+ BogoMIPS\)$", r"\1 (<N> BogoMIPS)"),
    (r"^(rtc_cmos 00:05: setting system clock to) .*$", r"\1 <date>"),
    (r"^(sched_clock: Marking stable) .*$", r"\1 <ns>"),
    (r"^(clocksource: acpi_pm: .*|PM-Timer running at invalid rate: .*)$", "<acpi_pm rate check>"),
    (r"^(audit: type=2000 audit\()[0-9.:]+(\).*)$", r"\1<time>\2"),
    # the keyboard's input number: under a loaded host QEMU's asynchronous AUX probe can
    # register an input device first (input1 instead of input0)
    (r"^(input: AT Translated Set 2 keyboard as /devices/platform/i8042/serio0/input/input)\d+$", r"\1<N>"),
)]
#: ... and compared without their position (asynchronous probes finish when the host lets them)
HOST_TIMING_FLOATING = [re.compile(p) for p in (
    r"^audit: type=2000 ", r"^input: AT Translated Set 2 keyboard ", r"^rtc_cmos 00:05: RTC can wake from S4$")]
LINUX_PANIC = "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"


def normalise_linux(out: bytes) -> tuple[list[str], list[str]]:
    """(the compared lines in order, the floating lines sorted) of a Linux COM1 transcript."""
    kept: list[str] = []
    floating: list[str] = []
    for line in out.decode("latin-1").replace("\r", "").split("\n"):
        if any(p.search(line) for p in HOST_TIMING_DROPPED):
            continue
        for p, r in HOST_TIMING_MASKED:
            line = p.sub(r, line)
        (floating if any(p.search(line) for p in HOST_TIMING_FLOATING) else kept).append(line)
    while kept and kept[-1] == "":
        kept.pop()
    return kept, sorted(floating)


def split_grub_linux(out: bytes) -> tuple[bytes, bytes]:
    """(GRUB's own output, the kernel's) of a GRUB-started Linux: the kernel starts at its banner."""
    i = out.find(b"Linux version ")
    return (out, b"") if i < 0 else (out[:i], out[i:])


class Unavailable(Exception):
    """A package, tool or mirror is missing: the caller skips (tests) or says so (bench)."""


def _apt(cache: Path, *args: str, arch: str | None = None) -> subprocess.CompletedProcess:
    opts = ["-o", f"Dir::State::Lists={cache / 'lists'}", "-o", f"Dir::Cache={cache / 'apt'}",
            "-o", "Dir::State::status=/dev/null", "-o", "Debug::NoLocking=1"]
    if arch:
        opts += ["-o", f"APT::Architectures::={arch}", "-o", f"APT::Architecture={arch}"]
    return subprocess.run([args[0], *opts, *args[1:]], capture_output=True, text=True, timeout=900, cwd=cache)


def fetch_debs(cache: Path, packages: list[str], arch: str | None = None) -> Path:
    """Download and unpack `packages` into cache/root (once); return that root."""
    root = cache / "root"
    stamp = cache / ("unpacked-" + hashlib.sha1(" ".join(packages).encode()).hexdigest()[:12])
    if stamp.exists():
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("no apt-get/dpkg-deb to fetch Debian packages")
    for d in ("lists/partial", "apt/archives/partial"):
        (cache / d).mkdir(parents=True, exist_ok=True)
    if _apt(cache, "apt-get", "update", arch=arch).returncode != 0:
        raise Unavailable("apt-get update failed (no Debian mirror reachable)")
    got = _apt(cache, "apt-get", "download", *packages, arch=arch)
    if got.returncode != 0:
        raise Unavailable(f"apt-get download {' '.join(packages)} failed: {got.stderr.strip()[-200:]}")
    root.mkdir(exist_ok=True)
    for pkg in packages:
        for deb in sorted(cache.glob(f"{pkg}_*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            deb.unlink()
    stamp.touch()
    return root


def linux_kernel() -> Path:
    """Debian's i386 `linux-image-*-686` bzImage, fetched once into ~/.cache/bareflow/linux (tests and bench)."""
    found = sorted(LINUX_CACHE.glob("boot/vmlinuz-*-686"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise Unavailable("no apt-get to fetch the kernel package")
    for d in ("lists/partial", "apt/archives/partial"):
        (LINUX_CACHE / d).mkdir(parents=True, exist_ok=True)
    if _apt(LINUX_CACHE, "apt-get", "update", arch="i386").returncode != 0:
        raise Unavailable("apt-get update failed (no Debian mirror reachable)")
    dep = _apt(LINUX_CACHE, "apt-cache", "depends", "linux-image-686", arch="i386").stdout
    pkg = next((ln.split(":", 1)[1].strip() for ln in dep.splitlines() if "Depends:" in ln), None)
    if pkg is None or _apt(LINUX_CACHE, "apt-get", "download", pkg, arch="i386").returncode != 0:
        raise Unavailable("the kernel package could not be downloaded")
    deb = sorted(LINUX_CACHE.glob(f"{pkg}_*.deb"))[-1]
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "./boot"], input=tar, cwd=LINUX_CACHE, check=True)
    deb.unlink()
    return sorted(LINUX_CACHE.glob("boot/vmlinuz-*-686"))[-1]


def _grub_root() -> Path:
    """grub-pc-bin (the i386-pc modules) + grub-common (grub-mkimage, for the host's architecture).

    libdevmapper (grub-mkimage links it) is fetched too: it is not on a minimal Debian."""
    return fetch_debs(GRUB_CACHE, ["grub-pc-bin", "grub-common", "libdevmapper1.02.1"])


def _mke2fs() -> str:
    for cand in (shutil.which("mke2fs"), "/sbin/mke2fs", "/usr/sbin/mke2fs"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise Unavailable("mke2fs (e2fsprogs) not found")


def _core_img(root: Path, out: Path) -> None:
    moddir = root / "usr/lib/grub/i386-pc"
    env = dict(os.environ)
    libs = [str(p) for p in (root / "lib").glob("*-linux-gnu")] + [str(p) for p in (root / "usr/lib").glob("*-linux-gnu")]
    env["LD_LIBRARY_PATH"] = ":".join(libs + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
    p = subprocess.run([str(root / "usr/bin/grub-mkimage"), "-O", "i386-pc", "-d", str(moddir), "-o", str(out),
                        "-p", "(hd0,msdos1)/boot/grub", *CORE_MODULES], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise Unavailable(f"grub-mkimage failed: {p.stderr.strip()[-300:]}")


def build_disk(out: Path, cfg: str, files: dict[str, Path] | None = None) -> Path:
    """Write a bootable GRUB 2 disk to `out`: MBR + core.img + an ext2 partition."""
    root = _grub_root()
    moddir = root / "usr/lib/grub/i386-pc"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        core = tmp / "core.img"
        _core_img(root, core)
        core_b = core.read_bytes()
        if 1 + (len(core_b) + 511) // 512 > PART_START:
            raise Unavailable("core.img does not fit before the partition")
        tree = tmp / "fs"
        (tree / "boot/grub/i386-pc").mkdir(parents=True)
        for mod in moddir.iterdir():
            if mod.suffix in (".mod", ".lst"):
                shutil.copyfile(mod, tree / "boot/grub/i386-pc" / mod.name)
        (tree / "boot/grub/grub.cfg").write_text(cfg)
        for name, src in (files or {}).items():
            shutil.copyfile(src, tree / name)
        part_sectors = DISK_MB * 2048 - PART_START
        fs = tmp / "fs.img"
        p = subprocess.run([_mke2fs(), "-q", "-F", "-t", "ext2", "-b", "1024", "-L", "bareflow",
                            "-E", "root_owner=0:0", "-U", "6b6f7265-6c61-4e42-8f12-627172666c77",
                            "-d", str(tree), str(fs), str(part_sectors // 2)],
                           capture_output=True, text=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
        if p.returncode != 0:
            raise Unavailable(f"mke2fs -d failed: {p.stderr.strip()[-300:]}")
        mbr = bytearray(512)
        mbr[:440] = (moddir / "boot.img").read_bytes()[:440]
        # one active Linux partition; CHS fields say "use LBA" (as fdisk writes past 8 GB)
        mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                                   PART_START, part_sectors)
        mbr[510:512] = b"\x55\xaa"
        img = bytearray(DISK_MB << 20)
        img[:512] = mbr
        img[512:512 + len(core_b)] = core_b
        img[PART_START * 512:PART_START * 512 + fs.stat().st_size] = fs.read_bytes()
        part = out.with_suffix(".part")
        part.write_bytes(img)
        part.replace(out)
    return out


def grub_disk(kind: str) -> Path:
    """The cached GRUB disk `kind` ("linux": boots Debian's kernel; "shell": waits at the menu)."""
    if kind == "linux":
        kernel = linux_kernel()
        cfg, files = LINUX_CFG, {"vmlinuz": kernel}
        tag = kernel.name
    elif kind == "shell":
        cfg, files, tag = SHELL_CFG, {}, "shell"
    else:
        raise ValueError(kind)
    key = hashlib.sha1((cfg + tag + " ".join(CORE_MODULES)).encode()).hexdigest()[:12]
    out = GRUB_CACHE / f"grub-{kind}-{key}.img"
    if not out.exists():
        GRUB_CACHE.mkdir(parents=True, exist_ok=True)
        build_disk(out, cfg, files)
    return out


def run_expect(cmd: list[str], script: list[tuple[bytes, bytes]], timeout: float) -> tuple[float, float, bytes]:
    """Run cmd with COM1 on its stdin/stdout, sending each answer of `script` once its prompt has
    appeared after the previous one (both emulators then get the same keys at the same point of
    the guest); (wall s, CPU s of the child, output)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if script else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = bytearray()
    pos, step = 0, 0
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    while time.perf_counter() - t < timeout:
        if not sel.select(0.5):
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
        while step < len(script):
            i = out.find(script[step][0], pos)
            if i < 0:
                break
            pos = i + len(script[step][0])
            try:
                p.stdin.write(script[step][1])
                p.stdin.flush()
            except BrokenPipeError:
                pass
            step += 1
    else:
        p.kill()
    _, _status, usage = os.wait4(p.pid, 0)
    return time.perf_counter() - t, usage.ru_utime + usage.ru_stime, bytes(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    what = args[0] if args else ""
    try:
        if what == "linux":
            print(linux_kernel())
        elif what in ("grub-linux", "grub-shell"):
            print(grub_disk(what.split("-", 1)[1]))
        else:
            print("usage: python -m bareflow.tools.guests linux|grub-linux|grub-shell", file=sys.stderr)
            return 2
    except Unavailable as e:
        print(f"guests: {e}", file=sys.stderr)
        return 69
    return 0


if __name__ == "__main__":
    sys.exit(main())
