"""Code page 437 as Unicode: the one table for every text-screen reader (VGA, CLI, TUI, SVG).

The VGA font draws glyphs for the control range too (0x01 is a smiley), so the table maps all
256 byte values, not only the printable ones; 0x00 and 0xFF read as a space and a no-break space.
"""
from __future__ import annotations

_LOW = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼"

#: CP437[byte] is the character the VGA text font shows for that byte.
CP437: tuple[str, ...] = tuple(_LOW) + tuple(bytes(range(0x20, 0x7F)).decode("ascii")) + ("⌂",) + \
    tuple(bytes(range(0x80, 0x100)).decode("cp437"))
assert len(CP437) == 256


def decode_row(chars: bytes) -> str:
    """One row of character bytes as text, trailing spaces kept."""
    return "".join(CP437[c] for c in chars)
