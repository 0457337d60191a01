"""The session boundary: frames, the one serial cursor, the front end's view, the publisher.

No machine here except the toy one (tests/tui/tui_fake.py); the emulator process itself is
exercised by tests/tui/test_tui_machine.py and tests/session/test_paste.py."""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from bareflow.emu.session import frames as F
from bareflow.emu.session.publisher import Publisher, SerialCursor

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tui"))

from tui_fake import FakeMachine, FakeSession  # noqa: E402


def test_serial_cursor_sends_each_byte_once_and_restarts_on_reset():
    out = bytearray(b"boot\r\n> ")
    resets = [0]
    cur = SerialCursor(lambda: out, lambda: resets[0])
    assert cur.take() == F.SerialFrame(b"boot\r\n> ")
    assert cur.take() is None
    out += b"hi"
    assert cur.take() == F.SerialFrame(b"hi")
    del out[-4:]                      # time travel went back: the re-run prints the same again
    assert cur.take() is None
    out += b"\r\nhi"
    assert cur.take() is None         # already sent
    out += b"!"
    assert cur.take() == F.SerialFrame(b"!")
    out[:] = b"again"                 # a reset clears the output
    resets[0] += 1
    assert cur.take() == F.SerialFrame(b"again", restart=True)


def test_view_hands_serial_over_in_order_with_resets_and_stays_bounded(monkeypatch):
    v = F.SessionView()
    v.apply(F.SerialFrame(b"a"))
    v.apply(F.SerialFrame(b"b"))
    v.apply(F.SerialFrame(b"c", restart=True))
    v.apply(F.SerialFrame(b"d"))
    assert v.take_serial() == [(False, b"ab"), (True, b"cd")] and v.resets == 1
    assert v.take_serial() == []
    monkeypatch.setattr(F, "SERIAL_PENDING_MAX", 10)
    for _ in range(5):
        v.apply(F.SerialFrame(b"0123456789"))
    v.apply(F.SerialFrame(b"x", restart=True))
    got = v.take_serial()
    assert got == [(False, b"123456789"), (True, b"x")], got    # the oldest bytes went, the reset stayed


def test_frames_pickle_for_the_pipe():
    view = F.CpuView("real", 0, {"eax": 1}, (0, 0), (0, 0x3FF), 0x7C00, [F.Insn(0x7C00, b"\x90", "nop", "")])
    for frame in (F.StateFrame("running", "idle", "", 1, 2, 0.5, (0x1000,)), F.ScreenFrame(bytes(4000)),
                  F.CursorFrame(1, 2, True), F.SerialFrame(b"x", True), F.CpuFrame(view, 3),
                  F.ProfileFrame([{"name": "kmain"}]), F.JourneyFrame({"milestones": []}), F.ByeFrame(),
                  F.ReadyFrame("a.img"), F.ErrorFrame("bad", 64)):
        assert pickle.loads(pickle.dumps(frame)) == frame


def test_publisher_sends_only_what_changed():
    m = FakeMachine()
    s = FakeSession(m, autostart=False)
    try:
        pub = Publisher(m, s.runner)
        first = {type(f) for f in pub.tick()}
        assert {F.ScreenFrame, F.CursorFrame, F.SerialFrame, F.StateFrame, F.ProfileFrame} <= first
        assert all(type(f) is F.CpuFrame for f in pub.tick()), "nothing else changed"
        m.type_text("q")              # the toy guest echoes on VGA and COM1
        again = {type(f): f for f in pub.tick()}
        assert again[F.SerialFrame] == F.SerialFrame(b"q") and F.ScreenFrame in again
    finally:
        s.close()


def test_a_front_end_loads_no_machine_no_device_no_unicorn():
    code = ("import sys, bareflow.tui.app, bareflow.tui.cli\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('unicorn', 'bareflow.emu.machine', "
            "'bareflow.emu.fastpath', 'bareflow.emu.journey', 'bareflow.emu.timetravel')))\n"
            "print(' '.join(bad))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "", p.stdout


def test_only_named_commands_cross_the_pipe():
    s = FakeSession(autostart=False)
    try:
        with pytest.raises(AssertionError):
            s.command("close")
        s.step()
        assert s.commands == [("step", ())]
    finally:
        s.close()
