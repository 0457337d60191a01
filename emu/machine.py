"""The PC: Unicorn's CPU, the native clock, the devices, the BIOS, and the run loop.

Everything a front end needs (the headless CLI, the TUI, the debugger) goes through
`Machine`: run / pause / step / breakpoints, state reads, input, snapshots.  The guest runs in
`emu_start` slices that end only when something needs Python: a device event is due (the
native block callback stops the engine at the clock's next deadline), an interrupt can be
delivered, the guest halts, a breakpoint or a pause request.  See docs/architecture.md.
"""
from __future__ import annotations

import ctypes
import dataclasses
import enum
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import capstone
from unicorn import (UC_ARCH_X86, UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INTR, UC_HOOK_MEM_FETCH_UNMAPPED,
                     UC_HOOK_MEM_READ_UNMAPPED, UC_HOOK_MEM_WRITE_UNMAPPED, UC_MODE_32, UC_PROT_ALL, Uc, UcError)
from unicorn import x86_const as X
from unicorn.unicorn_const import UC_ERR_INSN_INVALID

from ..devices.bus import Bus
from .clock import CPU_HZ, Clock
from .costs import BlockCost, CostModel
from .cpu import IF, Cpu, decode_descriptor
from .errors import BadArgument, BadImage
from .fastpath import STOP_DEADLINE, STOP_IRQ_WINDOW, STOP_MISS_ERROR, FastPath
from .interrupts import (EXCEPTION_NAMES, Delivered, DeliveryFault, TripleFault,
                         deliver_with_escalation)
from .machine_devices import build_devices, map_board_mmio, post_board
from .pricecache import PriceCache
from .quirks import forget_last_exception
from .special import SpecialInsns

HMA = 0x100000
HMA_SIZE = 0x10000


class StopReason(enum.Enum):
    PAUSED = "paused"
    BREAKPOINT = "breakpoint"
    STEP = "step"
    HALTED = "halted"              # HLT with interrupts off: nothing can wake the CPU
    IDLE = "idle"                  # HLT with interrupts on, but no event and no input can ever come
    POWER_OFF = "powered off"
    RESET = "reset"                # the guest asked for a reset (-no-reboot: we stop)
    TRIPLE_FAULT = "triple fault"
    CYCLE_LIMIT = "cycle limit"
    GUEST_ERROR = "guest error"    # unmapped memory, an instruction Unicorn cannot run


@dataclass
class MachineConfig:
    image: str | Path
    memory_mb: int = 64
    symbols: str | Path | None = None      # None: look for an ELF beside the image
    trace: Any = None                      # a TraceSink (emu/trace.py) or None
    trace_io: bool = False
    trace_insns: tuple[int, int] | None = None
    boot_drive: int = 0x80
    auto_symbols: bool = True
    extra_symbols: list[str | Path] = field(default_factory=list)
    #: False runs the guest with no block hook at all: no cycle clock, no profile, timers never
    #: fire.  Only the benchmark uses it, as the "unhooked Unicorn" reference on the same work.
    accounting: bool = True


