"""PS/2 scan code tables: US-layout text -> set 2 make/break codes, and the 8042's set 2 -> set 1
translation.

The keyboard itself speaks set 2; a PC's 8042 translates to set 1 when bit 6 of its command
byte is set (what nearly every OS and BIOS asks for).  The translation table is the one every
8042 (and QEMU hw/input/ps2.c `translate_table`) implements: a fixed byte->byte map, with the
break prefix F0 folded into bit 7 of the following code.
"""
from __future__ import annotations

from typing import Iterable

# set 2 code -> set 1 code, for 0x00-0x7F (0x80-0xFF map to themselves except 0x83, 0x84).
_XLATE_LOW = bytes.fromhex(
    "ff 43 41 3f 3d 3b 3c 58 64 44 42 40 3e 0f 29 59"
    "65 38 2a 70 1d 10 02 5a 66 71 2c 1f 1e 11 03 5b"
    "67 2e 2d 20 12 05 04 5c 68 39 2f 21 14 13 06 5d"
    "69 31 30 23 22 15 07 5e 6a 72 32 24 16 08 09 5f"
    "6b 33 25 17 18 0b 0a 60 6c 34 35 26 27 19 0c 61"
    "6d 73 28 74 1a 0d 62 6e 3a 36 1c 1b 75 2b 63 76"
    "55 56 77 78 79 7a 0e 7b 7c 4f 7d 4b 47 7e 7f 6f"
    "52 53 50 4c 4d 48 01 45 57 4e 51 4a 37 49 46 54"
)
assert len(_XLATE_LOW) == 128

#: The 8042 translation table, indexed by the set 2 byte.
XLATE: bytes = _XLATE_LOW + bytes(0x41 if i == 0x83 else 0x54 if i == 0x84 else i
                                  for i in range(0x80, 0x100))

#: set 1 code -> set 2 code for the keys (inverse of XLATE over real set 2 key codes).
SET1_TO_SET2: dict[int, int] = {}
for _s2 in range(0x84, -1, -1):
    # skip set 2 codes that are no key but alias a key's set 1 code (0x02 -> 0x41 like F7's
    # 0x83, 0x7F -> 0x54 like SysRq's 0x84) and the unused 0x00, 0x80-0x82
    if _s2 in (0x00, 0x02, 0x7F, 0x80, 0x81, 0x82):
        continue
    SET1_TO_SET2.setdefault(XLATE[_s2], _s2)

LSHIFT_SET1 = 0x2A

# US layout, set 1 make codes (the codes every PC text guest decodes).
_PLAIN_SET1: dict[str, int] = {
    "\x1b": 0x01, "1": 0x02, "2": 0x03, "3": 0x04, "4": 0x05, "5": 0x06, "6": 0x07,
    "7": 0x08, "8": 0x09, "9": 0x0A, "0": 0x0B, "-": 0x0C, "=": 0x0D, "\b": 0x0E,
    "\t": 0x0F, "q": 0x10, "w": 0x11, "e": 0x12, "r": 0x13, "t": 0x14, "y": 0x15,
    "u": 0x16, "i": 0x17, "o": 0x18, "p": 0x19, "[": 0x1A, "]": 0x1B, "\n": 0x1C,
    "\r": 0x1C, "a": 0x1E, "s": 0x1F, "d": 0x20, "f": 0x21, "g": 0x22, "h": 0x23,
    "j": 0x24, "k": 0x25, "l": 0x26, ";": 0x27, "'": 0x28, "`": 0x29, "\\": 0x2B,
    "z": 0x2C, "x": 0x2D, "c": 0x2E, "v": 0x2F, "b": 0x30, "n": 0x31, "m": 0x32,
    ",": 0x33, ".": 0x34, "/": 0x35, " ": 0x39,
}
_SHIFTED: dict[str, str] = {
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8",
    "(": "9", ")": "0", "_": "-", "+": "=", "{": "[", "}": "]", ":": ";", '"': "'",
    "~": "`", "|": "\\", "<": ",", ">": ".", "?": "/",
}


def char_to_set1(ch: str) -> list[int]:
    """Set 1 make/break sequence typing `ch` on a US keyboard (Shift wrapped around capitals
    and symbols).  Raises ValueError for a character no key produces."""
    shift = False
    if ch in _PLAIN_SET1:
        code = _PLAIN_SET1[ch]
    elif "A" <= ch <= "Z":
        code, shift = _PLAIN_SET1[ch.lower()], True
    elif ch in _SHIFTED:
        code, shift = _PLAIN_SET1[_SHIFTED[ch]], True
    else:
        raise ValueError(f"cannot type {ch!r} on a US PS/2 keyboard")
    if shift:
        return [LSHIFT_SET1, code, code | 0x80, LSHIFT_SET1 | 0x80]
    return [code, code | 0x80]


def set1_to_set2(codes: Iterable[int]) -> list[int]:
    """Convert a set 1 byte stream (makes, breaks with bit 7, E0/E1 prefixes) to the set 2 bytes
    the keyboard would have sent: break = F0 + code, prefixes kept."""
    out: list[int] = []
    for c in codes:
        c &= 0xFF
        if c in (0xE0, 0xE1):
            out.append(c)
            continue
        s2 = SET1_TO_SET2.get(c & 0x7F)
        if s2 is None:
            raise ValueError(f"set 1 scan code {c:#04x} has no set 2 equivalent")
        if c & 0x80:
            out.append(0xF0)
        out.append(s2)
    return out


def text_to_set2(text: str) -> list[int]:
    """Set 2 make/break bytes typing `text` one key at a time ('\\n' = Enter)."""
    out: list[int] = []
    for ch in text:
        out.extend(set1_to_set2(char_to_set1(ch)))
    return out


def translate_stream(codes: Iterable[int]) -> list[int]:
    """What the guest reads with translation on: the 8042 applied to a set 2 byte stream."""
    out: list[int] = []
    high = 0
    for c in codes:
        if c == 0xF0:
            high = 0x80
            continue
        out.append(XLATE[c] | high)
        high = 0
    return out
