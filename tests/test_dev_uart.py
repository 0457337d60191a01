"""16550A UART: divisor, loopback, FIFOs and trigger levels, IIR priorities, LSR bits, THRE
interrupt, paced host input.  Expected behaviour is QEMU hw/char/serial.c."""

from bareflow.devices.uart import Uart16550
from bareflow.devices.base.clock import CPU_HZ
from dev_fakes import Time

B = 0x3F8
RBR, IER, IIR, FCR, LCR, MCR, LSR, MSR, SCR = B, B + 1, B + 2, B + 2, B + 3, B + 4, B + 5, B + 6, B + 7


class Irqs:
    def __init__(self) -> None:
        self.level = {}
        self.edges = 0

    def raise_irq(self, line: int) -> None:
        if not self.level.get(line):
            self.edges += 1
        self.level[line] = 1

    def lower_irq(self, line: int) -> None:
        self.level[line] = 0


def make():
    tm, irqs, out = Time(), Irqs(), []
    u = Uart16550(clock=tm.clock, irq=irqs, on_tx=out.append)
    return tm, irqs, out, u


def test_reset_values():
    tm, irqs, out, u = make()
    assert u.io_read(LSR, 1) == 0x60
    assert u.io_read(IIR, 1) == 0x01
    assert u.io_read(MSR, 1) == 0xB0
    assert u.io_read(MCR, 1) == 0x08
    assert u.io_read(LCR, 1) == 0


def test_divisor_latch_and_char_time():
    tm, irqs, out, u = make()
    u.io_write(LCR, 1, 0x80)
    u.io_write(RBR, 1, 0x01)
    u.io_write(IER, 1, 0x00)
    assert u.io_read(RBR, 1) == 0x01 and u.io_read(IER, 1) == 0x00
    u.io_write(LCR, 1, 0x03)  # 8N1, DLAB off
    assert u.divider == 1
    assert u.char_cycles == 10 * CPU_HZ // 115200
    u.io_write(LCR, 1, 0x80)
    u.io_write(RBR, 1, 12)
    u.io_write(LCR, 1, 0x03)
    assert u.char_cycles == 10 * 12 * CPU_HZ // 115200
    u.io_write(LCR, 1, 0x0F)  # 8 data, 2 stop, parity: 12 bits a frame
    assert u.char_cycles == 12 * 12 * CPU_HZ // 115200
    assert u.io_read(IER, 1) == 0  # DLAB off: IER again


def test_transmit_is_immediate_and_scr():
    tm, irqs, out, u = make()
    for b in b"Hi":
        u.io_write(RBR, 1, b)
        assert u.io_read(LSR, 1) & 0x60 == 0x60
    assert bytes(out) == b"Hi"
    u.io_write(SCR, 1, 0x5A)
    assert u.io_read(SCR, 1) == 0x5A


def test_loopback_routes_tx_to_rx_and_modem_lines():
    tm, irqs, out, u = make()
    u.io_write(MCR, 1, 0x10 | 0x0B)  # loop, OUT2, RTS, DTR
    u.io_write(RBR, 1, 0x41)
    assert out == []
    assert u.io_read(LSR, 1) & 0x01
    assert u.io_read(RBR, 1) == 0x41
    assert not u.io_read(LSR, 1) & 0x01
    # DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
    assert u.io_read(MSR, 1) == 0x20 | 0x10 | 0x80
    u.io_write(MCR, 1, 0x10 | 0x04)
    assert u.io_read(MSR, 1) == 0x40


def test_overrun_without_fifo_and_lsr_clear_on_read():
    tm, irqs, out, u = make()
    u.io_write(MCR, 1, 0x10)
    u.io_write(RBR, 1, 1)
    u.io_write(RBR, 1, 2)
    lsr = u.io_read(LSR, 1)
    assert lsr & 0x03 == 0x03  # DR + OE
    assert not u.io_read(LSR, 1) & 0x02  # OE cleared by reading LSR
    assert u.io_read(RBR, 1) == 2


def test_fifo_trigger_level_and_iir_fifo_bits():
    tm, irqs, out, u = make()
    u.io_write(MCR, 1, 0x10)
    u.io_write(FCR, 1, 0x81)  # FIFO on, trigger 8
    u.io_write(IER, 1, 0x01)
    assert u.io_read(IIR, 1) == 0xC1
    for i in range(7):
        u.io_write(RBR, 1, i)
    assert u.io_read(IIR, 1) == 0xC1  # 7 < 8: no RX interrupt yet
    assert not irqs.level.get(4)
    u.io_write(RBR, 1, 7)
    assert u.io_read(IIR, 1) == 0xC4
    assert irqs.level[4]
    assert [u.io_read(RBR, 1) for _ in range(8)] == list(range(8))
    assert u.io_read(IIR, 1) == 0xC1 and not irqs.level[4]
    # 16-byte FIFO: the 17th byte overruns and is dropped
    for i in range(17):
        u.io_write(RBR, 1, i)
    assert u.io_read(LSR, 1) & 0x02
    assert len(u.rx_fifo) == 16
    u.io_write(FCR, 1, 0x83)  # reset RX FIFO
    assert not u.io_read(LSR, 1) & 0x01


