"""The TUI's screenshot key: where the PNG goes (the emulator process writes it:
emu/session/screenshot.py)."""
from __future__ import annotations

from pathlib import Path


def default_path(image: str, cycles: int) -> str:
    """An absolute path in the UI's working directory (the emulator process may differ)."""
    stem = Path(image).stem or "screen"
    return str(Path.cwd() / f"bareflow-{stem}-{cycles}.png")
