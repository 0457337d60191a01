"""The I/O APIC (82093AA-compatible, memory-mapped at 0xFEC00000) and the board's IRQ fan-out.

Reference: QEMU 7.2 hw/intc/ioapic.c + ioapic_common.c (version 0x20, 24 pins) and hw/i386
pc.c's GSI wiring, the oracle for tests/images/kern_ioapic.asm.  Modelled as there:

- IOREGSEL (offset 0x00) selects, IOWIN (0x10) reads/writes: ID (bits 24-27 writable),
  version 0x00170020, arbitration (reads 0), the 24 redirection entries (delivery status and
  remote IRR read-only; writing an entry recomputes delivery); undefined registers read 0.
  The EOI register at 0x40 (version 0x20) clears remote IRR for a vector like a LAPIC EOI.
- Edge pins latch a request on a rising input when unmasked and deliver it; level pins keep
  it pending while the input is high, set remote IRR when delivered and are not delivered
  again until the local APIC's EOI for that vector clears it -- then, input still high, at once.
- Delivery to the one local APIC by destination (physical or logical) and mode (fixed,
  lowest priority; ExtINT reads the vector from the 8259).  Polarity is ignored as in QEMU.

`GsiRouter` is what the ISA devices see as their interrupt sink: each ISA IRQ goes to both the
8259 and the I/O APIC (QEMU's gsi_handler), with ISA IRQ0 on pin 2 (QEMU's override, the one
the MP table and the MADT report).
"""
from __future__ import annotations

from typing import Any

BASE = 0xFEC00000
SIZE = 0x1000
NUM_PINS = 24
VERSION = 0x20
MASKED = 1 << 16
REMOTE_IRR = 1 << 14
DELIV_STATUS = 1 << 12
LEVEL = 1 << 15
RO_BITS = REMOTE_IRR | DELIV_STATUS
DM_EXTINT = 7


class IoApic:
    name = "ioapic"

    def __init__(self, *, lapic: Any, pic: Any = None) -> None:
        self.lapic = lapic
        self.pic = pic
        lapic.ioapic_eoi = self.eoi
        self.reset()

    def ports(self):
        return ()

    def reset(self) -> None:
        self.id = 0
        self.ioregsel = 0
        self.irr = 0
        self.redir = [MASKED] * NUM_PINS

    # -- inputs -----------------------------------------------------------------------
    def set_irq(self, pin: int, level: int) -> None:
        """ioapic_set_irq for a GSI (callers already mapped ISA IRQ0 to pin 2)."""
        if not 0 <= pin < NUM_PINS:
            return
        mask = 1 << pin
        entry = self.redir[pin]
        if entry & LEVEL:
            if level:
                self.irr |= mask
                if not entry & REMOTE_IRR:
                    self._service()
            else:
                self.irr &= ~mask
        elif level and not entry & MASKED:
            self.irr |= mask
            self._service()

    def lower_is_noop(self, pin: int) -> bool:
        """Would `set_irq(pin, 0)` change nothing now?  (A quiet HPET expiry done natively:
        emu/fasthpetexp.py asks before a slice.)"""
        if not 0 <= pin < NUM_PINS:
            return True
        return not (self.redir[pin] & LEVEL and self.irr & (1 << pin))

    def _service(self) -> None:
        for pin in range(NUM_PINS):
            mask = 1 << pin
            if not self.irr & mask:
                continue
            entry = self.redir[pin]
            if entry & MASKED:
                continue
            level = bool(entry & LEVEL)
            if not level:
                self.irr &= ~mask
            else:
                if entry & REMOTE_IRR:
                    continue
                self.redir[pin] = entry | REMOTE_IRR
            mode = (entry >> 8) & 7
            if mode == DM_EXTINT and self.pic is not None:
                vector = self.pic.acknowledge()
            else:
                vector = entry & 0xFF
            self.lapic.deliver_irq(entry >> 56, (entry >> 11) & 1, mode, vector, level)

    def eoi(self, vector: int) -> None:
        """An EOI for `vector` (LAPIC broadcast or the EOI register): clear remote IRR."""
        for pin in range(NUM_PINS):
            entry = self.redir[pin]
            if entry & REMOTE_IRR and entry & 0xFF == vector:
                self.redir[pin] = entry & ~REMOTE_IRR
                if not entry & MASKED and self.irr & (1 << pin):
                    self._service()

    # -- MMIO -------------------------------------------------------------------------
    def mmio_read(self, offset: int, size: int) -> int:
        off = offset & 0xFF
        if off == 0x00:
            return self.ioregsel
        if off != 0x10:
            return 0
        sel = self.ioregsel
        if sel == 0:
            return self.id << 24
        if sel == 1:
            return VERSION | ((NUM_PINS - 1) << 16)
        if sel == 2:
            return 0
        index = (sel - 0x10) >> 1
        if 0 <= index < NUM_PINS:
            entry = self.redir[index]
            return (entry >> 32) & 0xFFFFFFFF if sel & 1 else entry & 0xFFFFFFFF
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        off = offset & 0xFF
        value &= 0xFFFFFFFF
        if off == 0x00:
            self.ioregsel = value & 0xFF
            return
        if off == 0x40:
            self.eoi(value & 0xFF)
            return
        if off != 0x10:
            return
        sel = self.ioregsel
        if sel == 0:
            self.id = (value >> 24) & 0xF
            return
        index = (sel - 0x10) >> 1
        if not 0 <= index < NUM_PINS:
            return
        entry = self.redir[index]
        ro = entry & RO_BITS
        if sel & 1:
            entry = (entry & 0xFFFFFFFF) | (value << 32)
        else:
            entry = (entry & ~0xFFFFFFFF) | value
        entry = (entry & ~RO_BITS) | ro
        if not entry & LEVEL:
            entry &= ~REMOTE_IRR
        self.redir[index] = entry
        self._service()

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "ioregsel": self.ioregsel, "irr": self.irr, "redir": list(self.redir)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.id = state["id"]
        self.ioregsel = state["ioregsel"]
        self.irr = state["irr"]
        self.redir = list(state["redir"])


