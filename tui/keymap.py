"""Terminal keys -> PS/2 scan code set 1 (what the guest's keyboard driver reads from port 0x60).

A terminal reports characters and named keys, never key-up events, so each press becomes a
complete make/break sequence: make (code), break (code | 0x80), with the E0 prefix before both
for the grey navigation keys, and Shift/Ctrl/Alt make ... break wrapped around the key when
the character needs them (a US layout, which is what the guest's set-1 tables assume).

Pure functions, no Textual import, so the mapping can be tested on its own.  Characters use
the keyboard device's US table (through emu/session/keys.py); this module adds what only a terminal has: named keys,
modifier combinations and the E0-prefixed grey keys.
"""
from __future__ import annotations

from bareflow.emu.session.keys import char_scancodes

LSHIFT = 0x2A
LCTRL = 0x1D
LALT = 0x38
E0 = 0xE0

# Named keys (Textual key names) -> (extended?, make code).
_NAMED: dict[str, tuple[bool, int]] = {
    "escape": (False, 0x01), "backspace": (False, 0x0E), "tab": (False, 0x0F),
    "enter": (False, 0x1C), "space": (False, 0x39),
    "f1": (False, 0x3B), "f2": (False, 0x3C), "f3": (False, 0x3D), "f4": (False, 0x3E),
    "f5": (False, 0x3F), "f6": (False, 0x40), "f7": (False, 0x41), "f8": (False, 0x42),
    "f9": (False, 0x43), "f10": (False, 0x44), "f11": (False, 0x57), "f12": (False, 0x58),
    "home": (True, 0x47), "up": (True, 0x48), "pageup": (True, 0x49), "left": (True, 0x4B),
    "right": (True, 0x4D), "end": (True, 0x4F), "down": (True, 0x50), "pagedown": (True, 0x51),
    "insert": (True, 0x52), "delete": (True, 0x53),
}
# Textual spells a few printable keys by name when they come with modifiers (e.g. ctrl+space).
_NAME_TO_CHAR = {"space": " ", "minus": "-", "equals_sign": "=", "full_stop": ".", "comma": ",",
                 "slash": "/", "semicolon": ";", "apostrophe": "'", "left_square_bracket": "[",
                 "right_square_bracket": "]", "backslash": "\\", "grave_accent": "`"}


def _tap(code: int, extended: bool = False) -> list[int]:
    """Make then break of one key (break = make | 0x80), each preceded by E0 when extended."""
    if extended:
        return [E0, code, E0, code | 0x80]
    return [code, code | 0x80]


def _wrap(modifier: int, inner: list[int]) -> list[int]:
    """Hold a modifier around a key: modifier make, the key, modifier break."""
    return [modifier, *inner, modifier | 0x80]


def key_scancodes(key: str, character: str | None = None) -> list[int] | None:
    """Set-1 sequence for a Textual key event (`event.key`, `event.character`), or None.

    Named keys first (so Enter is Enter and not ctrl+m's character), then modifier combinations
    (`ctrl+c`, `alt+x`, `shift+up`), then the printable character itself.
    """
    if key in _NAMED:
        ext, code = _NAMED[key]
        return _tap(code, ext)
    if "+" in key and key != "+":
        *mods, base = key.split("+")
        inner = key_scancodes(base, _NAME_TO_CHAR.get(base, base if len(base) == 1 else None))
        if inner is None:
            return None
        for mod in reversed(mods):
            if mod == "ctrl":
                inner = _wrap(LCTRL, inner)
            elif mod == "alt":
                inner = _wrap(LALT, inner)
            elif mod == "shift":
                # shift+letter arrives as the capital already; keep shift only for named keys
                if not (inner and inner[0] == LSHIFT):
                    inner = _wrap(LSHIFT, inner)
            else:
                return None
        return inner
    if character is not None and len(character) == 1:
        return char_scancodes(character)
    if key in _NAME_TO_CHAR:
        return char_scancodes(_NAME_TO_CHAR[key])
    if len(key) == 1:
        return char_scancodes(key)
    return None


def text_scancodes(text: str) -> list[int]:
    """Set-1 sequence for a whole string; characters with no US key are skipped."""
    out: list[int] = []
    for ch in text:
        codes = char_scancodes(ch)
        if codes is not None:
            out.extend(codes)
    return out
