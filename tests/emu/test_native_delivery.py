"""Native real-mode delivery (emu/native_delivery.py, fastpath.c): the same machine either way.

Each workload runs twice in this process, with the native path on and with
BAREFLOW_NATIVE_DELIVERY=0 (every delivery through Python, as before issue 11), and everything
observable must be equal: stop reason, cycles, instructions, registers, RAM, COM1, the
per-function profile, the last fault and the fault explainer's explanations.  The native run
must also have done native work, so a path that silently falls back cannot pass.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bareflow.emu.explain import FaultWatcher
from bareflow.emu.machine import Machine, MachineConfig, StopReason

pytestmark = pytest.mark.skipif(shutil.which("nasm") is None, reason="nasm is needed to assemble the boot sectors")

HEAD = """
        org 0x7C00
        bits 16
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
"""
TAIL = """
        mov dx, 0x3F8
        mov al, 'K'
        out dx, al
        xor ax, ax
        out 0xF4, al
        hlt
"""
PAD = """
        times 510-($-$$) db 0
        dw 0xAA55
"""

#: ud2 through a handler that skips it (bench/loops/ud2.asm, shorter)
UD2_LOOP = HEAD + """
        mov word [6*4], handler
        mov word [6*4+2], 0
        mov si, 300
.loop:  ud2
        dec si
        jnz .loop
""" + TAIL + """
handler:
        push bp
        mov bp, sp
        add word [bp+2], 2
        pop bp
        iret
""" + PAD

#: BIOS services in a loop (bench/loops/bios.asm, shorter), plus a guest-installed INT 60h
BIOS_LOOP = HEAD + """
        mov word [0x60*4], own
        mov word [0x60*4+2], 0
        sti
        mov si, 200
.loop:  xor ah, ah
        int 0x1A
        mov ah, 0x08
        mov dl, 0x80
        int 0x13
        int 0x60
        dec si
        jnz .loop
""" + TAIL + """
own:    inc di
        iret
""" + PAD

#: the handler changes: IVT[6] moves to a second handler, then the ud2 is patched into NOPs
CHANGING = HEAD + """
        mov word [6*4], first
        mov word [6*4+2], 0
        mov si, 120
ud2_at: ud2
        dec si
        jnz ud2_at
""" + TAIL + """
first:  push bp
        mov bp, sp
        add word [bp+2], 2
        pop bp
        inc bx
        cmp bx, 40
        jne .out
        mov word [6*4], second
.out:   iret
second: push bp
        mov bp, sp
        add word [bp+2], 2
        pop bp
        inc bx
        cmp bx, 80
        jne .out2
        mov word [ud2_at], 0x9090        ; the ud2 becomes two NOPs: no more exceptions
.out2:  iret
""" + PAD

#: the interrupt frame is pushed over code that already ran (the pushes must drop it)
STACK_ON_CODE = """
        org 0x7C00
        bits 16
start:  xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, start + 6
        mov word [6*4], handler
        mov word [6*4+2], 0
        mov si, 50
.loop:  ud2
        dec si
        jnz .loop
""" + TAIL + """
handler:
        push bp
        mov bp, sp
        add word [bp+2], 2
        pop bp
        iret
""" + PAD

#: a fuzzed image: an invalid opcode whose #UD goes to the BIOS's default handler, which
#: returns to it: it re-raises until the cycle limit
FUZZ = HEAD + """
        db 0xFF, 0xFF
        hlt
