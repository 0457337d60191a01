"""Issue 10 test kernels: local APIC, I/O APIC, PCI configuration space, firmware tables and
CPUID print the same COM1 transcript under qemu-system-i386 and under BareFlow.

Each tests/images/kern_*.asm is a protected-mode guest; its expected transcript
(tests/images/kern_*.expected) was recorded under
`qemu-system-i386 -m 64 -net none` (SeaBIOS 1.16.2, QEMU 7.2).  The QEMU test keeps that file
honest; the BareFlow test runs the full Machine.
Nothing printed depends on host timing (timers count ticks, then print), so the transcripts
are byte-identical run after run under QEMU as well.
"""
from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "images"))

import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

KERNELS = {"kern_cpuid": [], "kern_pci": [], "kern_lapic": [], "kern_ioapic": [], "kern_acpi": [], "kern_hpet": [], "kern_apicregs": [], "kern_pcimask": [], "kern_apicoff": [],
           "kern_tables": [], "kern_pcibios": [], "kern_hotplug": []}
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")


def expected(name: str) -> bytes:
    return (HERE.parent / "images" / f"{name}.expected").read_bytes()


def ours(name: str) -> Machine:
    m = Machine(MachineConfig(image=images.build(name)))
    assert m.run(max_cycles=20_000_000_000) == StopReason.POWER_OFF, m.stop_message
    return m


@needs_nasm
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_transcript_ours(name: str) -> None:
    m = ours(name)
    assert bytes(m.serial_out).decode("latin-1") == expected(name).decode("latin-1")
    assert m.exit_status == 1


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_transcript_qemu(name: str) -> None:
    out, status = images.run_qemu(images.build(name), timeout=60, extra=["-net", "none", *KERNELS[name]])
    assert status == 1
    assert out.decode("latin-1") == expected(name).decode("latin-1")


@needs_nasm
def test_lapic_kernel_is_deterministic() -> None:
    """The LAPIC timer ticks from the cycle clock: same cycles and output every run."""
    a, b = ours("kern_lapic"), ours("kern_lapic")
    assert (a.cycles, a.instructions, bytes(a.serial_out)) == (b.cycles, b.instructions, bytes(b.serial_out))


@needs_nasm
def test_snapshot_restore_with_apic_timer_armed() -> None:
    """A snapshot taken while the LAPIC timer is armed replays to the same end."""
    m = Machine(MachineConfig(image=images.build("kern_lapic")))
    # run until the periodic timer has been programmed, then snapshot
    c = 0
    while not m.devices["lapic"].state()["timer_armed"]:
        c += 200_000
        assert c < 200_000_000 and m.run(max_cycles=c) == StopReason.CYCLE_LIMIT
    snap = m.snapshot()
    assert m.run(max_cycles=20_000_000_000) == StopReason.POWER_OFF
    first = (m.cycles, bytes(m.serial_out))
    m.restore(snap)
    assert m.run(max_cycles=20_000_000_000) == StopReason.POWER_OFF
    assert (m.cycles, bytes(m.serial_out)) == first


# ---- units: no guest ----------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.t = 0
        self.events: list = []

    def now(self) -> int:
        return self.t

    def schedule(self, cycle, cb, name=""):
        from bareflow.emu.clock import Event
        ev = Event(cycle, len(self.events), cb, name)
        self.events.append(ev)
        return ev

    def fire_until(self, t: int) -> None:
        self.t = t
        for ev in sorted(self.events, key=lambda e: (e.cycle, e.seq)):
            if not ev.cancelled and ev.cycle <= t and not getattr(ev, "_done", False):
                ev._done = True
                ev.callback(ev.cycle)


class _Pic:
    intr = False

    def acknowledge(self) -> int:
        return 0x20


def _lapic():
    from bareflow.devices.lapic import LocalApic
    clock = _Clock()
    return LocalApic(clock=clock, pic=_Pic()), clock


def test_lapic_periodic_timer_counts_at_qemu_rate() -> None:
    """1 GHz / 16 with initial count 1000: a tick every 16 us = 1600 cycles at 100 MHz."""
    apic, clock = _lapic()
    apic.mmio_write(0xF0, 4, 0x1FF)
    apic.mmio_write(0x3E0, 4, 0x3)
    apic.mmio_write(0x320, 4, 0x20040)
    apic.mmio_write(0x380, 4, 1000)
    clock.fire_until(800)
    assert apic.mmio_read(0x390, 4) == 1000 - 500     # 8 us in: 500 of 1001 ticks gone
    fired = []
    for t in range(1, 6):
        clock.fire_until(t * 1602)
        if apic.intr_pending():
            fired.append(apic.acknowledge())
            apic.mmio_write(0xB0, 4, 0)
    assert fired == [0x40] * 5


