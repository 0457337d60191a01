"""The BareFlow BIOS: what SeaBIOS leaves behind at boot, and the BIOS services, in Python.

The guest CPU (Unicorn) never runs firmware code for the services: every IVT entry points at a
one-byte `iret` stub in the F000 segment (stub_address(v) = 0xFFC00 + v).  The machine's code
hook over `stub_range` calls `Bios.handle(vector, cpu)` when execution reaches a stub, with the
registers as they were at the `int` and the interrupt frame on the stack; the service sets the
result registers and CF/ZF in the stacked FLAGS, and the stub's `iret` returns them -- which
is how a real BIOS reports status.  A guest that installs its own vector never reaches the stub.

See docs/bios.md for the contract, the cost model and what is (not) modelled.
"""
from __future__ import annotations

from typing import Callable

from . import cost
from .boot import BootError, check_bootable, hand_over
from .disk import Disk, DiskServices, dpte
from .frame import BiosCpu, linear, rd16, return_to, stacked_flags
from .keyboard import Keyboard
from .memory import SystemServices, e820_map
from .post import run_post
from .rom import (DISKETTE_TABLE_OFF, DPTE_OFF, N_PSEUDO, PSEUDO_KBD_INTERCEPT, PSEUDO_RESET, R_CHAIN, R_HALT,
                  R_KBD_INTERCEPT, ROM_SEG, STUB_BASE, STUB_RANGE, write_bda, write_boot_stack,
                  write_ebda, write_ivt, write_rom)
from .serial import SerialServices
from .timer import BDA_TICKS, Timer
from .video import Video

__all__ = ["Bios", "BiosCpu", "BootError", "Disk", "e820_map", "service_name"]

#: Trace labels: (vector, AH) -> what the guest asked for (None = any AH).
SERVICE_NAMES = {
    (0x10, 0x00): "set video mode", (0x10, 0x01): "set cursor shape", (0x10, 0x02): "set cursor position",
    (0x10, 0x03): "get cursor position", (0x10, 0x05): "select page", (0x10, 0x06): "scroll up",
    (0x10, 0x07): "scroll down", (0x10, 0x08): "read character", (0x10, 0x09): "write character+attribute",
    (0x10, 0x0A): "write character", (0x10, 0x0E): "teletype output", (0x10, 0x0F): "get video mode",
    (0x10, 0x10): "palette / DAC", (0x10, 0x12): "video subsystem info", (0x10, 0x13): "write string",
    (0x10, 0x1A): "display combination", (0x11, None): "equipment list", (0x12, None): "memory size",
    (0x13, 0x00): "disk reset", (0x13, 0x01): "disk status", (0x13, 0x02): "read sectors (CHS)",
    (0x13, 0x03): "write sectors (CHS)", (0x13, 0x04): "verify sectors", (0x13, 0x08): "drive parameters",
    (0x13, 0x15): "drive type", (0x13, 0x41): "extensions check", (0x13, 0x42): "extended read (LBA)",
    (0x13, 0x43): "extended write (LBA)", (0x13, 0x48): "extended drive parameters",
    (0x14, None): "serial port", (0x15, 0x24): "A20 gate", (0x15, 0x53): "APM", (0x15, 0x86): "wait",
    (0x15, 0x87): "block move", (0x15, 0x88): "extended memory size", (0x15, 0xC0): "configuration table",
    (0x15, 0xE8): "memory map (E801h/E820h)", (0x16, 0x00): "read key", (0x16, 0x01): "key available?",
    (0x16, 0x02): "shift flags", (0x16, 0x05): "store key", (0x16, 0x10): "read key (extended)",
    (0x16, 0x11): "key available? (extended)", (0x16, 0x12): "shift flags (extended)",
    (0x18, None): "boot failure", (0x19, None): "bootstrap loader", (0x1A, 0x00): "read tick count",
    (0x1A, 0x01): "set tick count", (0x1A, 0x02): "read RTC time", (0x1A, 0x04): "read RTC date",
}


def boot_sequence(order: str, *, has_hd: bool) -> list[tuple[str, None, int]]:
    """SeaBIOS's boot entries on QEMU's pc machine: the -boot order letters first (a floppy,
    c hard disk, d CD-ROM), then the rest of "cad"; a hard disk entry only if there is one
    (QEMU always has floppy drive A: and, by default, an empty CD-ROM)."""
    kinds = {"a": ("floppy", None, 0x00), "c": ("hd", None, 0x80), "d": ("cd", None, 0xE0)}
    out: list[tuple[str, None, int]] = []
    for ch in order + "cad":
        if ch in kinds and kinds[ch] not in out and (ch != "c" or has_hd):
            out.append(kinds[ch])
    return out


