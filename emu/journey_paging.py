"""Boot-journey milestones of the next chapter: paging and the APICs.

A mixin of `Journey` (emu/journey.py), like emu/privilege.py for the rings:

- `paging`: CR0.PG set, with CR3 and the paging mode (32-bit, PSE, PAE) from the CR3/CR4
  writes seen before it (every MOV to CRn is a watched instruction, emu/special.py);
- `pf_handled`: the first page fault whose handler returned to the faulting instruction and
  made the access possible: after a #PF the journey puts a one-shot code hook on the faulting
  instruction; when it runs again and the tables now allow the access (emu/paging.py walks
  them, nothing is touched), the handler did its job;
- `lapic_on`: the guest wrote the local APIC's spurious-interrupt vector register (0xFEE000F0)
  with bit 8 (APIC software enable) set;
- `ioapic_route`: the first I/O APIC redirection entry the guest unmasked (IOREGSEL/IOWIN
  writes at 0xFEC00000/0xFEC00010 are mirrored here);
- `lapic_timer`: the first interrupt whose vector is the LAPIC timer's LVT vector while the
  timer runs (initial count written, LVT unmasked).

The APIC registers are seen through the board's MMIO observer list (`Board.mmio_observers`,
called only on guest MMIO accesses, a slow path already): devices do not import the machine,
and nothing here runs on the per-block path.  The journey mirrors what it needs from the
writes, so a `--trace` file (whose `mmio` events carry the same fields) replays the same way.
"""
from __future__ import annotations

from typing import Any

LAPIC_BASE, IOAPIC_BASE = 0xFEE00000, 0xFEC00000
_DELIVERY = {0: "fixed", 1: "lowest priority", 2: "SMI", 4: "NMI", 5: "INIT", 7: "ExtINT"}
#: QEMU's i440FX board: which device drives each I/O APIC pin (ISA IRQ0 -> GSI 2 override)
_PINS = {1: "keyboard (IRQ1)", 2: "PIT timer (IRQ0, via the GSI 2 override)", 3: "COM2 (IRQ3)",
         4: "COM1 (IRQ4)", 8: "RTC (IRQ8)", 12: "PS/2 mouse (IRQ12)", 14: "primary ATA (IRQ14)",
         15: "secondary ATA (IRQ15)"}


