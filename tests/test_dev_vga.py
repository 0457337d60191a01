"""VGA text registers: CRTC cursor location/shape, CR0-7 write protect, misc output, retrace
bits from the clock, attribute flip-flop, DAC, screen text helper."""
from bareflow.devices.bus import Bus
from bareflow.devices.vga import FRAME_HZ, VgaText, screen_text
from bareflow.devices.base.clock import CPU_HZ, Clock


class Time:
    def __init__(self) -> None:
        self.t = 0
        self.clock = Clock(lambda: self.t)


def make():
    tm = Time()
    return tm, VgaText(clock=tm.clock)


def test_cursor_location_and_shape():
    tm, vga = make()
    assert vga.cursor() == (0, 0, True, 0x0D, 0x0E)  # BIOS mode 3 shape
    pos = 12 * 80 + 34
    vga.io_write(0x3D4, 1, 0x0E)
    vga.io_write(0x3D5, 1, pos >> 8)
    vga.io_write(0x3D4, 1, 0x0F)
    vga.io_write(0x3D5, 1, pos & 0xFF)
    assert vga.cursor()[:2] == (12, 34)
    vga.io_write(0x3D4, 1, 0x0E)
    assert vga.io_read(0x3D5, 1) == pos >> 8
    assert vga.io_read(0x3D4, 1) == 0x0E
    vga.io_write(0x3D4, 1, 0x0A)
    vga.io_write(0x3D5, 1, 0x20)  # cursor disable bit
    assert vga.cursor()[2] is False
    vga.io_write(0x3D5, 1, 0x06)
    vga.io_write(0x3D4, 1, 0x0B)
    vga.io_write(0x3D5, 1, 0x07)
    assert vga.cursor()[2:] == (True, 6, 7)


def test_word_out_index_and_data_through_bus():
    tm, vga = make()
    bus = Bus()
    bus.register(vga)
    bus.io_write(0x3D4, 2, (0x07 << 8) | 0x0F)  # the classic outw idiom
    assert vga.cr[0x0F] == 0x07
    assert bus.io_read(0x3D4, 2) == 0x070F


def test_crtc_write_protect_of_cr0_to_cr7():
    tm, vga = make()
    vga.io_write(0x3D4, 1, 0x01)
    vga.io_write(0x3D5, 1, 0x27)
    assert vga.cr[1] == 0x4F  # CR11 bit 7 protects CR0-CR7
    vga.io_write(0x3D4, 1, 0x07)
    vga.io_write(0x3D5, 1, 0xFF)
    assert vga.cr[7] == 0x1F | 0x10  # only the line-compare bit got through
    vga.io_write(0x3D4, 1, 0x11)
    vga.io_write(0x3D5, 1, 0x0E)
    vga.io_write(0x3D4, 1, 0x01)
    vga.io_write(0x3D5, 1, 0x27)
    assert vga.cr[1] == 0x27


def test_misc_output_and_mono_addressing():
    tm, vga = make()
    assert vga.io_read(0x3CC, 1) == 0x67
    vga.io_write(0x3C2, 1, 0x66)  # mono addressing: 0x3Dx goes dead, 0x3Bx answers
    assert vga.io_read(0x3CC, 1) == 0x66
    assert vga.io_read(0x3D5, 1) == 0xFF
    vga.io_write(0x3B4, 1, 0x0F)
    vga.io_write(0x3B5, 1, 0x42)
    assert vga.cr[0x0F] == 0x42
    vga.io_write(0x3C2, 1, 0x67)
    assert vga.io_read(0x3B5, 1) == 0xFF


def test_retrace_bits_follow_the_clock():
    tm, vga = make()
    frame = CPU_HZ // FRAME_HZ
    line = frame // 449
    samples = []
    for c in range(0, frame, line // 3):
        tm.t = c
        samples.append(vga.io_read(0x3DA, 1))
    vr = [s & 0x08 for s in samples]
    assert vr.count(0x08) == 6  # two lines of retrace, sampled 3 times a line
    assert all(s & 0x01 for s in samples if s & 0x08)  # retrace implies display disabled
    assert {s & 0x01 for s in samples} == {0, 1}
    tm.t = 412 * line + 5
    assert vga.io_read(0x3DA, 1) & 0x08
    tm.t += frame  # one frame later: same phase, same answer
    assert vga.io_read(0x3DA, 1) & 0x08
    tm.t = 5
    assert vga.io_read(0x3DA, 1) == 0x00


def test_attribute_flip_flop_reset_by_status_read():
    tm, vga = make()
    vga.io_write(0x3C0, 1, 0x01)  # index
    vga.io_write(0x3C0, 1, 0x2A)  # data
    assert vga.ar[1] == 0x2A
    vga.io_write(0x3C0, 1, 0x02)  # index again
    vga.io_read(0x3DA, 1)  # resets the flip-flop
    vga.io_write(0x3C0, 1, 0x31)  # so this is an index, with PAS set
    assert vga.ar[2] == 0x02 and vga.ar_index == 0x31
    assert vga.io_read(0x3C0, 1) == 0  # data phase: QEMU reads 0 here
    vga.io_read(0x3DA, 1)
    assert vga.io_read(0x3C0, 1) == 0x31


def test_dac_write_and_read():
    tm, vga = make()
    vga.io_write(0x3C8, 1, 5)
    for v in (10, 20, 30, 1, 2, 3):
        vga.io_write(0x3C9, 1, v)
    vga.io_write(0x3C7, 1, 5)
    assert [vga.io_read(0x3C9, 1) for _ in range(6)] == [10, 20, 30, 1, 2, 3]


def test_screen_text_uses_start_address():
    tm, vga = make()
    mem = bytearray(8000)
    for i, ch in enumerate(b"Hello"):
        mem[2 * i] = ch
        mem[2 * i + 1] = 0x07
    mem[2 * 80] = 0x01  # CP437 smiley
    text = vga.screen_text(bytes(mem))
    assert text.splitlines()[0] == "Hello" and text.splitlines()[1] == "☺"
    assert screen_text(bytes(mem)) == text
    vga.io_write(0x3D4, 1, 0x0D)
    vga.io_write(0x3D5, 1, 80)  # scroll one row
    assert vga.screen_text(bytes(mem)).splitlines()[0] == "☺"


def test_state_round_trip():
    tm, vga = make()
    vga.io_write(0x3D4, 1, 0x0F)
    vga.io_write(0x3D5, 1, 0x99)
    st = vga.state()
    v2 = VgaText(clock=tm.clock)
    v2.load_state(st)
    assert v2.state() == st and v2.cursor() == vga.cursor()
