"""The live side of the fault explainer: watching a running machine.

`FaultWatcher` hooks the machine's interrupt delivery to freeze a `FaultContext` before the
CPU pushes anything (`context_from_machine`, with the last instructions executed from
`recent_instructions`), then explains each exception once the delivery is over.  Split out of
emu/explain.py (which re-exports these names) to keep the machine-facing code apart from the
pure reasoning in emu/fault_causes.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .fault_context import Explanation, FaultContext
    from .machine import Machine

# The reasoning (emu/fault_causes.py, emu/fault_context.py) is imported when a fault is first
# explained: every `run` attaches a watcher, and most runs never fault (start-up, issue 11).

# ====================================================================== the live side
def recent_instructions(machine: "Machine", stop_at: int | None = None, limit: int = 12) -> list[tuple[int, str]]:
    """The last instructions executed, from the native ring of recent block start PCs.

    Each block runs straight from its start to a control transfer, so disassembling from the
    block's PC up to its branch (or to the faulting instruction, for the last block) gives the
    exact instructions retired, in order."""
    try:
        pcs = machine.fast.recent_blocks()[-6:]
    except Exception:   # no native fast path (accounting off): nothing to show
        return []
    priced = _priced_blocks(machine, set(pcs))
    out: list[tuple[int, str]] = []
    for n, pc in enumerate(pcs):
        last = n == len(pcs) - 1
        nxt = pcs[n + 1] if not last else None
        exact = _exact_block(machine, priced.get(pc))
        if exact is not None:
            for addr, text in exact:
                if nxt is not None and addr == nxt and addr != pc:
                    break
                out.append((addr, text))
                if last and stop_at is not None and addr == stop_at:
                    break
            continue
        block: list[tuple[int, str]] = []
        for addr, _raw, text in machine.disasm(pc, 24):
            if nxt is not None and addr == nxt and block:
                # the machine ended this block early (a watched instruction, a deadline):
                # the next block carries on from here
                break
            block.append((addr, text))
            if last and stop_at is not None and addr == stop_at:
                break
            mn = text.split()[0] if text else ""
            if mn.startswith("j") or mn in ("call", "ret", "retf", "iret", "iretd", "int", "int3", "hlt",
                                              "lcall", "ljmp", "loop", "loope", "loopne", "ud2", "into"):
                break
        out += block
    return out[-limit:]


def _priced_blocks(machine: "Machine", pcs: set[int]) -> dict[int, Any]:
    """The machine's priced blocks (emu/costs.BlockCost) that start at these PCs."""
    out: dict[int, Any] = {}
    try:
        for (pc, _size), bc in machine.priced_blocks().items():
            if pc in pcs:
                out[pc] = bc
    except Exception:
        return {}
    return out


def _exact_block(machine: "Machine", bc: Any) -> list[tuple[int, str]] | None:
    """A block's instructions exactly as the machine priced them: the instruction boundaries
    it recorded tell whether the block was 16- or 32-bit code (the CPU may have switched
    since), so each block is decoded in its own mode."""
    if bc is None:
        return None
    from .fault_context import _insn_text, _md
    code = machine.read_mem(bc.address, bc.size)
    want = list(bc.insn_addrs)
    for code32 in (True, False):
        md = _md(code32)
        got = [(i.address, _insn_text(i)) for i in md.disasm(code, bc.address)]
        if [a for a, _ in got] == want:
            return got
    return None


def context_from_machine(machine: "Machine", vector: int, kind: str, error_code: int | None,
                         cs: int, eip: int) -> FaultContext:
    """Freeze what the explainer needs, now (call before the CPU pushes anything)."""
    from .fault_context import FaultContext
    cpu = machine.cpu
    regs = cpu.regs()
    snapshot: dict[tuple[int, int], bytes] = {}

    def read_mem(addr: int, n: int) -> bytes:
        key = (addr, n)
        if key not in snapshot:
            snapshot[key] = machine.read_mem(addr, n)
        return snapshot[key]

    symbolize = None
    if machine.symbols is not None:
        symbolize = machine.symbols.format
    ctx = FaultContext(vector=vector, kind=kind, error_code=error_code, cs=cs, eip=eip,
                       protected=cpu.protected, code32=cpu.code32(), regs=regs, gdtr=cpu.table("gdtr"),
                       idtr=cpu.table("idtr"), read_mem=read_mem, cpl=cpu.cpl if hasattr(cpu, "cpl") else cs & 3,
                       symbolize=symbolize, cycle=machine.cycles)
    if vector == 14 and kind == "exception" and cpu.paging():
        from .page_walk import walk_machine
        ctx.page_walk = walk_machine(machine, regs.get("cr2", 0), access=error_code or 0)
    fault_lin = ctx.linear(cs, eip)
    ctx.recent = recent_instructions(machine, stop_at=fault_lin if kind == "exception" else None)
    return ctx


