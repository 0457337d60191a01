"""The board: what a PC is without its CPU.  RAM and the A20 gate, the port bus, the devices and
their wiring, the MMIO regions, the clock, the BIOS and the boot disk.

Kept apart from the CPU core (emu/core.py) so that tests and tools can build a whole PC's
devices without a Unicorn engine running them, and so that adding a device is one line:
`board.add_device(dev)` for a port device (it declares its ports), `board.map_mmio(base, size,
dev)` for a memory-mapped one.  The board talks back to whoever drives it through a small
`BoardHost` (an interrupt line went up, the guest powered off or asked for a reset, an event
for the trace, an I/O access begins/ends); the machine's core is that host, and `NullHost`
records what happened for CPU-less tests.
"""
from __future__ import annotations

import ctypes
import mmap
from typing import Any, Callable, Protocol

from ..devices.a20 import FastA20
from ..devices.acpi_hotplug import CpuHotplug, PciHotplug
from ..devices.acpi_pm import AcpiPm
from ..devices.base.clock import Clock
from ..devices.bus import Bus
from ..devices.cmos import Cmos
from ..devices.debug_exit import DebugExit
from ..devices.debugcon import DebugCon
from ..devices.hpet import Hpet
from ..devices.i440fx import i440fx_functions
from ..devices.imcr import Imcr
from ..devices.ioapic import GsiRouter, IoApic
from ..devices.lapic import LocalApic
from ..devices.pci import PciHost
from ..devices.pic import Pic
from ..devices.pit import Pit
from ..devices.pmtimer import PmTimer
from ..devices.power import AcpiPower
from ..devices.ps2 import I8042
from ..devices.reset_control import ResetControl
from ..devices.uart import Uart16550
from ..devices.vga import VgaText

HMA = 0x100000
HMA_SIZE = 0x10000
PAGE = 0x1000
TEXT_WINDOW = 0xB8000
TEXT_WINDOW_SIZE = 0x8000


class BoardHost(Protocol):
    """What the board needs from the CPU side (the machine's core implements it)."""

    def irq_raised(self) -> None: ...                      # the PIC's INTR output went up
    def power_off(self, status: int) -> None: ...          # debug-exit / ACPI S5
    def request_reset(self, why: str) -> None: ...         # 8042 0xFE, port 0x92 bit 0
    def emit(self, _event: str, **fields: Any) -> None: ...  # an architectural event
    def a20_changed(self, enabled: bool) -> None: ...      # the HMA mapping changed
    def io_enter(self) -> None: ...                        # an MMIO access starts (exact time)
    def io_exit(self) -> None: ...                         # ... and ends (re-arm the deadline)


class NullHost:
    """A host for boards without a CPU: remembers what the devices asked for."""

    def __init__(self) -> None:
        self.exit_status: int | None = None
        self.resets: list[str] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.irqs = 0

    def irq_raised(self) -> None:
        self.irqs += 1

    def power_off(self, status: int) -> None:
        if self.exit_status is None:
            self.exit_status = status

    def request_reset(self, why: str) -> None:
        self.resets.append(why)

    def emit(self, _event: str, **fields: Any) -> None:
        self.events.append((_event, fields))

    def a20_changed(self, enabled: bool) -> None:
        pass

    def io_enter(self) -> None:
        pass

    def io_exit(self) -> None:
        pass


class MmioDevice(Protocol):
    """A memory-mapped device: offsets are relative to the base it was mapped at."""

    def mmio_read(self, offset: int, size: int) -> int: ...
    def mmio_write(self, offset: int, size: int, value: int) -> None: ...


class _Observers(list):
    """The MMIO observer list: tells `on_change` when it gains or loses members (the native
    MMIO path, emu/fastlapic.py, answers accesses only while nobody observes them)."""

    on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def append(self, item: Any) -> None:
        super().append(item)
        self._changed()

    def extend(self, items: Any) -> None:
        super().extend(items)
        self._changed()

    def insert(self, index: Any, item: Any) -> None:
        super().insert(index, item)
        self._changed()

    def remove(self, item: Any) -> None:
        super().remove(item)
        self._changed()

    def pop(self, *args: Any) -> Any:
        item = super().pop(*args)
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def __iadd__(self, items: Any) -> "_Observers":
        self.extend(items)
        return self


