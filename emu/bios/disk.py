"""The boot disk (a raw image) and INT 13h, as QEMU's IDE disk + SeaBIOS's ATA driver behave.

Geometry: QEMU guesses a physical CHS for a raw image (hw/block/hd-geometry.c: from an MBR
partition's end head/sector if one looks plausible, else 16 heads x 63 sectors and
size/1008 cylinders clamped to 2..16383) and a BIOS translation hint (CMOS 0x39); SeaBIOS
(src/block.c setup_translation) turns that into the logical CHS INT 13h reports.  Both steps
are reproduced here so that AH=08h/15h/48h answer what the guest would see under QEMU.

Errors: a CHS request outside the logical geometry, a zero/too large count or an LBA past
the end fails with AH=01h before any transfer; a request that starts inside the disk and runs
past its end transfers the sectors that exist and then fails with AH=0Ch (the drive aborts
the command), AL / the DAP count telling how many sectors moved -- measured under QEMU.

Sectors come from a BackingStore (emu/storage.py): read lazily, writes in an in-memory
overlay; the user's file changes only with `writeback=True` (QEMU without snapshot=on).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from ...devices.base.errors import BadImage
from ..storage import BackingStore
from . import cost
from .frame import BiosCpu, linear, rd8, rd16, set_cf, wr8, wr16

SECTOR = 512

# INT 13h status codes (AH), as SeaBIOS names them in std/disk.h.
OK = 0x00
EPARAM = 0x01           # invalid function or parameter
ECHANGED = 0x06         # media changed (floppy change line)
EBOUNDARY = 0x09        # floppy DMA transfer would cross a 64 KiB boundary
EMEDIA = 0x0C           # drive aborted the transfer (sector past the end of the image)
ECONTROLLER = 0x20      # floppy controller failure (empty drive under QEMU)
ENOTREMOVABLE = 0xB2

# BIOS translation hints (QEMU CMOS 0x39 encoding == SeaBIOS TRANSLATION_*).
T_NONE, T_LBA, T_LARGE = 0, 1, 2

# BDA locations
BDA_FLOPPY_STATUS = 0x441
BDA_DISK_STATUS = 0x474
BDA_HD_COUNT = 0x475
BDA_DISK_IRQ_FLAG = 0x48E


class Disk:
    """A raw disk image as the BIOS sees it: sectors from a BackingStore (emu/storage.py: read
    lazily, guest writes in a copy-on-write overlay), and the geometry QEMU/SeaBIOS give it."""

    def __init__(self, data: "BackingStore | bytes | bytearray", *, path: Path | None = None,
                 writeback: bool = False) -> None:
        if not isinstance(data, BackingStore):
            data = BackingStore.from_bytes(data, path)
        self.store = data
        self.path = path if path is not None else data.path
        self.writeback = writeback or not data.snapshot
        self.size_bytes = data.size_bytes
        #: QEMU rounds a raw image up to whole sectors (the tail reads as zeros).
        self.sectors = data.sectors
        self.pchs, self.translation = qemu_geometry(self.sectors, self.read(0, 1) if self.sectors else b"")
        self.lchs = seabios_lchs(self.pchs, self.translation, self.sectors)

    @classmethod
    def open(cls, path: str | os.PathLike, *, writeback: bool = False) -> "Disk":
        """Open an image file; any problem becomes a one-line BadImage.  `writeback`: guest
        writes reach the file (QEMU without snapshot=on)."""
        p = Path(path)
        if not p.exists():
            raise BadImage(f"disk image {p}: no such file")
        if not p.is_file():
            raise BadImage(f"disk image {p}: not a regular file")
        if p.stat().st_size == 0:
            raise BadImage(f"disk image {p}: file is empty")
        return cls(BackingStore.open(p, snapshot=not writeback, what="disk image "), path=p)

    # -- sector access ------------------------------------------------------------------
    def read(self, lba: int, count: int) -> bytes:
        """Sectors [lba, lba+count) -- the caller keeps them inside the disk."""
        return self.store.read(lba, count)

    def write(self, lba: int, data: bytes) -> None:
        self.store.write(lba, data)

    @property
    def _overlay(self) -> dict[int, bytes]:
        return self.store.overlay

    @_overlay.setter
    def _overlay(self, value: dict[int, bytes]) -> None:
        self.store.overlay = value

    @property
    def dirty_sectors(self) -> list[int]:
        return sorted(self.store.overlay)

    def flush(self) -> None:
        """Nothing to do: with writeback every write already reached the file (as QEMU), and
        without it the file must never change."""


# ---- geometry -------------------------------------------------------------------------

def qemu_geometry(sectors: int, mbr: bytes) -> tuple[tuple[int, int, int], int]:
    """QEMU's hd_geometry_guess for an IDE disk: (cylinders, heads, sectors), translation."""
    lchs = _guess_lchs_from_mbr(sectors, mbr)
    if lchs is None:
        pchs = _chs_for_size(sectors)
        c, h, s = pchs
        trans = T_NONE if (c <= 1024 and h <= 16 and s <= 63) else T_LBA
        return pchs, trans
    if lchs[1] > 16:
        pchs = _chs_for_size(sectors)
        trans = T_LARGE if pchs[0] * pchs[1] <= 131072 else T_LBA
        return pchs, trans
    return lchs, T_NONE


