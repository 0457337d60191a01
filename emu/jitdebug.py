"""Names for code the guest generates at run time, read through GDB's JIT interface.

A guest with a JIT (the unikernel's code generator, unikernel/kernel_lib/jit/gdbjit.c) tells
debuggers about each new function the way GDB documents ("JIT Compilation Interface"): it
fills `__jit_debug_descriptor` {version, action_flag, relevant_entry, first_entry}, where an
entry {next, prev, symfile_addr, symfile_size} points at an object file in guest memory, and
calls the empty function `__jit_debug_register_code`.  A debugger keeps a breakpoint there.

BareFlow does the same with a code hook bounded to that one address (zero cost elsewhere):
on a register action it reads the descriptor, the entry and the in-memory ELF through the
machine's memory, and adds every FUNC symbol as `jit:NAME` - to the symbol table (traces, the
TUI's disassembly, `name+0x1c`) and to the profiler's function ids (the exact profile and the
TUI's hot-function table).  Blocks of that range that were priced before the registration were
attributed to an anonymous `[code 0x...]` entry when first seen, so their cached prices and
translations are dropped and they are seen again under the new name.

gdb attached to the stub needs none of this: it reads the same descriptor itself.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable


if TYPE_CHECKING:
    from .machine import Machine

REGISTER_FN, UNREGISTER_FN = 1, 2
MAX_SYMFILE = 1 << 20          # a larger "object file" is a corrupt entry, not a function
PREFIX = "jit:"


@dataclass(frozen=True)
class JitFunction:
    start: int
    end: int
    name: str                  # with the "jit:" prefix


def parse_symfile(data: bytes) -> list[tuple[str, int, int]]:
    """(name, address, size) of the FUNC symbols of an in-memory ELF; [] if it is not one."""
    from .elf32 import STT_FUNC, Elf, ElfFormatError   # not pyelftools: ~40+ ms to import
    try:
        elf = Elf(bytes(data))
        out = []
        for sec in elf.symbol_tables():
            for sym in elf.symbols(sec):
                if sym.type == STT_FUNC and sym.name and sym.size > 0:
                    out.append((sym.name, sym.value, sym.size))
        return out
    except (ElfFormatError, struct.error):
        return []


class JitDebug:
    """Watches one machine's `__jit_debug_register_code`; see the module docstring."""

    def __init__(self, read: Callable[[int, int], bytes], descriptor: int) -> None:
        self._read = read
        self._descriptor = descriptor
        self.functions: list[JitFunction] = []
        #: "jit:NAME" -> the profiler's function id
        self.ids: dict[str, int] = {}
        self.on_function: list[Callable[[JitFunction], None]] = []

    @classmethod
    def attach(cls, machine: "Machine") -> "JitDebug | None":
        """Hook the machine if its symbols name the interface; None otherwise."""
        symbols = machine.symbols
        if symbols is None:
            return None
        try:
            fn = symbols.address_of("__jit_debug_register_code")
            desc = symbols.address_of("__jit_debug_descriptor")
        except Exception:
            return None
        from unicorn import UC_HOOK_CODE
        # the interface's pointers are the guest's (linear) addresses
        jd = cls(getattr(machine, "read_linear", None) or machine.read_mem, desc)
        jd.on_function.append(lambda f: _name_in_machine(machine, jd, f))
        machine.uc.hook_add(UC_HOOK_CODE, lambda uc, addr, size, ud: jd.on_register_call(), None, fn, fn)
        return jd

    def _u32(self, addr: int) -> int:
        return struct.unpack("<I", self._read(addr, 4))[0]

    def on_register_call(self) -> list[JitFunction]:
        """The guest is entering __jit_debug_register_code: read what it announces."""
        try:
            return self._read_announcement()
        except Exception:       # unmapped or paged-out pointers: a broken entry names nothing
            return []

    def _read_announcement(self) -> list[JitFunction]:
        version, action, relevant, _first = struct.unpack("<IIII", self._read(self._descriptor, 16))
        if version != 1 or action != REGISTER_FN or relevant == 0:
            return []
        _next, _prev, symfile, size = struct.unpack("<IIIQ", self._read(relevant, 20))
        if symfile == 0 or not 0 < size <= MAX_SYMFILE:
            return []
        added = []
        for name, start, length in parse_symfile(self._read(symfile, size)):
            f = JitFunction(start, start + length, PREFIX + name)
            self.functions = [g for g in self.functions if g.end <= f.start or g.start >= f.end] + [f]
            added.append(f)
            for cb in self.on_function:
                cb(f)
        return added

    def index_of(self, pc: int) -> int:
        """The profiler id of the generated function holding pc, or -1."""
        for f in self.functions:
            if f.start <= pc < f.end:
                return self.ids.get(f.name, -1)
        return -1


def _name_in_machine(machine: "Machine", jd: JitDebug, f: JitFunction) -> None:
    """Give `f` a profiler id and a symbol, and forget prices taken under an anonymous name."""
    pricer = machine.pricer
    names = pricer.func_names
    idx = pricer._pseudo.get(f.name)
    if idx is None:
        idx = len(names)
        names.append(f.name)
        pricer._pseudo[f.name] = idx
        machine.fast.ensure_funcs(idx + 1)
    jd.ids[f.name] = idx
    pricer.jit_functions_changed(jd)   # the native pricer names code as func_index does
    machine.symbols.add_dynamic(f.start, f.end, f.name)
    pricer.host_wrote(f.start, f.end - f.start)