class FaultWatcher:
    """Explains every exception (and faulting INT n) of a running machine as it happens.

    It subscribes to the machine's deliveries (`hooks.deliveries`) to freeze the state before
    the CPU pushes the frame, and to its events (`hooks.events`) to learn what the delivery
    did.  `explanations` keeps the most recent ones; `last` is the latest.
    `on_explanation(expl)` callbacks run right after each (the TUI shows it).
    """

    KEEP = 16

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self.explanations: list[Explanation] = []
        self.on_explanation: list[Callable[[Explanation], None]] = []
        self._events: list[tuple] | None = None
        self._unsubscribe = [machine.hooks.subscribe(machine.hooks.deliveries, self._before_delivery),
                             machine.hooks.subscribe(machine.hooks.events, self._observe)]

    @property
    def last(self) -> Explanation | None:
        return self.explanations[-1] if self.explanations else None

    def detach(self) -> None:
        for off in self._unsubscribe:
            off()
        self._unsubscribe = []

    def _observe(self, kind: str, cycle: int, icount: int, fields: dict[str, Any]) -> None:
        if self._events is None:
            return
        if kind == "fault":
            self._events.append(("fault", fields.get("vector"), fields.get("error_code"), fields.get("why")))
        elif kind == "triple_fault":
            self._events.append(("triple", fields.get("why", "")))
        elif kind == "interrupt":
            self._events.append(("delivered", fields.get("vector")))

    def _before_delivery(self, vector: int, return_eip: int, kind: str,
                         error_code: int | None) -> Callable[[bool], None] | None:
        """Freeze the state before the CPU pushes the frame; the returned callable reads what
        the delivery did (the events it emitted) and explains it."""
        m = self.m
        if kind != "exception" and not m.cpu.protected:
            return None    # BIOS calls and ticks: the IVT
        ctx = None
        pre: dict[str, int] = {}
        if kind == "exception":
            try:
                ctx = context_from_machine(m, vector, kind, error_code, m.cpu.get("cs"), return_eip)
            except Exception:   # the explainer must never break the machine
                ctx = None
        else:
            # INT n or an IRQ in protected mode: usually delivered fine, so only keep what delivery changes
            cpu = m.cpu
            pre = {r: cpu.get(r) for r in ("cs", "ss", "esp", "eflags")}
        self._events = []

        def after(ok: bool) -> None:
            self._after_delivery(vector, return_eip, kind, error_code, ctx, pre)

        return after

    def _after_delivery(self, vector: int, return_eip: int, kind: str, error_code: int | None,
                        ctx: Any, pre: dict[str, int]) -> None:
        m = self.m
        events, self._events = self._events or [], None
        interesting = kind == "exception" or any(e[0] in ("fault", "triple") for e in events)
        if not interesting:
            return
        if ctx is None and pre:
            try:
                ctx = context_from_machine(m, vector, kind, error_code, pre["cs"], return_eip)
                ctx.regs.update(pre)
                ctx.cpl = pre["cs"] & 3
                ctx.code32 = bool((d := ctx.descriptor(pre["cs"])) and d.db)
            except Exception:
                ctx = None
        if ctx is None:
            return
        ctx.chain = events
        from .fault_causes import explain
        from .fault_context import Explanation, exc_name
        try:
            expl = explain(ctx)
        except Exception as exc:   # never break the run over a report
            expl = Explanation(summary=f"{exc_name(vector, error_code)} (the explainer failed: {exc})")
        self.explanations.append(expl)
        del self.explanations[:-self.KEEP]
        for cb in list(self.on_explanation):
            cb(expl)
