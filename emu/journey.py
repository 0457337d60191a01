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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .cpu import decode_descriptor
from .interrupts import EXCEPTION_NAMES
from .privilege import RingMilestones

if TYPE_CHECKING:
    from .machine import Machine

CPU_HZ_DEFAULT = 100_000_000
ENTRY_NAMES = ("_start", "start", "_entry", "kernel_entry")
MAIN_NAMES = ("kmain", "kernel_main", "main", "app_main")
WATCH_PORTS = frozenset({0x20, 0x21, 0xA0, 0xA1, 0x92, 0x60, 0x64})
IRQ_NAMES = {0: "timer (PIT channel 0)", 1: "keyboard", 2: "cascade", 3: "COM2", 4: "COM1", 8: "RTC",
             12: "PS/2 mouse", 14: "primary ATA"}
#: How many exceptions the journey records one by one (a kernel that faults in a loop must
#: not flood the timeline); later ones are counted on the last.
MAX_EXCEPTIONS = 8


@dataclass
class Milestone:
    """One step of the journey."""

    kind: str
    cycle: int
    icount: int
    title: str
    text: str
    details: list[str] = field(default_factory=list)
    #: --pause-at-milestones stops here (repeats such as the 2nd..nth disk read do not)
    pause: bool = True
    count: int = 1
    #: disk reads: for the summary of a run of reads
    lba: int | None = None
    sectors: int | None = None
    #: symbol milestones: "entry", "kernel" (kmain) or "main" (the program's main)
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cycle": self.cycle, "icount": self.icount, "title": self.title,
                "text": self.text, "details": list(self.details), "pause": self.pause, "count": self.count,
                "role": self.role}

    def stamp(self, cpu_hz: int = CPU_HZ_DEFAULT) -> str:
        ms = self.cycle * 1000.0 / cpu_hz
        return f"cycle {self.cycle:>12,}  {ms:10.3f} ms"

    def format(self, cpu_hz: int = CPU_HZ_DEFAULT, *, details: bool = True, width: int = 100) -> str:
        lines = [f"[{self.stamp(cpu_hz)}] {self.title}"]
        lines += _wrap(self.text, width, "    ")
        if details:
            lines += [f"      {d}" for d in self.details]
        return "\n".join(lines)


def _wrap(text: str, width: int, indent: str) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent) or [indent]


def _hex(v: int | None) -> str:
    return "?" if v is None else f"{v:#x}"


