"""8042 controller + PS/2 keyboard: self-test, command byte, translation, keyboard commands and
ACKs, echo, paced typing, IRQ1, output port / A20 / reset.  Expected bytes are QEMU's
(hw/input/pckbd.c, hw/input/ps2.c)."""
import pytest

from bareflow.devices.ps2 import KEY_DELAY_CYCLES, I8042
from dev_fakes import Time


class Irqs:
    def __init__(self) -> None:
        self.level = {}
        self.edges = {}

    def raise_irq(self, line: int) -> None:
        if not self.level.get(line):
            self.edges[line] = self.edges.get(line, 0) + 1
        self.level[line] = 1

    def lower_irq(self, line: int) -> None:
        self.level[line] = 0


def make(**kw):
    tm, irqs = Time(), Irqs()
    kbd = I8042(clock=tm.clock, irq=irqs, **kw)
    return tm, irqs, kbd


def cmd(kbd, c, data=None):
    kbd.io_write(0x64, 1, c)
    if data is not None:
        kbd.io_write(0x60, 1, data)


def read(kbd):
    assert kbd.io_read(0x64, 1) & 0x01, "output buffer empty"
    return kbd.io_read(0x60, 1)


def drain(tm, kbd, limit=1000):
    """Read every byte the keyboard produces, letting time pass as a polling guest would."""
    out = []
    for _ in range(limit):
        if kbd.io_read(0x64, 1) & 0x01:
            out.append(kbd.io_read(0x60, 1))
            continue
        nd = tm.clock.next_deadline()
        if nd is None:
            break
        tm.run_until(nd)
    return out


def test_self_test_and_status():
    tm, irqs, kbd = make()
    assert kbd.io_read(0x64, 1) == 0x18  # CMD | UNLOCKED after reset, SYS clear
    cmd(kbd, 0xAA)
    assert read(kbd) == 0x55
    assert kbd.io_read(0x64, 1) & 0x04  # SYS flag set by the self-test
    cmd(kbd, 0xAB)
    assert read(kbd) == 0x00
    cmd(kbd, 0xA9)
    assert read(kbd) == 0x00


def test_command_byte_read_write_and_port_disables():
    tm, irqs, kbd = make()
    cmd(kbd, 0x20)
    assert read(kbd) == 0x03
    cmd(kbd, 0x60, 0x61)
    cmd(kbd, 0x20)
    assert read(kbd) == 0x61
    cmd(kbd, 0xAD)
    cmd(kbd, 0x20)
    assert read(kbd) == 0x71
    cmd(kbd, 0xAE)
    cmd(kbd, 0xA8)
    cmd(kbd, 0x20)
    assert read(kbd) == 0x41
    cmd(kbd, 0xA7)
    cmd(kbd, 0x20)
    assert read(kbd) == 0x61


def test_keyboard_commands_ack():
    tm, irqs, kbd = make()
    kbd.io_write(0x60, 1, 0xFF)
    assert drain(tm, kbd) == [0xFA, 0xAA]
    kbd.io_write(0x60, 1, 0xEE)
    assert drain(tm, kbd) == [0xEE]  # echo, no ACK
    kbd.io_write(0x60, 1, 0xED)
    assert drain(tm, kbd) == [0xFA]
    kbd.io_write(0x60, 1, 0x07)
    assert drain(tm, kbd) == [0xFA]
    assert kbd.leds == 7
    kbd.io_write(0x60, 1, 0xF5)
    assert drain(tm, kbd) == [0xFA] and kbd.scan_enabled == 0
    kbd.io_write(0x60, 1, 0xF4)
    assert drain(tm, kbd) == [0xFA] and kbd.scan_enabled == 1
    kbd.io_write(0x60, 1, 0xF0)
    assert drain(tm, kbd) == [0xFA]
    kbd.io_write(0x60, 1, 0x00)
    assert drain(tm, kbd) == [0xFA, 0x02]  # untranslated: set 2
    kbd.io_write(0x60, 1, 0xF2)
    assert drain(tm, kbd) == [0xFA, 0xAB, 0x83]
    for cmd_byte in (0x42, 0x05, 0xF7, 0xFB, 0xFE):
        kbd.io_write(0x60, 1, cmd_byte)
        assert drain(tm, kbd) == [0xFE]  # what QEMU 7.2 answers: resend
    for cmd_byte in (0x00, 0xFA, 0xF6):
        kbd.io_write(0x60, 1, cmd_byte)
        assert drain(tm, kbd) == [0xFA]


def test_new_keyboard_byte_discards_unread_replies():
    """QEMU ps2_cqueue_reset: the argument byte replaces the command's unread ACK, in place
    in the output buffer (no second IRQ1 edge)."""
    tm, irqs, kbd = make()
    kbd.io_write(0x60, 1, 0xF3)
    edges = irqs.edges.get(1, 0)
    kbd.io_write(0x60, 1, 0x20)
    assert drain(tm, kbd) == [0xFA]
    assert irqs.edges.get(1, 0) == edges
    kbd.io_write(0x60, 1, 0xF0)
    kbd.io_write(0x60, 1, 0x07)  # bad set: the F0's ACK is gone, RESEND remains
    assert drain(tm, kbd) == [0xFE]


def test_identify_and_set_query_when_translating():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x41)
    kbd.io_write(0x60, 1, 0xF2)
    assert drain(tm, kbd) == [0xFA, 0xAB, 0x41]
    kbd.io_write(0x60, 1, 0xF0)
    assert drain(tm, kbd) == [0xFA]
    kbd.io_write(0x60, 1, 0x00)
    assert drain(tm, kbd) == [0xFA, 0x41]


