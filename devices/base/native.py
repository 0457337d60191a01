"""What a device sees of the machine's native port path (emu/fastports.py, emu/fastpath_ports.c).

The machine may answer some IN/OUT accesses in native code, without calling the device, when
the answer is a pure function of the device's state.  The device stays the one owner of that
state and of its semantics; it only tells the native path, after every change it makes, which
of its ports can be read without side effects and what they read (`publish_reads`).  A device
that is not attached to a machine with a native path publishes into `NO_NATIVE`, which ignores
everything, so devices work the same in CPU-less tests.

The CMOS/RTC (index, RAM, time base) and the VGA (flip-flop, misc, beam geometry) keep the
registers the native path needs in a *cell*:
plain attributes here, the native struct's fields once attached, so there is one copy.
"""
from __future__ import annotations

from typing import Protocol, Sequence


class NativePorts(Protocol):
    def publish_reads(self, base: int, values: Sequence[int | None]) -> None:
        """Ports base, base+1, ...: the byte a one-byte IN reads, or None if only the device
        can answer (the read has side effects, or depends on something not published)."""
        ...

    def cmos_cell(self, index_port: int, data_port: int, kinds: bytes) -> "CmosCell":
        """Attach an MC146818: OUT index_port is stored in the cell, IN data_port answered from
        the cell by `kinds[index]` (0 device, 1 RAM byte, 2 time register, 3 register A,
        4 register C)."""
        ...

    def vga_cell(self, status_port: int) -> "VgaCell":
        """Attach a VGA: IN status_port (input status 1) answered from the cell's clock
        geometry while misc bit 0 (colour) is set; the read resets the cell's flip-flop."""
        ...

    def port61_cell(self, port: int) -> "Port61Cell":
        """Attach system control port B: IN `port` answered from the cell (channel 2's gate,
        mode, reload and start cycle, speaker data, the clock ratios) at the exact cycle."""
        ...


class CmosCell:
    """The CMOS/RTC state the native path reads (field names as in the native struct)."""

    def __init__(self) -> None:
        self.cmos_index = 0
        self.cmos_nmi = 0
        self.cmos_base_seconds = 0
        self.cmos_base_cycle = 0
        self.cmos_frozen = 0
        self.cmos_frozen_valid = 0
        self.cmos_irq_level = 0
        self.cmos_hz = 0
        self.cmos_uip_cycles = 0
        self.cmos_ram: bytearray | memoryview = bytearray(128)


class VgaCell:
    """The VGA state the native path reads and writes (field names as in the native struct)."""

    def __init__(self) -> None:
        self.vga_flip = 0
        self.vga_misc = 0
        self.vga_frame = 0
        self.vga_line = 0
        self.vga_vfirst = 0
        self.vga_vlast = 0
        self.vga_visible = 0


class Port61Cell:
    """The PIT state the native path reads for port 0x61 (field names as in the native struct).
    Unlike the CMOS cell this is a published *copy*: the PIT writes it after each change."""

    def __init__(self) -> None:
        self.p61_valid = 0
        self.p61_low = 0
        self.p61_mode = 0
        self.p61_count = 0
        self.p61_load_cycle = 0
        self.p61_cpu_hz = 0
        self.p61_pit_hz = 0
        self.p61_refresh = 0


class _NoNative:
    """Nothing answers natively: publishing is a no-op, the CMOS cell is plain Python."""

    def publish_reads(self, base: int, values: Sequence[int | None]) -> None:
        return None

    def cmos_cell(self, index_port: int, data_port: int, kinds: bytes) -> CmosCell:
        return CmosCell()

    def vga_cell(self, status_port: int) -> VgaCell:
        return VgaCell()

    def port61_cell(self, port: int) -> Port61Cell:
        return Port61Cell()


NO_NATIVE: NativePorts = _NoNative()