class Machine:
    """One emulated PC.  Not thread-safe except where a method says so."""

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.image_path = Path(config.image)
        self.disk_bytes = _read_image(self.image_path)
        if not 2 <= config.memory_mb <= 3072:
            raise BadArgument(f"--memory {config.memory_mb}: must be between 2 and 3072 MiB")
        self.memory_bytes = config.memory_mb * 1024 * 1024
        self.trace = config.trace
        #: Callables fed every architectural event as (kind, cycle, icount, fields), like the
        #: trace file but in memory (the boot journey listens here; see docs/journey.md).
        self.observers: list[Callable[[str, int, int, dict[str, Any]], None]] = []
        self.on_serial: list[Callable[[int], None]] = []
        self.serial_out = bytearray()
        self.debugcon_out = bytearray()
        self.state = "paused"
        self.stop_message = ""
        self.exit_status: int | None = None
        self.powered_off = False
        self.last_fault: dict[str, Any] | None = None
        self.wall_seconds = 0.0
        self.cpu_seconds = 0.0   # host CPU time in run(): steadier than wall time on a busy machine
        self._pace_origin: tuple[float, int] | None = None
        self._input: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.input_log: list[tuple[int, str, Any]] = []
        self._wake = threading.Event()
        self._pause = False
        self._stop: StopReason | None = None
        self._halted = False
        self._io_now: int | None = None
        self.breakpoints: set[int] = set()
        self._bp_hooks: dict[int, int] = {}
        self._skip_bp: int | None = None
        self._pending_retranslate: list[tuple[int, int]] = []
        self._insn_window_hook: int | None = None
        self._bios_wait = False
        self._mode_check = False
        self.last_stop: StopReason | None = None
        self.recent: list[tuple[int, str]] = []   # ring of recent (pc, text) for fault reports
        # watchpoints (the GDB stub's Z2/Z3/Z4): see add_watchpoint
        self._watch_hooks: dict[tuple[int, int, str], int] = {}
        self._watch_pending: tuple[str, int, int] | None = None
        self._watch_undo: list[tuple[int, bytes]] = []
        self._watch_mute = False
        self.watch_hit: tuple[str, int, int] | None = None   # (kind, address, pc) of the last hit
        self._symbols_from_config()
        self._build()

    # ------------------------------------------------------------------ construction
    def _symbols_from_config(self) -> None:
        from .symbols import SymbolError, SymbolTable
        self.symbols = None
        paths: list[Path] = []
        if self.config.symbols:
            paths.append(Path(self.config.symbols))
        elif self.config.auto_symbols:
            found = SymbolTable.find_beside(self.image_path)
            if found is not None:
                paths.append(found)
        paths += [Path(p) for p in self.config.extra_symbols]
        for p in paths:
            try:
                table = SymbolTable.from_elf(p)
            except SymbolError as exc:
                if self.config.symbols and Path(self.config.symbols) == p:
                    raise BadArgument(f"--symbols {p}: {exc}") from None
                continue
            self.symbols = table if self.symbols is None else self.symbols.merge(table)

    def _build(self) -> None:
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.ctl_set_cpu_model(X.UC_CPU_X86_QEMU32)
        self.uc = uc
        self._ram = bytearray(self.memory_bytes)
        self._ram_c = (ctypes.c_char * self.memory_bytes).from_buffer(self._ram)
        self._ram_addr = ctypes.addressof(self._ram_c)
        uc.mem_map_ptr(0, HMA, UC_PROT_ALL, self._ram_addr)
        uc.mem_map_ptr(HMA + HMA_SIZE, self.memory_bytes - HMA - HMA_SIZE, UC_PROT_ALL,
                       self._ram_addr + HMA + HMA_SIZE)
        self._a20 = True
        uc.mem_map_ptr(HMA, HMA_SIZE, UC_PROT_ALL, self._ram_addr + HMA)
        self.cpu = Cpu(uc, write_hook=self._host_wrote)
        self.cpu.ram = self._ram
        self.clock = Clock(self._now)
        self.costs = CostModel()
        self._prices = PriceCache.shared()
        self._blocks: dict[tuple[int, int], BlockCost] = {}
        self._code_pages: set[int] = set()   # 4 KiB pages holding blocks we have priced
        self._io_prefix: dict[tuple[int, int], dict[int, int]] = {}
        self._func_names: list[str] = [f.name for f in self.symbols.functions] if self.symbols else []
        self._pseudo: dict[str, int] = {}
        self.fast = FastPath(uc, self._on_miss, nfuncs=len(self._func_names) + 64,
                             block_hook=self.config.accounting)
        self.bus = Bus()
        self.devices = build_devices(self)
        map_board_mmio(self)                  # issue 10: LAPIC, I/O APIC (until the board lands)
        self.intc = self.devices["lapic"]     # the CPU's interrupt input: LAPIC (+8259 via LINT0)
        from .bios import Bios
        from .bios.disk import Disk
        self.disk = Disk(self.disk_bytes)
        self.bios = Bios(bus=self.bus, clock=self.clock, disk=self.disk, memory_bytes=self.memory_bytes,
                         boot_drive=self.config.boot_drive, a20_get=lambda: self._a20, a20_set=self.set_a20,
                         trace=self._bios_trace)
        self.special = SpecialInsns(self)
        from .cpuid import CpuidHook          # qemu32 as QEMU 7.2 answers CPUID (issue 10)
        self.cpuid_hook = CpuidHook(uc, apic=self.devices["lapic"])
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._cs16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_INSN, self._on_in, None, 1, 0, X.UC_X86_INS_IN)
        uc.hook_add(UC_HOOK_INSN, self._on_out, None, 1, 0, X.UC_X86_INS_OUT)
        lo, hi = self.bios.stub_range
        uc.hook_add(UC_HOOK_CODE, self._on_stub, None, lo, hi - 1)
        uc.hook_add(UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED,
                    self._on_unmapped)
        if self.config.trace_io and self.trace:
            self.bus.on_io = lambda d, port, size, value: self._emit("io", dir=d, port=port, size=size, value=value)
        self._power_on()

    def _power_on(self) -> None:
        """Reset the CPU and devices, run the BIOS's POST, load the boot sector."""
        ctypes.memset(self._ram_addr, 0, self.memory_bytes)
        self.uc.ctl_flush_tb()
        self.fast.clear()
        self.fast.reset_counters()
        self._blocks.clear()
        self._io_prefix.clear()
        self.set_a20(True)
        self.bus.reset()
        self.cpu.forget_cs()
        self.cpu.set("cr0", 0x10)
        for seg in ("ds", "es", "ss", "fs", "gs", "cs"):
            self.cpu.set(seg, 0)
        # the CPU's reset values: the real-mode IVT is the IDT at 0 with limit 0x3FF
        self.uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
        self.uc.reg_write(X.UC_X86_REG_GDTR, (0, 0, 0xFFFF, 0))
        self.bios.install(self.cpu)
        self.bios.post()
        post_board(self)                      # issue 10: LAPIC set-up, firmware tables
        self.bios.boot(self.cpu)   # raises BadImage-like BootError for images it cannot boot
        self._halted = False
        self._stop = None
        self.state = "paused"
        self.exit_status = None
        self.powered_off = False
        self.stop_message = ""
        self.serial_out.clear()
        self._emit("boot", cs=self.cpu.get("cs"), eip=self.cpu.get("eip"), dl=self.cpu.get("dl"))

    def reset(self) -> None:
        """Power-cycle the machine (same image, same breakpoints)."""
        self._power_on()

    # ------------------------------------------------------------------ time
    def _now(self) -> int:
        if self._io_now is not None:
            return self._io_now
        return self.fast.h.cycles

    @property
    def cycles(self) -> int:
        return self.fast.h.cycles

    @property
    def instructions(self) -> int:
        return self.fast.h.instructions

    @property
    def seconds(self) -> float:
        """Emulated time."""
        return self.fast.h.cycles / CPU_HZ

    def _exact_now(self) -> int:
        """Cycle count exactly at the instruction being executed (inside a hook)."""
        cur = self.fast.current_block()
        base = self.fast.h.block_base
        if cur is None:
            return self.fast.h.cycles
        pc, size, _ = cur
        prefixes = self._io_prefix.get((pc, size))
        if prefixes:
            p = prefixes.get(self.cpu.linear_pc())
            if p is not None:
                return base + p
        bc = self._blocks.get((pc, size))
        if bc is None:
            return self.fast.h.cycles
        lin = self.cpu.linear_pc()
        try:
            return base + bc.prefix[bc.insn_addrs.index(lin)]
        except ValueError:
            return self.fast.h.cycles

    # ------------------------------------------------------------------ hooks
    def _on_miss(self, pc: int, size: int) -> bool:
        """First execution of a (pc, size) block: price it, find its function, note specials."""
        code = bytes(self.uc.mem_read(pc, size))
        mode32 = self.cpu.code32()
        protected = self.cpu.protected
        key = (pc, code, mode32, protected)
        cached = self._prices.get(key)
        if cached is not None:
            fields, watched, may_set_if = cached
            bc = BlockCost(*fields)
        else:
            bc = self.costs.block(code, pc, mode32, protected=protected)
            watched, may_set_if = self.special.classify(code, pc, mode32)
            self._prices.put(key, (dataclasses.astuple(bc), watched, may_set_if))
        self._blocks[(pc, size)] = bc
        self._code_pages.update(range(pc >> 12, ((pc + size - 1) >> 12) + 1))
        if bc.io_addrs or bc.rdtsc_addrs:
            self._io_prefix[(pc, size)] = {a: bc.prefix[bc.insn_addrs.index(a)]
                                           for a in bc.io_addrs + bc.rdtsc_addrs if a in bc.insn_addrs}
        func = self._func_index(pc)
        rdtsc = [(a - pc, bc.prefix[bc.insn_addrs.index(a)]) for a in bc.rdtsc_addrs if a in bc.insn_addrs]
        first = bc.prefix[1] if bc.n_insns > 1 else bc.total
        needs_hooks = self.special.watch(watched)
        self.fast.insert(pc, size, bc.total, first, bc.n_insns, bc.taken_extra, bc.branch_target,
                         bc.fallthrough, func, bc.ends_with, rdtsc, may_set_if)
        if needs_hooks:
            # this block holds instructions we watch (CR writes, LGDT...): retranslate it with the
            # hooks compiled in, before it runs
            self._pending_retranslate.append((pc, pc + size))
            return False
        return True

    def _func_index(self, pc: int) -> int:
        if self.symbols is not None:
            idx = self.symbols.index_of(pc)
            if idx >= 0:
                return idx
        lo, hi = self.bios.stub_range
        if lo <= pc < hi:
            name = "[bios]"
        elif 0x7C00 <= pc < 0x7E00:
            name = "[boot sector]"
        else:
            name = f"[code {pc & ~0xFFF:#010x}]"
        idx = self._pseudo.get(name)
        if idx is None:
            idx = len(self._func_names)
            self._func_names.append(name)
            self._pseudo[name] = idx
            self.fast.ensure_funcs(idx + 1)
        return idx

    def _host_wrote(self, addr: int, n: int) -> None:
        """Python wrote guest memory (disk read, BIOS): drop translated code and prices there.

        Only pages that hold code we have run can hold stale translations (every executed block
        is priced first), so writes elsewhere (the BIOS's disk bounce buffer...) cost nothing."""
        if n <= 0:
            return
        lo = addr & ~0xFFF
        hi = (addr + n + 0xFFF) & ~0xFFF
        if not self.config.accounting:
            self.uc.ctl_remove_cache(lo, hi)
            return
        pages = self._code_pages
        if not any(p in pages for p in range(lo >> 12, hi >> 12)):
            return
        self.fast.invalidate(lo, hi)
        for key in [k for k in self._blocks if k[0] < hi and k[0] + k[1] > lo]:
            del self._blocks[key]
            self._io_prefix.pop(key, None)
        self.uc.ctl_remove_cache(lo, hi)

    def _on_in(self, uc, port: int, size: int, _ud) -> int:
        self._io_now = self._exact_now()
        try:
            return self.bus.io_read(port, size)
        finally:
            self._io_now = None
            self._after_io()

    def _on_out(self, uc, port: int, size: int, value: int, _ud) -> None:
        self._io_now = self._exact_now()
        try:
            self.bus.io_write(port, size, value)
        finally:
            self._io_now = None
            self._after_io()

    def _after_io(self) -> None:
        """I/O may have raised an IRQ, scheduled an event earlier, or asked to stop."""
        deadline = self.clock.next_deadline()
        if self._stop is not None:
            self.fast.set_deadline(0)
        elif deadline is not None and deadline < self.fast.h.deadline:
            self.fast.set_deadline(deadline)

    def _on_stub(self, uc, address: int, size: int, _ud) -> None:
        vector = self.bios.vector_at(address)
        if vector is None:
            return
        self._io_now = self._exact_now()
        try:
            cost = self.bios.handle(vector, self.cpu)
        finally:
            self._io_now = None
        if cost is None:
            # the service waits for an event (a key): behave like `sti; hlt` and come back here
            self.fast.uncharge_current(0, 0)
            self._halted = True
            self.cpu.set("eflags", self.cpu.get("eflags") | IF)
            self._bios_wait = True
            uc.emu_stop()
            return
        if cost:
            self.fast.h.cycles += cost
        self._after_io()

    def _on_unmapped(self, uc, access: int, address: int, size: int, value: int, _ud) -> bool:
        from unicorn import UC_MEM_FETCH_UNMAPPED, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_UNMAPPED
        kind = {UC_MEM_FETCH_UNMAPPED: "executed", UC_MEM_READ_UNMAPPED: "read",
                UC_MEM_WRITE_UNMAPPED: "wrote"}.get(access, "touched")
        self._guest_error(f"the guest {kind} unmapped memory at {address:#010x}"
                          f" ({size} byte{'s' if size != 1 else ''}; RAM ends at {self.memory_bytes:#x}) "
                          f"at {self.where()}")
        return False

    def _on_intr(self, uc, intno: int, _ud) -> None:
        cpu = self.cpu
        eip = cpu.get("eip")
        lin = cpu.linear_pc()
        cur = self.fast.current_block()
        bc = self._blocks.get((cur[0], cur[1])) if cur else None
        software = bool(bc and bc.ends_with == "int" and lin == bc.fallthrough)
        if not software and bc is not None and lin in bc.insn_addrs:
            i = bc.insn_addrs.index(lin)
            self.fast.uncharge_current(i, bc.prefix[i])
        kind = "software" if software else "exception"
        error_code = None if software else self.special.error_code(intno)
        if not software:
            forget_last_exception(uc)
        self._deliver(intno, eip, kind, error_code)

    def _raise_exception(self, vector: int) -> None:
        """A fault Unicorn reported as an error: charge what retired, deliver it through the IDT."""
        lin = self.cpu.linear_pc()
        cur = self.fast.current_block()
        bc = self._blocks.get((cur[0], cur[1])) if cur else None
        if bc is not None and lin in bc.insn_addrs:
            i = bc.insn_addrs.index(lin)
            self.fast.uncharge_current(i, bc.prefix[i])
        self._deliver(vector, self.cpu.get("eip"), "exception", self.special.error_code(vector))

    def _deliver(self, vector: int, return_eip: int, kind: str, error_code: int | None) -> bool:
        """Deliver with escalation; on a triple fault stop the machine.  True if delivered."""
        start = self.fast.h.cycles
        self.cpu.forget_cs()
        from_cs = self.cpu.get("cs")
        try:
            chain = deliver_with_escalation(self.cpu, vector, return_eip, kind, error_code)
        except TripleFault as tf:
            self.last_fault = {"vector": vector, "kind": kind, "error_code": error_code, "why": tf.why,
                               "cs": from_cs, "eip": return_eip, "mode": self.cpu.mode}
            name = EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")
            self._emit("triple_fault", vector=vector, error_code=error_code, why=tf.why, cs=from_cs, eip=return_eip)
            self._finish(StopReason.TRIPLE_FAULT,
                         f"triple fault: {name} at {self.cpu.mode} mode {from_cs:#06x}:{return_eip:#010x} "
                         f"could not be delivered ({tf.why})")
            self.uc.emu_stop()
            return False
        for item in chain:
            if isinstance(item, DeliveryFault):
                self._emit("fault", vector=item.vector, error_code=item.error_code, why=item.why)
                self.last_fault = {"vector": item.vector, "why": item.why, "error_code": item.error_code}
            else:
                self._emit("interrupt", vector=item.vector, kind=item.kind, error_code=item.error_code,
                           cs=item.from_cs, eip=item.from_eip, to_cs=item.to_cs, to_eip=item.to_eip, gate=item.gate)
                if item.kind == "exception":
                    self.last_fault = {"vector": item.vector, "kind": item.kind, "error_code": item.error_code,
                                       "cs": item.from_cs, "eip": item.from_eip, "mode": self.cpu.mode}
        final = chain[-1]
        assert isinstance(final, Delivered)
        cost = self.costs.interrupt_cycles(self.cpu.protected, kind) if hasattr(self.costs, "interrupt_cycles") else 0
        if cost:
            self.fast.h.cycles += cost
        handler = self.cpu.linear_pc()
        self.fast.break_chain()
        self.fast.push_frame(_return_linear(self.cpu, final), self._func_index(handler), start)
        return True

    # ------------------------------------------------------------------ stopping
    def _finish(self, reason: StopReason, message: str = "") -> None:
        if self._stop is None or reason in (StopReason.TRIPLE_FAULT, StopReason.GUEST_ERROR):
            self._stop = reason
            self.stop_message = message
        self.fast.set_deadline(0)

    def _guest_error(self, message: str) -> None:
        self._finish(StopReason.GUEST_ERROR, message)

    def power_off(self, status: int) -> None:
        """Called by the debug-exit and ACPI devices.  The machine is off from this instruction
        on, as with QEMU's isa-debug-exit: what the rest of the block does is not seen."""
        if self.powered_off:
            return
        self.powered_off = True
        self.exit_status = status
        self._emit("power_off", status=status)
        self._finish(StopReason.POWER_OFF, f"powered off (status {status})")

    def request_reset(self, why: str) -> None:
        self._emit("reset_request", why=why)
        self._finish(StopReason.RESET, f"the guest asked for a reset ({why}); stopping as QEMU -no-reboot does")

    def request_pause(self) -> None:
        """Thread-safe: make run() return PAUSED at the next block boundary."""
        self._pause = True
        self.fast.set_deadline(0)
        self._wake.set()

    def set_a20(self, enabled: bool) -> None:
        """Gate address line 20: when off, 0x100000-0x10FFFF aliases 0x0-0xFFFF (the 8086 wrap)."""
        enabled = bool(enabled)
        if enabled == getattr(self, "_a20", None):
            return
        self.uc.mem_unmap(HMA, HMA_SIZE)
        self.uc.mem_map_ptr(HMA, HMA_SIZE, UC_PROT_ALL, self._ram_addr + (HMA if enabled else 0))
        self.uc.ctl_flush_tb()
        self._a20 = enabled
        if hasattr(self, "cpu"):
            self.cpu.hma_alias = not enabled
        self._emit("a20", enabled=enabled)

    @property
    def a20(self) -> bool:
        return self._a20

    # ------------------------------------------------------------------ input (thread-safe)
    def send_serial(self, data: bytes) -> None:
        self._input.put(("serial", bytes(data)))
        self.fast.set_deadline(0)
        self._wake.set()

    def type_text(self, text: str) -> None:
        self._input.put(("keys", text))
        self.fast.set_deadline(0)
        self._wake.set()

    def press_keys(self, codes: list[int]) -> None:
        """Raw set-1 scancodes (make and break), e.g. from the TUI."""
        self._input.put(("scancodes", list(codes)))
        self.fast.set_deadline(0)
        self._wake.set()

    def _drain_input(self) -> bool:
        got = False
        while True:
            try:
                kind, data = self._input.get_nowait()
            except queue.Empty:
                return got
            got = True
            self.input_log.append((self.cycles, kind, data))
            self._emit("input", source=kind, data=data if isinstance(data, str) else list(data)
                       if not isinstance(data, bytes) else data.decode("latin-1"))
            if kind == "serial":
                self.uart.feed(data)
            elif kind == "keys":
                self.kbd.type_text(data)
            elif kind == "scancodes":
                self.kbd.press_make_break(data)

    # ------------------------------------------------------------------ run loop
    def run(self, max_cycles: int | None = None, *, wait_for_input: bool = False) -> StopReason:
        """Run until something stops the guest.

        max_cycles: absolute cycle count at which to stop (CYCLE_LIMIT).
        wait_for_input: when the guest idles (HLT, nothing scheduled), block until input
        arrives (the TUI) instead of returning IDLE (headless runs).
        """
        self.state = "running"
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            return self._run(max_cycles, wait_for_input)
        finally:
            self.wall_seconds += time.perf_counter() - t0
            self.cpu_seconds += time.process_time() - c0
            if self.trace is not None:
                self.trace.flush()

    def _run(self, max_cycles: int | None, wait_for_input: bool) -> StopReason:
        fast, clock = self.fast, self.clock
        while True:
            if self._input_pending():
                self._drain_input()
            clock.run_due(fast.h.cycles)
            if self._mode_check:
                self.special.check_mode()
            if self._stop is not None:
                return self._stopped(self._stop)
            if self._pause:
                self._pause = False
                return self._stopped(StopReason.PAUSED)
            if max_cycles is not None and fast.h.cycles >= max_cycles:
                return self._stopped(StopReason.CYCLE_LIMIT,
                                     f"cycle limit reached ({max_cycles} cycles)")
            self._irq_check()
            if self._stop is not None:
                continue
            self._update_insn_window()     # may schedule the window's edge: before the deadline
            deadline = clock.next_deadline()
            if max_cycles is not None:
                deadline = max_cycles if deadline is None else min(deadline, max_cycles)
            if self._halted:
                if not self.cpu.get("eflags") & IF:
                    return self._stopped(StopReason.HALTED, self._halt_message())
                if deadline is None:
                    if wait_for_input:
                        self.state = "idle"
                        self._wake.wait(0.05)
                        self._wake.clear()
                        self.state = "running"
                        continue
                    return self._stopped(StopReason.IDLE, self._idle_message())
                if wait_for_input and self._pace_idle(deadline):
                    continue  # woken early by input or a pause: look again
                fast.h.cycles = max(fast.h.cycles, deadline)
                continue
            fast.set_deadline(deadline)
            if self._pause or not self._input.empty():
                fast.set_deadline(0)
            if self._pending_retranslate:
                self._apply_retranslate()
            self._emu_slice()

    def _pace_idle(self, deadline: int) -> bool:
        """Interactive runs: a halted guest waits in real time, so an idle kernel's clock (and
        its timer ticks) keep pace with the wall clock instead of racing ahead.  Compute is never
        slowed: only HLT time is paced.  True if woken early (input, pause)."""
        now = time.perf_counter()
        if self._pace_origin is None or self._pace_origin[1] > self.fast.h.cycles:
            self._pace_origin = (now, self.fast.h.cycles)
        wall0, cyc0 = self._pace_origin
        ahead = (deadline - cyc0) / CPU_HZ - (now - wall0)
        if ahead > 0.002:
            self.state = "idle"
            woken = self._wake.wait(min(ahead, 0.1))
            self._wake.clear()
            self.state = "running"
            return woken or ahead > 0.1
        if ahead < -0.25:  # far behind (we were computing): do not try to catch up later
            self._pace_origin = (now, self.fast.h.cycles)
        return False

    def _input_pending(self) -> bool:
        return not self._input.empty()

    def _emu_slice(self) -> None:
        fast = self.fast
        fast.h.stop_reason = 0
        self._bios_wait = False
        begin = self.cpu.get("eip")
        try:
            self.uc.emu_start(begin, 1 << 48)
        except UcError as exc:
            if exc.errno == UC_ERR_INSN_INVALID and self._stop is None:
                # QEMU's translator rejects the opcode: on a CPU that is #UD, delivered like any fault
                self._raise_exception(6)
                return
            if self._stop is None:
                self._guest_error(self._uc_error_message(exc))
            return
        if self._watch_pending is not None:
            self._finish_watched_insn()
        reason = fast.h.stop_reason
        if reason == STOP_MISS_ERROR:
            err = fast.miss_error
            fast.miss_error = None
            if err is not None:
                raise err
            if not self._pending_retranslate:
                self._guest_error("internal: a block could not be priced")
            return
        if reason == STOP_IRQ_WINDOW:
            if not self.cpu.get("eflags") & IF:
                fast.h.skip_window = 1
            return
        if reason == STOP_DEADLINE or self._stop is not None or self._bios_wait or self._pause:
            return
        if self._bp_hit is not None:
            return
        # emu_start returned by itself: the guest executed HLT
        lin = self.cpu.linear_pc()
        if bytes(self.uc.mem_read((lin - 1) & 0xFFFFFFFF, 1)) == b"\xf4":
            self._halted = True
            self._emit("hlt", eip=self.cpu.get("eip"), interrupts=bool(self.cpu.get("eflags") & IF))

    def _irq_check(self) -> None:
        """Deliver a pending hardware interrupt if IF allows it (between instructions)."""
        intc = self.intc
        pending = intc.intr_pending()
        if not pending:
            self.fast.h.irq_pending = 0
            return
        if not self.cpu.get("eflags") & IF:
            self.fast.h.irq_pending = 1
            return
        self.fast.h.irq_pending = 0
        vector = intc.acknowledge()
        if vector is None:                    # the request went away before INTA
            return
        self._halted = False
        self._deliver(vector, self.cpu.get("eip"), "hardware", None)

    def _apply_retranslate(self) -> None:
        self.special.install_pending()
        for lo, hi in self._pending_retranslate:
            self.uc.ctl_remove_cache(lo, hi)
        self._pending_retranslate.clear()

    def _stopped(self, reason: StopReason, message: str = "") -> StopReason:
        self.fast.set_deadline(None)
        if message and not self.stop_message:
            self.stop_message = message
        self.state = {StopReason.PAUSED: "paused", StopReason.BREAKPOINT: "paused", StopReason.STEP: "paused",
                      StopReason.CYCLE_LIMIT: "paused"}.get(reason, reason.value)
        self._stop = None if reason in (StopReason.PAUSED, StopReason.BREAKPOINT, StopReason.STEP,
                                        StopReason.CYCLE_LIMIT) else self._stop
        self._emit("stop", reason=reason.value, message=self.stop_message if reason == self._stop else message)
        self.last_stop = reason
        return reason

    _bp_hit: int | None = None

    # ------------------------------------------------------------------ messages
    def where(self) -> str:
        cpu = self.cpu
        pc = cpu.linear_pc()
        sym = f" ({self.symbols.format(pc)})" if self.symbols and self.symbols.lookup(pc) else ""
        return f"{cpu.mode} mode, CS:EIP={cpu.get('cs'):#06x}:{cpu.get('eip'):#010x}{sym}"

    def _halt_message(self) -> str:
        return f"the CPU halted with interrupts disabled at {self.where()}"

    def _idle_message(self) -> str:
        return (f"the CPU is halted with interrupts enabled but nothing is scheduled and no input is left, "
                f"at {self.where()}")

    def _uc_error_message(self, exc: UcError) -> str:
        return f"Unicorn could not execute the guest ({exc}) at {self.where()}"

    # ------------------------------------------------------------------ trace
    def _emit(self, _event: str, **fields: Any) -> None:
        if self.trace is None and not self.observers:
            return
        cycle = self.fast.h.cycles if hasattr(self, "fast") else 0
        icount = self.fast.h.instructions if hasattr(self, "fast") else 0
        if self.trace is not None:
            self.trace.emit(_event, cycle, icount, fields)
        for observer in self.observers:
            observer(_event, cycle, icount, fields)

    def _bios_trace(self, _event: str = "bios", **fields: Any) -> None:
        self._emit(_event, **fields)

    def _update_insn_window(self) -> None:
        window = self.config.trace_insns
        if window is None or self.trace is None:
            return
        start, end = window
        c = self.fast.h.cycles
        inside = start <= c < end
        if inside and self._insn_window_hook is None:
            self._insn_window_hook = self.uc.hook_add(UC_HOOK_CODE, self._on_trace_insn)
            self.uc.ctl_flush_tb()
        elif not inside and self._insn_window_hook is not None:
            self.uc.hook_del(self._insn_window_hook)
            self._insn_window_hook = None
            self.uc.ctl_flush_tb()
        # make sure we stop at the window's edges
        nd = self.clock.next_deadline()
        edge = start if c < start else end if c < end else None
        if edge is not None and (nd is None or edge < nd):
            self.clock.schedule(edge, lambda _c: None, "trace-insns window")

    def _on_trace_insn(self, uc, address: int, size: int, _ud) -> None:
        code = bytes(uc.mem_read(address, size))
        md = self._cs if self.cpu.code32() else self._cs16
        text = next((f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(code, address)), "(bad)")
        self._emit("insn", cycle_exact=self._exact_now(), address=address, bytes=code.hex(), text=text)

    # ------------------------------------------------------------------ state reads
    @property
    def pic(self):
        return self.devices["pic"]

    @property
    def uart(self):
        return self.devices["uart"]

    @property
    def kbd(self):
        return self.devices["ps2"]

    @property
    def vga(self):
        return self.devices["vga"]

    @property
    def keyboard(self) -> "Machine":
        """Thread-safe keyboard input (`type_text`, `press_keys`)."""
        return self

    def regs(self) -> dict[str, int]:
        return self.cpu.regs()

    @property
    def mode(self) -> str:
        return self.cpu.mode

    @property
    def cpl(self) -> int:
        return self.cpu.cpl

    @property
    def gdtr(self) -> tuple[int, int]:
        return self.cpu.table("gdtr")

    @property
    def idtr(self) -> tuple[int, int]:
        return self.cpu.table("idtr")

    def read_mem(self, addr: int, n: int) -> bytes:
        """Physical memory as the guest sees it (A20 applied); unmapped bytes read as 0xFF."""
        out = bytearray()
        for a in range(addr, addr + n):
            a &= 0xFFFFFFFF
            if HMA <= a < HMA + HMA_SIZE and not self._a20:
                a -= HMA
            out.append(self._ram[a] if a < self.memory_bytes else 0xFF)
        return bytes(out)

    def ram_view(self) -> memoryview:
        return memoryview(self._ram)

    def screen_bytes(self) -> bytes:
        """The 80x25 text screen (char, attribute pairs); safe to call while running."""
        return bytes(self._ram[0xB8000:0xB8000 + 4000])

    def cursor(self) -> tuple[int, int, bool]:
        return self.vga.cursor()[:3]

    def screen_text(self) -> str:
        data = self.screen_bytes()
        rows = []
        for r in range(25):
            line = data[r * 160:(r + 1) * 160:2]
            rows.append("".join(_CP437[b] for b in line).rstrip())
        while rows and not rows[-1]:
            rows.pop()
        return "\n".join(rows) + "\n"

    def disasm(self, addr: int, count: int = 8) -> list[tuple[int, bytes, str]]:
        md = self._cs if self.cpu.code32() else self._cs16
        code = self.read_mem(addr, count * 15)
        out = []
        for insn in md.disasm(code, addr):
            out.append((insn.address, bytes(insn.bytes), f"{insn.mnemonic} {insn.op_str}".strip()))
            if len(out) >= count:
                break
        return out

    def function_names(self) -> list[str]:
        return list(self._func_names)

    # ------------------------------------------------------------------ debugging
    def add_breakpoint(self, where: int | str) -> int:
        addr = self.resolve(where)
        if addr not in self._bp_hooks:
            self._bp_hooks[addr] = self.uc.hook_add(UC_HOOK_CODE, self._on_breakpoint, None, addr, addr)
            self.uc.ctl_remove_cache(addr & ~0xFFF, (addr & ~0xFFF) + 0x1000)
        self.breakpoints.add(addr)
        return addr

    def remove_breakpoint(self, where: int | str) -> None:
        addr = self.resolve(where)
        h = self._bp_hooks.pop(addr, None)
        if h is not None:
            self.uc.hook_del(h)
            self.uc.ctl_remove_cache(addr & ~0xFFF, (addr & ~0xFFF) + 0x1000)
        self.breakpoints.discard(addr)

    def resolve(self, where: int | str) -> int:
        if isinstance(where, int):
            return where
        text = where.strip()
        try:
            return int(text, 0)
        except ValueError:
            pass
        if self.symbols is None:
            raise BadArgument(f"unknown symbol '{text}': no ELF symbols loaded (use --symbols)")
        from .symbols import SymbolError
        try:
            return self.symbols.address_of(text)
        except SymbolError as exc:
            raise BadArgument(str(exc)) from None

    def _on_breakpoint(self, uc, address: int, size: int, _ud) -> None:
        if self._skip_bp == address:
            self._skip_bp = None
            return
        cur = self.fast.current_block()
        bc = self._blocks.get((cur[0], cur[1])) if cur else None
        if bc is not None and address in bc.insn_addrs:
            i = bc.insn_addrs.index(address)
            self.fast.uncharge_current(i, bc.prefix[i])
        self._bp_hit = address
        self._finish(StopReason.BREAKPOINT, f"breakpoint at {self.symbols.format(address) if self.symbols else hex(address)}")
        uc.emu_stop()

    def run_until_stop(self, max_cycles: int | None = None, wait_for_input: bool = False) -> StopReason:
        """run(), stepping over a breakpoint we are sitting on."""
        pc = self.cpu.linear_pc()
        if pc in self.breakpoints:
            self._skip_bp = pc
        self._bp_hit = None
        r = self.run(max_cycles, wait_for_input=wait_for_input)
        if r == StopReason.BREAKPOINT:
            self._stop = None
        self._bp_hit = None
        return r

    def step(self, deliver_irqs: bool = True) -> StopReason:
        """Execute exactly one guest instruction (interrupts due are delivered first, as on a CPU).

        deliver_irqs=False keeps hardware interrupts pending, as QEMU does while gdb single-steps,
        so that `stepi` does not land in a timer handler."""
        self.clock.run_due(self.cycles)
        if self._input_pending():
            self._drain_input()
        if deliver_irqs:
            self._irq_check()
        if self._halted:
            deadline = self.clock.next_deadline()
            if not self.cpu.get("eflags") & IF or deadline is None:
                return StopReason.HALTED
            self.fast.h.cycles = max(self.cycles, deadline)
            self.clock.run_due(self.cycles)
            self._irq_check()
            return StopReason.STEP
        pc = self.cpu.linear_pc()
        if pc in self.breakpoints:
            self._skip_bp = pc
        self.fast.h.step_mode = 1
        self.fast.set_deadline(None)   # one instruction: due events were run above
        self.fast.h.stop_reason = 0
        self._bios_wait = False
        try:
            if self._pending_retranslate:
                self._apply_retranslate()
            # a TB translated by an earlier run has no instruction counter compiled in: with it
            # count=1 is ignored and the "step" runs on through the cached chain (gdb stub engineer)
            lin = self.cpu.linear_pc()
            self.uc.ctl_remove_cache(lin, lin + 1)
            self.uc.emu_start(self.cpu.get("eip"), 1 << 48, count=1)
        except UcError as exc:
            self._guest_error(self._uc_error_message(exc))
        finally:
            self.fast.h.step_mode = 0
            self._skip_bp = None
        if self._watch_pending is not None:
            self._finish_watched_insn()
        if self.fast.h.stop_reason == STOP_MISS_ERROR and self._pending_retranslate:
            return self.step()
        if self._stop is not None and self._stop not in (StopReason.BREAKPOINT,):
            reason = self._stop
            return self._stopped(reason)
        self._stop = None
        lin = self.cpu.linear_pc()
        if bytes(self.uc.mem_read((lin - 1) & 0xFFFFFFFF, 1)) == b"\xf4" and lin == pc + 1:
            self._halted = True
        self.state = "paused"
        return StopReason.STEP

    def step_over(self) -> StopReason:
        """Step, but run a CALL (or INT) to its return address."""
        pc = self.cpu.linear_pc()
        insn = self.disasm(pc, 1)
        if insn and (insn[0][2].startswith("call") or insn[0][2].startswith("int ")):
            return self.run_to(pc + len(insn[0][1]))
        return self.step()

    def run_to(self, where: int | str, max_cycles: int | None = None) -> StopReason:
        addr = self.resolve(where)
        temp = addr not in self.breakpoints
        if temp:
            self.add_breakpoint(addr)
        try:
            return self.run_until_stop(max_cycles)
        finally:
            if temp:
                self.remove_breakpoint(addr)

    # ------------------------------------------------------------------ watchpoints (for emu/gdbstub.py)
    def add_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        """Stop with StopReason.BREAKPOINT and `watch_hit` set right after an instruction that
        writes ("write"), reads ("read") or touches ("access") [addr, addr+length), as an x86
        debug register traps after the access.  A Unicorn memory hook bounded to the range."""
        from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
        types = {"write": UC_HOOK_MEM_WRITE, "read": UC_HOOK_MEM_READ,
                 "access": UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}.get(kind)
        if types is None:
            raise BadArgument(f"watchpoint kind '{kind}': must be write, read or access")
        if length <= 0:
            raise BadArgument(f"watchpoint length {length}: must be positive")
        key = (addr & 0xFFFFFFFF, length, kind)
        if key not in self._watch_hooks:
            self._watch_hooks[key] = self.uc.hook_add(types, self._on_watch, kind, key[0], key[0] + length - 1)
            self.uc.ctl_flush_tb()

    def remove_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        h = self._watch_hooks.pop((addr & 0xFFFFFFFF, length, kind), None)
        if h is not None:
            self.uc.hook_del(h)
            self.uc.ctl_flush_tb()

    @property
    def watchpoints(self) -> list[tuple[int, int, str]]:
        return sorted(self._watch_hooks)

    def _on_watch(self, uc, access: int, address: int, size: int, value: int, kind: str) -> None:
        """Unicorn stops inside the instruction (registers at its start, a store already done),
        so remember what the stores overwrite; _finish_watched_insn undoes them and runs the
        instruction once more, whole, with the hooks muted."""
        if self._watch_mute:
            return
        from unicorn import UC_MEM_WRITE
        if access == UC_MEM_WRITE:
            self._watch_undo.append((address, bytes(uc.mem_read(address, size))))
        if self._watch_pending is not None:
            return
        pc = self.cpu.linear_pc()
        self._watch_pending = (kind, address, pc)
        cur = self.fast.current_block()
        bc = self._blocks.get((cur[0], cur[1])) if cur else None
        if bc is not None and pc in bc.insn_addrs:
            i = bc.insn_addrs.index(pc)
            self.fast.uncharge_current(i, bc.prefix[i])
        what = "written" if access == UC_MEM_WRITE else "read"
        self._finish(StopReason.BREAKPOINT, f"watchpoint: {address:#x} {what} by the instruction at {pc:#x}")
        uc.emu_stop()

    def _finish_watched_insn(self) -> None:
        for addr, old in reversed(self._watch_undo):
            self.uc.mem_write(addr, old)
        self._watch_undo.clear()
        hit, self._watch_pending = self._watch_pending, None
        self._watch_mute = True
        self._skip_bp = self.cpu.linear_pc()
        self.fast.h.step_mode = 1
        self.fast.set_deadline(None)       # _finish asked for a stop: not before this instruction
        try:
            # a TB translated by an earlier run has no instruction counter compiled in: with it
            # count=1 is ignored and the "step" runs on through the cached chain (gdb stub engineer)
            lin = self.cpu.linear_pc()
            self.uc.ctl_remove_cache(lin, lin + 1)
            self.uc.emu_start(self.cpu.get("eip"), 1 << 48, count=1)
        except UcError as exc:
            self._guest_error(self._uc_error_message(exc))
        finally:
            self.fast.h.step_mode = 0
            self.fast.set_deadline(0)
            self._watch_mute = False
            self._skip_bp = None
        self.watch_hit = hit

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> "Snapshot":
        """Everything needed to come back to this exact point (the clock is deterministic, so
        running on from a restored snapshot replays the same instructions and cycles)."""
        names = self.function_names()
        excl, incl, calls = self.fast.func_counters(len(names))
        return Snapshot(
            cycles=self.cycles, instructions=self.instructions,
            context=self.uc.context_save(), ram=bytes(self._ram), a20=self._a20,
            devices={name: dev.state() for name, dev in self.devices.items()},
            halted=self._halted, serial_len=len(self.serial_out), debugcon_len=len(self.debugcon_out),
            func_counters=(list(excl), list(incl), list(calls)), func_names=names,
            input_log_len=len(self.input_log), bios=self.bios.state() if hasattr(self.bios, "state") else None,
        )

    def restore(self, snap: "Snapshot") -> None:
        """Return to a snapshot taken on this machine (only while not running)."""
        self.fast.flush_frames()
        self._ram[:] = snap.ram
        self.set_a20(snap.a20)
        self.uc.context_restore(snap.context)
        self.cpu.forget_cs()
        self.uc.ctl_flush_tb()
        self.fast.clear()
        self._blocks.clear()
        self._io_prefix.clear()
        # the clock first: devices re-schedule their pending events relative to it
        self.fast.reset_counters()
        self.fast.h.cycles = snap.cycles
        self.fast.h.instructions = snap.instructions
        self.fast.set_func_counters(*snap.func_counters)
        self.clock._heap.clear()
        for name, state in snap.devices.items():
            self.devices[name].load_state(state)
        if snap.bios is not None and hasattr(self.bios, "load_state"):
            self.bios.load_state(snap.bios)
        self._halted = snap.halted
        del self.serial_out[snap.serial_len:]
        del self.debugcon_out[snap.debugcon_len:]
        del self.input_log[snap.input_log_len:]
        # whatever ended the later run (power-off, fault) has not happened yet
        self.powered_off = False
        self.exit_status = None
        self.stop_message = ""
        self.last_fault = None
        self._bios_wait = False
        self._pause = False
        self._mode_check = False
        self._stop = None
        self.state = "paused"

    # ------------------------------------------------------------------ profile
    def profile_table(self) -> list[dict[str, Any]]:
        from .profile import profile_rows
        return profile_rows(self)

    def close(self) -> None:
        """Flush and close the trace; state stays readable (the engine is freed with the object)."""
        if self.trace is not None:
            self.trace.close()