class PagingMilestones:
    """Journey milestones for paging and the APICs (a mixin of emu/journey.Journey)."""

    def _reset_paging(self) -> None:
        self._cr3 = 0
        self._cr4 = 0
        self._pf_pending: tuple | None = None       # (linear pc, cs, eip, cr2, error code, cycle)
        self._pf_handled = False
        self._lapic_on = False
        self._ioregsel = 0
        self._redir: dict[int, int] = {}            # IOWIN register index -> last value written
        self._ioapic_routed = False
        self._lvt_timer = 0x10000
        self._timer_div = 0
        self._timer_count = 0
        self._timer_seen = False

    def _paging_state(self) -> tuple:
        return (self._cr3, self._cr4, self._pf_pending, self._pf_handled, self._lapic_on, self._ioregsel,
                tuple(sorted(self._redir.items())), self._ioapic_routed, self._lvt_timer, self._timer_div,
                self._timer_count, self._timer_seen)

    # ------------------------------------------------------------------ paging on
    def _paging_track_cr(self, f: dict[str, Any]) -> None:
        if f.get("cr") == "cr3":
            self._cr3 = f.get("new", 0) or 0
        elif f.get("cr") == "cr4":
            self._cr4 = f.get("new", 0) or 0

    def _paging_milestone(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        cr0 = f.get("new", 0) or 0
        cr3 = f.get("cr3", self._cr3)
        cr4 = f.get("cr4", self._cr4)
        if cr4 & 0x20:
            mode = "PAE (CR4.PAE): CR3 -> 4 PDPTEs -> page directories -> page tables, 8-byte entries, 4 KiB or 2 MiB pages"
            short = "PAE"
        elif cr4 & 0x10:
            mode = "32-bit with PSE (CR4.PSE): CR3 -> page directory -> page tables, 4 KiB pages or 4 MiB pages"
            short = "32-bit + PSE"
        else:
            mode = "32-bit: CR3 -> page directory (1024 PDEs) -> page tables (1024 PTEs) -> 4 KiB pages"
            short = "32-bit"
        wp = " CR0.WP is set, so even ring 0 cannot write to read-only pages." if cr0 & 0x10000 else ""
        self.add(self._milestone(
            "paging", cycle, icount, f"Paging enabled: CR0.PG set, CR3={cr3:#x} ({short})",
            "From now on every linear address goes through the page tables CR3 points at: the CPU looks up "
            "the page directory entry and the page table entry (caching them in the TLB) and a missing or "
            "forbidden page raises #PF with the address in CR2." + wp,
            [f"CR0: {_h(f.get('old'))} -> {_h(cr0)}, CR3 = {cr3:#010x}, CR4 = {cr4:#010x}", f"mode: {mode}"]))

    # ------------------------------------------------------------------ first #PF handled
    def _pf_live(self, f: dict[str, Any]) -> dict[str, Any]:
        """Read at the #PF delivery (kept with the event for rewind): the faulting linear PC, CR2."""
        m = self.machine
        try:
            d = m.cpu.descriptor(f.get("cs", 0))
            lin = ((d.base if d is not None else 0) + f.get("eip", 0)) & 0xFFFFFFFF
            return {"lin": lin, "cr2": m.cpu.get("cr2")}
        except Exception:
            return {}

    def _paging_interrupt(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        kind, vector = f.get("kind"), f.get("vector", 0)
        if kind == "exception" and vector == 14 and not self._pf_handled and "lin" in f:
            self._pf_pending = (f["lin"], f.get("cs", 0), f.get("eip", 0), f.get("cr2", 0),
                                f.get("error_code") or 0, cycle)
            self._pf_hook_install()
        elif kind == "hardware" and not self._timer_seen and self._timer_count \
                and not self._lvt_timer & 0x10000 and vector == self._lvt_timer & 0xFF:
            self._timer_seen = True
            shift = ((self._timer_div & 3) | ((self._timer_div >> 1) & 4)) + 1 & 7
            ns = self._timer_count << shift
            periodic = bool(self._lvt_timer & 0x20000)
            self.add(self._milestone(
                "lapic_timer", cycle, icount,
                f"First local APIC timer interrupt: vector {vector:#x} ({'periodic' if periodic else 'one-shot'})",
                "The local APIC's own timer counted its initial count down at the bus clock divided by the "
                "divide configuration and, its LVT entry unmasked, put the LVT's vector in IRR; with IF set "
                "and the vector above the task priority the CPU took it. Unlike the PIT behind the 8259, this "
                "timer belongs to the CPU: each core has one, and the handler must write the APIC's EOI "
                "register (0xFEE000B0) or no interrupt of equal or lower priority arrives again.",
                [f"LVT timer {self._lvt_timer:#010x}: vector {vector:#x}, "
                 f"{'periodic' if periodic else 'one-shot'}; divide by {1 << shift}, initial count "
                 f"{self._timer_count:,} = {ns / 1e6:.3f} ms per {'period' if periodic else 'shot'} at QEMU's 1 GHz APIC clock",
                 f"interrupted {f.get('cs', 0):#06x}:{f.get('eip', 0):#x}, handler "
                 f"{f.get('to_cs', 0):#06x}:{f.get('to_eip', 0):#x}{self._sym(f.get('to_eip', 0))}"]))

    def _pf_hook_install(self) -> None:
        """A one-shot code hook on the faulting instruction (live machine only)."""
        m = self.machine
        if m is None or self._pf_pending is None:
            return
        self._pf_hook_remove()
        from unicorn import UC_HOOK_CODE
        lin = self._pf_pending[0]

        def hit(uc, address, size, _ud) -> None:
            pending = self._pf_pending
            if pending is None or address != pending[0] or self._pf_handled:
                return
            from .paging import PageFault
            from .quirks import forget_last_exception
            if m.cpu.paging():
                forget_last_exception(uc)      # as emu/special.py does in its code hooks
            code = pending[4]
            try:
                phys = m.cpu.walker.translate(pending[3], write=bool(code & 2), user=bool(code & 4))
            except PageFault:
                return                          # still refused: it faults again
            except Exception:
                phys = None
            self._pf_hook_remove()
            self.feed("pf_return", m.exact_now(), m.instructions, {"lin": address, "phys": phys})

        self._pf_hook = m.uc.hook_add(UC_HOOK_CODE, hit, None, lin, lin)
        m.uc.ctl_remove_cache(lin & ~0xFFF, (lin & ~0xFFF) + 0x1000)

    def _pf_hook_remove(self) -> None:
        h = getattr(self, "_pf_hook", None)
        self._pf_hook = None
        if h is not None and self.machine is not None:
            try:
                self.machine.uc.hook_del(h)
            except Exception:
                pass

    def _paging_after_rewind(self) -> None:
        """Time travel went back: the hook follows the restored story."""
        if self._pf_pending is not None and not self._pf_handled:
            self._pf_hook_install()
        else:
            self._pf_hook_remove()

    def _on_pf_return(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        pending = self._pf_pending
        if pending is None or self._pf_handled:
            return
        self._pf_handled = True
        self._pf_pending = None
        lin, cs, eip, cr2, code, at = pending
        phys = f.get("phys")
        what = ("write to" if code & 2 else "read of") + f" {cr2:#x}"
        self.add(self._milestone(
            "pf_handled", cycle, icount,
            f"First page fault handled: the {what} at {cs:#06x}:{eip:#x} runs again and succeeds",
            "The page-fault handler fixed the cause (mapped the page, or granted the right that was missing), "
            "flushed the stale translation (INVLPG) and returned with IRET to the faulting instruction, which "
            "the CPU restarts from the beginning: a #PF is a fault, so the saved EIP points at the instruction "
            "that faulted, not the next one. This is how demand paging and copy-on-write work.",
            [f"#PF (error code {code:#x}) at cycle {at:,}; handler took {cycle - at:,} cycles",
             f"CR2 {cr2:#010x} now maps to physical {phys:#010x}" if phys is not None else f"CR2 {cr2:#010x}"]))

    # ------------------------------------------------------------------ the APICs (MMIO writes)
    def _on_mmio(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if f.get("dir") != "write":
            return
        addr, value = f.get("addr", 0), f.get("value", 0) & 0xFFFFFFFF
        if LAPIC_BASE <= addr < LAPIC_BASE + 0x1000 and f.get("size", 4) >= 4:
            reg = addr - LAPIC_BASE
            if reg == 0xF0 and value & 0x100 and not self._lapic_on:
                self._lapic_on = True
                self.add(self._milestone(
                    "lapic_on", cycle, icount,
                    f"Local APIC enabled: SVR = {value:#x} (spurious vector {value & 0xFF:#x})",
                    "The kernel set bit 8 of the spurious-interrupt vector register at 0xFEE000F0: the local APIC "
                    "now accepts and delivers interrupts (its timer, IPIs, and what the I/O APIC sends). The low "
                    "byte is the vector the APIC uses for a spurious interrupt, one that vanished before the CPU "
                    "acknowledged it; its handler must not send an EOI.",
                    [f"SVR {value:#010x}: APIC software enable=1, spurious vector {value & 0xFF:#x}",
                     "registers at 0xFEE00000 (IA32_APIC_BASE), one local APIC per CPU"]))
            elif reg == 0x320:
                self._lvt_timer = value
            elif reg == 0x380:
                self._timer_count = value
            elif reg == 0x3E0:
                self._timer_div = value & 0xB
        elif IOAPIC_BASE <= addr < IOAPIC_BASE + 0x1000:
            reg = addr - IOAPIC_BASE
            if reg == 0x00:
                self._ioregsel = value & 0xFF
            elif reg == 0x10 and 0x10 <= self._ioregsel < 0x40:
                self._redir[self._ioregsel] = value
                if not self._ioregsel & 1 and not value & 0x10000 and not self._ioapic_routed:
                    self._ioapic_route(cycle, icount, (self._ioregsel - 0x10) // 2, value)

    def _ioapic_route(self, cycle: int, icount: int, pin: int, lo: int) -> None:
        self._ioapic_routed = True
        hi = self._redir.get(0x10 + pin * 2 + 1, 0)
        vector, mode = lo & 0xFF, (lo >> 8) & 7
        logical = bool(lo & 0x800)
        trig = "level" if lo & 0x8000 else "edge"
        pol = "active low" if lo & 0x2000 else "active high"
        dest = hi >> 24
        self.add(self._milestone(
            "ioapic_route", cycle, icount,
            f"I/O APIC route set: pin {pin} -> vector {vector:#x} ({_PINS.get(pin, 'GSI ' + str(pin))})",
            "The kernel unmasked its first I/O APIC redirection entry: an interrupt on that pin now becomes "
            "a message to a local APIC with the vector, delivery mode and destination in the entry, instead "
            "of going through the 8259 PIC. Level-triggered entries keep a remote-IRR bit set until the "
            "local APIC's EOI reaches the I/O APIC.",
            [f"redirection entry {pin}: low {lo:#010x}, high {hi:#010x}",
             f"vector {vector:#x}, {_DELIVERY.get(mode, str(mode))}, {trig}-triggered, {pol}, "
             f"{'logical' if logical else 'physical'} destination {dest:#x}"]))


def _h(v: Any) -> str:
    return "?" if v is None else f"{v:#x}"
