"""8254 PIT + port 0x61 on a real Clock whose time the test sets.  Expected counter values are
QEMU's formulas (hw/timer/i8254_common.c) in PIT ticks converted from cycles."""
from bareflow.devices.bus import Bus
from bareflow.devices.pit import Pit
from bareflow.devices.base.clock import CPU_HZ, PIT_HZ, pit_ticks_to_cycles
from dev_fakes import Time


class Irqs:
    def __init__(self) -> None:
        self.level = {}
        self.edges = {}
        self.edge_cycles = []
        self.time = None

    def raise_irq(self, line: int) -> None:
        if not self.level.get(line):
            self.edges[line] = self.edges.get(line, 0) + 1
            if self.time is not None:
                self.edge_cycles.append(self.time.t)
        self.level[line] = 1

    def lower_irq(self, line: int) -> None:
        self.level[line] = 0


def make():
    tm = Time()
    irqs = Irqs()
    irqs.time = tm
    pit = Pit(clock=tm.clock, irq=irqs)
    irqs.edges.clear()
    irqs.edge_cycles.clear()
    return tm, irqs, pit


def program(pit: Pit, ch: int, mode: int, count: int) -> None:
    pit.io_write(0x43, 1, (ch << 6) | 0x30 | (mode << 1))
    pit.io_write(0x40 + ch, 1, count & 0xFF)
    pit.io_write(0x40 + ch, 1, count >> 8)


def read_count(pit: Pit, ch: int) -> int:
    pit.io_write(0x43, 1, ch << 6)  # counter latch
    lo = pit.io_read(0x40 + ch, 1)
    return lo | (pit.io_read(0x40 + ch, 1) << 8)


