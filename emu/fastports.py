"""The native IN/OUT hooks (emu/fastpath_ports.c): port reads answered without Python.

Every guest IN and OUT goes through the C hooks registered here (they replace the Python
`UC_HOOK_INSN` hooks the core used to register).  A one-byte access is answered in C when the
device owning the port has published that reading it changes nothing (the UART's LSR, MSR,
IIR, LCR, MCR, IER, SCR and divisor latch; port 0x70 reads), or for the MC146818 whose index,
RAM and time base live in the native struct (`Cmos.attach_native`): OUT 0x70 stores the index,
IN 0x71 reads a RAM byte, register A (UIP from the exact cycle), register C while it is 0 with
IRQ8 low, or a time register (computed from the exact cycle as devices/cmos.py does); and
the VGA's input status 1 (0x3DA in colour mode: retrace bits from the exact cycle, resetting
the attribute flip-flop, which lives in the native struct while the VGA is attached); and
system control port B (IN 0x61: the refresh toggle and PIT channel 2's OUT from the exact
cycle, from the channel-2 state devices/pit.py publishes after every change).
Anything else calls the core's Python handlers, exactly as before.

Exactness: a native answer charges nothing itself (an IN/OUT's cycles are in its block's
price, charged by the block callback either way) and returns the value the device would
return, at the same cycle: time-dependent answers use block_base + the instruction's prefix,
the same figure `Pricer.exact_now` computes.  Unicorn syncs EIP before calling an IN/OUT hook
(cpu_restore_state in softmmu/ioport.c), so the C hook reads the same EIP the Python one did.
The exception (Unicorn 2.1.4 uc.c/tcg-runtime.c): after a host write of EIP inside emu_start
(a hook that skips or redirects an instruction) `skip_sync_pc_on_exit` stays set until the
translation loop exits, and until then IN/OUT hooks see a stale EIP.  That is why the run is
stopped after such hooks (emu/special.py's comment on segment loads: OUTs stamped with their
block's start cycle); the native path keeps those stops and, should a stale EIP still reach it,
looks the instruction up by that same EIP as `exact_now` does (or hands the access to Python),
so both paths give the same cycle.

Observers: `Bus.observe_io` observers see the accesses that reach the bus.  Ports an observer
asked for (`ports=`; all ports when it gave none, as `--trace-io` does) are handed back to
Python while it is subscribed, so it still sees every access of them.  `disable()` switches the
native answers off altogether (tests compare runs with and without).
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Sequence

from unicorn.unicorn_py3 import unicorn as _ucpy
from unicorn.unicorn_const import UC_HOOK_INSN
from unicorn.x86_const import UC_X86_INS_CPUID, UC_X86_INS_IN, UC_X86_INS_OUT

from ..devices.base.errors import BareflowError
from .fastpath import FastPath, bind

PR_PYTHON, PR_VALUE, PR_CMOS_DATA, PR_VGA_STATUS, PR_PORT61 = 0, 1, 2, 3, 4
PW_PYTHON, PW_CMOS_INDEX, PW_PIC, PW_IGNORE = 0, 1, 2, 3


class _Ports(ctypes.Structure):
    """Mirror of the public head of `fp_ports` in fastpath_ports.c (same order)."""

    _fields_ = [
        ("enabled", ctypes.c_uint32),
        ("cs_valid", ctypes.c_uint32),
        ("cs_sel", ctypes.c_uint32),
        ("cs_base", ctypes.c_uint32),
        ("native_in", ctypes.c_uint64),
        ("native_out", ctypes.c_uint64),
        ("python_in", ctypes.c_uint64),
        ("python_out", ctypes.c_uint64),
        ("cmos_index", ctypes.c_uint32),
        ("cmos_nmi", ctypes.c_uint32),
        ("cmos_base_seconds", ctypes.c_int64),
        ("cmos_base_cycle", ctypes.c_uint64),
        ("cmos_frozen", ctypes.c_int64),
        ("cmos_frozen_valid", ctypes.c_uint32),
        ("cmos_irq_level", ctypes.c_uint32),
        ("cmos_hz", ctypes.c_uint64),
        ("cmos_uip_cycles", ctypes.c_uint64),
        ("cmos_ram", ctypes.c_uint8 * 128),
        ("cmos_kind", ctypes.c_uint8 * 128),
        ("vga_flip", ctypes.c_uint32),
        ("vga_misc", ctypes.c_uint32),
        ("vga_frame", ctypes.c_uint64),
        ("vga_line", ctypes.c_uint64),
        ("vga_vfirst", ctypes.c_uint32),
        ("vga_vlast", ctypes.c_uint32),
        ("vga_visible", ctypes.c_uint32),
        ("vga_pad", ctypes.c_uint32),
        ("p61_valid", ctypes.c_uint32),
        ("p61_low", ctypes.c_uint32),
        ("p61_mode", ctypes.c_uint32),
        ("p61_count", ctypes.c_uint32),
        ("p61_load_cycle", ctypes.c_uint64),
        ("p61_cpu_hz", ctypes.c_uint64),
        ("p61_pit_hz", ctypes.c_uint64),
        ("p61_refresh", ctypes.c_uint64),
        ("rkind", ctypes.c_uint8 * 65536),
        ("rval", ctypes.c_uint8 * 65536),
        ("wkind", ctypes.c_uint8 * 65536),
    ]


#: ports whose writes the C hook drops when no device claims them when the board is wired (the
#: POST / delay port; QEMU's i440FX has a dummy there that ignores writes)
IGNORED_IF_UNCLAIMED = (0x80,)

IN_FN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)
OUT_FN = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)
CPUID_FN = ctypes.CFUNCTYPE(ctypes.c_int)
def _lib() -> ctypes.CDLL:
    u64, u32, vp, sz = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t
    return bind("fpp", {
        "fpp_new": (vp, [vp]),
        "fpp_free": (None, [vp]),
        "fpp_set_python": (None, [vp, vp, vp]),
        "fpp_in_hook_ptr": (vp, []),
        "fpp_out_hook_ptr": (vp, []),
        "fpp_state_size": (sz, []),
        "fpp_layout": (sz, [ctypes.POINTER(sz), sz]),
        "fpp_cmos_time_at": (ctypes.c_int, [vp, u32, u64, ctypes.POINTER(u32)]),
        "fpp_port61_at": (ctypes.c_int, [vp, u64, ctypes.POINTER(u32)]),
        "fpp_set_cpuid": (None, [vp, vp]),
        "fpp_cpuid_hook_ptr": (vp, []),
    }, _Ports, "the native port path", "emu/fastports.py")


class NativePorts:
    """The native IN/OUT hooks of one engine, and the table devices publish into
    (devices/base/native.py is the devices' view of it)."""

    def __init__(self, uc: Any, fast: FastPath, py_in: Callable[[int, int], int],
                 py_out: Callable[[int, int, int], None]) -> None:
        lib = _lib()
        self._lib = lib
        self._state = lib.fpp_new(fast._state)
        if not self._state:
            raise MemoryError("fpp_new failed")
        self._fast = fast        # the fp_state the C side reads must outlive this struct
        self.h = _Ports.from_address(self._state)
        self._uc = uc

        def on_in(port: int, size: int) -> int:
            try:
                if self.before_python is not None:
                    self.before_python(port, False)
                return py_in(port, size)
            except BaseException as exc:   # never unwind through C: stop, as the binding does
                self._hook_failed(exc)
                return 0

        def on_out(port: int, size: int, value: int) -> None:
            try:
                if self.before_python is not None:
                    self.before_python(port, True)
                py_out(port, size, value)
            except BaseException as exc:
                self._hook_failed(exc)

        #: called before an access goes to Python (emu/fastpic.py settles the native tick)
        self.before_python: Callable[[int, bool], None] | None = None
        self._in_cb = IN_FN(on_in)       # keep references: C holds the pointers
        self._out_cb = OUT_FN(on_out)
        lib.fpp_set_python(self._state, ctypes.cast(self._in_cb, ctypes.c_void_p),
                           ctypes.cast(self._out_cb, ctypes.c_void_p))
        #: what the devices published, per port: (kind, value) for reads, kind for writes
        self._reads: dict[int, tuple[int, int]] = {}
        self._writes: dict[int, int] = {}
        self._blocked: frozenset[int] | None = frozenset()   # None: every port goes to Python
        self._forced: frozenset[int] = frozenset()   # ports whose writes the tables send to Python now
        self._forced_r: frozenset[int] = frozenset()   # ... and whose reads
        self._wanted = True
        self._held = False
        self._hooks: list[ctypes.c_size_t] = []
        self._add_hook(UC_X86_INS_IN, lib.fpp_in_hook_ptr())
        self._add_hook(UC_X86_INS_OUT, lib.fpp_out_hook_ptr())
        self._apply_enabled()

    def hook_cpuid(self, on_cpuid: Callable[[], int]) -> None:
        """Take over the CPUID hook (emu/cpuid.py `CpuidHook.go_native`): leaves whose answer
        is always the engine's are left to it in C; the others call `on_cpuid` (1: skip the
        engine's CPUID, the registers are written).  Switched off, every leaf calls it."""
        def cb() -> int:
            try:
                return on_cpuid()
            except BaseException as exc:
                self._hook_failed(exc)
                return 0

        self._cpuid_cb = CPUID_FN(cb)
        self._lib.fpp_set_cpuid(self._state, ctypes.cast(self._cpuid_cb, ctypes.c_void_p))
        self._add_hook(UC_X86_INS_CPUID, self._lib.fpp_cpuid_hook_ptr())

    def _add_hook(self, insn: int, fnptr: int) -> None:
        handle = ctypes.c_size_t()
        err = _ucpy.uclib.uc_hook_add(self._uc._uch, ctypes.byref(handle), ctypes.c_int(UC_HOOK_INSN),
                                      ctypes.c_void_p(fnptr), ctypes.c_void_p(self._state),
                                      ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(insn))
        if err != 0:
            raise BareflowError(f"uc_hook_add failed with Unicorn error {err}")
        self._hooks.append(handle)

    def _hook_failed(self, exc: BaseException) -> None:
        """What the Unicorn binding does with an exception in a Python hook: remember the first
        one, stop the engine; `Uc.emu_start` raises it when it returns."""
        if getattr(self._uc, "_hook_exception", None) is None:
            self._uc._hook_exception = exc
        self._uc.emu_stop()

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.fpp_free(state)

    # ------------------------------------------------------------------ switches
    @property
    def enabled(self) -> bool:
        return bool(self.h.enabled)

    def enable(self, on: bool = True) -> None:
        """Switch native answers on or off (off: every access goes to Python, as before)."""
        self._wanted = bool(on)
        self._apply_enabled()

    def disable(self) -> None:
        self.enable(False)

    def _apply_enabled(self) -> None:
        self.h.enabled = 1 if self._wanted and self._blocked is not None and not self._held else 0

    def hold(self) -> None:
        """Send every access to Python until `release`: an event was scheduled, inside a slice,
        by Python code that does not re-arm the deadline (the I/O, MMIO and BIOS paths do, in
        `Core._after_io`).  The next IN/OUT then re-arms it exactly where it did before the
        native path existed, so the event fires at the same cycle."""
        self._held = True
        self.h.enabled = 0

    def release(self) -> None:
        if self._held:
            self._held = False
            self._apply_enabled()

    def observed(self, ports: frozenset[int] | None, read_ports: frozenset[int] | None = None) -> None:
        """The bus's observers need every write of `ports` (None: of all ports) and every read
        of `read_ports` (a subset; by default the same ports)."""
        self._blocked = ports
        self._apply_enabled()
        if ports is None:
            return          # switched off altogether; the tables keep what they hold
        read_ports = ports if read_ports is None else read_ports
        stale = self._forced | self._forced_r | ports
        self._forced, self._forced_r = ports, read_ports
        for port in stale:
            self._store_read(port)
            self._store_write(port)

    def counts(self) -> dict[str, int]:
        h = self.h
        return {"native_in": h.native_in, "native_out": h.native_out,
                "python_in": h.python_in, "python_out": h.python_out}

    # ------------------------------------------------------------------ CPU state
    def cs_cache(self, cached: tuple[int, int] | None) -> None:
        """Python's protected-mode CS cache (emu/cpu.py linear_pc): the C side uses the same
        (selector, base) pair, and nothing when Python has none."""
        h = self.h
        if cached is None:
            h.cs_valid = 0
        else:
            h.cs_sel, h.cs_base = cached[0] & 0xFFFF, cached[1] & 0xFFFFFFFF
            h.cs_valid = 1

    # ------------------------------------------------------------------ devices publish
    def publish_reads(self, base: int, values: Sequence[int | None]) -> None:
        reads = self._reads
        for i, v in enumerate(values):
            port = base + i
            reads[port] = (PR_PYTHON, 0) if v is None else (PR_VALUE, v & 0xFF)
            self._store_read(port)

    def cmos_cell(self, index_port: int, data_port: int, kinds: bytes) -> _Ports:
        h = self.h
        ctypes.memmove(ctypes.addressof(h.cmos_kind), bytes(kinds[:128]).ljust(128, b"\0"), 128)
        self._reads[data_port] = (PR_CMOS_DATA, 0)
        self._reads[index_port] = (PR_VALUE, 0xFF)    # the index register is write-only
        self._writes[index_port] = PW_CMOS_INDEX
        for port in (index_port, data_port):
            self._store_read(port)
            self._store_write(port)
        return h

    def vga_cell(self, status_port: int) -> _Ports:
        self._reads[status_port] = (PR_VGA_STATUS, 0)
        self._store_read(status_port)
        return self.h

    def port61_cell(self, port: int) -> _Ports:
        """Attach the PIT's port B: IN `port` answered from the p61_* fields it publishes."""
        self._reads[port] = (PR_PORT61, 0)
        self._store_read(port)
        return self.h

    def ignore_writes(self, port: int, ignore: bool = True) -> None:
        """OUT `port` (any size) is dropped in C while no device claims the port, as the bus
        would drop it (devices/bus.py io_write).  Linux and BIOS delay loops write the POST
        port 0x80 tens of thousands of times."""
        if ignore:
            self._writes[port] = PW_IGNORE
        else:
            self._writes.pop(port, None)
        self._store_write(port)

    def pic_command_ports(self, ports: Sequence[int]) -> None:
        """The 8259's command ports: an OCW2 EOI written there is done in C on the registers
        the native idle tick's struct holds (emu/fastpath_pic.c fpic_out), unless observed."""
        for port in ports:
            self._writes[port] = PW_PIC
            self._store_write(port)

    def _store_read(self, port: int) -> None:
        kind, value = self._reads.get(port, (PR_PYTHON, 0))
        if port in self._forced_r:
            kind = PR_PYTHON
        h = self.h
        h.rval[port] = value
        h.rkind[port] = kind

    def _store_write(self, port: int) -> None:
        kind = self._writes.get(port, PW_PYTHON)
        if port in self._forced:
            kind = PW_PYTHON
        self.h.wkind[port] = kind

    def cmos_time_at(self, index: int, now: int) -> int | None:
        """The native answer for a CMOS time register at cycle `now` (tests)."""
        out = ctypes.c_uint32()
        return out.value if self._lib.fpp_cmos_time_at(self._state, index, now, ctypes.byref(out)) else None


    def port61_at(self, now: int) -> int | None:
        """The native answer for IN 0x61 at cycle `now` (tests), None if Python would answer."""
        out = ctypes.c_uint32()
        return out.value if self._lib.fpp_port61_at(self._state, now, ctypes.byref(out)) else None


def attach_devices(ports: NativePorts, board: Any, cpu: Any) -> None:
    """Wire a board to the native port path: each device that can publish (`attach_native`)
    does, the bus's observers keep their ports in Python, and the CPU's CS cache is shared."""
    for dev in board.devices.values():
        attach = getattr(dev, "attach_native", None)
        if attach is not None:
            attach(ports)
    bus = board.bus

    def refresh() -> None:       # observers or the port map changed
        for port in IGNORED_IF_UNCLAIMED:
            ports.ignore_writes(port, bus.device_at(port) is None)
        ports.observed(bus.observed_ports(), bus.observed_ports(reads=True))
    bus.on_observe_change.append(refresh)
    refresh()
    cpu.cs_cache_listener = ports.cs_cache


def hold_if_unarmed(ports: NativePorts, core: Any) -> Callable[[int], None]:
    """A clock schedule listener for a core: an event scheduled outside an I/O access (where
    `_after_io` re-arms the deadline) and earlier than the armed deadline holds the native
    answers until the deadline is armed again (the next Python IN/OUT, the next slice)."""
    fast_h = core.fast.h

    def on_schedule(cycle: int) -> None:
        if core._io_now is None and cycle < fast_h.deadline:
            ports.hold()
    return on_schedule
