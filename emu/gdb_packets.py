"""The packet layer of the GDB remote stub: RSP framing, hex helpers and the socket reader.

Why a module of its own: this is the part of emu/gdbstub.py that knows bytes on the wire and
nothing of the machine - checksums, `$...#xx` frames, binary escaping, acks, and the reader
thread that turns a 0x03 byte into an interrupt callback at once (while the guest runs on the
main thread) and queues every other packet.  The command handlers in emu/gdbstub.py sit on
top of `RspConnection` and are tested through it; tests/test_gdb_protocol.py tests this layer
alone.
"""
from __future__ import annotations

import queue
import socket
import threading
from typing import Any, Callable

from ..devices.base.errors import BareflowError

#: what we tell gdb in qSupported; PacketSize is hex and bounds the packets gdb sends us
PACKET_SIZE = 0x4000
_INTERRUPT = object()      # queued marker for a 0x03 that arrived while the guest was stopped
_CLOSED = object()


class GdbError(BareflowError):
    """The debugger connection failed (bind, accept timeout)."""


_HEX = frozenset("0123456789abcdefABCDEF")


def hexnum(text: str, bits: int = 32) -> int:
    """A protocol number: bare hex digits (no sign, no 0x), at most `bits` wide.  Anything else
    is a ValueError, which the dispatcher answers with an `E` reply: `int("-1", 16)` would
    otherwise hand -1 to Unicorn, and one such packet used to end the whole session."""
    if not text or not _HEX.issuperset(text):
        raise ValueError(f"{text[:20]!r} is not a hex number")
    value = int(text, 16)
    if value >> bits:
        raise ValueError(f"{text[:20]!r} is wider than {bits} bits")
    return value


def hexpair(text: str) -> tuple[int, int]:
    """`ADDR,LENGTH` (both hex); the range must end within the 32-bit address space."""
    a, sep, b = text.partition(",")
    if not sep:
        raise ValueError(f"{text[:20]!r} is not ADDR,LENGTH")
    addr, length = hexnum(a), hexnum(b)
    if addr + length > 1 << 32:
        raise ValueError("the range runs past 4 GiB")
    return addr, length


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """`$payload#cs` (payload already escaped)."""
    return b"$" + payload + b"#" + f"{checksum(payload):02x}".encode()


def escape_binary(data: bytes) -> bytes:
    """Binary data in a reply: '#', '$', '}' and '*' are sent as '}' + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            out.append(next(it, 0) ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


class RspConnection:
    """Framing, checksums and acknowledgements of one gdb connection.

    The reader thread parses packets and queues them; 0x03 calls `on_interrupt` right away."""

    def __init__(self, sock: socket.socket, on_interrupt: Callable[[], bool], log: Callable[[str], None] | None = None):
        self.sock = sock
        self.on_interrupt = on_interrupt
        self.log = log
        self.packets: queue.Queue[Any] = queue.Queue()
        self.acks: queue.Queue[int] = queue.Queue()
        self.no_ack = False
        self.closed = False
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._reader, name="gdb-rsp-reader", daemon=True)
        self._thread.start()

    # --- receive side (reader thread)
    def _reader(self) -> None:
        buf = bytearray()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                self._parse(buf)
        except OSError:
            pass
        finally:
            self.closed = True
            self.packets.put(_CLOSED)
            self.acks.put(0)

    def _parse(self, buf: bytearray) -> None:
        while buf:
            c = buf[0]
            if c == 0x03:
                del buf[0]
                if not self.on_interrupt():      # stopped already: the main loop must answer it
                    self.packets.put(_INTERRUPT)
            elif c in (0x2B, 0x2D):          # '+' / '-'
                del buf[0]
                self.acks.put(c)
            elif c == 0x24:                  # '$'
                end = buf.find(b"#")
                if end < 0 or len(buf) < end + 3:
                    return                   # incomplete
                payload = bytes(buf[1:end])
                cs = bytes(buf[end + 1:end + 3])
                del buf[:end + 3]
                try:
                    good = int(cs, 16) == checksum(payload)
                except ValueError:
                    good = False
                if not self.no_ack:
                    self._raw(b"+" if good else b"-")
                if good:
                    if self.log:
                        self.log(f"<- {payload[:200]!r}")
                    self.packets.put(payload)
            else:
                del buf[0]                   # noise between packets

    # --- send side (main thread)
    def _raw(self, data: bytes) -> None:
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def send(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            payload = payload.encode("latin-1")
        if self.log:
            self.log(f"-> {payload[:200]!r}")
        framed = frame(payload)
        for _attempt in range(5):
            self._raw(framed)
            if self.no_ack or self.closed:
                return
            try:
                ack = self.acks.get(timeout=5.0)
            except queue.Empty:
                return
            if ack != 0x2D:                  # '+' (or closed): done; '-' asks for a resend
                return

    def get(self, timeout: float | None = None) -> Any:
        return self.packets.get(timeout=timeout)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
