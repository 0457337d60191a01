"""The native port path (emu/fastports.py, emu/fastpath_ports.c): reads answered in C must be
exactly what the device models answer, at the same cycle.

Each port-heavy guest runs twice, native answers on and off (off = every IN/OUT through Python,
as before the native path existed), and everything observable must be identical: stop reason,
cycles, instructions, COM1 bytes, the profile and the event trace, byte for byte.  The native
path must also really be used (counters), observers of port I/O must still see every access
of the ports they asked for, the RTC time registers computed in C must equal the Python
model's over the whole calendar range, and port 0x61 computed in C must equal devices/pit.py's
in every channel-2 mode, at every cycle sampled.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from unicorn import x86_const as X

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402
from bareflow.emu.trace import TraceSink  # noqa: E402

LLAMA_CMDLINE = 'prompt="Once upon a time" steps=48 exit=1'


def _image(name: str, tmp_path: Path) -> Path:
    if name == "ports":
        return images.build(ROOT / "bench" / "loops" / "ports.asm")
    if name == "fluid_llama":
        src = ROOT / "images" / "fluid_llama.img"
        if not src.exists():
            pytest.skip("images/fluid_llama.img is not built")
        img = tmp_path / "fluid_llama.img"
        shutil.copy(src, img)
        subprocess.run([sys.executable, "-m", "bareflow.tools.image", "set-cmdline", str(img), LLAMA_CMDLINE],
                       check=True, capture_output=True)
        return img
    return images.build(name)


def _run(img: Path, native: bool, trace_path: Path, max_cycles: int = 3_000_000_000, **kw) -> tuple:
    m = Machine(MachineConfig(image=img, trace=TraceSink(trace_path), **kw))
    if not native:
        m.ports.disable()
    reason = m.run(max_cycles=max_cycles)
    m.close()
    return (reason, m.cycles, m.instructions, bytes(m.serial_out), m.exit_status, m.profile_table(),
            trace_path.read_bytes()), m.ports.counts()


@pytest.mark.parametrize("name", ["ports", "native_ports.asm", "core_pm.asm", "bios_serial.asm",
                                  "reset_cmos.asm", "ata_pio.asm", "drives_probe.asm", "kern_acpi.asm",
                                  "kern_apicoff.asm", "kern_cpuid.asm", "port61.asm", "fluid_llama"])
def test_native_answers_change_nothing(name, tmp_path):
    img = _image(name, tmp_path)
    kw: dict = {"no_reboot": False} if name == "reset_cmos.asm" else {}   # it reboots five times
    if name == "ports":
        kw["max_cycles"] = 1_500_000      # 40,000 iterations: the Python-only run is slow
    on, counts_on = _run(img, True, tmp_path / "on.jsonl", **kw)
    off, counts_off = _run(img, False, tmp_path / "off.jsonl", **kw)
    assert on[0] == (StopReason.CYCLE_LIMIT if name == "ports" else StopReason.POWER_OFF), on[0]
    for what, a, b in zip(("reason", "cycles", "instructions", "COM1", "exit status", "profile", "trace"),
                          on, off):
        assert a == b, f"{name}: {what} differs with the native port answers on"
    assert counts_off["native_in"] == counts_off["native_out"] == 0
    # the same accesses, split differently between C and Python
    assert (counts_on["native_in"] + counts_on["python_in"] == counts_off["python_in"])
    assert (counts_on["native_out"] + counts_on["python_out"] == counts_off["python_out"])
    assert counts_on["native_in"] > 0


def test_the_ports_loop_never_enters_python(tmp_path):
    """bench/loops.py's `ports`: 300,000 x (OUT 0x70, IN 0x71 register A, 2 x IN 0x3FD)."""
    m = Machine(MachineConfig(image=_image("ports", tmp_path)))
    assert m.run() == StopReason.POWER_OFF
    c = m.ports.counts()
    assert c["native_in"] == 900_000 and c["native_out"] == 300_000
    assert c["python_in"] == 0 and c["python_out"] == 2    # the 'P' and the debug exit
    assert bytes(m.serial_out) == b"P"


