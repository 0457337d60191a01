"""The PC as its users see it: one `Machine` facade over a board, a CPU core, a debugger and
snapshots.

Everything a front end needs (the headless CLI, the TUI, the debugger) goes through `Machine`:
run / pause / step / breakpoints, state reads, input, snapshots.  The parts, each with a small
interface (see docs/architecture.md):

- `board` (emu/board.py): RAM and A20, the port bus, MMIO, the devices, the clock, BIOS, disk;
- the core (emu/core.py, which `Machine` extends): Unicorn, the native fast path, pricing
  (emu/pricing.py), exact time, interrupt delivery, the run loop;
- `debug` (emu/debugger.py): breakpoints, stepping over, watchpoints;
- snapshots (emu/snapshots.py); hook points (`hooks`, emu/hooks.py); the input door (`door`,
  emu/inputdoor.py), the one way host input reaches the guest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..devices.base.cp437 import CP437
from ..devices.base.errors import BadArgument, BadImage
from .board import HMA, HMA_SIZE, TEXT_WINDOW, TEXT_WINDOW_SIZE, Board
from .core import Core
from .stops import StopReason
from .paging import PageFault
from .pricecache import image_identity
from .snapshots import Snapshot, restore as _restore_snapshot, take as _take_snapshot

__all__ = ["HMA", "HMA_SIZE", "Machine", "MachineConfig", "PageFault", "Snapshot", "StopReason", "read_image"]


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
    # drives, boot and reset as QEMU's command line (emu/drives.py, emu/ide.py; docs/cli.md)
    drives: list[Any] = field(default_factory=list)    # DriveSpec: --hdb, --fda, --drive ...
    boot_order: str = ""                   # --boot: "" = QEMU's default (c, then a, then d)
    snapshot: bool = True                  # False: guest writes reach the files (QEMU without -snapshot)
    #: True: a reset request stops the run (QEMU -no-reboot).  The Python API and the TUI keep
    #: that; `bareflow-emu run` resets like QEMU unless --no-reboot (docs/cli.md).
    no_reboot: bool = True
    kernel: str | Path | None = None       # --kernel: multiboot ELF or bzImage (emu/kernel_boot.py)
    append: str = ""                       # --append
    initrd: str | Path | None = None       # --initrd
    # QEMU-style conveniences (a grading spec's [options]): same meaning as the run flags
    hda: str | Path | None = None
    hdb: str | Path | None = None
    fda: str | Path | None = None
    boot: str | None = None                # QEMU -boot syntax ("a", "order=ca")
    drive: list[str] = field(default_factory=list)   # QEMU -drive strings


class Machine(Core):
    """One emulated PC.  Not thread-safe except where a method says so."""

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        from .drives import identity_source, open_drives, primary_path
        self.drives = open_drives(config)         # lazy backing stores (emu/storage.py), checked
        self.image_path = primary_path(config)    # the image, else the kernel or the first drive
        if not 2 <= config.memory_mb <= 3072:
            raise BadArgument(f"--memory {config.memory_mb}: must be between 2 and 3072 MiB")
        self.memory_bytes = config.memory_mb * 1024 * 1024
        self.recent: list[tuple[int, str]] = []   # ring of recent (pc, text) for fault reports
        symbols = _load_symbols(config, self.image_path)
        from .drives import effective_boot_order
        board = Board(config.memory_mb, boot_drive=config.boot_drive, host=self, drives=self.drives,
                      boot_order=effective_boot_order(config))
        self.no_reboot = config.no_reboot
        super().__init__(board, symbols=symbols, trace=config.trace, accounting=config.accounting,
                         trace_insns=config.trace_insns, price_shard=image_identity(*identity_source(config, self.drives)))
        if config.kernel:
            from .kernel_boot import KernelBoot
            self.bios.kernel_boot = KernelBoot(config.kernel, config.append, config.initrd,
                                               self.memory_bytes, self.bios.system.e820)
        self.disk = board.disk
        self.bus = board.bus
        self.devices = board.devices
        #: callables fed every architectural event as (kind, cycle, icount, fields), like the
        #: trace file but in memory (the boot journey listens here; see docs/journey.md)
        self.observers = self.hooks.events
        from .privilege import PrivilegeTracker
        self.privilege = PrivilegeTracker().attach(self)   # CPL transitions for the UI
        if config.trace_io and config.trace:
            board.bus.observe_io(lambda d, port, size, value: self.emit("io", dir=d, port=port, size=size,
                                                                         value=value))
            board.mmio_observers.append(lambda d, addr, size, value: self.emit("mmio", dir=d, addr=addr,
                                                                                size=size, value=value))
        # code the guest generates, named through GDB's JIT interface (emu/jitdebug.py)
        self.jit_debug = None
        if symbols is not None:   # the interface is found by its symbols: no import without them
            from .jitdebug import JitDebug
            self.jit_debug = JitDebug.attach(self)
        self.power_on()

    @property
    def disk_bytes(self) -> Any:
        """The first disk as a lazily read byte view (emu/storage.py), for tools and tests."""
        return self.drives.ide[0] if self.drives.ide[0] is not None else self.drives.floppy[0]

    @property
    def ide(self) -> dict[str, Any]:
        return self.board.ide

    def reset(self) -> None:
        """Power-cycle the machine (same image, same breakpoints)."""
        self.power_on()

    # ------------------------------------------------------------------ the board's parts
    @property
    def serial_out(self) -> bytearray:
        return self.board.serial_out

    @property
    def debugcon_out(self) -> bytearray:
        return self.board.debugcon_out

    @property
    def on_serial(self) -> list[Callable[[int], None]]:
        return self.board.on_serial

    @property
    def powered_off(self) -> bool:
        return self.board.powered_off

    @property
    def pic(self):
        return self.board.pic

    @property
    def uart(self):
        return self.board.uart

    @property
    def kbd(self):
        return self.board.kbd

    @property
    def vga(self):
        return self.board.vga

    @property
    def a20(self) -> bool:
        return self.board.a20

    def set_a20(self, enabled: bool) -> None:
        self.board.set_a20(enabled)

    def map_mmio(self, base: int, size: int, device: Any, name: str | None = None) -> None:
        """Map a memory-mapped device (see Board.map_mmio)."""
        self.board.map_mmio(base, size, device, name)

    # ------------------------------------------------------------------ input (thread-safe)
    def input(self, kind: str, data: Any) -> None:
        """The one input door: "serial" bytes for COM1, "keys" text to type, "scancodes" (set-1
        make/break codes).  Thread-safe; journaled once (emu/inputdoor.py)."""
        self.door.put(kind, data)

    def send_serial(self, data: bytes) -> None:
        self.door.put("serial", data)

    def type_text(self, text: str) -> None:
        self.door.put("keys", text)

    def press_keys(self, codes: list[int]) -> None:
        """Raw set-1 scancodes (make and break), e.g. from the TUI."""
        self.door.put("scancodes", codes)

    @property
    def input_log(self) -> list[tuple[int, str, Any]]:
        """(cycle, kind, data) of every input the guest received, in order."""
        return self.door.log

    @property
    def keyboard(self) -> "Machine":
        """Thread-safe keyboard input (`type_text`, `press_keys`)."""
        return self

    # ------------------------------------------------------------------ debugging
    @property
    def breakpoints(self) -> set[int]:
        return self.debug.breakpoints

    def add_breakpoint(self, where: int | str) -> int:
        return self.debug.add_breakpoint(where)

    def remove_breakpoint(self, where: int | str) -> None:
        self.debug.remove_breakpoint(where)

    def resolve(self, where: int | str) -> int:
        return self.debug.resolve(where)

    def run_until_stop(self, max_cycles: int | None = None, wait_for_input: bool = False) -> StopReason:
        """run(), stepping over a breakpoint we are sitting on."""
        return self.debug.run_until_stop(max_cycles, wait_for_input)

    def step_over(self) -> StopReason:
        """Step, but run a CALL (or INT) to its return address."""
        return self.debug.step_over(self.disasm)

    def run_to(self, where: int | str, max_cycles: int | None = None) -> StopReason:
        return self.debug.run_to(where, max_cycles)

    def add_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        self.debug.add_watchpoint(addr, length, kind)

    def remove_watchpoint(self, addr: int, length: int, kind: str = "write") -> None:
        self.debug.remove_watchpoint(addr, length, kind)

    @property
    def watchpoints(self) -> list[tuple[int, int, str]]:
        return self.debug.watchpoints

    @property
    def watch_hit(self) -> tuple[str, int, int] | None:
        return self.debug.watch_hit

    def clear_watch_hit(self) -> None:
        """Forget the last watchpoint hit (the stub reported it; time travel moved away)."""
        self.debug.watch_hit = None

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> Snapshot:
        """Everything needed to come back to this exact point (see emu/snapshots.py)."""
        return _take_snapshot(self)

    def restore(self, snap: Snapshot) -> None:
        """Return to a snapshot taken on this machine (only while not running); then the
        `hooks.restores` subscribers run."""
        _restore_snapshot(self, snap)

    # ------------------------------------------------------------------ state reads
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

    def read_linear(self, addr: int, n: int) -> bytes:
        """Memory at a linear address as the guest's code sees it: through the page tables
        when paging is on (raises PageFault), A20 applied.  The tables are not touched."""
        return self.cpu.peek(addr & 0xFFFFFFFF, n)

    def write_linear(self, addr: int, data: bytes) -> None:
        """Store at a linear address as the CPU would (through the page tables, raises
        PageFault); translated code there is dropped."""
        self.cpu.write(addr & 0xFFFFFFFF, data)

    def read_mem(self, addr: int, n: int) -> bytes:
        """Memory at a linear address (`read_linear`) that never raises: bytes of pages that
        are not present, and of physical addresses nothing decodes, read as 0xFF."""
        addr &= 0xFFFFFFFF
        if not self.cpu.paging():
            return self.board.read_phys(addr, n)
        out = bytearray()
        while n > 0:
            chunk = min(n, 0x1000 - (addr & 0xFFF))
            try:
                out += self.board.read_phys(self.cpu.walker.translate(addr), chunk)
            except PageFault:
                out += b"\xff" * chunk
            addr = (addr + chunk) & 0xFFFFFFFF
            n -= chunk
        return bytes(out)

    def read_phys(self, addr: int, n: int) -> bytes:
        """Physical memory (A20 applied, MMIO devices answer)."""
        return self.board.read_phys(addr, n)

    def ram_view(self) -> memoryview:
        return memoryview(self.board.ram)

    def screen_bytes(self) -> bytes:
        """The 80x25 text page the CRT controller shows (char, attribute pairs), from its start
        address; safe to call while running."""
        return self.board.vga.page_bytes(self.board.ram[TEXT_WINDOW:TEXT_WINDOW + TEXT_WINDOW_SIZE])

    def cursor(self) -> tuple[int, int, bool]:
        return self.board.vga.cursor()[:3]

    def screen_frame(self):
        """The VGA picture now (a devices/vga_render.Frame at the mode's native size)."""
        from ..devices.vga_render import render
        return render(self.board.vga, self.board.text_window())

    def screen_text(self) -> str:
        data = self.screen_bytes()
        cols = self.board.vga.columns()
        rows = []
        for r in range(len(data) // (cols * 2)):
            line = data[r * cols * 2:(r + 1) * cols * 2:2]
            rows.append("".join(CP437[b] for b in line).rstrip())
        while rows and not rows[-1]:
            rows.pop()
        return "\n".join(rows) + "\n"

    def disasm(self, addr: int, count: int = 8) -> list[tuple[int, bytes, str]]:
        import capstone
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32 if self.cpu.code32() else capstone.CS_MODE_16)
        code = self.read_mem(addr, count * 15)
        out = []
        for insn in md.disasm(code, addr):
            out.append((insn.address, bytes(insn.bytes), f"{insn.mnemonic} {insn.op_str}".strip()))
            if len(out) >= count:
                break
        return out

    def function_names(self) -> list[str]:
        return list(self.pricer.func_names)

    def priced_blocks(self) -> dict[tuple[int, int], Any]:
        """(linear pc, size) -> emu/costs.BlockCost of every block priced since the last flush."""
        return self.pricer.blocks()

    # ------------------------------------------------------------------ profile
    def profile_table(self) -> list[dict[str, Any]]:
        from .profile import profile_rows
        return profile_rows(self)

    def close(self) -> None:
        """Flush and close the trace; state stays readable (the engine is freed with the object)."""
        if self.trace is not None:
            self.trace.close()


def _load_symbols(config: MachineConfig, image_path: Path) -> Any:
    if not (config.symbols or config.extra_symbols or config.auto_symbols):
        return None
    from .symbols import SymbolError, SymbolTable
    symbols = None
    paths: list[Path] = []
    if config.symbols:
        paths.append(Path(config.symbols))
    elif config.auto_symbols:
        found = SymbolTable.find_beside(image_path)
        if found is not None:
            paths.append(found)
    paths += [Path(p) for p in config.extra_symbols]
    for p in paths:
        try:
            table = SymbolTable.from_elf(p)
        except SymbolError as exc:
            if config.symbols and Path(config.symbols) == p:
                raise BadArgument(f"--symbols {p}: {exc}") from None
            continue
        symbols = table if symbols is None else symbols.merge(table)
    return symbols


def read_image(path: Path) -> Any:
    """Check the disk image before anything else, with one-line reasons; returns the lazily read
    store (emu/drives.py open_image), not the bytes."""
    from .drives import open_image
    return open_image(path)
