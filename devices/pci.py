"""PCI configuration space: mechanism #1 (ports 0xCF8/0xCFC) and the function model.

Reference: QEMU hw/pci/pci.c (config space with a write mask per byte, BAR sizing) and
hw/pci/pci_host.c (the address/data ports).  Semantics, as there:

- 0xCF8 is the 32-bit CONFIG_ADDRESS register (enable bit 31, bus 23-16, device 15-11,
  function 10-8, register 7-2).  Only a 32-bit access at 0xCF8 reaches it; other sizes read
  as all ones and writes are dropped (QEMU pci_host_config_read/write).  0xCF9 is not claimed:
  on the PIIX3 it is the reset control register, another device's port.
- 0xCFC-0xCFF is the data window: an access of 1, 2 or 4 bytes at 0xCFC+n reads or writes
  config bytes register+n..  With the enable bit clear, or no function at that address, reads
  are all ones and writes vanish.
- A write changes only the bits set in the function's write mask (QEMU pci_init_wmask: the
  command register's IO/MEM/MASTER/SERR/INTX_DISABLE bits (0x507), cache line size, interrupt
  line, every byte from 0x40 up, and each BAR's address bits; the BAR size is what a write of
  all ones reads back).  Status bits are write-one-to-clear where QEMU says so.

What a write *does* beyond storing bits (PAM shadowing, moving an I/O BAR) is not modelled:
SeaBIOS has placed everything at POST and guests read it back; see docs/devices.md.
"""
from __future__ import annotations

import struct
from typing import Any, Iterable

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC

# header offsets
VENDOR, DEVICE, COMMAND, STATUS, REVISION, PROG_IF, SUBCLASS, CLASS = 0, 2, 4, 6, 8, 9, 0xA, 0xB
CACHE_LINE, LATENCY, HEADER_TYPE = 0x0C, 0x0D, 0x0E
BAR0, SUBSYS_VENDOR, SUBSYS_ID, ROM_BAR = 0x10, 0x2C, 0x2E, 0x30
INT_LINE, INT_PIN = 0x3C, 0x3D

CMD_IO, CMD_MEM, CMD_MASTER, CMD_PARITY, CMD_SERR, CMD_INTX_DISABLE = 1, 2, 4, 0x40, 0x100, 0x400
#: Status bits a write of one clears (QEMU pci_init_w1cmask).
STATUS_W1C = 0xF900


class PciFunction:
    """256 bytes of configuration space with QEMU's write semantics.

    Subclasses (devices/i440fx.py) fill in the header and the state SeaBIOS leaves, through
    `set8/16/32` which bypass the write mask, then declare BARs with `add_bar`.
    """

    name = "pci-function"

    def __init__(self, vendor: int, device: int, revision: int, class_code: int, header_type: int = 0,
                 subsystem: tuple[int, int] = (0x1AF4, 0x1100)) -> None:
        self.config = bytearray(256)
        self.wmask = bytearray(256)
        self.w1cmask = bytearray(256)
        self.set16(VENDOR, vendor)
        self.set16(DEVICE, device)
        self.set8(REVISION, revision)
        self.set8(PROG_IF, class_code & 0xFF)
        self.set16(SUBCLASS, class_code >> 8)
        self.set8(HEADER_TYPE, header_type)
        self.set16(SUBSYS_VENDOR, subsystem[0])
        self.set16(SUBSYS_ID, subsystem[1])
        struct.pack_into("<H", self.wmask, COMMAND, CMD_IO | CMD_MEM | CMD_MASTER | CMD_SERR | CMD_INTX_DISABLE)
        self.wmask[CACHE_LINE] = 0xFF
        self.wmask[INT_LINE] = 0xFF
        for i in range(0x40, 0x100):
            self.wmask[i] = 0xFF
        struct.pack_into("<H", self.w1cmask, STATUS, STATUS_W1C)
        self._reset_config = bytes(self.config)

    # -- building ---------------------------------------------------------------------
    def set8(self, off: int, v: int) -> None:
        self.config[off] = v & 0xFF

    def set16(self, off: int, v: int) -> None:
        struct.pack_into("<H", self.config, off, v & 0xFFFF)

    def set32(self, off: int, v: int) -> None:
        struct.pack_into("<I", self.config, off, v & 0xFFFFFFFF)

    def get32(self, off: int) -> int:
        return struct.unpack_from("<I", self.config, off)[0]

    def add_bar(self, reg: int, size: int, flags: int) -> None:
        """A BAR of `size` bytes (a power of two): the low `flags` bits are read-only type bits
        (bit 0 = I/O space; 3 = prefetchable memory).  The ROM BAR's bit 0 (enable) is writable."""
        if reg == ROM_BAR:
            mask = (~(size - 1) & 0xFFFFFFFF) | 1
        else:
            low = 0x3 if flags & 1 else 0xF
            mask = ~(size - 1) & ~low & 0xFFFFFFFF   # I/O BARs too: 32 bits, as QEMU
        struct.pack_into("<I", self.wmask, reg, mask)
        self.set32(reg, flags)

    def freeze(self) -> None:
        """Record the power-on contents (what reset() returns to)."""
        self._reset_config = bytes(self.config)

    # -- access -----------------------------------------------------------------------
    def read(self, off: int, size: int) -> int:
        return int.from_bytes(self.config[off:off + size], "little")

    def write(self, off: int, size: int, value: int) -> None:
        for i in range(size):
            a = off + i
            v = (value >> (8 * i)) & 0xFF
            wm, w1c = self.wmask[a], self.w1cmask[a]
            old = self.config[a]
            self.config[a] = ((old & ~wm) | (v & wm)) & ~(v & w1c) & 0xFF

    def reset(self) -> None:
        self.config[:] = self._reset_config


