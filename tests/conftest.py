"""Shared fixtures and markers for the whole suite.

Folders follow the layers: devices/, bios/, boot/, emu/ (the machine and its tools), session/,
tui/, unikernel/, tools/; tests/images/ holds the small guest programs (build.py assembles them).

Markers (registered in pyproject.toml), set here from where a test lives and what it uses, so
`pytest -m "not qemu and not slow"` is a quick run:
* `qemu`: the module runs qemu-system-i386 (and skips without it);
* `tui`: under tests/tui/ (Pilot, snapshots, tmux);
* `slow`: a `timeout` mark of 60 s or more.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import helpers

HERE = Path(__file__).resolve().parent


@pytest.fixture
def qemu():
    """The reference machine's runner (helpers.run_qemu / qemu_command); skips without QEMU."""
    if helpers.QEMU_BIN is None:
        pytest.skip("qemu-system-i386 is not installed")
    return helpers


@pytest.fixture
def measured_filter():
    """helpers.comparable: a COM1 transcript without its measured [jit]/[stats] lines."""
    return helpers.comparable


@pytest.fixture
def pilot_wait():
    """helpers.wait_for: `await pilot_wait(pilot, cond, timeout, what)` in a Pilot test."""
    return helpers.wait_for


def pytest_collection_modifyitems(config, items) -> None:
    tui_dir = HERE / "tui"
    uses_qemu: dict[str, bool] = {}
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if tui_dir in path.parents:
            item.add_marker(pytest.mark.tui)
        source = getattr(item.module, "__file__", None)
        if source and source not in uses_qemu:
            text = Path(source).read_text()
            uses_qemu[source] = "qemu-system-i386" in text or "run_qemu" in text or "qemu_command" in text
        if "qemu" in item.fixturenames or uses_qemu.get(source, False):
            item.add_marker(pytest.mark.qemu)
        timeout = item.get_closest_marker("timeout")
        if timeout is not None and timeout.args and timeout.args[0] >= 60:
            item.add_marker(pytest.mark.slow)