@dataclass
class Snapshot:
    """A point in the guest's history (see Machine.snapshot)."""

    cycles: int
    instructions: int
    context: Any
    ram: bytes
    a20: bool
    devices: dict[str, Any]
    halted: bool
    serial_len: int
    debugcon_len: int
    func_counters: tuple[list[int], list[int], list[int]]
    func_names: list[str]
    input_log_len: int
    bios: Any = None


def _return_linear(cpu: Cpu, d: Delivered) -> int:
    """Linear address the handler's IRET comes back to (for the profiler's shadow stack)."""
    if not cpu.protected:
        return ((d.from_cs << 4) + (d.from_eip & 0xFFFF)) & 0xFFFFFFFF
    desc = cpu.descriptor(d.from_cs)
    return ((desc.base if desc else 0) + d.from_eip) & 0xFFFFFFFF


def _read_image(path: Path) -> bytes:
    """Check the disk image before anything else, with one-line reasons."""
    if not str(path):
        raise BadImage("no image given")
    if not path.exists():
        raise BadImage(f"{path}: no such file")
    if path.is_dir():
        raise BadImage(f"{path}: is a directory, not a disk image")
    if not path.is_file():
        raise BadImage(f"{path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadImage(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) == 0:
        raise BadImage(f"{path}: the file is empty")
    if len(data) < 512:
        raise BadImage(f"{path}: {len(data)} bytes is shorter than one 512-byte sector")
    if data[510:512] != b"\x55\xaa":
        raise BadImage(f"{path}: the first sector does not end with the boot signature 0x55AA "
                       f"(found {data[510]:02X}{data[511]:02X}), so a BIOS would not boot it")
    return data


# Code page 437 as Unicode, for screen dumps.
_CP437 = ("\u0020\u263a\u263b\u2665\u2666\u2663\u2660\u2022\u25d8\u25cb\u25d9\u2642\u2640\u266a\u266b\u263c"
          "\u25ba\u25c4\u2195\u203c\u00b6\u00a7\u25ac\u21a8\u2191\u2193\u2192\u2190\u221f\u2194\u25b2\u25bc"
          + "".join(chr(i) for i in range(0x20, 0x7F)) + "\u2302"
          + "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀"
          "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0")
assert len(_CP437) == 256
