"""Unicorn with BareFlow's store-path patch (tools/unicorn/, docs/performance.md "Why every
store was slow").

- Which engine runs: when tools/setup.sh built and installed the patched wheel, the library
  this process loaded must be it (its marker function, the wheel's version and the patch's key).
- Self-modifying code stays exact with the patch: a guest patches code it already ran on the
  same page, on another page, on a page it had only written data to before (whose TLB entry was
  filled while the page held no code), through a paging alias, with a string copy, and the next
  instruction of the running block.  A patch that forgot any of these would run stale code.
- Stores leave the slow path: a store loop runs about as fast as the same loop with loads (the
  stock 2.1.4 library: ~15x slower), so this fails on the old behaviour.
- Stock vs patched give the same cycles, instructions, registers, RAM, COM1, profile and event
  trace on whole-machine runs (each in its own process, LIBUNICORN_PATH choosing the library,
  each checked to have loaded the engine it was meant to).
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import engine_build  # noqa: E402

STAMP = Path(sys.prefix) / ".bareflow-unicorn"        # written by tools/unicorn/install.sh
sys.path.insert(0, str(ROOT / "tests" / "emu"))
from engines import PATCHED_LIB_DIR, STOCK_LIB_DIR, observe  # noqa: E402
PATCHED = engine_build.store_patch() is not None


def _setup_built_it() -> bool:
    return STAMP.exists() and STAMP.read_text().startswith("patched ") and "LIBUNICORN_PATH" not in os.environ


def _key() -> str:
    """tools/unicorn/version.sh's UC_KEY (the sdist, every patch, the build script)."""
    return subprocess.run(["bash", "-c", '. "$0"; printf %s "$UC_KEY"', str(ROOT / "tools" / "unicorn" / "version.sh")],
                          capture_output=True, text=True, check=True).stdout


def test_the_engine_setup_built_is_the_one_loaded():
    if not _setup_built_it():
        pytest.skip("tools/setup.sh did not install the patched Unicorn here (stock PyPI wheel)")
    from importlib.metadata import version
    assert engine_build.store_patch() == engine_build.PATCH_MARKER
    assert version("unicorn") == f"2.1.4+bareflow.{_key()}"      # stale: run tools/setup.sh again
    assert STAMP.read_text().split() == ["patched", _key()]
    assert "store-path patch" in engine_build.describe()


