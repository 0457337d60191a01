"""Disk backing stores (emu/storage.py) and drives (emu/drives.py): lazy images, the
copy-on-write overlay, --no-snapshot, capacity limits, the QEMU-like drive options."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "images"))

from build import build, run_qemu  # noqa: E402

from bareflow.emu.errors import BadImage  # noqa: E402
from bareflow.emu.storage import MAX_SECTORS_LBA48, BackingStore, check_capacity  # noqa: E402

needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
EMU = [sys.executable, "-m", "bareflow.emu.cli", "run"]
#: `mov al,0 / out 0F4h,al / cli / hlt`: powers off through isa-debug-exit at once
EXIT_SECTOR = bytes.fromhex("b000e6f4faf4").ljust(510, b"\0") + b"\x55\xaa"


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.write(EXIT_SECTOR)
        f.truncate(size)
    return path


#: VmHWM (the peak RSS of this process image) rather than getrusage's ru_maxrss, which Linux
#: carries across exec from the forking parent (a long pytest run is itself hundreds of MB)
_PROBE = """
import sys
from bareflow.emu.machine import Machine, MachineConfig
m = Machine(MachineConfig(image=sys.argv[1]))
r = m.run(10_000_000)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(r.name, m.exit_status, hwm)
"""


def test_a_sparse_1gib_image_costs_no_gigabyte_of_rss(tmp_path: Path) -> None:
    img = _sparse(tmp_path / "big.img", 1 << 30)
    p = subprocess.run([sys.executable, "-c", _PROBE, str(img)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    reason, status, maxrss_kib = p.stdout.split()
    assert reason == "POWER_OFF" and status == "1"
    assert int(maxrss_kib) < 400 * 1024        # was 1.16 GB when the image was read whole


def test_a_4gib_image_runs_under_a_memory_limit(tmp_path: Path) -> None:
    img = _sparse(tmp_path / "huge.img", 4 << 30)
    limit = 2 << 30                             # below the image size, above the emulator's needs

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    p = subprocess.run([*EMU, str(img), "--no-stdin", "--max-cycles", "10000000"], capture_output=True,
                       text=True, timeout=120, preexec_fn=cap)
    assert p.returncode == 1, p.stderr          # the guest's debug-exit status, not MemoryError
    assert "MemoryError" not in p.stderr


def test_reads_are_lazy_and_zero_past_the_end(tmp_path: Path) -> None:
    img = tmp_path / "odd.img"
    img.write_bytes(EXIT_SECTOR + b"\x11" * 100)
    st = BackingStore.open(img)
    assert st.sectors == 2 and st.read(1, 1) == b"\x11" * 100 + bytes(412)
    assert st[510:512] == b"\x55\xaa" and len(st) == 612
    st.write(1, b"\x22" * 512)
    assert st.read(0, 2)[512:] == b"\x22" * 512
    st.close()
    assert img.read_bytes() == EXIT_SECTOR + b"\x11" * 100


def test_capacity_beyond_lba48_is_refused() -> None:
    check_capacity(MAX_SECTORS_LBA48 * 512, "x")
    with pytest.raises(BadImage, match="LBA48"):
        check_capacity(MAX_SECTORS_LBA48 * 512 + 1, "x")


def test_capacity_beyond_lba48_exits_64(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    img = base / f"bareflow-too-big-{os.getpid()}.img"
    try:
        try:
            _sparse(img, MAX_SECTORS_LBA48 * 512 + 512)
        except OSError:
            pytest.skip("this file system cannot hold a sparse file past 128 PiB")
        p = subprocess.run([*EMU, str(img), "--no-stdin"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 64
        assert "LBA48" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    finally:
        img.unlink(missing_ok=True)


@needs_nasm
def test_guest_writes_never_reach_the_file(tmp_path: Path) -> None:
    img = tmp_path / "w.img"
    shutil.copy(build("disk_write"), img)
    before = img.read_bytes()
    p = subprocess.run([*EMU, str(img), "--no-stdin"], capture_output=True, timeout=60)
    assert b"int13 read of the ATA write:A7" in p.stdout and b"ata read of the int13 write:B1" in p.stdout
    assert img.read_bytes() == before


@needs_nasm
def test_no_snapshot_writes_through_like_qemu(tmp_path: Path) -> None:
    img = tmp_path / "w.img"
    shutil.copy(build("disk_write"), img)
    p = subprocess.run([*EMU, str(img), "--no-stdin", "--no-snapshot"], capture_output=True, timeout=60)
    assert p.returncode == 1
    data = img.read_bytes()
    assert data[20 * 512:21 * 512] == b"\xB1" * 512 and data[21 * 512:22 * 512] == b"\xA7" * 512


@needs_nasm
@needs_qemu
def test_disk_write_transcript_matches_qemu() -> None:
    img = build("disk_write")
    out, _ = run_qemu(img)
    p = subprocess.run([*EMU, str(img), "--no-stdin"], capture_output=True, timeout=60)
    assert p.stdout == out


@pytest.mark.parametrize("args, words", [
    (["--drive", "file=x.img,if=scsi"], "only ide and floppy"),
    (["--drive", "file=x.img,index=9"], "indexes 0..3"),
    (["--drive", "if=ide"], "no file="),
    (["x.img", "--boot", "z"], "--boot z"),
    (["x.img", "--append", "quiet"], "need --kernel"),
    ([], "no disk image"),
])
def test_bad_drive_options_are_one_line_exit_2(args: list[str], words: str) -> None:
    p = subprocess.run([*EMU, *args, "--no-stdin"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert words in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_missing_hdb_is_exit_64(tmp_path: Path) -> None:
    img = _sparse(tmp_path / "a.img", 1 << 20)
    p = subprocess.run([*EMU, str(img), "--hdb", str(tmp_path / "nope.img"), "--no-stdin"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 64 and "--hdb" in p.stderr and "no such file" in p.stderr


# ---- several drives, floppy boot, boot order: the guest's view against QEMU's ------------------
QEMU_BASE = ["-m", "64", "-serial", "stdio", "-display", "none", "-no-reboot",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-monitor", "none", "-snapshot"]


def _aux(tmp: Path) -> dict[str, Path]:
    """A 1 MiB data disk (tagged LBA 0) and a blank 1.44 MB floppy, made the same way each run."""
    hdb = tmp / "hdb.img"
    hdb.write_bytes(bytes.fromhex("deadbeefcafef00d").ljust(1 << 20, b"\0"))
    fd = tmp / "fd144.img"
    fd.write_bytes(bytes(1474560))
    fl = tmp / "fl.img"
    fl.write_bytes(build("bios_floppy").read_bytes().ljust(1474560, b"\0"))
    return {"hdb": hdb, "fd": fd, "fl": fl, "probe": build("drives_probe")}


#: name -> (QEMU options, bareflow-emu options); {probe} etc. are filled from _aux
CASES = {
    "one_disk": (["-drive", "file={probe},format=raw"], ["{probe}"]),
    "hdb": (["-drive", "file={probe},format=raw", "-hdb", "{hdb}"], ["{probe}", "--hdb", "{hdb}"]),
    "fda": (["-drive", "file={probe},format=raw", "-fda", "{fd}"], ["{probe}", "--fda", "{fd}"]),
    "secondary_master": (["-drive", "file={probe},format=raw", "-drive", "file={hdb},format=raw,if=ide,index=2"],
                         ["{probe}", "--drive", "file={hdb},if=ide,index=2"]),
    "floppy_boot": (["-fda", "{fl}", "-boot", "a", "-hda", "{hdb}"], ["--fda", "{fl}", "--boot", "a", "--hda", "{hdb}"]),
}


def _fill(args: list[str], paths: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]


@needs_nasm
@pytest.mark.parametrize("case", sorted(CASES))
def test_drives_as_the_guest_sees_them(case: str, tmp_path: Path) -> None:
    paths = _aux(tmp_path)
    p = subprocess.run([*EMU, "--no-stdin", *_fill(CASES[case][1], paths)], capture_output=True, timeout=60)
    assert p.returncode == 1, p.stderr
    assert p.stdout == (HERE / "images" / f"drives_{case}.expected").read_bytes()


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("case", sorted(CASES))
def test_drives_qemu(case: str, tmp_path: Path) -> None:
    paths = _aux(tmp_path)
    p = subprocess.run(["qemu-system-i386", *QEMU_BASE, *_fill(CASES[case][0], paths)], capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.stdout == (HERE / "images" / f"drives_{case}.expected").read_bytes()


# ---- INT 18h: the next boot device, then SeaBIOS's last words ----------------------------------

def _int18_floppy(tmp: Path) -> Path:
    fd = tmp / "int18_fd.img"
    fd.write_bytes(build("int18_fd").read_bytes().ljust(1474560, b"\0"))
    return fd


@needs_nasm
def test_int18_boots_the_next_device(tmp_path: Path) -> None:
    p = subprocess.run([*EMU, "--no-stdin", str(build("int18_hd")), "--fda", str(_int18_floppy(tmp_path))],
                       capture_output=True, timeout=60)
    assert p.returncode == 1
    assert p.stdout == (HERE / "images" / "int18.expected").read_bytes()


@needs_nasm
@needs_qemu
def test_int18_qemu(tmp_path: Path) -> None:
    p = subprocess.run(["qemu-system-i386", *QEMU_BASE, "-drive", f"file={build('int18_hd')},format=raw",
                        "-fda", str(_int18_floppy(tmp_path))], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.stdout == (HERE / "images" / "int18.expected").read_bytes()


@needs_nasm
def test_int18_with_nothing_left_says_so_as_seabios(tmp_path: Path) -> None:
    screen = tmp_path / "screen.txt"
    p = subprocess.run([*EMU, "--no-stdin", str(build("int18_hd")), "--screen", str(screen)],
                       capture_output=True, timeout=60)
    lines = [ln.rstrip() for ln in screen.read_text().splitlines() if ln.strip()]
    # SeaBIOS boot.c: the empty drive A:, QEMU's empty default CD-ROM, then boot_fail()
    assert lines[-6:] == ["Booting from Hard Disk...", "Booting from Floppy...",
                          "Boot failed: could not read the boot disk", "Booting from DVD/CD...",
                          "Boot failed: Could not read from CDROM (code 0003)", "No bootable device."]
    assert p.returncode == 66
