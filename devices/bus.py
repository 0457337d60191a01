"""The I/O port bus and the contract every device module follows.

One device = one module that owns its state and declares its ports (v86 style).  The machine
creates the devices, registers them here, and routes the guest's IN/OUT through `io_read` /
`io_write`.  Devices talk to the rest of the PC only through what they are given:
the `Clock` (bareflow.devices.base.clock) for time and events, an `IrqSink` for interrupt lines, and
plain callbacks (serial bytes out, debug exit, trace).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol


class IrqSink(Protocol):
    """What a device sees of the interrupt controller (the 8259A pair)."""

    def raise_irq(self, line: int) -> None: ...

    def lower_irq(self, line: int) -> None: ...


class Device(Protocol):
    """A port-mapped device.  `size` is 1, 2 or 4 bytes; values are unsigned.

    `wide_io` (optional class attribute, default True) says whether the device itself decodes
    16/32-bit accesses.  Most ISA devices are byte-wide: QEMU registers them with
    `.impl.max_access_size = 1`, so an `outw`/`inw` is split into byte accesses to consecutive
    ports, each routed to whatever answers at that port.  Such devices set `wide_io = False`
    and the bus performs that split.
    """

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
        #: Port I/O observers, called as (direction "in"/"out", port, size, value) after a read
        #: and before a write reaches the device.  Subscribe with `observe_io`; an empty list
        #: costs one truth test per access.
        self.io_observers: list[Callable[[str, int, int, int], None]] = []
        #: the ports each observer needs to see (None: all of them), for `observed_ports`
        self._observed: dict[int, frozenset[int] | None] = {}
        #: the observers that only need writes (`observe_io(..., writes_only=True)`)
        self._writes_only: set[int] = set()
        #: called with no argument when the set of observed ports changes (the machine's
        #: native port path, emu/fastports.py, then hands those ports back to Python), or
        #: when a device claims ports
        self.on_observe_change: list[Callable[[], None]] = []

    def observe_io(self, callback: Callable[[str, int, int, int], None],
                   ports: Iterable[int] | None = None, writes_only: bool = False) -> Callable[[], None]:
        """Subscribe to port accesses; returns the function that unsubscribes.  `ports` says
        which ports the observer needs to see every access of (None: all).  The callback is
        called for every access that goes through the bus; accesses the machine answers
        natively (emu/fastports.py) never reach the bus, so they are answered natively only
        on ports no observer asked for.  `writes_only`: the observer ignores reads, so reads of
        its ports may still be answered natively (it may still be called for reads that went
        through the bus)."""
        self.io_observers.append(callback)
        self._observed[id(callback)] = None if ports is None else frozenset(ports)
        if writes_only:
            self._writes_only.add(id(callback))
        self._observe_changed()

        def unsubscribe() -> None:
            if callback in self.io_observers:
                self.io_observers.remove(callback)
                if callback not in self.io_observers:
                    self._observed.pop(id(callback), None)
                    self._writes_only.discard(id(callback))
                self._observe_changed()
        return unsubscribe

    def observed_ports(self, reads: bool = False) -> frozenset[int] | None:
        """The ports observers need every write of (`reads`: every read of); None means all
        ports."""
        union: set[int] = set()
        for key, ports in self._observed.items():
            if reads and key in self._writes_only:
                continue
            if ports is None:
                return None
            union |= ports
        return frozenset(union)

    def _observe_changed(self) -> None:
        for cb in self.on_observe_change:
            cb()

    def register(self, device: Device) -> None:
        for port in device.ports():
            if port in self._ports:
                raise ValueError(f"port {port:#x} claimed by {self._ports[port].name} and {device.name}")
            self._ports[port] = device
        self.devices.append(device)
        if self.on_observe_change:
            self._observe_changed()     # a native path may answer ports nobody claimed

    def device_at(self, port: int) -> Device | None:
        return self._ports.get(port)

    def io_read(self, port: int, size: int) -> int:
        dev = self._ports.get(port)
        if size == 1:  # the common case first: no mask arithmetic, no attribute lookup
            value = dev.io_read(port, 1) & 0xFF if dev is not None else 0xFF
        elif dev is None:
            value = UNMAPPED & ((1 << (8 * size)) - 1)
        elif getattr(dev, "wide_io", True):
            value = dev.io_read(port, size) & ((1 << (8 * size)) - 1)
        else:
            value = self._split_read(port, size)
        if self.io_observers:
            for cb in self.io_observers:
                cb("in", port, size, value)
        return value

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF if size == 1 else (1 << (8 * size)) - 1
        if self.io_observers:
            for cb in self.io_observers:
                cb("out", port, size, value)
        dev = self._ports.get(port)
        if dev is None:
            return
        if size == 1 or getattr(dev, "wide_io", True):
            dev.io_write(port, size, value)
        else:
            for i in range(size):
                target = self._ports.get(port + i)
                if target is not None:
                    target.io_write(port + i, 1, (value >> (8 * i)) & 0xFF)

    def _split_read(self, port: int, size: int) -> int:
        """A wide read of byte-wide ports: one byte per port, low port first (little endian)."""
        value = 0
        for i in range(size):
            target = self._ports.get(port + i)
            byte = target.io_read(port + i, 1) & 0xFF if target is not None else 0xFF
            value |= byte << (8 * i)
        return value

    def reset(self) -> None:
        for dev in self.devices:
            dev.reset()


def split_read(read_byte: Callable[[int], int], owned: Iterable[int] | set[int], port: int,
               size: int) -> int:
    """Wide read of a byte-wide device called directly (not through `Bus`): each byte comes
    from the device's own port, a port it does not own reads as a floating bus (0xFF)."""
    value = 0
    for i in range(size):
        p = port + i
        value |= ((read_byte(p) & 0xFF) if p in owned else 0xFF) << (8 * i)
    return value


def split_write(write_byte: Callable[[int, int], None], owned: Iterable[int] | set[int],
                port: int, size: int, value: int) -> None:
    """Wide write to a byte-wide device called directly: one byte per owned port."""
    for i in range(size):
        p = port + i
        if p in owned:
            write_byte(p, (value >> (8 * i)) & 0xFF)
