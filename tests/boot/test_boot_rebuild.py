"""The unikernel builds from source with clang/ld.lld/nasm, the result boots, and - with the
toolchain the committed image was built with (unikernel/toolchain.txt) - it is byte-identical
to images/fluid_llama.img, so the committed image is known to match its sources.

The model and tokenizer blobs are data, not sources: the rebuild takes them (and the command
line) from the committed image itself, so the comparison checks the code whether or not
images/model.bin is present in this checkout; a separate test says when the image does not
carry the current images/model.bin / images/tokenizer.bin."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_qemu  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("clang", "ld.lld", "llvm-ar", "nasm", "make")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="needs clang, ld.lld, llvm-ar, nasm and make")


sys.path.insert(0, str(ROOT / "tools"))
import image as imagetool  # noqa: E402

IMAGE = ROOT / "images" / "fluid_llama.img"


def committed_blobs() -> tuple[bytes, bytes, str]:
    """(model, tokenizer, cmdline) as stored in the committed image."""
    h = imagetool.read_header(IMAGE)
    data = IMAGE.read_bytes()
    model = data[h.model_lba * 512:h.model_lba * 512 + h.model_bytes]
    tok = data[h.tok_lba * 512:h.tok_lba * 512 + h.tok_bytes]
    return model, tok, h.cmdline


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unikernel-build")
    model, tok, cmdline = committed_blobs()
    args = [f"BUILD={out}", "build", f"PYTHON={sys.executable}", "MODEL=", "TOKENIZER=",
            f"CMDLINE={cmdline}"]
    for name, blob in (("MODEL", model), ("TOKENIZER", tok)):
        if blob:
            (out / name.lower()).write_bytes(blob)
            args.append(f"{name}={out / name.lower()}")
    p = subprocess.run(["make", "-C", str(ROOT / "unikernel"), *args],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (out / "make.log").write_text(p.stdout)
    return out


def test_build_produces_every_artifact(build_dir):
    for name in ("kernel_lib.a", "tinyllama_bare.elf", "stage1.bin", "stage2.bin",
                 "fluid_llama.img"):
        assert (build_dir / name).stat().st_size > 0, name
    stage1 = (build_dir / "stage1.bin").read_bytes()
    assert len(stage1) == 512 and stage1[510:] == b"\x55\xaa"
    assert (build_dir / "stage2.bin").stat().st_size <= 64 * 512


def test_size_report_and_target(build_dir):
    log = (build_dir / "make.log").read_text()
    assert "size report:" in log
    line = next(l for l in log.splitlines() if "kernel+app loadable" in l)
    loadable = int(line.split()[2])
    assert 0 < loadable <= 100 * 1024, line


def test_elf_keeps_symbols(build_dir):
    from elftools.elf.elffile import ELFFile
    with open(build_dir / "tinyllama_bare.elf", "rb") as f:
        elf = ELFFile(f)
        names = {s.name for s in elf.get_section_by_name(".symtab").iter_symbols()}
        assert elf.header.e_entry == 0x100000
    assert {"_start", "kmain", "app_main", "malloc", "jit_profile_begin", "isr_dispatch"} <= names


def test_rebuilt_image_boots(build_dir, tmp_path):
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    img = tmp_path / "r.img"
    shutil.copyfile(build_dir / "fluid_llama.img", img)
    subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), "set-cmdline", str(img),
                    "test=lib"], check=True, capture_output=True)
    p = run_qemu(img, timeout=20)
    out = p.stdout.decode("latin-1")
    assert p.returncode == 1, out
    assert "selftest: " in out and " passed, 0 failed" in out


def test_build_is_deterministic_and_matches_the_committed_image(build_dir):
    recorded = ROOT / "unikernel" / "toolchain.txt"
    current = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout
    current = current.splitlines()[0] + "\n" + subprocess.run(
        ["nasm", "-v"], capture_output=True, text=True).stdout
    if not recorded.exists() or recorded.read_text() != current:
        pytest.skip("a different clang/nasm than the one the committed image was built with")
    for name, committed in (("fluid_llama.img", "images/fluid_llama.img"),
                            ("tinyllama_bare.elf", "images/tinyllama_bare.elf")):
        assert (build_dir / name).read_bytes() == (ROOT / committed).read_bytes(), (
            f"{committed} is stale: run `make -C unikernel release` and commit images/")


def test_committed_image_carries_the_current_blobs():
    """images/model.bin and images/tokenizer.bin, when present, are what the image holds."""
    model, tok, _ = committed_blobs()
    for name, held in (("model.bin", model), ("tokenizer.bin", tok)):
        path = ROOT / "images" / name
        if path.exists():
            assert path.read_bytes() == held, (
                f"images/fluid_llama.img does not hold the current images/{name}: "
                "run `make -C unikernel release` and commit images/fluid_llama.img")