class GsiRouter:
    """The IrqSink of ISA devices on QEMU's i440FX: each line to the 8259s and the I/O APIC.

    With the HPET in legacy replacement mode (`hpet_legacy`), the PIT's IRQ0 and the RTC's IRQ8
    no longer get through (QEMU: pit_enabled low, the RTC line held by the HPET); the HPET drives
    its own outputs with `hpet_set`.
    """

    name = "gsi"

    def __init__(self, pic: Any, ioapic: IoApic) -> None:
        self.pic = pic
        self.ioapic = ioapic
        self.hpet_legacy = False
        self._levels = [0] * 16          # what the ISA devices drive (the RTC's line is re-driven)

    def _drive(self, gsi: int, level: int) -> None:
        if gsi < 16:
            self.pic.set_irq(gsi, level)
        self.ioapic.set_irq(2 if gsi == 0 else gsi, level)

    def raise_irq(self, line: int) -> None:
        self._levels[line] = 1
        if not (self.hpet_legacy and line in (0, 8)):
            self._drive(line, 1)

    def lower_irq(self, line: int) -> None:
        self._levels[line] = 0
        if not (self.hpet_legacy and line in (0, 8)):
            self._drive(line, 0)

    def set_irq(self, line: int, level: int) -> None:
        (self.raise_irq if level else self.lower_irq)(line)

    def hpet_set(self, gsi: int, level: int) -> None:
        """An HPET timer output (GSI `gsi`)."""
        self._drive(gsi, level)

    def hpet_lower_is_noop_apic(self, gsi: int) -> bool:
        """Would `hpet_set(gsi, 0)` leave the I/O APIC as it is?  (The 8259 side is checked
        natively on its live registers: emu/fastpath_hpetexp.c.)"""
        return self.ioapic.lower_is_noop(2 if gsi == 0 else gsi)

    def set_hpet_legacy(self, on: bool) -> None:
        self.hpet_legacy = on
        self._drive(0, 0)
        if on:
            self._drive(8, 0)
        else:
            self._drive(8, self._levels[8])
