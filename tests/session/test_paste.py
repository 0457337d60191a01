"""Issue 12, item 1: pasted input is delivered in full, as the guest reads it.

200 prompts pasted into the TUI's COM1 pane reached the guest up to the "O" of prompt 79, then
nothing more.  The input itself was never dropped (the machine's queue and the UART's host queue
are unbounded and paced by the guest's reads); what stopped was time.  While a guest idles in HLT
the interactive run loop paces it against the wall clock (so an idle kernel's timer keeps real
time), measuring from an origin reset only when the guest falls behind.  A guest that had
*computed* faster than real time (fluid_llama's priced kernels run above 100M cycles a second on a
fast host) had banked that lead, and the next HLT - the one between two pasted bytes - paid it all
back in real time: seconds to minutes per byte.  Now only the idle interval itself is paced.

The test makes the host "fast" by slowing the wall clock the machine sees (100 times), then pastes
prompts into fluid_llama's prompt loop (steps=2) through the session's command path and needs
every prompt echoed and answered, in order, within a wall-clock guard.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from bareflow.emu.session.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = [f"Once upon a time {i}" for i in range(12)]


@pytest.fixture
def llama(tmp_path) -> Path:
    from bareflow.tools.image import main as image_main
    img = tmp_path / "llama.img"
    shutil.copyfile(ROOT / "images" / "fluid_llama.img", img)
    assert image_main(["set-cmdline", str(img), "steps=2"]) == 0
    return img


@pytest.mark.timeout(240)
def test_a_paste_reaches_a_guest_that_computed_faster_than_real_time(llama, monkeypatch, capsys):
    from bareflow.emu.machine import Machine, MachineConfig
    real = time.perf_counter
    t0 = real()
    monkeypatch.setattr(time, "perf_counter", lambda: t0 + (real() - t0) / 100)   # a 100x faster host

    m = Machine(MachineConfig(image=str(llama)))
    runner = Runner(m)
    runner.start(run=True)
    try:
        guard = time.monotonic() + 90          # ~12 s here; minutes before the fix
        while not m.serial_out.endswith(b"> ") and time.monotonic() < guard:
            time.sleep(0.05)
        assert m.serial_out.endswith(b"> "), bytes(m.serial_out[-300:])
        paste = "".join(p + "\n" for p in PROMPTS).encode()
        runner.send_serial(paste)            # what the COM1 pane sends for a paste: one message
        while m.serial_out.count(b"\n> ") <= len(PROMPTS) and time.monotonic() < guard:   # + the last "> "
            time.sleep(0.1)
    finally:
        runner.stop()
        m.close()
    out = bytes(m.serial_out).replace(b"\r\n", b"\n").decode("latin-1")
    echoed = [line[2:] for line in out.split("\n") if line.startswith("> ") and len(line) > 2]
    assert echoed == PROMPTS, out[-1500:]    # every prompt, whole and in order
    assert out.count("[stats] tokens=2 ") == len(PROMPTS)
