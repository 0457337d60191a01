"""A GDB remote stub (the Remote Serial Protocol) over a TCP socket, on top of `Machine`.

`bareflow-emu run IMAGE --gdb PORT` builds the machine, then waits here for gdb before the
first guest instruction.  gdb then drives everything: registers (`g`/`G`/`p`/`P`), memory
(`m`/`M`/`X`), breakpoints (`Z0`/`Z1`, implemented with `Machine.add_breakpoint`, so guest
memory is never patched with 0xCC and checksumming code sees its own bytes), watchpoints
(`Z2`/`Z3`/`Z4`, a memory hook bounded to the watched range), step and continue (`s`, `c`,
`vCont`), Ctrl-C (the 0x03 byte becomes `request_pause`), and, when a `TimeTravel` is
attached, reverse execution (`bs`, `bc`).

Why a reader thread: while the guest runs on the main thread, gdb may send 0x03 at any time;
a thread that owns the socket's receive side turns it into `request_pause()` (thread-safe)
immediately and queues ordinary packets for the main thread.  That packet layer (framing,
checksums, the reader) is emu/gdb_packets.py; this module holds the command handlers.

Addresses are linear (= physical: paging is not modelled).  In real mode eip is reported as
the linear CS*16+IP (see gdb_targets.read_register) and the target description says i8086.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Callable

from . import gdb_targets as T
from ..devices.base.errors import BareflowError
from .gdb_packets import (  # noqa: F401 - checksum, frame re-exported (tests import them here)
    _CLOSED, _INTERRUPT, PACKET_SIZE, GdbError, RspConnection, checksum, escape_binary, frame,
    hexnum, hexpair, unescape_binary,
)

SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11


@dataclass
class Session:
    """How a debugging session ended, for the CLI's exit status and message."""

    how: str                  # "kill", "detach", "exited" (the guest stopped for good), "disconnect"
    reason: Any = None        # the Machine's last StopReason


