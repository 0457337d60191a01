"""ATA (IDE) channel in PIO mode, as QEMU's PIIX3 IDE with ide-hd drives (hw/ide/core.c).

One `AtaChannel` is one cable: a command block of 8 ports (0x1F0-0x1F7 primary, 0x170-0x177
secondary), a control block port (0x3F6 / 0x376: alternate status on read, device control on
write) and an ISA IRQ line (14 / 15), with a master and a slave drive.  Modelled as QEMU 7.2 does:

* Registers are written to both drives (QEMU keeps a copy per drive); the drive-select bit of the
  device register picks which one answers.  Writing any command-block register clears the HOB
  bit of the device control register; the previous value of each register is kept as its "high
  order byte" for LBA48 (read back with HOB=1).  While BSY or DRQ is set, writes to registers
  other than the command register are ignored.
* Status reads lower the IRQ line, alternate status reads do not.  An absent slave (or a
  channel with no drive) reads 0 in status and error.
* Commands: IDENTIFY DEVICE (the words QEMU fills for an ide-hd: model "QEMU HARDDISK",
  serial "QM0000n", firmware "2.5+", geometry, LBA28/LBA48 capacities, feature words),
  READ/WRITE SECTORS (20h/30h, 24h/34h EXT), READ/WRITE MULTIPLE (C4h/C5h, 29h/39h EXT) after
  SET MULTIPLE MODE (C6h; power of two up to 16, the default after reset is 16), READ VERIFY
  (40h/42h), READ NATIVE MAX ADDRESS (F8h/27h), SET FEATURES (EFh, the subcommands QEMU
  accepts), FLUSH CACHE (E7h/EAh), CHECK POWER MODE (E5h), EXECUTE DEVICE DIAGNOSTIC (90h),
  INITIALIZE DEVICE PARAMETERS (91h), RECALIBRATE (1xh), SEEK (7xh), the idle/standby family;
  anything else is aborted (ERR, error ABRT) with an interrupt.
* Interrupts as QEMU raises them: reads raise one per DRQ block (none at the end), writes one
  per block written including the last (the completion), IDENTIFY and non-data commands one
  when done; nIEN (device control bit 1) masks them.
* Timing: the disk access of a read or write block is asynchronous in QEMU (BSY set, then DRQ
  and the IRQ when the block layer answers).  Here BSY lasts `ACCESS_CYCLES` on the cycle clock,
  so a polling guest sees BSY, then DRQ, deterministically.  SRST (device control bit 2, rising
  edge) sets BSY and resets both drives `SRST_CYCLES` later (QEMU runs it in a bottom half and
  then clears SRST itself), leaving the signature (sector count 1, LBA 1, cylinder 0 / 0xEB14
  for ATAPI) and status 50h.
* Not modelled: bus-master DMA (the PIIX BMDMA BAR), ATAPI packet commands (the default empty
  CD-ROM QEMU puts at the secondary master answers the signature and IDENTIFY PACKET DEVICE only),
  SMART, security, write-cache effects.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

SECTOR = 512
MAX_MULT_SECTORS = 16
QEMU_VERSION = "2.5+"          # QEMU_HW_VERSION: what ide-hd reports as firmware revision

# status bits
ERR, DRQ, DSC, DRDY, BSY = 0x01, 0x08, 0x10, 0x40, 0x80
ABRT = 0x04                     # error register: command aborted
# device control bits
NIEN, SRST, HOB = 0x02, 0x04, 0x80

#: Modelled duration of the block layer's answer to one PIO read/write block (BSY time).
ACCESS_CYCLES = 2_000
#: Modelled delay between the SRST rising edge and the reset (QEMU's bottom half).
SRST_CYCLES = 1_000


class Store(Protocol):
    sectors: int

    def read(self, lba: int, count: int) -> bytes: ...

    def write(self, lba: int, data: bytes) -> None: ...


class Irq(Protocol):
    def set_irq(self, line: int, level: int) -> None: ...


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

#: Non-data commands QEMU completes at once (cmd_nop and friends): opcode -> sets DSC
_NOP = {c: True for c in (0x91, 0xE0, 0xE1, 0xE2, 0xE3, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0xE6)}
_NOP.update({c: True for c in range(0x10, 0x20)})      # RECALIBRATE
_NOP.update({c: True for c in range(0x70, 0x80)})      # SEEK


class AtaChannel:
    """One IDE channel (cable) of the PIIX3: command block, control block, IRQ line."""

    wide_io = True   # the data port moves 16 or 32 bits; the other registers are byte wide

    def __init__(self, *, name: str, base: int, ctrl: int, irq_line: int, clock, irq: Irq,
                 drives: tuple[AtaDrive, AtaDrive],
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.name = name
        self.base = base
        self.ctrl_port = ctrl
        self.irq_line = irq_line
        self.clock = clock
        self.irq = irq
        self.drives = drives
        self.on_event = on_event
        self._pending = None        # the clock event finishing a block access or SRST
        self._pending_what = ""
        self.reset()

    # -- bus contract --------------------------------------------------------------------
    def ports(self) -> Iterable[int]:
        return [*range(self.base, self.base + 8), self.ctrl_port]

    def reset(self) -> None:
        self.clock.cancel(self._pending)
        self._pending = None
        self._pending_what = ""
        self.unit = 0
        self.cmd = 0               # device control register (one for the channel, as QEMU)
        self.irq_level = 0
        for d in self.drives:
            d.reset()
            d.set_signature()
        self.irq.set_irq(self.irq_line, 0)

    @property
    def cur(self) -> AtaDrive:
        return self.drives[self.unit]

    def _no_drives(self) -> bool:
        return not (self.drives[0].present or self.drives[1].present)

    def _absent(self) -> bool:
        return self._no_drives() or (self.unit == 1 and not self.drives[1].present)

    def io_read(self, port: int, size: int) -> int:
        if port == self.base:
            return self._data_read(size)
        if size != 1:  # a wide read of byte registers: each byte from its own port
            return sum((self.io_read(port + i, 1) if port + i in self.ports() else 0xFF) << (8 * i)
                       for i in range(size))
        if port == self.ctrl_port:
            return 0 if self._absent() else self.cur.status
        reg = port - self.base
        s = self.cur
        hob = self.cmd & HOB
        if reg == 1:
            return 0 if self._absent() else (s.hob_feature if hob else s.error)
        if reg in (2, 3, 4, 5):
            if self._no_drives():
                return 0
            lo = {2: s.nsector, 3: s.sector, 4: s.lcyl, 5: s.hcyl}[reg]
            hi = {2: s.hob_nsector, 3: s.hob_sector, 4: s.hob_lcyl, 5: s.hob_hcyl}[reg]
            return (hi if hob else lo) & 0xFF
        if reg == 6:
            return 0 if self._no_drives() else s.select
        value = 0 if self._absent() else s.status
        self._lower()
        return value

    def io_write(self, port: int, size: int, value: int) -> None:
        if port == self.base:
            self._data_write(size, value)
            return
        if size != 1:
            for i in range(size):
                if port + i in self.ports():
                    self.io_write(port + i, 1, (value >> (8 * i)) & 0xFF)
            return
        if port == self.ctrl_port:
            self._ctrl_write(value)
            return
        reg = port - self.base
        if reg != 7 and self.cur.status & (BSY | DRQ):
            return          # QEMU ignores register writes while the drive is busy
        self.cmd &= ~HOB
        if reg == 7:
            self._lower()
            self._exec(value)
            return
        for d in self.drives:
            if reg == 1:
                d.hob_feature, d.feature = d.feature, value
            elif reg == 2:
                d.hob_nsector, d.nsector = d.nsector & 0xFF, value
            elif reg == 3:
                d.hob_sector, d.sector = d.sector, value
            elif reg == 4:
                d.hob_lcyl, d.lcyl = d.lcyl, value
            elif reg == 5:
                d.hob_hcyl, d.hcyl = d.hcyl, value
            elif reg == 6:
                d.select = value | 0xA0
        if reg == 6:
            self.unit = 1 if value & 0x10 else 0

    # -- interrupts ------------------------------------------------------------------------
    def _raise(self) -> None:
        if not self.cmd & NIEN:
            self.irq_level = 1
            self.irq.set_irq(self.irq_line, 1)

    def _lower(self) -> None:
        if self.irq_level:
            self.irq_level = 0
            self.irq.set_irq(self.irq_line, 0)

    # -- device control / SRST -------------------------------------------------------------
    def _ctrl_write(self, value: int) -> None:
        if not self.cmd & SRST and value & SRST:
            for d in self.drives:
                d.status |= BSY
            self._schedule(SRST_CYCLES, "srst")
        self.cmd = value

    def _srst(self) -> None:
        """QEMU's ide_perform_srst: reset each drive, then its EXECUTE DEVICE DIAGNOSTIC (which
        raises the IRQ unless nIEN); then SRST clears itself."""
        for d in self.drives:
            d.reset()
            self._diagnostic(d)
        self.cmd &= ~SRST
        self._event("ata_reset")

    # -- the clock ---------------------------------------------------------------------------
    def _schedule(self, cycles: int, what: str) -> None:
        self.clock.cancel(self._pending)
        self._pending_what = what
        self._pending = self.clock.schedule_in(cycles, self._fire, f"{self.name} {what}")

    def _fire(self, _cycle: int) -> None:
        what, self._pending, self._pending_what = self._pending_what, None, ""
        if what == "srst":
            self._srst()
        elif what == "read":
            self._read_done()
        elif what == "write":
            self._write_done()
        elif what == "flush":
            s = self.cur
            s.status = DRDY | DSC
            self._raise()

    # -- commands ----------------------------------------------------------------------------
    def _exec(self, cmd: int) -> None:
        s = self.cur
        if self.unit == 1 and not s.present:
            return                                  # commands to a missing slave are ignored
        if s.status & (BSY | DRQ):
            return
        self._event("ata_command", command=cmd, drive=self.unit)
        s.status = DRDY | BSY
        s.error = 0
        if s.kind == "cd":
            self._exec_atapi(s, cmd)
            return
        if s.kind != "hd":
            self._abort(s)
            return
        if cmd == 0xEC:
            s.buf[:SECTOR] = s.identify()
            s.status = DRDY | DSC
            self._transfer_start(s, SECTOR, "stop")
            self._raise()
        elif cmd in (0x20, 0x21, 0x24, 0xC4, 0x29):
            multiple = cmd in (0xC4, 0x29)
            if multiple and not s.mult_sectors:
                self._abort(s)
                return
            s.lba48_transform(cmd in (0x24, 0x29))
            s.req_nb_sectors = s.mult_sectors if multiple else 1
            self._sector_read(s)
        elif cmd in (0x30, 0x31, 0x34, 0xC5, 0x39):
            multiple = cmd in (0xC5, 0x39)
            if multiple and not s.mult_sectors:
                self._abort(s)
                return
            s.lba48_transform(cmd in (0x34, 0x39))
            s.req_nb_sectors = s.mult_sectors if multiple else 1
            s.status = DRDY | DSC
            self._transfer_start(s, SECTOR * min(s.nsector, s.req_nb_sectors), "write")
        elif cmd == 0xC6:
            n = s.nsector & 0xFF
            if n and (n > MAX_MULT_SECTORS or n & (n - 1)):
                s.status = DRDY | ERR
                s.error = ABRT
            else:
                s.mult_sectors = n
                s.status = DRDY | DSC
            self._raise()
        elif cmd in (0x40, 0x41, 0x42):
            s.lba48_transform(cmd == 0x42)
            n = s.get_sector()
            s.set_sector(n + s.nsector - 1)
            self._done(s, True)
        elif cmd in (0xF8, 0x27):
            s.lba48_transform(cmd == 0x27)
            s.set_sector(s.nb_sectors - 1)
            self._done(s)
        elif cmd in (0xE7, 0xEA):
            self._schedule(ACCESS_CYCLES, "flush")
        elif cmd == 0xE5:
            s.nsector = 0xFF
            self._done(s)
        elif cmd == 0xEF:
            self._set_features(s)
        elif cmd == 0x90:
            self._diagnostic(s)
        elif cmd in _NOP:
            self._done(s, _NOP[cmd])
        else:
            self._abort(s)

    def _exec_atapi(self, s: AtaDrive, cmd: int) -> None:
        if cmd == 0xA1:
            s.buf[:SECTOR] = s.atapi_identify()
            s.status = DRDY | DSC
            self._transfer_start(s, SECTOR, "stop")
            self._raise()
        elif cmd == 0x90:
            self._diagnostic(s)
        elif cmd == 0x08:
            s.set_signature()
            s.status = 0
            s.error = 0x01
        else:
            if cmd == 0xEC:
                s.set_signature()
            self._abort(s)

    def _set_features(self, s: AtaDrive) -> None:
        """The SET FEATURES subcommands QEMU's cmd_set_features accepts."""
        f = s.feature
        if f in (0x02, 0x82, 0xAA, 0x55, 0xCC, 0x66, 0x42, 0xC2, 0x03):
            if f == 0x03 and (s.nsector >> 3) not in (0, 1, 2, 4, 8):
                self._abort(s)
                return
            self._done(s, True)
        else:
            self._abort(s)

    def _diagnostic(self, s: AtaDrive) -> None:
        """EXECUTE DEVICE DIAGNOSTIC: signature, error 01h ("passed"), DRDY|DSC (0 for ATAPI)."""
        s.set_signature()
        s.status = 0 if s.kind == "cd" else DRDY | DSC
        s.error = 0x01
        self._raise()

    def _done(self, s: AtaDrive, dsc: bool = True) -> None:
        s.status = DRDY | (DSC if dsc else 0)
        self._raise()

    def _abort(self, s: AtaDrive) -> None:
        self._transfer_stop(s)
        s.status = DRDY | ERR
        s.error = ABRT
        self._raise()

    # -- PIO transfers -----------------------------------------------------------------------
    def _transfer_start(self, s: AtaDrive, size: int, end: str) -> None:
        s.data_ptr, s.data_end, s.end_transfer = 0, size, end
        if not s.status & ERR:
            s.status |= DRQ

    def _transfer_stop(self, s: AtaDrive) -> None:
        s.data_ptr = s.data_end = 0
        s.end_transfer = "stop"
        s.status &= ~DRQ

    def _range_ok(self, s: AtaDrive, lba: int, n: int) -> bool:
        return 0 <= lba and lba + n <= s.nb_sectors

    def _sector_read(self, s: AtaDrive) -> None:
        s.status = DRDY | DSC
        s.error = 0
        if s.nsector == 0:
            self._transfer_stop(s)
            return
        s.status |= BSY
        n = min(s.nsector, s.req_nb_sectors)
        if not self._range_ok(s, s.get_sector(), n):
            self._abort(s)
            return
        self._schedule(ACCESS_CYCLES, "read")

    def _read_done(self) -> None:
        s = self.cur
        s.status &= ~BSY
        n = min(s.nsector, s.req_nb_sectors)
        lba = s.get_sector()
        s.buf[:n * SECTOR] = s.store.read(lba, n)
        s.set_sector(lba + n)
        s.nsector -= n
        self._transfer_start(s, n * SECTOR, "read")
        self._raise()

    def _sector_write(self, s: AtaDrive) -> None:
        s.status = DRDY | DSC | BSY
        n = min(s.nsector, s.req_nb_sectors)
        if not self._range_ok(s, s.get_sector(), n):
            self._abort(s)
            return
        self._schedule(ACCESS_CYCLES, "write")

    def _write_done(self) -> None:
        s = self.cur
        s.status &= ~BSY
        n = min(s.nsector, s.req_nb_sectors)
        lba = s.get_sector()
        s.store.write(lba, bytes(s.buf[:n * SECTOR]))
        s.nsector -= n
        s.set_sector(lba + n)
        if s.nsector == 0:
            self._transfer_stop(s)
        else:
            self._transfer_start(s, SECTOR * min(s.nsector, s.req_nb_sectors), "write")
        self._raise()

    def _end_of_buffer(self, s: AtaDrive) -> None:
        s.status &= ~DRQ
        end = s.end_transfer
        if end == "read":
            self._sector_read(s)
        elif end == "write":
            self._sector_write(s)
        else:
            self._transfer_stop(s)

    def _data_read(self, size: int) -> int:
        s = self.cur
        if not s.status & DRQ or s.end_transfer == "write":
            return 0
        n = 4 if size == 4 else 2
        if s.data_ptr + n > s.data_end:
            return 0
        value = int.from_bytes(s.buf[s.data_ptr:s.data_ptr + n], "little")
        s.data_ptr += n
        if s.data_ptr >= s.data_end:
            self._end_of_buffer(s)
        return value if size != 1 else value & 0xFF

    def _data_write(self, size: int, value: int) -> None:
        s = self.cur
        if not s.status & DRQ or s.end_transfer != "write":
            return
        n = 4 if size == 4 else 2
        if s.data_ptr + n > s.data_end:
            return
        s.buf[s.data_ptr:s.data_ptr + n] = (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")
        s.data_ptr += n
        if s.data_ptr >= s.data_end:
            self._end_of_buffer(s)

    def _event(self, kind: str, **fields: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, {"channel": self.name, **fields})

    # -- snapshots ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"unit": self.unit, "cmd": self.cmd, "irq_level": self.irq_level,
                "pending": None if self._pending is None else (self._pending.cycle, self._pending_what),
                "drives": [d.state() for d in self.drives],
                "overlays": [dict(d.store.overlay) if d.store is not None and hasattr(d.store, "overlay")
                             else None for d in self.drives]}

    def load_state(self, st: dict[str, Any]) -> None:
        self.unit, self.cmd, self.irq_level = st["unit"], st["cmd"], st["irq_level"]
        for d, ds, ov in zip(self.drives, st["drives"], st["overlays"]):
            d.load_state(ds)
            if ov is not None and d.store is not None:
                d.store.overlay = dict(ov)
        self.clock.cancel(self._pending)
        self._pending = None
        if st["pending"] is not None:
            cycle, what = st["pending"]
            self._pending_what = what
            self._pending = self.clock.schedule(cycle, self._fire, f"{self.name} {what}")


