"""The TUI's screenshot key: the VGA picture as PNG at its native size, like `run --screen-png`
(320x200 in mode 13h, 640x480 in mode 12h, 720x400 for 80x25 text drawn with the VGA font)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def default_path(image: str, cycles: int) -> str:
    """An absolute path in the UI's working directory (the emulator process may differ)."""
    stem = Path(image).stem or "screen"
    return str(Path.cwd() / f"bareflow-{stem}-{cycles}.png")


def save_png(machine: Any, path: str) -> str:
    """Write the PNG; returns the line the status bar shows (success or the reason)."""
    from ..devices.vga_render import png_bytes
    try:
        frame = machine.screen_frame()
        if frame.kind == "blank":
            return f"screenshot: nothing to save ({frame.mode})"
        Path(path).write_bytes(png_bytes(frame))
    except OSError as exc:
        return f"screenshot: cannot write {path}: {exc.strerror or exc}"
    return f"screenshot: {path} ({frame.width}x{frame.height}, {frame.mode})"
