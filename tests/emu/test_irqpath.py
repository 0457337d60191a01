"""The interrupt path (emu/irqpath.py): where a raised IRQ stops.

Guests: tests/images/irq_lab.inc in six variants, each leaving IRQ0 stopped at a different
stage (8259 mask, IF=0, missing EOI, IDT gate not present, LAPIC TPR via the I/O APIC) or
delivered; their COM1 transcripts are QEMU's (tests/images/irq_*.expected).  Then the stages
on hand-built devices (slave cascade, priority blocking, spurious IRQ7, remote IRR, LINT0,
IDT limit, real-mode IVT, symbols), and `bareflow-emu explain --irq`."""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "images"
sys.path.insert(0, str(IMAGES))

from build import build, run_qemu  # noqa: E402

from bareflow.devices.base.clock import Clock  # noqa: E402
from bareflow.devices.ioapic import IoApic  # noqa: E402
from bareflow.devices.lapic import LocalApic  # noqa: E402
from bareflow.devices.pic import Pic  # noqa: E402
from bareflow.emu.irqpath import IrqFacts, all_paths, irq_path  # noqa: E402
from bareflow.emu.irqpath_report import machine_facts, parse_lines, table_text  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")

ANSWERS = {
    "masked": "IRQ0 (PIT timer) stops at the master 8259: its mask bit (IMR bit 0) is set; "
              "unmask it with outb(0x21, inb(0x21) & ~0x01)",
    "cli": "IRQ0 (PIT timer) stops at the CPU: interrupts are disabled: EFLAGS.IF=0",
    "noeoi": "IRQ0 (PIT timer) stops at the master 8259: IRQ0 is still in service (ISR bit 0 set): the EOI "
             "for its last delivery was not sent",
    "np": "IRQ0 (PIT timer) stops at the IDT gate 0x20: 32-bit interrupt gate, NOT present (P=0): the CPU raises #NP",
    "tpr": "IRQ0 (PIT timer) stops at the local APIC: the task priority TPR=0x60 (class 6) is not below the "
           "vector's class 5: vector 0x50 waits in IRR",
    "open": "IRQ0 (PIT timer) is delivered as vector 0x20 to handler 0x",
}


def run_lab(variant: str) -> Machine:
    m = Machine(MachineConfig(image=str(build(f"irq_{variant}"))))
    assert m.run(max_cycles=100_000_000) == StopReason.POWER_OFF
    assert bytes(m.serial_out) == (IMAGES / f"irq_{variant}.expected").read_bytes()
    return m


@needs_nasm
@pytest.mark.parametrize("variant", sorted(ANSWERS))
def test_lab_answers(variant: str) -> None:
    m = run_lab(variant)
    p = irq_path(machine_facts(m), 0)
    assert p.answer.startswith(ANSWERS[variant]), p.answer
    stops = [s for s in p.stages if s.state == "stops"]
    if variant == "open":
        assert not stops and p.route == "8259" and p.vector == 0x20
        gate = next(s for s in p.stages if s.name == "IDT gate 0x20")
        assert gate.state == "open" and p.answer.endswith(f"{p.handler} (route: 8259)")
    else:
        assert stops and stops[0].fix


@needs_nasm
def test_lab_details() -> None:
    """The stages around the stop: the request waiting in IRR, the route, the later stages."""
    p = irq_path(machine_facts(run_lab("cli")), 0)
    assert "a request is waiting in IRR" in p.stages[0].text and p.stages[0].state == "open"
    p = irq_path(machine_facts(run_lab("tpr")), 0)
    assert p.route == "I/O APIC" and p.stages[0].name == "I/O APIC pin 2" and p.stages[0].state == "open"
    assert "PPR=0x60" in p.stop.text and "0xFEE00080" in p.stop.fix
    assert [s.name for s in p.stages if s.state == "open"][-1] == "IDT gate 0x50"  # later stages shown too
    m = run_lab("masked")
    table = table_text(all_paths(machine_facts(m)))
    assert "IRQ0   PIT timer     8259     0x20   master 8259" in table
    assert "IRQ2   cascade" in table and "IRQ15  IDE secondary 8259     0x2f   slave 8259" in table


