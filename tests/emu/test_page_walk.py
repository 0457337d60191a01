"""Paging explained: the walk of one address level by level (emu/page_walk.py), the fault
explainer's #PF with the walk and the refusing bit, `explain --address`, and the journey's
paging / page-fault / APIC milestones, on real test kernels (tests/images/paging_*.asm,
kern_lapic.asm, kern_ioapic.asm)."""
from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu import cli  # noqa: E402
from bareflow.emu.explain import FaultWatcher  # noqa: E402
from bareflow.emu.journey import Journey  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.page_walk import error_code_words, walk  # noqa: E402

PG_PE, WP = 0x80000001, 0x10000
PSE, PAE = 0x10, 0x20


class Mem:
    """Sparse physical memory for synthetic page tables."""

    def __init__(self) -> None:
        self.b: dict[int, int] = {}

    def put32(self, addr: int, v: int) -> None:
        for i, x in enumerate(struct.pack("<I", v)):
            self.b[addr + i] = x

    def put64(self, addr: int, v: int) -> None:
        for i, x in enumerate(struct.pack("<Q", v)):
            self.b[addr + i] = x

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.b.get(addr + i, 0) for i in range(n))


# ---------------------------------------------------------------------- the walk itself
def test_32bit_walk_levels_flags_and_refusals() -> None:
    mem = Mem()
    mem.put32(0x1000 + 1 * 4, 0x2000 | 0x7)         # PDE[1] -> PT at 0x2000, user, writable
    mem.put32(0x2000 + 3 * 4, 0x55000 | 0x5)        # PTE[3]: user, read-only
    mem.put32(0x2000 + 4 * 4, 0x56000 | 0x3)        # PTE[4]: supervisor, writable
    lin = (1 << 22) | (3 << 12) | 0x123
    pw = walk(mem.read, PG_PE | WP, 0x1000, 0, lin)
    assert [lv.label() for lv in pw.levels] == ["PDE[1]", "PTE[3]"]
    assert pw.levels[0].addr == 0x1004 and pw.levels[1].addr == 0x200C
    assert pw.phys == 0x55123 and pw.page_size == 0x1000
    assert "R/W=0 read-only" in pw.levels[1].flags() and "U/S=1 user" in pw.levels[1].flags()
    # a supervisor write with CR0.WP: refused by the PTE's R/W
    pw = walk(mem.read, PG_PE | WP, 0x1000, 0, lin, access=0x2)
    assert pw.refused_by == "PTE[3]" and pw.refusal.startswith("write to a read-only page") and "CR0.WP=1" in pw.refusal
    # ... and allowed without WP (ring 0 ignores R/W then)
    assert walk(mem.read, PG_PE, 0x1000, 0, lin, access=0x2).refusal == ""
    # a user access to the supervisor page
    pw = walk(mem.read, PG_PE, 0x1000, 0, lin + 0x1000, access=0x4)
    assert pw.refused_by == "PTE[4]" and pw.refusal.startswith("user access to a supervisor page")
    # not present at the PDE and at the PTE
    pw = walk(mem.read, PG_PE, 0x1000, 0, 0x00C00000, access=0)
    assert pw.phys is None and pw.refused_by == "PDE[3]" and pw.refusal.startswith("not present at the PDE")
    pw = walk(mem.read, PG_PE, 0x1000, 0, (1 << 22) | (9 << 12), access=0)
    assert pw.refused_by == "PTE[9]" and "P=0 not present" in pw.levels[1].flags()
    assert "no mapping: PTE[9] is not present" in pw.text()


def test_pse_large_page_and_reserved_bit() -> None:
    mem = Mem()
    mem.put32(0x1000 + 2 * 4, 0x00800000 | 0x83)    # PDE[2]: 4 MiB page at 8 MiB
    mem.put32(0x1000 + 3 * 4, 0x00C00000 | 0x200000 | 0x83)   # bit 21 set: reserved
    pw = walk(mem.read, PG_PE, 0x1000, PSE, 0x00812345)
    assert len(pw.levels) == 1 and pw.levels[0].large and pw.phys == 0x00812345 and pw.page_size == 0x400000
    assert "PS=1 large page" in pw.levels[0].flags()
    # without CR4.PSE the PS bit is ignored: the PDE points to a page table
    assert len(walk(mem.read, PG_PE, 0x1000, 0, 0x00812345).levels) == 2
    pw = walk(mem.read, PG_PE, 0x1000, PSE, 0x00C00000, access=0)
    assert pw.phys is None and pw.levels[0].reserved == 0x200000
    assert pw.refusal.startswith("reserved bit set at the PDE") and "bit 21" in pw.refusal


