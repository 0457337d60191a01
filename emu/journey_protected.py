"""Boot-journey recognisers for the switch to protected mode.

LGDT, CR0.PE (and unreal-mode trips), the far jump that really enters protected mode, the
segment reloads after it, LIDT and the CR0/CR4 feature bits (SSE, paging).  A mixin of
`Journey` (emu/journey.py), kept apart so that each boot phase reads on its own; it relies on
the state `Journey._reset_state` sets up and on `Journey.add`, `_sym`, `_describe_selector`
and `_hook_segment_loads`.
"""
from __future__ import annotations

from typing import Any, Callable

from .cpu import decode_descriptor
from .interrupts import EXCEPTION_NAMES
from .milestone import Milestone, _hex


class ProtectedModeMilestones:
    """Journey milestones of the protected-mode switch (a mixin of emu/journey.Journey)."""

    def _flush_pe(self) -> None:
        """A CR0.PE set not yet followed by a far jump: report it now (the run stopped or faulted)."""
        if self._pe_pending is not None:
            cycle, icount, eip = self._pe_pending
            self._pe_pending = None
            self.add(Milestone("cr0_pe", cycle, icount, f"CR0.PE set at EIP {eip:#x}", _PE_TEXT))

    def _on_lgdt(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        entries = f.get("entries") or []
        key = (f.get("base"), f.get("limit"), tuple(_without_accessed(e.get("raw", "")) for e in entries))
        self._gdt_entries = entries
        if key == self._last_gdt and self._last_gdt_m is not None:
            m = self._last_gdt_m
            m.count += 1
            self._mutations += 1
            m.title = _gdt_title(f) + f" (loaded {m.count} times)"
            return
        self._last_gdt = key
        limit = f.get("limit", 0)
        details = [f"GDTR: base {_hex(f.get('base'))}, limit {_hex(limit)} = {(limit + 1) // 8} descriptors"]
        for e in entries:
            details.append(f"selector {e.get('selector', 0):#06x}: {e.get('text', '?')}  [{e.get('raw', '')}]")
        m = Milestone("lgdt", cycle, icount, _gdt_title(f), (
            "LGDT loaded GDTR with the address and size (limit = bytes - 1) of the Global Descriptor Table. "
            "In protected mode a segment register holds a selector, an index into this table, and the "
            "descriptor it names gives the segment's base, limit, type (code or data), privilege level (DPL), "
            "default size (D/B: 16 or 32-bit) and granularity. Nothing changes yet: the table is used from "
            "the next segment load with CR0.PE set."), details)
        self._last_gdt_m = m
        self.add(m)

    def _on_cr0_pe(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if f.get("enabled"):
            if not self._protected32:
                self._pe_pending = (cycle, icount, f.get("eip", 0))
            return
        # PE cleared
        if self._pe_pending is not None and not self._protected32:
            pcycle = self._pe_pending[0]
            self._pe_pending = None
            if self._unreal is None:
                self._unreal = self.add(Milestone(
                    "unreal", pcycle, icount, "A trip into protected mode and back (unreal mode)",
                    "The code set CR0.PE, loaded segment registers from the GDT and cleared PE again without a "
                    "far jump. A segment register keeps the limit cached from its descriptor, so after this "
                    "trip real-mode code can use 32-bit offsets to reach all 4 GiB (\"unreal mode\"): boot "
                    "loaders use it to copy what the BIOS read into low memory up above 1 MiB.",
                    [f"CR0.PE set at cycle {pcycle:,}, cleared at cycle {cycle:,}"]))
            else:
                self._unreal.count += 1
                self._mutations += 1
                self._unreal.title = f"A trip into protected mode and back (unreal mode), {self._unreal.count} times"
            return
        if self._protected32:
            self._protected32 = False
            self.add(Milestone("real_mode", cycle, icount, "CR0.PE cleared: back to real mode",
                               "Clearing CR0.PE returns the CPU to real mode; the next far jump reloads CS "
                               "with a real-mode segment."))

    def _on_mode(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if f.get("mode") != "protected" or not f.get("code32"):
            return
        if self._protected32:
            return
        self._flush_pe()
        self._protected32 = True
        cs, eip = f.get("cs", 0), f.get("eip", 0)
        details = [f"CS = {cs:#06x}: {f.get('cs_desc') or self._describe_selector(cs)}",
                   f"RPL {cs & 3}, GDT index {cs >> 3}"]
        self.add(Milestone(
            "pm_entry", cycle, icount, f"Far jump to {cs:#06x}:{eip:#010x}{self._sym(eip)}: protected mode begins",
            f"The far jump loaded CS with selector {cs:#x}, so the CPU read descriptor {cs >> 3} of the GDT: "
            "its base, limit and D bit now govern code fetches, and the D bit says 32-bit. Setting CR0.PE alone "
            "left the old real-mode CS in place; this jump is where protected mode really begins, "
            "and it also flushes the instructions the CPU had prefetched as 16-bit code.", details))
        if self._replaying:
            self._seg_expected = f.get("seg_expected", 0)
        else:
            self._hook_segment_loads(cs, eip)
            f["seg_expected"] = self._seg_expected

    def _on_seg_load(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._seg_loads.append((f.get("reg", "?"), f.get("selector")))
        self._seg_last = (cycle, icount)
        if len(self._seg_loads) < max(1, self._seg_expected):
            return
        self._segments_milestone(cycle, icount)

    def _segments_milestone(self, cycle: int, icount: int) -> None:
        """One milestone for the segment loads after the far jump (all of them, or those that
        ran before the code went another way)."""
        self._seg_expected = len(self._seg_loads)       # done: later hits are ignored
        by_sel: dict[Any, list[str]] = {}
        for reg, sel in self._seg_loads:
            by_sel.setdefault(sel, []).append(reg.upper())
        details = []
        for sel, regs in by_sel.items():
            if sel is None:
                details.append(f"{'/'.join(regs)} loaded from memory")
            else:
                details.append(f"{' = '.join(regs)} = {sel:#06x}: {self._describe_selector(sel)}")
        self.add(Milestone(
            "segments", cycle, icount, "Segment registers reloaded: " + ", ".join(r.upper() for r, _ in self._seg_loads),
            "Writing a selector to a segment register in protected mode makes the CPU fetch that GDT "
            "descriptor and cache its base and limit. Until DS, ES, FS, GS and SS are reloaded they keep the "
            "values cached in real mode, so the boot code points them all at its data descriptor before it "
            "uses memory or the stack.", details))

    def _on_lidt(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        base, limit = f.get("base", 0), f.get("limit", 0)
        if not self._protected32 and self._pe_pending is None and base == 0 and limit == 0x3FF:
            self.add(Milestone("lidt", cycle, icount, "LIDT: the real-mode interrupt vector table at 0",
                               "IDTR points at the 256 four-byte segment:offset vectors at address 0, as at reset.",
                               pause=False))
            return
        gates = (limit + 1) // 8
        entries = f.get("entries") or []
        details = [f"IDTR: base {base:#x}, limit {limit:#x} = {gates} gates"]
        full = f.get("full_entries")
        if full is not None:
            entries = full
        details += _summarise_gates(entries, self._sym)
        if len(entries) < gates:
            details.append(f"(the trace decodes the first {len(entries)} of {gates} gates)")
        if limit == 0 or gates == 0:
            text = ("LIDT loaded an IDT with limit 0: no gate fits, so any interrupt or exception from now on "
                    "cannot be delivered: the CPU raises #GP, which cannot be delivered either, then #DF, and "
                    "shuts down (a triple fault). Some code does this on purpose to reset the machine.")
        else:
            text = ("LIDT loaded IDTR with the Interrupt Descriptor Table: one 8-byte gate per vector, giving the "
                    "handler's code selector and offset, the gate type (an interrupt gate also clears IF) and the "
                    "privilege needed to use it with INT n. In protected mode the real-mode vector table at 0 "
                    "no longer applies, so this must happen before any interrupt or exception can be handled.")
        self.add(Milestone("lidt", cycle, icount, f"LIDT: IDT at {base:#x} with {gates} gates (limit {limit:#x})",
                           text, details))

    def _read_idt(self, base: int, limit: int) -> list[dict[str, Any]] | None:
        """All gates straight from guest memory (the trace event decodes at most 64)."""
        if self.machine is None:
            return None
        n = min((limit + 1) // 8, 256)
        data = self.machine.read_mem(base, n * 8)
        out = []
        for i in range(n):
            raw = data[i * 8:i * 8 + 8]
            d = decode_descriptor(raw)
            out.append({"index": i, "raw": raw.hex(), "text": "null" if raw == bytes(8) else d.describe(),
                        "present": d.present, "offset": d.offset, "selector": d.selector, "kind": d.gate_kind})
        return out

    def _on_cr_write(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        cr = f.get("cr")
        setbits = f.get("set") or []
        self._paging_track_cr(f)
        if cr == "cr4" and "OSFXSR" in setbits:
            self.add(Milestone(
                "sse", cycle, icount, "SSE enabled: CR4.OSFXSR" + (" and OSXMMEXCPT" if "OSXMMEXCPT" in setbits else "")
                + " set",
                "CR4.OSFXSR tells the CPU that the operating system saves the SSE registers with FXSAVE/FXRSTOR; "
                "until it is set every SSE instruction raises #UD. OSXMMEXCPT lets SIMD floating-point errors "
                "arrive as #XM; CR0.EM must be clear too. Compilers use SSE for float arithmetic, so the kernel "
                "does this before running C code built for it.",
                [f"CR4: {_hex(f.get('old'))} -> {_hex(f.get('new'))}"]))
        elif cr == "cr0" and "PG" in setbits:
            self._paging_milestone(cycle, icount, f)      # emu/journey_paging.py


_PE_TEXT = ("Setting bit 0 (PE) of CR0 switched the CPU to protected mode. CS still holds the segment cached in "
            "real mode, so the next instructions still run as 16-bit code at the same addresses; the switch is "
            "completed by a far jump that loads CS with a selector from the GDT.")


def _without_accessed(raw_hex: str) -> str:
    """A descriptor's bytes with the 'accessed' bit cleared: the CPU sets it on every segment
    load, and a reload of the same table must not count as a new GDT."""
    try:
        raw = bytearray(bytes.fromhex(raw_hex))
    except ValueError:
        return raw_hex
    if len(raw) == 8 and raw[5] & 0x10:     # code/data descriptor: type bit 0 is 'accessed'
        raw[5] &= 0xFE
    return raw.hex()


def _gdt_title(f: dict[str, Any]) -> str:
    limit = f.get("limit", 0)
    return f"LGDT: GDT at {_hex(f.get('base'))} with {(limit + 1) // 8} descriptors (limit {_hex(limit)})"


def _summarise_gates(entries: list[dict[str, Any]], sym: Callable[[int], str]) -> list[str]:
    """One line per present gate (exceptions named), runs of absent gates collapsed."""
    out: list[str] = []
    run_start = None
    for i, e in enumerate(entries + [None]):
        absent = e is not None and (e.get("text") == "null" or "NOT present" in e.get("text", ""))
        if e is None or not absent:
            if run_start is not None:
                end = i - 1
                out.append(f"vector {run_start:#04x}" + (f"-{end:#04x}" if end != run_start else "") + ": not present")
                run_start = None
            if e is None:
                break
            idx = e.get("index", i)
            name = EXCEPTION_NAMES.get(idx, "") if idx < 32 else ""
            text = e.get("text", "?")
            off = e.get("offset")
            if off is None:
                raw = bytes.fromhex(e.get("raw", "")) if e.get("raw") else b""
                off = decode_descriptor(raw).offset if len(raw) == 8 else None
            target = sym(off) if off is not None else ""
            out.append(f"vector {idx:#04x}{' ' + name if name else ''}: {text}{target}")
        elif run_start is None:
            run_start = i
    if len(out) > 40:
        out = out[:36] + [f"... {len(out) - 40} more lines ..."] + out[-4:]
    return out