@needs_nasm
def test_lab_handler_symbol() -> None:
    """With symbols the answer names the handler (an ELF's, here a table built for the test)."""
    m = run_lab("open")
    f = machine_facts(m)
    handler = irq_path(f, 0).handler
    addr = int(handler, 16)
    named = replace(f, symbolize=lambda a: "timer_isr" if a == addr else "")
    assert irq_path(named, 0).answer.startswith(
        f"IRQ0 (PIT timer) is delivered as vector 0x20 to handler timer_isr at {addr:#010x}")


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("variant", sorted(ANSWERS))
def test_lab_transcripts_qemu(variant: str) -> None:
    out, status = run_qemu(build(f"irq_{variant}"))
    assert status == 1 and out == (IMAGES / f"irq_{variant}.expected").read_bytes()


@needs_nasm
def test_explain_irq_option() -> None:
    img = str(build("irq_noeoi"))
    proc = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "explain", img, "--irq", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.split("The interrupt path at the end of the run:\n", 1)[1].splitlines()
    assert out[0].startswith(ANSWERS["noeoi"])
    assert out[1].startswith("  STOP master 8259: IRQ0 is still in service") and "ISR=00000001" in out[1]
    proc = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "explain", img, "--irq", "all"],
                          capture_output=True, text=True, timeout=120)
    assert "IRQ1   keyboard      8259     0x21   master 8259" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "explain", img, "--irq", "24"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "16-23" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_parse_lines() -> None:
    assert parse_lines("all") is None and parse_lines("0x0e") == [14] and parse_lines("23") == [23]
    for bad in ("x", "-1", "24"):
        with pytest.raises(ValueError):
            parse_lines(bad)


# --------------------------------------------------------------------------- hand-built machines
GDT = bytes(8) + bytes.fromhex("ffff0000009acf00") + bytes.fromhex("ffff00000092cf00")


def gate(offset: int, selector: int = 0x08, access: int = 0x8E) -> bytes:
    return (offset & 0xFFFF).to_bytes(2, "little") + selector.to_bytes(2, "little") + bytes([0, access]) \
        + (offset >> 16).to_bytes(2, "little")


class Mem:
    def __init__(self) -> None:
        self.b = bytearray(0x20000)

    def put(self, addr: int, data: bytes) -> None:
        self.b[addr:addr + len(data)] = data

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.b[addr:addr + n])


def board(idt_gates: int = 0x30):
    """A PC after a protected-mode kernel's setup: 8259 at 0x20/0x28, all unmasked, IF=1."""
    pic = Pic()
    pic.program_like_bios(0x20, 0x28, 0x00, 0x00)
    lapic = LocalApic(clock=Clock(), pic=pic)
    lapic.seabios_setup()
    ioapic = IoApic(lapic=lapic, pic=pic)
    mem = Mem()
    mem.put(0x1000, GDT)
    for v in range(idt_gates):
        mem.put(0x2000 + v * 8, gate(0x100000 + v * 0x10))
    f = IrqFacts(pic=pic, lapic=lapic, ioapic=ioapic, eflags=0x202, mode="protected", cpl=0,
                 gdtr=(0x1000, len(GDT) - 1), idtr=(0x2000, idt_gates * 8 - 1), tr=(0, 0, 0), read=mem.read)
    return f, mem


def test_delivered_and_vectors() -> None:
    f, _ = board()
    for line in (0, 1, 9, 15):
        p = irq_path(f, line)
        assert p.stop is None and p.vector == (0x20 + line if line < 8 else 0x28 + line - 8), p.text()
    assert irq_path(f, 2).answer.startswith("IRQ2 (cascade) is the slave 8259's input")


def test_slave_cascade_masked_and_unremapped_warning() -> None:
    f, _ = board()
    f.pic.io_write(0x21, 1, 0x04)
    p = irq_path(f, 12)
    assert p.stop.name == "cascade (master IRQ2)" and "~0x04" in p.stop.fix
    pic = Pic()
    pic.program_like_bios(0x08, 0x70, 0, 0)
    f2 = replace(f, pic=pic)
    p = irq_path(f2, 0)
    assert p.stop is None and "that vector is the CPU's #DF (8259 not remapped)" in p.answer


