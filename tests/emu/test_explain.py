"""The fault explainer on crafted faults (end to end through the BIOS and our delivery code),
on a frozen state built by hand (unit), and on the command line (one-line stop message first,
the explanation after it on stderr)."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.explain import FaultContext, FaultWatcher, explain  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

EMU = [sys.executable, "-m", "bareflow.emu.cli"]


def run_image(name: str):
    m = Machine(MachineConfig(image=images.build(name)))
    w = FaultWatcher(m)
    reason = m.run(500_000_000)
    return m, w, reason


def test_gp_on_a_bad_selector():
    m, w, reason = run_image("fault_gp_selector.asm")
    assert reason == StopReason.POWER_OFF and m.exit_status == (0x0D << 1) | 1   # the #GP handler ran
    e = w.last
    assert e.summary == "#GP(0x48): selector 0x48 lies beyond the GDT limit 0x17"
    assert e.steps == ["#GP(0x48) was delivered through IDT entry 13 to 0x0008:%#x." % _handler(m)]
    assert e.outcome == "the #GP handler runs"
    assert "GDTR: base %#x, limit 0x17 (3 descriptors: selectors 0x0 to 0x10)" % m.gdtr[0] in e.descriptors
    assert any(d.startswith("GDT[1] selector 0x0008: ff ff 00 00 00 9a cf 00  code (readable)") or
               d.startswith("GDT[1] selector 0x0008: ff ff 00 00 00 9b cf 00  code (readable)") for d in e.descriptors)
    assert e.instructions[-1].endswith("mov ds, eax   <-- faulted here")
    assert any("mov ax, 0x48" in i for i in e.instructions)


def _handler(m: Machine) -> int:
    raw = m.read_mem(m.idtr[0] + 13 * 8, 8)
    return struct.unpack_from("<H", raw, 0)[0] | struct.unpack_from("<H", raw, 6)[0] << 16


def test_idt_with_limit_zero():
    m, w, reason = run_image("fault_idt_limit.asm")
    assert reason == StopReason.TRIPLE_FAULT
    e = w.last
    assert e.summary == "IDT limit is 0, so vector 0x30 cannot be delivered"
    assert e.steps[0] == "Delivering int 0x30: IDT limit is 0, so vector 0x30 cannot be delivered -> #GP(0x182)."
    assert e.steps[1] == "Delivering #GP(0x182): IDT limit is 0, so vector 13 cannot be delivered -> #GP(0x6a)."
    assert "#GP then #GP: two contributory exceptions in a row make a double fault" in e.steps[2]
    assert e.steps[3].startswith("Delivering #DF(0): IDT limit is 0, so vector 8 cannot be delivered")
    assert e.outcome == "triple fault"
    assert "IDTR: base 0x0, limit 0 (0 gates)" in e.descriptors
    assert e.instructions[-1].endswith("int 0x30")


def test_not_present_gates():
    m, w, reason = run_image("fault_not_present.asm")
    assert reason == StopReason.TRIPLE_FAULT
    e = w.last
    assert e.summary == "#GP(0x48): selector 0x48 lies beyond the GDT limit 0x17"
    assert e.steps[0] == "Delivering #GP(0x48): IDT entry 13 is not present -> #NP(0x6a)."
    assert e.steps[1].startswith("#GP then #NP: two contributory exceptions in a row make a double fault")
    assert e.steps[2] == "Delivering #DF(0): IDT entry 8 is not present -> #NP(0x42)."
    assert e.outcome == "triple fault"
    gate8 = [d for d in e.descriptors if d.startswith("IDT entry 8:")]
    assert gate8 and gate8[0].endswith("DPL 0, NOT present") and " 0e 00 00" in gate8[0]


def test_stack_overflow_into_a_double_fault():
    m, w, reason = run_image("fault_stack.asm")
    assert reason == StopReason.TRIPLE_FAULT
    e = w.last
    assert e.summary == "#GP(0x48): selector 0x48 lies beyond the GDT limit 0x1f"
    assert e.steps[0] == ("Delivering #GP(0x48): the CPU cannot push the 16-byte #GP frame: SS:ESP=0x18:0x8 and "
                          "the stack segment's limit is 0xfff -> #SS(0).")
    assert e.steps[1].startswith("#GP then #SS: two contributory exceptions in a row make a double fault (#DF")
    assert e.steps[2].startswith("Delivering #DF(0): the CPU cannot push the 16-byte #DF frame")
    assert e.outcome == "triple fault"
    assert any(d.startswith("GDT[3] SS selector 0x0018: ff 0f 00 00 08 93 40 00  data (writable), base 0x80000, "
                            "limit 0xfff") for d in e.descriptors)


# ---------------------------------------------------------------- a frozen state, no guest
def _ctx(gdt: bytes, idt: bytes, insn: bytes, **kw) -> FaultContext:
    mem = bytearray(0x4000)
    mem[0x1000:0x1000 + len(gdt)] = gdt
    mem[0x2000:0x2000 + len(idt)] = idt
    mem[0x3000:0x3000 + len(insn)] = insn
    regs = {"cs": 8, "ss": 0x10, "esp": 0x3F00, "eax": 0x23, "cr4": 0}
    regs.update(kw.pop("regs", {}))
    return FaultContext(vector=kw.pop("vector", 13), kind=kw.pop("kind", "exception"),
                        error_code=kw.pop("error_code", 0), cs=8, eip=0x3000, protected=True, code32=True,
                        regs=regs, gdtr=(0x1000, len(gdt) - 1), idtr=(0x2000, max(0, len(idt) - 1)),
                        read_mem=lambda a, n: bytes(mem[a:a + n]), **kw)


FLAT = bytes(8) + bytes.fromhex("ffff0000009acf00") + bytes.fromhex("ffff00000092cf00")


def _gate(offset: int, sel: int = 8, attr: int = 0x8E) -> bytes:
    return struct.pack("<HHBBH", offset & 0xFFFF, sel, 0, attr, offset >> 16)


def test_unit_selector_kinds():
    idt = b"".join(_gate(0x3800) for _ in range(32))
    # mov ss, ax with a code selector
    e = explain(_ctx(FLAT, idt, bytes.fromhex("8ed0"), error_code=0x08, regs={"eax": 8}))
    assert e.summary == "#GP(0x8): selector 0x8 is a code segment; SS needs a writable data segment"
    # far jump to a data selector
    e = explain(_ctx(FLAT, idt, bytes.fromhex("ea00100000" "1000"), error_code=0x10))
    assert e.summary == "#GP(0x10): selector 0x10 is a data segment; a far jump or call needs a code segment"
    # not-present data descriptor -> #NP
    gdt = FLAT + bytes.fromhex("ffff00000012cf00")
    e = explain(_ctx(gdt, idt, bytes.fromhex("8ed8"), vector=11, error_code=0x18, regs={"eax": 0x18}))
    assert e.summary == "#NP(0x18): the descriptor of selector 0x18 is not present (P=0), so loading it into DS faults"
    # LDT selector
    e = explain(_ctx(FLAT, idt, bytes.fromhex("8ed8"), error_code=0x0C, regs={"eax": 0x0C}))
    assert e.summary.startswith("#GP(0xc): selector 0xc has TI=1 (it refers to the LDT)")


def test_unit_sse_without_osfxsr_and_gate_problems():
    idt = b"".join(_gate(0x3800) for _ in range(32))
    e = explain(_ctx(FLAT, idt, bytes.fromhex("0f28c1"), vector=6, error_code=None))   # movaps xmm0, xmm1
    assert e.summary == "#UD: movaps xmm0, xmm1 is an SSE instruction and CR4.OSFXSR is clear: the OS has not enabled SSE"
    assert e.steps[0].startswith("#UD was delivered through IDT entry 6")
    # a gate whose code selector lies beyond the GDT: #GP(sel) (QEMU: no EXT bit), then #DF is delivered
    bad = bytearray(idt)
    bad[13 * 8:14 * 8] = _gate(0x3800, sel=0x48)
    e = explain(_ctx(FLAT, bytes(bad), bytes.fromhex("8ed8"), error_code=0x48, regs={"eax": 0x48}))
    assert e.steps[0] == ("Delivering #GP(0x48): IDT entry 13 points at selector 0x48, which lies beyond the GDT "
                          "limit 0x17 -> #GP(0x48).")
    assert e.steps[-1].startswith("#DF(0) was delivered through IDT entry 8")
    assert e.outcome == "the double-fault handler runs"
    # INT n through a DPL 0 gate from ring 3
    e = explain(_ctx(FLAT, b"".join(_gate(0x3800) for _ in range(0x31)), bytes.fromhex("cd30"), vector=0x30,
                     kind="software", error_code=None, cpl=3))
    assert e.summary == "int 0x30 from CPL 3 through IDT entry 0x30 whose DPL is 0"


# ---------------------------------------------------------------- the command line
def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    return subprocess.run(EMU + list(args), capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def test_cli_run_prints_the_stop_line_then_the_explanation():
    r = run_cli("run", str(images.build("fault_not_present.asm")), "--no-stdin", "--no-reboot")
    assert r.returncode == 65
    lines = r.stderr.decode().splitlines()
    assert lines[0].startswith("bareflow-emu: triple fault: ")
    assert lines[1] == "#GP(0x48): selector 0x48 lies beyond the GDT limit 0x17"
    assert "  3. Delivering #DF(0): IDT entry 8 is not present -> #NP(0x42)." in lines
    assert "Outcome: triple fault" in lines and "Last instructions executed:" in lines


def test_cli_explain_shows_the_cause_in_the_journey():
    r = run_cli("explain", str(images.build("fault_idt_limit.asm")), "--brief")
    assert r.returncode == 65
    assert "IDT limit is 0, so vector 0x30 cannot be delivered" in r.stdout.decode()
    assert r.stderr.decode().splitlines()[1] == "IDT limit is 0, so vector 0x30 cannot be delivered"


def test_unit_irq_through_a_short_idt():
    ctx = _ctx(FLAT, b"".join(_gate(0x3800) for _ in range(32)), b"\x90", vector=0x20, kind="hardware",
               error_code=None)
    e = explain(ctx)
    assert e.summary == "IDT limit is 0xff, so vector 0x20 cannot be delivered"
    assert e.steps[0] == "Delivering IRQ vector 0x20: IDT limit is 0xff, so vector 0x20 cannot be delivered -> #GP(0x102)."
    assert e.steps[1].startswith("#GP(0x102) was delivered through IDT entry 13")


def test_real_mode_blocks_are_listed_as_16_bit_code(tmp_path):
    """`cf` is `iret` in real mode and `iretd` in 32-bit code, with the same boundaries: the
    recent instructions of a real-mode fault are decoded as the CPU ran them (16-bit)."""
    src = tmp_path / "rm_ud.asm"
    src.write_text("bits 16\norg 0x7c00\nxor ax, ax\ninc ax\nud2\ntimes 510-($-$$) db 0\ndw 0xaa55\n")
    img = tmp_path / "rm_ud.img"
    subprocess.run(["nasm", "-f", "bin", "-o", str(img), str(src)], check=True)
    m = Machine(MachineConfig(image=img))
    w = FaultWatcher(m)
    m.run(2_000_000)          # the BIOS's default #UD handler IRETs back to the ud2, again and again
    insns = w.last.instructions
    assert insns[-1].endswith("ud2   <-- faulted here")
    assert any(i.endswith(": iret") for i in insns) and not any("iretd" in i for i in insns), insns
