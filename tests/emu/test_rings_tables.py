"""Ring 0 / ring 3 and the decoded descriptor tables, on tests/images/ring3.asm: a TSS loaded
with LTR, IRET to ring 3, INT 0x80 system calls back to ring 0 (the same COM1 transcript as
QEMU), the journey's TSS / ring-3 / system-call milestones, the privilege counts the TUI shows,
`explain --tables`, and the TUI's tables view (Shift+F4)."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "images"))

from build import build, run_qemu  # noqa: E402

from bareflow.emu.journey import Journey  # noqa: E402
from bareflow.emu.machine import Machine, MachineConfig  # noqa: E402
from bareflow.emu.tables import machine_tables, type_words  # noqa: E402
from bareflow.emu.cpu import decode_descriptor  # noqa: E402

needs_nasm = pytest.mark.skipif(shutil.which("nasm") is None, reason="no nasm")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="no qemu-system-i386")
EXPECTED = HERE.parent / "images" / "ring3.expected"


def run_ring3() -> tuple[Machine, Journey]:
    m = Machine(MachineConfig(image=str(build("ring3"))))
    j = Journey().attach(m)
    m.run(max_cycles=50_000_000)
    return m, j


@needs_nasm
def test_ring3_transcript_and_journey() -> None:
    m, j = run_ring3()
    assert bytes(m.serial_out) == EXPECTED.read_bytes()
    assert m.exit_status == 1
    kinds = j.kinds()
    assert kinds.index("tss") < kinds.index("ring3") < kinds.index("syscall")
    tss, ring3, sc = j.find("tss")[0], j.find("ring3")[0], j.find("syscall")[0]
    assert "LTR 0x0028" in tss.title and "SS0:ESP0 = 0x0010:0x90000" in tss.text
    assert "by IRETD" in ring3.title and "0x001b:" in ring3.title
    assert "First system call: INT 0x80 from ring 3 to ring 0" in sc.title
    assert ring3.cycle < sc.cycle
    assert len(j.find("ring3")) == 1 and len(j.find("syscall")) == 1     # firsts only


@needs_nasm
def test_privilege_tracker_counts_both_directions() -> None:
    m, _ = run_ring3()
    p = m.privilege
    assert (p.to_user, p.to_kernel, p.cpl) == (3, 3, 0)
    assert p.last.how == "INT 0x80" and (p.last.before, p.last.after) == (3, 0)
    assert p.short() == "CPL 0 kernel, 3x 0->3 / 3x 3->0"


@needs_nasm
@needs_qemu
def test_ring3_transcript_qemu() -> None:
    out, status = run_qemu(build("ring3"))
    assert status == 1 and out == EXPECTED.read_bytes()


@needs_nasm
def test_tables_decoded_in_words() -> None:
    m, _ = run_ring3()
    text = machine_tables(m).text()
    assert "GDT[0] sel 0x0000 = <null descriptor>" in text
    assert ("GDT[3] sel 0x0018 = Code segment, Execute/Read, Non-Conforming, 32-bit, base=0x00000000, "
            "limit=0xffffffff, DPL=3, present, D/B=1, G=1 (4 KiB units), L=0") in text
    assert "GDT[5] sel 0x0028 = 32-bit TSS (busy)" in text            # LTR marked it busy
    assert "IDT[0x80] = 32-bit interrupt gate target=0x0008:" in text and "DPL=3, present" in text
    assert "IDT[0x00..0x7f] (128 gates, the same)" in text
    assert "ring-0 stack SS0:ESP0 = 0x0010:0x00090000" in text
    assert "I/O map base=0x0068" in text


def test_type_words_as_bochs() -> None:
    assert type_words(decode_descriptor(bytes.fromhex("ffff0000009bcf00"))) == \
        "Code segment, Execute/Read, Non-Conforming, Accessed, 32-bit"
    assert type_words(decode_descriptor(bytes.fromhex("ffff00000096cf00"))) == \
        "Data segment, Read/Write, Expand-down, 32-bit"
    assert type_words(decode_descriptor(bytes.fromhex("0000080000ee1000"))) == "32-bit interrupt gate"


@needs_nasm
def test_explain_tables_option() -> None:
    proc = subprocess.run([sys.executable, "-m", "bareflow.emu.cli", "explain", str(build("ring3")), "--tables"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "First entry to ring 3 (user mode) by IRETD" in proc.stdout
    assert "Descriptor tables at the end of the run:" in proc.stdout
    assert "TR selector=0x0028" in proc.stdout


@needs_nasm
@pytest.mark.timeout(90)
def test_tui_tables_view_and_ring_status() -> None:
    from bareflow.tui.app import BareflowApp
    from bareflow.emu.session.client import RemoteSession, SessionConfig
    from bareflow.tui.status import render_status
    from bareflow.tui.tables import TablesScreen
    img = build("ring3")
    session = RemoteSession(SessionConfig(image=str(img), time_travel=False))
    app = BareflowApp(session, image=img.name, blink=False)

    async def wait_for(pilot, cond, timeout):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():
            assert loop.time() < end, "condition not reached in time"
            await pilot.pause(0.05)

    async def go():
        async with app.run_test(size=(200, 60)) as pilot:
            await wait_for(pilot, lambda: app.view.state == "powered off"
                           or app.view.state.startswith("power"), 60)
            await wait_for(pilot, lambda: app.view.cpu is not None
                           and app.view.cpu.ring_short, 20)
            await pilot.pause(0.3)
            assert "3x 0->3 / 3x 3->0" in render_status(app._last_status).plain
            await pilot.press("f16")
            await wait_for(pilot, lambda: isinstance(app.screen, TablesScreen)
                           and "TR selector=0x0028" in app.screen.body(), 20)
            assert "IDT[0x80] = 32-bit interrupt gate" in app.screen.body()
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, TablesScreen)

    try:
        asyncio.run(go())
    finally:
        session.close()


@needs_nasm
def test_a_far_return_alone_in_its_block_is_seen_as_the_ring_change(tmp_path) -> None:
    """ring3.asm entering ring 3 by RETF instead of IRET: the block holding the pushes and the
    RETF has no other watched byte, and the tracker must still see 0 -> 3 there (CA/CB were
    missing from special.py's candidate bytes, so the first entry was missed)."""
    images = HERE.parent / "images"
    src = (images / "ring3.asm").read_text()
    old = "        push dword 0x002\n        push dword UCODE\n        push dword user\n        iret\n"
    assert old in src
    src = src.replace(old, "        push dword UCODE\n        push dword user\n        retf\n", 1)
    (tmp_path / "ring3_retf.asm").write_text(src.replace('%include "', f'%include "{images}/'))
    m = Machine(MachineConfig(image=str(build(tmp_path / "ring3_retf.asm", tmp_path))))
    j = Journey().attach(m)
    m.run(max_cycles=50_000_000)
    assert bytes(m.serial_out) == EXPECTED.read_bytes()
    assert m.privilege.short() == "CPL 0 kernel, 3x 0->3 / 3x 3->0"
    assert [x.title for x in j.find("ring3")] == ["First entry to ring 3 (user mode) by a far RET, at 0x001b:0x8036"]
