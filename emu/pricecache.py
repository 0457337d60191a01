"""A persistent, bounded cache of block prices, so the second run of an image starts at full speed.

Pricing a block (emu/costs.py: capstone decode + the cost table) is a pure function of its
bytes, address and mode, and it is most of what a run spends outside the guest the first time
it meets each of its ~2000 blocks (a third of the run loop for fluid_llama.img).  The cache
keeps those results on disk, keyed by exactly those inputs, so a cached price is always the
price the model would compute (same cycles, same trace, every run).

Why it is cut into shards, one per image: a single file for every image ever run grew without
bound (35-58 MB after ~600 images) and was loaded whole at every start.  Why a shard is a
binary file mapped in place (emu/priceshard.py) rather than a decoded dict: a 13.6 MB shard
took 1.2-1.7 s to decode, and the native fast path reads the mapping itself
(emu/fastpath_prices.c), so a cached block is charged without entering Python.  The folder is
kept under a size budget by dropping the shards used least recently.  The shard is named after
the image's identity (its size and first 64 KiB, see `image_identity`): two images that share
it merely share prices, which stay correct because the key is the code itself.

Layout: $BAREFLOW_CACHE_DIR, else $XDG_CACHE_HOME/bareflow, else ~/.cache/bareflow; inside it
`prices-<cost model hash>/<image identity>.bfp`, so any change to the cost model starts
afresh.  Limits: `MAX_SHARD_ENTRIES` per shard (a shard past it restarts from the prices this
run used), `MAX_SHARDS` shards and `BAREFLOW_PRICE_CACHE_MB` (default 64) for the folder.
BAREFLOW_PRICE_CACHE=0 turns it off.  Two runs may share the folder: a shard is replaced
atomically (write + rename, never written in place), a shard that vanishes or is damaged is
simply a miss.  docs/cycle-model.md and docs/performance.md describe it.
"""
from __future__ import annotations

import atexit
import ctypes
import mmap
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any, BinaryIO

from . import priceshard

Key = tuple[int, bytes, bool, bool]
#: the shard's file name ends so; the marshal shards of earlier versions (`.marshal`) are never
#: read, only pruned with the rest (least recently used first)
SUFFIX = ".bfp"
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
    """One image's shard (emu/priceshard.py), mapped read-only, plus what this run priced.

    Values are `(dataclasses.astuple(BlockCost), watched addresses, may set IF)`.  Opening costs
    one `mmap` whatever the shard's size; the native fast path reads the same mapping
    (`address()`), so a block priced by an earlier run is charged without entering Python."""

    def __init__(self, enabled: bool | None = None, identity: str = "default") -> None:
        if enabled is None:
            enabled = os.environ.get("BAREFLOW_PRICE_CACHE", "1") != "0"
        self.enabled = enabled
        self.identity = identity
        self.model = _model_id() if enabled else ""
        self.path = cache_dir() / f"prices-{self.model}" / f"{identity}{SUFFIX}" if enabled else None
        self._new: dict[Key, Any] = {}
        self._records: dict[Key, bytes] = {}
        #: record offsets in `shard` this process read: what a full shard restarts from
        self._used: set[int] = set()
        self._map: mmap.mmap | None = None
        #: called before a save: the pricers that learn from the native reader what it used
        self._before_save: list[Any] = []
        self.shard = priceshard.Shard(b"", self.model)
        if enabled:
            self._open(touch=True)
            _instances.append(self)

    def _open(self, touch: bool = False) -> None:
        """Map the shard (private, never written: pages are shared with the page cache).  A
        missing, empty or foreign file leaves an empty shard: every lookup is a miss."""
        try:
            with open(self.path, "rb") as f:  # type: ignore[arg-type]
                size = os.fstat(f.fileno()).st_size
                if size < priceshard.HEADER_SIZE:
                    return
                m = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY)
            shard = priceshard.Shard(m, self.model)
            if not shard.ok:
                return
            self._map, self.shard = m, shard
            if touch:
                os.utime(self.path)   # least recently *used* shards go first
        except (OSError, ValueError):
            pass

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

    def address(self) -> tuple[int, int]:
        """(address, length) of the mapped shard for the native reader; (0, 0) when there is none.
        The mapping lives as long as this object (the process): a save renames a new file over
        the path, the old file's pages stay mapped."""
        if self._map is None or not self.shard.ok:
            return 0, 0
        buf = ctypes.c_char.from_buffer(self._map)
        return ctypes.addressof(buf), len(self._map)

    def get(self, key: Key) -> Any:
        value = self._new.get(key)
        if value is not None or not self.shard.ok:
            return value
        off = self.shard.find(key)
        if off < 0:
            return None
        rec = self.shard.record_at(off)
        try:
            value = priceshard.record_value(rec)   # type: ignore[arg-type]
        except (ValueError, EOFError, TypeError):
            return None
        self._used.add(off)
        return value

    def value_at(self, off: int) -> Any:
        """The value of the record at `off` (one the native reader found and checked)."""
        self._used.add(off)
        return priceshard.record_value(self.shard.record_at(off))   # type: ignore[arg-type]

    def used(self, offsets: Any) -> None:
        """Records the native fast path served: kept when a full shard restarts."""
        self._used.update(offsets)

    def before_save(self, fn: Any) -> None:
        """Call `fn` (a bound method, held weakly) before each save."""
        self._before_save.append(weakref.WeakMethod(fn))

    def put(self, key: Key, value: Any, record: bytes | None = None) -> None:
        """A price this run computed; `record` is its encoding if the caller has it already."""
        if self.enabled:
            self._new[key] = value
            if record is not None:
                self._records[key] = record

    def keys(self) -> set[Key]:
        """Every key the shard and this run hold (tests, tools)."""
        return {k for k, _ in self.shard.records()} | set(self._new)

    def save(self) -> None:
        """Merge what this process priced into the shard (atomically; other processes may too),
        then keep the folder within its budget."""
        for ref in self._before_save:
            fn = ref()
            if fn is not None:
                try:
                    fn()
                except Exception:   # a machine already torn down: what it used is lost, no more
                    pass
        if not self.enabled or not self._new:
            return
        try:
            folder = self.path.parent  # type: ignore[union-attr]
            folder.mkdir(parents=True, exist_ok=True)
            on_disk = PriceCache(enabled=False)
            on_disk.model, on_disk.path = self.model, self.path
            on_disk._open()
            new = [(key, self._records.get(key) or priceshard.encode(key, value))
                   for key, value in self._new.items()]
            if on_disk.shard.nrecords + len(new) > MAX_SHARD_ENTRIES:
                # an image that keeps generating code: start this shard again from what this
                # run used, so the next run of the same work still finds all its prices
                kept = {}
                for off in self._used:
                    rec = self.shard.record_at(off)
                    if rec is not None:
                        kept[priceshard.record_key(rec)] = bytes(rec)
                kept.update(new)
                data = priceshard.build(kept.items(), self.model)
            else:
                data = priceshard.append(on_disk.shard, new, self.model)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".prices-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, self.path)  # type: ignore[arg-type]
            except OSError:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            self._new.clear()
            self._records.clear()
            try:
                self.path.with_suffix(".marshal").unlink()   # type: ignore[union-attr]  # an earlier format
            except OSError:
                pass
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
