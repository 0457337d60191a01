"""Disk backing stores: the image file read lazily, guest writes in a sparse overlay.

Why not read the image into memory: a 1 GiB sparse image then costs 1 GiB of RSS and a 4 GiB one
dies with MemoryError under a memory limit.  Why not mmap it: a 4 GiB mapping fails under
`ulimit -v` (RLIMIT_AS counts address space, not pages touched).  So a store reads the sectors a
request names with `os.pread` and nothing else; its cost is the open file plus the overlay.

Guest writes go to a per-sector copy-on-write overlay in memory (a dict LBA -> 512 bytes), and the
file is never changed -- QEMU's `snapshot=on`, BareFlow's default.  With `snapshot=False` (the
`--no-snapshot` flag or a drive's `snapshot=off`: QEMU's own default) every guest write also goes
to the file at once, as QEMU writes a drive without `-snapshot`.

An image is refused (BadImage, exit 64, one line) if the ATA LBA48 scheme cannot address all of
it: QEMU's ide-hd addresses at most 2**48 sectors, and so does INT 13h's EDD path.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..devices.base.errors import BadImage

SECTOR = 512
#: The largest disk the ATA LBA48 command set (and an ide-hd) can address, in sectors.
MAX_SECTORS_LBA48 = 1 << 48


class BackingStore:
    """A raw image as sectors: `read`/`write` whole sectors, zeros past the end of the file.

    `sectors` rounds the file up to whole sectors, as QEMU does for a raw image (the tail reads as
    zeros).  Thread-safety: none needed (the machine's run loop is the only caller)."""

    def __init__(self, path: Path | None, fd: int | None, size_bytes: int, *, snapshot: bool = True,
                 data: bytes | bytearray | None = None) -> None:
        self.path = path
        self._fd = fd
        self._data = data
        self.size_bytes = size_bytes
        self.sectors = -(-size_bytes // SECTOR)
        self.snapshot = snapshot
        #: LBA -> the sector as the guest last wrote it (copy-on-write, sparse)
        self.overlay: dict[int, bytes] = {}

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, snapshot: bool = True, what: str = "") -> "BackingStore":
        """Open an image file; every problem is a one-line BadImage naming the file.

        `what` prefixes the message (e.g. "--hdb "); the positional image keeps the historic
        '<path>: no such file' form."""
        p = Path(path)
        name = f"{what}{p}"
        if not str(path):
            raise BadImage("no image given")
        if not p.exists():
            raise BadImage(f"{name}: no such file")
        if p.is_dir():
            raise BadImage(f"{name}: is a directory, not a disk image")
        try:
            fd = os.open(p, os.O_RDONLY if snapshot else os.O_RDWR)
        except OSError as exc:
            raise BadImage(f"{name}: cannot be {'read' if snapshot else 'opened for writing'} "
                           f"({exc.strerror or exc})") from None
        try:
            st = os.fstat(fd)
            if stat.S_ISBLK(st.st_mode):
                size = os.lseek(fd, 0, os.SEEK_END)
            elif stat.S_ISREG(st.st_mode):
                size = st.st_size
            else:
                raise BadImage(f"{name}: not a regular file")
            check_capacity(size, name)
        except BaseException:
            os.close(fd)
            raise
        return cls(p, fd, size, snapshot=snapshot)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray, path: Path | None = None) -> "BackingStore":
        """An in-memory image (tests, the MiniPC harness)."""
        return cls(path, None, len(data), data=bytes(data))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # the fd must not outlive a Machine the caller forgot to close
        try:
            self.close()
        except Exception:
            pass

    # -- sectors -----------------------------------------------------------------------------
    def _file_read(self, offset: int, n: int) -> bytes:
        if self._data is not None:
            return self._data[offset:offset + n]
        if self._fd is None:
            raise ValueError("backing store closed")
        out = b""
        while len(out) < n:
            chunk = os.pread(self._fd, n - len(out), offset + len(out))
            if not chunk:
                break
            out += chunk
        return out

    def read(self, lba: int, count: int) -> bytes:
        """Sectors [lba, lba+count): the overlay's where the guest wrote, else the file's; zeros
        past the file's end.  The caller keeps the range inside `sectors`."""
        ov = self.overlay
        if not ov or not any((lba + i) in ov for i in range(count)):
            data = self._file_read(lba * SECTOR, count * SECTOR)
            return data if len(data) == count * SECTOR else data + bytes(count * SECTOR - len(data))
        out = bytearray()
        for s in range(lba, lba + count):
            sec = ov.get(s)
            if sec is None:
                sec = self._file_read(s * SECTOR, SECTOR)
                if len(sec) < SECTOR:
                    sec += bytes(SECTOR - len(sec))
            out += sec
        return bytes(out)

    def write(self, lba: int, data: bytes) -> None:
        """Whole sectors into the overlay (and, with snapshot off, into the file at once)."""
        for i in range(len(data) // SECTOR):
            self.overlay[lba + i] = bytes(data[i * SECTOR:(i + 1) * SECTOR])
        if not self.snapshot and self._fd is not None:
            # never grow the file past its size: the rounded-up tail stays virtual, as in QEMU
            start = lba * SECTOR
            end = min(start + (len(data) // SECTOR) * SECTOR, self.size_bytes)
            if end > start:
                os.pwrite(self._fd, bytes(data[:end - start]), start)

    def __len__(self) -> int:
        return self.size_bytes

    def __getitem__(self, key: slice | int) -> bytes | int:
        """Byte view of the disk as the guest sees it (overlay included), for tools and tests;
        only the sectors the slice covers are read."""
        if isinstance(key, int):
            if key < 0:
                key += self.size_bytes
            return self[key:key + 1][0]
        start, stop, step = key.indices(self.size_bytes)
        if stop <= start:
            return b""
        first, last = start // SECTOR, (stop - 1) // SECTOR
        data = self.read(first, last - first + 1)
        return data[start - first * SECTOR:stop - first * SECTOR:step]


def check_capacity(size_bytes: int, name: str) -> None:
    """Refuse an image the drive's addressing cannot cover (one line, exit 64)."""
    sectors = -(-size_bytes // SECTOR)
    if sectors > MAX_SECTORS_LBA48:
        raise BadImage(f"{name}: {size_bytes} bytes ({sectors} sectors) is more than an ATA disk can "
                       f"address (LBA48: {MAX_SECTORS_LBA48} sectors of 512 bytes, 128 PiB)")
