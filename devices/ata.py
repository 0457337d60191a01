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

This module is the channel; one drive's registers, addressing and IDENTIFY data are
devices/ata_drive.py (`AtaDrive`, re-exported here).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

from .base.native import NO_NATIVE, NativePorts
from .ata_drive import (  # noqa: F401 - the drive half; names re-exported for importers
    ABRT, BSY, DRDY, DRQ, DSC, ERR, HOB, MAX_MULT_SECTORS, NIEN, QEMU_VERSION, SECTOR, SRST,
    AtaDrive, Store, _padstr,
)

#: Modelled duration of the block layer's answer to one PIO read/write block (BSY time).
ACCESS_CYCLES = 2_000
#: Modelled delay between the SRST rising edge and the reset (QEMU's bottom half).
SRST_CYCLES = 1_000


class Irq(Protocol):
    def set_irq(self, line: int, level: int) -> None: ...


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
        self._native: NativePorts = NO_NATIVE
        self.reset()

    def attach_native(self, native: NativePorts) -> None:
        """Publish, after every change, the registers the machine's native port path may answer
        without calling this channel (see `native_reads`)."""
        self._native = native
        self._publish()

    def native_reads(self) -> tuple[list[int | None], int]:
        """(base.. base+7, control port): what a one-byte IN reads where reading changes nothing:
        every register but the data port (which moves the buffer) and the status register
        while the IRQ is raised (reading it lowers the IRQ)."""
        regs: list[int | None] = [None] + [self._io_read(self.base + r, 1) for r in range(1, 7)]
        regs.append(None if self.irq_level else self._io_read(self.base + 7, 1))
        return regs, self._io_read(self.ctrl_port, 1)

    def _publish(self) -> None:
        regs, alt = self.native_reads()
        self._native.publish_reads(self.base, regs)
        self._native.publish_reads(self.ctrl_port, [alt])

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
        self._publish()

    @property
    def cur(self) -> AtaDrive:
        return self.drives[self.unit]

    def _no_drives(self) -> bool:
        return not (self.drives[0].present or self.drives[1].present)

    def _absent(self) -> bool:
        return self._no_drives() or (self.unit == 1 and not self.drives[1].present)

    def io_read(self, port: int, size: int) -> int:
        if port == self.base:
            return self._data_read(size)      # publishes at the end of a buffer only
        value = self._io_read(port, size)
        self._publish()
        return value

    def _io_read(self, port: int, size: int) -> int:
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
            self._data_write(size, value)     # publishes at the end of a buffer only
            return
        self._io_write(port, size, value)
        self._publish()

    def _io_write(self, port: int, size: int, value: int) -> None:
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
        self._publish()

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
        self._publish()

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
        self._publish()


def firmware_residue(channel: AtaChannel) -> None:
    """The registers SeaBIOS's ATA probe leaves behind (measured under QEMU 7.2): it selects each
    drive in turn, the slave last, and its last register writes are zeros."""
    for d in channel.drives:
        d.nsector = d.sector = d.lcyl = d.hcyl = 0
        d.select = 0xB0
    channel.unit = 1
    channel.cmd = 0x08            # SeaBIOS leaves ATA_CB_DC_HD15 (interrupts on)
    channel._publish()


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
    channel._publish()
