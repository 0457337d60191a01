"""Port 0x92 (fast A20 / reset), isa-debug-exit, port 0xE9 console, and the bus's handling of
wide accesses and unclaimed ports."""
import pytest

from bareflow.devices.a20 import FastA20
from bareflow.devices.bus import Bus
from bareflow.devices.debug_exit import DebugExit
from bareflow.devices.debugcon import DebugCon


def test_a20_callback_and_fast_reset():
    a20, resets = [], []
    dev = FastA20(on_a20=a20.append, on_reset=lambda: resets.append(1))
    assert dev.io_read(0x92, 1) == 0x02 and dev.a20
    dev.io_write(0x92, 1, 0x00)
    assert a20 == [False] and not dev.a20 and dev.io_read(0x92, 1) == 0
    dev.io_write(0x92, 1, 0x02)
    assert a20 == [False, True]
    assert resets == []
    dev.io_write(0x92, 1, 0x03)  # 0 -> 1 on bit 0: reset
    assert resets == [1]
    dev.io_write(0x92, 1, 0x03)  # still 1: no new reset
    assert resets == [1]
    dev.reset()
    assert dev.io_read(0x92, 1) == 0x02
    d2 = FastA20()
    d2.load_state({"outport": 0x00})
    assert d2.state() == {"outport": 0}


@pytest.mark.parametrize("size,value,status", [(1, 0x00, 1), (1, 0x10, 0x21), (2, 0x1234, 0x2469),
                                               (4, 0x7F, 0xFF)])
def test_debug_exit_status_is_qemus(size, value, status):
    seen = []
    dev = DebugExit(on_exit=seen.append)
    bus = Bus()
    bus.register(dev)
    bus.io_write(0xF4, size, value)
    assert seen == [status] and dev.status == status
    assert bus.io_read(0xF4, 1) == 0


def test_debug_exit_ports_follow_iosize():
    assert list(DebugExit().ports()) == [0xF4, 0xF5, 0xF6, 0xF7]
    assert list(DebugExit(iobase=0x501, iosize=2).ports()) == [0x501, 0x502]


def test_debugcon_bytes_and_readback():
    out = []
    dev = DebugCon(on_byte=out.append)
    bus = Bus()
    bus.register(dev)
    for b in b"ok\n":
        bus.io_write(0xE9, 1, b)
    assert bytes(out) == b"ok\n"
    assert bus.io_read(0xE9, 1) == 0xE9
    bus.io_write(0xE9, 2, 0x4241)  # wide write: only the byte at 0xE9 is the console's
    assert bytes(out) == b"ok\nA"


def test_bus_unclaimed_ports_float_high_and_conflicts_are_errors():
    bus = Bus()
    assert bus.io_read(0x1234, 1) == 0xFF
    assert bus.io_read(0x1234, 2) == 0xFFFF
    assert bus.io_read(0x1234, 4) == 0xFFFFFFFF
    bus.io_write(0x1234, 1, 5)  # ignored
    bus.register(DebugCon())
    with pytest.raises(ValueError, match="claimed"):
        bus.register(DebugCon())