def test_character_timeout_interrupt():
    tm, irqs, out, u = make()
    u.io_write(MCR, 1, 0x10)
    u.io_write(FCR, 1, 0xC1)  # trigger 14
    u.io_write(IER, 1, 0x01)
    u.io_write(RBR, 1, 0x33)
    assert u.io_read(IIR, 1) & 0x0F == 0x01
    tm.run_until(4 * u.char_cycles)
    assert u.io_read(IIR, 1) & 0x0F == 0x0C
    assert u.io_read(RBR, 1) == 0x33
    assert u.io_read(IIR, 1) & 0x0F == 0x01


def test_thre_interrupt_and_acknowledge_by_iir_read():
    tm, irqs, out, u = make()
    u.io_write(IER, 1, 0x02)
    assert irqs.level[4] and u.io_read(IIR, 1) == 0x02  # enabling THRI with THR empty
    assert u.io_read(IIR, 1) == 0x01 and not irqs.level[4]  # IIR read acknowledged it
    edges = irqs.edges
    u.io_write(RBR, 1, 0x55)  # each transmitted byte raises it again
    assert irqs.edges == edges + 1 and u.io_read(IIR, 1) == 0x02


def test_iir_priority_order():
    tm, irqs, out, u = make()
    u.io_write(MCR, 1, 0x10)
    u.io_write(IER, 1, 0x0F)
    u.io_write(RBR, 1, 1)  # THRE pending + RX data
    u.io_write(RBR, 1, 2)  # and an overrun (line status)
    assert u.io_read(IIR, 1) == 0x06  # line status first
    u.io_read(LSR, 1)
    assert u.io_read(IIR, 1) == 0x04  # then received data
    u.io_read(RBR, 1)
    assert u.io_read(IIR, 1) == 0x02  # then THR empty
    assert u.io_read(IIR, 1) == 0x01


def test_paced_host_input_polling_guest():
    tm, irqs, out, u = make()
    u.io_write(LCR, 1, 0x03)
    u.feed(b"ab")
    assert u.rx_pending()
    assert u.io_read(LSR, 1) & 0x01  # first byte at once
    tm.run_until(1000)
    assert u.io_read(RBR, 1) == ord("a")
    read_at = tm.t
    assert not u.io_read(LSR, 1) & 0x01
    tm.run_until(read_at + u.char_cycles - 1)
    assert not u.io_read(LSR, 1) & 0x01
    tm.run_until(read_at + u.char_cycles)
    assert u.io_read(LSR, 1) & 0x01
    assert u.io_read(RBR, 1) == ord("b")
    assert not u.rx_pending()


def test_state_round_trip_with_pending_delivery():
    tm, irqs, out, u = make()
    u.feed(b"hello")
    u.io_read(RBR, 1)
    st = u.state()
    tm2 = Time()
    tm2.t = tm.t
    u2 = Uart16550(clock=tm2.clock, irq=Irqs())
    u2.load_state(st)
    assert u2.state() == st
    assert tm2.clock.pending() == tm.clock.pending()
    text1, text2 = [], []
    for uu, tt, acc in ((u, tm, text1), (u2, tm2, text2)):
        for _ in range(4):
            tt.run_until(tt.clock.next_deadline())
            acc.append(uu.io_read(RBR, 1))
    assert bytes(text1) == bytes(text2) == b"ello"


def test_feed_on_emulator_thread_takes_effect_at_once():
    tm, irqs, out, u = make()
    u.io_write(IER, 1, 0x01)
    u.feed(b"q")  # e.g. the machine draining its own input queue
    assert irqs.level.get(4) and u.io_read(RBR, 1) == ord("q")


def test_paced_host_input_irq_guest():
    tm, irqs, out, u = make()
    u.io_write(IER, 1, 0x01)
    u.feed(b"xyz")
    got = []
    while len(got) < 3:
        assert irqs.level.get(4)
        assert u.io_read(IIR, 1) == 0x04
        got.append(u.io_read(RBR, 1))
        assert not irqs.level.get(4)
        nd = tm.clock.next_deadline()
        if nd is not None:
            tm.run_until(nd)
    assert bytes(got) == b"xyz"
    assert irqs.edges == 3
