"""The I/O port bus and the contract every device module follows.

One device = one module that owns its state and declares its ports (v86 style).  The machine
creates the devices, registers them here, and routes the guest's IN/OUT through `io_read` /
`io_write`.  Devices talk to the rest of the PC only through what they are given:
the `Clock` (bareflow.emu.clock) for time and events, an `IrqSink` for interrupt lines, and
plain callbacks (serial bytes out, debug exit, trace).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol


class IrqSink(Protocol):
    """What a device sees of the interrupt controller (the 8259A pair)."""

    def raise_irq(self, line: int) -> None: ...

    def lower_irq(self, line: int) -> None: ...


class Device(Protocol):
    """A port-mapped device.  `size` is 1, 2 or 4 bytes; values are unsigned."""

    name: str

    def ports(self) -> Iterable[int]: ...

    def io_read(self, port: int, size: int) -> int: ...

    def io_write(self, port: int, size: int, value: int) -> None: ...

    def reset(self) -> None: ...

    def state(self) -> dict[str, Any]:
        """Plain-data snapshot (for time travel); load_state() restores it exactly."""
        ...

    def load_state(self, state: dict[str, Any]) -> None: ...


#: What an unclaimed port reads as (an ISA bus with nothing on it floats high, as in QEMU).
UNMAPPED = 0xFFFFFFFF


class Bus:
    """Maps port numbers to devices.  A plain dict lookup: I/O is rare next to compute."""

    def __init__(self) -> None:
        self._ports: dict[int, Device] = {}
        self.devices: list[Device] = []
        #: Optional observer called as (direction, port, size, value) for --trace-io.
        self.on_io: Callable[[str, int, int, int], None] | None = None

    def register(self, device: Device) -> None:
        for port in device.ports():
            if port in self._ports:
                raise ValueError(f"port {port:#x} claimed by {self._ports[port].name} and {device.name}")
            self._ports[port] = device
        self.devices.append(device)

    def device_at(self, port: int) -> Device | None:
        return self._ports.get(port)

    def io_read(self, port: int, size: int) -> int:
        dev = self._ports.get(port)
        mask = (1 << (8 * size)) - 1
        value = (dev.io_read(port, size) if dev is not None else UNMAPPED) & mask
        if self.on_io is not None:
            self.on_io("in", port, size, value)
        return value

    def io_write(self, port: int, size: int, value: int) -> None:
        mask = (1 << (8 * size)) - 1
        value &= mask
        if self.on_io is not None:
            self.on_io("out", port, size, value)
        dev = self._ports.get(port)
        if dev is not None:
            dev.io_write(port, size, value)

    def reset(self) -> None:
        for dev in self.devices:
            dev.reset()