def firmware_residue(channel: AtaChannel) -> None:
    """The registers SeaBIOS's ATA probe leaves behind (measured under QEMU 7.2): it selects each
    drive in turn, the slave last, and its last register writes are zeros."""
    for d in channel.drives:
        d.nsector = d.sector = d.lcyl = d.hcyl = 0
        d.select = 0xB0
    channel.unit = 1
    channel.cmd = 0x08            # SeaBIOS leaves ATA_CB_DC_HD15 (interrupts on)


def bios_transfer(channel: AtaChannel, unit: int, lba: int, count: int) -> None:
    """The registers a SeaBIOS INT 13h PIO transfer leaves (its driver masks the IRQ with nIEN
    while it works): the request written to both drives, the active one advanced past it."""
    lba48 = count >= 256 or lba + count >= 1 << 28
    for i, d in enumerate(channel.drives):
        d.hob_nsector, d.nsector = (count >> 8) & 0xFF if lba48 else d.nsector & 0xFF, count & 0xFF
        d.sector, d.lcyl, d.hcyl = lba & 0xFF, (lba >> 8) & 0xFF, (lba >> 16) & 0xFF
        d.select = 0xE0 | (unit << 4) | (0 if lba48 else (lba >> 24) & 0x0F)
        if lba48:
            d.hob_sector, d.hob_lcyl, d.hob_hcyl = (lba >> 24) & 0xFF, (lba >> 32) & 0xFF, (lba >> 40) & 0xFF
        if i == unit and d.present:
            d.lba48 = lba48
            d.set_sector(lba + count)
            d.nsector = 0
            d.status = DRDY | DSC
            d.error = 0
    channel.unit = unit
    channel.cmd = 0x08
