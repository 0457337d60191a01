"""bareflow-image / python -m bareflow.tools.image: show, set-cmdline, and clear one-line
errors on bad input (exit status 1, no traceback)."""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images" / "fluid_llama.img"
sys.path.insert(0, str(ROOT / "tools"))
import image as imagetool  # noqa: E402  (tools/ is the bareflow.tools package; by path here)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "image.py"), *args],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def img(tmp_path) -> Path:
    p = tmp_path / "t.img"
    shutil.copyfile(IMAGE, p)
    return p


def test_show_describes_the_layout(img):
    p = run("show", str(img))
    assert p.returncode == 0, p.stderr
    assert "stage2         LBA 2," in p.stdout
    assert "-> 0x00100000, entry 0x00100000" in p.stdout
    assert "cmdline        " in p.stdout


def test_set_cmdline_rewrites_only_the_header(img):
    before = img.read_bytes()
    p = run("set-cmdline", str(img), 'prompt="Once upon" steps=40 exit=1')
    assert p.returncode == 0, p.stderr
    after = img.read_bytes()
    assert len(after) == len(before)
    assert after[:512] == before[:512] and after[1024:] == before[1024:]
    h = imagetool.read_header(img)
    assert h.cmdline == 'prompt="Once upon" steps=40 exit=1'
    assert sum(struct.unpack("<128I", after[512:1024])) & 0xFFFFFFFF == 0   # what stage 2 checks
    assert "steps=40" in run("show", str(img)).stdout


def test_module_entry_point_and_console_script(img):
    p = subprocess.run([sys.executable, "-m", "bareflow.tools.image", "show", str(img)],
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0 and "No module named" in p.stderr:
        pytest.skip("bareflow is not installed in this interpreter")
    assert p.returncode == 0 and "kernel" in p.stdout
    script = Path(sys.executable).parent / "bareflow-image"
    if script.exists():
        q = subprocess.run([str(script), "show", str(img)], capture_output=True, text=True)
        assert q.returncode == 0 and q.stdout == p.stdout


@pytest.mark.parametrize("args,message", [
    (["set-cmdline", "{img}", "x" * 256], "command line is 256 bytes; the limit is 255"),
    (["set-cmdline", "{img}", "caf\u00e9=1"], "command line must be ASCII"),
    (["set-cmdline", "{img}", "a=1\nb=2"], "only printable characters"),
    (["show", "{missing}"], "cannot read"),
])
def test_bad_input_gives_one_line_errors(img, tmp_path, args, message):
    args = [a.format(img=img, missing=tmp_path / "nope.img") for a in args]
    p = run(*args)
    assert p.returncode == 1
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert p.stderr.startswith("bareflow-image: error: ") and message in p.stderr


def test_damaged_images_are_refused(tmp_path):
    bad_magic = bytearray(IMAGE.read_bytes())
    bad_magic[512] ^= 0xFF
    (tmp_path / "m.img").write_bytes(bad_magic)
    bad_sum = bytearray(IMAGE.read_bytes())
    bad_sum[600] ^= 0x01
    (tmp_path / "s.img").write_bytes(bad_sum)
    (tmp_path / "short.img").write_bytes(b"\0" * 100)
    for name, message in (("m.img", "bad header magic"), ("s.img", "checksum mismatch"),
                          ("short.img", "too short")):
        p = run("show", str(tmp_path / name))
        assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr


def test_build_places_parts_and_is_deterministic(tmp_path):
    elf = ROOT / "images" / "tinyllama_bare.elf"
    stage1 = IMAGE.read_bytes()[:512]
    h0 = imagetool.read_header(IMAGE)
    stage2 = IMAGE.read_bytes()[2 * 512:(2 + h0.stage2_sectors) * 512]
    (tmp_path / "s1").write_bytes(stage1)
    (tmp_path / "s2").write_bytes(stage2)
    (tmp_path / "model").write_bytes(bytes(range(256)) * 10)     # 2560 bytes
    (tmp_path / "tok").write_bytes(b"tok" * 100)
    args = ["build", "--stage1", str(tmp_path / "s1"), "--stage2", str(tmp_path / "s2"),
            "--kernel", str(elf), "--model", str(tmp_path / "model"),
            "--tokenizer", str(tmp_path / "tok"), "--cmdline", "steps=3"]
    assert run(*args, "-o", str(tmp_path / "a.img")).returncode == 0
    assert run(*args, "-o", str(tmp_path / "b.img")).returncode == 0
    a = (tmp_path / "a.img").read_bytes()
    assert a == (tmp_path / "b.img").read_bytes()
    h = imagetool.read_header(tmp_path / "a.img")
    assert h.model_bytes == 2560 and h.tok_bytes == 300
    assert h.model_addr % 4096 == 0 and h.model_addr >= h.kernel_end
    assert h.tok_addr >= h.model_addr + h.model_bytes and h.tok_addr % 4096 == 0
    assert a[h.model_lba * 512:h.model_lba * 512 + 2560] == (tmp_path / "model").read_bytes()
    assert a[h.tok_lba * 512:h.tok_lba * 512 + 300] == b"tok" * 100
    assert h.cmdline == "steps=3"


def test_build_refuses_bad_parts(tmp_path):
    (tmp_path / "s1").write_bytes(b"\0" * 512)                   # no 55 AA
    p = run("build", "-o", str(tmp_path / "x.img"), "--stage1", str(tmp_path / "s1"),
            "--stage2", str(tmp_path / "s1"), "--kernel", str(tmp_path / "s1"))
    assert p.returncode == 1 and "55 AA" in p.stderr
    p = run("build", "-o", str(tmp_path / "x.img"), "--stage1", str(tmp_path / "nope"),
            "--stage2", str(tmp_path / "s1"), "--kernel", str(tmp_path / "s1"))
    assert p.returncode == 1 and "no such file" in p.stderr