def test_observers_see_every_access_of_their_ports(tmp_path):
    img = images.build("native_ports.asm")
    seen_all: list[tuple] = []
    m = Machine(MachineConfig(image=img))
    m.bus.observe_io(lambda *a: seen_all.append(a))        # every port: native answers off
    assert not m.ports.enabled
    m.run()
    assert m.ports.counts()["native_in"] == 0
    all_count = m.ports.counts()["python_in"] + m.ports.counts()["python_out"]
    assert len(seen_all) == all_count

    seen_lsr: list[tuple] = []
    m2 = Machine(MachineConfig(image=img))
    m2.bus.observe_io(lambda *a: seen_lsr.append(a) if a[1] == 0x3FD else None, ports={0x3FD})
    assert m2.ports.enabled
    m2.run()
    assert [a for a in seen_all if a[1] == 0x3FD] == seen_lsr   # every LSR access, same values
    assert m2.ports.counts()["native_in"] > 0                   # the CMOS ports stayed native
    assert (m2.cycles, bytes(m2.serial_out)) == (m.cycles, bytes(m.serial_out))


def test_unsubscribing_gives_the_ports_back(tmp_path):
    m = Machine(MachineConfig(image=_image("ports", tmp_path)))
    stop = m.bus.observe_io(lambda *a: None)
    assert not m.ports.enabled
    stop()
    assert m.ports.enabled
    stop_lsr = m.bus.observe_io(lambda *a: None, ports={0x3FD})
    m.run(max_cycles=200_000)
    c = m.ports.counts()
    assert c["python_in"] > 0 and c["native_in"] > 0          # 0x3FD in Python, 0x71 native
    stop_lsr()
    m.run(max_cycles=400_000)
    assert m.ports.counts()["python_in"] == c["python_in"]
    # a port-filtered observer, then one for every port, then both gone: the tables come back
    stop_lsr = m.bus.observe_io(lambda *a: None, ports={0x3FD})
    stop_all = m.bus.observe_io(lambda *a: None)
    assert not m.ports.enabled
    stop_lsr()
    stop_all()
    assert m.ports.enabled and m.ports.h.rkind[0x3FD] == 1 and m.ports.h.wkind[0x70] == 1


def test_an_event_scheduled_outside_io_holds_the_native_answers(tmp_path):
    """Python code that schedules an event outside an I/O access (a WRMSR to the APIC base,
    the run loop) does not re-arm the deadline; the next IN/OUT must then go to Python, whose
    `_after_io` re-arms it exactly as before the native path existed."""
    m = Machine(MachineConfig(image=_image("ports", tmp_path)))
    m.run(max_cycles=100_000)
    assert m.ports.enabled
    m.fast.set_deadline(m.cycles + 1_000_000)
    m.clock.schedule(m.cycles + 10, lambda _c: None, "test")
    assert not m.ports.enabled                       # held: earlier than the armed deadline
    m._after_io()
    assert m.ports.enabled and m.fast.h.deadline == m.cycles + 10
    m.clock.schedule(m.cycles + 5_000_000, lambda _c: None, "later")
    assert m.ports.enabled                           # later than the deadline: nothing to do


def test_trace_io_keeps_every_access_in_python(tmp_path):
    m = Machine(MachineConfig(image=images.build("native_ports.asm"), trace=TraceSink(tmp_path / "t.jsonl"),
                              trace_io=True))
    assert not m.ports.enabled
    m.run()
    assert m.ports.counts()["native_in"] == 0


def test_rtc_time_registers_in_c_match_the_model(tmp_path):
    """The C calendar (fastpath_ports.c cmos_time) against devices/cmos.py `_read_time`, for
    every time register, the four BCD/binary x 12/24 h formats, over 1970-9999, frozen (SET)
    and running (seconds from the cycle clock, including a base cycle after now)."""
    m = Machine(MachineConfig(image=_image("ports", tmp_path)))
    cmos = m.board.devices["cmos"]
    rng = random.Random(11)
    stamps = [0, 59, 86399, 86400, 951782399, 951782400, 951868800, 1709164800, 4107542399,
              4107542400, 253402300799] + [rng.randrange(0, 253402300800) for _ in range(300)]
    for secs in stamps:
        for b in (0x02, 0x06, 0x00, 0x04):
            cmos.ram[0x0B] = b
            cmos.frozen = secs
            for idx in (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32):
                assert m.ports.cmos_time_at(idx, 0) == cmos._read_time(idx), (secs, hex(b), idx)
    cmos.frozen = None
    now = m.cycles
    for base_cycle in (0, now, now + 1, now + 250_000_000, max(0, now - 12_345_678_901)):
        cmos.base_cycle = base_cycle
        cmos.base_seconds = 1_700_000_000
        for idx in (0x00, 0x02, 0x04):
            assert m.ports.cmos_time_at(idx, now) == cmos._read_time(idx)
    cmos.frozen = -5        # before 1970: the C side leaves it to Python
    assert m.ports.cmos_time_at(0x00, 0) is None


needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")


def test_port61_polling_is_native_and_prints_what_qemu_prints(tmp_path):
    """tests/images/port61.asm polls 0x61 as GRUB, Linux and BIOS delay loops do: all of it in C
    but the reads past a block's fourth timed instruction, GRUB's CPUID leaf 0 too; the
    transcript is QEMU's."""
    m = Machine(MachineConfig(image=images.build("port61.asm")))
    hook = m.cpuid_hook
    leaves: list[int] = []
    python_cpuid = hook._on_cpuid

    def spy(uc, ud):
        leaves.append(uc.reg_read(X.UC_X86_REG_EAX))
        return python_cpuid(uc, ud)
    hook._on_cpuid = spy
    assert m.run(max_cycles=100_000_000) == StopReason.POWER_OFF
    assert leaves == []                      # GRUB's CPUID leaf 0 before RDTSC stays in C
    counts = m.ports.counts()
    m.close()
    assert bytes(m.serial_out) == (ROOT / "tests" / "images" / "port61.expected").read_bytes()
    assert counts["native_in"] > 50_000
    assert counts["python_in"] < 1_100       # 4 of 8 reads x 64 x 4 samples, and a few others


@needs_qemu
def test_port61_expected_is_qemus():
    out, status = images.run_qemu(images.build("port61.asm"))
    assert status == 1
    assert out == (ROOT / "tests" / "images" / "port61.expected").read_bytes()


class _At:
    """A clock stopped at a cycle the test chooses (the PIT asks it for `now()`)."""

    def __init__(self, clock) -> None:
        self.clock, self.t = clock, 0

    def now(self) -> int:
        return self.t

    def __getattr__(self, name):
        return getattr(self.clock, name)


def test_port61_in_c_matches_the_model(tmp_path):
    """fastpath_ports.c port61_at against devices/pit.py `_read_port61`: channel 2 in modes 0-7
    with counts 1, 2, 3, odd, even and 0 (65536), gate low/high, speaker data, started at
    cycles far and near, sampled at random cycles and at every cycle around the edges."""
    m = Machine(MachineConfig(image=_image("ports", tmp_path)))
    pit = m.board.devices["pit"]
    at = _At(pit.clock)
    pit.clock = at
    rng = random.Random(61)
    try:
        for mode in range(8):
            for count in (1, 2, 3, 7, 40, 1193, 0xFFFF, 0):
                for low in range(4):
                    at.t = rng.choice([0, 5, 123_456_789, 98_765_432_109, 2**47 + 3])
                    pit.io_write(0x61, 1, low & 1 ^ 1)     # a gate edge may restart the count
                    pit.io_write(0x61, 1, low)
                    pit.io_write(0x43, 1, 0xB0 | mode << 1)
                    pit.io_write(0x42, 1, count & 0xFF)
                    pit.io_write(0x42, 1, count >> 8)
                    start = at.t
                    span = (count or 0x10000) * 2 * 100_000_000 // 1_193_182 + 300
                    cycles = [start + rng.randrange(0, 3 * span) for _ in range(40)]
                    cycles += list(range(start, start + 200)) + list(range(start + span // 2 - 100, start + span // 2 + 100))
                    for t in cycles:
                        at.t = t
                        assert m.ports.port61_at(t) == pit.io_read(0x61, 1), (mode, count, low, start, t)
        at.t = 10
        assert m.ports.port61_at(5) is None          # before channel 2 started: Python decides
    finally:
        pit.clock = at.clock


def test_layout_is_checked():
    from bareflow.emu import fastports
    lib = fastports._lib()
    assert lib.fpp_state_size() >= fastports.ctypes.sizeof(fastports._Ports)
