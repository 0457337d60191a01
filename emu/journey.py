"""The boot journey: the milestones of a PC boot, recognised from the machine's events.

From power-on to `main` a PC passes the same landmarks: the BIOS hands over to the boot sector
at 0x7C00, the boot code reads the disk through INT 13h, asks for the memory map (E820),
makes sure the A20 line is on, loads a GDT, sets CR0.PE, far-jumps to reload CS (the moment
protected mode really begins), reloads the data segments, loads an IDT, remaps the 8259A PIC,
takes its first timer and keyboard interrupts, enables SSE, and reaches the kernel's entry and
its `main`.  `Journey` recognises each from the architectural events the machine emits
(`Machine.observers`, the same events as `--trace`; see docs/cli.md) plus a few things it
watches itself: port writes to the PIC and the A20 gates (`Bus.observe_io`), and code hooks
on the kernel's entry symbols and on the segment loads right after the far jump.

Every milestone has its exact cycle stamp, a title, two or three sentences for a learner
(what happened and why it is needed) and decoded details.  The same class works on a live
machine (`Journey.attach`) and on a recorded event list (`Journey.feed_records`, e.g. a
`--trace` file), which is how the recogniser is unit-tested.  docs/journey.md lists the
milestones and their texts.

The recognisers live in one mixin per boot phase: emu/journey_realmode.py (BIOS, disk, E820,
A20, PIC), emu/journey_protected.py (GDT, CR0.PE, segments, IDT, CR4), emu/journey_kernel.py
(interrupts, faults, kernel symbols, end of run) and emu/privilege.py (rings); `Milestone` is in
emu/milestone.py.  This module keeps the feeding machinery (live and offline, rewind for time
travel) and re-exports the names other modules import from it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

# the names below that this module does not use itself are re-exported: they lived here before
# the split, and `from bareflow.emu.journey import ...` keeps working for all of them
from .journey_kernel import IRQ_NAMES, MAX_EXCEPTIONS, KernelMilestones, _END_TEXT  # noqa: F401
from .journey_protected import (ProtectedModeMilestones, _PE_TEXT, _gdt_title,  # noqa: F401
                                _summarise_gates, _without_accessed)
from .journey_realmode import RealModeMilestones, _A20_TEXT  # noqa: F401
from .milestone import CPU_HZ_DEFAULT, Milestone, _disk_run_summary, _first, _hex, _wrap  # noqa: F401
from .journey_paging import PagingMilestones
from .privilege import RingMilestones

if TYPE_CHECKING:
    from .machine import Machine

ENTRY_NAMES = ("_start", "start", "_entry", "kernel_entry")
MAIN_NAMES = ("kmain", "kernel_main", "main", "app_main")
WATCH_PORTS = frozenset({0x20, 0x21, 0xA0, 0xA1, 0x92, 0x60, 0x64})
#: what a live journey observes on the bus: not the 8259s' command ports 0x20/0xA0, which every
#: timer tick writes (its EOI) and which the machine may then answer natively; an ICW2 is known
#: from the chip itself when it is written (`_live_fields`: the chip expects it after an ICW1)
LIVE_PORTS = WATCH_PORTS - {0x20, 0xA0}


class Journey(RealModeMilestones, ProtectedModeMilestones, KernelMilestones, RingMilestones, PagingMilestones):
    """Recognises boot milestones in a stream of machine events (see the module docstring)."""

    #: the record each milestone is (the privilege mixin builds its milestones with it)
    milestone_type = Milestone

    def __init__(self, *, symbols: Any = None, cpu_hz: int = CPU_HZ_DEFAULT) -> None:
        self.listeners: list[Callable[[Milestone], None]] = []
        self.symbols = symbols
        self.cpu_hz = cpu_hz
        self.machine: "Machine | None" = None
        self._seg_hooked: set[int] = set()      # code hooks stay installed across a reset
        self._replaying = False
        self._reset_state()
        self._log: list[tuple[str, int, int, dict[str, Any]]] = []

    def _reset_state(self) -> None:
        """Forget the journey so far (a new boot: the machine was reset)."""
        self.milestones: list[Milestone] = []
        self._pic_base = [0x08, 0x70]           # the BIOS's (and SeaBIOS's) vector bases
        self._icw_expect = [0, 0]               # after ICW1: which ICW comes next (2) per chip
        self._remap: Milestone | None = None
        self._kbc_cmd: int | None = None
        self._a20: bool | None = None
        self._a20_pending: tuple[str, int] | None = None
        self._a20_milestone: Milestone | None = None
        self._pe_pending: tuple[int, int, int] | None = None   # (cycle, icount, eip) of CR0.PE set
        self._protected32 = False
        self._unreal: Milestone | None = None
        self._last_gdt: tuple | None = None
        self._last_gdt_m: Milestone | None = None
        self._gdt_entries: list[dict[str, Any]] = []
        self._disk: Milestone | None = None
        self._disk_reads = 0
        self._e820: Milestone | None = None
        self._irq_seen: set[tuple[int, bool]] = set()
        self._exceptions = 0
        self._last_exc: Milestone | None = None
        self._symbols_seen: set[str] = set()
        self._seg_loads: list[tuple[str, Any]] = []
        self._seg_expected = 0
        self._seg_last = (0, 0)
        self._mutations = 0
        self._ended = False
        self._reset_rings()
        self._reset_paging()

    # ------------------------------------------------------------------ output
    def add(self, m: Milestone) -> Milestone:
        if self.milestones and self.milestones[-1].kind == "end" and self.milestones[-1].role == "resumable":
            self.milestones.pop()               # the run only paused at a cycle limit and went on
        if m.kind != "segments" and 0 < len(self._seg_loads) < self._seg_expected:
            self._segments_milestone(*self._seg_last)
        self.milestones.append(m)
        if not self._replaying:
            for cb in list(self.listeners):
                cb(m)
        return m

    def text(self, *, details: bool = True, width: int = 100) -> str:
        """The journey as text (what `bareflow-emu explain` prints).  A run of repeated disk
        reads is shown as its first read and one summary line."""
        out: list[str] = []
        i, ms = 0, self.milestones
        while i < len(ms):
            m = ms[i]
            out.append(m.format(self.cpu_hz, details=details, width=width))
            if m.kind == "disk_read":
                j = i + 1
                while j < len(ms) and ms[j].kind == "disk_read" and not ms[j].pause:
                    j += 1
                if j - i > 2:
                    out.append(_disk_run_summary(ms[i + 1:j], self.cpu_hz))
                    i = j
                    continue
            i += 1
        return "\n".join(out) + "\n"

    def kinds(self) -> list[str]:
        return [m.kind for m in self.milestones]

    def find(self, kind: str) -> list[Milestone]:
        return [m for m in self.milestones if m.kind == kind]

    # ------------------------------------------------------------------ input
    def feed(self, kind: str, cycle: int, icount: int, fields: dict[str, Any]) -> None:
        """One machine event (the `Machine.observers` signature)."""
        handler = getattr(self, "_on_" + kind, None)
        if handler is None:
            return
        if self.machine is not None and not self._replaying:
            fields = self._live_fields(kind, fields)
        if self.machine is None or self._replaying:
            handler(cycle, icount, fields)      # nothing to rewind without a machine
            return
        before = self._state_key()
        handler(cycle, icount, fields)
        if self._state_key() != before:         # only what changed the journey is kept
            self._log.append((kind, cycle, icount, fields))

    @property
    def revision(self) -> tuple[int, int]:
        """Changes whenever the story may have: (milestone edits, events kept).  A front end
        compares it to decide whether to redraw."""
        return self._mutations, len(self._log)

    def _state_key(self) -> tuple:
        """Everything an event can change; `feed` keeps an event for `rewind` only if this moved
        (so the log grows with the journey, not with every EOI or BIOS keyboard poll)."""
        return (len(self.milestones), self._mutations, self._pe_pending, self._protected32,
                tuple(self._icw_expect), self._kbc_cmd, self._a20_pending, tuple(self._pic_base), self._a20,
                len(self._seg_loads), self._seg_expected, len(self._irq_seen), self._exceptions,
                len(self._symbols_seen), self._last_gdt, self._disk_reads, self._rings_state(),
                self._paging_state())

    def _live_fields(self, kind: str, f: dict[str, Any]) -> dict[str, Any]:
        """What the recogniser reads from the live machine, read now and kept with the event,
        so that `rewind` can replay the event later without the machine of that time."""
        if kind == "bios":
            ah = f.get("ah")
            if f.get("vector") == 0x13 and ah in (0x02, 0x42):
                return dict(f, **self._disk_request(ah, f))
            if f.get("vector") == 0x15 and ah == 0xE8 and f.get("al") == 0x20:
                return dict(f, **self._e820_entry(f))
        elif kind == "lidt":
            full = self._read_idt(f.get("base", 0), f.get("limit", 0))
            if full is not None:
                return dict(f, full_entries=full)
        elif kind == "mode":
            return dict(f, cs_desc=self._describe_selector(f.get("cs", 0)))
        elif kind == "io" and f.get("port") in (0x21, 0xA1):
            icw2 = self._icw2_expected(f["port"])
            if icw2 is not None:
                return dict(f, icw2=icw2)
        elif kind == "interrupt" and f.get("kind") == "hardware":
            return dict(f, irq_line=self._irq_line(f.get("vector", 0)))
        elif kind == "interrupt" and f.get("kind") == "exception" and f.get("vector") == 14:
            return dict(f, **self._pf_live(f))
        return f

    def rewind(self, cycle: int) -> None:
        """The machine went back to `cycle` (time travel): forget what happened after it.

        The recogniser's state is rebuilt by replaying the events it kept up to that cycle
        (events raised inside an instruction at exactly `cycle` are dropped: that instruction
        runs again); listeners are not told again about the milestones that remain."""
        keep = [e for e in self._log if e[1] < cycle or (e[1] == cycle and e[0] not in _IN_INSN)]
        if len(keep) == len(self._log):
            return
        self._reset_state()
        self._log = keep
        self._replaying = True
        try:
            for kind, c, icount, fields in keep:
                getattr(self, "_on_" + kind)(c, icount, fields)
        finally:
            self._replaying = False
        self._paging_after_rewind()

    __call__ = feed

    def feed_records(self, records: Iterable[dict[str, Any]]) -> "Journey":
        """Events as `--trace` writes them: {"cycle", "icount", "event", ...fields}."""
        for r in records:
            fields = {k: v for k, v in r.items() if k not in ("cycle", "icount", "event")}
            self.feed(r["event"], int(r.get("cycle", 0)), int(r.get("icount", 0)), fields)
        return self

    # ------------------------------------------------------------------ live machine
    def attach(self, machine: "Machine") -> "Journey":
        """Listen to a machine: its events, its port writes (PIC, A20) and its kernel symbols."""
        self.machine = machine
        if self.symbols is None:
            self.symbols = machine.symbols
        def observe(kind: str, cycle: int, icount: int, fields: dict[str, Any]) -> None:
            # events from inside an instruction hook carry the cycle of their block's end;
            # the machine can tell the exact cycle of the instruction being executed
            if kind == "mmio":
                return                          # --trace's copy: the journey has its own (below)
            if kind in _IN_HOOK:
                try:
                    cycle = min(cycle, machine.exact_now())
                except Exception:
                    pass
            self.feed(kind, cycle, icount, fields)

        machine.hooks.events.append(observe)

        def on_io(d: str, port: int, size: int, value: int) -> None:
            if port in LIVE_PORTS and d == "out":
                self.feed("io", machine.clock.now(), machine.instructions,
                          {"dir": d, "port": port, "size": size, "value": value})

        # writes only: the other ports, and reads of these (the 8042 status a kernel polls at
        # every tick), may be answered natively
        machine.bus.observe_io(on_io, ports=LIVE_PORTS, writes_only=True)

        def on_mmio(d: str, addr: int, size: int, value: int) -> None:
            if d == "write" and (addr & 0xFFFFF000) in (0xFEE00000, 0xFEC00000):
                self.feed("mmio", machine.exact_now(), machine.instructions,
                          {"dir": d, "addr": addr, "size": size, "value": value})

        machine.board.mmio_observers.append(on_mmio)
        # time travel (emu/timetravel.py) goes back with Machine.restore: rewind with it
        machine.hooks.restores.append(lambda _snapshot: self.rewind(machine.cycles))
        self._a20 = machine.a20
        # the hand-over happened inside Machine() (before anyone could listen): take it from the state
        if machine.instructions == 0:
            cpu = machine.cpu
            self.feed("boot", machine.cycles, 0, {"cs": cpu.get("cs"), "eip": cpu.get("eip"), "dl": cpu.get("dl"),
                                                  "a20": machine.a20})
        self._hook_symbols()
        return self

    def _hook_symbols(self) -> None:
        m = self.machine
        if m is None or self.symbols is None:
            return
        from unicorn import UC_HOOK_CODE
        wanted: list[tuple[str, str]] = []
        for role, names in (("entry", ENTRY_NAMES), ("main", MAIN_NAMES)):
            for name in names:
                wanted.append((role, name))
        done_addrs: set[int] = set()
        for role, name in wanted:
            try:
                addr = self.symbols.address_of(name)
            except Exception:
                continue
            if addr in done_addrs:
                continue
            done_addrs.add(addr)

            def hit(uc, address, size, _ud, name=name, role=role):
                if name in self._symbols_seen:
                    return
                self._symbols_seen.add(name)
                self.feed("symbol", m.exact_now(), m.instructions, {"name": name, "address": address, "role": role})

            m.uc.hook_add(UC_HOOK_CODE, hit, None, addr, addr)
            m.uc.ctl_remove_cache(addr & ~0xFFF, (addr & ~0xFFF) + 0x1000)

    def _hook_segment_loads(self, cs: int, eip: int) -> None:
        """After the far jump: hook the segment loads in the straight-line code that follows."""
        m = self.machine
        if m is None:
            return
        from unicorn import UC_HOOK_CODE
        lin = m.cpu.linear_pc()
        targets: list[tuple[int, str, str | None]] = []
        for addr, _raw, text in m.disasm(lin, 24):
            mn, _, ops = text.partition(" ")
            if mn == "mov" and ops.split(",")[0].strip() in ("ds", "es", "fs", "gs", "ss"):
                targets.append((addr, ops.split(",")[0].strip(), ops.split(",")[1].strip()))
            elif mn == "pop" and ops.strip() in ("ds", "es", "fs", "gs", "ss"):
                targets.append((addr, ops.strip(), None))
            elif mn.startswith("j") or mn in ("call", "ret", "int", "hlt", "iret", "iretd", "ljmp", "lcall"):
                break
        self._seg_expected = len(targets)
        self._seg_loads = []
        for addr, reg, src in targets:
            if addr in self._seg_hooked:        # hooked on an earlier boot: it fires already
                continue
            self._seg_hooked.add(addr)
            def hit(uc, address, size, _ud, reg=reg, src=src):
                if len(self._seg_loads) >= self._seg_expected:
                    return
                value = None
                if src is not None:
                    try:
                        value = m.cpu.get(src) & 0xFFFF
                    except KeyError:
                        value = None
                self.feed("seg_load", m.exact_now(), m.instructions, {"reg": reg, "selector": value})

            m.uc.hook_add(UC_HOOK_CODE, hit, None, addr, addr)
            m.uc.ctl_remove_cache(addr & ~0xFFF, (addr & ~0xFFF) + 0x1000)

    # ------------------------------------------------------------------ helpers
    def _describe_selector(self, sel: int) -> str:
        """The descriptor a selector names, from the machine or from the last LGDT seen."""
        if self.machine is not None:
            d = self.machine.cpu.descriptor(sel)
            if d is not None:
                return d.describe()
        for e in self._gdt_entries:
            if e.get("selector") == sel & ~7:
                return e.get("text", "?")
        return "descriptor unknown"

    def _icw2_expected(self, port: int) -> bool | None:
        """Does the live 8259 of `port` (0x21/0xA1) take this data write as its ICW2 (it had an
        ICW1)?  Read before the write reaches the chip; None when unknown."""
        try:
            pic = self.machine.pic
            return int((pic.master if port == 0x21 else pic.slave).init_state) == 1
        except Exception:
            return None

    def _irq_line(self, vector: int) -> int | None:
        bases = self._pic_base
        if self.machine is not None:
            try:       # the two ICW2 bases (each hardware interrupt: not the whole `state()`)
                pic = self.machine.pic
                bases = [int(pic.master.irq_base), int(pic.slave.irq_base)]
            except Exception:
                pass
        if bases[0] <= vector < bases[0] + 8:
            return vector - bases[0]
        if bases[1] <= vector < bases[1] + 8:
            return 8 + vector - bases[1]
        return None

    def _sym(self, addr: int) -> str:
        if self.symbols is not None:
            try:
                hit = self.symbols.lookup(addr)
            except Exception:
                hit = None
            if hit:
                return f" ({self.symbols.format(addr)})"
        return ""


#: Events raised inside an instruction (which runs again after going back to its cycle).
_IN_INSN = frozenset({"lgdt", "lidt", "cr_write", "cr0_pe", "a20", "bios", "io", "symbol", "seg_load", "ltr",
                      "mmio", "pf_return"})

#: Events the machine emits from an instruction hook (where Machine.exact_now() is exact).
_IN_HOOK = frozenset({"lgdt", "lidt", "cr_write", "cr0_pe", "a20", "bios", "ltr"})