def cycles_for_ticks(ticks: int) -> int:
    return -((-ticks * CPU_HZ) // PIT_HZ)


def test_mode2_irq0_rate_over_one_second():
    tm, irqs, pit = make()
    program(pit, 0, 2, 1193)  # ~1000 Hz
    tm.run_until(CPU_HZ)
    assert irqs.edges[0] == PIT_HZ // 1193  # 1000 rising edges in one second
    # edges land exactly at multiples of the period
    assert irqs.edge_cycles[0] == cycles_for_ticks(1193)
    assert irqs.edge_cycles[9] == cycles_for_ticks(10 * 1193)


def test_mode3_square_wave_rate_and_output_levels():
    tm, irqs, pit = make()
    program(pit, 0, 3, 11932)  # ~100 Hz
    tm.run_until(CPU_HZ // 2)
    assert irqs.edges[0] == (PIT_HZ // 2) // 11932
    # output is high for the first half period, low for the second
    tm.run_until(cycles_for_ticks(100 * 11932) + 10)
    assert pit.out(0) == 1
    tm.run_until(cycles_for_ticks(100 * 11932 + 5966) + 10)
    assert pit.out(0) == 0


def test_default_reset_state_gives_18_2_hz():
    tm, irqs, pit = make()
    tm.run_until(CPU_HZ)
    assert irqs.edges[0] == PIT_HZ // 65536  # 18


def test_counter_reads_mid_count_mode2_and_mode3():
    tm, irqs, pit = make()
    program(pit, 0, 2, 1000)
    assert read_count(pit, 0) == 1000
    tm.run_until(pit_ticks_to_cycles(250) + 50)
    assert read_count(pit, 0) == 1000 - 250
    tm.run_until(pit_ticks_to_cycles(1250) + 50)
    assert read_count(pit, 0) == 1000 - 250  # reloaded and counting again
    program(pit, 0, 3, 1000)
    start = tm.t
    tm.run_until(start + pit_ticks_to_cycles(100) + 50)
    assert read_count(pit, 0) == 1000 - 200  # mode 3 counts by two


def test_latch_holds_value_until_read():
    tm, irqs, pit = make()
    program(pit, 0, 2, 5000)
    tm.run_until(pit_ticks_to_cycles(100) + 50)
    pit.io_write(0x43, 1, 0x00)  # latch channel 0
    tm.run_until(pit_ticks_to_cycles(300) + 50)
    lo = pit.io_read(0x40, 1)
    hi = pit.io_read(0x40, 1)
    assert (hi << 8 | lo) == 4900
    # a second latch command before reading is ignored (first latch wins)
    pit.io_write(0x43, 1, 0x00)
    tm.run_until(pit_ticks_to_cycles(400) + 50)
    pit.io_write(0x43, 1, 0x00)
    lo = pit.io_read(0x40, 1)
    hi = pit.io_read(0x40, 1)
    assert (hi << 8 | lo) == 4700


def test_lobyte_only_access_and_unlatched_word_reads():
    tm, irqs, pit = make()
    pit.io_write(0x43, 1, 0x14)  # ch0, lobyte only, mode 2
    pit.io_write(0x40, 1, 200)
    assert pit.channels[0].count == 200
    assert pit.io_read(0x40, 1) == 200
    pit.io_write(0x43, 1, 0x24)  # hibyte only
    pit.io_write(0x40, 1, 0x12)
    assert pit.channels[0].count == 0x1200
    assert pit.io_read(0x40, 1) == 0x12


def test_read_back_status_and_count():
    tm, irqs, pit = make()
    program(pit, 2, 0, 1000)
    pit.io_write(0x43, 1, 0xC0 | 0x08)  # read-back: count + status of channel 2
    status = pit.io_read(0x42, 1)
    assert status == (0 << 7) | (3 << 4) | (0 << 1)  # out low, lobyte/hibyte, mode 0
    lo = pit.io_read(0x42, 1)
    hi = pit.io_read(0x42, 1)
    assert hi << 8 | lo == 1000
    tm.run_until(pit_ticks_to_cycles(1001))
    pit.io_write(0x43, 1, 0xE0 | 0x08)  # status only
    assert pit.io_read(0x42, 1) & 0x80  # output went high at terminal count


def test_port61_channel2_output_and_gate():
    tm, irqs, pit = make()
    pit.io_write(0x61, 1, 0x01)  # gate on, speaker off
    program(pit, 2, 0, 500)
    assert pit.io_read(0x61, 1) & 0x23 == 0x01  # bit 5 low while counting
    tm.run_until(pit_ticks_to_cycles(499))
    assert not pit.io_read(0x61, 1) & 0x20
    tm.run_until(cycles_for_ticks(500))
    assert pit.io_read(0x61, 1) & 0x20
    pit.io_write(0x61, 1, 0x03)
    assert pit.io_read(0x61, 1) & 0x03 == 0x03


def test_port61_refresh_bit_toggles_with_time():
    tm, irqs, pit = make()
    seen = set()
    for i in range(10):
        tm.run_until(i * pit_ticks_to_cycles(18) + 100)
        seen.add(pit.io_read(0x61, 1) & 0x10)
    assert seen == {0, 0x10}
    a = pit.io_read(0x61, 1) & 0x10
    assert pit.io_read(0x61, 1) & 0x10 == a  # same instant, same value (no per-read toggle)


def test_mode2_gate_rising_edge_restarts_channel2():
    tm, irqs, pit = make()
    pit.io_write(0x61, 1, 0x01)
    program(pit, 2, 2, 1000)
    tm.run_until(pit_ticks_to_cycles(600) + 50)
    pit.io_write(0x61, 1, 0x00)
    pit.io_write(0x61, 1, 0x01)
    assert read_count(pit, 2) == 1000


def test_word_write_through_bus_splits_into_bytes():
    tm, irqs, pit = make()
    bus = Bus()
    bus.register(pit)
    pit.io_write(0x43, 1, 0x34)
    bus.io_write(0x40, 2, 0x2E9C)  # lands on 0x40 (low) and 0x41 (channel 1), as in QEMU
    assert pit.channels[0].write_state == 4  # only the low byte arrived at channel 0
    assert pit.channels[1].write_latch == 0x2E  # channel 1 got the high byte as its LSB
    assert pit.channels[1].write_state == 4


def test_state_round_trip_keeps_pending_irq_event():
    tm, irqs, pit = make()
    program(pit, 0, 2, 1193)
    tm.run_until(500_000)
    st = pit.state()
    tm2 = Time()
    tm2.t = tm.t
    irqs2 = Irqs()
    pit2 = Pit(clock=tm2.clock, irq=irqs2)
    pit2.load_state(st)
    assert pit2.state() == st
    assert tm2.clock.pending() == [(st["event"], "pit.irq0")]
    irqs.edges.clear()
    irqs2.edges.clear()
    tm.run_until(CPU_HZ)
    tm2.run_until(CPU_HZ)
    assert irqs.edges == irqs2.edges
    assert read_count(pit, 0) == read_count(pit2, 0)


def test_irq0_through_the_pic_is_deterministic():
    """PIT -> PIC -> INTA over 100 ms at 1 kHz, acknowledging like a guest's handler: the
    same vectors at the same cycles on two runs."""
    from bareflow.devices.pic import Pic

    def run():
        tm = Time()
        pic = Pic()
        pit = Pit(clock=tm.clock, irq=pic)
        pic.program_like_bios()
        program(pit, 0, 2, 1193)
        seen = []
        while tm.t < CPU_HZ // 10:
            nd = tm.clock.next_deadline()
            tm.run_until(nd)
            if pic.intr_pending():
                seen.append((tm.t, pic.acknowledge()))
                pic.io_write(0x20, 1, 0x20)
        return seen

    first = run()
    assert len(first) == 100 and {v for _, v in first} == {0x08}
    assert first == run()
