"""The PIIX4's ACPI fixed registers besides PM1a_CNT (power.py) and the PM timer (pmtimer.py):
PM1a status/enable (0x600/0x602), GPE0 status/enable (0xAFE0/0xAFE2) and the APM control and
status ports (0xB2/0xB3) that the FADT names as SMI_CMD.

Reference: QEMU hw/acpi/core.c (acpi_pm1_evt_*, acpi_gpe_*), hw/acpi/piix4.c (apm_ctrl_changed:
ACPI_ENABLE 0xF1 / ACPI_DISABLE 0xF0 on SMI_CMD set / clear SCI_EN in PM1a_CNT) and
hw/isa/apm.c; checked by tests/images/kern_acpi.asm.  Modelled: PM1 status write-one-to-clear
with the timer-overflow status (TMR_STS) computed from the PM timer like QEMU (set until the
first clear after reset, then at each toggle of the timer's bit 23), PM1 enable read/write,
GPE0 status (w1c) / enable bytes, SMI_CMD latch and APM status, SCI_EN from SMI_CMD.
Not modelled: raising the SCI (IRQ 9) -- no fixed event or GPE ever fires here --, SMIs (there
is no SMM handler to run), sleep states other than the soft-off in power.py.
"""
from __future__ import annotations

from typing import Any, Iterable

from .base.clock import CPU_HZ, Clock
from .pmtimer import PM_TIMER_HZ

PM1_STS, PM1_EN = 0x600, 0x602
GPE0_STS, GPE0_EN = 0xAFE0, 0xAFE2
APM_CNT, APM_STS = 0xB2, 0xB3
TMR_STS = 1 << 0
ACPI_ENABLE, ACPI_DISABLE = 0xF1, 0xF0
SCI_EN = 1 << 0


class AcpiPm:
    name = "acpi-pm1"
    wide_io = False

    def __init__(self, *, clock: Clock, power: Any) -> None:
        self.clock = clock
        self.power = power          # devices/power.py: owns PM1a_CNT (SCI_EN lives there)
        self._owned = frozenset(self.ports())
        self.reset()

    def ports(self) -> Iterable[int]:
        return (PM1_STS, PM1_STS + 1, PM1_EN, PM1_EN + 1, GPE0_STS, GPE0_STS + 1, GPE0_EN,
                GPE0_EN + 1, APM_CNT, APM_STS)

    def reset(self) -> None:
        self.sts = 0
        self.en = 0
        self.overflow = 0           # PM-timer tick at which TMR_STS sets (QEMU: 0 after reset)
        self.gpe_sts = [0, 0]
        self.gpe_en = [0, 0]
        self.apm_cnt = 0
        self.apm_sts = 0

    def _ticks(self) -> int:
        return self.clock.now() * PM_TIMER_HZ // CPU_HZ

    def _get_sts(self) -> int:
        if self._ticks() >= self.overflow:
            self.sts |= TMR_STS
        return self.sts

    def io_read(self, port: int, size: int) -> int:
        if port in (PM1_STS, PM1_STS + 1):
            return (self._get_sts() >> (8 * (port - PM1_STS))) & 0xFF
        if port in (PM1_EN, PM1_EN + 1):
            return (self.en >> (8 * (port - PM1_EN))) & 0xFF
        if port in (GPE0_STS, GPE0_STS + 1):
            return self.gpe_sts[port - GPE0_STS]
        if port in (GPE0_EN, GPE0_EN + 1):
            return self.gpe_en[port - GPE0_EN]
        if port == APM_CNT:
            return self.apm_cnt
        if port == APM_STS:
            return self.apm_sts
        return 0xFF

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port in (PM1_STS, PM1_STS + 1):
            v = value << (8 * (port - PM1_STS))
            if self._get_sts() & v & TMR_STS:
                # QEMU acpi_pm_tmr_calc_overflow_time: the next toggle of bit 23
                self.overflow = (self._ticks() + 0x800000) & ~0x7FFFFF
            self.sts &= ~v
        elif port in (PM1_EN, PM1_EN + 1):
            shift = 8 * (port - PM1_EN)
            self.en = (self.en & ~(0xFF << shift)) | (value << shift)
        elif port in (GPE0_STS, GPE0_STS + 1):
            self.gpe_sts[port - GPE0_STS] &= ~value
        elif port in (GPE0_EN, GPE0_EN + 1):
            self.gpe_en[port - GPE0_EN] = value
        elif port == APM_CNT:
            self.apm_cnt = value
            if value == ACPI_ENABLE:
                self.power.cnt |= SCI_EN
            elif value == ACPI_DISABLE:
                self.power.cnt &= ~SCI_EN
        elif port == APM_STS:
            self.apm_sts = value

    def state(self) -> dict[str, Any]:
        return {"sts": self.sts, "en": self.en, "overflow": self.overflow, "gpe_sts": list(self.gpe_sts),
                "gpe_en": list(self.gpe_en), "apm_cnt": self.apm_cnt, "apm_sts": self.apm_sts}

    def load_state(self, state: dict[str, Any]) -> None:
        self.sts, self.en, self.overflow = state["sts"], state["en"], state["overflow"]
        self.gpe_sts, self.gpe_en = list(state["gpe_sts"]), list(state["gpe_en"])
        self.apm_cnt, self.apm_sts = state["apm_cnt"], state["apm_sts"]
