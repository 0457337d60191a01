"""Protocol pieces of the GDB stub without an emulator: framing, escapes, target descriptions."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bareflow.emu import gdb_targets as T
from bareflow.emu.gdbstub import checksum, escape_binary, frame, parse_port, unescape_binary


def test_frame_and_checksum():
    assert frame(b"OK") == b"$OK#9a"                   # the example of gdb's manual
    assert checksum(b"") == 0 and frame(b"") == b"$#00"


@pytest.mark.parametrize("data", [b"", b"abc", b"#$}*", bytes(range(256))])
def test_binary_escape_round_trip(data):
    esc = escape_binary(data)
    assert b"#" not in esc and b"$" not in esc and b"*" not in esc
    assert len(esc) == len(data) + sum(data.count(bytes((c,))) for c in b"#$}*")
    assert unescape_binary(esc) == data


def test_parse_port():
    assert parse_port("0") == 0 and parse_port("1234") == 1234
    for bad in ("-1", "65536", "x"):
        with pytest.raises(ValueError):
            parse_port(bad)


@pytest.mark.parametrize("mode, arch", [("real", "i8086"), ("protected", "i386"), ("v86", "i386")])
def test_target_xml_is_gdbs_i386_layout(mode, arch):
    root = ET.fromstring(T.target_xml(mode).split("\n", 2)[2])   # skip the XML/DOCTYPE lines
    assert root.find("architecture").text == arch
    feats = {f.get("name"): f for f in root.findall("feature")}
    assert set(feats) == {"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.bareflow.x86.sys"}
    names = [r.get("name") for f in root.findall("feature") for r in f.findall("reg")]
    # gdb's own numbering (i386-tdep.h): eip 8, eflags 9, cs 10 .. gs 15, st0 16, fctrl 24, xmm0 32, mxcsr 40
    assert names[:16] == ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
                          "cs", "ss", "ds", "es", "fs", "gs"]
    assert names[16] == "st0" and names[24] == "fctrl" and names[32] == "xmm0" and names[40] == "mxcsr"
    assert names == [r.name for r in T.REGISTERS]
    sizes = {r.get("name"): int(r.get("bitsize")) for f in root.findall("feature") for r in f.findall("reg")}
    assert sizes["st7"] == 80 and sizes["xmm7"] == 128 and sizes["cr0"] == 32


def test_mode_hook_uses_cr0():
    assert "$cr0 & 1" in T.GDB_MODE_HOOK and "i8086" in T.GDB_MODE_HOOK and "hook-stop" in T.GDB_MODE_HOOK
