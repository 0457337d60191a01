"""Unicorn with BareFlow's exit-check patch (tools/unicorn/exit-check.patch, README there).

Unicorn 2.1.4 checks for a requested exit after every guest memory access; the patch keeps that
check only where an exit can be pending and lets the memory slow path exit by itself.  These
tests ask for a stop (or hit an error) in the middle of a translated block in every way the
patch distinguishes, each followed in the same block by more stores and register work, and
compare what PyPI's library and the patched one leave behind: the error, registers, EIP, RAM,
the callbacks' log, then the same again after resuming to the end.  Each engine runs in its own
process (LIBUNICORN_PATH), checked to have loaded the library it was meant to; the patched
library also runs with BAREFLOW_UC_EXIT_CHECK=all (Unicorn's rule everywhere).
A library without the slow-path exits (the checks simply dropped) fails most of them: the
stores after the stop happen there.

Then whole machines: an OUT to isa-debug-exit followed by stores in the same block, a store to
unmapped memory mid-block (the guest-error report names the storing instruction), a debugger
watchpoint on a store mid-block (stop, then resume to the power-off): cycles, instructions,
registers, RAM, COM1, the stop message and the event trace must be identical on both engines.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import engine_build  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "emu"))
from engines import PATCHED_LIB_DIR, STOCK_LIB_DIR, observe  # noqa: E402
SCENARIOS = Path(__file__).with_name("exit_check_scenarios.py")

pytestmark = pytest.mark.skipif(
    engine_build.exit_check() is None or not (STOCK_LIB_DIR / "libunicorn.so.2").exists(),
    reason="needs the patched Unicorn with the exit-check patch and PyPI's library beside it (tools/setup.sh)")

HEAD = "bits 32\norg 0x1000\n"
#: name -> 32-bit code at 0x1000 ending in HLT; the stop comes where the comment says
CODE = {
    # an MMIO write whose callback calls uc_emu_stop(), then stores in the same block
    "mmio_write_stop": """
        mov eax, 0x11111111
        mov ebx, 0x22222222
        mov [0x8000], eax
        mov [0x200010], ebx        ; stop here
        mov [0x8004], ebx
        inc eax
        mov [0x8008], eax
        push eax
        mov [0x800c], esp
        hlt""",
    # an MMIO read that stops; the value read would be stored next
    "mmio_read_stop": """
        mov ecx, 7
        mov [0x8000], ecx
        mov eax, [0x200020]        ; stop here
        mov [0x8004], eax
        add ecx, eax
        mov [0x8008], ecx
        hlt""",
    # the third MMIO write of a translated loop stops (the block runs translated already)
    "mmio_loop_stop": """
        mov ecx, 5
        mov esi, 0x8000
    again:
        mov [0x200000], ecx        ; stop on the third
        mov [esi], ecx
        add esi, 4
        dec ecx
        jnz again
        hlt""",
    # an OUT whose hook stops, stores after it (a port hook earlier in the block)
    "out_stop": """
        mov eax, 0x33333333
        mov [0x8000], eax
        out 0xf4, al               ; stop here
        add eax, 1
        mov [0x8004], eax
        mov [0x8008], eax
        hlt""",
    "out_no_stop": """
        mov eax, 0x33333333
        out 0xf4, al
        mov [0x8004], eax
        hlt""",
    "in_stop": """
        mov ebx, 0x10
        in al, 0x60                ; stop here
        add ebx, 2
        mov [0x8000], eax
        mov [0x8004], ebx
        hlt""",
    "cpuid_stop": """
        mov eax, 0
        mov edi, 0x8000
        cpuid                      ; stop here
        mov [edi], ebx
        mov [edi+4], edx
        inc edi
        mov [0x8010], edi
        hlt""",
    # a UC_HOOK_CODE on one instruction mid-block
    "code_hook_stop": """
        mov eax, 0x44444444
        mov [0x8000], eax
        mov [0x8004], eax
        times (0x10 - ($ - $$)) nop
        mov [0x8008], eax          ; 0x1010: stop here
        mov [0x800c], eax
        hlt""",
    # the block hook stops the second block (the check at a block's start)
    "block_hook_stop": """
        mov eax, 1
        mov [0x8000], eax
        jmp next
    next:
        mov [0x8004], eax
        mov [0x8008], eax
        hlt""",
    # a UC_HOOK_MEM_WRITE (the debugger's watchpoints) stops on the second store
    "mem_write_hook_stop": """
        mov eax, 0x55555555
        mov [0x8000], eax
        mov [0x8004], eax          ; stop here
        inc eax
        mov [0x8008], eax
        hlt""",
    # a UC_HOOK_MEM_WRITE that writes EBX: the rest of the block sees it (Unicorn's check
    # reloads the registers after the access; the patch keeps the check while such a hook exists)
    "mem_write_hook_regs": """
        mov ebx, 0x11
        mov [0x8000], ebx
        mov [0x8004], ebx          ; the hook writes EBX = 0x77 here
        mov [0x8008], ebx
        add ebx, 1
        mov [0x800c], ebx
        hlt""",
    "mem_read_hook_stop": """
        mov dword [0x8020], 0x99
        mov eax, [0x8020]          ; stop here
        mov [0x8000], eax
        hlt""",
    # a store to unmapped memory mid-block: the hook says no, the run ends with an error
    "unmapped_store": """
        mov eax, 0x66666666
        mov [0x8000], eax
        mov [0x300000], eax        ; error here
        mov [0x8004], eax
        inc eax
        mov [0x8008], eax
        hlt""",
    # an unaligned store across the end of RAM: its first bytes land, then the error
    "unmapped_store_cross": """
        mov eax, 0x77665544
        mov [0x8000], eax
        mov [0xffffe], eax         ; error here
        mov [0x8004], eax
        hlt""",
    # an x87 helper (fnstenv) storing to unmapped memory: the request stays pending until the
    # next access of translated code
    "helper_store_unmapped": """
        fninit
        mov eax, 0x12345678
        mov [0x8000], eax
        fnstenv [0x300000]
        add eax, 1
        mov [0x8004], eax          ; error here (stock: the check after this store)
        mov [0x8008], eax
        hlt""",
    # the same helper into MMIO whose callback stops at its first write
    "helper_mmio_stop": """
        fninit
        mov eax, 0x0badf00d
        fnstenv [0x200100]
        add eax, 1
        mov [0x8004], eax
        mov [0x8008], eax
        hlt""",
}


def _run(lib_dir: Path, name: str, code: bytes, **env) -> dict:
    e = {k: v for k, v in os.environ.items() if k != "BAREFLOW_UC_EXIT_CHECK"}
    e.update(LIBUNICORN_PATH=str(lib_dir), **env)
    out = subprocess.run([sys.executable, str(SCENARIOS), name, code.hex()], env=e, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(CODE))
def test_a_stop_mid_block_leaves_what_stock_leaves(name, tmp_path):
    src, binf = tmp_path / "c.asm", tmp_path / "c.bin"
    src.write_text(HEAD + CODE[name] + "\n")
    subprocess.run(["nasm", "-f", "bin", "-o", str(binf), str(src)], check=True)
    code = binf.read_bytes()
    stock = _run(STOCK_LIB_DIR, name, code)
    patched = _run(PATCHED_LIB_DIR, name, code)
    every = _run(PATCHED_LIB_DIR, name, code, BAREFLOW_UC_EXIT_CHECK="all")
    assert stock.pop("marker") is None                     # no silent swap of libraries
    assert patched.pop("marker") == every.pop("marker") == engine_build.EXIT_CHECK_MARKER
    assert patched == stock
    assert every == stock
    runs = stock["runs"]
    if name in ("unmapped_store", "unmapped_store_cross", "helper_store_unmapped"):
        assert "UNMAPPED" in runs[-1]["err"]
    elif name == "mem_write_hook_regs":
        assert ["mw", 0x8008, 4, 0x77] in runs[-1]["log"]   # the hook's EBX is seen at once
    elif name != "out_no_stop":
        assert len(runs) >= 2                               # it did stop mid-way, then resumed


# ---------------------------------------------------------------- whole machines
OBSERVE = r"""
import hashlib, json, sys
from bareflow.emu import engine_build
from bareflow.emu.machine import Machine, MachineConfig
from bareflow.emu.trace import TraceSink
spec = json.loads(sys.argv[1])
max_cycles, trace, watch = spec.pop("max_cycles"), spec.pop("trace"), spec.pop("watch", None)
m = Machine(MachineConfig(trace=TraceSink(trace), **spec))
if watch:
    m.add_watchpoint(*watch)