def _first(fields: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in fields and fields[n] is not None:
            return fields[n]
    return None


class Journey(RingMilestones):
    """Recognises boot milestones in a stream of machine events (see the module docstring)."""

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
                len(self._symbols_seen), self._last_gdt, self._disk_reads, self._rings_state())

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
        elif kind == "interrupt" and f.get("kind") == "hardware":
            return dict(f, irq_line=self._irq_line(f.get("vector", 0)))
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
            if kind in _IN_HOOK:
                try:
                    cycle = min(cycle, machine.exact_now())
                except Exception:
                    pass
            self.feed(kind, cycle, icount, fields)

        machine.hooks.events.append(observe)

        def on_io(d: str, port: int, size: int, value: int) -> None:
            if port in WATCH_PORTS and d == "out":
                self.feed("io", machine.clock.now(), machine.instructions,
                          {"dir": d, "port": port, "size": size, "value": value})

        machine.bus.observe_io(on_io)
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

    def _irq_line(self, vector: int) -> int | None:
        bases = self._pic_base
        if self.machine is not None:
            try:
                bases = list(self.machine.pic.state()["vector_base"])
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

    def _flush_pe(self) -> None:
        """A CR0.PE set not yet followed by a far jump: report it now (the run stopped or faulted)."""
        if self._pe_pending is not None:
            cycle, icount, eip = self._pe_pending
            self._pe_pending = None
            self.add(Milestone("cr0_pe", cycle, icount, f"CR0.PE set at EIP {eip:#x}", _PE_TEXT))

    # ------------------------------------------------------------------ recognisers
    def _on_boot(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if self.milestones:
            self._reset_state()
        if "a20" not in f and self.machine is not None:
            f = dict(f, a20=self.machine.a20)
        cs, eip, dl = f.get("cs", 0), f.get("eip", 0x7C00), f.get("dl", 0x80)
        details = [f"CS:IP = {cs:04x}:{eip:04x} (linear {((cs << 4) + eip):#x}), DL = {dl:#04x} "
                   f"({'hard disk' if dl >= 0x80 else 'floppy'} {dl & 0x7F})"]
        a20 = f.get("a20")
        if a20 is not None:
            self._a20 = bool(a20)
            details.append(f"A20 line at hand-over: {'enabled' if a20 else 'disabled'}"
                           + (" (SeaBIOS and BareFlow's BIOS leave it on)" if a20 else ""))
        self.add(Milestone(
            "handover", cycle, icount, f"BIOS hands over to the boot sector at {cs:04x}:{eip:04x}",
            "The BIOS copied the disk's first 512-byte sector to 0x7C00, checked that it ends with the "
            "signature 0x55AA, and jumped to it in 16-bit real mode with the boot drive number in DL. "
            "From here on every instruction is the image's own code; the BIOS only answers when it is "
            "called through a software interrupt.", details))
        if a20:
            self.add(Milestone(
                "a20", cycle, icount, "A20 already enabled at hand-over (by the BIOS)",
                "Address line 20 is already on: SeaBIOS, and BareFlow's BIOS like it, enable it during POST, so "
                "memory above 1 MiB does not wrap around to 0. A careful boot loader still checks (a wrap-around "
                "test) and knows how to switch it on: port 0x92, the 8042 output port or INT 15h AX=2401h.",
                pause=False))

    def _on_bios(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        """A BIOS service returned (fields: vector, ah, al, bx, cx, dx on entry, ret_ax, cf)."""
        vector = f.get("vector")
        ah = f.get("ah")
        al = f.get("al")
        if vector == 0x13 and ah in (0x02, 0x42):
            self._disk_read(cycle, icount, ah, f if self.machine is not None else dict(f, **self._disk_request(ah, f)))
        elif vector == 0x15 and ah == 0xE8 and al == 0x20:
            self._e820_call(cycle, icount, f)
        elif vector == 0x15 and ah == 0x24 and al in (0, 1) and not f.get("cf"):
            method = "BIOS INT 15h AX=240%dh" % al
            m = self._a20_milestone
            if m is not None and m.cycle == cycle and "unknown method" in m.title:
                m.title = m.title.replace("unknown method", method)
                self._mutations += 1
                m.text = m.text.replace("unknown method", method)
            elif al == 1 and self._a20 is True and (m is None or m.cycle != cycle):
                self.add(Milestone("a20", cycle, icount, f"A20 kept on through {method} (it was already enabled)",
                                   _A20_TEXT.format(method=method)))

    def _disk_request(self, ah: int, f: dict[str, Any]) -> dict[str, Any]:
        """LBA, count and buffer of an INT 13h read: CHS from the registers, or the packet at DS:SI."""
        out: dict[str, Any] = {}
        m = self.machine
        if ah == 0x02:
            cx, dx = f.get("cx", 0), f.get("dx", 0)
            cyl = (cx >> 8) | ((cx & 0xC0) << 2)
            sec = cx & 0x3F
            head = dx >> 8
            out.update(count=f.get("al"), chs=f"{cyl}/{head}/{sec}")
            if m is not None:
                try:
                    _nc, nh, ns = m.disk.lchs
                    out["lba"] = (cyl * nh + head) * ns + sec - 1
                    out["buffer"] = (m.cpu.get("es") << 4) + f.get("bx", 0)
                except Exception:
                    pass
        elif m is not None:
            try:
                dap = (m.cpu.get("ds") << 4) + m.cpu.get("si")
                raw = m.read_mem(dap, 16)
                out["count"] = int.from_bytes(raw[2:4], "little")
                out["buffer"] = (int.from_bytes(raw[6:8], "little") << 4) + int.from_bytes(raw[4:6], "little")
                out["lba"] = int.from_bytes(raw[8:16], "little")
            except Exception:
                pass
        if f.get("cf"):
            out["status"] = (f.get("ret_ax", 0) >> 8) & 0xFF
        return out

    def _e820_entry(self, f: dict[str, Any]) -> dict[str, Any]:
        """The range the BIOS just wrote at ES:DI (live only; the event carries only the index)."""
        m = self.machine
        if m is None or f.get("cf"):
            return {}
        try:
            raw = m.read_mem((m.cpu.get("es") << 4) + m.cpu.get("di"), 20)
        except Exception:
            return {}
        return {"base": int.from_bytes(raw[0:8], "little"), "length": int.from_bytes(raw[8:16], "little"),
                "type": int.from_bytes(raw[16:20], "little")}

    def _disk_read(self, cycle: int, icount: int, ah: int, f: dict[str, Any]) -> None:
        self._disk_reads += 1
        lba = _first(f, "lba")
        count = _first(f, "count", "sectors", "done")
        buf = _first(f, "buffer", "buf", "dest", "addr", "address")
        status = _first(f, "status", "error")
        how = "AH=02h (cylinder/head/sector)" if ah == 0x02 else "AH=42h (extended read by LBA)"
        what = []
        if count is not None:
            what.append(f"{count} sector{'s' if count != 1 else ''}")
        if lba is not None:
            what.append(f"from LBA {lba}")
        if buf is not None:
            what.append(f"to {buf:#x}")
        desc = " ".join(what) if what else "sectors"
        fail = f" - failed (status {status:#x})" if isinstance(status, int) and status else ""
        title = f"Disk read #{self._disk_reads}: INT 13h {how}: {desc}{fail}"
        repeat = self._disk is not None and self.milestones and self.milestones[-1].kind == "disk_read"
        if self._disk is None:
            text = ("The boot code asked the BIOS to copy sectors of the disk into memory: INT 13h AH=02h "
                    "addresses them by cylinder, head and sector, AH=42h by logical block number through a "
                    "disk address packet. Until the OS has a disk driver of its own, the BIOS is the only "
                    "way to load more than the 512-byte boot sector.")
        else:
            text = "Another INT 13h read: the loader brings in the next part of the image."
        details = []
        if f.get("chs"):
            details.append(f"cylinder/head/sector {f['chs']}")
        if f.get("dx") is not None:
            details.append(f"drive {f['dx'] & 0xFF:#04x}")
        m = Milestone("disk_read", cycle, icount, title, text, details, pause=not repeat,
                      lba=lba if isinstance(lba, int) else None, sectors=count if isinstance(count, int) else None)
        self._disk = m
        self.add(m)

    def _e820_call(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        base = _first(f, "base")
        length = _first(f, "length", "size")
        typ = _first(f, "type")
        names = {1: "usable RAM", 2: "reserved", 3: "ACPI reclaimable", 4: "ACPI NVS", 5: "bad memory"}
        entry = None
        if base is not None and length is not None:
            entry = (f"{base:#012x} - {base + length - 1:#012x}  {length / 1024:10.0f} KiB  "
                     f"{names.get(typ, f'type {typ}')}")
        elif f.get("cf"):
            entry = f"a call with EBX = {f.get('bx', 0)} was refused (CF set: bad signature or no such entry)"
        elif f.get("bx") is not None and self.machine is None:
            entry = f"entry {f['bx']} (a trace file does not carry the range)"
        if self._e820 is None or not self.milestones or self.milestones[-1] is not self._e820:
            m = Milestone("e820", cycle, icount, "E820: the BIOS describes the memory map",
                          "INT 15h with EAX=E820h returns one range of the physical address space per call: "
                          "base, length and type (usable RAM, reserved for the BIOS or ACPI). The kernel needs "
                          "this map to know which memory it may use; there is a hole below 1 MiB (video "
                          "memory, ROMs) and reserved ranges near the top of RAM.", [])
            if entry:
                m.details.append(entry)
            self._e820 = m
            self.add(m)
            return
        m = self._e820
        m.count += 1
        self._mutations += 1
        if entry:
            m.details.append(entry)
        m.title = f"E820: the BIOS describes the memory map ({m.count} calls)"

    def _on_io(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        if f.get("dir") != "out":
            return
        port, value = f.get("port"), f.get("value", 0) & 0xFF
        if port in (0x20, 0xA0):
            chip = 0 if port == 0x20 else 1
            if value & 0x10:                      # ICW1: the chip starts its initialisation
                self._icw_expect[chip] = 2
        elif port in (0x21, 0xA1):
            chip = 0 if port == 0x21 else 1
            if self._icw_expect[chip] == 2:
                self._icw_expect[chip] = 0
                self._pic_remapped(cycle, icount, chip, value & 0xF8)
        elif port == 0x92:
            if value & 2:
                self._a20_write("port 0x92 (\"fast A20\")", cycle, icount)
        elif port == 0x64:
            self._kbc_cmd = value
            if value == 0xDF:
                self._a20_write("8042 command DFh", cycle, icount)
        elif port == 0x60:
            if self._kbc_cmd == 0xD1 and value & 2:
                self._a20_write("the 8042 keyboard controller's output port (command D1h)", cycle, icount)
            self._kbc_cmd = None

    def _pic_remapped(self, cycle: int, icount: int, chip: int, base: int) -> None:
        old = self._pic_base[chip]
        self._pic_base[chip] = base
        line0 = 0 if chip == 0 else 8
        detail = f"{'master' if chip == 0 else 'slave'} 8259A: IRQ{line0}-{line0 + 7} -> vectors " \
                 f"{base:#04x}-{base + 7:#04x} (was {old:#04x}-{old + 7:#04x})"
        m = self._remap
        if m is not None and self.milestones and self.milestones[-1] is m and len(m.details) < 2:
            m.details.append(detail)
            self._mutations += 1
        else:
            m = Milestone("pic_remap", cycle, icount, "", (
                "The boot code re-initialised the 8259A interrupt controllers (ICW1 to 0x20/0xA0, then "
                "ICW2, the vector base, to 0x21/0xA1). The BIOS maps IRQ0-7 to vectors 8-15, which in "
                "protected mode are CPU exceptions (8 is #DF, 13 is #GP): a timer tick would look like a "
                "double fault. Moving the IRQs past the 32 vectors Intel reserves keeps the two apart."),
                [detail])
            self._remap = m
            self.add(m)
        m.title = "PIC remapped: " + ", ".join(
            f"IRQ{0 if c == 0 else 8}-{7 if c == 0 else 15} -> {self._pic_base[c]:#04x}"
            for c in (0, 1) if any(("master" if c == 0 else "slave") in d for d in m.details))

    def _a20_write(self, method: str, cycle: int, icount: int) -> None:
        if self._a20 is True:
            if not any(m.kind == "a20" and method in m.title for m in self.milestones[-3:]):
                self.add(Milestone("a20", cycle, icount, f"A20 kept on through {method} (it was already enabled)",
                                   _A20_TEXT.format(method=method), pause=True))
            return
        self._a20_pending = (method, cycle)

    def _on_a20(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        enabled = bool(f.get("enabled"))
        self._a20 = enabled
        method = self._a20_pending[0] if self._a20_pending else "unknown method"
        self._a20_pending = None
        if enabled:
            m = Milestone("a20", cycle, icount, f"A20 enabled via {method}", _A20_TEXT.format(method=method))
        else:
            m = Milestone("a20", cycle, icount, f"A20 disabled via {method}",
                          "The A20 gate is closed again: addresses wrap at 1 MiB as on an 8086.")
        self._a20_milestone = m
        self.add(m)

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
            self.add(Milestone("paging", cycle, icount, "Paging enabled: CR0.PG set",
                               "From now on every address goes through the page tables CR3 points at.",
                               [f"CR0: {_hex(f.get('old'))} -> {_hex(f.get('new'))}"]))

    def _on_interrupt(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._rings_interrupt(cycle, icount, f)
        kind = f.get("kind")
        vector = f.get("vector", 0)
        if kind == "hardware":
            line = f["irq_line"] if "irq_line" in f else self._irq_line(vector)
            if line not in (0, 1):
                return
            key = (line, self._protected32)
            if key in self._irq_seen:
                return
            self._irq_seen.add(key)
            mode = "protected" if self._protected32 else "real"
            to_cs, to_eip = f.get("to_cs", 0), f.get("to_eip", 0)
            handler = f"{to_cs:#06x}:{to_eip:#x}{self._sym(to_eip) if self._protected32 else ''}"
            if line == 0:
                text = ("The 8254 timer's channel 0 raised IRQ0; the PIC turned it into vector "
                        f"{vector:#x} and the CPU, with IF set, called the handler at {handler}. "
                        + ("This is the BIOS's own tick (18.2 Hz) keeping the time of day in the BIOS data area."
                           if not self._protected32 else
                           "The kernel's timer interrupt works: the PIT, the remapped PIC and the IDT gate "
                           "all did their part."))
            else:
                text = ("The 8042 controller had a byte for the CPU and raised IRQ1: a scancode from a key "
                        "press or release, or the keyboard's reply to a command (0xFA acknowledge, 0xAA "
                        f"self-test passed). The handler at {handler} reads it from port 0x60. "
                        + ("In real mode the BIOS handler puts it in its keyboard buffer for INT 16h."
                           if not self._protected32 else
                           "This is the kernel's own keyboard driver, reached through the IDT."))
            self.add(Milestone("irq", cycle, icount, f"First {IRQ_NAMES[line]} interrupt (IRQ{line}) in {mode} "
                               f"mode: vector {vector:#x}", text,
                               [f"interrupted {f.get('cs', 0):#06x}:{f.get('eip', 0):#x}, gate: {f.get('gate', '?')}"]))
            return
        if kind == "exception":
            self._flush_pe()
            name = EXCEPTION_NAMES.get(vector, f"vector {vector:#x}")
            if self._exceptions >= MAX_EXCEPTIONS and self._last_exc is not None:
                self._last_exc.count += 1
                self._mutations += 1
                return
            self._exceptions += 1
            ec = f.get("error_code")
            m = Milestone("exception", cycle, icount,
                          f"Exception {name}" + (f" (error code {ec:#x})" if ec is not None else "")
                          + f" at {f.get('cs', 0):#06x}:{f.get('eip', 0):#x}",
                          f"The CPU delivered it through its gate to {f.get('to_cs', 0):#06x}:{f.get('to_eip', 0):#x}.",
                          pause=True)
            self._last_exc = m
            self.add(m)

    def add_explanation(self, expl: Any) -> None:
        """The fault explainer's words (emu/explain.py) for the latest exception or triple fault."""
        if not self._replaying and self.milestones:
            self._log.append(("explanation", self.milestones[-1].cycle, self.milestones[-1].icount,
                              {"summary": expl.summary, "steps": list(expl.steps)}))
        self._apply_explanation(expl.summary, list(expl.steps))

    def _on_explanation(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._apply_explanation(f["summary"], f["steps"])

    def _apply_explanation(self, summary: str, steps: list[str]) -> None:
        for m in reversed(self.milestones[-4:]):
            if m.kind in ("exception", "triple_fault", "fault"):
                if summary in m.text:
                    return
                if m.kind == "triple_fault":
                    m.text = (f"{summary}. The CPU could not deliver it, and a fault while delivering a "
                              "double fault shuts the CPU down; a PC resets, QEMU -no-reboot and BareFlow stop.")
                else:
                    m.text = summary + ". " + m.text
                m.details = list(steps) + m.details
                return

    def _on_fault(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._flush_pe()
        v = f.get("vector", 0)
        self.add(Milestone("fault", cycle, icount,
                           f"Fault while delivering an interrupt: {EXCEPTION_NAMES.get(v, hex(v))}",
                           f"{f.get('why', '')}. The CPU raises the next exception instead (two contributory faults "
                           "in a row make a double fault).", pause=True))

    def _on_triple_fault(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._flush_pe()
        v = f.get("vector", 0)
        self.add(Milestone("triple_fault", cycle, icount, f"Triple fault ({EXCEPTION_NAMES.get(v, hex(v))} "
                           f"at {f.get('cs', 0):#06x}:{f.get('eip', 0):#x})",
                           f"{f.get('why', '')}. A fault while delivering a double fault shuts the CPU down; a PC "
                           "resets, QEMU -no-reboot and BareFlow stop.", pause=False))
        self._ended = True

    def _on_symbol(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        self._flush_pe()
        name, addr, role = f.get("name", "?"), f.get("address", 0), f.get("role", "main")
        if role == "entry":
            title = f"Kernel entry: {name} at {addr:#x}"
            text = (f"Execution reached {name}, the kernel's entry point. This first code usually sets up a "
                    "stack of its own and zeroes the BSS (the static variables C expects to start at 0, for "
                    "which the image carries no bytes) before it calls into C.")
        elif name in ("kmain", "kernel_main"):
            title = f"{name}: the kernel's C code starts at {addr:#x}"
            text = (f"Execution reached {name}: from here the kernel is ordinary C, compiled for a machine with "
                    "no operating system underneath (freestanding). A kernel's main typically sets up the IDT, the "
                    "PIC and timer, the console and the CPU features it needs, then starts the program.")
        else:
            title = f"{name}: the program's main at {addr:#x}"
            text = (f"Execution reached {name}. Everything before this point existed to make a bare PC able to "
                    "run this function: memory, protected mode, interrupts and devices are set up.")
        kernel = role != "entry" and name in ("kmain", "kernel_main")
        self.add(Milestone("symbol", cycle, icount, title, text,
                           role="entry" if role == "entry" else "kernel" if kernel else "main"))

    def _on_stop(self, cycle: int, icount: int, f: dict[str, Any]) -> None:
        reason = f.get("reason", "")
        if reason in ("paused", "breakpoint", "step"):
            return
        self._flush_pe()
        msg = f.get("message") or reason
        if len(msg) > 90:
            msg = reason
        if self.milestones and self.milestones[-1].kind == "end" and self.milestones[-1].role != "resumable":
            return
        self.add(Milestone("end", cycle, icount, f"The run ended: {msg}", _END_TEXT.get(reason, ""), pause=False,
                           role="resumable" if reason == "cycle limit" else None))


#: Events raised inside an instruction (which runs again after going back to its cycle).
_IN_INSN = frozenset({"lgdt", "lidt", "cr_write", "cr0_pe", "a20", "bios", "io", "symbol", "seg_load", "ltr"})

#: Events the machine emits from an instruction hook (where Machine.exact_now() is exact).
_IN_HOOK = frozenset({"lgdt", "lidt", "cr_write", "cr0_pe", "a20", "bios", "ltr"})

_PE_TEXT = ("Setting bit 0 (PE) of CR0 switched the CPU to protected mode. CS still holds the segment cached in "
            "real mode, so the next instructions still run as 16-bit code at the same addresses; the switch is "
            "completed by a far jump that loads CS with a selector from the GDT.")
_A20_TEXT = ("On an original PC/AT address line 20 is gated off so that addresses wrap at 1 MiB as on the 8086; "
             "with it off, every odd megabyte aliases the even one below it. The boot code must turn it on before "
             "it loads or runs anything at or above 1 MiB; here it used {method}.")
_END_TEXT = {
    "powered off": "The guest asked to power off (isa-debug-exit or ACPI).",
    "triple fault": "The CPU shut down after a triple fault.",
    "halted": "HLT with interrupts disabled: nothing can wake the CPU again.",
    "idle": "The CPU waits in HLT for an interrupt that can never come (no timer, no input left).",
    "cycle limit": "The cycle budget of the run was used up.",
    "guest error": "The guest did something the machine cannot continue from.",
}


def _disk_run_summary(run: list[Milestone], cpu_hz: int) -> str:
    first, last = run[0], run[-1]
    ms0, ms1 = first.cycle * 1000.0 / cpu_hz, last.cycle * 1000.0 / cpu_hz
    sectors = sum(m.sectors for m in run if m.sectors)
    lbas = [m.lba for m in run if m.lba is not None]
    span = f", LBA {min(lbas)}-{max(lbas)}" if lbas else ""
    return (f"[cycle {first.cycle:>12,} - {last.cycle:,} ({ms0:.3f}-{ms1:.3f} ms)] ... and {len(run)} more disk "
            f"reads ({first.title.split(': ')[0]} to {last.title.split(': ')[0]}){span}, {sectors} sectors "
            f"({sectors * 512 / 1024:.0f} KiB)")


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