def test_pae_walk_2mib_page_and_nx() -> None:
    mem = Mem()
    mem.put64(0x3000 + 1 * 8, 0x4000 | 1)                 # PDPTE[1]
    mem.put64(0x4000 + 2 * 8, 0x5000 | 0x7)               # PDE[2] -> PT
    mem.put64(0x5000 + 5 * 8, (1 << 63) | 0x77000 | 0x7)  # PTE[5]: NX
    mem.put64(0x4000 + 3 * 8, 0x00600000 | 0x87)          # PDE[3]: 2 MiB page
    lin = (1 << 30) | (2 << 21) | (5 << 12) | 0x10
    pw = walk(mem.read, PG_PE, 0x3000, PAE, lin, nxe=True)
    assert [lv.label() for lv in pw.levels] == ["PDPTE[1]", "PDE[2]", "PTE[5]"]
    assert pw.phys == 0x77010 and "NX=1 (no-execute)" in pw.levels[2].flags()
    pw = walk(mem.read, PG_PE, 0x3000, PAE, lin, access=0x10, nxe=True)
    assert pw.refused_by == "PTE[5]" and pw.refusal.startswith("instruction fetch from a no-execute page")
    # without EFER.NXE bit 63 is reserved
    pw = walk(mem.read, PG_PE, 0x3000, PAE, lin, access=0)
    assert pw.phys is None and pw.refusal.startswith("reserved bit set at the PTE") and "bit 63" in pw.refusal
    big = walk(mem.read, PG_PE, 0x3000, PAE, (1 << 30) | (3 << 21) | 0x1234)
    assert big.page_size == 0x200000 and big.phys == 0x00601234 and len(big.levels) == 2
    assert walk(mem.read, PG_PE, 0x3000, PAE, 0).refusal == "" and \
        walk(mem.read, PG_PE, 0x3000, PAE, 0, access=0).refused_by == "PDPTE[0]"


def test_error_code_in_words() -> None:
    assert error_code_words(0x7) == ("0x7: P=1 protection violation (the page is present), W/R=1 write, "
                                     "U/S=1 user mode (CPL 3), RSVD=0, I/D=0 data access")
    assert "P=0 page not present" in error_code_words(0) and "I/D=1 instruction fetch" in error_code_words(0x10)


def test_paging_off_is_identity() -> None:
    pw = walk(Mem().read, 0x11, 0, 0, 0x12345)
    assert pw.phys == 0x12345 and not pw.levels and "CR0.PG is clear" in pw.text()


# ---------------------------------------------------------------------- guests: the fault explainer
def _run(name: str, max_cycles: int = 50_000_000) -> tuple[Machine, FaultWatcher, StopReason]:
    m = Machine(MachineConfig(image=images.build(name)))
    w = FaultWatcher(m)
    return m, w, m.run(max_cycles=max_cycles)


def test_paging_pf_faults_are_explained_with_the_walk() -> None:
    m, w, reason = _run("paging_higher.asm")
    assert reason == StopReason.POWER_OFF
    np, ro, pde = w.explanations[:3]
    assert np.summary.startswith("#PF(0): read of 0x300000") and "not present at the PTE: PTE[768]" in np.summary
    assert ro.summary.startswith("#PF(0x3): write to 0x301004")
    assert "write to a read-only page: PTE[769] has R/W=0, and CR0.WP=1" in ro.summary
    assert "not present at the PDE: PDE[769]" in pde.summary
    text = ro.text()
    assert "CR2 = 0x00301004" in text
    assert "error code 0x3: P=1 protection violation (the page is present), W/R=1 write" in text
    assert "PDE[0]     at 0x00020000 = 0x00021023" in text          # the walk, level by level
    assert "PTE[769]   at 0x00021c04 = 0x00301001  P=1 present, R/W=0 read-only, U/S=0 supervisor" in text
    assert ro.to_dict()["page_walk"] and np.page_walk[0] == "CR2 = 0x00300000 (the linear address the CPU could not use)"


