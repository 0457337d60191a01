"""TinyLlama in the unikernel under qemu-system-i386, against the NumPy reference.

One build of the unikernel from source (make BUILD=tmp), then disk images with the committed
model (images/model.bin) or with random checkpoints of awkward shapes, assembled by
tools/image.py.  Every run is bounded by `timeout`.  What is checked:
- greedy tokens equal tools/llama_ref.py's on fixed prompts, on every tier (0, 1, 2 pinned and
  adaptive), and the text printed is the reference's text;
- temperature / top-p sampling with llama2.c's xorshift RNG gives the reference's tokens;
- the protocol: "> ", echo, continuation, [jit]/[stats] figure lines, "> " again, quit -> 0;
- random checkpoints (GQA, MQA, separate classifier, odd hidden sizes, head size 6);
- bad input: broken headers, size mismatches, missing/truncated tokenizer, a prompt longer
  than seq_len, non-ASCII bytes, an over-long line - a message and the prompt or a clean exit.
"""
from __future__ import annotations

import os
import re
import select
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bareflow.tools import llama_ref, random_checkpoint

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "images" / "model.bin"
TOKENIZER = ROOT / "images" / "tokenizer.bin"
IMAGE_TOOL = ROOT / "tools" / "image.py"
QEMU = shutil.which("qemu-system-i386")
pytestmark = pytest.mark.skipif(
    QEMU is None or any(shutil.which(t) is None for t in ("clang", "ld.lld", "nasm", "make")),
    reason="needs qemu-system-i386, clang, ld.lld, nasm and make")

PROMPTS = ["Once upon a time", "Tom and Lily went to the park. They saw"]
STEPS = 40
JIT_RE = re.compile(r"^\[jit\] (\w+) calls=(\d+) avg_cycles=(\d+) level=(-?\d+)$")
STATS_RE = re.compile(r"^\[stats\] tokens=(\d+) cycles_per_token=(\d+) heap_peak=(\d+)$")


