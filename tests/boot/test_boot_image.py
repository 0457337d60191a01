"""The committed images/fluid_llama.img boots on QEMU/SeaBIOS, and every failure path stops
with a message instead of hanging or rebooting.

Each QEMU run is bounded by `timeout` (a hang fails the test in seconds) and ends through
isa-debug-exit, whose process exit code is (status << 1) | 1.  Statuses: 0 = app returned 0;
0x40 + vector = unexpected exception; 0x70 = bad command line; 0x71 = boot loader error.

These tests check what the boot chain and the kernel print.  The app (unikernel/tinyllama/)
is driven only through its documented batch mode (BATCH below) and its own output is not
checked here, except that it must be the same on every run and from every boot medium.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import drop_measured, run_qemu  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images" / "fluid_llama.img"
QEMU = shutil.which("qemu-system-i386")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 is not installed")


# TinyLlama's batch mode (unikernel/tinyllama/main.c): run one prompt, then return to the kernel.
BATCH = 'prompt="Once upon a time" steps=8 exit=1'


def qemu_boot(img: Path, timeout: int = 20) -> tuple[int, str]:
    """Boot `img` headless with 64 MiB (as the differential tests do); (exit code, serial)."""
    p = run_qemu(img, timeout=timeout)
    assert p.returncode != 124, "QEMU hung (killed by timeout):\n" + p.stdout.decode("latin-1")
    return p.returncode, p.stdout.decode("latin-1").replace("\r\n", "\n")


def copy_with_cmdline(tmp_path: Path, cmdline: str) -> Path:
    img = tmp_path / "t.img"
    shutil.copyfile(IMAGE, img)
    subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), "set-cmdline", str(img),
                    cmdline], check=True, capture_output=True)
    return img


def test_boot_sector_is_512_bytes_with_signature():
    data = IMAGE.read_bytes()
    assert len(data) % 512 == 0
    assert data[510:512] == b"\x55\xaa"
    assert data[512:520] == b"BFLOWHDR"


def test_committed_image_boots_and_powers_off(tmp_path):
    rc, out = qemu_boot(copy_with_cmdline(tmp_path, BATCH))
    assert rc == 1, out                       # status 0: the app succeeded
    lines = out.splitlines()
    assert "BareFlow stage2: real mode, boot drive 0x80" in lines
    assert "stage2: entering 32-bit protected mode" in lines
    assert any(l.startswith("BareFlow unikernel ") for l in lines)
    assert "cpu: GenuineIntel family 6 model 6 stepping 3" in lines          # qemu32 via CPUID
    feats = next(l for l in lines if l.startswith("cpu features: ")).split()[2:]
    assert {"fpu", "tsc", "sse", "sse2"} <= set(feats)
    assert "cpu: x87 initialised, SSE enabled (CR0.EM=0 CR0.MP=1, CR4.OSFXSR+OSXMMEXCPT)" in lines
    # SeaBIOS's E820 map for -m 64, as the kernel prints it
    assert "  0x0000000000000000-0x000000000009fbff usable" in lines
    assert "  0x0000000000100000-0x0000000003fdffff usable" in lines
    assert "memory: 65023 KiB usable" in lines
    heap = next(l for l in lines if l.startswith("heap: 0x"))
    assert re.fullmatch(r"heap: 0x[0-9a-f]{8}-0x03fe0000, \d+ KiB free", heap)
    assert "kernel: calling app_main" in lines
    assert re.search(r"^heap: \d+ allocations, \d+ frees, \d+ served from freed blocks, "
                     r"high-water \d+ bytes, \d+ in use$", out, re.M)
    assert lines[-1] == "kernel: app_main returned 0, powering off"


def test_same_output_twice_except_measured_lines(tmp_path):
    """Determinism rule: only [jit]/[stats] lines may carry measured (RDTSC) figures."""
    img = copy_with_cmdline(tmp_path, BATCH)
    outs = []
    for _ in range(2):
        _, out = qemu_boot(img)
        outs.append(drop_measured(out.splitlines()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("test,name,vector,err", [
    ("de", "#DE (0) Divide Error", 0, 0),
    ("ud", "#UD (6) Invalid Opcode", 6, 0),
    ("gp", "#GP (13) General Protection Fault", 13, 0x18),   # selector 0x18: past our GDT
])
def test_exception_handlers_fire(tmp_path, test, name, vector, err):
    rc, out = qemu_boot(copy_with_cmdline(tmp_path, f"test={test}"))
    assert f"self-test: raising {test}" in out
    m = re.search(r"^\*\*\* EXCEPTION (.+?) err=0x([0-9a-f]{8}) eip=0x([0-9a-f]{8})$", out, re.M)
    assert m, out
    assert m.group(1) == name
    assert int(m.group(2), 16) == err
    assert 0x100000 <= int(m.group(3), 16) < 0x200000          # inside the kernel
    assert re.search(r"^    eax=0x[0-9a-f]{8} ebx=0x[0-9a-f]{8} ecx=", out, re.M)
    assert re.search(r"^    cs=0008 ds=0010 ", out, re.M)
    assert rc == ((0x40 + vector) << 1) | 1
    assert "app_main" not in out.split("self-test:")[1]        # it stopped there


def test_kernel_lib_selftest_on_target(tmp_path):
    rc, out = qemu_boot(copy_with_cmdline(tmp_path, "test=lib"))
    m = re.search(r"^selftest: (\d+) passed, (\d+) failed$", out, re.M)
    assert m, out
    assert int(m.group(2)) == 0, out
    assert int(m.group(1)) >= 40
    assert rc == 1


@pytest.mark.parametrize("cmdline,message", [
    ('prompt="Once upon steps=4', "cmdline: error: unterminated quote after 'prompt=' (column 7)"),
    ("a=1 b", "cmdline: error: 'b' at column 4 is not key=value"),
    ("test=zz", "cmdline: error: test=zz is not one of de, ud, gp, lib, input, keys, blobs"),
])
def test_bad_cmdline_halts_with_a_message(tmp_path, cmdline, message):
    rc, out = qemu_boot(copy_with_cmdline(tmp_path, cmdline))
    assert message in out.splitlines()
    assert "app_main" not in out
    assert rc == (0x70 << 1) | 1


def test_kernel_lists_the_arguments(tmp_path):
    rc, out = qemu_boot(copy_with_cmdline(tmp_path, BATCH + ' note="two words"'))
    assert rc == 1, out
    assert f'cmdline: "{BATCH} note="two words"" (4 arguments)' in out.splitlines()
    assert '  prompt = "Once upon a time"' in out.splitlines()
    assert '  note = "two words"' in out.splitlines()


def _corrupt(tmp_path: Path, offset: int) -> Path:
    img = tmp_path / "t.img"
    data = bytearray(IMAGE.read_bytes())
    data[offset] ^= 0xFF
    img.write_bytes(bytes(data))
    return img


def test_bad_header_magic_stops_stage1(tmp_path):
    rc, out = qemu_boot(_corrupt(tmp_path, 512))
    assert out.strip() == "stage1: bad disk header"
    assert rc == (0x71 << 1) | 1


def test_bad_header_checksum_stops_stage2(tmp_path):
    rc, out = qemu_boot(_corrupt(tmp_path, 512 + 200))       # a command-line byte
    assert "stage2: bad disk header (version or checksum)" in out.splitlines()
    assert "BareFlow unikernel" not in out
    assert rc == (0x71 << 1) | 1


def test_disk_read_error_in_stage2(tmp_path):
    """An image cut short inside the kernel: INT 13h fails, stage 2 says so and stops."""
    img = tmp_path / "t.img"
    img.write_bytes(IMAGE.read_bytes()[:512 * 12])
    rc, out = qemu_boot(img)
    assert re.search(r"^stage2: disk read error, INT 13h status 0x[0-9a-f]{2}$", out, re.M), out
    assert rc == (0x71 << 1) | 1


def test_disk_read_error_in_stage1(tmp_path):
    img = tmp_path / "t.img"
    img.write_bytes(IMAGE.read_bytes()[:1024])             # MBR + header, no stage 2
    rc, out = qemu_boot(img)
    assert out.strip() == "stage1: disk read error"
    assert rc == (0x71 << 1) | 1


def test_chs_fallback_from_a_floppy(tmp_path):
    """SeaBIOS has no INT 13h extensions for floppies, so this boot takes the AH=02h CHS path
    in both stages (18 sectors/track, 2 heads): multi-track reads, LBA->CHS conversion, and
    ES restored after AH=08h.  The loaded bytes must equal the hard-disk boot's."""
    hd = copy_with_cmdline(tmp_path, BATCH)
    data = hd.read_bytes()
    if len(data) > 1474560:
        pytest.skip("the image (with its model) is larger than a 1.44 MB diskette")
    _, hd_out = qemu_boot(hd)
    fd = tmp_path / "fd.img"
    fd.write_bytes(data + bytes(1474560 - len(data)))         # a 1.44 MB diskette
    p = subprocess.run(["timeout", "20", QEMU, "-drive", f"file={fd},format=raw,if=floppy",
                        "-boot", "a", "-serial", "stdio", "-display", "none", "-no-reboot",
                        "-m", "64", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
                       capture_output=True, timeout=25)
    out = p.stdout.decode("latin-1").replace("\r\n", "\n")
    assert p.returncode == 1, out
    assert "BareFlow stage2: real mode, boot drive 0x00" in out
    assert "stage2: disk reads with INT 13h AH=02h (CHS, 18 sectors/track, 2 heads)" in out
    assert "stage2: disk reads with INT 13h AH=42h (LBA)" in hd_out

    def after_load(text: str) -> list[str]:
        """From the kernel's memory map on, minus measured lines: all that depends on the
        bytes loaded (the app's generated text included), none of the drive details."""
        lines = text.splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith("memory map"))
        return drop_measured(lines[start:])
    assert after_load(out) == after_load(hd_out)


@pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm is not installed")
@pytest.mark.parametrize("defines,method", [
    (["-DTEST_A20_OFF"], "on via port 0x92"),
    (["-DTEST_A20_OFF", "-DTEST_SKIP_PORT92"], "on via the 8042 output port"),
])
def test_a20_enabling_paths(tmp_path, defines, method):
    """SeaBIOS boots us with A20 on; a test build of stage 2 turns it off first, so the
    wrap-around test, port 0x92 and the 8042 output-port method each have to do the work."""
    sys.path.insert(0, str(ROOT / "tools"))
    import image as imagetool
    s2 = tmp_path / "stage2.bin"
    subprocess.run(["nasm", "-f", "bin", *defines, "-o", str(s2), str(ROOT / "boot/stage2.asm")],
                   check=True)
    s1 = tmp_path / "stage1.bin"
    s1.write_bytes(IMAGE.read_bytes()[:512])
    img = tmp_path / "a20.img"
    img.write_bytes(imagetool.build(s1, s2, ROOT / "images/tinyllama_bare.elf", None, None,
                                    "test=lib"))
    rc, out = qemu_boot(img)
    assert f"stage2: A20 {method}" in out.splitlines(), out
    assert re.search(r"^selftest: \d+ passed, 0 failed$", out, re.M), out
    assert rc == 1, out                        # the kernel above 1 MiB really ran
    a20_names = {"on via port 0x92": "port 0x92", "on via the 8042 output port": "8042 output port"}
    assert f"A20 {a20_names[method]}, kernel 0x00100000" in out