@pytest.mark.parametrize("name, top", [("paging_user.asm", "PDE[0]"), ("paging_user_pae.asm", "PDPTE[0]")])
def test_user_mode_faults_name_the_refusing_bit(name: str, top: str) -> None:
    m, w, reason = _run(name)
    assert reason == StopReason.POWER_OFF, m.stop_message
    sup, ro = w.explanations[:2]
    assert sup.summary.startswith("#PF(0x5): user read of 0x100000 at 0x001b:0x80")
    assert sup.summary.endswith(": user access to a supervisor page: PTE[256] has U/S=0, so code at CPL 3 may "
                                "not touch 0x100000 (every level must have U/S=1)")
    assert ro.summary.startswith("#PF(0x7): user write to 0x101008") and \
        "write to a read-only page: PTE[257] has R/W=0, from ring 3" in ro.summary
    assert any(line.strip().startswith(top) for line in sup.page_walk)
    if "pae" in name:
        assert "PAE paging" in sup.text() and "NX=0" in sup.text()


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="qemu-system-i386 not installed")
@pytest.mark.parametrize("name", ["paging_user.asm", "paging_user_pae.asm"])
def test_user_mode_paging_guests_match_qemu(name: str) -> None:
    """The handler reads CR2 after the ring switch, in a later emu_start slice: it must not see
    Unicorn's 0xFFFFFFFF (emu/core.py disables the exit address that caused it)."""
    img = images.build(name)
    q_out, q_status = images.run_qemu(img)
    m = Machine(MachineConfig(image=img))
    assert m.run(max_cycles=50_000_000) == StopReason.POWER_OFF
    assert bytes(m.serial_out) == q_out and m.exit_status == q_status
    assert b"#PF err=00000005 cr2=00100000 from CPL 3" in q_out


# ---------------------------------------------------------------------- explain --address
def test_explain_address_prints_the_walk(capsys) -> None:
    img = images.build("paging_pf.asm")
    status = cli.main(["explain", str(img), "--brief", "--address", "0x301000", "--address", "0x400010",
                       "--address", "0xC0000000"])
    out = capsys.readouterr().out
    assert status == 1            # the guest's debug-exit status: (0 << 1) | 1
    walks = out.split("Page walks at the end of the run")[1]
    assert "PTE[769]   at 0x00021c04 = 0x00301063" in walks        # repaired by the handler: A, D, R/W set
    assert "= physical 0x00400010 (offset 0x10 in a 4 MiB page" in walks
    assert "PDE[768]   at 0x00020c00" in walks
    assert "allowed: kernel read, kernel write; #PF: user read, user write (user access to a supervisor page)" in walks


