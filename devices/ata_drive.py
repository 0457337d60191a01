"""One ATA drive as QEMU's IDEState models it: its registers, LBA/CHS addressing, IDENTIFY data.

Why a module of its own: devices/ata.py is the channel - ports, command decoding, interrupts,
timing on the cycle clock - and it drives two of these.  The drive half holds what belongs to
one device whatever the channel does with it: the task-file registers (with their LBA48 "high
order byte" copies), the sector address they encode, the reset signature, and the IDENTIFY
DEVICE / IDENTIFY PACKET DEVICE words QEMU 7.2 fills for an ide-hd / ide-cd.  The register bit
constants live here because both halves use them; devices/ata.py re-exports all of it.
"""
from __future__ import annotations

from typing import Any, Protocol

SECTOR = 512
MAX_MULT_SECTORS = 16
QEMU_VERSION = "2.5+"          # QEMU_HW_VERSION: what ide-hd reports as firmware revision

# status bits
ERR, DRQ, DSC, DRDY, BSY = 0x01, 0x08, 0x10, 0x40, 0x80
ABRT = 0x04                     # error register: command aborted
# device control bits
NIEN, SRST, HOB = 0x02, 0x04, 0x80


class Store(Protocol):
    sectors: int

    def read(self, lba: int, count: int) -> bytes: ...

    def write(self, lba: int, data: bytes) -> None: ...


def _padstr(text: str, nbytes: int) -> bytes:
    """ATA strings: space padded, the two bytes of each word swapped."""
    raw = text.encode("ascii")[:nbytes].ljust(nbytes, b" ")
    return bytes(raw[i ^ 1] for i in range(nbytes))