def _fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def _image_with_blobs(tmp_path: Path, model: bytes, tok: bytes) -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    import image as imagetool
    h = imagetool.read_header(IMAGE)
    data = IMAGE.read_bytes()
    parts = {}
    for name, blob in (("s1", data[:512]),
                       ("s2", data[1024:1024 + 512 * h.stage2_sectors]),
                       ("model", model), ("tok", tok)):
        parts[name] = tmp_path / name
        parts[name].write_bytes(blob)
    img = tmp_path / "m.img"
    img.write_bytes(imagetool.build(parts["s1"], parts["s2"], ROOT / "images/tinyllama_bare.elf",
                                    parts["model"], parts["tok"], "test=blobs"))
    return img


def test_model_and_tokenizer_are_loaded_byte_exact(tmp_path):
    """1 MiB + a bit of model: 33 chunks through the bounce buffer and unreal-mode copies."""
    import random
    rnd = random.Random(5)
    model = rnd.randbytes(1024 * 1024 + 1234)
    tok = rnd.randbytes(6315)
    rc, out = qemu_boot(_image_with_blobs(tmp_path, model, tok))
    assert rc == 1, out
    m = re.search(r"^blobs: model (\d+) bytes at 0x([0-9a-f]{8}) fnv1a 0x([0-9a-f]{8})$",
                  out, re.M)
    assert m, out
    assert int(m.group(1)) == len(model) and int(m.group(2), 16) % 4096 == 0
    assert int(m.group(3), 16) == _fnv1a(model)
    t = re.search(r"^blobs: tokenizer (\d+) bytes at 0x([0-9a-f]{8}) fnv1a 0x([0-9a-f]{8})$",
                  out, re.M)
    assert t and int(t.group(3), 16) == _fnv1a(tok)
    assert int(t.group(2), 16) >= int(m.group(2), 16) + len(model)
    heap = re.search(r"^heap: 0x([0-9a-f]{8})-", out, re.M)
    assert int(heap.group(1), 16) >= int(t.group(2), 16) + len(tok)   # heap above the blobs