def _chs_for_size(sectors: int) -> tuple[int, int, int]:
    cyls = min(16383, max(2, sectors // (16 * 63)))
    return cyls, 16, 63


def _guess_lchs_from_mbr(sectors: int, mbr: bytes) -> tuple[int, int, int] | None:
    """A partition ending on a cylinder boundary reveals the geometry it was made with."""
    if len(mbr) < 512 or mbr[510] != 0x55 or mbr[511] != 0xAA:
        return None
    for i in range(4):
        p = mbr[0x1BE + 16 * i: 0x1BE + 16 * (i + 1)]
        nr_sects = struct.unpack_from("<I", p, 12)[0]
        end_head = p[5]
        if nr_sects and end_head:
            heads = end_head + 1
            secs = p[6] & 63
            if secs == 0:
                continue
            cyls = sectors // (heads * secs)
            if cyls < 1 or cyls > 16383:
                continue
            return cyls, heads, secs
    return None


def seabios_lchs(pchs: tuple[int, int, int], translation: int, sectors: int) -> tuple[int, int, int]:
    """SeaBIOS setup_translation: the logical geometry of INT 13h AH=02h/08h."""
    cyls, heads, spt = pchs
    if translation == T_LBA:
        spt = 63
        if sectors > 63 * 255 * 1024:
            heads, cyls = 255, 1024
        else:
            sect = sectors // 63
            h = sect // 1024
            heads = 255 if h > 128 else 128 if h > 64 else 64 if h > 32 else 32 if h > 16 else 16
            cyls = sect // heads
    elif translation == T_LARGE:
        while cyls > 1024:
            cyls >>= 1
            heads <<= 1
            if heads > 127:
                break
    return min(cyls, 1024), heads, spt


def dpte(translation: int) -> bytes:
    """The 16-byte EDD device parameter table extension SeaBIOS fills for an ATA disk on the
    primary channel (ports 1F0h/3F6h, IRQ 14, master, LBA)."""
    options = 1 << 4                                   # LBA translation supported
    if translation != T_NONE:
        options |= 1 << 3
        if translation == T_LBA:
            options |= 1 << 9
    t = bytearray(struct.pack("<HHBBBBBBHHB", 0x1F0, 0x3F6, 0xE0, 0xCB, 14, 1, 0, 0, options, 0, 0x11))
    t.append((-sum(t)) & 0xFF)
    return bytes(t)


# ---- floppies ---------------------------------------------------------------------------
#: QEMU's floppy formats (hw/block/fdc.c fd_formats, in its order): (CMOS drive type, sectors
#: per track, tracks, heads, data-rate bits of BDA 0x490).  Drive types: 1 = 360K, 2 = 1.2M,
#: 4 = 1.44M, 5 = 2.88M.  Rates: 0 = 500 kbit/s, 1 = 300, 2 = 250, 3 = 1000.
FLOPPY_FORMATS = [
    (4, 18, 80, 2, 0), (4, 20, 80, 2, 0), (4, 21, 80, 2, 0), (4, 21, 82, 2, 0), (4, 21, 83, 2, 0),
    (4, 22, 80, 2, 0), (4, 23, 80, 2, 0), (4, 24, 80, 2, 0),
    (5, 36, 80, 2, 3), (5, 39, 80, 2, 3), (5, 40, 80, 2, 3), (5, 44, 80, 2, 3), (5, 48, 80, 2, 3),
    (4, 9, 80, 2, 2), (4, 10, 80, 2, 2), (4, 10, 82, 2, 2), (4, 10, 83, 2, 2), (4, 13, 80, 2, 2),
    (4, 14, 80, 2, 2),
    (2, 15, 80, 2, 0), (2, 18, 80, 2, 0), (2, 18, 82, 2, 0), (2, 18, 83, 2, 0), (2, 20, 80, 2, 0),
    (2, 9, 80, 2, 2), (2, 11, 80, 2, 2),
    (2, 9, 40, 2, 1), (2, 9, 40, 1, 1), (2, 10, 41, 2, 1), (2, 10, 42, 2, 1),
    (2, 8, 40, 2, 2), (2, 8, 40, 1, 2),
    (4, 9, 80, 1, 2),
]
#: SeaBIOS's FloppyInfo: type -> (cylinders, heads, sectors, 5.25", data rate).  Types 1-5 are
#: drive types (their geometry is what AH=08h reports and AH=02h checks against, whatever the
#: media); 6-8 are media types its media sense can find in a 5.25" drive.
FLOPPY_INFO = {1: (40, 2, 9, True, 1), 2: (80, 2, 15, True, 0), 3: (80, 2, 9, False, 2),
               4: (80, 2, 18, False, 0), 5: (80, 2, 36, False, 3), 6: (40, 1, 8, True, 2),
               7: (40, 1, 9, True, 1), 8: (40, 2, 8, True, 2)}
FLOPPY_LCHS = {t: info[:3] for t, info in FLOPPY_INFO.items() if t <= 5}


class FloppyMedia:
    """A raw image as QEMU's floppy drive A: sees it (`-drive if=floppy`, drive type auto):
    the format whose size matches exactly, else QEMU's fallback, the first 2.88 MB format."""

    def __init__(self, sectors: int) -> None:
        match = next((f for f in FLOPPY_FORMATS if f[1] * f[2] * f[3] == sectors), None)
        if match is None:
            match = next(f for f in FLOPPY_FORMATS if f[0] == 5)
        self.drive_type, self.spt, self.tracks, self.heads, self.rate = match
        self.lchs = FLOPPY_LCHS[self.drive_type]

    @property
    def media_state(self) -> int:
        """BDA 0x490 after the boot read, as SeaBIOS's floppy_media_sense leaves it: it tries
        the drive type's data rate, then each smaller media type of the same form factor,
        until the controller reads an ID (the media's own rate); then rate, "established",
        the media code and double stepping (40-track media in an 80-track drive)."""
        ftype = self.drive_type
        cyls, heads, spt, is525, _ = FLOPPY_INFO[ftype]
        stype = ftype
        if FLOPPY_INFO[ftype][4] != self.rate:
            stype = next((t for t, (c, h, s_, f, r) in FLOPPY_INFO.items()
                          if t != ftype and f == is525 and h <= heads and c <= cyls and s_ <= spt
                          and r == self.rate), ftype)
        media = 0x04 if stype == 1 else 0x05 if stype == 2 else 0x07
        fms = (self.rate << 6) | 0x10 | media
        if FLOPPY_INFO[stype][0] < cyls:
            fms |= 0x20
        return fms

    def lba(self, cyl: int, head: int, sec: int) -> int | None:
        """The image sector under (cyl, head, sec) on the media; None if it has no such sector."""
        if sec > self.spt or cyl >= self.tracks or head >= self.heads:
            return None
        return (cyl * self.heads + head) * self.spt + sec - 1


# ---- INT 13h ---------------------------------------------------------------------------

class DiskServices:
    """INT 13h for hard disk 80h (the image) and the empty floppy drive 00h QEMU has."""

    def __init__(self, disk: Disk | None, boot_drive: int, dpte_ptr: tuple[int, int],
                 floppy_table: tuple[int, int], *, hds: list[Disk] | None = None,
                 floppy: Disk | None = None) -> None:
        if hds is None and floppy is None:
            #: legacy form: boot drive < 80h: the image is floppy drive A: and there is no hard
            #: disk (as QEMU with `-drive if=floppy`); otherwise it is hard disk 80h beside an
            #: empty drive A:.
            hds, floppy = ([], disk) if boot_drive < 0x80 else ([disk], None)
        self.hds: list[Disk] = list(hds or [])
        self.fdisk = floppy
        self.disk = self.hds[0] if self.hds else floppy
        self.boot_drive = boot_drive
        self.floppy = FloppyMedia(floppy.sectors) if floppy is not None else None
        self.hd_count = len(self.hds)
        self.dpte_ptr = dpte_ptr
        self.floppy_table = floppy_table
        #: called as (hard disk number 0.., lba, sectors) after a hard-disk transfer, so that
        #: the ATA registers read as SeaBIOS's driver leaves them (emu/ide.py)
        self.on_transfer = None

    # status recording, as SeaBIOS __disk_ret
    @staticmethod
    def _ret(cpu: BiosCpu, code: int) -> None:
        wr8(cpu, BDA_FLOPPY_STATUS if cpu.get("dl") < 0x80 else BDA_DISK_STATUS, code)
        cpu.set("ah", code)
        set_cf(cpu, code != 0)

    def handle(self, cpu: BiosCpu) -> int:
        wr8(cpu, BDA_DISK_IRQ_FLAG, 0)
        dl = cpu.get("dl")
        ah = cpu.get("ah")
        if dl < 0x80:
            if dl == 0:
                self.disk = self.fdisk
                return self._floppy(cpu, ah)
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        if dl >= 0xE0 or dl - 0x80 >= self.hd_count:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        self.disk = self.hds[dl - 0x80]
        self._hd = dl - 0x80
        fn = {0x00: self._ok, 0x01: self._status, 0x02: self._chs, 0x03: self._chs, 0x04: self._chs,
              0x05: self._format, 0x08: self._params, 0x09: self._ok, 0x0C: self._ok, 0x0D: self._ok,
              0x10: self._ok, 0x11: self._ok, 0x14: self._ok, 0x15: self._size, 0x16: self._eparam,
              0x41: self._ext_check, 0x42: self._ext, 0x43: self._ext, 0x44: self._ext,
              0x45: self._ok, 0x46: self._not_removable, 0x47: self._ext, 0x48: self._edd,
              0x49: self._ok, 0x4E: self._hw_config}.get(ah, self._eparam)
        return fn(cpu, ah)

    _hd = 0

    # -- hard disk functions --------------------------------------------------------------
    def _ok(self, cpu: BiosCpu, ah: int) -> int:
        self._ret(cpu, OK)
        return cost.SERVICE

    def _eparam(self, cpu: BiosCpu, ah: int) -> int:
        self._ret(cpu, EPARAM)
        return cost.SERVICE

    def _not_removable(self, cpu: BiosCpu, ah: int) -> int:
        self._ret(cpu, ENOTREMOVABLE)
        return cost.SERVICE

    def _hw_config(self, cpu: BiosCpu, ah: int) -> int:
        self._ret(cpu, OK if cpu.get("al") in (0x01, 0x03, 0x04, 0x06) else EPARAM)
        return cost.SERVICE

    def _status(self, cpu: BiosCpu, ah: int) -> int:
        v = rd8(cpu, BDA_FLOPPY_STATUS if cpu.get("dl") < 0x80 else BDA_DISK_STATUS)
        cpu.set("ah", v)
        set_cf(cpu, v != 0)
        return cost.SERVICE

    def _transfer(self, cpu: BiosCpu, ah: int, lba: int, count: int, buf: int) -> tuple[int, int]:
        """Move up to `count` sectors; returns (status, sectors done)."""
        avail = max(0, self.disk.sectors - lba)
        done = min(count, avail)
        if ah in (0x02, 0x42) and done:
            cpu.write(buf, self.disk.read(lba, done))
        elif ah in (0x03, 0x43) and done:
            self.disk.write(lba, cpu.read(buf, done * SECTOR))
        if done and self.on_transfer is not None:
            self.on_transfer(self._hd, lba, done)
        return (OK if done == count else EMEDIA), done

    def _chs(self, cpu: BiosCpu, ah: int) -> int:
        count = cpu.get("al")
        cl = cpu.get("cl")
        cyl = cpu.get("ch") | ((cl & 0xC0) << 2)
        sec = cl & 0x3F
        head = cpu.get("dh")
        if count > 128 or count == 0 or sec == 0:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        nlc, nlh, nls = self.disk.lchs
        if cyl >= nlc or head >= nlh or sec > nls:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        lba = (cyl * nlh + head) * nls + sec - 1
        status, done = self._transfer(cpu, ah, lba, count, linear(cpu.get("es"), cpu.get("bx")))
        cpu.set("al", done)
        self._ret(cpu, status)
        return cost.SERVICE + cost.DISK_REQUEST + (done * cost.DISK_SECTOR if ah != 0x04 else 0)

    def _format(self, cpu: BiosCpu, ah: int) -> int:
        nlc, nlh, nls = self.disk.lchs
        count = cpu.get("al")
        bad = cpu.get("ch") >= nlc or cpu.get("dh") >= nlh or count == 0 or count > nls
        self._ret(cpu, EPARAM if bad else OK)
        return cost.SERVICE + cost.DISK_REQUEST

    def params_answers(self) -> list[tuple[int, int, int]]:
        """(CH, CL, DH) that `_params` (INT 13h AH=08h) answers for each hard disk: a pure
        function of the geometry, so the machine may answer it natively (emu/native_delivery.py)."""
        out = []
        for disk in self.hds:
            nlc, nlh, nls = disk.lchs
            nlc -= 2
            nlh -= 1
            out.append((nlc & 0xFF, ((nlc >> 2) & 0xC0) | (nls & 0x3F), nlh & 0xFF))
        return out

    def _params(self, cpu: BiosCpu, ah: int) -> int:
        nlc, nlh, nls = self.disk.lchs
        nlc -= 2                       # 0-based, and the last cylinder is reserved
        nlh -= 1
        cpu.set("al", 0)
        cpu.set("ch", nlc & 0xFF)
        cpu.set("cl", ((nlc >> 2) & 0xC0) | (nls & 0x3F))
        cpu.set("dh", nlh & 0xFF)
        self._ret(cpu, OK)
        cpu.set("dl", self.hd_count)
        return cost.SERVICE

    def _size(self, cpu: BiosCpu, ah: int) -> int:
        nlc, nlh, nls = self.disk.lchs
        self._ret(cpu, OK)
        n = ((nlc - 1) * nlh * nls) & 0xFFFFFFFF
        cpu.set("cx", n >> 16)
        cpu.set("dx", n & 0xFFFF)
        cpu.set("ah", 3)               # fixed disk present
        return cost.SERVICE

    def _ext_check(self, cpu: BiosCpu, ah: int) -> int:
        cpu.set("bx", 0xAA55)
        cpu.set("cx", 0x0007)          # extended access, removable-media calls, EDD
        self._ret(cpu, OK)
        cpu.set("ah", 0x30)            # EDD 3.0
        return cost.SERVICE

    def _ext(self, cpu: BiosCpu, ah: int) -> int:
        dap = linear(cpu.get("ds"), cpu.get("si"))
        lba = struct.unpack("<Q", cpu.read(dap + 8, 8))[0]
        if lba >= self.disk.sectors:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        count = rd16(cpu, dap + 2)
        if count == 0:
            self._ret(cpu, OK)
            return cost.SERVICE
        if ah in (0x44, 0x47):          # verify / seek: nothing to move
            self._ret(cpu, OK)
            return cost.SERVICE + cost.DISK_REQUEST
        if count * SECTOR > 0x10000:
            # SeaBIOS refuses a transfer above 64 KiB before touching the disk ("DMA boundary",
            # AH=09h, CF=1) and reports 0 sectors done: measured under QEMU 7.2, including a
            # buffer at FFFF:0010 that would run past the end of RAM
            wr16(cpu, dap + 2, 0)
            self._ret(cpu, EBOUNDARY)
            return cost.SERVICE
        buf = linear(rd16(cpu, dap + 6), rd16(cpu, dap + 4))
        status, done = self._transfer(cpu, ah, lba, count, buf)
        wr16(cpu, dap + 2, done)
        self._ret(cpu, status)
        return cost.SERVICE + cost.DISK_REQUEST + done * cost.DISK_SECTOR

    def _edd(self, cpu: BiosCpu, ah: int) -> int:
        p = linear(cpu.get("ds"), cpu.get("si"))
        size = rd16(cpu, p)
        if size < 26:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        npc, nph, nps = self.disk.pchs
        lba = self.disk.sectors
        if lba > nps * nph * 0x3FFF:
            infos, cyls = 0x00, 0x3FFF     # geometry not valid
        else:
            infos, cyls = 0x02, npc
        cpu.write(p, struct.pack("<HHIIIQH", 26, infos, cyls, nph, nps, lba, SECTOR))
        if size >= 30:
            wr16(cpu, p, 30)
            wr16(cpu, p + 26, self.dpte_ptr[1])
            wr16(cpu, p + 28, self.dpte_ptr[0])
        if size >= 66:
            t13 = size == 74
            # PIIX IDE of the pc machine: PCI 00:01.1, primary channel, master
            path = 0 | (1 << 8) | (1 << 16)
            cpu.write(p + 30, struct.pack("<HBBH4s8sQ", 0xBEDD, 44 if t13 else 36, 0, 0,
                                          b"PCI ", b"ATA     ", path))
            # device path (the master/slave number); the reserved byte after it is left as
            # the caller had it -- and, as in SeaBIOS, still counted in the checksum
            cpu.write(p + 56, struct.pack("<QQ", 0, 0) if t13 else struct.pack("<Q", 0))
            span = 43 if t13 else 35
            wr8(cpu, p + 30 + span, (-sum(cpu.read(p + 30, span))) & 0xFF)
        self._ret(cpu, OK)
        return cost.SERVICE

    # -- floppy drive A: (QEMU's pc machine always has one) --------------------------------
    def _floppy(self, cpu: BiosCpu, ah: int) -> int:
        media = self.floppy
        if ah == 0x00:
            self._ret(cpu, OK)
        elif ah == 0x01:
            self._status(cpu, ah)
        elif ah in (0x02, 0x03, 0x04):
            return self._floppy_rw(cpu, ah)
        elif ah == 0x05:
            cpu.set("al", 0)
            self._ret(cpu, OK if media else ECONTROLLER)
        elif ah == 0x08:
            dtype = media.drive_type if media else 5      # empty: QEMU's 2.88 MB drive
            cyls, heads, spt = FLOPPY_LCHS[dtype]
            cpu.set("bx", dtype)
            cpu.set("es", self.floppy_table[0])
            cpu.set("di", self.floppy_table[1])
            cpu.set("al", 0)
            cpu.set("ch", (cyls - 1) & 0xFF)
            cpu.set("cl", (((cyls - 1) >> 2) & 0xC0) | spt)
            cpu.set("dh", heads - 1)
            self._ret(cpu, OK)
            cpu.set("dl", 1)
        elif ah == 0x15:
            self._ret(cpu, OK)
            cpu.set("ah", 1)               # floppy without change-line support
        elif ah == 0x16:
            self._ret(cpu, ECHANGED)
        else:
            self._ret(cpu, EPARAM)
        return cost.SERVICE

    def _floppy_rw(self, cpu: BiosCpu, ah: int) -> int:
        """AH=02h/03h/04h on drive A:: SeaBIOS checks the request against the drive type's
        geometry and refuses a DMA buffer that crosses a 64 KiB boundary (AH=09h), then the
        controller walks the media sector by sector (multi-track); a sector
        the media lacks fails the whole request with AH=20h and AL=0, as measured under QEMU.
        Sectors the media has but the image file lacks read as zeros (QEMU pads)."""
        media = self.floppy
        count = cpu.get("al")
        cl = cpu.get("cl")
        cyl, sec, head = cpu.get("ch") | ((cl & 0xC0) << 2), cl & 0x3F, cpu.get("dh")
        if count > 128 or count == 0 or sec == 0:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        nlc, nlh, nls = media.lchs if media else FLOPPY_LCHS[5]
        if cyl >= nlc or head >= nlh or sec > nls:
            self._ret(cpu, EPARAM)
            return cost.SERVICE
        buf = linear(cpu.get("es"), cpu.get("bx"))
        if ah != 0x04 and buf >> 16 != (buf + count * SECTOR - 1) >> 16:
            cpu.set("al", 0)                   # the ISA DMA controller cannot cross 64 KiB
            self._ret(cpu, EBOUNDARY)
            return cost.SERVICE
        if media is None:
            cpu.set("al", 0)
            self._ret(cpu, ECONTROLLER)
            return cost.SERVICE
        lbas = []
        c, h, s = cyl, head, sec
        for _ in range(count):
            lba = media.lba(c, h, s)
            if lba is None:
                cpu.set("al", 0)
                self._ret(cpu, ECONTROLLER)
                return cost.SERVICE + cost.DISK_REQUEST
            lbas.append(lba)
            s += 1
            if s > media.spt:
                s, h = 1, h + 1
                if h >= media.heads:
                    h, c = 0, c + 1
        for i, lba in enumerate(lbas):
            if ah == 0x02:
                data = self.disk.read(lba, 1) if lba < self.disk.sectors else bytes(SECTOR)
                cpu.write(buf + i * SECTOR, data)
            elif ah == 0x03 and lba < self.disk.sectors:
                self.disk.write(lba, cpu.read(buf + i * SECTOR, SECTOR))
        cpu.set("al", count)
        self._ret(cpu, OK)
        return cost.SERVICE + cost.DISK_REQUEST + (count * cost.DISK_SECTOR if ah != 0x04 else 0)


__all__ = ["Disk", "DiskServices", "FloppyMedia", "qemu_geometry", "seabios_lchs", "dpte"]