stops = []
for _ in range(3):
    reason = m.run_until_stop(max_cycles)
    stops.append({"reason": str(reason), "message": m.stop_message, "cycles": m.cycles,
                  "instructions": m.instructions, "regs": m.regs(),
                  "ram": hashlib.sha256(bytes(m.board.ram)).hexdigest(),
                  "probe": bytes(m.board.ram[0x7000:0x7010]).hex(),
                  "watch_hit": list(m.watch_hit) if m.watch_hit else None})
    if not (watch and m.watch_hit):
        break
    m.clear_watch_hit()
    m.remove_watchpoint(*watch)
m.fast.flush_frames()
m.close()
print(json.dumps({"engine": engine_build.exit_check(), "stops": stops, "exit_status": m.exit_status,
                  "serial": bytes(m.serial_out).hex()}))
"""


def _both(tmp_path: Path, **spec) -> dict:
    spec = {"max_cycles": 200_000_000, **spec}
    stock = observe(OBSERVE, STOCK_LIB_DIR, tmp_path, "stock", spec)
    patched = observe(OBSERVE, PATCHED_LIB_DIR, tmp_path, "patched", spec)
    assert stock.pop("engine") is None
    assert patched.pop("engine") == engine_build.EXIT_CHECK_MARKER
    for key in stock:
        assert stock[key] == patched[key], key
    return patched


def test_isa_debug_exit_then_stores_in_the_same_block(tmp_path):
    doc = _both(tmp_path, image=str(images.build("exit_out_block.asm")))
    assert doc["exit_status"] == 11
    assert "powered off" in doc["stops"][-1]["message"]


def test_store_to_unmapped_memory_mid_block(tmp_path):
    img = images.build("exit_unmapped_store.asm")
    doc = _both(tmp_path, image=str(img))
    last = doc["stops"][-1]
    assert "wrote unmapped memory at 0xc0000000" in last["message"]
    store = 0x7C00 + img.read_bytes().index(bytes.fromhex("a3000000c0"))   # mov [0xc0000000], eax
    assert f"EIP=0x0008:{store:#010x}" in last["message"]                  # names that instruction
    assert last["regs"]["eip"] == store
    assert last["probe"][8:] == "00" * 12                  # nothing after the faulting store


def test_watchpoint_on_a_store_mid_block(tmp_path):
    doc = _both(tmp_path, image=str(images.build("exit_watch_store.asm")), watch=[0x7004, 4, "write"])
    assert "watchpoint" in doc["stops"][0]["message"]
    assert doc["exit_status"] == 3


def test_the_compiled_helper_list_is_what_the_audit_finds():
    """exit-check.patch compiles in the helpers after which no exit can be pending; the audit
    (tools/unicorn/audit_helpers.py, a call graph of the loaded library's machine code) must
    find exactly those in the library actually built, so the list cannot go stale unnoticed."""
    import re
    import shutil
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) not installed")
    lib = PATCHED_LIB_DIR / "libunicorn.so.2"
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "unicorn" / "audit_helpers.py"), str(lib), "--c"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    found = set(re.findall(r'"([^"]+)"', out))
    patch = (ROOT / "tools" / "unicorn" / "exit-check.patch").read_text()
    start = patch.index("uc_noexit_helper_names[] = {")
    compiled = set(re.findall(r'"([^"]+)"', patch[start:patch.index("};", start)]))
    assert found == compiled
    assert {"addss", "mulps", "cc_compute_all", "divl_EAX"} <= compiled      # arithmetic: no check
    assert not {"outb", "inb", "cpuid", "rdtsc", "sysenter", "load_seg", "fstenv", "cmpxchg8b",
                "iret_protected", "uc_tracecode"} & compiled                   # these keep it
