"""The PC's pair of Intel 8259A programmable interrupt controllers (master 0x20, slave 0xA0).

Reference: QEMU hw/intc/i8259.c + i8259_common.c.  The register semantics follow it exactly:
ICW1-ICW4 initialisation, OCW1 (IMR), OCW2 (non-specific / specific / rotating EOI, set
priority, rotate in auto-EOI), OCW3 (read IRR/ISR, poll, special mask), auto-EOI, special fully
nested mode, edge detection per line with the ELCR (0x4D0/0x4D1) selecting level mode, the
slave cascaded on master IRQ2, and spurious IRQ7/IRQ15 when INTA finds nothing pending.

WHY a Python model: Unicorn has no interrupt controller; the machine asks `intr_pending()`
between guest blocks and, when the CPU accepts, calls `acknowledge()` (the INTA cycle) to get
the vector.  Both are a handful of integer operations.

The registers are kept in a ctypes structure (`PicCell`: both chips and the INT level), so
that the machine's native idle tick (emu/fastpic.py, emu/fastpath_pic.c) can run the same
INTA and EOI arithmetic on the same bytes: once attached (`attach_cell`) the cell IS the
native struct, one copy that Python and C both read and write.  Unattached (CPU-less tests)
it is a plain standalone structure.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Iterable

from .bus import split_read, split_write


def _priority(mask: int, priority_add: int) -> int:
    """Index (0 = highest) of the highest-priority bit set in `mask` after rotation; 8 if none."""
    if mask == 0:
        return 8
    p = 0
    while not (mask & (1 << ((p + priority_add) & 7))):
        p += 1
    return p


class _Chip(ctypes.Structure):
    """One 8259A: its registers are the fields (the same order as `fpic_chip` in
    emu/fastpath_pic.c); every value is a small non-negative integer."""

    _fields_ = [(name, ctypes.c_uint32) for name in (
        "irr", "imr", "isr", "last_irr", "priority_add", "irq_base", "read_reg_select",
        "poll", "special_mask", "init_state", "auto_eoi", "rotate_on_auto_eoi",
        "special_fully_nested_mode", "init4", "single_mode", "elcr", "elcr_mask", "is_master")]

    _FIELDS = ("irr", "imr", "isr", "last_irr", "priority_add", "irq_base", "read_reg_select",
               "poll", "special_mask", "init_state", "auto_eoi", "rotate_on_auto_eoi",
               "special_fully_nested_mode", "init4", "single_mode", "elcr")

    def setup(self, is_master: bool, elcr_mask: int) -> None:
        self.is_master = is_master
        self.elcr_mask = elcr_mask
        self.elcr = 0
        self.irr = 0
        self.reset()

    def reset(self) -> None:
        """QEMU pic_reset_common: everything but ELCR; level-triggered requests survive."""
        self.last_irr = 0
        self.irr &= self.elcr
        self.imr = 0
        self.isr = 0
        self.priority_add = 0
        self.irq_base = 0
        self.read_reg_select = 0
        self.poll = 0
        self.special_mask = 0
        self.init_state = 0
        self.auto_eoi = 0
        self.rotate_on_auto_eoi = 0
        self.special_fully_nested_mode = 0
        self.init4 = 0
        self.single_mode = 0

    def set_irq(self, irq: int, level: int) -> None:
        mask = 1 << irq
        if self.elcr & mask:  # level triggered
            if level:
                self.irr |= mask
                self.last_irr |= mask
            else:
                self.irr &= ~mask
                self.last_irr &= ~mask
        else:  # edge triggered: latch a request on the rising edge only
            if level:
                if not (self.last_irr & mask):
                    self.irr |= mask
                self.last_irr |= mask
            else:
                self.last_irr &= ~mask

    def get_irq(self) -> int:
        """The line this chip would present to the CPU now, or -1 (QEMU pic_get_irq)."""
        priority = _priority(self.irr & ~self.imr, self.priority_add)
        if priority == 8:
            return -1
        mask = self.isr
        if self.special_mask:
            mask &= ~self.imr
        if self.special_fully_nested_mode and self.is_master:
            mask &= ~(1 << 2)
        if priority < _priority(mask, self.priority_add):
            return (priority + self.priority_add) & 7
        return -1

    def intack(self, irq: int) -> None:
        if self.auto_eoi:
            if self.rotate_on_auto_eoi:
                self.priority_add = (irq + 1) & 7
        else:
            self.isr |= 1 << irq
        if not (self.elcr & (1 << irq)):
            self.irr &= ~(1 << irq)

    def dump(self) -> dict[str, int]:
        return {f: int(getattr(self, f)) for f in self._FIELDS}

    def load(self, d: dict[str, Any]) -> None:
        for f in self._FIELDS:
            setattr(self, f, int(d[f]))


class PicCell(ctypes.Structure):
    """Both chips and the master's INT level: the head of `fpic_state` (emu/fastpath_pic.c)."""

    _fields_ = [("master", _Chip), ("slave", _Chip), ("intr", ctypes.c_uint32)]


