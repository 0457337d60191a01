"""The emulator core end to end: boot our nasm test images, compare with the expected transcript,
exit statuses, determinism, traces, profile, the debugging API and bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.trace import TraceSink, read_trace  # noqa: E402

CORE_PM_TRANSCRIPT = (b"real mode ok\r\nprotected mode ok\r\nvector=00000030 err=00000000\r\n"
                      b"vector=00000000 err=00000000\r\nvector=00000006 err=00000000\r\n"
                      b"vector=0000000D err=00000048\r\n3 timer ticks\r\nrdtsc advances\r\n")
EMU = [sys.executable, "-m", "bareflow.emu.cli"]


def boot(name: str, **kw) -> Machine:
    return Machine(MachineConfig(image=images.build(name), **kw))


def run_cli(*args: str, stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    return subprocess.run(EMU + list(args), input=stdin, capture_output=True, timeout=timeout, env=env)


def test_protected_mode_exceptions_irq_rdtsc():
    m = boot("core_pm.asm")
    reason = m.run(max_cycles=2_000_000_000)
    assert bytes(m.serial_out) == CORE_PM_TRANSCRIPT
    assert reason == StopReason.POWER_OFF
    assert m.exit_status == (0x10 << 1) | 1
    assert m.mode == "protected"


def test_same_run_twice_is_identical(tmp_path):
    results = []
    for i in range(2):
        trace = TraceSink(tmp_path / f"t{i}.jsonl")
        m = boot("core_pm.asm", trace=trace, trace_io=True)
        m.run(max_cycles=2_000_000_000)
        m.close()
        results.append((m.cycles, m.instructions, bytes(m.serial_out),
                        (tmp_path / f"t{i}.jsonl").read_bytes(), m.profile_table()))
    assert results[0] == results[1]
    assert results[0][0] > 0 and results[0][1] > 0


def test_trace_records_the_boot_journey(tmp_path):
    path = tmp_path / "trace.jsonl"
    m = boot("core_pm.asm", trace=TraceSink(path))
    m.run(max_cycles=2_000_000_000)
    m.close()
    events = read_trace(path)
    kinds = [e["event"] for e in events]
    for needed in ("boot", "bios", "cr_write", "cr0_pe", "lgdt", "mode", "lidt", "interrupt", "serial",
                   "power_off"):
        assert needed in kinds, needed
    cycles = [e["cycle"] for e in events]
    assert cycles == sorted(cycles)
    lgdt = next(e for e in events if e["event"] == "lgdt")
    assert lgdt["limit"] == 23
    assert "code" in lgdt["entries"][1]["text"] and "32-bit" in lgdt["entries"][1]["text"]
    modes = [e for e in events if e["event"] == "mode"]
    # CR0.PE=1 first gives 16-bit protected mode; the far jump loads the 32-bit CS
    assert [(e["mode"], e["code32"]) for e in modes] == [("protected", False), ("protected", True)]
    assert modes[1]["cs"] == 8
    gp = next(e for e in events if e["event"] == "interrupt" and e["vector"] == 13)
    assert gp["error_code"] == 0x48 and gp["kind"] == "exception"
    soft = next(e for e in events if e["event"] == "interrupt" and e["vector"] == 0x30)
    assert soft["kind"] == "software"
    irq = [e for e in events if e["event"] == "interrupt" and e["vector"] == 0x20]
    assert len(irq) >= 3 and all(e["kind"] == "hardware" for e in irq)


def test_rdtsc_returns_the_exact_clock():
    m = boot("core_pm.asm")
    m.run(max_cycles=2_000_000_000)
    assert m.cycles > 0
    # the guest printed "rdtsc advances": two RDTSCs one instruction apart differ by its cost
    assert b"rdtsc advances" in m.serial_out


def test_profile_counts_functions_without_symbols():
    m = boot("core_pm.asm")
    m.run(max_cycles=2_000_000_000)
    rows = m.profile_table()
    assert rows, "no profile rows"
    assert sum(r["exclusive_cycles"] for r in rows) == m.cycles - _idle_cycles(m)
    assert any(r["name"] == "[bios]" for r in rows)


def _idle_cycles(m: Machine) -> int:
    """Cycles spent halted (HLT jumps the clock) or in BIOS services are not in any block."""
    rows = m.profile_table()
    return m.cycles - sum(r["exclusive_cycles"] for r in rows)


@pytest.mark.parametrize("name,code,words", [
    ("core_triple.asm", 65, "triple fault"),
    ("core_hlt.asm", 66, "halted with interrupts disabled"),
    ("core_unmapped.asm", 68, "0xc0000000"),
])
def test_guest_crashes_exit_with_documented_status(tmp_path, name, code, words):
    trace = tmp_path / "t.jsonl"
    # these mean QEMU -no-reboot (a triple fault ends the run); `run` otherwise reboots as QEMU
    r = run_cli("run", str(images.build(name)), "--trace", str(trace), "--no-stdin", "--max-cycles", "500000000",
                "--no-reboot")
    err = r.stderr.decode()
    assert r.returncode == code, err
    first = err.splitlines()[0]   # the one-line summary; a fault explanation may follow it
    assert words in first.lower()
    assert "Traceback" not in err
    assert "mode" in first and "0x" in first
    events = read_trace(trace)  # valid JSON Lines to the end
    assert events[-1]["event"] == "stop"


def test_triple_fault_explains_the_idt_limit():
    m = boot("core_triple.asm")
    assert m.run(max_cycles=500_000_000) == StopReason.TRIPLE_FAULT
    assert "IDT limit is 0x0" in m.stop_message


def test_cycle_limit():
    r = run_cli("run", str(images.build("core_spin.asm")), "--max-cycles", "3000000", "--no-stdin")
    assert r.returncode == 67
    assert b"spinning" in r.stdout
    assert "cycle limit" in r.stderr.decode()


@pytest.mark.parametrize("setup,words", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"\x90" * 100), "shorter than one 512-byte sector"),
    (lambda p: p.write_bytes(b"\x90" * 512), "0x55AA"),
    (lambda p: p.mkdir(), "directory"),
])
def test_bad_images(tmp_path, setup, words):
    p = tmp_path / "bad.img"
    setup(p)
    r = run_cli("run", str(p), "--no-stdin")
    err = r.stderr.decode()
    assert r.returncode == 64, err
    assert words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_arguments():
    r = run_cli("run", str(images.build("core_hlt.asm")), "--max-cycles", "lots")
    assert r.returncode == 2 and "Traceback" not in r.stderr.decode()
    r = run_cli("run", str(images.build("core_hlt.asm")), "--keys-after", "> ")
    assert r.returncode == 2 and "not followed by --keys" in r.stderr.decode()


def test_profile_and_screen_files(tmp_path):
    prof, screen = tmp_path / "p.json", tmp_path / "s.txt"
    r = run_cli("run", str(images.build("core_pm.asm")), "--profile", str(prof), "--screen", str(screen),
                "--no-stdin")
    assert r.returncode == 33, r.stderr
    assert r.stdout == CORE_PM_TRANSCRIPT
    doc = json.loads(prof.read_text())
    for key in ("cycles", "instructions", "wall_seconds", "mips", "functions"):
        assert key in doc
    assert doc["cycles"] > doc["instructions"] > 0
    f = doc["functions"][0]
    assert set(f) >= {"name", "calls", "exclusive_cycles", "inclusive_cycles"}
    assert screen.exists()


def test_step_and_breakpoints():
    m = boot("core_pm.asm")
    start_pc = m.cpu.linear_pc()
    assert start_pc == 0x7C00
    n0 = m.instructions
    assert m.step() == StopReason.STEP
    assert m.instructions == n0 + 1
    assert m.cpu.linear_pc() != start_pc
    # run to the first instruction of protected mode: a breakpoint by address
    pm_entry = _find_pm32(m)
    m.add_breakpoint(pm_entry)
    assert m.run_until_stop(max_cycles=500_000_000) == StopReason.BREAKPOINT
    assert m.cpu.linear_pc() == pm_entry
    assert m.mode == "protected"
    cyc = m.cycles
    assert m.step() == StopReason.STEP
    assert m.cycles > cyc
    m.remove_breakpoint(pm_entry)
    assert m.run_until_stop(max_cycles=2_000_000_000) == StopReason.POWER_OFF
    assert bytes(m.serial_out) == CORE_PM_TRANSCRIPT


def _find_pm32(m: Machine) -> int:
    """Address of the far jump's target (the 32-bit entry) in core_pm.img."""
    body = m.disk_bytes[:4096]  # the body is not loaded yet: read the image
    i = body.find(bytes.fromhex("ea"))  # jmp 0x08:pm32 (16-bit far jump: EA off16 seg16)
    while i >= 0:
        if body[i + 3:i + 5] == b"\x08\x00":
            return int.from_bytes(body[i + 1:i + 3], "little")
        i = body.find(b"\xea", i + 1)
    raise AssertionError("far jump not found")


