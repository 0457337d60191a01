"""8259A pair: initialisation, masking, EOI, priority, cascade, spurious IRQs, poll, ELCR.
Expected values follow QEMU hw/intc/i8259.c."""
from bareflow.devices.bus import Bus
from bareflow.devices.pic import Pic


def init_pic(pic: Pic, mbase: int = 0x20, sbase: int = 0x28, auto_eoi: bool = False) -> None:
    icw4 = 0x03 if auto_eoi else 0x01
    for port, val in ((0x20, 0x11), (0x21, mbase), (0x21, 0x04), (0x21, icw4),
                      (0xA0, 0x11), (0xA1, sbase), (0xA1, 0x02), (0xA1, icw4),
                      (0x21, 0x00), (0xA1, 0x00)):
        pic.io_write(port, 1, val)


def eoi(pic: Pic, slave: bool = False) -> None:
    if slave:
        pic.io_write(0xA0, 1, 0x20)
    pic.io_write(0x20, 1, 0x20)


def test_init_sequence_sets_vector_bases_and_clears_state():
    pic = Pic()
    pic.io_write(0x21, 1, 0x5A)
    assert pic.io_read(0x21, 1) == 0x5A
    init_pic(pic, 0x08, 0x70)
    assert pic.master.irq_base == 0x08 and pic.slave.irq_base == 0x70
    assert pic.io_read(0x21, 1) == 0 and pic.io_read(0xA1, 1) == 0
    assert not pic.intr_pending()
    # ICW2 keeps only bits 7:3
    pic.io_write(0x20, 1, 0x11)
    pic.io_write(0x21, 1, 0x23)
    pic.io_write(0x21, 1, 0x04)
    pic.io_write(0x21, 1, 0x01)
    assert pic.master.irq_base == 0x20


def test_irq_delivery_mask_and_eoi():
    pic = Pic()
    init_pic(pic)
    pic.io_write(0x21, 1, 0x01)  # mask IRQ0
    pic.raise_irq(0)
    assert not pic.intr_pending()
    pic.io_write(0x20, 1, 0x0A)  # OCW3: read IRR
    assert pic.io_read(0x20, 1) == 0x01
    pic.io_write(0x21, 1, 0x00)  # unmask: the latched request is delivered
    assert pic.intr_pending()
    assert pic.acknowledge() == 0x20
    assert not pic.intr_pending()
    pic.io_write(0x20, 1, 0x0B)  # read ISR
    assert pic.io_read(0x20, 1) == 0x01
    assert pic.io_read(0x20, 1) == 0x01  # the selection sticks
    eoi(pic)
    assert pic.io_read(0x20, 1) == 0x00


def test_edge_triggered_needs_a_new_edge():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(1)
    assert pic.acknowledge() == 0x21
    eoi(pic)
    pic.raise_irq(1)  # still high: no new request
    assert not pic.intr_pending()
    pic.lower_irq(1)
    pic.raise_irq(1)
    assert pic.intr_pending() and pic.acknowledge() == 0x21


def test_priority_and_nesting():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(4)
    pic.raise_irq(1)
    assert pic.acknowledge() == 0x21  # IRQ1 beats IRQ4
    assert not pic.intr_pending()  # IRQ4 is below the in-service IRQ1
    pic.raise_irq(0)
    assert pic.intr_pending()  # IRQ0 nests above IRQ1
    assert pic.acknowledge() == 0x20
    eoi(pic)  # non-specific EOI ends the highest in service: IRQ0
    assert pic.master.isr == 0x02
    eoi(pic)
    assert pic.acknowledge() == 0x24


def test_specific_eoi_and_rotation():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(3)
    pic.acknowledge()
    pic.io_write(0x20, 1, 0x60 | 3)  # specific EOI for IRQ3
    assert pic.master.isr == 0
    pic.io_write(0x20, 1, 0xC0 | 4)  # set priority: IRQ4 lowest, IRQ5 highest
    pic.raise_irq(0)
    pic.raise_irq(6)
    assert pic.acknowledge() == 0x26
    pic.io_write(0x20, 1, 0xA0)  # rotate on non-specific EOI
    assert pic.master.priority_add == 7