def service_name(vector: int, ah: int) -> str:
    """'INT 13h AH=42h extended read (LBA)' -- for traces and the UI."""
    what = SERVICE_NAMES.get((vector, ah)) or SERVICE_NAMES.get((vector, None))
    head = f"INT {vector:02X}h" + ("" if (vector, None) in SERVICE_NAMES else f" AH={ah:02X}h")
    return f"{head} {what}" if what else f"{head} (unsupported)"


#: Master-PIC IRQ vectors whose default handler only sends an EOI (SeaBIOS entry_hwpic1).
_MASTER_DEFAULT = range(0x0A, 0x10)
#: Slave-PIC IRQ vectors (SeaBIOS entry_hwpic2 / handle_70..77): EOI slave, then master.
_SLAVE = range(0x70, 0x78)


class Bios:
    """Firmware state and dispatch.  Construction does no I/O; see install/post/boot."""

    def __init__(self, *, bus, clock, disk: Disk | None, memory_bytes: int, boot_drive: int = 0x80,
                 a20_get: Callable[[], bool], a20_set: Callable[[bool], None],
                 trace: Callable[..., None] | None = None, hds: list[Disk] | None = None,
                 floppy: Disk | None = None, boot_order: str = "") -> None:
        if not 2 << 20 <= memory_bytes <= 0xE0000000:
            # below 2 MiB the SeaBIOS memory map has no room for its tables; from 3.5 GiB on
            # QEMU splits RAM around the PCI hole, which is not modelled
            raise ValueError(f"BIOS: {memory_bytes} bytes of RAM: must be 2 MiB .. 3.5 GiB")
        self.bus = bus
        self.clock = clock
        self.disk = disk
        self.memory_bytes = memory_bytes
        self.boot_drive = boot_drive
        self.trace = trace
        self.stub_range: tuple[int, int] = STUB_RANGE
        self.video = Video(bus)
        self.keyboard = Keyboard(bus, trace)
        self.timer = Timer(bus, clock)
        self.system = SystemServices(memory_bytes, clock, a20_get, a20_set, bus)
        self.serial = SerialServices(bus, clock)
        self.disks = DiskServices(disk, boot_drive, (ROM_SEG, DPTE_OFF), (ROM_SEG, DISKETTE_TABLE_OFF),
                                  hds=hds, floppy=floppy)
        if disk is None:
            self.disk = self.disks.disk
        #: SeaBIOS's boot entries (BEV list) in priority order: QEMU's -boot order first, then
        #: the rest of its default "cad" (hard disk, floppy, CD-ROM) -- see boot_sequence()
        self.boot_list = boot_sequence(boot_order or ("a" if self.disks.floppy and not self.disks.hds else "c"),
                                       has_hd=bool(self.disks.hds))
        self._boot_seq = 0
        #: --kernel (emu/kernel_boot.py KernelBoot): started instead of the boot sector
        self.kernel_boot = None
        #: called by the reset pseudo-vector (a jump to F000:FFF0); the machine resets
        self.on_reset: Callable[[str], None] | None = None
        self._boot_ticks = 0
        #: service vector -> handler(cpu) -> cycles | None
        self._services: dict[int, Callable[[BiosCpu], int | None]] = {
            0x10: self.video.int10, 0x11: self.system.int11, 0x12: self.system.int12,
            0x13: self.disks.handle, 0x14: self.serial.int14, 0x15: self.system.int15,
            0x16: self.keyboard.int16,
            0x18: self._int18, 0x19: self._int19, 0x1A: self.timer.int1a,
        }

    # -- contract ---------------------------------------------------------------------------
    def stub_address(self, vector: int) -> int:
        """Linear address of the one-byte stub the IVT entry of `vector` points at
        (pseudo-vectors 100h+ are the continuation points after the 256 stubs)."""
        if not 0 <= vector < 256 + N_PSEUDO:
            raise ValueError(f"vector {vector:#x} has no stub (0..255, continuations 100h..10Fh)")
        return STUB_BASE + vector

    def vector_at(self, addr: int) -> int | None:
        """Inverse of stub_address: the vector whose stub is at `addr`, else None."""
        lo, hi = self.stub_range
        return addr - lo if lo <= addr < hi else None

    def install(self, cpu: BiosCpu) -> None:
        """Write the IVT, BDA, EBDA, ROM stubs and tables; set text mode 3 with a banner.
        Also the start of a machine reset: waits in progress are forgotten (disk writes are
        not -- a disk keeps its contents across a reboot)."""
        self.system._wait_until = None
        self.system._apm_idle = False
        self.serial._deadline = None
        hd0 = self.disks.hds[0] if self.disks.hds else self.disk
        write_rom(cpu, dpte(hd0.translation if hd0 is not None else 0))
        floppy = self.disks.floppy
        write_ivt(cpu, self.stub_address, has_hd=bool(self.disks.hds))
        write_bda(cpu, hd_count=self.disks.hd_count,
                  floppy_media_state=floppy.media_state if floppy else None)
        if hd0 is not None:
            write_ebda(cpu, pchs=hd0.pchs, lchs=self.disks.hds[0].lchs if self.disks.hds else None)
        self._boot_seq = 0
        self.video.set_mode3(cpu)
        self.video.print_text(cpu, "BareFlow BIOS (SeaBIOS-compatible services, in Python)\r\n"
                                   + "\r\n" * 6)

    def post(self) -> None:
        """Program PIC, PIT, 8042, A20 and RTC through the bus as SeaBIOS leaves them."""
        self._boot_ticks = run_post(self.bus)

    def boot(self, cpu: BiosCpu) -> None:
        """Load LBA 0 to 0000:7C00 and set the registers SeaBIOS hands over with.

        Raises BootError (one line) if the image is too short or lacks the 0x55AA signature.
        """
        if self.kernel_boot is not None:      # --kernel: QEMU's option ROM is the first boot entry
            cpu.write(linear(0, BDA_TICKS), self._boot_ticks.to_bytes(4, "little"))
            self.kernel_boot.start(cpu, self.video)
            return
        kind, disk, drive = self.boot_list[0]
        if disk is None:
            disk = self.disks.fdisk if kind == "floppy" else (self.disks.hds[0] if self.disks.hds else None)
        if disk is None:
            raise BootError("nothing to boot: no disk in the first boot device"
                            f" ({'drive A:' if kind == 'floppy' else kind})")
        sector = check_bootable(disk)
        self._note_read(kind, disk)
        cpu.write(linear(0, BDA_TICKS), self._boot_ticks.to_bytes(4, "little"))
        self._load_and_jump(cpu, sector, kind, drive)

    def handle(self, vector: int, cpu: BiosCpu) -> int | None:
        """Serve `vector` for the guest sitting at its stub.  Returns the modelled cycles, or
        None when the service must wait for an interrupt (the machine then runs the clock to
        the next event with IF=1 and re-enters the stub)."""
        svc = self._services.get(vector)
        if svc is not None:
            regs = self._trace_regs(cpu) if self.trace is not None else None
            result = svc(cpu)
            if regs is not None and result is not None:
                self._emit(vector, regs, cpu, result)
            return result
        if vector == 0x08:
            cycles = self.timer.irq0(cpu)
            return cycles + self._chain_or_eoi(cpu, 0x1C)
        if vector == 0x09:
            cycles, chain = self.keyboard.irq1(cpu, intercept_hooked=not self._ours(cpu, 0x15))
            if chain == -1:
                return_to(cpu, ROM_SEG, R_KBD_INTERCEPT)
            elif chain is not None:
                cycles += self._chain_or_eoi(cpu, chain)
            return cycles
        if vector == PSEUDO_KBD_INTERCEPT:
            cycles, chain = self.keyboard.after_intercept(cpu)
            if chain is not None:
                cycles += self._chain_or_eoi(cpu, chain)
            return cycles
        if vector == 0x70:
            return self.timer.irq8(cpu)
        if vector == PSEUDO_RESET:
            if self.on_reset is not None:
                self.on_reset("jump to the reset vector F000:FFF0")
            return cost.SERVICE
        if vector in _MASTER_DEFAULT:
            self.bus.io_write(0x20, 1, 0x20)
            return cost.SERVICE
        if vector in _SLAVE:
            self.bus.io_write(0xA0, 1, 0x20)
            self.bus.io_write(0x20, 1, 0x20)
            return cost.SERVICE
        return cost.SERVICE          # default handler: just `iret` (SeaBIOS entry_iret)

    #: what the default handler charges (see `default_vectors`)
    default_cost = cost.SERVICE

    def default_vectors(self) -> list[int]:
        """Vectors whose stub `handle` answers with the default handler alone: no state, no
        I/O, no trace event, `default_cost` cycles.  The machine may charge those without
        calling `handle` (emu/native_delivery.py); keep this in step with `handle`."""
        special = set(self._services) | {0x08, 0x09, 0x70} | set(_MASTER_DEFAULT) | set(_SLAVE)
        return [v for v in range(256) if v not in special]

    def state(self) -> dict:
        """Plain data for machine snapshots: what is not in guest memory or a device."""
        return {"boot_ticks": self._boot_ticks, "wait_until": self.system._wait_until,
                "serial_deadline": self.serial._deadline, "disk_overlay": dict(self.disk._overlay) if self.disk is not None else {},
                "boot_seq": self._boot_seq}

    def load_state(self, state: dict) -> None:
        self._boot_ticks = state["boot_ticks"]
        self.system._wait_until = state["wait_until"]
        self.serial._deadline = state.get("serial_deadline")
        if self.disk is not None:
            self.disk._overlay = dict(state["disk_overlay"])
        self._boot_seq = state.get("boot_seq", 0)

    # -- internals ----------------------------------------------------------------------------
    def _ours(self, cpu: BiosCpu, vector: int) -> bool:
        """Does the IVT entry of `vector` still point at our stub?"""
        off, seg = rd16(cpu, 4 * vector), rd16(cpu, 4 * vector + 2)
        return linear(seg, off) == self.stub_address(vector)

    def _chain_or_eoi(self, cpu: BiosCpu, vector: int) -> int:
        """Call the software interrupt `vector` from an IRQ handler, then EOI -- unless the
        vector still points at our own do-nothing stub, in which case just EOI."""
        if self._ours(cpu, vector):
            self.bus.io_write(0x20, 1, 0x20)
        else:
            return_to(cpu, ROM_SEG, R_CHAIN[vector])
        return 0

    def _note_read(self, kind: str, disk: Disk) -> None:
        if kind == "hd" and self.disks.on_transfer is not None:
            self.disks.on_transfer(self.disks.hds.index(disk) if disk in self.disks.hds else 0, 0, 1)

    def _load_and_jump(self, cpu: BiosCpu, sector: bytes, kind: str = "hd", drive: int = -1) -> None:
        cpu.write(0x7C00, sector)
        what = {"floppy": "Floppy", "hd": "Hard Disk"}[kind]
        self.video.print_text(cpu, f"Booting from {what}...\r\n")
        write_boot_stack(cpu)
        hand_over(cpu, self.boot_drive if drive < 0 else drive)

    def _do_boot(self, cpu: BiosCpu) -> int:
        """SeaBIOS do_boot(seq): boot entry `_boot_seq`; on failure say why and go on to the
        next one (its INT 18h); past the last one, "No bootable device." and halt."""
        while self._boot_seq < len(self.boot_list):
            kind, _, drive = self.boot_list[self._boot_seq]
            if kind == "cd":
                self.video.print_text(cpu, "Booting from DVD/CD...\r\n"
                                           "Boot failed: Could not read from CDROM (code 0003)\r\n")
                self._boot_seq += 1
                continue
            disk = self.disks.fdisk if kind == "floppy" else self.disks.hds[0]
            if disk is None:
                self.video.print_text(cpu, "Booting from Floppy...\r\n"
                                           "Boot failed: could not read the boot disk\r\n\r\n")
                self._boot_seq += 1
                continue
            try:
                sector = check_bootable(disk)
            except BootError:
                self.video.print_text(cpu, f"Booting from {'Floppy' if kind == 'floppy' else 'Hard Disk'}...\r\n"
                                           "Boot failed: not a bootable disk\r\n\r\n")
                self._boot_seq += 1
                continue
            self._note_read(kind, disk)
            self._load_and_jump(cpu, sector, kind, drive)
            return cost.SERVICE + cost.DISK_REQUEST + cost.DISK_SECTOR
        self.video.print_text(cpu, "No bootable device.\r\n")
        return_to(cpu, ROM_SEG, R_HALT)
        return cost.SERVICE

    def _int19(self, cpu: BiosCpu) -> int:
        """Bootstrap loader: boot the first entry again (CS:IP changes)."""
        self._boot_seq = 0
        return self._do_boot(cpu)

    def _int18(self, cpu: BiosCpu) -> int:
        """Boot failure recovery, as SeaBIOS handle_18: try the next boot entry."""
        self._boot_seq += 1
        return self._do_boot(cpu)

    @staticmethod
    def _trace_regs(cpu: BiosCpu) -> dict[str, int]:
        return {r: cpu.get(r) for r in ("ax", "bx", "cx", "dx")}

    def _emit(self, vector: int, before: dict[str, int], cpu: BiosCpu, cycles: int) -> None:
        # INT 18h/19h leave through a new CS:IP and stack: they have no status to report
        cf = stacked_flags(cpu) & 1 if vector not in (0x18, 0x19) else 0
        ah = before["ax"] >> 8
        self.trace("bios", vector=vector, ah=ah, al=before["ax"] & 0xFF,
                   bx=before["bx"], cx=before["cx"], dx=before["dx"],
                   ret_ax=cpu.get("ax"), cf=cf, cycles=cycles, name=service_name(vector, ah))

