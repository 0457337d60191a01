"""Exports: speedscope and Chrome trace JSON of the profile, SVG of the VGA text screen."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "images"))
import build as images  # noqa: E402

from bareflow.emu.export import (CGA_PALETTE, chrome_trace_document, screen_svg,  # noqa: E402
                                  speedscope_document)
from bareflow.emu.journey import Milestone  # noqa: E402

EMU = [sys.executable, "-m", "bareflow.emu.cli"]
SVG = "{http://www.w3.org/2000/svg}"
ROWS = [
    {"name": "matmul", "calls": 10, "exclusive_cycles": 7000, "inclusive_cycles": 7000, "exclusive_pct": 70.0},
    {"name": "main", "calls": 1, "exclusive_cycles": 2000, "inclusive_cycles": 10000, "exclusive_pct": 20.0},
    {"name": "idle", "calls": 0, "exclusive_cycles": 0, "inclusive_cycles": 0, "exclusive_pct": 0.0},
    {"name": "[bios]", "calls": 3, "exclusive_cycles": 1000, "inclusive_cycles": 1000, "exclusive_pct": 10.0},
]


def test_speedscope_is_sampled_from_the_exact_counters():
    doc = speedscope_document(ROWS, name="t", total_cycles=12345)
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = [f["name"] for f in doc["shared"]["frames"]]
    assert frames == ["matmul", "main", "idle", "[bios]"]
    prof = doc["profiles"][0]
    assert prof["type"] == "sampled" and prof["unit"] == "none"
    assert prof["samples"] == [[0], [1], [3]] and prof["weights"] == [7000, 2000, 1000]
    assert prof["endValue"] == 10000 and "12,345 cycles" in prof["name"]
    json.dumps(doc)


def test_chrome_trace_has_journey_instants_and_profile_slices():
    ms = [Milestone("handover", 0, 0, "hand-over", "t"), Milestone("pm_entry", 250_000, 9, "protected", "t")]
    doc = chrome_trace_document(ROWS, milestones=ms, cpu_hz=100_000_000)
    ev = doc["traceEvents"]
    inst = [e for e in ev if e["ph"] == "i"]
    assert [(e["name"], e["ts"]) for e in inst] == [("hand-over", 0), ("protected", 2500.0)]   # 10 ns per cycle
    slices = [e for e in ev if e["ph"] == "X"]
    assert [s["name"] for s in slices] == ["matmul", "main", "[bios]"]
    assert [s["ts"] for s in slices] == [0, 70.0, 90.0] and [s["dur"] for s in slices] == [70.0, 20.0, 10.0]
    assert slices[1]["args"]["inclusive_cycles"] == 10000
    assert all(e["ph"] in ("M", "i", "X") and "pid" in e for e in ev)


def _screen(text_rows: dict[int, tuple[str, int]]) -> bytes:
    buf = bytearray(b" \x07" * 2000)
    for r, (text, attr) in text_rows.items():
        for c, ch in enumerate(text):
            buf[(r * 80 + c) * 2] = ord(ch)
            buf[(r * 80 + c) * 2 + 1] = attr
    return bytes(buf)


def test_screen_svg_colours_text_and_cursor():
    scr = _screen({0: ("Hello <world> & co", 0x1E), 5: ("\x01 smile", 0x4F)})
    svg = screen_svg(scr, cursor=(5, 3, True), cursor_lines=(14, 15))
    root = ET.fromstring(svg)
    assert root.get("width") == "720" and root.get("height") == "400"
    texts = root.findall(f"{SVG}text")
    assert texts[0].text == "Hello <world> & co" and texts[0].get("fill") == CGA_PALETTE[0xE]   # yellow on blue
    assert texts[0].get("x").split()[:3] == ["0", "9", "18"]
    assert texts[1].text == "\u263a smile" and texts[1].get("fill") == CGA_PALETTE[0xF]
    rects = root.findall(f"{SVG}rect")
    bgs = [(r.get("y"), r.get("width"), r.get("fill")) for r in rects if r.get("class") != "cursor"]
    assert ("0", str(18 * 9), CGA_PALETTE[1]) in bgs and ("80", str(7 * 9), CGA_PALETTE[4]) in bgs
    cur = [r for r in rects if r.get("class") == "cursor"][0]
    assert (cur.get("x"), cur.get("y"), cur.get("height")) == ("27", str(5 * 16 + 14), "2")
    # hidden cursor: no cursor rectangle
    assert 'class="cursor"' not in screen_svg(scr, cursor=(5, 3, False))


def test_cli_run_writes_all_three_exports(tmp_path):
    s, c, v = tmp_path / "p.speedscope.json", tmp_path / "p.trace.json", tmp_path / "screen.svg"
    env = dict(os.environ)
    env.pop("BAREFLOW_DEBUG", None)
    r = subprocess.run(EMU + ["run", str(images.build("core_pm.asm")), "--no-stdin", "--export-speedscope", str(s),
                              "--export-chrome-trace", str(c), "--export-screen-svg", str(v)],
                       capture_output=True, timeout=120, env=env)
    assert r.returncode == 33, r.stderr
    sdoc = json.loads(s.read_text())
    names = [f["name"] for f in sdoc["shared"]["frames"]]
    assert "[boot sector]" in names and sum(sdoc["profiles"][0]["weights"]) > 0
    cdoc = json.loads(c.read_text())
    titles = [e["name"] for e in cdoc["traceEvents"] if e["ph"] == "i"]
    assert any("protected mode begins" in t for t in titles)
    root = ET.fromstring(v.read_text())
    assert "Booting from Hard Disk..." in [t.text for t in root.findall(f"{SVG}text")]