def test_version_option_names_the_engine():
    out = subprocess.run([sys.executable, "-m", "bareflow.tui.cli", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("bareflow-emu ") and "unicorn 2.1.4" in out
    assert ("store-path patch" in out) == PATCHED


# ---------------------------------------------------------------- self-modifying code, raw Unicorn
SMC_ASM = r"""
bits 32
org 0x1000
RES equ 0x8000
start:
    mov esp, 0x9000
    call f1                             ; 1. the same page
    mov [RES+0], eax
    mov dword [f1+1], 2
    call f1
    mov [RES+4], eax
    call 0x2000                         ; 2. another page
    mov [RES+8], eax
    mov dword [0x2001], 11
    call 0x2000
    mov [RES+12], eax
    mov edi, 0x3000                     ; 3. a data page (stores first) that becomes code
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [0x3000], 0x000014B8      ;    mov eax, 20
    mov word [0x3004], 0xC300           ;    ret
    call 0x3000
    mov [RES+16], eax
    mov dword [0x3001], 21              ;    patched through the TLB entry filled before
    call 0x3000
    mov [RES+20], eax
    mov eax, 0x5000                     ; 4. paging: page 0x4000 written through an alias
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000001
    mov cr0, eax
    jmp .pg
.pg:
    mov dword [0x400000], 0x00001EB8    ;    mov eax, 30 (through virtual 0x400000)
    mov word [0x400004], 0xC300
    call 0x4000                         ;    run at its identity address
    mov [RES+24], eax
    mov dword [0x400001], 31            ;    patched through the alias
    call 0x4000
    mov [RES+28], eax
    call 0xA000                         ; 5. a string copy over code that ran
    mov [RES+32], eax
    mov esi, body41
    mov edi, 0xA000
    mov ecx, 6
    rep movsb
    call 0xA000
    mov [RES+36], eax
    mov byte [.next+1], 51              ; 6. the next instruction of this block
.next:
    mov eax, 50
    mov [RES+40], eax
    mov dword [RES+44], 0x600D
    hlt
f1:
    mov eax, 1
    ret
body41:
    mov eax, 41
    ret
times 0x2000-0x1000-($-$$) db 0x90
    mov eax, 10                         ; 0x2000
    ret
times 0x5000-0x1000-($-$$) db 0
    dd 0x6000 | 3                       ; 0x5000: the page directory
    dd 0x7000 | 3
times 0x6000-0x1000-($-$$) db 0
%assign i 0
%rep 1024
    dd (i << 12) | 3                    ; 0x6000: identity, the first 4 MiB
%assign i i+1
%endrep
    dd 0x4000 | 3                       ; 0x7000: virtual 0x400000 -> physical 0x4000
times 0xA000-0x1000-($-$$) db 0
    mov eax, 40                         ; 0xA000
    ret
"""
SMC_EXPECTED = (1, 2, 10, 11, 20, 21, 30, 31, 40, 41, 51, 0x600D)

LOOPS_ASM = r"""
bits 32
org 0x1000
    mov ebx, 0x8000                     ; 0x1000: eight dword stores per iteration
.s: mov [ebx], eax
    mov [ebx+4], eax
    mov [ebx+8], eax
    mov [ebx+12], eax
    mov [ebx+16], eax
    mov [ebx+20], eax
    mov [ebx+24], eax
    mov [ebx+28], eax
    dec ecx
    jnz .s
    hlt
times 0x100-($-$$) db 0x90
    mov ebx, 0x8000                     ; 0x1100: the same with loads
.l: mov eax, [ebx]
    mov edx, [ebx+4]
    mov eax, [ebx+8]
    mov edx, [ebx+12]
    mov eax, [ebx+16]
    mov edx, [ebx+20]
    mov eax, [ebx+24]
    mov edx, [ebx+28]
    dec ecx
    jnz .l
    hlt
"""


def _nasm(tmp_path: Path, name: str, source: str) -> bytes:
    src, out = tmp_path / f"{name}.asm", tmp_path / f"{name}.bin"
    src.write_text(source)
    subprocess.run(["nasm", "-f", "bin", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def _engine(code: bytes):
    from unicorn import UC_ARCH_X86, UC_MODE_32, UC_PROT_ALL, Uc
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000, UC_PROT_ALL)    # RAM as BareFlow maps it: readable, writable, executable
    uc.mem_write(0x1000, code)
    return uc


def test_self_modifying_code_is_still_seen(tmp_path):
    uc = _engine(_nasm(tmp_path, "smc", SMC_ASM))
    uc.emu_start(0x1000, 0)                 # HLT ends the run
    assert struct.unpack("<12I", uc.mem_read(0x8000, 48)) == SMC_EXPECTED


def test_stores_take_the_fast_path(tmp_path):
    """Patched: a store loop costs about what the same loop of loads costs.  Stock 2.1.4 sends
    every store through store_helper/notdirty_write: 14-18x the loads' time on this machine."""
    if not PATCHED:
        pytest.skip("stock Unicorn loaded (tools/setup.sh could not build the patched one)")
    from unicorn.x86_const import UC_X86_REG_ECX
    uc = _engine(_nasm(tmp_path, "loops", LOOPS_ASM))

    def cpu(begin: int) -> float:
        uc.reg_write(UC_X86_REG_ECX, 300_000)
        t = time.process_time()
        uc.emu_start(begin, 0)
        return time.process_time() - t

    cpu(0x1000), cpu(0x1100)                # translate both
    ratios = [cpu(0x1000) / max(cpu(0x1100), 1e-4) for _ in range(5)]
    assert sorted(ratios)[2] < 4.0, ratios


# ---------------------------------------------------------------- stock vs patched, whole machine
OBSERVE = r"""
import hashlib, json, sys
from bareflow.emu import engine_build
from bareflow.emu.machine import Machine, MachineConfig
from bareflow.emu.trace import TraceSink
spec = json.loads(sys.argv[1])
max_cycles, trace = spec.pop("max_cycles"), spec.pop("trace")
m = Machine(MachineConfig(trace=TraceSink(trace), **spec))
reason = m.run(max_cycles)
m.fast.flush_frames()
m.close()
print(json.dumps({
    "engine": engine_build.store_patch(), "reason": str(reason), "cycles": m.cycles,
    "instructions": m.instructions, "regs": m.regs(),
    "ram": hashlib.sha256(bytes(m.board.ram)).hexdigest(), "serial": bytes(m.serial_out).hex(),
    "profile": [(p["name"], p["calls"], p["exclusive_cycles"]) for p in m.profile_table()],
}))
"""


def _stock_vs_patched(tmp_path: Path, **spec) -> dict:
    if not PATCHED or not (STOCK_LIB_DIR / "libunicorn.so.2").exists():
        pytest.skip("needs the patched Unicorn and PyPI's library beside it (tools/setup.sh)")
    spec = {"max_cycles": None, **spec}
    stock = observe(OBSERVE, STOCK_LIB_DIR, tmp_path, "stock", spec)
    patched = observe(OBSERVE, PATCHED_LIB_DIR, tmp_path, "patched", spec)
    assert stock.pop("engine") is None                         # no silent swap of libraries
    assert patched.pop("engine") == engine_build.PATCH_MARKER
    for key in stock:
        assert stock[key] == patched[key], key
    return patched


def test_smc_guest_identical_on_both_engines(tmp_path):
    doc = _stock_vs_patched(tmp_path, image=str(images.build("core_smc.asm")), max_cycles=500_000_000)
    rows = [line.split() for line in bytes.fromhex(doc["serial"]).decode().splitlines() if line.strip()]
    assert [int(r[0], 16) for r in rows] == [1, 9, 1]


def test_fluid_llama_identical_on_both_engines(tmp_path):
    img = tmp_path / "llama.img"
    img.write_bytes((ROOT / "images" / "fluid_llama.img").read_bytes())
    subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img),
                    'prompt="Once upon a time" steps=48 exit=1'], check=True, capture_output=True)
    doc = _stock_vs_patched(tmp_path, image=str(img), symbols=str(ROOT / "images" / "tinyllama_bare.elf"))
    assert (doc["cycles"], doc["instructions"]) == (110_135_667, 36_915_989)


def test_linux_decompressor_identical_on_both_engines(tmp_path):
    from bareflow.tools import guests
    found = sorted(guests.LINUX_CACHE.glob("boot/vmlinuz-*-686"))
    if not found:
        pytest.skip("no cached Debian kernel (python -m bareflow.tools.guests linux)")
    doc = _stock_vs_patched(tmp_path, image="", kernel=str(found[-1]), append=guests.LINUX_APPEND,
                            memory_mb=64, no_reboot=True, max_cycles=300_000_000)
    assert doc["cycles"] >= 300_000_000