class AtaDrive:
    """One drive on a channel: its registers (as QEMU's IDEState) and its medium."""

    def __init__(self, store: Store | None, *, chs: tuple[int, int, int] = (0, 0, 0), serial: str = "",
                 kind: str = "hd") -> None:
        self.store = store
        self.kind = kind if store is not None or kind == "cd" else "none"
        self.chs = chs
        self.serial = serial
        self.nb_sectors = store.sectors if (store is not None and kind == "hd") else 0
        self.buf = bytearray(SECTOR * MAX_MULT_SECTORS)
        self.reset()

    @property
    def present(self) -> bool:
        return self.kind != "none"

    def reset(self) -> None:
        """ide_reset: registers, select A0h, status DRDY|DSC (0 for ATAPI), multiple mode 16."""
        self.feature = self.hob_feature = 0
        self.nsector = self.hob_nsector = 0
        self.sector = self.hob_sector = 0
        self.lcyl = self.hob_lcyl = 0
        self.hcyl = self.hob_hcyl = 0
        self.select = 0xA0
        self.error = 0
        self.status = 0 if self.kind == "cd" else DRDY | DSC
        self.lba48 = False
        self.mult_sectors = MAX_MULT_SECTORS
        self.req_nb_sectors = 1
        self.data_ptr = self.data_end = 0
        self.end_transfer = "dummy"     # what runs when the guest has moved the whole buffer

    def set_signature(self) -> None:
        self.select &= 0xF0
        self.nsector = 1
        self.sector = 1
        if self.kind == "cd":
            self.lcyl, self.hcyl = 0x14, 0xEB
        elif self.kind == "hd":
            self.lcyl = self.hcyl = 0
        else:
            self.lcyl = self.hcyl = 0xFF

    # -- LBA / CHS addressing (ide_get_sector / ide_set_sector) ------------------------
    def get_sector(self) -> int:
        if self.select & 0x40:
            if not self.lba48:
                return ((self.select & 0x0F) << 24) | (self.hcyl << 16) | (self.lcyl << 8) | self.sector
            return ((self.hob_hcyl << 40) | (self.hob_lcyl << 32) | (self.hob_sector << 24)
                    | (self.hcyl << 16) | (self.lcyl << 8) | self.sector)
        _, heads, secs = self.chs
        return (((self.hcyl << 8) | self.lcyl) * heads * secs + (self.select & 0x0F) * secs
                + (self.sector - 1))

    def set_sector(self, n: int) -> None:
        if self.select & 0x40:
            if not self.lba48:
                self.select = (self.select & 0xF0) | ((n >> 24) & 0x0F)
                self.hcyl, self.lcyl, self.sector = (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF
            else:
                self.sector, self.lcyl, self.hcyl = n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF
                self.hob_sector, self.hob_lcyl, self.hob_hcyl = (n >> 24) & 0xFF, (n >> 32) & 0xFF, (n >> 40) & 0xFF
        else:
            _, heads, secs = self.chs
            cyl, r = divmod(n, heads * secs)
            self.hcyl, self.lcyl = (cyl >> 8) & 0xFF, cyl & 0xFF
            self.select = (self.select & 0xF0) | ((r // secs) & 0x0F)
            self.sector = (r % secs) + 1

    def lba48_transform(self, lba48: bool) -> None:
        """Sector count 0 means 256 (LBA28) or 65536 (LBA48); LBA48 counts use the HOB byte."""
        self.lba48 = lba48
        if not lba48:
            if not self.nsector:
                self.nsector = 256
        elif not self.nsector and not self.hob_nsector:
            self.nsector = 65536
        else:
            self.nsector = (self.hob_nsector << 8) | self.nsector

    def identify(self) -> bytes:
        """The 256 IDENTIFY DEVICE words QEMU 7.2 fills for an ide-hd (write cache on).  QEMU
        builds them once and answers the same block ever after (word 59, the multiple mode,
        keeps the value of the first IDENTIFY: SeaBIOS's, 16)."""
        if self._identify is None:
            self._identify = self._build_identify()
        return self._identify

    _identify: bytes | None = None

    def _build_identify(self) -> bytes:
        w = [0] * 256
        cyls, heads, secs = self.chs
        w[0] = 0x0040
        w[1], w[3] = cyls, heads
        w[4], w[5], w[6] = (512 * secs) & 0xFFFF, 512, secs
        w[20], w[21], w[22] = 3, 512, 4
        w[47] = 0x8000 | MAX_MULT_SECTORS
        w[48] = 1
        w[49] = (1 << 11) | (1 << 9) | (1 << 8)
        w[51] = w[52] = 0x200
        w[53] = 1 | (1 << 1) | (1 << 2)
        w[54], w[55], w[56] = cyls, heads, secs
        old = (cyls * heads * secs) & 0xFFFFFFFF
        w[57], w[58] = old & 0xFFFF, old >> 16
        if self.mult_sectors:
            w[59] = 0x100 | self.mult_sectors
        n28 = min(self.nb_sectors, 0x0FFFFFFF)
        w[60], w[61] = n28 & 0xFFFF, n28 >> 16
        w[62] = w[63] = 0x07
        w[64] = 0x03
        w[65] = w[66] = w[67] = w[68] = 120
        w[69] = 1 << 14             # deterministic read after TRIM (ide-hd has a discard granularity)
        w[80], w[81] = 0xF0, 0x16
        w[82] = (1 << 14) | (1 << 5) | 1
        w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10)
        w[84] = 1 << 14
        w[85] = (1 << 14) | (1 << 5) | 1
        w[86] = (1 << 13) | (1 << 12) | (1 << 10)
        w[87] = 1 << 14
        w[88] = 0x3F | (1 << 13)
        w[93] = 1 | (1 << 14) | 0x2000
        n = self.nb_sectors
        w[100], w[101], w[102], w[103] = n & 0xFFFF, (n >> 16) & 0xFFFF, (n >> 32) & 0xFFFF, (n >> 48) & 0xFFFF
        w[106] = 0x6000
        w[169] = 1                  # DATA SET MANAGEMENT (TRIM) supported
        raw = bytearray(b"".join(v.to_bytes(2, "little") for v in w))
        raw[20:40] = _padstr(self.serial, 20)
        raw[46:54] = _padstr(QEMU_VERSION, 8)
        raw[54:94] = _padstr("QEMU HARDDISK", 40)
        return bytes(raw)

    def atapi_identify(self) -> bytes:
        """IDENTIFY PACKET DEVICE of QEMU's ide-cd ("QEMU DVD-ROM")."""
        w = [0] * 256
        w[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5)
        w[20], w[21], w[22] = 3, 512, 4
        w[48] = 1
        w[49] = 1 << 9 | 1 << 8
        w[53] = 7
        w[62] = w[63] = 7
        w[64] = 3
        w[65] = w[66] = 0xB4
        w[67] = 0x12C
        w[68] = 0xB4
        w[71] = w[72] = 30
        w[75] = 0
        w[80] = 0x1E
        w[82], w[83], w[84], w[85], w[86], w[87] = 0x4010, 0x4000, 0x4000, 0x4010, 0, 0x4000
        w[88] = 0x3F | (1 << 13)
        raw = bytearray(b"".join(v.to_bytes(2, "little") for v in w))
        raw[20:40] = _padstr(self.serial, 20)
        raw[46:54] = _padstr(QEMU_VERSION, 8)
        raw[54:94] = _padstr("QEMU DVD-ROM", 40)
        return bytes(raw)

    def state(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in _DRIVE_FIELDS}
        d["buf"] = bytes(self.buf)
        return d

    def load_state(self, d: dict[str, Any]) -> None:
        for k in _DRIVE_FIELDS:
            setattr(self, k, d[k])
        self.buf[:] = d["buf"]


_DRIVE_FIELDS = ("feature", "hob_feature", "nsector", "hob_nsector", "sector", "hob_sector", "lcyl",
                 "hob_lcyl", "hcyl", "hob_hcyl", "select", "error", "status", "lba48", "mult_sectors",
                 "req_nb_sectors", "data_ptr", "data_end", "end_transfer")
