"""A persistent, bounded cache of block prices, so the second run of an image starts at full speed.

Pricing a block (emu/costs.py: capstone decode + the cost table) is a pure function of its
bytes, address and mode, and it is most of what a run spends outside the guest the first time
it meets each of its ~2000 blocks (a third of the run loop for fluid_llama.img).  The cache
keeps those results on disk, keyed by exactly those inputs, so a cached price is always the
price the model would compute (same cycles, same trace, every run).

Why it is cut into shards, one per image: a single file for every image ever run grew without
bound (35-58 MB after ~600 images) and was loaded whole at every start, so a 1000-cycle run
took seconds.  Now a run loads only its own image's shard (a few hundred KB at most), and the
folder is kept under a size budget by dropping the shards used least recently.  The shard is
named after the image's identity (its size and first 64 KiB, see `image_identity`): two images
that share it merely share prices, which stay correct because the key is the code itself.

Layout: $BAREFLOW_CACHE_DIR, else $XDG_CACHE_HOME/bareflow, else ~/.cache/bareflow; inside it
`prices-<cost model hash>/<image identity>.marshal`, so any change to the cost model starts
afresh.  Limits: `MAX_SHARD_ENTRIES` per shard (a shard past it restarts from the prices this
run used), `MAX_SHARDS` shards and `BAREFLOW_PRICE_CACHE_MB` (default 64) for the folder.
BAREFLOW_PRICE_CACHE=0 turns it off.  Two runs may share the folder: a shard is replaced
atomically (write + rename), a shard that vanishes or is damaged is simply a miss.
docs/cycle-model.md and docs/performance.md describe it.
"""
from __future__ import annotations

import atexit
import gc
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

Key = tuple[int, bytes, bool, bool]
_instances: list["PriceCache"] = []
MAX_SHARD_ENTRIES = 100_000
#: at most this many shards (images) are kept, whatever their size: a save scans the folder to
#: prune it, and that scan must stay a few milliseconds however many images a machine has run
MAX_SHARDS = 1024
DEFAULT_BUDGET_MB = 64
_IDENTITY_BYTES = 64 * 1024
#: The files whose source names the cache folder (see `_model_id`).
_MODEL_FILES = ("costs.py", "cost_tables.py", "special.py")


def _sha256(data: bytes) -> Any:
    """hashlib.sha256, from the interpreter's built-in module when there is one: `import
    hashlib` loads OpenSSL (13-20 ms, a tenth of a short run's start-up) and the digest is the
    same (tests/emu/test_startup.py checks)."""
    try:
        from _sha2 import sha256   # Python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256   # Python 3.11
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def _model_id() -> str:
    """Hash of the cost model's source (the pricing code and its tables) and of the
    watched-instruction rules (the cache keeps which instructions of a block are watched): a
    new model never reads an old model's prices.  Every file the model lives in is listed in
    _MODEL_FILES; a file split out of costs.py must be added there."""
    here = Path(__file__)   # not imported: capstone is slow to load
    src = b"".join(here.with_name(name).read_bytes() for name in _MODEL_FILES)
    return _sha256(src).hexdigest()[:16]