class Board:
    """One PC's hardware.  `now` is the cycle reader of a new clock (the core binds its own
    later), or pass the `clock` to share; without a `disk` there is no BIOS (device tests)."""

    def __init__(self, memory_mb: int = 64, disk: Any = None, *, boot_drive: int = 0x80,
                 host: BoardHost | None = None, now: Callable[[], int] | None = None,
                 clock: Clock | None = None, bios_trace: Callable[..., None] | None = None,
                 drives: Any = None, boot_order: str = "") -> None:
        self.memory_bytes = memory_mb * 1024 * 1024
        self.host: BoardHost = host if host is not None else NullHost()
        # anonymous private pages, zero until touched (as QEMU's RAM): a bytearray memset all
        # 64 MiB at every start (~70 ms, and the resident memory of RAM the guest never used)
        self.ram = mmap.mmap(-1, self.memory_bytes, flags=mmap.MAP_PRIVATE)
        self._ram_c = (ctypes.c_char * self.memory_bytes).from_buffer(self.ram)
        self.ram_addr = ctypes.addressof(self._ram_c)
        self._a20 = True
        self._uc: Any = None
        self.mmio: list[tuple[int, int, MmioDevice]] = []
        #: called as (direction "read"/"write", address, size, value) on each guest MMIO access
        self.mmio_observers: list[Callable[[str, int, int, int], None]] = _Observers()
        #: maps a region natively instead (emu/fastlapic.py): (base, size, dev, read, write) ->
        #: True if it did; `read`/`write` are the Python closures it falls back to
        self.native_mmio: Callable[..., bool] | None = None
        self.clock = clock if clock is not None else Clock(now)
        self.bus = Bus()
        self.serial_out = bytearray()
        self.debugcon_out = bytearray()
        #: callables fed each COM1 byte the guest transmits (on the emulator thread)
        self.on_serial: list[Callable[[int], None]] = []
        self.powered_off = False
        self.devices: dict[str, Any] = {}
        self._wire_devices()
        # drives (emu/drives.py: lazy backing stores), the IDE channels, the BIOS over them
        from .drives import drive_set_for
        self.boot_order = boot_order
        self.drives = drives if drives is not None else drive_set_for(disk, boot_drive)
        self.ide: dict[str, Any] = {}
        self.bios = None
        self.disk = None
        if self.drives is not None:
            self._wire_drives(boot_drive, bios_trace)

    # ------------------------------------------------------------------ devices
    def _wire_devices(self) -> None:
        """The PC's chips and their lines: which IRQ each uses, which board signal it drives."""
        host = self.host
        pic = Pic(on_intr=self._on_pic_intr)
        clock = self.clock
        # issue 10: the CPU's interrupt input is the local APIC (the 8259 reaches it through
        # LINT0 in ExtINT mode); ISA IRQs go to both the 8259 and the I/O APIC (GsiRouter)
        self.lapic = lapic = LocalApic(clock=clock, pic=pic, on_intr=self._on_intr)
        ioapic = IoApic(lapic=lapic, pic=pic)
        self.gsi = irq = GsiRouter(pic, ioapic)   # IDE (IRQ14/15) is wired to it too
        #: what the core asks for interrupts: intr_pending() / acknowledge() -> vector | None
        self.intc = lapic
        self.add_device(pic)
        self.add_device(Pit(clock=clock, irq=irq))
        self.add_device(Uart16550(clock=clock, irq=irq, on_tx=self._on_tx))
        self.add_device(I8042(clock=clock, irq=irq, on_reset_cpu=lambda: host.request_reset("8042 command 0xFE"),
                              on_a20=self.set_a20), "ps2")
        from .vga_window import VgaWindow
        self.vga_window = VgaWindow(self)      # backs A0000-AFFFF as the VGA's state needs
        self.add_device(VgaText(clock=clock, on_window=self.vga_window.remap))
        self.add_device(FastA20(on_a20=self.set_a20, on_reset=lambda: host.request_reset("port 0x92 bit 0")))
        self.add_device(DebugExit(on_exit=host.power_off))
        self.add_device(DebugCon(on_byte=self._on_debugcon))
        self.add_device(Cmos(clock=clock, irq=irq, memory_mb=self.memory_bytes >> 20))
        power = self.add_device(AcpiPower(on_power_off=lambda: host.power_off(0)), "power")
        self.add_device(ResetControl(on_reset=host.request_reset))
        # issue 10: APICs, HPET, PCI configuration space, PIIX4 ACPI registers, IMCR
        self.add_device(lapic)
        self.add_device(ioapic)
        self.add_device(Hpet(clock=clock, irq=irq))
        self.add_device(PciHost(i440fx_functions(self.memory_bytes)))
        self.add_device(Imcr(lapic=lapic))
        self.add_device(PmTimer(clock=clock))
        self.add_device(AcpiPm(clock=clock, power=power))
        self.add_device(PciHotplug())
        self.add_device(CpuHotplug(cpus=1))
        self.map_mmio(0xFEE00000, 0x1000, lapic)
        self.map_mmio(0xFEC00000, 0x1000, ioapic)
        self.map_mmio(0xFED00000, 0x1000, self.devices["hpet"])   # 0x400 used; whole pages

    def post_firmware(self) -> None:
        """SeaBIOS's POST work that is not port I/O (after `bios.post()`): the local APIC set-up
        it leaves, and the MP / ACPI / SMBIOS tables in RAM and the F segment."""
        from .bios.tables import install_tables
        self.lapic.seabios_setup()
        install_tables(self)

    def _wire_drives(self, boot_drive: int, bios_trace: Callable[..., None] | None) -> None:
        """PIIX3 IDE channels (emu/ide.py) and the BIOS's disks over the same stores."""
        from .bios import Bios
        from .drives import bios_disks
        from .ide import build_ide, note_bios_transfer
        drives = self.drives
        self.ide = build_ide(self.clock, self.gsi, drives.ide, on_event=lambda kind, f: self.host.emit(kind, **f))
        for name, ch in self.ide.items():
            self.add_device(ch, name)
        hds, floppy = bios_disks(drives)
        self.bios = Bios(bus=self.bus, clock=self.clock, disk=None, memory_bytes=self.memory_bytes,
                         boot_drive=boot_drive, a20_get=lambda: self._a20, a20_set=self.set_a20,
                         trace=bios_trace or self._bios_trace, hds=hds, floppy=floppy, boot_order=self.boot_order)
        self.disk = self.bios.disk
        ata = [i for i, st in enumerate(drives.ide) if st is not None]
        self.bios.disks.on_transfer = lambda hd, lba, n: note_bios_transfer(self.ide, ata[hd], lba, n)
        self.bios.on_reset = self.host.request_reset

    def add_device(self, dev: Any, name: str | None = None) -> Any:
        """Plug a port device in: it joins `devices` (snapshots, reset) and the bus (its ports)."""
        key = name or getattr(dev, "name", None) or type(dev).__name__.lower()
        if key in self.devices:
            raise ValueError(f"a device named {key!r} is already on the board")
        self.devices[key] = dev
        if hasattr(dev, "ports"):
            self.bus.register(dev)
        return dev

    def map_mmio(self, base: int, size: int, dev: MmioDevice, name: str | None = None) -> None:
        """Map a device's registers at physical [base, base+size) (page-aligned, as Unicorn
        maps whole pages).  Guest loads and stores there call `dev.mmio_read/mmio_write` with
        the offset from base; `read_phys/write_phys` reach it too.  Named devices also join
        `devices` (snapshots) unless they are there already."""
        if base % PAGE or size <= 0 or size % PAGE:
            raise ValueError(f"MMIO region {base:#x}+{size:#x} must be whole 4 KiB pages")
        for b, s, _ in self.mmio:
            if base < b + s and b < base + size:
                raise ValueError(f"MMIO region {base:#x}+{size:#x} overlaps {b:#x}+{s:#x}")
        if base < self.memory_bytes:
            raise ValueError(f"MMIO region {base:#x} overlaps RAM (ends at {self.memory_bytes:#x})")
        self.mmio.append((base, size, dev))
        if name is not None and name not in self.devices:
            self.devices[name] = dev
        if self._uc is not None:
            self._map_mmio_region(base, size, dev)

    def _map_mmio_region(self, base: int, size: int, dev: MmioDevice) -> None:
        host = self.host

        observers = self.mmio_observers

        def read(_uc: Any, offset: int, sz: int, _ud: Any) -> int:
            host.io_enter()
            try:
                value = dev.mmio_read(offset, sz)
                for ob in observers:
                    ob("read", base + offset, sz, value)
                return value
            finally:
                host.io_exit()

        def write(_uc: Any, offset: int, sz: int, value: int, _ud: Any) -> None:
            host.io_enter()
            try:
                for ob in observers:
                    ob("write", base + offset, sz, value)
                dev.mmio_write(offset, sz, value)
            finally:
                host.io_exit()

        if self.native_mmio is not None and self.native_mmio(base, size, dev, read, write):
            return
        self._uc.mmio_map(base, size, read, None, write, None)

    def remap_mmio(self) -> None:
        """Map every MMIO region again (a native mapper was just installed)."""
        if self._uc is None:
            return
        for base, sz, dev in self.mmio:
            self._uc.mem_unmap(base, sz)
            self._map_mmio_region(base, sz, dev)
        self._uc.ctl_flush_tb()

    def _mmio_at(self, addr: int) -> tuple[int, MmioDevice] | None:
        for b, s, dev in self.mmio:
            if b <= addr < b + s:
                return b, dev
        return None

    # ------------------------------------------------------------------ device signals
    def _on_intr(self, level: bool) -> None:
        if level:
            self.host.irq_raised()

    def _on_pic_intr(self, level: bool) -> None:
        self.lapic.lint(0, int(level))      # the 8259's INTR is wired to LAPIC LINT0
        self._on_intr(level)

    def _on_tx(self, byte: int) -> None:
        if self.powered_off:
            return  # the rest of the block after a debug-exit write: QEMU has already exited
        self.serial_out.append(byte)
        self.host.emit("serial", byte=byte, char=chr(byte))
        for cb in self.on_serial:
            cb(byte)

    def _on_debugcon(self, byte: int) -> None:
        self.debugcon_out.append(byte)
        self.host.emit("debugcon", byte=byte, char=chr(byte))

    def _bios_trace(self, _event: str = "bios", **fields: Any) -> None:
        self.host.emit(_event, **fields)

    @property
    def pic(self) -> Pic:
        return self.devices["pic"]

    @property
    def uart(self) -> Uart16550:
        return self.devices["uart"]

    @property
    def kbd(self) -> I8042:
        return self.devices["ps2"]

    @property
    def vga(self) -> VgaText:
        return self.devices["vga"]

    # ------------------------------------------------------------------ memory
    def attach(self, uc: Any) -> None:
        """Map RAM (with the A20 gate's HMA window) and the MMIO regions into a Unicorn engine."""
        self._uc = uc
        addr, size = self.ram_addr, self.memory_bytes
        uc.mem_map_ptr(0, HMA, 7, addr)
        uc.mem_map_ptr(HMA + HMA_SIZE, size - HMA - HMA_SIZE, 7, addr + HMA + HMA_SIZE)
        uc.mem_map_ptr(HMA, HMA_SIZE, 7, addr + (HMA if self._a20 else 0))
        for base, sz, dev in self.mmio:
            self._map_mmio_region(base, sz, dev)
        self.vga_window.remap()                # a graphics mode set before attach

    def set_a20(self, enabled: bool) -> None:
        """Gate address line 20: when off, 0x100000-0x10FFFF aliases 0x0-0xFFFF (the 8086 wrap)."""
        enabled = bool(enabled)
        if enabled == self._a20:
            return
        uc = self._uc
        if uc is not None:
            uc.mem_unmap(HMA, HMA_SIZE)
            uc.mem_map_ptr(HMA, HMA_SIZE, 7, self.ram_addr + (HMA if enabled else 0))
            uc.ctl_flush_tb()
        self._a20 = enabled
        self.host.a20_changed(enabled)
        self.host.emit("a20", enabled=enabled)

    @property
    def a20(self) -> bool:
        return self._a20

    def physical(self, addr: int) -> int:
        """The address the memory controller sees: A20 applied."""
        addr &= 0xFFFFFFFF
        if not self._a20 and HMA <= addr < HMA + HMA_SIZE:
            return addr - HMA
        return addr

    def read_phys(self, addr: int, n: int) -> bytes:
        """Physical memory as the guest sees it (A20 applied, MMIO devices answer); bytes
        nothing decodes read as 0xFF, as on an ISA bus."""
        ram, size = self.ram, self.memory_bytes
        a = self.physical(addr)
        if a + n <= size and (self._a20 or a + n <= HMA or a >= HMA + HMA_SIZE):
            return bytes(ram[a:a + n])
        out = bytearray()
        for i in range(n):
            a = self.physical(addr + i)
            if a < size:
                out.append(ram[a])
                continue
            hit = self._mmio_at(a)
            out.append(hit[1].mmio_read(a - hit[0], 1) & 0xFF if hit else 0xFF)
        return bytes(out)

    def write_phys(self, addr: int, data: bytes) -> None:
        """Store into physical memory (A20 applied, MMIO devices take their bytes)."""
        for i, byte in enumerate(bytes(data)):
            a = self.physical(addr + i)
            if a < self.memory_bytes:
                self.ram[a] = byte
            else:
                hit = self._mmio_at(a)
                if hit:
                    hit[1].mmio_write(a - hit[0], 1, byte)

    def text_window(self) -> bytes:
        """The 32 KiB colour text window at 0xB8000 (plain RAM here)."""
        return bytes(self.ram[TEXT_WINDOW:TEXT_WINDOW + TEXT_WINDOW_SIZE])

    def clear_ram(self) -> None:
        """Zero RAM by giving its pages back (they read as zero again, at the same address
        Unicorn maps), rather than writing 64 MiB of zeros."""
        try:
            self.ram.madvise(mmap.MADV_DONTNEED)
        except (AttributeError, OSError, ValueError):   # no madvise here: write the zeros
            ctypes.memset(self.ram_addr, 0, self.memory_bytes)

    # ------------------------------------------------------------------ power and snapshots
    def reset(self) -> None:
        """Power-on state of the chips (RAM is the core's to clear: it flushes translations)."""
        self.set_a20(True)
        self.bus.reset()
        self.powered_off = False
        self.serial_out.clear()

    def state(self) -> dict[str, Any]:
        """Everything but RAM (the snapshot copies RAM itself, once)."""
        return {"a20": self._a20, "devices": {name: dev.state() for name, dev in self.devices.items()},
                "bios": self.bios.state() if self.bios is not None and hasattr(self.bios, "state") else None,
                "serial_len": len(self.serial_out), "debugcon_len": len(self.debugcon_out)}

    def load_state(self, state: dict[str, Any]) -> None:
        """Back to `state()`.  The caller has reset the clock's queue: devices re-schedule."""
        self.set_a20(state["a20"])
        for name, dev_state in state["devices"].items():
            self.devices[name].load_state(dev_state)
        if state.get("bios") is not None and hasattr(self.bios, "load_state"):
            self.bios.load_state(state["bios"])
        del self.serial_out[state["serial_len"]:]
        del self.debugcon_out[state["debugcon_len"]:]
        self.powered_off = False