# ------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tinyllama-build")
    p = subprocess.run(["make", "-C", str(ROOT / "unikernel"), f"BUILD={out}", f"MODEL={MODEL}",
                        f"TOKENIZER={TOKENIZER}", f"PYTHON={sys.executable}", "build"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out


def make_image(build: Path, out: Path, model: Path | None, tok: Path | None, cmdline: str = "") -> Path:
    cmd = [sys.executable, str(IMAGE_TOOL), "build", "-o", str(out), "--stage1", str(build / "stage1.bin"),
           "--stage2", str(build / "stage2.bin"), "--kernel", str(build / "tinyllama_bare.elf"),
           "--cmdline", cmdline]
    if model:
        cmd += ["--model", str(model)]
    if tok:
        cmd += ["--tokenizer", str(tok)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return out


def qemu_cmd(img: Path, seconds: int) -> list[str]:
    return ["timeout", str(seconds), QEMU, "-drive", f"file={img},format=raw,snapshot=on", "-serial", "stdio",
            "-display", "none", "-no-reboot", "-m", "64", "-monitor", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def app_output(raw: bytes) -> str:
    text = raw.decode("latin-1").replace("\r\n", "\n")
    assert "kernel: calling app_main" in text, text[-2000:]
    return text.split("kernel: calling app_main\n", 1)[1]


def batch(img: Path, cmdline: str, seconds: int = 60) -> tuple[int, str]:
    subprocess.run([sys.executable, str(IMAGE_TOOL), "set-cmdline", str(img), cmdline], check=True,
                   capture_output=True)
    p = subprocess.run(qemu_cmd(img, seconds), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=seconds + 10)
    assert p.returncode != 124, "QEMU hung:\n" + p.stdout.decode("latin-1")[-3000:]
    return p.returncode, app_output(p.stdout)


def interactive(img: Path, cmdline: str, lines: list[bytes], seconds: int = 90) -> tuple[int, str]:
    """Boot, then type each line on COM1 after the app printed its next "> " prompt."""
    subprocess.run([sys.executable, str(IMAGE_TOOL), "set-cmdline", str(img), cmdline], check=True,
                   capture_output=True)
    p = subprocess.Popen(qemu_cmd(img, seconds), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = b""
    end = time.monotonic() + seconds

    def read_until_prompts(n: int) -> None:
        nonlocal out
        while out.split(b"kernel: calling app_main", 1)[-1].count(b"> ") < n and time.monotonic() < end:
            ready, _, _ = select.select([p.stdout], [], [], 0.2)
            if ready:
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    return
                out += data

    try:
        for i, line in enumerate(lines):
            read_until_prompts(i + 1)
            p.stdin.write(line + b"\r")
            p.stdin.flush()
        rest, _ = p.communicate(timeout=max(1.0, end - time.monotonic()))
        out += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 124, "QEMU hung:\n" + out.decode("latin-1")[-3000:]
    return p.returncode, app_output(out)


def sections(out: str) -> dict[str, dict]:
    """Split app output into one record per prompt: continuation text, figure lines, ids."""
    res: dict[str, dict] = {}
    for m in re.finditer(r"^> ([^\n]*)\n(.*?)\n(?=\[jit\] )((?:\[(?:jit|stats)\] [^\n]*\n)+)", out, re.M | re.S):
        figs = m.group(3).splitlines()
        ids_line = next((l for l in figs if l.startswith("[stats] token_ids=")), None)
        ids = [int(x) for x in ids_line.split("=", 1)[1].split()] if ids_line else None
        res[m.group(1)] = {"text": m.group(2), "figs": figs, "ids": ids}
    return res


_ref_cache: dict[tuple, tuple[list[int], bytes]] = {}


def reference(model: Path, tok: Path, prompt: str, steps: int, temp: float = 0.0, topp: float = 0.9,
              seed: int = 42) -> tuple[list[int], bytes]:
    key = (str(model), prompt, steps, temp, topp, seed)
    if key not in _ref_cache:
        w = llama_ref.load_checkpoint(str(model))
        t = llama_ref.Tokenizer.load(str(tok), w.cfg.vocab_size)
        _ref_cache[key] = llama_ref.generate(llama_ref.Transformer(w), t, prompt.encode(), steps, temp, topp, seed)
    return _ref_cache[key]


# ------------------------------------------------------------------------------- the trained model
_tier_runs: dict[str, tuple[int, str]] = {}


@pytest.fixture(scope="module")
def tier_run(build, tmp_path_factory):
    def run(tier: str) -> tuple[int, str]:
        if tier not in _tier_runs:
            img = make_image(build, tmp_path_factory.mktemp("img") / "t.img", MODEL, TOKENIZER)
            opt = "" if tier == "adaptive" else f" tier={tier}"
            _tier_runs[tier] = interactive(img, f"steps={STEPS} ids=1{opt}",
                                           [p.encode() for p in PROMPTS] + [b"quit"])
        return _tier_runs[tier]
    return run


@pytest.mark.parametrize("tier", ["0", "1", "2", "3", "adaptive"])
def test_greedy_tokens_match_reference_on_every_tier(tier_run, tier):
    rc, out = tier_run(tier)
    assert rc == 1, out[-3000:]                     # quit -> debug-exit status 0
    got = sections(out)
    for prompt in PROMPTS:
        ids, text = reference(MODEL, TOKENIZER, prompt, STEPS)
        assert prompt in got, out[-3000:]
        assert got[prompt]["ids"] == ids, f"tier {tier}, prompt {prompt!r}"
        assert got[prompt]["text"] == text.decode("latin-1")


def test_protocol_and_figures(tier_run):
    rc, out = tier_run("2")
    h = 2166136261
    for b in MODEL.read_bytes():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    assert re.search(rf"^app: model blob: {MODEL.stat().st_size} bytes at 0x[0-9a-f]{{8}}, FNV-1a 0x{h:08x}$", out, re.M)
    assert "\ntinyllama: dim 64, hidden 172, 5 layers, 8 heads (4 kv), vocab 512, seq_len 256\n" in out
    after = out.split("tinyllama: tiers pinned to 2\n", 1)[1]
    assert after.startswith("> " + PROMPTS[0] + "\n")      # the prompt, then the echoed line
    rec = sections(out)[PROMPTS[0]]
    names = {}
    for line in rec["figs"]:
        assert line.startswith(("[jit] ", "[stats] ")), line
        m = JIT_RE.match(line)
        if m:
            names[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    assert set(names) == {"matmul", "rmsnorm", "softmax", "attention", "ffn", "expf", "token"}
    assert names["expf"][2] == 0                            # one compiled version only
    for n in ("matmul", "rmsnorm", "softmax", "attention", "ffn"):
        assert names[n][2] == 2, names                      # pinned tier reported
        assert names[n][0] > 0 and names[n][1] > 0
    stats = next(STATS_RE.match(l) for l in rec["figs"] if STATS_RE.match(l))
    n_prompt = len(llama_ref.Tokenizer.load(str(TOKENIZER), 512).encode(PROMPTS[0].encode()))
    assert int(stats.group(1)) == len(rec["ids"]) == STEPS
    assert names["token"][0] == n_prompt - 1 + STEPS        # one forward per position
    assert names["matmul"][0] == names["token"][0] * (4 * 5 + 1)
    assert 0 < int(stats.group(3)) < 4 << 20
    # after the figures: the next prompt, then quit powers off through the kernel
    assert "\n> " + PROMPTS[1] + "\n" in out
    assert out.rstrip().endswith("kernel: app_main returned 0, powering off")


def test_text_identical_on_every_tier(tier_run):
    """Tiers add in one canonical order: same bits, same text, whatever the JIT picks."""
    def visible(out: str) -> list[str]:
        return [l for l in out.splitlines() if not l.startswith(("[jit] ", "[stats] ", "tinyllama: tiers"))]
    base = visible(tier_run("0")[1])
    for t in ("1", "2", "3", "adaptive"):
        assert visible(tier_run(t)[1]) == base


def test_adaptive_run_promotes_something(tier_run):
    rc, out = tier_run("adaptive")
    figs = sections(out)[PROMPTS[1]]["figs"]
    promos = [l for l in figs if re.match(r"^\[jit\] \w+ promotions=\d+ reverts=\d+$", l)]
    assert promos, figs            # 80+ tokens of calls cross the thresholds: trials happened


@pytest.mark.parametrize("temp,topp,seed", [(0.8, 0.9, 7), (1.0, 1.0, 123)])
def test_sampling_matches_reference(build, tmp_path, temp, topp, seed):
    img = make_image(build, tmp_path / "s.img", MODEL, TOKENIZER)
    prompt = "One day, Ben"
    rc, out = batch(img, f'prompt="{prompt}" steps=30 temp={temp} topp={topp} seed={seed} ids=1 exit=1')
    assert rc == 1, out
    ids, text = reference(MODEL, TOKENIZER, prompt, 30, temp, topp, seed)
    got = sections(out)[prompt]
    assert got["ids"] == ids
    assert got["text"] == text.decode("latin-1")


# ------------------------------------------------------------------------------- random checkpoints
@pytest.mark.parametrize("shape", sorted(random_checkpoint.SHAPES))
def test_random_checkpoints_match_reference(build, tmp_path, shape):
    m, t = tmp_path / "m.bin", tmp_path / "t.bin"
    dims = random_checkpoint.make(shape, str(m), str(t), seed=11)
    img = make_image(build, tmp_path / "r.img", m, t)
    prompts = ["Once upon a time", "Sam saw a big dog"]
    for tier in ("0", "2"):
        rc, out = interactive(img, f"steps={dims['seq_len']} ids=1 tier={tier}",
                              [p.encode() for p in prompts] + [b"quit"])
        assert rc == 1, out[-3000:]
        for p in prompts:
            ids, _ = reference(m, t, p, dims["seq_len"])
            # ids are printed in [stats]; the text of a random model may hold any byte
            block = out.split("> " + p + "\n", 1)[1]
            line = next(l for l in block.splitlines() if l.startswith("[stats] token_ids="))
            got = [int(x) for x in line.split("=", 1)[1].split()]
            assert got == ids, f"{shape} tier {tier} prompt {p!r}"


# ------------------------------------------------------------------------------- bad input
def _patched(tmp_path: Path, field: int, value: int) -> Path:
    raw = bytearray(MODEL.read_bytes())
    struct.pack_into("<i", raw, 4 * field, value)
    out = tmp_path / f"bad{field}.bin"
    out.write_bytes(bytes(raw))
    return out


@pytest.mark.parametrize("what,message", [
    ("dim0", "error: model header: dim=0 out of range 1..65536"),
    ("layers_negative", "error: model header: n_layers=-5 out of range 1..65536"),
    ("hidden_absurd", "error: model header: hidden_dim=1048576 out of range 1..65536"),
    ("heads_inconsistent", "error: model header: dim=64 n_heads=8 n_kv_heads=3 inconsistent"),
    ("truncated_model", "error: model blob is 1048344 bytes but its header needs 1048348"),
    ("no_tokenizer", "error: no tokenizer in this image"),
    ("truncated_tokenizer", "error: tokenizer truncated at token"),
])
def test_bad_blobs_give_a_message_not_a_fault(build, tmp_path, what, message):
    model, tok = MODEL, TOKENIZER
    if what == "dim0":
        model = _patched(tmp_path, 0, 0)
    elif what == "layers_negative":
        model = _patched(tmp_path, 2, -5)
    elif what == "hidden_absurd":
        model = _patched(tmp_path, 1, 1 << 20)
    elif what == "heads_inconsistent":
        model = _patched(tmp_path, 4, 3)
    elif what == "truncated_model":
        model = tmp_path / "short.bin"
        model.write_bytes(MODEL.read_bytes()[:-4])
    elif what == "no_tokenizer":
        tok = None
    elif what == "truncated_tokenizer":
        tok = tmp_path / "tok.bin"
        tok.write_bytes(TOKENIZER.read_bytes()[:3000])
    img = make_image(build, tmp_path / "b.img", model, tok)
    rc, out = batch(img, 'prompt="Once upon a time" steps=5 exit=1')
    assert message in out, out
    assert "EXCEPTION" not in out and "PANIC" not in out
    assert rc == 3, out                                  # app_main returned 1
    # interactive: the prompt comes back, every line gets the message, quit still works
    rc, out = interactive(img, "", [b"hello", b"quit"])
    assert out.count(message) == 2 and rc == 1, out


def test_bad_prompts_get_a_message_and_the_prompt_again(build, tmp_path):
    m, t = tmp_path / "m.bin", tmp_path / "t.bin"
    random_checkpoint.make("mha_tiny", str(m), str(t), seed=11)      # seq_len 24
    img = make_image(build, tmp_path / "p.img", m, t)
    long_prompt = "x" * 30                                           # 32 tokens with BOS and " "
    rc, out = interactive(img, "steps=3", [b"caf\xe9 au lait", b"y" * 600, long_prompt.encode(),
                                           b"ok", b"quit"])
    assert rc == 1, out
    assert "error: byte 0xe9 in the input is not printable ASCII" in out
    assert "error: line longer than 511 characters" in out
    n = len(llama_ref.Tokenizer.load(str(t), 320).encode(long_prompt.encode()))
    assert n > 24
    assert f"error: prompt is {n} tokens, longer than seq_len 24" in out
    assert "> ok\n" in out and out.count("[stats] tokens=") == 1     # the good line still runs
    assert "EXCEPTION" not in out
    rc, out = batch(img, f'prompt="{long_prompt}" exit=1')
    assert rc == 3 and f"error: prompt is {n} tokens, longer than seq_len 24" in out


def test_bad_options_are_refused(build, tmp_path):
    img = make_image(build, tmp_path / "o.img", MODEL, TOKENIZER)
    for cmdline, message in (("tier=7 exit=1", "error: tier=7 is not one of 0, 1, 2, 3\n"),
                             ("jit=maybe exit=1", "error: jit=maybe is not on, aot or off"),
                             ("temp=hot exit=1", "error: temp=hot is not a number 0..100"),
                             ("steps=-1 exit=1", "error: steps=-1 is not a number 0..1000000")):
        rc, out = batch(img, cmdline)
        assert message in out and rc == 5, out           # app_main returned 2


def test_keyboard_line_then_serial_quit(build, tmp_path):
    """The prompt reads from whichever device types: PS/2 keys via QEMU's monitor (sendkey),
    then "quit" on COM1."""
    import socket
    img = make_image(build, tmp_path / "k.img", MODEL, TOKENIZER, "steps=6 ids=1 tier=1")
    sock = tmp_path / "mon.sock"
    cmd = qemu_cmd(img, 60)
    cmd[cmd.index("-monitor") + 1] = f"unix:{sock},server=on,wait=off"
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = b""

    def wait_prompts(n: int) -> None:
        nonlocal out
        end = time.monotonic() + 40
        while out.split(b"calling app_main", 1)[-1].count(b"> ") < n and time.monotonic() < end:
            if select.select([p.stdout], [], [], 0.2)[0]:
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    return
                out += data

    try:
        wait_prompts(1)
        with socket.socket(socket.AF_UNIX) as mon:
            mon.connect(str(sock))
            for k in ["shift-t", "o", "m", "spc", "s", "a", "w", "ret"]:
                mon.sendall(f"sendkey {k}\n".encode())
                time.sleep(0.05)
        wait_prompts(2)
        p.stdin.write(b"quit\r")
        p.stdin.flush()
        rest, _ = p.communicate(timeout=30)
        out += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = app_output(out)
    assert p.returncode == 1, text
    ids, want = reference(MODEL, TOKENIZER, "Tom saw", 6)
    rec = sections(text)["Tom saw"]
    assert rec["ids"] == ids and rec["text"] == want.decode("latin-1")


@pytest.mark.skipif(shutil.which("bareflow-emu") is None and not (Path(sys.executable).parent / "bareflow-emu").exists(),
                    reason="bareflow-emu is not installed")
def test_bareflow_emulator_prints_what_qemu_prints(build, tmp_path):
    """Determinism across machines: apart from [jit]/[stats] figures, the emulator's serial
    output equals QEMU's, even in adaptive mode where the tiers chosen depend on timing."""
    emu = shutil.which("bareflow-emu") or str(Path(sys.executable).parent / "bareflow-emu")
    img = make_image(build, tmp_path / "e.img", MODEL, TOKENIZER)
    cmdline = 'prompt="Once upon a time" steps=24 exit=1'
    _, q = batch(img, cmdline)
    p = subprocess.run(["timeout", "300", emu, "run", str(img), "--symbols", str(build / "tinyllama_bare.elf"),
                        "--no-stdin"], capture_output=True, timeout=310)
    e = app_output(p.stdout)

    def visible(out: str) -> list[str]:
        return [l for l in out.splitlines() if not l.startswith(("[jit] ", "[stats] "))]
    assert visible(e) == visible(q)
    assert sections(e)["Once upon a time"]["text"] == reference(MODEL, TOKENIZER, "Once upon a time", 24)[1].decode()