class GdbStub:
    """Serves one gdb client for one Machine.  Not reentrant; runs the guest on the calling thread.

    machine: a `Machine` (or anything with the same debugging surface, see tests).
    timetravel: a `bareflow.emu.timetravel.TimeTravel` over the same machine, for `bs`/`bc`;
    forward execution then goes through it so that it can take its periodic snapshots.
    """

    def __init__(self, machine: Any, host: str = "127.0.0.1", port: int = 0, *, timetravel: Any = None,
                 max_cycles: int | None = None, wait_for_input: bool = True,
                 log: Callable[[str], None] | None = None) -> None:
        self.m = machine
        self.tt = timetravel
        self.max_cycles = max_cycles
        self.wait_for_input = wait_for_input
        self.log = log
        self.host = host
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            family, _, _, _, addr = infos[0]
            self.listener = socket.socket(family, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(addr)
            self.listener.listen(1)
        except (OSError, IndexError) as exc:
            raise GdbError(f"--gdb {host}:{port}: cannot listen ({getattr(exc, 'strerror', None) or exc})") from None
        self.port = self.listener.getsockname()[1]
        self.conn: RspConnection | None = None
        self._running = False
        self._last_stop = f"T{SIGTRAP:02x}thread:1;"
        self._sw_bps: set[int] = set()
        self._hw_bps: set[int] = set()
        self._watches: set[tuple[str, int, int]] = set()
        self._last_reason: Any = None
        self._hw_hit = False

    # ------------------------------------------------------------------ connection
    def accept(self, timeout: float | None = None) -> None:
        """Block until gdb connects (timeout in seconds, None = forever)."""
        self.listener.settimeout(timeout)
        try:
            sock, _peer = self.listener.accept()
        except socket.timeout:
            raise GdbError(f"no debugger connected to {self.host}:{self.port} within {timeout:g} s") from None
        finally:
            self.listener.close()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self.conn = RspConnection(sock, self._on_interrupt, self.log)

    def _on_interrupt(self) -> bool:
        """0x03 from gdb (reader thread).  True when the running guest was asked to pause; its
        stop reply then answers the interrupt."""
        if self._running:
            self.m.request_pause()
            return True
        return False

    def serve(self) -> Session:
        """Answer packets until gdb kills, detaches or goes away, or the guest ends for good."""
        assert self.conn is not None, "accept() first"
        conn = self.conn
        try:
            while True:
                pkt = conn.get()
                if pkt is _CLOSED:
                    return Session("disconnect", self._last_reason)
                if pkt is _INTERRUPT:
                    # stopped already: gdb still wants a stop reply for its interrupt
                    conn.send(f"T{SIGINT:02x}thread:1;")
                    continue
                done = self._dispatch(pkt)
                if done is not None:
                    return done
        finally:
            self._remove_all()
            conn.close()

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, pkt: bytes) -> Session | None:
        conn = self.conn
        assert conn is not None
        text = pkt.decode("latin-1")
        head = text[:1]
        try:
            if text.startswith("qSupported"):
                feats = [f"PacketSize={PACKET_SIZE:x}", "qXfer:features:read+", "swbreak+", "hwbreak+",
                         "vContSupported+", "QStartNoAckMode+"]
                if self.tt is not None:
                    feats += ["ReverseStep+", "ReverseContinue+"]
                conn.send(";".join(feats))
            elif text == "QStartNoAckMode":
                conn.send("OK")
                conn.no_ack = True
            elif text.startswith("qXfer:features:read:"):
                conn.send(self._xfer_features(text[len("qXfer:features:read:"):]))
            elif text == "?":
                conn.send(self._last_stop)
            elif text == "g":
                conn.send(T.read_all(self.m))
            elif head == "G":
                T.write_all(self.m, text[1:])
                conn.send("OK")
            elif head == "p":
                n = hexnum(text[1:])
                if n >= len(T.REGISTERS):
                    conn.send("E45")
                else:
                    raw = T.read_register(self.m, n)
                    conn.send("xx" * (T.REGISTERS[n].bits // 8) if raw is None else raw.hex())
            elif head == "P":
                num, val = text[1:].split("=", 1)
                n = hexnum(num)
                if n >= len(T.REGISTERS):
                    conn.send("E45")
                else:
                    T.write_register(self.m, n, bytes.fromhex(val))
                    conn.send("OK")
            elif head == "m":
                addr, length = hexpair(text[1:])
                data = self._read_mem(addr, min(length, PACKET_SIZE // 2 - 16))
                conn.send("E14" if data is None else data.hex())
            elif head == "M":
                where, hexdata = text[1:].split(":", 1)
                addr, length = hexpair(where)
                data = bytes.fromhex(hexdata)
                conn.send("OK" if len(data) == length and self._write_mem(addr, data) else "E14")
            elif head == "X":
                colon = pkt.index(b":")
                addr, length = hexpair(pkt[1:colon].decode("latin-1"))
                data = unescape_binary(pkt[colon + 1:])
                conn.send("OK" if len(data) == length and self._write_mem(addr, data) else "E14")
            elif head in ("Z", "z"):
                conn.send(self._breakpoint(text))
            elif head in ("c", "s", "C", "S"):
                return self._resume_packet(text)
            elif text.startswith("vCont"):
                if text == "vCont?":
                    conn.send("vCont;c;C;s;S")
                else:
                    return self._vcont(text)
            elif text in ("bs", "bc"):
                return self._reverse(text)
            elif head == "k" or text.startswith("vKill"):
                if text.startswith("vKill"):
                    conn.send("OK")
                return Session("kill", self._last_reason)
            elif head == "D":
                conn.send("OK")
                return Session("detach", self._last_reason)
            elif head == "H" or text.startswith("T"):
                conn.send("OK")
            elif text == "qC":
                conn.send("QC1")
            elif text == "qfThreadInfo":
                conn.send("m1")
            elif text == "qsThreadInfo":
                conn.send("l")
            elif text.startswith("qAttached"):
                conn.send("0")               # we "created" the process: gdb's quit kills it
            elif text.startswith("qSymbol"):
                conn.send("OK")
            elif text.startswith("qRcmd,"):
                self._monitor(bytes.fromhex(text[6:]).decode("latin-1", "replace"))
            else:
                conn.send("")                # unsupported: the empty reply, as the protocol says
        except (ValueError, IndexError, T.RegisterWriteError) as exc:
            if self.log:
                self.log(f"error on {text[:60]!r}: {exc}")
            conn.send("E16")
        except BareflowError as exc:
            conn.send("E16")
            if self.log:
                self.log(f"error on {text[:60]!r}: {exc}")
        except Exception as exc:   # noqa: BLE001 - a packet we cannot serve must not end the session
            if head in ("c", "s", "C", "S") or text.startswith("vCont;") or text in ("bs", "bc"):
                raise                        # the guest's own run failed: not the packet's fault
            if self.log:
                self.log(f"error on {text[:60]!r}: {type(exc).__name__}: {exc}")
            conn.send("E01")
        return None

    def _xfer_features(self, args: str) -> str:
        annex, _, span = args.rpartition(":")
        if annex != "target.xml":
            return "E00"
        off, length = hexpair(span)
        doc = T.target_xml(self.m.mode).encode()
        part = doc[off:off + length]
        marker = "l" if off + length >= len(doc) else "m"
        return marker + escape_binary(part).decode("latin-1")

    # ------------------------------------------------------------------ memory
    def _read_mem(self, addr: int, length: int) -> bytes | None:
        """gdb's addresses are linear (flat segments): through the page tables when the guest
        has paging on, where a page that is not present is an error (E14), as with QEMU."""
        if length <= 0:
            return b""
        if self.m.cpu.paging():
            from .paging import PageFault
            try:
                return self.m.read_linear(addr, length)
            except PageFault:
                return None
        limit = getattr(self.m, "memory_bytes", 1 << 32)
        if addr < 0 or addr + length > limit:
            if addr < limit:
                length = limit - addr          # a partial read up to the end of RAM
            else:
                return None
        try:
            return self.m.read_mem(addr, length)
        except Exception:
            return None

    def _write_mem(self, addr: int, data: bytes) -> bool:
        limit = getattr(self.m, "memory_bytes", 1 << 32)
        if addr < 0 or (addr + len(data) > limit and not self.m.cpu.paging()):
            return False
        if not data:
            return True
        try:
            self.m.cpu.write(addr, data)   # Cpu.write also drops translated code at that address
        except Exception:
            return False
        return True

    # ------------------------------------------------------------------ break/watch points
    _WATCH_KIND = {"2": "write", "3": "read", "4": "access"}

    def _breakpoint(self, text: str) -> str:
        insert = text[0] == "Z"
        parts = text[1:].split(";", 1)[0].split(",")
        if len(parts) != 3:
            raise ValueError(f"{text[:30]!r} is not Ztype,addr,kind")
        typ, addr_s, kind_s = parts
        addr, size = hexnum(addr_s), hexnum(kind_s)
        if typ in ("0", "1"):
            bucket = self._sw_bps if typ == "0" else self._hw_bps
            if insert:
                self.m.add_breakpoint(addr)
                bucket.add(addr)
            else:
                bucket.discard(addr)
                if addr not in self._sw_bps and addr not in self._hw_bps:
                    self.m.remove_breakpoint(addr)
            return "OK"
        kind = self._WATCH_KIND.get(typ)
        if kind is None or not hasattr(self.m, "add_watchpoint"):
            return ""
        if size <= 0:
            return "E22"
        key = (kind, addr, size)
        if insert:
            self.m.add_watchpoint(addr, size, kind)
            self._watches.add(key)
        else:
            if key in self._watches:
                self.m.remove_watchpoint(addr, size, kind)
                self._watches.discard(key)
        return "OK"

    def _remove_all(self) -> None:
        """gdb gone or detached: leave no breakpoint or watchpoint behind in the machine."""
        for addr in self._sw_bps | self._hw_bps:
            try:
                self.m.remove_breakpoint(addr)
            except Exception:
                pass
        for kind, addr, size in self._watches:
            try:
                self.m.remove_watchpoint(addr, size, kind)
            except Exception:
                pass
        self._sw_bps.clear()
        self._hw_bps.clear()
        self._watches.clear()

    # ------------------------------------------------------------------ execution
    def _resume_packet(self, text: str) -> Session | None:
        action = text[0].lower()
        rest = text[1:]
        if text[0] in "CS":                    # signal number first: ignored (no signals here)
            rest = rest.split(";", 1)[1] if ";" in rest else ""
        if rest:
            T.write_register(self.m, T.EIP_REGNUM, hexnum(rest).to_bytes(4, "little"))
        return self._resume(action)

    def _vcont(self, text: str) -> Session | None:
        actions = text.split(";")[1:]
        for act in actions:
            verb, _, tid = act.partition(":")
            if tid and tid not in ("1", "-1", "p1.1", "p1.-1"):
                continue
            v = verb[:1].lower()
            if v in ("c", "s"):
                return self._resume(v)
            if v == "t":                       # stop: we are stopped already
                self.conn.send(f"T{SIGINT:02x}thread:1;")
                return None
        self.conn.send("E01")
        return None

    def _resume(self, action: str) -> Session | None:
        m = self.m
        m.clear_watch_hit()
        self._running = True
        try:
            if action == "s":
                reason = self.tt.step() if self.tt is not None else m.step()
            else:
                runner = self.tt.run if self.tt is not None else m.run_until_stop
                reason = runner(self.max_cycles, wait_for_input=self.wait_for_input)
        finally:
            self._running = False
        return self._report(reason)

    def _reverse(self, text: str) -> Session | None:
        if self.tt is None:
            self.conn.send("")
            return None
        self._running = True
        self.m.clear_watch_hit()
        try:
            if text == "bs":
                reason = self.tt.step_back()
            else:
                reason = self.tt.run_back()
        except BareflowError as exc:          # TimeTravelError: say why on gdb's console
            self._console(f"bareflow: {exc}\n")
            self.conn.send("E16")
            return None
        finally:
            self._running = False
        if reason is None:                     # at the start of the recorded history
            self._last_stop = f"T{SIGTRAP:02x}thread:1;replaylog:begin;"
            self.conn.send(self._last_stop)
            return None
        return self._report(reason)

    def _report(self, reason: Any) -> Session | None:
        """Send the stop reply for `reason` (a StopReason); a Session when the guest is gone."""
        self._last_reason = reason
        name = getattr(reason, "name", str(reason))
        m = self.m
        conn = self.conn
        assert conn is not None
        if name in ("POWER_OFF", "RESET"):
            self._console(f"bareflow: {m.stop_message or name.lower()}\n")
            status = m.exit_status if name == "POWER_OFF" and m.exit_status is not None else 0
            conn.send(f"W{status & 0xFF:02x}")
            self._last_stop = f"W{status & 0xFF:02x}"
            return Session("exited", reason)
        sig = SIGTRAP
        extra = ""
        if name == "BREAKPOINT":
            hit = getattr(m, "watch_hit", None)
            if hit:
                kind, addr = hit[0], hit[1]
                extra = {"write": "watch", "read": "rwatch", "access": "awatch"}[kind] + f":{addr:x};"
            else:
                pc = m.cpu.linear_pc()
                extra = "hwbreak:;" if pc in self._hw_bps and pc not in self._sw_bps else "swbreak:;"
        elif name == "PAUSED":
            sig = SIGINT
        elif name in ("TRIPLE_FAULT", "GUEST_ERROR"):
            sig = SIGSEGV
            self._console(f"bareflow: {m.stop_message or name.lower()}\n")
        elif name not in ("STEP",):
            # halted, idle, cycle limit: the guest is stopped and can be inspected
            self._console(f"bareflow: {m.stop_message or name.lower()}\n")
        self._last_stop = f"T{sig:02x}{extra}thread:1;"
        conn.send(self._last_stop)
        return None

    def _console(self, text: str) -> None:
        """An `O` packet: gdb prints the text on its console (only while the target runs)."""
        if self.conn is not None:
            self.conn.send("O" + text.encode("utf-8", "replace").hex())

    # ------------------------------------------------------------------ monitor commands
    def _monitor(self, cmd: str) -> None:
        """`monitor ...` in gdb: a few BareFlow facts gdb has no command for."""
        m = self.m
        words = cmd.split()
        if not words or words[0] in ("help", "?"):
            out = ("monitor where       mode, CS:EIP, cycles, instructions\n"
                   "monitor cycles      modelled cycles and instructions retired\n"
                   "monitor gdt         GDTR and the descriptors it holds (first 8)\n")
        elif words[0] in ("where", "cycles"):
            out = (f"{m.where()}\n" if words[0] == "where" and hasattr(m, "where") else "") + \
                  f"cycles {m.cycles} instructions {m.instructions}\n"
        elif words[0] == "gdt":
            base, limit = m.gdtr
            lines = [f"GDTR base {base:#x} limit {limit:#x}"]
            from .cpu import decode_descriptor
            for i in range(min(8, (limit + 1) // 8)):
                raw = m.read_mem(base + 8 * i, 8)
                lines.append(f"  {8 * i:#06x}: {raw.hex(' ')}  {decode_descriptor(raw).describe() if i else 'null'}")
            out = "\n".join(lines) + "\n"
        else:
            out = f"unknown monitor command '{words[0]}' (try: monitor help)\n"
        self.conn.send("O" + out.encode().hex())
        self.conn.send("OK")


def parse_port(text: str) -> int:
    """--gdb PORT: 0 picks a free port (printed on stderr)."""
    try:
        port = int(text, 10)
    except ValueError:
        raise ValueError(f"'{text}' is not a TCP port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"'{text}' is not a TCP port number (0-65535)")
    return port


def serve_gdb(machine: Any, host: str, port: int, *, max_cycles: int | None = None,
              timetravel: Any = True, announce: Callable[[str], None] | None = None) -> Session:
    """`run --gdb`: listen, tell the user where, wait for gdb before the first instruction, serve.

    After a detach (or gdb vanishing) the guest runs on headless to its own end, as under QEMU;
    the returned Session's reason is then that final stop."""
    log = None
    log_path = os.environ.get("BAREFLOW_GDB_LOG")
    if log_path:   # the packet exchange, for debugging the stub itself
        log_file = open(log_path, "a", buffering=1)
        log = lambda text: log_file.write(text + "\n")  # noqa: E731
    if timetravel is True:   # reverse-stepi / reverse-continue; checkpoints every 2M cycles and at stops
        if getattr(machine, "memory_bytes", 0) > 512 * 1024 * 1024:
            # time travel keeps two full copies of RAM: not for a guest with gigabytes
            timetravel = None
            if announce is not None:
                announce("reverse execution is off for more than 512 MiB of RAM")
        else:
            from .timetravel import TimeTravel
            timetravel = TimeTravel(machine)
    stub = GdbStub(machine, host, port, timetravel=timetravel or None, max_cycles=max_cycles, log=log)
    where = f"{host}:{stub.port}" if ":" not in host else f"[{host}]:{stub.port}"
    if announce is not None:
        announce(f"waiting for gdb on {where} (in gdb: target remote {where})")
    stub.accept()
    session = stub.serve()
    if session.how in ("detach", "disconnect"):
        session.reason = machine.run_until_stop(max_cycles)
    return session
