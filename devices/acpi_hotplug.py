"""The two hot-plug register blocks QEMU's PIIX4 ACPI function exposes and its DSDT's AML reads
(emu/bios/dsdt.py): ACPI PCI hot-plug at 0xAE00-0xAE17 and the CPU hot-plug interface at
0xAF00-0xAF0B.  Nothing is ever hot-plugged on BareFlow's board, so no event is ever pending;
what the registers answer is what the AML (and so the OS) sees on QEMU for one CPU and no
plugged card.

Reference: QEMU 7.2 hw/acpi/pcihp.c (pci_read / pci_write) and hw/acpi/cpu.c (the "modern"
interface: cpu_hotplug_rd / cpu_hotplug_wr).  Linux reads them at boot through C000._STA
(CSEL write, CPEN read) and the PCI slots' _DSM (BNUM, PIDX).
"""
from __future__ import annotations

from typing import Any, Iterable

PCIHP_BASE = 0xAE00
CPUHP_BASE = 0xAF00
#: PCI hot-plug registers (offsets): slots plugged/unplugged since last read, eject, removable
#: slots, bus select, ACPI index of the device selected by a slot bitmap
PCI_UP, PCI_DOWN, PCI_EJ, PCI_RMV, PCI_SEL, PCI_AIDX = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14
#: CPU hot-plug registers: selector (write) / data2 (read), flags, command, command data
CPU_SEL, CPU_FLAGS, CPU_CMD, CPU_DATA = 0, 4, 5, 8
MAX_BSEL = 256          # ACPI_PCIHP_MAX_HOTPLUG_BUS: bus selects beyond read 0
CMD_GET_NEXT_WITH_EVENT, CMD_OST_EVENT, CMD_OST_STATUS, CMD_GET_CPU_ID = 0, 1, 2, 3


class PciHotplug:
    """ACPI PCI hot-plug (bus select 0 = the root bus; nothing is ever plugged).  Checked
    against QEMU by tests/images/kern_hotplug.asm."""
    name = "acpi-pcihp"

    def __init__(self, *, fixed_slots: Iterable[int] = (0, 1, 2)) -> None:
        #: slots whose device cannot be unplugged (host bridge, ISA bridge, VGA)
        self.removable = 0xFFFFFFFF & ~sum(1 << s for s in fixed_slots)
        self.reset()

    def ports(self) -> Iterable[int]:
        return range(PCIHP_BASE, PCIHP_BASE + 0x18)

    def reset(self) -> None:
        self.select = 0
        self.acpi_index = 0

    def io_read(self, port: int, size: int) -> int:
        off = port - PCIHP_BASE
        if size != 4 or self.select >= MAX_BSEL:
            return 0        # only dword accesses are valid (QEMU: min/max access size 4)
        if off == PCI_RMV:
            # bus 0's fixed slots are not removable; any other bus number has no devices
            return self.removable if self.select == 0 else 0xFFFFFFFF
        if off == PCI_SEL:
            return self.select
        if off == PCI_AIDX:
            value, self.acpi_index = self.acpi_index, 0
            return value
        return 0            # up/down: no event; eject: reads 0; other offsets: 0

    def io_write(self, port: int, size: int, value: int) -> None:
        off = port - PCIHP_BASE
        if size != 4:
            return
        if off == PCI_SEL:
            self.select = value & 0xFFFFFFFF
        elif off == PCI_AIDX:
            self.acpi_index = 0     # no device on this board has an acpi-index property
        # PCI_EJ: ejecting an empty or fixed slot does nothing

    def state(self) -> dict[str, Any]:
        return {"select": self.select, "acpi_index": self.acpi_index}

    def load_state(self, state: dict[str, Any]) -> None:
        self.select, self.acpi_index = state["select"], state["acpi_index"]


class CpuHotplug:
    """The CPU hot-plug register block for `cpus` present CPUs (APIC IDs 0..cpus-1)."""
    name = "acpi-cpuhp"

    def __init__(self, *, cpus: int = 1) -> None:
        self.cpus = cpus
        self.reset()

    def ports(self) -> Iterable[int]:
        return range(CPUHP_BASE, CPUHP_BASE + 12)

    def reset(self) -> None:
        self.selector = 0
        self.command = 0
        self.ost = [[0, 0] for _ in range(self.cpus)]

    def io_read(self, port: int, size: int) -> int:
        off = port - CPUHP_BASE
        if self.selector >= self.cpus:
            return 0
        if off == CPU_FLAGS:
            return 1        # present (enabled); no insert/remove event pending
        if off == CPU_DATA:
            if self.command == CMD_GET_NEXT_WITH_EVENT:
                return self.selector
            if self.command == CMD_GET_CPU_ID:
                return self.selector        # APIC ID = index
        return 0            # data2 at offset 0: high half of the ID, or 0

    def io_write(self, port: int, size: int, value: int) -> None:
        off = port - CPUHP_BASE
        if off == CPU_SEL:
            self.selector = value & 0xFFFFFFFF
        elif off == CPU_CMD and self.selector < self.cpus:
            self.command = value & 0xFF     # get-next finds no event: the selector stays
        elif off == CPU_DATA and self.selector < self.cpus:
            if self.command == CMD_OST_EVENT:
                self.ost[self.selector][0] = value
            elif self.command == CMD_OST_STATUS:
                self.ost[self.selector][1] = value
        # CPU_FLAGS writes clear insert/remove events or request an eject: none can happen

    def state(self) -> dict[str, Any]:
        return {"selector": self.selector, "command": self.command, "ost": [list(o) for o in self.ost]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.selector, self.command = state["selector"], state["command"]
        self.ost = [list(o) for o in state["ost"]]
