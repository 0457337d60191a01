"""MC146818 RTC/CMOS: fixed start date advancing with the cycle clock, BCD/binary, 12/24 h,
SET freeze, UIP, register C/IRQ8, periodic interrupt, memory-size bytes, NMI mask bit."""
import datetime as dt

from bareflow.devices.cmos import Cmos
from bareflow.devices.base.clock import CPU_HZ
from dev_fakes import Time


class Irqs:
    def __init__(self) -> None:
        self.level = {}
        self.edges = 0

    def raise_irq(self, line):
        if not self.level.get(line):
            self.edges += 1
        self.level[line] = 1

    def lower_irq(self, line):
        self.level[line] = 0


def rd(c, idx):
    c.io_write(0x70, 1, idx)
    return c.io_read(0x71, 1)


def wr(c, idx, val):
    c.io_write(0x70, 1, idx)
    c.io_write(0x71, 1, val)


def make(**kw):
    tm, irqs = Time(), Irqs()
    return tm, irqs, Cmos(clock=tm.clock, irq=irqs, **kw)


def test_fixed_start_date_in_bcd_and_advancing_with_cycles():
    tm, irqs, c = make()
    assert [rd(c, i) for i in (0, 2, 4, 6, 7, 8, 9, 0x32)] == [0, 0, 0, 2, 1, 1, 0x24, 0x20]
    tm.t = 3 * 3600 * CPU_HZ + 25 * 60 * CPU_HZ + 59 * CPU_HZ + 5
    assert (rd(c, 4), rd(c, 2), rd(c, 0)) == (0x03, 0x25, 0x59)


def test_binary_and_12_hour_modes():
    tm, irqs, c = make(start=dt.datetime(2031, 12, 31, 23, 59, 58))
    wr(c, 0x0B, 0x04)  # binary, 12 h
    assert rd(c, 4) == 0x80 | 11 and rd(c, 9) == 31 and rd(c, 8) == 12
    tm.t = 2 * CPU_HZ  # rolls over into 2032
    assert (rd(c, 9), rd(c, 8), rd(c, 7), rd(c, 4)) == (32, 1, 1, 12)


def test_set_bit_freezes_and_writes_set_time():
    tm, irqs, c = make()
    wr(c, 0x0B, 0x82)  # SET, 24 h, BCD
    wr(c, 4, 0x13)
    wr(c, 2, 0x45)
    wr(c, 0, 0x30)
    tm.t = 10 * CPU_HZ
    assert rd(c, 0) == 0x30  # frozen while SET
    wr(c, 0x0B, 0x02)
    tm.t += 2 * CPU_HZ
    assert (rd(c, 4), rd(c, 2), rd(c, 0)) == (0x13, 0x45, 0x32)


def test_uip_only_just_before_a_second_boundary():
    tm, irqs, c = make()
    tm.t = CPU_HZ // 2
    assert not rd(c, 0x0A) & 0x80
    tm.t = CPU_HZ - 100
    assert rd(c, 0x0A) == 0x80 | 0x26
    assert rd(c, 0x0D) == 0x80


def test_periodic_interrupt_and_register_c():
    tm, irqs, c = make()
    wr(c, 0x0A, 0x26)  # 1024 Hz
    wr(c, 0x0B, 0x42)  # PIE
    tm.run_until(CPU_HZ // 1024 + 1)
    assert irqs.level[8] and irqs.edges == 1
    tm.run_until(3 * CPU_HZ // 1024 + 1)
    assert irqs.edges == 1  # no new edge until register C is read
    assert rd(c, 0x0C) == 0xC0
    assert not irqs.level[8] and rd(c, 0x0C) == 0
    tm.run_until(CPU_HZ)
    assert irqs.edges == 2


def test_update_ended_interrupt():
    tm, irqs, c = make()
    wr(c, 0x0B, 0x12)  # UIE
    tm.run_until(CPU_HZ)
    assert irqs.level[8] and rd(c, 0x0C) == 0x90


def test_memory_bytes_nmi_mask_and_ram():
    tm, irqs, c = make(memory_mb=64)
    assert rd(c, 0x15) | rd(c, 0x16) << 8 == 640
    assert rd(c, 0x17) | rd(c, 0x18) << 8 == 63 * 1024
    assert rd(c, 0x34) | rd(c, 0x35) << 8 == (64 - 16) * 16
    c.io_write(0x70, 1, 0x80 | 0x40)
    assert c.nmi_masked and c.index == 0x40
    c.io_write(0x71, 1, 0x5A)
    assert rd(c, 0x40) == 0x5A and not c.nmi_masked
    assert c.io_read(0x70, 1) == 0xFF


def test_state_round_trip():
    tm, irqs, c = make()
    wr(c, 0x0B, 0x42)
    tm.run_until(1000)
    st = c.state()
    tm2 = Time()
    tm2.t = tm.t
    c2 = Cmos(clock=tm2.clock, irq=Irqs())
    c2.load_state(st)
    assert c2.state() == st
    assert tm2.clock.pending() == tm.clock.pending()