def test_model_too_big_for_memory_is_refused(tmp_path):
    """A 70 MiB model cannot fit in 64 MiB of RAM: stage 2 says so before reading a sector,
    so the header alone (valid checksum) is enough to test it."""
    sys.path.insert(0, str(ROOT / "tools"))
    import image as imagetool
    img = _image_with_blobs(tmp_path, b"\x01" * 4096, b"")
    h = imagetool.read_header(img)
    h.model_bytes = 70 * 1024 * 1024
    with img.open("r+b") as f:
        f.seek(512)
        f.write(h.pack())
    rc, out = qemu_boot(img)
    assert re.search(r"^stage2: model does not fit in memory$", out, re.M), out
    assert "BareFlow unikernel" not in out
    assert rc == (0x71 << 1) | 1


def test_model_address_wrapping_past_4gib_is_refused(tmp_path):
    """A header whose model_addr + model_bytes wraps around 2^32 (checksum made valid)."""
    sys.path.insert(0, str(ROOT / "tools"))
    import image as imagetool
    img = tmp_path / "w.img"
    shutil.copyfile(IMAGE, img)
    h = imagetool.read_header(img)
    h.model_addr, h.model_bytes, h.model_lba = 0xFFFFF000, 0x2000, h.kernel_lba
    with img.open("r+b") as f:
        f.seek(512)
        f.write(h.pack())
    rc, out = qemu_boot(img)
    assert "stage2: model does not fit in memory" in out.splitlines(), out
    assert rc == (0x71 << 1) | 1


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_acpi_power_off_without_the_debug_exit_device(tmp_path, machine):
    """With no isa-debug-exit, power_off falls through to the ACPI PM1a_CNT write (S5), which
    ends QEMU normally (exit 0) on both the i440fx/PIIX4 and the q35/ICH9 machines."""
    img = copy_with_cmdline(tmp_path, "test=blobs")
    p = subprocess.run(["timeout", "20", QEMU, "-M", machine, "-drive",
                        f"file={img},format=raw", "-serial", "stdio", "-display", "none",
                        "-no-reboot", "-m", "64"], capture_output=True, timeout=25)
    assert p.returncode == 0, p.stdout.decode("latin-1")[-500:]
    assert b"blobs: tokenizer" in p.stdout
