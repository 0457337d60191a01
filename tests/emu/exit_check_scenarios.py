"""Raw-Unicorn scenarios for tests/emu/test_unicorn_exit_check.py, one process per library.

    LIBUNICORN_PATH=DIR python exit_check_scenarios.py NAME CODE_HEX   -> one JSON line

Every scenario runs 32-bit code at 0x1000 with RAM at 0-1 MiB (read/write/execute, as BareFlow
maps it), an MMIO page at 0x200000 and nothing at 0x300000, asks for a stop (or hits an error)
in the middle of a translated block, and prints what the engine left behind: the error, every
general register, EIP, EFLAGS, the RAM the code writes, the callbacks' log; then, where the run
only stopped, it resumes from EIP to the HLT and prints the same again.  The test compares these
between PyPI's Unicorn and BareFlow's patched one.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import sys

from unicorn import (UC_ARCH_X86, UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_MEM_READ,
                     UC_HOOK_MEM_WRITE, UC_HOOK_MEM_WRITE_UNMAPPED, UC_MODE_32, UC_PROT_ALL, Uc, UcError)
from unicorn import x86_const as X

REGS = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags"]
MMIO = 0x200000


def state(uc: Uc, err: str | None, log: list) -> dict:
    return {"err": err, "regs": {r: uc.reg_read(getattr(X, "UC_X86_REG_" + r.upper())) for r in REGS},
            "ram": bytes(uc.mem_read(0x8000, 0x80)).hex(),
            "ram_hash": hashlib.sha256(bytes(uc.mem_read(0, 0x100000))).hexdigest(), "log": list(log)}


def main() -> int:
    name, code = sys.argv[1], bytes.fromhex(sys.argv[2])
    from unicorn.unicorn_py3 import unicorn as _ucpy
    marker = getattr(_ucpy.uclib, "uc_bareflow_exit_check", None)
    if marker is not None:
        marker.restype = ctypes.c_char_p
        marker = marker().decode()
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000, UC_PROT_ALL)
    uc.mem_write(0x1000, code)
    uc.reg_write(X.UC_X86_REG_ESP, 0x9000)
    log: list = []
    mmio_mem = bytearray(0x1000)
    stop_after = {"mmio_write_stop": 1, "mmio_loop_stop": 3, "helper_mmio_stop": 1}.get(name, 0)

    def mmio_read(uc, offset, size, _ud):
        log.append(["r", offset, size])
        if name == "mmio_read_stop":
            uc.emu_stop()
        return int.from_bytes(mmio_mem[offset:offset + size], "little") or 0x5A5A5A5A & ((1 << 8 * size) - 1)

    def mmio_write(uc, offset, size, value, _ud):
        log.append(["w", offset, size, value])
        mmio_mem[offset:offset + size] = value.to_bytes(size, "little")
        writes = sum(1 for e in log if e[0] == "w")
        if stop_after and writes == stop_after:
            uc.emu_stop()

    uc.mmio_map(MMIO, 0x1000, mmio_read, None, mmio_write, None)

    if name in ("out_stop", "out_no_stop"):
        def on_out(uc, port, size, value, _ud):
            log.append(["out", port, size, value])
            if name == "out_stop":
                uc.emu_stop()
        uc.hook_add(UC_HOOK_INSN, on_out, None, 1, 0, X.UC_X86_INS_OUT)
    if name == "in_stop":
        def on_in(uc, port, size, _ud):
            log.append(["in", port, size])
            uc.emu_stop()
            return 0x42
        uc.hook_add(UC_HOOK_INSN, on_in, None, 1, 0, X.UC_X86_INS_IN)
    if name == "cpuid_stop":
        def on_cpuid(uc, _ud):
            log.append(["cpuid"])
            uc.emu_stop()
            return 0
        uc.hook_add(UC_HOOK_INSN, on_cpuid, None, 1, 0, X.UC_X86_INS_CPUID)
    if name == "code_hook_stop":
        def on_code(uc, address, size, _ud):
            log.append(["code", address])
            uc.emu_stop()
        uc.hook_add(UC_HOOK_CODE, on_code, None, 0x1010, 0x1010)
    if name == "block_hook_stop":
        def on_block(uc, address, size, _ud):
            log.append(["block", address, size])
            if len(log) == 2:
                uc.emu_stop()
        uc.hook_add(UC_HOOK_BLOCK, on_block, None, 1, 0)
    if name in ("mem_write_hook_stop", "mem_write_hook_regs"):
        def on_write(uc, access, address, size, value, _ud):
            log.append(["mw", address, size, value])
            if address == 0x8004:
                if name == "mem_write_hook_stop":
                    uc.emu_stop()
                else:
                    uc.reg_write(X.UC_X86_REG_EBX, 0x77)
        uc.hook_add(UC_HOOK_MEM_WRITE, on_write, None, 0x8000, 0x8fff)
    if name == "mem_read_hook_stop":
        def on_read(uc, access, address, size, value, _ud):
            log.append(["mr", address, size])
            if address == 0x8020:
                uc.emu_stop()
        uc.hook_add(UC_HOOK_MEM_READ, on_read, None, 0x8000, 0x8fff)
    if name.startswith("unmapped") or name == "helper_store_unmapped":
        def on_unmapped(uc, access, address, size, value, _ud):
            log.append(["unmapped", address, size, value])
            return False
        uc.hook_add(UC_HOOK_MEM_WRITE_UNMAPPED, on_unmapped, None, 1, 0)

    runs = []
    begin = 0x1000
    for _ in range(6):                       # stop, resume ... until the HLT or an error
        err = None
        try:
            uc.emu_start(begin, 0)
        except UcError as e:
            err = str(e)
        runs.append(state(uc, err, log))
        eip = uc.reg_read(X.UC_X86_REG_EIP)
        if err is not None or eip == 0x1000 + len(code):     # the code ends with its HLT
            break
        begin = eip
    print(json.dumps({"marker": marker, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
