"""Interrupt and exception delivery for the CPU core: the glue between Unicorn and emu/interrupts.py.

Why a module of its own: emu/core.py is the run loop and its hooks; what happens when the guest
raises an exception or an interrupt is delivered (escalation to #DF and triple fault, the
`hooks.deliveries` subscribers, the trace events, the cycles of the delivery, the profiler's
shadow-stack frame) is a separate concern that reads best in one place.

`CoreDelivery` is a mixin of `Core` (emu/core.py), not an object of its own: its methods are
Core's methods (`core.deliver`, the `_on_intr` Unicorn hook ...), looked up on the class like
any other, so splitting them out adds no call on any path.  They use the core's `cpu`, `fast`,
`pricer`, `special`, `hooks`, `costs`, `uc`, `emit`, `finish`, `request_reset`, `no_reboot`,
`last_fault` and `_df_retry`.
"""
from __future__ import annotations

from typing import Any

from .cpu import Cpu
from .interrupts import EXCEPTION_NAMES, Delivered, DeliveryFault, TripleFault, deliver_with_escalation
from .quirks import forget_last_exception, probe_old_exception_offset
from .stops import StopReason


class CoreDelivery:
    """Delivery half of `Core`: the INTR hook, faults Unicorn reports, `deliver`."""

    # set by Core.__init__; declared for readers (and type checkers) of this half
    cpu: Cpu
    fast: Any
    pricer: Any
    special: Any
    hooks: Any
    costs: Any
    uc: Any
    native: Any
    _df_retry: int | None
    no_reboot: bool

    def _on_intr(self, uc, intno: int, _ud) -> None:
        cpu = self.cpu
        eip = cpu.get("eip")
        lin = cpu.linear_pc()
        bc = self.pricer.current()
        software = bool(bc and bc.ends_with == "int" and lin == bc.fallthrough)
        if not software:
            self.pricer.uncharge_to(lin)
            if intno == 8 and self._stale_double_fault(uc, lin):
                return      # the instruction runs again and raises its own fault
        kind = "software" if software else "exception"
        error_code = None if software else self.special.error_code(intno)
        if not software or cpu.paging():
            # with paging on, QEMU also records page faults it raises for its own probes (they
            # set CR2 and never reach us), which would turn the guest's next #PF into a #DF
            forget_last_exception(uc)
        self.deliver(intno, eip, kind, error_code)

    def _stale_double_fault(self, uc, lin: int) -> bool:
        """A #DF from Unicorn is never a real one: QEMU delivers nothing itself (emu/interrupts.py
        decides double faults), so it only turns a fault into #DF because it still remembers an
        earlier one, such as the page fault at 0xFFFFFFFF it records for its own probes once
        paging is on.  Forget that memory and let the faulting instruction run again, once, so
        that it raises its own exception with its own error code."""
        if probe_old_exception_offset() is None or self._df_retry == lin:
            self._df_retry = None
            return False
        self._df_retry = lin
        forget_last_exception(uc)
        return True

    def _raise_exception(self, vector: int) -> None:
        """A fault Unicorn reported as an error: charge what retired, deliver it through the IDT.
        A real-mode #UD is then registered with the native path (emu/native_delivery.py), which
        delivers the next one at this address before the instruction runs, without leaving
        emu_start."""
        lin = self.cpu.linear_pc()
        bc = self.pricer.current()
        self.pricer.uncharge_to(lin)
        if self.deliver(vector, self.cpu.get("eip"), "exception", self.special.error_code(vector)):
            self.native.fault_site(vector, lin, bc, self.cpu)

    # the last exception delivered: Python's own record, or the native path's newer one
    _last_fault: dict[str, Any] | None = None
    _last_fault_native = 0

    @property
    def last_fault(self) -> dict[str, Any] | None:
        native = self.__dict__.get("native")
        if native is not None and native.exceptions() > self._last_fault_native:
            rec = native.record(native.exceptions())
            if rec is not None:
                regs = rec["regs"]
                return {"vector": rec["vector"], "kind": "exception", "error_code": None,
                        "cs": regs["cs"], "eip": regs["eip"], "mode": "real"}
        return self._last_fault

    @last_fault.setter
    def last_fault(self, value: dict[str, Any] | None) -> None:
        self._last_fault = value
        native = self.__dict__.get("native")
        self._last_fault_native = native.exceptions() if native is not None else 0

    # ------------------------------------------------------------------ delivery
    def deliver(self, vector: int, return_eip: int, kind: str, error_code: int | None) -> bool:
        """Deliver with escalation; on a triple fault stop the machine.  True if delivered.
        `hooks.deliveries` subscribers see the request first, with the CPU as it was; one may
        return a callable, called with the result once the delivery is done."""
        self._df_retry = None
        if not self.hooks.deliveries:
            return self._deliver_now(vector, return_eip, kind, error_code)
        after = [a for cb in list(self.hooks.deliveries)
                 if (a := cb(vector, return_eip, kind, error_code)) is not None]
        ok = self._deliver_now(vector, return_eip, kind, error_code)
        for a in after:
            a(ok)
        return ok

    def _deliver_now(self, vector: int, return_eip: int, kind: str, error_code: int | None) -> bool:
        start = self.fast.h.cycles
        self.cpu.forget_cs()
        from_cs = self.cpu.get("cs")
        # protected mode's common case in C (emu/fastpath_pmirq.c), else the Python delivery
        native = self.native.deliver_protected(vector, return_eip, kind)
        try:
            chain = [native] if native is not None else deliver_with_escalation(
                self.cpu, vector, return_eip, kind, error_code)
        except TripleFault as tf:
            self.last_fault = {"vector": vector, "kind": kind, "error_code": error_code, "why": tf.why,
                               "cs": from_cs, "eip": return_eip, "mode": self.cpu.mode}
            name = EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")
            self.emit("triple_fault", vector=vector, error_code=error_code, why=tf.why, cs=from_cs, eip=return_eip)
            if not self.no_reboot:   # QEMU resets on a triple fault (shuts down with -no-reboot)
                self.request_reset("triple fault")
                return False
            self.finish(StopReason.TRIPLE_FAULT,
                         f"triple fault: {name} at {self.cpu.mode} mode {from_cs:#06x}:{return_eip:#010x} "
                         f"could not be delivered ({tf.why})")
            self.uc.emu_stop()
            return False
        for item in chain:
            if isinstance(item, DeliveryFault):
                self.emit("fault", vector=item.vector, error_code=item.error_code, why=item.why)
                self.last_fault = {"vector": item.vector, "why": item.why, "error_code": item.error_code}
            else:
                self.emit("interrupt", vector=item.vector, kind=item.kind, error_code=item.error_code,
                          cs=item.from_cs, eip=item.from_eip, to_cs=item.to_cs, to_eip=item.to_eip, gate=item.gate)
                if item.kind == "exception":
                    self.last_fault = {"vector": item.vector, "kind": item.kind, "error_code": item.error_code,
                                       "cs": item.from_cs, "eip": item.from_eip, "mode": self.cpu.mode}
        final = chain[-1]
        assert isinstance(final, Delivered)
        cost = self.costs.interrupt_cycles(self.cpu.protected, kind) if hasattr(self.costs, "interrupt_cycles") else 0
        if cost:
            self.fast.add_cycles(cost)
        handler = self.cpu.linear_pc()
        self.fast.break_chain()
        func = self.pricer.func_index(handler)
        back = ((self.native.pm_from_base + final.from_eip) & 0xFFFFFFFF if native is not None
                else _return_linear(self.cpu, final))
        self.fast.push_frame(back, func, start)
        self.native.handler_named(handler, func)   # the native paths may deliver there now (the idle tick too)
        return True


def _return_linear(cpu: Cpu, d: Delivered) -> int:
    """Linear address the handler's IRET comes back to (for the profiler's shadow stack)."""
    if not cpu.protected:
        return ((d.from_cs << 4) + (d.from_eip & 0xFFFF)) & 0xFFFFFFFF
    desc = cpu.descriptor(d.from_cs)
    return ((desc.base if desc else 0) + d.from_eip) & 0xFFFFFFFF
