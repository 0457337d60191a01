"""A persistent cache of block prices, so the second run of an image starts at full speed.

Pricing a block (emu/costs.py: capstone decode + the cost table) is a pure function of its
bytes, address and mode, and it is most of what a run spends outside the guest the first time
it meets each of its ~2000 blocks (a third of the run loop for fluid_llama.img).  The cache
keeps those results on disk, keyed by exactly those inputs, in a file named after a hash of
the cost model's source: any change to the model starts a new file, so a cached price is
always the price the model would compute (same cycles, same trace, every run).

Location: $BAREFLOW_CACHE_DIR, else $XDG_CACHE_HOME/bareflow, else ~/.cache/bareflow.
BAREFLOW_PRICE_CACHE=0 turns it off.  A damaged or unreadable file is ignored.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import marshal
import tempfile
from pathlib import Path
from typing import Any

from . import costs

Key = tuple[int, bytes, bool, bool]
_instances: list["PriceCache"] = []


def _model_id() -> str:
    """Hash of the cost model's source: a new model never reads an old model's prices."""
    from . import special   # its classify() results are cached too
    src = Path(costs.__file__).read_bytes() + Path(special.__file__).read_bytes()
    return hashlib.sha256(src).hexdigest()[:16]


def cache_dir() -> Path:
    env = os.environ.get("BAREFLOW_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bareflow"


class PriceCache:
    """In-memory dict backed by one file per cost model (marshal of plain tuples); saved at exit.

    Values are `dataclasses.astuple(BlockCost)`; one instance per process (`shared()`)."""

    def __init__(self, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = os.environ.get("BAREFLOW_PRICE_CACHE", "1") != "0"
        self.enabled = enabled
        self.path = cache_dir() / f"prices-{_model_id()}.marshal" if enabled else None
        self._data: dict[Key, Any] = {}
        self._new: dict[Key, Any] = {}
        if enabled:
            self._data = self._load()
            _instances.append(self)

    def _load(self) -> dict[Key, Any]:
        try:
            with open(self.path, "rb") as f:  # type: ignore[arg-type]
                data = marshal.load(f)   # plain tuples and bytes: nothing in it can run code
            return data if isinstance(data, dict) else {}
        except Exception:  # missing, truncated, written by another version: start afresh
            return {}

    _shared: "PriceCache | None" = None

    @classmethod
    def shared(cls) -> "PriceCache":
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def get(self, key: Key) -> Any:
        return self._data.get(key)

    def put(self, key: Key, value: Any) -> None:
        if self.enabled:
            self._data[key] = value
            self._new[key] = value

    def save(self) -> None:
        """Merge what this process priced into the file (atomically; other processes may too)."""
        if not self.enabled or not self._new:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            merged = self._load()
            merged.update(self._new)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".prices-")  # type: ignore[union-attr]
            with os.fdopen(fd, "wb") as f:
                marshal.dump(merged, f)
            os.replace(tmp, self.path)  # type: ignore[arg-type]
            self._new.clear()
        except OSError:
            pass  # a read-only home: the cache is an optimisation, never an error


@atexit.register
def _save_all() -> None:
    for cache in _instances:
        cache.save()