def test_lapic_tpr_blocks_and_ppr() -> None:
    apic, _ = _lapic()
    apic.mmio_write(0xF0, 4, 0x1FF)
    apic.mmio_write(0x80, 4, 0x50)
    apic.mmio_write(0x300, 4, 0x44041)      # self-IPI, vector 0x41
    assert not apic.intr_pending()
    assert apic.mmio_read(0x220, 4) == 1 << 1
    apic.mmio_write(0x80, 4, 0x30)
    assert apic.intr_pending() and apic.acknowledge() == 0x41
    assert apic.mmio_read(0xA0, 4) == 0x40  # PPR follows the in-service vector
    assert apic.mmio_read(0x120, 4) == 1 << 1


def test_lapic_extint_and_masked_lint0() -> None:
    apic, _ = _lapic()
    apic.pic.intr = True
    apic.mmio_write(0x350, 4, 0x700)
    assert apic.intr_pending() and apic.acknowledge() == 0x20
    apic.mmio_write(0x350, 4, 0x10700)
    assert not apic.intr_pending()
    apic.msr_write(0xFEE00000)              # globally disabled: LINT0's LVT still applies (QEMU)
    assert not apic.intr_pending() and not apic.cpuid_apic
    apic.mmio_write(0x350, 4, 0x700)
    assert apic.intr_pending()
    apic.msr_write(0xFEE00800)              # cannot be enabled again before a reset
    assert not apic.cpuid_apic


def test_ioapic_level_remote_irr_and_eoi() -> None:
    from bareflow.devices.ioapic import IoApic
    apic, _ = _lapic()
    apic.mmio_write(0xF0, 4, 0x1FF)
    io = IoApic(lapic=apic)
    io.mmio_write(0, 4, 0x20)
    io.mmio_write(0x10, 4, 0x8052)          # pin 8: level, vector 0x52
    io.set_irq(8, 1)
    io.mmio_write(0, 4, 0x20)
    assert io.mmio_read(0x10, 4) & (1 << 14)
    assert apic.acknowledge() == 0x52
    apic.mmio_write(0xB0, 4, 0)             # EOI, line still high: delivered again
    assert io.mmio_read(0x10, 4) & (1 << 14) and apic.mmio_read(0x220, 4) == 1 << 18
    io.set_irq(8, 0)
    assert apic.acknowledge() == 0x52
    apic.mmio_write(0xB0, 4, 0)
    assert not io.mmio_read(0x10, 4) & (1 << 14)


def test_pci_config_mechanism_and_bar_sizing() -> None:
    from bareflow.devices.i440fx import i440fx_functions
    from bareflow.devices.pci import PciHost
    host = PciHost(i440fx_functions())
    host.io_write(0xCF8, 4, 0x80001010)     # 00:02.0 BAR0
    host.io_write(0xCFC, 4, 0xFFFFFFFF)
    assert host.io_read(0xCFC, 4) == 0xFF000008
    host.io_write(0xCF8, 4, 0x80000000)
    assert host.io_read(0xCFC, 4) == 0x12378086
    assert host.io_read(0xCFE, 2) == 0x1237
    host.io_write(0xCF8, 4, 0x80001800)     # 00:03.0: nothing there
    assert host.io_read(0xCFC, 4) == 0xFFFFFFFF
    host.io_write(0xCF8, 2, 0)              # not a 32-bit access: ignored
    assert host.io_read(0xCF8, 4) == 0x80001800


def test_tables_checksums_and_layout() -> None:
    from bareflow.emu.bios import tables as T
    fp, mpct = T.mp_tables(0xF5BB0)
    assert sum(fp) & 0xFF == 0 and sum(mpct) & 0xFF == 0 and len(mpct) == 0xC8
    blob, rsdt_at = T.acpi_blob(0x3FE0000)
    rsdt = blob[rsdt_at - 0x3FE0000:]
    assert rsdt[:4] == b"RSDT" and sum(rsdt) & 0xFF == 0
    ptrs = struct.unpack_from("<3I", rsdt, 36)
    assert len(rsdt) == 36 + 16                                  # FACP, APIC, HPET, WAET
    sigs = [blob[p - 0x3FE0000:p - 0x3FE0000 + 4] for p in ptrs]
    assert sigs == [b"FACP", b"APIC", b"HPET"]
    assert sum(T.rsdp(rsdt_at)) & 0xFF == 0
    s = T.smbios_structures(64 << 20)
    ep = T.smbios_entry(0xF5A10, s)
    assert sum(ep) & 0xFF == 0 and sum(ep[0x10:]) & 0xFF == 0
    assert [x[0] for x in s] == [0, 1, 3, 4, 16, 17, 19, 32, 127]