class PciHost:
    """The i440FX's configuration mechanism #1 on bus 0: the port device the bus sees."""

    name = "pci"
    wide_io = True
    PORTS = (0xCF8, 0xCFA, 0xCFB, 0xCFC, 0xCFD, 0xCFE, 0xCFF)

    def __init__(self, functions: dict[tuple[int, int], PciFunction] | None = None) -> None:
        #: (device, function) on bus 0 -> function model
        self.functions: dict[tuple[int, int], PciFunction] = dict(functions or {})
        self.address = 0

    def add(self, dev: int, fn: int, function: PciFunction) -> None:
        self.functions[(dev, fn)] = function

    def ports(self) -> Iterable[int]:
        return self.PORTS

    def reset(self) -> None:
        self.address = 0
        for f in self.functions.values():
            f.reset()

    def _target(self) -> tuple[PciFunction | None, int]:
        a = self.address
        if not a & 0x80000000 or (a >> 16) & 0xFF != 0:
            return None, 0
        return self.functions.get(((a >> 11) & 31, (a >> 8) & 7)), a & 0xFC

    def io_read(self, port: int, size: int) -> int:
        if port < CONFIG_DATA:
            return self.address if port == CONFIG_ADDRESS and size == 4 else (1 << (8 * size)) - 1
        if not self.address & 0x80000000:
            return (1 << (8 * size)) - 1
        fn, reg = self._target()
        off = reg + (port - CONFIG_DATA)
        if fn is None or off + size > 256:
            return (1 << (8 * size)) - 1
        return fn.read(off, size)

    def io_write(self, port: int, size: int, value: int) -> None:
        if port < CONFIG_DATA:
            if port == CONFIG_ADDRESS and size == 4:
                self.address = value & 0xFFFFFFFF
            return
        fn, reg = self._target()
        off = reg + (port - CONFIG_DATA)
        if fn is not None and off + size <= 256:
            fn.write(off, size, value)

    # host-side access (the BIOS tables read the PM base SeaBIOS programmed, etc.)
    def config_read(self, dev: int, fn: int, off: int, size: int) -> int:
        f = self.functions.get((dev, fn))
        return f.read(off, size) if f is not None else (1 << (8 * size)) - 1

    def state(self) -> dict[str, Any]:
        return {"address": self.address,
                "config": {f"{d}.{fn}": bytes(f.config).hex() for (d, fn), f in self.functions.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.address = state["address"]
        for key, hexed in state["config"].items():
            d, fn = (int(x) for x in key.split("."))
            self.functions[(d, fn)].config[:] = bytes.fromhex(hexed)
