"""The CPU core: Unicorn on a board, the native fast path, interrupt delivery, the run loop.

The guest runs in `emu_start` slices that end only when something needs Python: a device event
is due (the native block callback stops the engine at the clock's next deadline), an
interrupt can be delivered, the guest halts, a breakpoint or a pause request.  The core is the
board's `BoardHost`: devices raise interrupt lines, power off, ask for resets through it.

Its public interface (used by the Machine facade, the debugger and snapshots): `run`, `step`,
`request_pause`, `power_off`, `request_reset`, `emit`, `exact_now`, `in_io`, `wake`, the
`cycles`/`instructions` counters, `hooks` (emu/hooks.py), `door` (emu/inputdoor.py), `pricer`
(emu/pricing.py), `debug` (emu/debugger.py), `cpu` (emu/cpu.py) and `fast` (emu/fastpath.py).
Interrupt and exception delivery (`deliver` and the INTR hook) are in emu/core_delivery.py,
a mixin of `Core`.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from unicorn import (UC_ARCH_X86, UC_HOOK_MEM_FETCH_UNMAPPED,
                     UC_HOOK_MEM_READ_UNMAPPED, UC_HOOK_MEM_WRITE_UNMAPPED, UC_MODE_32, Uc, UcError)
from unicorn import x86_const as X
from unicorn.unicorn_const import UC_ERR_INSN_INVALID

from ..devices.base.clock import CPU_HZ
from .board import Board
from .core_delivery import CoreDelivery
from .cpu import IF, Cpu
from .debugger import Debugger
from .fastpath import STOP_DEADLINE, STOP_IRQ_WINDOW, STOP_MISS_ERROR, FastPath
from .fastports import NativePorts, attach_devices, hold_if_unarmed
from .hooks import Hooks
from .inputdoor import InputDoor
from .native_delivery import NativeDelivery
from .fastpic import PicTick
from .fastlapic import FastLapic
from .fastlapictick import LapicTick
from .pacing import PACE_LEAD_S, pace_idle  # noqa: F401  (PACE_LEAD_S: the pacing rule, emu/pacing.py)
from .pricing import Pricer
from .cpuid import CpuidHook
from .special import SpecialInsns
from .sysenter import install as install_sysenter
from .stops import StopReason
from .trace import InsnWindow
from .quirks import forget_stale_double_fault


_PAUSED_STATES = (StopReason.PAUSED, StopReason.BREAKPOINT, StopReason.STEP, StopReason.CYCLE_LIMIT)
_IO_LAZY = -1   #: `_io_now` inside an IN/OUT whose exact cycle nobody has asked for yet


class Core(CoreDelivery):
    """Unicorn, the fast path and the run loop, driving one `Board`."""

    def __init__(self, board: Board, *, symbols: Any = None, trace: Any = None, accounting: bool = True,
                 trace_insns: tuple[int, int] | None = None, price_shard: str = "default") -> None:
        self.board = board
        self.symbols = symbols
        self.trace = trace
        self.accounting = accounting
        self.trace_insns = trace_insns
        self.hooks = Hooks()
        self.state = "paused"
        self.stop_message = ""
        self.exit_status: int | None = None
        self.last_fault: dict[str, Any] | None = None
        self.last_stop: StopReason | None = None
        self.wall_seconds = 0.0
        self.cpu_seconds = 0.0   # host CPU time in run(): steadier than wall time on a busy machine
        self._pace_origin: tuple[float, int] | None = None
        self._wake = threading.Event()
        self._pause = False
        self._stop: StopReason | None = None
        self._halted = False
        self._io_now: int | None = None
        self._bios_wait = False
        self._df_retry: int | None = None   # see _stale_double_fault
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.ctl_set_cpu_model(X.UC_CPU_X86_QEMU32)
        # No exit address: after every emu_start Unicorn 2.1 drops the code at `until - 1`, which
        # with paging on walks linear 0xFFFFFFFF and, when that is unmapped, leaves CR2 =
        # 0xFFFFFFFF -- a #PF handler that reads CR2 in a later slice saw the wrong address
        # (tests/emu/test_page_walk.py).  Slices end by deadline, stop or count, never at `until`.
        uc.ctl_exits_enabled(True)
        uc.ctl_set_exits([])
        self.uc = uc
        board.attach(uc)
        self.clock = board.clock
        self.clock.bind(self._now)
        self.bios = board.bios
        self.cpu = Cpu(uc, write_hook=self._host_wrote)
        self.cpu.ram = board.ram
        self.cpu.hma_alias = not board.a20
        func_names = [f.name for f in symbols.functions] if symbols else []
        self.pricer = Pricer(self, func_names, price_shard)
        self.costs = self.pricer.costs
        self.fast = FastPath(uc, self.pricer.on_miss, nfuncs=len(func_names) + 64, block_hook=accounting)
        self.pricer.attach_native()   # cached prices charged in C (emu/fastpath_prices.c)
        self.door = InputDoor(self)
        self.special = SpecialInsns(self)
        self.cpuid_hook = CpuidHook(uc, apic=board.devices.get("lapic"))   # qemu32 as QEMU 7.2 answers
        self.debug = Debugger(self)
        #: the --trace-insns window (emu/trace.py), only with a trace file
        self.insn_window = InsnWindow(self, trace_insns) if trace_insns is not None and trace else None
        # the INTR hook is native: real-mode software interrupts are delivered there, the rest
        # is handed to self._on_intr (emu/native_delivery.py)
        self.native = NativeDelivery(self)
        lo, hi = self.bios.stub_range      # the BIOS stubs: default handlers native, the rest _on_stub
        self.native.hook_stubs(lo, hi, self.bios.default_cost, self.bios.default_vectors())
        self.native.bios_disks(self.bios.disks.params_answers())
        # IN/OUT: native hooks that answer side-effect-free reads themselves and call
        # _on_in/_on_out for everything else (emu/fastports.py)
        self.ports = NativePorts(uc, self.fast, self._on_in, self._on_out)
        attach_devices(self.ports, board, self.cpu)
        self.cpuid_hook.go_native(self.ports)     # CPUID leaves Python never changes: in C
        self.clock.schedule_listeners.append(hold_if_unarmed(self.ports, self))
        self.pic_tick = PicTick(self)   # the idle timer tick inside emu_start (emu/fastpic.py)
        self.lapic_native = FastLapic(self)   # LAPIC EOI/timer, HPET counter MMIO in C (emu/fastlapic.py)
        self.lapic_tick = LapicTick(self)     # the LAPIC timer's interrupt inside emu_start (emu/fastlapictick.py)
        install_sysenter(self)            # Unicorn leaves SYSENTER to us (emu/sysenter.py)
        uc.hook_add(UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED,
                    self._on_unmapped)

    def power_on(self) -> None:
        """Reset the CPU and devices, run the BIOS's POST, load the boot sector."""
        self.board.clear_ram()
        self.uc.ctl_flush_tb()
        self.fast.clear()
        self.fast.reset_counters()
        self.pricer.forget()
        self.board.reset()
        self.cpu.forget_cs()
        self.cpu.set("cr0", 0x10)
        for seg in ("ds", "es", "ss", "fs", "gs", "cs"):
            self.cpu.set(seg, 0)
        # the CPU's reset values: the real-mode IVT is the IDT at 0 with limit 0x3FF
        self.uc.reg_write(X.UC_X86_REG_IDTR, (0, 0, 0x3FF, 0))
        self.uc.reg_write(X.UC_X86_REG_GDTR, (0, 0, 0xFFFF, 0))
        self.bios.install(self.cpu)
        self.bios.post()
        self.board.post_firmware()  # LAPIC set-up and firmware tables (issue 10)
        from .ide import after_post
        after_post(self.board)     # the ATA registers and CMOS drive bytes SeaBIOS/QEMU leave
        self.bios.boot(self.cpu)   # raises BadImage-like BootError for images it cannot boot
        self._halted = False
        self._stop = None
        self.state = "paused"
        self.exit_status = None
        self.stop_message = ""
        self.emit("boot", cs=self.cpu.get("cs"), eip=self.cpu.get("eip"), dl=self.cpu.get("dl"))

    # ------------------------------------------------------------------ time
    def _now(self) -> int:
        now = self._io_now
        if now is not None and now < 0:     # _IO_LAZY: inside an IN/OUT, first asked now
            now = self._io_now = self.pricer.exact_now()
        return self.fast.h.cycles if now is None else now

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

    def exact_now(self) -> int:
        """Cycle count exactly at the instruction being executed (inside a hook)."""
        return self.pricer.exact_now()

    def in_io(self) -> bool:
        """Inside a guest I/O access (port, MMIO, BIOS service), where time is exact."""
        return self._io_now is not None

    # ------------------------------------------------------------------ BoardHost
    def irq_raised(self) -> None:
        fast = self.__dict__.get("fast")   # None while the board powers up, before the engine
        if fast is not None:
            fast.set_deadline(0)  # deliver (or note) it at the next block boundary

    def a20_changed(self, enabled: bool) -> None:
        self.cpu.hma_alias = not enabled
        native = self.__dict__.get("native")
        if native is not None:
            native.a20(enabled)

    def io_enter(self) -> None:
        self.pic_tick.settle(disarm=True)     # MMIO may change what the native tick relies on
        self._io_now = self.pricer.exact_now()

    def io_exit(self) -> None:
        self._io_now = None
        self._after_io()

    def _host_wrote(self, addr: int, n: int) -> None:
        self.pricer.host_wrote(addr, n)

    # ------------------------------------------------------------------ hooks
    # IN/OUT: the exact cycle is computed if a device asks (`_now`); no handler moves its inputs
    def _on_in(self, port: int, size: int) -> int:
        self._io_now = _IO_LAZY
        try:
            return self.board.bus.io_read(port, size)
        finally:
            self._io_now = None
            self._after_io()

    def _on_out(self, port: int, size: int, value: int) -> None:
        self._io_now = _IO_LAZY
        try:
            self.board.bus.io_write(port, size, value)
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
        self.ports.release()    # the deadline is armed again (emu/fastports.py hold)

    def _on_stub(self, uc, address: int, size: int, _ud) -> None:
        vector = self.bios.vector_at(address)
        if vector is None:
            return
        self._io_now = self.pricer.exact_now()
        try:
            cost = self.bios.handle(vector, self.cpu.bios_view())
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
            self.fast.add_cycles(cost)
        self._after_io()

    def _on_unmapped(self, uc, access: int, address: int, size: int, value: int, _ud) -> bool:
        from unicorn import UC_MEM_FETCH_UNMAPPED, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_UNMAPPED
        kind = {UC_MEM_FETCH_UNMAPPED: "executed", UC_MEM_READ_UNMAPPED: "read",
                UC_MEM_WRITE_UNMAPPED: "wrote"}.get(access, "touched")
        self.guest_error(f"the guest {kind} unmapped memory at {address:#010x}"
                          f" ({size} byte{'s' if size != 1 else ''}; RAM ends at {self.board.memory_bytes:#x}) "
                          f"at {self.where()}")
        return False

    # ------------------------------------------------------------------ stopping
    def finish(self, reason: StopReason, message: str = "") -> None:
        if self._stop is None or reason in (StopReason.TRIPLE_FAULT, StopReason.GUEST_ERROR):
            self._stop = reason
            self.stop_message = message
        self.fast.set_deadline(0)

    def guest_error(self, message: str) -> None:
        self.finish(StopReason.GUEST_ERROR, message)

    def power_off(self, status: int) -> None:
        """Called by the debug-exit and ACPI devices.  The machine is off from this instruction
        on, as with QEMU's isa-debug-exit: what the rest of the block does is not seen."""
        if self.board.powered_off:
            return
        self.board.powered_off = True
        self.exit_status = status
        self.emit("power_off", status=status)
        self.finish(StopReason.POWER_OFF, f"powered off (status {status})")

    pic_tick: Any = None
    #: True: a reset request stops the run (QEMU -no-reboot); False: a real reset (emu/reboot.py)
    no_reboot = True
    _reboot_pending: str | None = None

    def request_reset(self, why: str) -> None:
        self.emit("reset_request", why=why)
        if not self.no_reboot:
            self._reboot_pending = why      # done between slices (emu/reboot.py)
            self.fast.set_deadline(0)
            self.uc.emu_stop()
            return
        self.finish(StopReason.RESET, f"the guest asked for a reset ({why}); stopping as QEMU -no-reboot does")

    def request_pause(self) -> None:
        """Thread-safe: make run() return PAUSED at the next block boundary."""
        self._pause = True
        self.fast.set_deadline(0)
        self._wake.set()

    def clear_stop(self) -> None:
        """Forget a stop already reported (a breakpoint the debugger has handled)."""
        self._stop = None

    @property
    def halted(self) -> bool:
        """The CPU sits in HLT (or a BIOS wait) until an interrupt."""
        return self._halted

    @halted.setter
    def halted(self, value: bool) -> None:
        self._halted = bool(value)

    def reset_transient(self) -> None:
        """After a restore: whatever ended the later run (power-off, fault, pause) has not
        happened yet."""
        self.exit_status = None
        self.stop_message = ""
        self.last_fault = None
        self._bios_wait = False
        self._pause = False
        self.special.mode_check_due = False
        self._stop = None
        self.state = "paused"

    def wake(self) -> None:
        """Thread-safe: end the current slice (input is waiting) and wake an idle loop."""
        self.fast.set_deadline(0)
        self._wake.set()

    # ------------------------------------------------------------------ run loop
    def run(self, max_cycles: int | None = None, *, wait_for_input: bool = False) -> StopReason:
        """Run until something stops the guest.

        max_cycles: absolute cycle count at which to stop (CYCLE_LIMIT).
        wait_for_input: when the guest idles (HLT, nothing scheduled), block until input
        arrives (the TUI) instead of returning IDLE (headless runs).
        """
        self.state = "running"
        self.door.owner = threading.get_ident()
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            return self._run(max_cycles, wait_for_input)
        finally:
            self.wall_seconds += time.perf_counter() - t0
            self.cpu_seconds += time.process_time() - c0
            self.pricer.sync()      # names C gave during the run, for readers on other threads
            if self.trace is not None:
                self.trace.flush()

    def _run(self, max_cycles: int | None, wait_for_input: bool) -> StopReason:
        fast, clock, door, special = self.fast, self.clock, self.door, self.special
        insn_window = self.insn_window
        while True:
            if door.pending():
                door.drain()
            clock.run_due(fast.h.cycles)
            if self._reboot_pending is not None:
                from .reboot import reboot
                reboot(self, self._reboot_pending)
            if special.mode_check_due:
                special.check_mode()
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
            if insn_window is not None:
                insn_window.update()       # may schedule the window's edge: before the deadline
            deadline = clock.next_deadline()
            if max_cycles is not None:
                deadline = max_cycles if deadline is None else min(deadline, max_cycles)
            if self._halted:
                if not self.cpu.get("eflags") & IF:
                    return self._stopped(StopReason.HALTED, self._halt_message())
                if deadline is None:
                    if wait_for_input:
                        self.state = "idle"
                        self._wake.wait(1.0)   # input and pauses set _wake (issue 11: no polling)
                        self._wake.clear()
                        self.state = "running"
                        continue
                    return self._stopped(StopReason.IDLE, self._idle_message())
                if wait_for_input and pace_idle(self, deadline):
                    continue  # woken early by input or a pause: look again
                if self.pic_tick.idle(deadline, max_cycles, wait_for_input):
                    self._halted = False    # the PIT's tick was taken natively (emu/fastpic.py)
                    continue
                if self.lapic_tick.idle(deadline, max_cycles):
                    self._halted = False    # the LAPIC timer's tick, natively (emu/fastlapictick.py)
                    continue
                fast.advance_to(deadline)
                continue
            fast.set_deadline(deadline)
            if self._pause or door.pending():
                fast.set_deadline(0)
            if self.pricer.pending_retranslate:
                self._apply_retranslate()
            self.pic_tick.arm(max_cycles, wait_for_input)
            self.lapic_tick.arm(max_cycles)
            self._emu_slice()
            self.lapic_tick.h.armed = 0

    def _emu_slice(self) -> None:
        fast = self.fast
        fast.write(stop_reason=0)
        self.ports.release()    # the run loop armed the deadline for this slice
        self._bios_wait = False
        begin = self.cpu.get("eip")
        native = self.native
        native.update()
        try:
            self.uc.emu_start(begin, 1 << 48)
            self.pic_tick.settle(disarm=True)
            native.raise_hook_error()
        except UcError as exc:
            self.pic_tick.settle(disarm=True)
            native.raise_hook_error()
            if exc.errno == UC_ERR_INSN_INVALID and self._stop is None:
                # QEMU's translator rejects the opcode: on a CPU that is #UD, delivered like any fault
                self._raise_exception(6)
                return
            if self._stop is None:
                self.guest_error(self.uc_error_message(exc))
            return
        debug = self.debug
        if debug.watch_pending is not None:
            debug.finish_watched_insn()
        reason = fast.h.stop_reason
        if reason == STOP_MISS_ERROR:
            err = fast.miss_error
            fast.miss_error = None
            if err is not None:
                raise err
            if not self.pricer.pending_retranslate:
                self.guest_error("internal: a block could not be priced")
            return
        if reason == STOP_IRQ_WINDOW:
            if not self.cpu.get("eflags") & IF:
                fast.write(skip_window=1)
            return
        if reason == STOP_DEADLINE or self._stop is not None or self._bios_wait or self._pause:
            return
        if debug.bp_hit is not None:
            return
        # emu_start returned by itself: the guest executed HLT
        lin = self.cpu.linear_pc()
        if self._byte_before(lin) == b"\xf4":
            self._halted = True
            self.emit("hlt", eip=self.cpu.get("eip"), interrupts=bool(self.cpu.get("eflags") & IF))
            self.pic_tick.hlt_seen((lin - 1) & 0xFFFFFFFF)
        else:
            # not a HLT: QEMU halted the CPU on a "triple fault" it composed from a remembered
            # #DF; forget it and the instruction raises its own fault when run again
            forget_stale_double_fault(self.uc)

    def _byte_before(self, lin: int) -> bytes:
        try:
            return self.cpu.fetch((lin - 1) & 0xFFFFFFFF, 1)
        except Exception:   # a page fault or unmapped memory: not a HLT
            return b""

    def _irq_check(self) -> None:
        """Deliver a pending hardware interrupt if IF allows it (between instructions)."""
        intc = self.board.intc      # the local APIC (the 8259 behind its LINT0)
        pending = intc.intr_pending()
        if not pending:
            self.fast.write(irq_pending=0)
            return
        if not self.cpu.get("eflags") & IF:
            self.fast.write(irq_pending=1)
            return
        self.fast.write(irq_pending=0)
        vector = intc.acknowledge()
        if vector is None:          # the request went away before INTA
            return
        self._halted = False
        self.deliver(vector, self.cpu.get("eip"), "hardware", None)

    def _apply_retranslate(self) -> None:
        self.special.install_pending()
        pending = self.pricer.pending_retranslate
        for lo, hi in pending:
            self.uc.ctl_remove_cache(lo, hi)
        pending.clear()

    def _stopped(self, reason: StopReason, message: str = "") -> StopReason:
        self.fast.set_deadline(None)
        if message and not self.stop_message:
            self.stop_message = message
        self.state = "paused" if reason in _PAUSED_STATES else reason.value
        self._stop = None if reason in _PAUSED_STATES else self._stop
        self.emit("stop", reason=reason.value, message=self.stop_message if reason == self._stop else message)
        self.last_stop = reason
        return reason

    # ------------------------------------------------------------------ one instruction
    def step(self, deliver_irqs: bool = True) -> StopReason:
        """Execute exactly one guest instruction (interrupts due are delivered first, as on a CPU).

        deliver_irqs=False keeps hardware interrupts pending, as QEMU does while gdb single-steps,
        so that `stepi` does not land in a timer handler."""
        self.door.owner = threading.get_ident()
        self.clock.run_due(self.cycles)
        if self.door.pending():
            self.door.drain()
        if deliver_irqs:
            self._irq_check()
        if self._halted:
            deadline = self.clock.next_deadline()
            if not self.cpu.get("eflags") & IF or deadline is None:
                return StopReason.HALTED
            self.fast.advance_to(deadline)
            self.clock.run_due(self.cycles)
            self._irq_check()
            return StopReason.STEP
        pc = self.cpu.linear_pc()
        debug = self.debug
        if pc in debug.breakpoints:
            debug.skip_bp = pc
        self.fast.write(step_mode=1)
        self.fast.set_deadline(None)   # one instruction: due events were run above
        self.ports.release()
        self.fast.write(stop_reason=0)
        self._bios_wait = False
        try:
            if self.pricer.pending_retranslate:
                self._apply_retranslate()
            self.run_one_instruction()
        except UcError as exc:
            self.guest_error(self.uc_error_message(exc))
        finally:
            self.fast.write(step_mode=0)
            debug.skip_bp = None
        if debug.watch_pending is not None:
            debug.finish_watched_insn()
        if self.fast.h.stop_reason == STOP_MISS_ERROR and self.pricer.pending_retranslate:
            return self.step()
        if self._stop is not None and self._stop not in (StopReason.BREAKPOINT,):
            reason = self._stop
            return self._stopped(reason)
        self._stop = None
        lin = self.cpu.linear_pc()
        if self._byte_before(lin) == b"\xf4" and lin == pc + 1:
            self._halted = True
        self.state = "paused"
        return StopReason.STEP

    def run_one_instruction(self) -> None:
        """emu_start for exactly one instruction (the caller set step mode and the deadline).
        A TB translated by an earlier run has no instruction counter compiled in: with it
        count=1 is ignored and the "step" runs on through the cached chain, so drop it first."""
        lin = self.cpu.linear_pc()
        self.uc.ctl_remove_cache(lin, lin + 1)
        try:
            self.uc.emu_start(self.cpu.get("eip"), 1 << 48, count=1)
        finally:
            self.native.raise_hook_error()

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

    def uc_error_message(self, exc: UcError) -> str:
        return f"Unicorn could not execute the guest ({exc}) at {self.where()}"

    # ------------------------------------------------------------------ events and the trace
    def emit(self, _event: str, **fields: Any) -> None:
        """An architectural event: to the trace file and the `hooks.events` subscribers."""
        observers = self.hooks.route(_event) if self.hooks.events else ()   # its readers only
        if self.trace is None and not observers:
            return
        if self.pic_tick is not None:
            self.pic_tick.settle()      # events of native ticks first, in order
        fast = getattr(self, "fast", None)
        cycle = fast.h.cycles if fast is not None else 0
        icount = fast.h.instructions if fast is not None else 0
        if self.trace is not None:
            self.trace.emit(_event, cycle, icount, fields)
        for observer in observers:
            observer(_event, cycle, icount, fields)
