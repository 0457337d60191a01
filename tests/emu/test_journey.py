"""The boot journey: milestones recognised from recorded event lists (unit) and from live runs
of the test images and the bundled image (end to end), the `explain` command and its pauses."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.explain import FaultWatcher  # noqa: E402
from bareflow.emu.journey import Journey  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig, StopReason  # noqa: E402

EMU = [sys.executable, "-m", "bareflow.emu.cli"]
CODE = "ffff0000009acf00"
DATA = "ffff00000092cf00"
GDT_ENTRIES = [
    {"index": 0, "selector": 0, "raw": "00" * 8, "text": "null"},
    {"index": 1, "selector": 8, "raw": CODE,
     "text": "code (readable), base 0x0, limit 0xffffffff, DPL 0, 32-bit, 4 KiB granularity, present"},
    {"index": 2, "selector": 16, "raw": DATA,
     "text": "data (writable), base 0x0, limit 0xffffffff, DPL 0, 32-bit, 4 KiB granularity, present"},
]


def ev(cycle: int, event: str, **fields) -> dict:
    return {"cycle": cycle, "icount": cycle // 2, "event": event, **fields}


def boot_events(a20: bool = True) -> list[dict]:
    return [
        ev(0, "boot", cs=0, eip=0x7C00, dl=0x80, a20=a20),
        ev(100, "bios", vector=0x13, ah=0x02, al=8, bx=0x7E00, cx=0x0002, dx=0x0080, ret_ax=8, cf=0),
        ev(200, "bios", vector=0x13, ah=0x42, al=0, bx=0, cx=0, dx=0x80, ret_ax=0, cf=0),
        ev(300, "bios", vector=0x15, ah=0xE8, al=0x20, bx=0, cx=24, dx=0x534D, ret_ax=0x4150, cf=0),
        ev(310, "bios", vector=0x15, ah=0xE8, al=0x20, bx=1, cx=24, dx=0x534D, ret_ax=0x4150, cf=0),
    ]


def pm_events() -> list[dict]:
    return [
        ev(500, "lgdt", base=0x7E40, limit=0x17, entries=GDT_ENTRIES),
        ev(510, "cr_write", cr="cr0", old=0x10, new=0x11, set=["PE"], cleared=[]),
        ev(510, "cr0_pe", enabled=True, eip=0x7E20),
        ev(520, "mode", mode="protected", code32=True, cs=8, eip=0x7E60, previous="real"),
        ev(600, "lidt", base=0x9000, limit=0x7FF, entries=[
            {"index": 0, "selector": 0, "raw": "0010080000ee0000",
             "text": "32-bit interrupt gate -> 0x0008:0x00001000, DPL 3, present"}]),
        ev(700, "io", dir="out", port=0x20, size=1, value=0x11),
        ev(701, "io", dir="out", port=0xA0, size=1, value=0x11),
        ev(702, "io", dir="out", port=0x21, size=1, value=0x20),
        ev(703, "io", dir="out", port=0xA1, size=1, value=0x28),
        ev(800, "interrupt", vector=0x20, kind="hardware", error_code=None, cs=8, eip=0x1000, to_cs=8,
           to_eip=0x2000, gate="32-bit interrupt gate"),
        ev(850, "interrupt", vector=0x21, kind="hardware", error_code=None, cs=8, eip=0x1000, to_cs=8,
           to_eip=0x2100, gate="32-bit interrupt gate"),
        ev(860, "interrupt", vector=0x20, kind="hardware", error_code=None, cs=8, eip=0x1000, to_cs=8,
           to_eip=0x2000, gate="32-bit interrupt gate"),
        ev(900, "cr_write", cr="cr4", old=0, new=0x600, set=["OSFXSR", "OSXMMEXCPT"], cleared=[]),
        ev(1000, "stop", reason="powered off", message="powered off (status 1)"),
    ]


def test_recorded_boot_gives_every_milestone_in_order():
    j = Journey().feed_records(boot_events() + [ev(400, "io", dir="out", port=0x92, size=1, value=2)] + pm_events())
    assert j.kinds() == ["handover", "a20", "disk_read", "disk_read", "e820", "a20", "lgdt", "cr0_pe", "pm_entry",
                         "lidt", "pic_remap", "irq", "irq", "sse", "end"]
    cycles = [m.cycle for m in j.milestones]
    assert cycles == sorted(cycles)
    first, second = j.find("disk_read")
    assert "AH=02h" in first.title and "8 sectors" in first.title and first.pause
    assert "AH=42h" in second.title and not second.pause          # a repeat is not a pause point
    e820 = j.find("e820")[0]
    assert e820.count == 2 and "2 calls" in e820.title
    assert j.find("a20")[0].title == "A20 already enabled at hand-over (by the BIOS)" and not j.find("a20")[0].pause
    assert "already enabled" in j.find("a20")[1].title and "port 0x92" in j.find("a20")[1].title
    gdt = j.find("lgdt")[0]
    assert "3 descriptors" in gdt.title and "limit 0x17" in gdt.title
    assert any("selector 0x0008: code (readable), base 0x0, limit 0xffffffff, DPL 0, 32-bit, 4 KiB granularity"
               in d for d in gdt.details)
    pe, pm = j.find("cr0_pe")[0], j.find("pm_entry")[0]
    assert pe.cycle == 510 and pm.cycle == 520
    assert "0x0008:0x00007e60" in pm.title and "protected mode begins" in pm.title
    assert any("CS = 0x0008: code" in d for d in pm.details)
    assert any("vector 0x00 #DE divide error: 32-bit interrupt gate" in d for d in j.find("lidt")[0].details)
    remap = j.find("pic_remap")[0]
    assert remap.title == "PIC remapped: IRQ0-7 -> 0x20, IRQ8-15 -> 0x28"
    assert any("(was 0x08-0x0f)" in d for d in remap.details) and any("(was 0x70-0x77)" in d for d in remap.details)
    timer, kbd = j.find("irq")
    assert "IRQ0" in timer.title and "protected mode" in timer.title and "vector 0x20" in timer.title
    assert "keyboard" in kbd.title and "IRQ1" in kbd.title
    assert "OSFXSR" in j.find("sse")[0].title
    # every step says what and why in two or three sentences
    for m in j.milestones[:-1]:
        if m.pause:
            assert m.text.count(". ") >= 1, m.title


def test_a20_methods_are_told_apart():
    j = Journey().feed_records([ev(0, "boot", cs=0, eip=0x7C00, dl=0x80, a20=False),
                                ev(10, "io", dir="out", port=0x92, size=1, value=0x02),
                                ev(10, "a20", enabled=True)])
    assert j.find("a20")[0].title == 'A20 enabled via port 0x92 ("fast A20")'
    j = Journey().feed_records([ev(0, "boot", cs=0, eip=0x7C00, dl=0x80, a20=False),
                                ev(5, "io", dir="out", port=0x64, size=1, value=0xD1),
                                ev(6, "io", dir="out", port=0x60, size=1, value=0xDF),
                                ev(6, "a20", enabled=True)])
    assert "8042 keyboard controller's output port (command D1h)" in j.find("a20")[0].title
    # INT 15h AX=2401h: the A20 change happens inside the service, the bios event follows it
    j = Journey().feed_records([ev(0, "boot", cs=0, eip=0x7C00, dl=0x80, a20=False),
                                ev(9, "a20", enabled=True),
                                ev(9, "bios", vector=0x15, ah=0x24, al=0x01, bx=0, cx=0, dx=0, ret_ax=0, cf=0)])
    assert j.find("a20")[0].title == "A20 enabled via BIOS INT 15h AX=2401h"


def test_unreal_trips_and_repeated_gdt_loads_are_counted_not_repeated():
    accessed = GDT_ENTRIES[:2] + [dict(GDT_ENTRIES[2], raw="ffff00000093cf00")]
    events = []
    for k in range(3):
        c = 1000 * (k + 1)
        events += [ev(c, "lgdt", base=0x85A0, limit=0x17, entries=GDT_ENTRIES if k == 0 else accessed),
                   ev(c + 5, "cr0_pe", enabled=True, eip=0x8100),
                   ev(c + 8, "mode", mode="protected", code32=False, cs=0, eip=0x8110, previous="real"),
                   ev(c + 20, "cr0_pe", enabled=False, eip=0x8120),
                   ev(c + 22, "mode", mode="real", code32=False, cs=0, eip=0x8128, previous="protected16")]
    j = Journey().feed_records(events)
    assert j.kinds() == ["lgdt", "unreal"]
    assert j.find("lgdt")[0].count == 3 and "loaded 3 times" in j.find("lgdt")[0].title
    unreal = j.find("unreal")[0]
    assert unreal.count == 3 and unreal.cycle == 1005 and "unreal mode" in unreal.title
    assert not j.find("cr0_pe") and not j.find("pm_entry")


def test_a_reset_starts_a_new_journey():
    j = Journey().feed_records(boot_events() + pm_events()[:4] + boot_events()[:2])
    assert j.kinds() == ["handover", "a20", "disk_read"]


def test_segment_loads_that_did_not_all_run_are_reported_at_the_next_milestone():
    j = Journey()
    j._seg_expected = 3                       # what the live hooks found after the far jump
    j.feed_records([ev(10, "seg_load", reg="ds", selector=0x10), ev(12, "seg_load", reg="ss", selector=0x10),
                    ev(50, "stop", reason="halted", message="halted")])
    assert j.kinds() == ["segments", "end"]
    seg = j.find("segments")[0]
    assert seg.cycle == 12 and seg.title == "Segment registers reloaded: DS, SS"
    assert seg.details == ["DS = SS = 0x0010: descriptor unknown"]


def test_cr0_pe_without_far_jump_is_reported_when_the_cpu_faults():
    j = Journey().feed_records([ev(10, "cr0_pe", enabled=True, eip=0x7E00),
                                ev(20, "triple_fault", vector=13, error_code=0, why="IDT limit is 0x0", cs=0, eip=0x7E05)])
    assert j.kinds() == ["cr0_pe", "triple_fault"]


def boot(name: str) -> tuple[Machine, Journey, FaultWatcher]:
    m = Machine(MachineConfig(image=images.build(name)))
    w = FaultWatcher(m)
    j = Journey().attach(m)
    w.on_explanation.append(j.add_explanation)
    return m, j, w


def test_core_pm_image_journey_end_to_end():
    m, j, _ = boot("core_pm.asm")
    assert m.run(2_000_000_000) == StopReason.POWER_OFF
    kinds = j.kinds()
    for k in ("handover", "disk_read", "a20", "lgdt", "cr0_pe", "pm_entry", "segments", "lidt", "exception",
              "pic_remap", "irq", "end"):
        assert k in kinds, k
    order = [kinds.index(k) for k in ("handover", "disk_read", "lgdt", "cr0_pe", "pm_entry", "segments",
                                      "lidt", "pic_remap", "irq")]
    assert order == sorted(order)
    a20 = j.find("a20")
    assert [a.title for a in a20] == ["A20 already enabled at hand-over (by the BIOS)",
                                      'A20 kept on through port 0x92 ("fast A20") (it was already enabled)']
    cycles = [x.cycle for x in j.milestones]
    assert cycles == sorted(cycles) and cycles[-1] == m.cycles
    seg = j.find("segments")[0]
    assert seg.title == "Segment registers reloaded: DS, ES, SS"
    assert any(d.startswith("DS = ES = SS = 0x0010: data (writable)") for d in seg.details)
    assert j.find("disk_read")[0].title.endswith("8 sectors from LBA 1 to 0x7e00")
    excs = j.find("exception")
    assert [e.title.split(" at ")[0] for e in excs] == ["Exception #DE divide error", "Exception #UD invalid opcode",
                                                       "Exception #GP general protection (error code 0x48)"]
    assert excs[2].text.startswith("#GP(0x48): selector 0x48 lies beyond the GDT limit 0x17.")
    assert "protected mode" in j.find("irq")[0].title and "IRQ0" in j.find("irq")[0].title
    # deterministic: the same image gives the same stamps
    m2, j2, _ = boot("core_pm.asm")
    m2.run(2_000_000_000)
    assert [(x.kind, x.cycle, x.title) for x in j2.milestones] == [(x.kind, x.cycle, x.title) for x in j.milestones]


def test_pausing_at_milestones_stops_at_each_one():
    m, j, _ = boot("core_pm.asm")
    j.listeners.append(lambda ms: m.request_pause() if ms.pause else None)
    pauses = 0
    while m.run(2_000_000_000) == StopReason.PAUSED:
        pauses += 1
        assert j.milestones[-1].cycle <= m.cycles
    assert pauses >= 10
    assert m.exit_status == 33            # the run is the same, only stopped on the way
    assert pauses <= sum(1 for x in j.milestones if x.pause)


BUNDLED = ROOT / "images" / "fluid_llama.img"


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled image not built")
def test_bundled_image_reaches_kernel_entry_and_main_by_symbol():
    m = Machine(MachineConfig(image=BUNDLED))
    if m.symbols is None:
        pytest.skip("no symbols beside the bundled image")
    j = Journey().attach(m)
    m.run(14_000_000)
    kinds = j.kinds()
    names = [x.title.split(":")[0] for x in j.find("symbol")]
    assert names[:2] == ["Kernel entry", "kmain"] and "_start" in j.find("symbol")[0].title
    assert any("app_main" in x.title for x in j.find("symbol"))
    for k in ("e820", "unreal", "pm_entry", "segments", "lidt", "pic_remap", "sse"):
        assert k in kinds, k
    assert kinds.index("pm_entry") < kinds.index("symbol") < kinds.index("sse")
    assert j.find("segments")[0].title == "Segment registers reloaded: DS, ES, FS, GS, SS"
    assert "256 gates" in j.find("lidt")[-1].title
    assert "usable RAM" in "\n".join(j.find("e820")[0].details)
    assert "... and" in j.text()                     # the run of disk reads is summarised


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    return subprocess.run(EMU + list(args), capture_output=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def test_explain_command_prints_the_journey_and_exits_with_the_run_status(tmp_path):
    out = tmp_path / "j.json"
    r = run_cli("explain", str(images.build("core_pm.asm")), "--brief", "--json", str(out))
    assert r.returncode == 33, r.stderr
    text = r.stdout.decode()
    assert "BIOS hands over to the boot sector at 0000:7c00" in text
    assert "protected mode begins" in text and "PIC remapped" in text
    import json
    doc = json.loads(out.read_text())
    assert doc["stop"] == "powered off" and doc["milestones"][0]["kind"] == "handover"


def test_explain_pause_at_milestones_headless_prints_as_it_goes():
    r = run_cli("explain", str(images.build("core_pm.asm")), "--brief", "--pause-at-milestones")
    assert r.returncode == 33
    assert b"Enter to continue" not in r.stdout            # stdin is not a terminal: no waiting
    assert r.stdout.count(b"[cycle") >= 12


def test_explain_bad_image_is_one_line():
    r = run_cli("explain", "/nonexistent.img")
    assert r.returncode == 64 and r.stderr.decode().count("\n") == 1


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled image not built")
def test_explain_stops_after_main_of_the_bundled_image():
    r = run_cli("explain", str(BUNDLED), "--brief", "--after-main", "2000000")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr           # the narrative is complete (issue 12 item 7)
    assert "the program's main" in out and out.rstrip().splitlines()[-2].startswith("[cycle")
    assert "The run ended: cycle limit reached" in out
    r = run_cli("explain", str(BUNDLED), "--after-main", "-1")
    assert r.returncode == 2 and b"--after-main -1" in r.stderr


def test_a_trace_file_gives_the_same_architectural_milestones(tmp_path):
    from bareflow.emu.trace import read_trace
    trace = tmp_path / "t.jsonl"
    r = run_cli("run", str(images.build("core_pm.asm")), "--no-stdin", "--trace", str(trace), "--trace-io")
    assert r.returncode == 33
    offline = Journey().feed_records(read_trace(trace))
    m, live, _ = boot("core_pm.asm")
    m.run(2_000_000_000)
    # what a trace carries: everything but the live extras (segment-load hooks, A20 at hand-over)
    wanted = ("handover", "disk_read", "lgdt", "cr0_pe", "pm_entry", "lidt", "exception", "pic_remap", "irq", "end")
    assert [x.kind for x in offline.milestones if x.kind in wanted] == \
        [x.kind for x in live.milestones if x.kind in wanted]
    assert [x.title for x in offline.find("pic_remap")] == [x.title for x in live.find("pic_remap")]


def test_going_back_in_time_rewinds_the_journey():
    m, j, _ = boot("core_pm.asm")
    assert m.run(36_000) == StopReason.CYCLE_LIMIT            # after #DE (35,075), before #UD
    snap = m.snapshot()
    early = [(x.kind, x.cycle, x.title, x.count) for x in j.milestones if x.kind != "end"]
    assert m.run_until_stop(200_000) == StopReason.CYCLE_LIMIT  # #UD, #GP, PIC remap, first tick
    later = [(x.kind, x.cycle, x.title, x.count) for x in j.milestones]
    assert later[:len(early)] == early and len(later) > len(early) + 3
    m.restore(snap)                                           # what time travel does
    assert [(x.kind, x.cycle, x.title, x.count) for x in j.milestones if x.kind != "end"] == early
    assert m.run_until_stop(200_000) == StopReason.CYCLE_LIMIT
    assert [(x.kind, x.cycle, x.title, x.count) for x in j.milestones] == later   # nothing doubled or lost
    assert m.run_until_stop(2_000_000_000) == StopReason.POWER_OFF
    assert j.milestones[-1].title == "The run ended: powered off (status 33)"


def test_time_travel_run_back_truncates_the_journey():
    from bareflow.emu.timetravel import TimeTravel
    m = Machine(MachineConfig(image=images.build("core_pm.asm"), memory_mb=4))
    j = Journey().attach(m)
    tt = TimeTravel(m, interval=50_000)
    tt.run(2_000_000_000)
    # (cycles are left out: a re-executed stretch can be priced a few cycles apart, see
    # emu/timetravel.py; what happened, in which order and how often must be the same)
    full = [(x.kind, x.title, x.count) for x in j.milestones]
    ud = [x for x in j.find("exception") if "#UD" in x.title][0]
    ud_eip = int(ud.title.rsplit(":", 1)[1], 16)
    m.add_breakpoint(ud_eip)                        # flat code: linear = EIP
    assert tt.run_back() == StopReason.BREAKPOINT and m.cpu.linear_pc() == ud_eip
    back = [(x.kind, x.title, x.count) for x in j.milestones if x.kind != "end"]
    assert back == full[:len(back)] and back[-1][0] == "exception" and "#DE" in back[-1][1]


def test_a20_through_the_bios_end_to_end():
    m, j, _ = boot("bios_mem.asm")                 # the BIOS test image switches A20 off and on
    m.run(500_000_000)
    titles = [x.title for x in j.find("a20")]
    assert titles[0] == "A20 already enabled at hand-over (by the BIOS)"
    assert "A20 disabled via BIOS INT 15h AX=2400h" in titles
    assert "A20 enabled via BIOS INT 15h AX=2401h" in titles
    assert "usable RAM" in "\n".join(j.find("e820")[0].details)


def test_a20_through_the_real_8042_and_port_0x92_devices():
    m, j, _ = boot("core_hlt.asm")
    m.set_a20(False)
    m.bus.io_write(0x64, 1, 0xD1)                  # write the 8042 output port...
    m.bus.io_write(0x60, 1, 0xDF)                  # ...with bit 1 (A20) set
    assert m.a20
    m.set_a20(False)
    m.bus.io_write(0x92, 1, 0x02)
    assert m.a20
    titles = [x.title for x in j.find("a20")]
    assert titles[-3:] == ["A20 enabled via the 8042 keyboard controller's output port (command D1h)",
                           "A20 disabled via unknown method", 'A20 enabled via port 0x92 ("fast A20")']