def test_explain_address_bad_input_is_one_line(capsys) -> None:
    img = images.build("paging_pf.asm")
    status = cli.main(["explain", str(img), "--address", "nowhere"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--address 'nowhere'" in err


# ---------------------------------------------------------------------- journey milestones
def _journey(name: str, max_cycles: int = 30_000_000) -> Journey:
    m = Machine(MachineConfig(image=images.build(name)))
    j = Journey().attach(m)
    m.run(max_cycles=max_cycles)
    return j


def test_journey_paging_and_first_page_fault_handled() -> None:
    j = _journey("paging_pf.asm")
    (pg,) = j.find("paging")
    assert pg.title == "Paging enabled: CR0.PG set, CR3=0x20000 (32-bit + PSE)"
    assert "CR0: 0x11 -> 0x80010011, CR3 = 0x00020000, CR4 = 0x00000010" in pg.details
    (pf,) = j.find("pf_handled")
    exc = j.find("exception")[0]
    assert pf.title == "First page fault handled: the read of 0x300000 at 0x0008:0x808a runs again and succeeds"
    assert exc.cycle < pf.cycle and f"at cycle {exc.cycle:,}" in pf.details[0]
    assert j.kinds().index("pf_handled") < j.kinds().index("exception", j.kinds().index("exception") + 1)


def test_journey_pae_ring3_and_syscall_by_page_fault() -> None:
    j = _journey("paging_user_pae.asm")
    assert j.find("paging")[0].title.endswith("(PAE)")
    assert j.find("ring3") and j.find("syscall")[0].title.startswith("First return to ring 0 from ring 3: #PF")
    assert "user read of 0x100000" not in j.find("pf_handled")[0].title   # the title names the access
    assert j.find("pf_handled")[0].title.startswith("First page fault handled: the read of 0x100000 at 0x001b:")


def test_journey_lapic_and_ioapic_milestones() -> None:
    j = _journey("kern_ioapic.asm")
    (on,) = j.find("lapic_on")
    assert on.title == "Local APIC enabled: SVR = 0x1ff (spurious vector 0xff)"
    (route,) = j.find("ioapic_route")
    assert route.title == "I/O APIC route set: pin 2 -> vector 0x50 (PIT timer (IRQ0, via the GSI 2 override))"
    assert "vector 0x50, fixed, edge-triggered, active high, physical destination 0x0" in route.details
    j2 = _journey("kern_lapic.asm")
    (tick,) = j2.find("lapic_timer")
    assert tick.title == "First local APIC timer interrupt: vector 0x40 (periodic)"
    assert "divide by 16, initial count 100,000" in tick.details[0]
    assert j2.find("lapic_on")[0].cycle < tick.cycle


def test_journey_apic_milestones_from_a_trace_file(tmp_path) -> None:
    """The same recogniser over a --trace --trace-io file (its mmio events)."""
    from bareflow.emu.trace import read_trace
    img = images.build("kern_lapic.asm")
    trace = tmp_path / "t.jsonl"
    status = cli.main(["run", str(img), "--no-stdin", "--trace", str(trace), "--trace-io", "--max-cycles", "3000000"])
    assert status in (0, 67)
    j = Journey().feed_records(read_trace(trace))
    assert j.find("lapic_on") and j.find("lapic_timer")


def test_journey_page_fault_milestone_survives_time_travel() -> None:
    """Going back between the #PF and its return re-arms the hook: the milestone comes once,
    at the same cycle, when the run goes forward again."""
    m = Machine(MachineConfig(image=images.build("paging_pf.asm")))
    j = Journey().attach(m)
    m.run(max_cycles=47_500)                     # the first #PF is delivered at 46,692
    assert j.find("exception") and not j.find("pf_handled")
    snap = m.snapshot()
    assert m.run(max_cycles=50_000_000) == StopReason.POWER_OFF
    (first,) = j.find("pf_handled")
    m.restore(snap)
    assert not j.find("pf_handled")
    assert m.run(max_cycles=50_000_000) == StopReason.POWER_OFF
    (again,) = j.find("pf_handled")
    assert (again.cycle, again.title) == (first.cycle, first.title)


def test_reserved_bit_fault_is_explained_and_matches_qemu() -> None:
    """A 4 MiB PDE with bit 21 set (tests/images/paging_rsvd.asm): RSVD in the error code, the
    explainer names the bit; the transcript (error code included) is QEMU 7.2's."""
    m, w, reason = _run("paging_rsvd.asm")
    assert reason == StopReason.POWER_OFF
    out = bytes(m.serial_out)
    assert b"#PF err=00000008 cr2=00800010" in out and out.endswith(b"rsvd read=5EED0009\r\ndone\r\n")
    rsvd = w.explanations[-1]
    assert rsvd.summary.endswith("reserved bit set at the PDE: PDE[2] has bit 21 set, which must be 0 "
                                 "(error code bit RSVD=1)")
    assert any("RSVD=1 reserved bit set in an entry" in line for line in rsvd.page_walk)
    assert any("reserved bit set: bit 21" in line for line in rsvd.page_walk)
    if shutil.which("qemu-system-i386"):
        assert images.run_qemu(images.build("paging_rsvd.asm")) == (out, m.exit_status)


@pytest.mark.parametrize("name", ["paging_user.asm", "kern_lapic.asm"])
def test_watching_does_not_change_the_run(name: str) -> None:
    """The journey's one-shot #PF hook and MMIO observer and the explainer's walk leave the
    cycles, instructions and output exactly as an unwatched run's."""
    img = images.build(name)
    plain = Machine(MachineConfig(image=img))
    plain.run(max_cycles=3_000_000)
    watched = Machine(MachineConfig(image=img))
    Journey().attach(watched)
    FaultWatcher(watched)
    watched.run(max_cycles=3_000_000)
    assert (watched.cycles, watched.instructions, bytes(watched.serial_out)) == \
        (plain.cycles, plain.instructions, bytes(plain.serial_out))
