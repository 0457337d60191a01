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
def recent_instructions(machine: "Machine", stop_at: int | None = None, limit: int = 12,
                        pcs: list[int] | None = None) -> list[tuple[int, str]]:
    """The last instructions executed, from the native ring of recent block start PCs (or
    `pcs`, the ring as it was when a fault was recorded).

    Each block runs straight from its start to a control transfer, so disassembling from the
    block's PC up to its branch (or to the faulting instruction, for the last block) gives the
    exact instructions retired, in order."""
    if pcs is not None:
        pcs = pcs[-6:]
    else:
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
    since), so each block is decoded in its own mode.  Many blocks split the same way in both
    modes (`31 c0` is `xor ax, ax` or `xor eax, eax`; `cf` is `iret` or `iretd`): the CPU's mode
    now is tried first, as it ran the most recent blocks."""
    if bc is None:
        return None
    from .fault_context import _insn_text, _md
    code = machine.read_mem(bc.address, bc.size)
    want = list(bc.insn_addrs)
    now32 = bool(machine.cpu.code32())
    for code32 in (now32, not now32):
        md = _md(code32)
        got = [(i.address, _insn_text(i)) for i in md.disasm(code, bc.address)]
        if [a for a, _ in got] == want:
            return got
    return None


def context_from_machine(machine: "Machine", vector: int, kind: str, error_code: int | None,
                         cs: int, eip: int) -> FaultContext:
    """Freeze what the explainer needs, now (call before the CPU pushes anything)."""
    ctx = _frozen_context(machine, vector, kind, error_code, cs, eip, machine.cpu.regs(), machine.cycles)
    fault_lin = ctx.linear(cs, eip)
    ctx.recent = recent_instructions(machine, stop_at=fault_lin if kind == "exception" else None)
    return ctx


def _frozen_context(machine: "Machine", vector: int, kind: str, error_code: int | None, cs: int, eip: int,
                    regs: dict[str, int], cycle: int, protected: bool | None = None,
                    code32: bool | None = None, cpl: int | None = None,
                    tables: tuple[tuple[int, int], tuple[int, int]] | None = None) -> FaultContext:
    """A FaultContext from registers taken earlier; memory is read (once per range) on demand."""
    from .fault_context import FaultContext
    cpu = machine.cpu
    snapshot: dict[tuple[int, int], bytes] = {}

    def read_mem(addr: int, n: int) -> bytes:
        key = (addr, n)
        if key not in snapshot:
            snapshot[key] = machine.read_mem(addr, n)
        return snapshot[key]

    symbolize = None
    if machine.symbols is not None:
        symbolize = machine.symbols.format
    return FaultContext(vector=vector, kind=kind, error_code=error_code, cs=cs, eip=eip,
                        protected=cpu.protected if protected is None else protected,
                        code32=cpu.code32() if code32 is None else code32, regs=regs,
                        gdtr=tables[0] if tables else cpu.table("gdtr"),
                        idtr=tables[1] if tables else cpu.table("idtr"), read_mem=read_mem,
                        cpl=(cpu.cpl if hasattr(cpu, "cpl") else cs & 3) if cpl is None else cpl,
                        symbolize=symbolize, cycle=cycle)


class FaultWatcher:
    """Explains every exception (and faulting INT n) of a running machine.

    It subscribes to the machine's deliveries (`hooks.deliveries`) to freeze the state before
    the CPU pushes the frame, and to its events (`hooks.events`) to learn what the delivery
    did.  `explanations` keeps the most recent ones; `last` is the latest.
    `on_explanation(expl)` callbacks run right after each (the TUI shows it).

    Lazy (issue 11): disassembling the recent instructions and reasoning about the cause cost
    about a millisecond per exception, which a loop that lives in exceptions paid every time.
    Without `on_explanation` callbacks an exception only keeps the registers it needs (and the
    recent-block ring); the explanation is worked out when `explanations` or `last` is read.
    Real-mode exceptions the native path delivered (emu/native_delivery.py) are taken from its
    records the same way, so the watcher does not need to see each delivery (`batched`).
    Memory (the faulting instruction's bytes, descriptors, the stack) is read when the
    explanation is made: for the fault a run ends on, that is the memory of the fault.
    """

    KEEP = 16

    def __init__(self, machine: "Machine") -> None:
        self.m = machine
        self._explained: list[Explanation] = []
        #: exceptions recorded but not explained yet, oldest first: callables -> Explanation | None
        self._pending: list[Callable[[], Explanation | None]] = []
        self.on_explanation: list[Callable[[Explanation], None]] = []
        self._events: list[tuple] | None = None
        native = getattr(machine, "native", None)
        self._native_seen = native.exceptions() if native is not None else 0
        hooks = machine.hooks
        self._unsubscribe = [hooks.subscribe(hooks.deliveries, self._before_delivery, batched=True),
                             hooks.subscribe(hooks.events, self._observe, batched=True)]

    @property
    def explanations(self) -> list[Explanation]:
        self._settle()
        return self._explained

    @property
    def last(self) -> Explanation | None:
        self._settle()
        return self._explained[-1] if self._explained else None

    def detach(self) -> None:
        for off in self._unsubscribe:
            off()
        self._unsubscribe = []

    # ------------------------------------------------------------------ lazy explaining
    def _settle(self) -> None:
        """Explain what was recorded (the newest KEEP), in order."""
        self._take_native()
        pending, self._pending = self._pending[-self.KEEP:], []
        for make in pending:
            expl = make()
            if expl is not None:
                self._keep(expl)

    def _keep(self, expl: Explanation) -> None:
        self._explained.append(expl)
        del self._explained[:-self.KEEP]

    def _take_native(self) -> None:
        """Queue the exceptions the native path delivered since we last looked."""
        native = getattr(self.m, "native", None)
        if native is None:
            return
        count = native.exceptions()
        first = max(self._native_seen + 1, count - self.KEEP + 1)
        for seq in range(first, count + 1):
            rec = native.record(seq)
            if rec is not None:
                self._pending.append(lambda rec=rec: self._explain_native(rec))
        self._native_seen = count
        if self.on_explanation and self._pending:
            self._settle_now()

    def _settle_now(self) -> None:
        """With callbacks attached: explain at once and tell them."""
        pending, self._pending = self._pending, []
        for make in pending:
            expl = make()
            if expl is not None:
                self._keep(expl)
                for cb in list(self.on_explanation):
                    cb(expl)

    def _explain_native(self, rec: dict[str, Any]) -> Explanation | None:
        m = self.m
        regs = dict(rec["regs"])
        cpu = m.cpu
        for cr in ("cr0", "cr2", "cr3", "cr4"):
            regs[cr] = cpu.get(cr)
        try:
            ctx = _frozen_context(m, rec["vector"], "exception", 0, regs["cs"], regs["eip"], regs, rec["cycle"],
                                  protected=False, code32=False, cpl=0)
            ctx.recent = recent_instructions(m, stop_at=ctx.linear(regs["cs"], regs["eip"]), pcs=rec["recent"])
        except Exception:
            return None
        ctx.chain = [("delivered", rec["vector"])]
        return _explain(ctx, rec["vector"], 0)

    # ------------------------------------------------------------------ the hooks
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
        the delivery did (the events it emitted) and records it for explaining."""
        m = self.m
        if kind != "exception" and not m.cpu.protected:
            return None    # BIOS calls and ticks: the IVT
        self._take_native()
        frozen = None
        walk = None
        pre: dict[str, int] = {}
        cpu = m.cpu
        if kind == "exception":
            try:
                cs = cpu.get("cs")
                frozen = (cs, cpu.regs(), m.cycles, cpu.protected, cpu.code32(), cpu.cpl,
                          list(m.fast.recent_blocks()), (cpu.table("gdtr"), cpu.table("idtr")))
                walk = _page_fault_walk(m, vector, error_code)   # now: the handler may repair the tables
            except Exception:   # the explainer must never break the machine
                frozen = None
        else:
            # INT n or an IRQ in protected mode: usually delivered fine, so only keep what delivery changes
            pre = {r: cpu.get(r) for r in ("cs", "ss", "esp", "eflags")}
        self._events = []

        def after(ok: bool) -> None:
            self._after_delivery(vector, return_eip, kind, error_code, frozen, pre, walk)

        return after

    def _after_delivery(self, vector: int, return_eip: int, kind: str, error_code: int | None,
                        frozen: Any, pre: dict[str, int], walk: Any = None) -> None:
        m = self.m
        events, self._events = self._events or [], None
        interesting = kind == "exception" or any(e[0] in ("fault", "triple") for e in events)
        if not interesting:
            return
        if frozen is not None:
            self._pending.append(lambda: self._explain_frozen(vector, return_eip, kind, error_code, frozen, events,
                                                              walk))
        elif pre:
            try:
                ctx = context_from_machine(m, vector, kind, error_code, pre["cs"], return_eip)
                ctx.regs.update(pre)
                ctx.cpl = pre["cs"] & 3
                ctx.code32 = bool((d := ctx.descriptor(pre["cs"])) and d.db)
            except Exception:
                return
            ctx.chain = events
            self._pending.append(lambda: _explain(ctx, vector, error_code))
        else:
            return
        if self.on_explanation:
            self._settle_now()
        elif len(self._pending) > 4 * self.KEEP:
            del self._pending[:-self.KEEP]

    def _explain_frozen(self, vector: int, return_eip: int, kind: str, error_code: int | None,
                        frozen: Any, events: list[tuple], walk: Any = None) -> Explanation | None:
        m = self.m
        cs, regs, cycle, protected, code32, cpl, ring, tables = frozen
        try:
            ctx = _frozen_context(m, vector, kind, error_code, cs, return_eip, regs, cycle,
                                  protected=protected, code32=code32, cpl=cpl, tables=tables)
            ctx.recent = recent_instructions(m, stop_at=ctx.linear(cs, return_eip) if kind == "exception" else None,
                                             pcs=ring)
        except Exception:
            return None
        ctx.chain = events
        ctx.page_walk = walk
        return _explain(ctx, vector, error_code)


def _page_fault_walk(machine: "Machine", vector: int, error_code: int | None) -> Any:
    """A #PF with paging on: the walk of CR2 as the CPU did it (emu/page_walk.py), taken at the
    delivery, before the handler can change the tables."""
    if vector != 14 or not machine.cpu.paging():
        return None
    from .page_walk import walk_machine
    return walk_machine(machine, machine.cpu.get("cr2"), access=error_code or 0)


def _explain(ctx: "FaultContext", vector: int, error_code: int | None) -> "Explanation":
    from .fault_causes import explain
    from .fault_context import Explanation, exc_name
    try:
        return explain(ctx)
    except Exception as exc:   # never break the run over a report
        return Explanation(summary=f"{exc_name(vector, error_code)} (the explainer failed: {exc})")