class Pic:
    """Master + slave 8259A, slave on master IRQ2; lines 0-15 as on the PC/AT.

    `on_intr(level)` (optional) is called whenever the master's INT output changes, so the
    machine can stop the current guest block early instead of polling after every block.
    """

    name = "pic"
    wide_io = False
    PORTS = (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1)

    def __init__(self, *, on_intr: Callable[[bool], None] | None = None) -> None:
        self.on_intr = on_intr
        self._cell = PicCell()
        self.master = self._cell.master
        self.slave = self._cell.slave
        self.master.setup(True, 0xF8)
        self.slave.setup(False, 0xDE)
        self._owned = frozenset(self.PORTS)

    @property
    def intr(self) -> bool:
        """Level of the master's INT pin (what the CPU samples)."""
        return bool(self._cell.intr)

    @intr.setter
    def intr(self, level: bool) -> None:
        self._cell.intr = 1 if level else 0

    def attach_cell(self, cell: ctypes.Structure) -> None:
        """Move the registers into `cell` (a structure that starts like `PicCell`: the native
        tick's struct), which is their storage from now on."""
        new = PicCell.from_address(ctypes.addressof(cell))
        ctypes.memmove(ctypes.addressof(new), ctypes.addressof(self._cell), ctypes.sizeof(PicCell))
        self._keep = cell
        self._cell = new
        self.master = new.master
        self.slave = new.slave

    # -- contract -------------------------------------------------------------------------
    def ports(self) -> Iterable[int]:
        return self.PORTS

    def reset(self) -> None:
        self.master.elcr = 0
        self.slave.elcr = 0
        self.master.irr = 0
        self.slave.irr = 0
        self.master.reset()
        self.slave.reset()
        self._update(self.slave)

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            return split_read(lambda p: self.io_read(p, 1), self._owned, port, size)
        if port == 0x4D0:
            return self.master.elcr
        if port == 0x4D1:
            return self.slave.elcr
        chip = self.master if port < 0xA0 else self.slave
        if chip.poll:
            chip.poll = 0
            irq = chip.get_irq()
            if irq >= 0:
                chip.intack(irq)
                self._update(chip)
                return irq | 0x80
            return 0
        if port & 1:
            return chip.imr
        return chip.isr if chip.read_reg_select else chip.irr

    def io_write(self, port: int, size: int, value: int) -> None:
        if size != 1:
            split_write(lambda p, v: self.io_write(p, 1, v), self._owned, port, size, value)
            return
        value &= 0xFF
        if port == 0x4D0 or port == 0x4D1:
            chip = self.master if port == 0x4D0 else self.slave
            chip.elcr = value & chip.elcr_mask
            return
        chip = self.master if port < 0xA0 else self.slave
        if port & 1:
            self._write_data(chip, value)
        else:
            self._write_command(chip, value)
        self._update(chip)

    # -- registers ------------------------------------------------------------------------
    @staticmethod
    def _write_command(s: _Chip, val: int) -> None:
        if val & 0x10:  # ICW1
            s.reset()
            s.init_state = 1
            s.init4 = val & 1
            s.single_mode = (val >> 1) & 1
            # bit 3 (level-triggered mode) is not modelled, as in QEMU: use the ELCR.
        elif val & 0x08:  # OCW3
            if val & 0x04:
                s.poll = 1
            if val & 0x02:
                s.read_reg_select = val & 1
            if val & 0x40:
                s.special_mask = (val >> 5) & 1
        else:  # OCW2
            cmd = val >> 5
            if cmd in (0, 4):
                s.rotate_on_auto_eoi = cmd >> 2
            elif cmd in (1, 5):  # non-specific EOI (5 = rotate)
                priority = _priority(s.isr, s.priority_add)
                if priority != 8:
                    irq = (priority + s.priority_add) & 7
                    s.isr &= ~(1 << irq)
                    if cmd == 5:
                        s.priority_add = (irq + 1) & 7
            elif cmd == 3:  # specific EOI
                s.isr &= ~(1 << (val & 7))
            elif cmd == 6:  # set priority
                s.priority_add = (val + 1) & 7
            elif cmd == 7:  # rotate on specific EOI
                irq = val & 7
                s.isr &= ~(1 << irq)
                s.priority_add = (irq + 1) & 7
            # cmd 2: no operation

    @staticmethod
    def _write_data(s: _Chip, val: int) -> None:
        st = s.init_state
        if st == 0:  # OCW1
            s.imr = val
        elif st == 1:  # ICW2
            s.irq_base = val & 0xF8
            s.init_state = (3 if s.init4 else 0) if s.single_mode else 2
        elif st == 2:  # ICW3 (cascade wiring is fixed on the PC)
            s.init_state = 3 if s.init4 else 0
        else:  # ICW4
            s.special_fully_nested_mode = (val >> 4) & 1
            s.auto_eoi = (val >> 1) & 1
            s.init_state = 0

    # -- lines and INTA -------------------------------------------------------------------
    def raise_irq(self, line: int) -> None:
        self.set_irq(line, 1)

    def lower_irq(self, line: int) -> None:
        self.set_irq(line, 0)

    def set_irq(self, line: int, level: int) -> None:
        if line >= 8:
            self.slave.set_irq(line - 8, level)
            self._update(self.slave)
        else:
            self.master.set_irq(line, level)
            self._update(self.master)

    def _update(self, chip: _Chip) -> None:
        """QEMU pic_update_irq: a change on the slave re-drives its INT onto master IRQ2 (an
        edge there only when that line actually rises); then the master's INT goes to the CPU.
        A change on the master alone does not re-sample the slave's line, as in QEMU."""
        if chip is self.slave:
            self.master.set_irq(2, 1 if self.slave.get_irq() >= 0 else 0)
        intr = self.master.get_irq() >= 0
        if intr != self.intr:
            self.intr = intr
            if self.on_intr is not None:
                self.on_intr(intr)

    def intr_pending(self) -> bool:
        """True when the master asserts INT (an unmasked request above the in-service level)."""
        return self.intr

    def acknowledge(self) -> int:
        """The INTA cycle: returns the vector and moves the request from IRR to ISR.

        With nothing to deliver (the request went away before INTA), the chip answers with its
        IRQ7 vector without setting ISR: the spurious IRQ7 (IRQ15 on the slave) of real PCs.
        """
        m = self.master
        irq = m.get_irq()
        if irq >= 0:
            if irq == 2:
                irq2 = self.slave.get_irq()
                if irq2 >= 0:
                    self.slave.intack(irq2)
                    self._update(self.slave)
                else:
                    irq2 = 7  # spurious on the slave
                vector = self.slave.irq_base + irq2
            else:
                vector = m.irq_base + irq
            m.intack(irq)
        else:
            vector = m.irq_base + 7  # spurious on the master
        self._update(m)
        return vector

    # -- read-only view (the interrupt-path view, emu/irqpath.py, asks; it keeps no copy) ---
    def blocking_in_service(self, line: int) -> int:
        """The in-service line (0-15) whose missing EOI keeps `line` from being presented
        now, or -1: as get_irq decides, the highest-priority ISR bit at or above the line's
        priority (ISR bits of masked lines do not count in special mask mode; the cascade
        IRQ2 does not block the slave in special fully nested mode)."""
        chips = [(self.master, line)] if line < 8 else [(self.slave, line - 8), (self.master, 2)]
        for chip, irq in chips:
            mask = chip.isr
            if chip.special_mask:
                mask &= ~chip.imr
            if chip.special_fully_nested_mode and chip.is_master:
                mask &= ~(1 << 2)
            p = _priority(mask, chip.priority_add)
            if p != 8 and p <= ((irq - chip.priority_add) & 7):
                found = (p + chip.priority_add) & 7
                return found + (8 if chip is self.slave else 0)
        return -1

    # -- convenience ----------------------------------------------------------------------
    def program_like_bios(self, master_base: int = 0x08, slave_base: int = 0x70,
                          master_mask: int = 0xB8, slave_mask: int = 0x8E) -> None:
        """The state a PC BIOS leaves (SeaBIOS on QEMU: vectors 08h/70h, edge mode, 8086 mode);
        written through the ports so it is exactly what a guest doing the same would get."""
        for port, val in ((0x20, 0x11), (0x21, master_base), (0x21, 0x04), (0x21, 0x01),
                          (0xA0, 0x11), (0xA1, slave_base), (0xA1, 0x02), (0xA1, 0x01),
                          (0x21, master_mask), (0xA1, slave_mask)):
            self.io_write(port, 1, val)

    def state(self) -> dict[str, Any]:
        return {"master": self.master.dump(), "slave": self.slave.dump(), "intr": self.intr,
                "vector_base": [self.master.irq_base, self.slave.irq_base],
                "imr": [self.master.imr, self.slave.imr], "irr": [self.master.irr, self.slave.irr],
                "isr": [self.master.isr, self.slave.isr]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.master.load(state["master"])
        self.slave.load(state["slave"])
        self.intr = bool(state["intr"])