def test_higher_priority_in_service_blocks() -> None:
    f, _ = board()
    f.pic.raise_irq(0)
    assert f.pic.acknowledge() == 0x20               # IRQ0 taken, no EOI yet
    p = irq_path(f, 1)
    assert p.stop.name == "master 8259" and "IRQ0 (higher or equal priority) is in service" in p.stop.text
    assert irq_path(f, 9).stop.name == "slave 8259"   # the slave's lines wait behind IRQ0 too
    f.pic.io_write(0x20, 1, 0x20)                     # EOI
    assert irq_path(f, 1).stop is None


def test_spurious_irq7_note_and_icw_incomplete() -> None:
    f, _ = board()
    assert any(s.name == "spurious" for s in irq_path(f, 7).stages)
    f.pic.io_write(0x20, 1, 0x11)                     # ICW1 and nothing after
    p = irq_path(f, 1)
    assert p.stop.name == "master 8259" and "waits for ICW2" in p.stop.text


def test_lint0_masked_and_imcr() -> None:
    f, _ = board()
    f.lapic.mmio_write(0x350, 4, 0x10700)
    p = irq_path(f, 1)
    assert p.route == "I/O APIC" and p.stop.name == "I/O APIC pin 1"   # the 8259 is off the CPU
    f.lapic.imcr_apic_mode = False
    p = irq_path(f, 1)
    assert p.route == "8259" and p.stop is None and any(s.name == "IMCR" for s in p.stages)


def test_ioapic_remote_irr_destination_and_both_routes() -> None:
    f, _ = board()
    io = f.ioapic
    io.mmio_write(0, 4, 0x10 + 2 * 8)
    io.mmio_write(0x10, 4, 0x8030)                    # pin 8: level, vector 0x30
    io.set_irq(8, 1)                                  # delivered: remote IRR set until EOI
    p = irq_path(f, 8)
    assert p.route == "I/O APIC" and p.stop.name == "I/O APIC pin 8" and "remote IRR is set" in p.stop.text
    lapic = next(s for s in p.stages if s.name == "local APIC")
    assert lapic.state == "open" and "waiting in IRR" in lapic.text     # the CPU has not taken it yet
    assert any(s.name == "other route" and "arrives twice" in s.text for s in p.stages)
    io.mmio_write(0, 4, 0x10 + 2 * 3)
    io.mmio_write(0x10, 4, 0x31)
    io.mmio_write(0, 4, 0x11 + 2 * 3)
    io.mmio_write(0x10, 4, 0x05 << 24)                # destination APIC ID 5: nobody
    assert "matches no CPU" in irq_path(f, 3).stop.text


def test_lapic_disabled_and_eoi_missing() -> None:
    f, _ = board()
    f.pic.io_write(0x21, 1, 0xFF)
    io = f.ioapic
    io.mmio_write(0, 4, 0x12)
    io.mmio_write(0x10, 4, 0x21)                      # pin 1: vector 0x21
    f.lapic.mmio_write(0xF0, 4, 0xFF)                 # SVR bit 8 clear
    assert "software-disabled" in irq_path(f, 1).stop.text
    f.lapic.mmio_write(0xF0, 4, 0x1FF)
    f.lapic.set_irq(0x21, False)
    assert f.lapic.acknowledge() == 0x21              # in service, no EOI
    p = irq_path(f, 1)
    assert p.stop.name == "local APIC" and "still in service" in p.stop.text
    f.lapic.mmio_write(0xB0, 4, 0)
    assert irq_path(f, 1).stop is None