""" + PAD


def assemble(tmp_path: Path, name: str, source: str) -> Path:
    src = tmp_path / f"{name}.asm"
    img = tmp_path / f"{name}.img"
    src.write_text(source)
    subprocess.run(["nasm", "-f", "bin", "-o", str(img), str(src)], check=True)
    return img


def observe(img: Path, monkeypatch: pytest.MonkeyPatch, native: bool, max_cycles: int | None = None,
            **extra: Any) -> dict[str, Any]:
    monkeypatch.setenv("BAREFLOW_NATIVE_DELIVERY", "1" if native else "0")
    m = Machine(MachineConfig(image=img, **extra))
    watcher = FaultWatcher(m)
    reason = m.run(max_cycles)
    m.fast.flush_frames()
    return {
        "reason": reason, "cycles": m.cycles, "instructions": m.instructions, "regs": m.regs(),
        "ram": hashlib.sha1(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out),
        "profile": [(p["name"], p["calls"], p["exclusive_cycles"], p["inclusive_cycles"]) for p in m.profile_table()],
        "last_fault": m.last_fault, "explanations": [e.to_dict() for e in watcher.explanations],
        "native": m.native.counts(),
    }


def both(img: Path, monkeypatch: pytest.MonkeyPatch, max_cycles: int | None = None) -> tuple[dict, dict]:
    on = observe(img, monkeypatch, True, max_cycles)
    off = observe(img, monkeypatch, False, max_cycles)
    assert not any(off["native"])
    for key in on:
        if key != "native":
            assert on[key] == off[key], key
    return on, off


def test_ud2_loop_is_delivered_natively_and_identically(tmp_path, monkeypatch):
    on, _ = both(assemble(tmp_path, "ud2", UD2_LOOP), monkeypatch)
    assert on["reason"] == StopReason.POWER_OFF and on["serial"] == b"K"
    soft, exc, iret, _stubs, _services = on["native"]
    assert exc >= 298 and iret >= 298          # the first #UD of each block goes through Python
    assert on["last_fault"]["vector"] == 6 and on["explanations"][-1]["summary"].startswith("#UD")


def test_bios_loop_and_a_guest_vector(tmp_path, monkeypatch):
    on, _ = both(assemble(tmp_path, "bios", BIOS_LOOP), monkeypatch)
    assert on["serial"] == b"K" and on["regs"]["edi"] & 0xFFFF == 200
    soft, _exc, iret, _stubs, services = on["native"]
    assert soft >= 3 * 200 - 3 and iret >= 3 * 200 - 3 and services >= 2 * 200 - 2


def test_a_handler_that_moves_and_code_that_changes(tmp_path, monkeypatch):
    on, _ = both(assemble(tmp_path, "changing", CHANGING), monkeypatch)
    assert on["serial"] == b"K"
    assert on["regs"]["ebx"] & 0xFFFF == 80     # no #UD after the patch
    assert on["native"][1] > 60


def test_frames_pushed_over_code_go_the_python_way(tmp_path, monkeypatch):
    on, _ = both(assemble(tmp_path, "stack", STACK_ON_CODE), monkeypatch)
    assert on["serial"] == b"K"


def test_fuzzed_image_reraising_ud_ends_quickly(tmp_path, monkeypatch):
    img = assemble(tmp_path, "fuzz", FUZZ)
    on, _ = both(img, monkeypatch, max_cycles=400_000)
    assert on["reason"] == StopReason.CYCLE_LIMIT
    _soft, exc, _iret, stubs, _services = on["native"]
    assert exc > 1000 and stubs > 1000         # the default handler is native too
    big = observe(img, monkeypatch, True, max_cycles=50_000_000)
    assert big["reason"] == StopReason.CYCLE_LIMIT and big["native"][1] > 100_000


def test_a_trace_or_a_journey_sees_every_delivery(tmp_path, monkeypatch):
    """Subscribers that need each delivery turn the native path off while attached."""
    from bareflow.emu.journey import Journey
    img = assemble(tmp_path, "ud2", UD2_LOOP)
    monkeypatch.setenv("BAREFLOW_NATIVE_DELIVERY", "1")
    m = Machine(MachineConfig(image=img))
    seen: list[int] = []
    m.hooks.events.append(lambda kind, c, i, f: seen.append(f["vector"]) if kind == "interrupt" else None)
    m.run()
    assert m.native.counts()[:2] == (0, 0) and seen.count(6) == 300
    assert m.native.counts()[4] == 0
    m = Machine(MachineConfig(image=img))
    Journey().attach(m)
    m.run()
    assert m.native.counts()[:2] == (0, 0)
    # the BIOS call trace: every service call is an event while someone listens to each
    m = Machine(MachineConfig(image=assemble(tmp_path, "bios", BIOS_LOOP)))
    calls: list[tuple[int, int]] = []
    m.hooks.events.append(lambda kind, c, i, f: calls.append((f["vector"], f["ah"])) if kind == "bios" else None)
    m.run()
    assert calls.count((0x1A, 0)) == 200 and calls.count((0x13, 8)) == 200 and not any(m.native.counts()[:2])


def test_single_steps_match(tmp_path, monkeypatch):
    """Stepping (the debugger) delivers through Python: same states instruction by instruction."""
    img = assemble(tmp_path, "bios", BIOS_LOOP)
    states = []
    for native in (True, False):
        monkeypatch.setenv("BAREFLOW_NATIVE_DELIVERY", "1" if native else "0")
        m = Machine(MachineConfig(image=img))
        m.run(20_000)          # into the loop, natively where allowed
        trail = []
        for _ in range(200):
            m.step()
            trail.append((m.cycles, m.instructions, m.regs()["eip"], m.regs()["cs"]))
        states.append(trail)
    assert states[0] == states[1]


def test_cli_explains_the_last_native_exception_as_before(tmp_path):
    """A run that halts after native exceptions prints the same stop line and explanation."""
    import os
    import sys
    img = assemble(tmp_path, "halt", UD2_LOOP.replace("        xor ax, ax\n        out 0xF4, al\n        hlt",
                                                       "        cli\n        hlt"))
    outs = []
    for native in ("1", "0"):
        env = dict(os.environ, BAREFLOW_NATIVE_DELIVERY=native)
        p = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "run", str(img), "--no-stdin"],
                           capture_output=True, env=env, timeout=120)
        outs.append((p.returncode, p.stdout, p.stderr))
    assert outs[0] == outs[1]
    assert outs[0][0] == 66 and b"The last exception before the stop" in outs[0][2] and b"#UD" in outs[0][2]


def test_an_error_in_a_python_hook_behind_a_native_one_is_raised(tmp_path, monkeypatch):
    """The native hooks call Python for the rest (INT n it cannot do, BIOS services): an
    exception there stops the run and is raised by run(), never lost inside C."""
    img = assemble(tmp_path, "int10", HEAD + """
        mov ah, 0x0E
        mov al, 'x'
        int 0x10
""" + TAIL + PAD)
    monkeypatch.setenv("BAREFLOW_NATIVE_DELIVERY", "1")
    m = Machine(MachineConfig(image=img))

    def broken(vector: int, cpu: Any) -> int:
        raise RuntimeError(f"service {vector:#x} broke")

    monkeypatch.setattr(m.bios, "handle", broken)
    with pytest.raises(RuntimeError, match="broke"):
        m.run()