def _unmarshal(raw: bytes) -> Any:
    """marshal.loads with the cyclic GC paused.

    Why: a shard is ~100k small tuples; built while the emulator's modules and machine are
    alive, they set off a hundred young collections and a full one over every object of the
    process - 50-120 ms instead of the 3-5 ms the decoding itself takes (issue 11, the
    fluid_llama start-up).  Tuples of ints, bytes and strings cannot form cycles: pausing the
    collector loses nothing.  The collector is restored as it was (tests may have it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return marshal.loads(raw)
    finally:
        if was_enabled:
            gc.enable()


def cache_dir() -> Path:
    env = os.environ.get("BAREFLOW_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bareflow"


def image_identity(head: bytes, size: int) -> str:
    """The shard name for a disk: its size and first bytes (boot sector, loader, usually the
    kernel), cheap to compute even for a huge image."""
    h = _sha256(size.to_bytes(8, "little"))
    h.update(head[:_IDENTITY_BYTES])
    return h.hexdigest()[:24]


def identity_of_file(f: BinaryIO, size: int) -> str:
    f.seek(0)
    return image_identity(f.read(_IDENTITY_BYTES), size)


def _budget_bytes() -> int:
    try:
        mb = float(os.environ.get("BAREFLOW_PRICE_CACHE_MB", DEFAULT_BUDGET_MB))
    except ValueError:
        mb = DEFAULT_BUDGET_MB
    return max(0, int(mb * 1024 * 1024))


class PriceCache:
    """In-memory dict backed by one shard file (marshal of plain tuples); merged back at exit.

    Values are `dataclasses.astuple(BlockCost)` plus what special.py learnt of the block."""

    def __init__(self, enabled: bool | None = None, identity: str = "default") -> None:
        if enabled is None:
            enabled = os.environ.get("BAREFLOW_PRICE_CACHE", "1") != "0"
        self.enabled = enabled
        self.identity = identity
        self.path = cache_dir() / f"prices-{_model_id()}" / f"{identity}.marshal" if enabled else None
        self._data: dict[Key, Any] = {}
        self._new: dict[Key, Any] = {}
        #: keys this process read from the shard: what a full shard restarts from
        self._used: set[Key] = set()
        if enabled:
            self._data = self._load(touch=True)
            _instances.append(self)

    def _load(self, touch: bool = False) -> dict[Key, Any]:
        try:
            with open(self.path, "rb") as f:  # type: ignore[arg-type]
                raw = f.read()
            data = _unmarshal(raw)   # plain tuples and bytes: nothing in it can run code
            if touch:
                os.utime(self.path)   # least recently *used* shards go first
            return data if isinstance(data, dict) else {}
        except Exception:  # missing, truncated, written by another version: start afresh
            return {}

    _by_identity: dict[str, "PriceCache"] = {}

    @classmethod
    def for_image(cls, identity: str) -> "PriceCache":
        """One instance per image identity and process (tests build many machines)."""
        cache = cls._by_identity.get(identity)
        if cache is None:
            cache = cls._by_identity[identity] = cls(identity=identity)
        return cache

    @classmethod
    def shared(cls) -> "PriceCache":
        return cls.for_image("default")

    def get(self, key: Key) -> Any:
        value = self._data.get(key)
        if value is not None:
            self._used.add(key)
        return value

    def put(self, key: Key, value: Any) -> None:
        if self.enabled:
            self._data[key] = value
            self._new[key] = value

    def save(self) -> None:
        """Merge what this process priced into the shard (atomically; other processes may too),
        then keep the folder within its budget."""
        if not self.enabled or not self._new:
            return
        try:
            folder = self.path.parent  # type: ignore[union-attr]
            folder.mkdir(parents=True, exist_ok=True)
            merged = self._load()
            if len(merged) + len(self._new) > MAX_SHARD_ENTRIES:
                # an image that keeps generating code: start this shard again from what this
                # run used, so the next run of the same work still finds all its prices
                merged = {k: self._data[k] for k in self._used if k in self._data}
            merged.update(self._new)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".prices-")
            with os.fdopen(fd, "wb") as f:
                marshal.dump(merged, f)
            os.replace(tmp, self.path)  # type: ignore[arg-type]
            self._new.clear()
            prune(folder.parent, _budget_bytes())
        except OSError:
            pass  # a read-only home: the cache is an optimisation, never an error


def prune(root: Path, budget: int, max_shards: int | None = None) -> None:
    """Delete the least recently used shards (and old cost models' folders, and the single
    file of earlier versions) until the cache holds at most `budget` bytes and `max_shards`
    shards (default MAX_SHARDS).  One scandir and one stat per shard: bounded by MAX_SHARDS."""
    limit = MAX_SHARDS if max_shards is None else max_shards
    files: list[tuple[float, int, Path]] = []
    try:
        tops = list(os.scandir(root))
    except OSError:
        return
    for top in tops:
        if not top.name.startswith("prices-"):
            continue
        try:
            if top.is_file():
                files.append((0.0, top.stat().st_size, Path(top.path)))   # pre-shard layout: oldest
                continue
            with os.scandir(top.path) as shards:
                for shard in shards:
                    st = shard.stat()
                    files.append((st.st_mtime, st.st_size, Path(shard.path)))
        except OSError:
            continue
    total = sum(size for _, size, _ in files)
    count = len(files)
    for _, size, path in sorted(files, key=lambda t: t[0]):
        if total <= budget and count <= limit:
            break
        try:
            path.unlink()
        except OSError:
            pass
        total -= size
        count -= 1


@atexit.register
def _save_all() -> None:
    for cache in _instances:
        cache.save()