def test_idt_problems() -> None:
    f, mem = board(idt_gates=0x21)
    assert "beyond the IDT limit" in irq_path(f, 1).stop.text
    mem.put(0x2000 + 0x20 * 8, gate(0x1234, selector=0x10))
    assert "not a code segment" in irq_path(f, 0).stop.text
    mem.put(0x2000 + 0x20 * 8, gate(0x1234, selector=0x08, access=0x0E))
    assert "NOT present" in irq_path(f, 0).stop.text
    f = replace(f, cpl=3, idtr=(0x2000, 0x30 * 8 - 1))
    mem.put(0x2000 + 0x20 * 8, gate(0x1234))
    assert "no TSS is loaded" in irq_path(f, 0).stop.text
    assert irq_path(replace(f, tr=(0x28, 0x3000, 0x67)), 0).stop is None


def test_real_mode_ivt_and_halted() -> None:
    f, mem = board()
    pic = Pic()
    pic.program_like_bios()                           # 08h/70h, BIOS masks
    mem.put(0x09 * 4, (0xE987).to_bytes(2, "little") + (0xF000).to_bytes(2, "little"))
    f = replace(f, pic=pic, mode="real", idtr=(0, 0x3FF), eflags=0x2, halted=True,
                symbolize=lambda a: "bios_kbd" if a == 0xFE987 else "")
    p = irq_path(f, 1)
    assert p.stop.name == "CPU" and "halted" in p.stop.text
    p = irq_path(replace(f, eflags=0x202), 1)
    assert p.answer.startswith("IRQ1 (keyboard) is delivered as vector 0x09 to handler bios_kbd at 0x000fe987")
    assert "0000:0000" in irq_path(replace(f, eflags=0x202, pic=_unmasked_bios_pic()), 3).stop.text


def _unmasked_bios_pic() -> Pic:
    pic = Pic()
    pic.program_like_bios(master_mask=0, slave_mask=0)
    return pic


def test_hpet_legacy_disconnects_irq0() -> None:
    f, _ = board()
    p = irq_path(replace(f, hpet_legacy=True), 0)
    assert p.stop.name == "line" and "legacy replacement" in p.stop.text


def test_in_service_while_the_handler_runs() -> None:
    f, _ = board()
    f.pic.raise_irq(0)
    f.pic.acknowledge()
    named = replace(f, pc=0x100208, symbolize=lambda a: "timer_isr" if a == 0x100200 else
                    ("timer_isr+0x8" if a == 0x100208 else ""))
    p = irq_path(named, 0)
    assert p.stop.name == "master 8259" and p.handler == "timer_isr at 0x00100200"
    assert any(s.name == "handler" and "inside timer_isr now" in s.text for s in p.stages)
    assert not any(s.name == "handler" for s in irq_path(replace(named, pc=0x5000), 0).stages)


def test_lapic_timer_path() -> None:
    f, _ = board(idt_gates=0x50)
    lapic = f.lapic
    assert all(p.line != -1 for p in all_paths(f))          # masked and idle: not listed
    p = irq_path(f, -1)
    assert p.stop.name == "LVT timer register" and p.stop.text.startswith("the LVT entry is masked (bit 16)")
    lapic.mmio_write(0x320, 4, 0x20040)                       # periodic, vector 0x40
    assert "initial count is 0" in irq_path(f, -1).stop.text
    lapic.mmio_write(0x380, 4, 100000)
    p = irq_path(f, -1)
    assert p.stop is None and p.vector == 0x40 and p.answer.startswith("LAPIC timer is delivered as vector 0x40")
    assert all_paths(f)[-1].label == "LAPIC timer"
    lapic.mmio_write(0x80, 4, 0x40)                           # TPR class 4 = the vector's class
    assert irq_path(f, -1).stop.name == "local APIC"
    assert parse_lines("timer") == [-1]


def test_pci_pins_listed_when_unmasked() -> None:
    f, _ = board()
    assert [p.label for p in all_paths(f)][-1] == "IRQ15"
    f.ioapic.mmio_write(0, 4, 0x10 + 2 * 20)
    f.ioapic.mmio_write(0x10, 4, 0xA029)                      # pin 20: level, active low, vector 0x29
    p = all_paths(f)[-1]
    assert p.label == "pin 20" and p.route == "I/O APIC" and p.stop is None and p.vector == 0x29
    assert "pin 20 PCI           I/O APIC 0x29   delivered" in table_text(all_paths(f))