def test_pause_from_another_thread_and_resume():
    import threading
    m = boot("core_spin.asm")
    t = threading.Timer(0.3, m.request_pause)
    t.start()
    assert m.run() == StopReason.PAUSED
    c = m.cycles
    assert c > 0
    assert m.run(max_cycles=c + 1_000_000) == StopReason.CYCLE_LIMIT
    assert m.cycles >= c + 1_000_000


def test_restore_replays_exactly_even_after_power_off():
    m = boot("core_pm.asm")
    m.run(max_cycles=36_000)
    snap = m.snapshot()
    assert m.run(max_cycles=2_000_000_000) == StopReason.POWER_OFF
    first = (m.cycles, m.instructions, bytes(m.serial_out), m.exit_status)
    m.restore(snap)
    assert m.cycles == snap.cycles and m.exit_status is None
    assert m.run(max_cycles=2_000_000_000) == StopReason.POWER_OFF
    assert (m.cycles, m.instructions, bytes(m.serial_out), m.exit_status) == first


def test_trace_insns_window(tmp_path):
    path = tmp_path / "t.jsonl"
    r = run_cli("run", str(images.build("core_pm.asm")), "--no-stdin", "--trace", str(path),
                "--trace-insns", "31000:31500")
    assert r.returncode == 33
    insns = [e for e in read_trace(path) if e["event"] == "insn"]
    assert len(insns) > 50
    stamps = [e["cycle_exact"] for e in insns]
    assert stamps == sorted(stamps)
    assert 31000 <= stamps[0] and stamps[-1] < 31500 + 100
    assert any(e["text"].startswith("out dx, al") for e in insns)


def test_trace_io_records_port_accesses(tmp_path):
    path = tmp_path / "t.jsonl"
    m = boot("core_pm.asm", trace=TraceSink(path), trace_io=True)
    m.run(max_cycles=2_000_000_000)
    m.close()
    io = [e for e in read_trace(path) if e["event"] == "io"]
    outs = [e for e in io if e["dir"] == "out" and e["port"] == 0x3F8]
    assert bytes(e["value"] for e in outs) == CORE_PM_TRANSCRIPT
    assert any(e["dir"] == "in" and e["port"] == 0x3FD for e in io)
    assert any(e["dir"] == "out" and e["port"] == 0xF4 and e["value"] == 0x10 for e in io)
