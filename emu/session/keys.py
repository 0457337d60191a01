"""The guest keyboard's character table, for front ends and for the session's runner.

A front end turns terminal keys into PS/2 set-1 codes (tui/keymap.py) and the runner checks
which pasted characters a US keyboard can type; both use the keyboard device's own table
(devices/scancodes.py), offered here so that no front end imports a device module.
"""
from __future__ import annotations

from bareflow.devices.scancodes import char_to_set1


def char_scancodes(ch: str) -> list[int] | None:
    """Set-1 make/break sequence that types `ch` on a US keyboard, or None if no key does.
    The table is the keyboard device's, so what the TUI types and what `--keys` types are the
    same codes."""
    try:
        return char_to_set1(ch)
    except ValueError:
        return None


def typeable_text(text: str) -> tuple[str, int]:
    """(the characters a US PS/2 keyboard can type, how many others were dropped)."""
    kept = "".join(ch for ch in text if char_scancodes(ch) is not None)
    return kept, len(text) - len(kept)