def test_cascade_through_irq2():
    pic = Pic()
    init_pic(pic, 0x08, 0x70)
    pic.raise_irq(12)
    assert pic.intr_pending()
    assert pic.acknowledge() == 0x70 + 4
    assert pic.slave.isr == 0x10 and pic.master.isr == 0x04
    pic.raise_irq(3)
    assert not pic.intr_pending()  # IRQ3 is below the in-service IRQ2
    pic.raise_irq(1)
    assert pic.intr_pending()  # IRQ1 is above it
    eoi(pic, slave=True)
    assert pic.slave.isr == 0 and pic.master.isr == 0


def test_slave_mask_blocks_cascade():
    pic = Pic()
    init_pic(pic)
    pic.io_write(0xA1, 1, 0xFF)
    pic.raise_irq(9)
    assert not pic.intr_pending()
    pic.io_write(0xA1, 1, 0x00)
    assert pic.intr_pending() and pic.acknowledge() == 0x29


def test_spurious_irq7_and_irq15():
    pic = Pic()
    init_pic(pic, 0x08, 0x70)
    # nothing pending at INTA: master answers with its IRQ7 vector, ISR untouched
    assert pic.acknowledge() == 0x0F
    assert pic.master.isr == 0
    # slave request vanishes between INT and INTA (level-triggered line dropped)
    pic.io_write(0x4D1, 1, 0x02)  # IRQ9 level triggered
    pic.raise_irq(9)
    assert pic.intr_pending()
    pic.slave.irr = 0  # the line fell just before INTA
    assert pic.acknowledge() == 0x77
    assert pic.slave.isr == 0 and pic.master.isr == 0x04  # master still saw IRQ2


def test_auto_eoi():
    pic = Pic()
    init_pic(pic, auto_eoi=True)
    pic.raise_irq(5)
    assert pic.acknowledge() == 0x25
    assert pic.master.isr == 0


def test_poll_command():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(3)
    pic.io_write(0x20, 1, 0x0C)  # OCW3 poll
    assert pic.io_read(0x20, 1) == 0x83
    assert pic.master.isr == 0x08
    pic.io_write(0x20, 1, 0x0C)
    assert pic.io_read(0x20, 1) == 0x00


def test_special_mask_mode_lets_lower_priority_in():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(1)
    pic.acknowledge()
    pic.io_write(0x21, 1, 0x02)  # mask the in-service IRQ1
    pic.io_write(0x20, 1, 0x68)  # OCW3: set special mask
    pic.raise_irq(5)
    assert pic.intr_pending() and pic.acknowledge() == 0x25


def test_elcr_masks_and_level_mode():
    pic = Pic()
    pic.io_write(0x4D0, 1, 0xFF)
    pic.io_write(0x4D1, 1, 0xFF)
    assert pic.io_read(0x4D0, 1) == 0xF8 and pic.io_read(0x4D1, 1) == 0xDE


def test_intr_callback_and_word_access_via_bus():
    seen = []
    pic = Pic(on_intr=seen.append)
    bus = Bus()
    bus.register(pic)
    init_pic(pic)
    bus.io_write(0x20, 2, 0x0000)  # word write = 0x20 then 0x21 (IMR)
    bus.io_write(0x21, 1, 0xFE)
    assert bus.io_read(0x20, 2) & 0xFF00 == 0xFE00
    pic.io_write(0x21, 1, 0x00)
    pic.raise_irq(0)
    assert seen == [True]
    pic.acknowledge()
    assert seen == [True, False]


def test_state_round_trip():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(3)
    pic.raise_irq(10)
    st = pic.state()
    other = Pic()
    other.load_state(st)
    assert other.state() == st
    assert other.acknowledge() == pic.acknowledge()


def test_master_reinit_does_not_resample_slave_line_until_slave_changes():
    pic = Pic()
    init_pic(pic)
    pic.raise_irq(10)
    assert pic.master.irr & 0x04
    for val in (0x11, 0x20, 0x04, 0x01):  # re-initialise only the master
        pic.io_write(0x20 if val == 0x11 else 0x21, 1, val)
    assert not pic.master.irr & 0x04 and not pic.intr_pending()  # QEMU: no re-latch yet
    pic.io_write(0xA1, 1, 0x00)  # any slave update re-drives its INT line: a new edge
    assert pic.master.irr & 0x04 and pic.acknowledge() == 0x2A
