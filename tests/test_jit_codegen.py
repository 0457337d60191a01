"""Run-time code generation in the unikernel, seen from the emulator and from gdb.

The committed image runs a short greedy prompt in adaptive mode: the optimiser generates
machine code for the hottest kernels (`[jit]` decision lines), publishes each function through
GDB's JIT interface, and BareFlow (emu/jitdebug.py) names it `jit:NAME` in the exact profile
and the symbol table.  gdb attached to the stub reads the same interface on its own."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bareflow.emu.jitdebug import parse_symfile
from bareflow.emu.machine import Machine, MachineConfig, StopReason
from bareflow.emu.profile import profile_rows

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "images" / "fluid_llama.img"
ELF = ROOT / "images" / "tinyllama_bare.elf"
CMDLINE = 'prompt="Once upon a time" steps=8 exit=1'
KERNELS = {"jit:matmul_64x64", "jit:matmul_64x32", "jit:matmul_64x512", "jit:matmul_64x172",
           "jit:matmul_172x64", "jit:swiglu_172", "jit:expf_pd", "jit:expf_x87"}

pytestmark = pytest.mark.skipif(not IMAGE.exists() or not ELF.exists(), reason="images/ not built")


def _image(tmp_path: Path, cmdline: str = CMDLINE) -> Path:
    img = tmp_path / "llama.img"
    shutil.copy(IMAGE, img)
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img), cmdline],
                   check=True, capture_output=True)
    return img


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    img = _image(tmp_path_factory.mktemp("jit"))
    m = Machine(MachineConfig(image=img, symbols=str(ELF)))
    assert m.run(max_cycles=5_000_000_000) == StopReason.POWER_OFF
    return m, bytes(m.serial_out).decode(errors="replace").replace("\r\n", "\n")


def test_decisions_are_reported(run):
    _, out = run
    jit = [l for l in out.splitlines() if l.startswith("[jit] ")]
    gen = [l for l in jit if re.match(r"\[jit\] profile \(self cycles\): .* -> generate \w+: tier \d, \d+ cycles$", l)]
    assert gen and re.match(r"\[jit\] profile \(self cycles\): ffn \d+%.* -> generate ffn:", gen[0]), jit
    for name in ("ffn", "matmul", "expf"):
        assert any(f"-> generate {name}: tier" in l for l in gen), jit
        assert any(re.match(rf"\[jit\] {name}: tier \d -> \d \(generated\) kept: \d+ < \d+ cycles/call "
                            rf"\(A/B, \d+ calls each\)$", l) for l in jit), jit
    code = next(l for l in jit if l.startswith("[jit] codegen: "))
    assert "8 functions" in code and "0 kernels rejected" in code
    # two instruction selections of the exp, each A/B-tested against the tier in use
    assert any(l.startswith("[jit] expf: tier 1 -> 2 (generated) ") for l in jit), jit


def test_generated_functions_are_named_in_the_profile(run):
    m, _ = run
    assert {f.name for f in m.jit_debug.functions} == KERNELS
    rows = {r["name"]: r for r in profile_rows(m)}
    for name in KERNELS:
        assert rows[name]["calls"] > 0 and rows[name]["exclusive_cycles"] > 0, name
    # no anonymous code pages: every block of the code heap is attributed to its function
    assert not [n for n in rows if n.startswith("[code 0x002")], list(rows)
    f = next(f for f in m.jit_debug.functions if f.name == "jit:expf_x87")
    assert m.symbols.format(f.start) == "jit:expf_x87"
    assert m.symbols.format(f.start + 3) == "jit:expf_x87+0x3"
    assert m.symbols.address_of("jit:expf_x87") == f.start


def test_guest_symbol_files_are_minimal_elfs(run):
    """Walk the descriptor's list the way gdb does and parse every in-memory symbol file."""
    m, _ = run
    desc = m.symbols.address_of("__jit_debug_descriptor")
    version, action, _relevant, entry = struct_u32s(m.read_mem(desc, 16))
    assert version == 1 and action == 0               # idle between registrations
    names = []
    while entry:
        nxt, _prev, symfile, size_lo = struct_u32s(m.read_mem(entry, 16))
        names += [n for n, addr, size in parse_symfile(m.read_mem(symfile, size_lo)) if addr and size]
        entry = nxt
    assert {"jit:" + n for n in names} == KERNELS


def struct_u32s(b: bytes) -> tuple[int, ...]:
    import struct
    return struct.unpack("<%dI" % (len(b) // 4), b)


def test_naming_does_not_change_the_run(tmp_path, run):
    """Determinism: the hook reads memory only; cycles and output equal a run without it."""
    m, out = run
    img = _image(tmp_path)
    m2 = Machine(MachineConfig(image=img, symbols=str(ELF)))
    m2.jit_debug.functions.clear()
    m2.jit_debug.on_function.clear()
    m2.jit_debug.on_register_call = lambda: []            # type: ignore[method-assign]
    m2.run(max_cycles=5_000_000_000)
    assert bytes(m2.serial_out).decode(errors="replace").replace("\r\n", "\n") == out
    assert m2.cycles == m.cycles
    assert not any(n.startswith("jit:") for n in m2.function_names())


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_gdb_reads_the_jit_interface(tmp_path):
    img = _image(tmp_path)
    exe = ROOT / ".venv" / "bin" / "bareflow-emu"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bareflow.emu.cli"]
    proc = subprocess.Popen(cmd + ["run", str(img), "--symbols", str(ELF), "--no-stdin", "--gdb", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and port is None:
            line = proc.stderr.readline()
            hit = re.search(rb"waiting for gdb on 127\.0\.0\.1:(\d+)", line)
            if hit:
                port = int(hit.group(1))
            elif not line and proc.poll() is not None:
                break
        assert port, "the emulator did not announce its gdb port"
        cmds = ["set pagination off", f"file {ELF}", f"target remote 127.0.0.1:{port}",
                "break llama_jit_report", "continue",
                "echo ==SYM\\n", "info symbol 'matmul_64x172'", "info functions ^matmul_[0-9]",
                "echo ==DIS\\n", "x/2i 'expf_x87'", "echo ==END\\n", "kill"]
        res = subprocess.run(["gdb", "-nx", "-batch"] + [a for c in cmds for a in ("-ex", c)],
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    out = res.stdout + res.stderr
    sections = dict(re.findall(r"==(\w+)\n(.*?)(?===|\Z)", out, re.S))
    assert re.search(r"matmul_64x172 in section \.text of <in-memory@0x[0-9a-f]+>", sections["SYM"]), out
    for name in ("matmul_64x64", "matmul_64x32", "matmul_64x512", "matmul_64x172", "matmul_172x64"):
        assert re.search(rf"0x[0-9a-f]+\s+{name}\n", sections["SYM"]), out
    assert re.search(r"<expf_x87>:\s+push\s+%ebp", sections["DIS"]), out
