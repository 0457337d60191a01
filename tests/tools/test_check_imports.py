"""tools/check_imports.py: the layering rules hold on the real tree (CI runs this), and the
checker itself finds what it must (on small made-up trees)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import check_imports as ci  # noqa: E402


def test_the_tree_has_no_cycle_no_upward_import_and_no_long_file():
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "check_imports.py")], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for folder in ci.PACKAGES.values():
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_through_a_lazy_import_is_found(tmp_path):
    root = _tree(tmp_path, {
        "emu/a.py": "from . import b\n",
        "emu/b.py": "def f():\n    from .a import x\n",
    })
    found = ci.problems(root)
    assert "module cycle: bareflow.emu.a -> bareflow.emu.b -> bareflow.emu.a" in found, found


def test_type_checking_imports_are_not_dependencies(tmp_path):
    root = _tree(tmp_path, {
        "emu/a.py": "from . import b\n",
        "emu/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n",
    })
    assert ci.problems(root) == []


def test_layer_cycles_and_upward_imports_are_found(tmp_path):
    root = _tree(tmp_path, {
        "devices/uart.py": "from bareflow.emu.clock import Clock\n",
        "emu/clock.py": "",
        "emu/machine.py": "from bareflow.devices import uart\n",
        "emu/cli.py": "def tui():\n    from ..tui.app import run_tui\n",
        "emu/session/__init__.py": "",
        "tui/app.py": "from bareflow.emu.session import client\n",
        "emu/session/client.py": "",
    })
    found = ci.problems(root)
    assert "layer cycle: bareflow.devices -> bareflow.emu -> bareflow.devices" in found, found
    assert any(line.startswith("upward import: bareflow.devices.uart") for line in found), found
    assert any(line.startswith("upward import: bareflow.emu.cli (bareflow.emu) imports bareflow.tui.app")
               for line in found), found
    assert not any(line.startswith("upward import: bareflow.tui.app") for line in found), found  # downward: fine


def test_a_front_end_reaching_past_the_session_is_found(tmp_path):
    root = _tree(tmp_path, {
        "emu/machine.py": "",
        "emu/session/__init__.py": "",
        "emu/session/client.py": "",
        "tui/app.py": "from bareflow.emu.session.client import SessionClient\n"
                      "def f():\n    from bareflow.emu.machine import Machine\n",
    })
    assert ci.problems(root) == ["front end: bareflow.tui.app imports bareflow.emu.machine "
                                 "(a front end talks to the session only)"]


def test_long_files_are_found_unless_listed(tmp_path, monkeypatch):
    root = _tree(tmp_path, {"tui/big.py": "x = 1\n" * (ci.MAX_LINES + 1), "tools/big.py": "x = 1\n" * 900})
    assert ci.problems(root) == [f"file too long: tui/big.py: {ci.MAX_LINES + 1} lines (more than {ci.MAX_LINES})"]
    monkeypatch.setitem(ci.LINE_EXCEPTIONS, "tui/big.py", "cut in a later issue")
    assert ci.problems(root) == []