def test_cpuid_apic_bit_follows_the_board() -> None:
    from bareflow.emu.cpuid import LEAF1, qemu72_override
    assert LEAF1[3] & (1 << 9)
    assert qemu72_override(0x40000000, 0)[1:] == tuple(int.from_bytes(s, "little") for s in (b"TCGT", b"CGTC", b"GTCG"))
    assert qemu72_override(7, 3) == qemu72_override(4, 3)      # above the maximum: leaf 4


def test_imcr_pic_mode_bypasses_masked_lint0() -> None:
    from bareflow.devices.imcr import Imcr
    apic, _ = _lapic()
    imcr = Imcr(lapic=apic)
    imcr.reset()
    apic.pic.intr = True
    apic.mmio_write(0x350, 4, 0x10700)      # LINT0 masked: virtual wire blocks the 8259
    assert not apic.intr_pending()
    imcr.io_write(0x22, 1, 0x70)
    imcr.io_write(0x23, 1, 0x00)            # PIC mode
    assert apic.intr_pending()
    assert imcr.io_read(0x23, 1) == 0xFF    # write-only
    imcr.io_write(0x23, 1, 0x01)
    assert not apic.intr_pending()


def test_pm_timer_counts_from_the_cycle_clock() -> None:
    from bareflow.devices.pmtimer import PmTimer
    clock = _Clock()
    t = PmTimer(clock=clock)
    clock.t = 100_000_000                   # one emulated second
    assert t.io_read(0x608, 4) == 3_579_545 & 0xFFFFFF
    assert t.io_read(0x609, 1) == (3_579_545 >> 8) & 0xFF


def test_hpet_periodic_timer_and_legacy_cut_off() -> None:
    from bareflow.devices.hpet import Hpet
    from bareflow.devices.ioapic import GsiRouter

    class Sink:
        def __init__(self) -> None:
            self.log: list[tuple[int, int]] = []

        def set_irq(self, pin: int, level: int) -> None:
            self.log.append((pin, level))

    pic, io = Sink(), Sink()
    router = GsiRouter(pic, io)
    clock = _Clock()
    hpet = Hpet(clock=clock, irq=router)
    hpet.mmio_write(0x10, 4, 3)                 # enable, legacy replacement
    hpet.mmio_write(0x100, 4, 0x4C)             # timer 0: set-value, periodic, enable
    hpet.mmio_write(0x108, 4, 1000)             # first expiry at tick 1000 (= cycle 1000)
    hpet.mmio_write(0x108, 4, 1000)             # period
    pic.log.clear()
    io.log.clear()
    clock.fire_until(1000)
    assert pic.log == [(0, 1), (0, 0)] and io.log == [(2, 1), (2, 0)]   # an edge on IRQ0 / pin 2
    router.raise_irq(0)                         # the PIT's own IRQ0: cut off in legacy mode
    assert pic.log[-1] == (0, 0)
    hpet.mmio_write(0x10, 4, 1)                 # legacy off
    router.raise_irq(0)
    assert pic.log[-1] == (0, 1)
    assert hpet.mmio_read(0x0, 4) == 0x8086A201 and hpet.mmio_read(0x4, 4) == 10_000_000


@needs_nasm
@needs_qemu
@pytest.mark.parametrize("name,mb", [("kern_pci", 16), ("kern_pci", 512), ("kern_tables", 16),
                                     ("kern_tables", 512)])
def test_other_memory_sizes_match_qemu(name: str, mb: int) -> None:
    """RAM size shows in the i440FX (0x57: RAM / 8 MiB) and SMBIOS types 16/17/19."""
    args = [a if a != "64" else str(mb) for a in images.QEMU_ARGS]
    img = images.build(name)
    import subprocess
    q = subprocess.run(["qemu-system-i386", *args, "-net", "none", "-drive", f"file={img},format=raw,snapshot=on"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    m = Machine(MachineConfig(image=img, memory_mb=mb))
    assert m.run(max_cycles=20_000_000_000) == StopReason.POWER_OFF
    assert bytes(m.serial_out) == q


@needs_nasm
def test_trace_io_records_mmio(tmp_path) -> None:
    from bareflow.emu.trace import TraceSink
    path = tmp_path / "t.jsonl"
    m = Machine(MachineConfig(image=images.build("kern_ioapic"), trace=TraceSink(path), trace_io=True))
    assert m.run(max_cycles=20_000_000_000) == StopReason.POWER_OFF
    m.close()
    import json
    events = [json.loads(line) for line in path.read_text().splitlines()]
    mmio = [e for e in events if e.get("event") == "mmio"]
    assert any(e["dir"] == "write" and e["addr"] == 0xFEC00000 for e in mmio)
    assert any(e["dir"] == "read" and e["addr"] == 0xFEC00010 and e["value"] == 0x00170020 for e in mmio)