def test_typing_hi_enter_translated_to_set1():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x61)  # translate, IRQ1 on
    kbd.type_text("Hi\n")
    assert drain(tm, kbd) == [0x2A, 0x23, 0xA3, 0xAA, 0x17, 0x97, 0x1C, 0x9C]


def test_typing_untranslated_gives_set2():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x01)
    kbd.type_text("Hi\n")
    assert drain(tm, kbd) == [0x12, 0x33, 0xF0, 0x33, 0xF0, 0x12, 0x43, 0xF0, 0x43,
                              0x5A, 0xF0, 0x5A]


def test_scancode_set1_selected_on_keyboard():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x01)
    kbd.io_write(0x60, 1, 0xF0)
    assert drain(tm, kbd) == [0xFA]
    kbd.io_write(0x60, 1, 0x01)
    assert drain(tm, kbd) == [0xFA]
    kbd.type_text("a")
    assert drain(tm, kbd) == [0x1E, 0x9E]
    cmd(kbd, 0x60, 0x41)  # translation on top of set 1: translated twice, as on hardware
    kbd.type_text("a")
    assert drain(tm, kbd) == [0x03, 0x9E]


def test_key_pacing_one_byte_per_delay_after_read_and_irq1():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x61)
    kbd.type_text("ab")
    assert irqs.level[1] and irqs.edges[1] == 1
    tm.run_until(5000)
    assert kbd.io_read(0x60, 1) == 0x1E
    assert not irqs.level[1]
    taken = tm.t
    assert not kbd.io_read(0x64, 1) & 0x01
    tm.run_until(taken + KEY_DELAY_CYCLES - 1)
    assert not kbd.io_read(0x64, 1) & 0x01
    tm.run_until(taken + KEY_DELAY_CYCLES)
    assert kbd.io_read(0x64, 1) & 0x01 and irqs.level[1] and irqs.edges[1] == 2
    assert kbd.io_read(0x60, 1) == 0x9E
    rest = drain(tm, kbd)
    assert rest == [0x30, 0xB0]
    assert irqs.edges[1] == 4
    # reading again with nothing new returns the last byte (QEMU behaviour)
    assert kbd.io_read(0x60, 1) == 0xB0


def test_irq1_disabled_in_command_byte():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x60)
    kbd.type_text("a")
    assert read(kbd) == 0x1E
    assert not irqs.edges.get(1)


def test_keyboard_disabled_holds_keys_until_enabled():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x61)
    cmd(kbd, 0xAD)
    kbd.type_text("a")
    assert not kbd.io_read(0x64, 1) & 0x01
    cmd(kbd, 0xAE)
    assert read(kbd) == 0x1E


def test_command_replies_go_before_pending_keys():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x61)
    kbd.type_text("ab")
    assert read(kbd) == 0x1E
    kbd.io_write(0x60, 1, 0xEE)
    assert read(kbd) == 0xEE
    assert drain(tm, kbd) == [0x9E, 0x30, 0xB0]


def test_press_make_break_from_set1_and_extended_keys():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x01)  # untranslated: see the set 2 the keyboard sends
    kbd.press_make_break([0xE0, 0x48, 0xE0, 0xC8])  # cursor up
    assert drain(tm, kbd) == [0xE0, 0x75, 0xE0, 0xF0, 0x75]
    cmd(kbd, 0x60, 0x41)
    kbd.press(0x1C)
    assert drain(tm, kbd) == [0x1C, 0x9C]
    kbd.press([0xE0, 0x48])
    assert drain(tm, kbd) == [0xE0, 0x48, 0xE0, 0xC8]


def test_bad_text_is_a_clear_error():
    tm, irqs, kbd = make()
    with pytest.raises(ValueError, match="cannot type"):
        kbd.type_text("é")


def test_output_port_a20_and_reset():
    a20, resets = [], []
    tm, irqs, kbd = make(on_a20=a20.append, on_reset_cpu=lambda: resets.append(1))
    cmd(kbd, 0xD0)
    assert read(kbd) & 0x03 == 0x03
    cmd(kbd, 0xD1, 0xCD)  # A20 off, reset line high (no reset)
    assert a20 == [False] and resets == []
    cmd(kbd, 0xD0)
    assert read(kbd) & 0xCF == 0xCD
    cmd(kbd, 0xDF)
    assert a20 == [False, True]
    cmd(kbd, 0xFE)
    assert resets == [1]
    cmd(kbd, 0xD1, 0xCE)  # bit 0 low: CPU reset
    assert resets == [1, 1]
    cmd(kbd, 0xF1)  # pulse with bit 0 not pulsed: nothing
    assert resets == [1, 1]


def test_d2_writes_output_buffer_and_d4_does_not_reach_keyboard():
    tm, irqs, kbd = make()
    cmd(kbd, 0xD2, 0x99)
    assert read(kbd) == 0x99
    cmd(kbd, 0xD4, 0xFF)
    assert not kbd.io_read(0x64, 1) & 0x01  # no mouse: nothing answers
    assert kbd.replies == []


def test_state_round_trip_with_pending_key_event():
    tm, irqs, kbd = make()
    cmd(kbd, 0x60, 0x61)
    kbd.type_text("ok")
    read(kbd)
    st = kbd.state()
    tm2 = Time()
    tm2.t = tm.t
    kbd2 = I8042(clock=tm2.clock, irq=Irqs())
    kbd2.load_state(st)
    assert kbd2.state() == st
    assert drain(tm, kbd) == drain(tm2, kbd2) == [0x98, 0x25, 0xA5]
