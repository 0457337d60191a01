"""A small stand-in for `bareflow.emu.machine.Machine`, for TUI tests only.

It implements the Machine API the TUI uses (docs/architecture.md, "The core") over a toy
program so that tests can check the UI's wiring exactly: a loop through two functions
(`kmain`, then a call to `matmul`), 2-byte instructions costing 3 cycles each, a keyboard
whose guest echoes typed letters to the VGA screen and COM1, and a COM1 receiver that records
what it got.  It is deliberately not an emulator; tests that need one use the real Machine.
"""
from __future__ import annotations

import enum
import threading
import time

from bareflow.devices.base.errors import BadArgument, BadImage

KMAIN, MATMUL = 0x1000, 0x1040
KMAIN_LEN, MATMUL_LEN = 16, 8
CYCLES_PER_INSN = 3


class StopReason(enum.Enum):
    PAUSED = "paused"
    BREAKPOINT = "breakpoint"
    STEP = "step"
    HALTED = "halted"
    IDLE = "idle"
    POWER_OFF = "powered off"
    RESET = "reset"
    TRIPLE_FAULT = "triple fault"
    CYCLE_LIMIT = "cycle limit"
    GUEST_ERROR = "guest error"


class FakeSymbols:
    table = {"kmain": (KMAIN, KMAIN_LEN * 2), "matmul": (MATMUL, MATMUL_LEN * 2)}

    def format(self, addr: int) -> str:
        hit = self.lookup(addr)
        if hit is None:
            return f"0x{addr:08x}"
        return f"{hit[0]}+0x{hit[1]:x}" if hit[1] else hit[0]

    def lookup(self, addr: int):
        for name, (start, size) in self.table.items():
            if start <= addr < start + size:
                return (name, addr - start)
        return None

    def address_of(self, name: str) -> int:
        entry = self.table.get(name)
        if entry is None:
            raise BadArgument(f"unknown symbol: {name!r}")
        return entry[0]


# set-1 make code -> character, for the fake guest's keyboard driver
_SET1 = {0x1E + i: c for i, c in enumerate("asdfghjkl")}
_SET1.update({0x10 + i: c for i, c in enumerate("qwertyuiop")})
_SET1.update({0x2C + i: c for i, c in enumerate("zxcvbnm")})
_SET1.update({0x39: " ", 0x1C: "\n"})


class FakeKeyboard:
    def __init__(self, machine: "FakeMachine") -> None:
        self.machine = machine
        self.codes: list[int] = []
        self.typed: list[str] = []
        self._lock = threading.Lock()

    def press_keys(self, codes: list[int]) -> None:
        with self._lock:
            self.codes.extend(codes)
        shift = False
        for c in codes:
            if c == 0x2A:
                shift = True
            elif c == 0xAA:
                shift = False
            elif c in _SET1:
                ch = _SET1[c]
                self.machine.guest_echo(ch.upper() if shift else ch)

    def type_text(self, text: str) -> None:
        with self._lock:
            self.typed.append(text)
        for ch in text:
            self.machine.guest_echo(ch)


class FakeCpu:
    def __init__(self, machine: "FakeMachine") -> None:
        self.machine = machine

    def linear_pc(self) -> int:
        return self.machine.pc


class FakeMachine:
    """Toy guest: kmain (16 instructions) calls matmul (8 instructions), forever."""

    def __init__(self, *, bad_image: str | None = None, insns_per_run: int = 500,
                 screen: bytes | None = None) -> None:
        if bad_image:
            raise BadImage(bad_image)
        self.insns_per_run = insns_per_run
        self.symbols = FakeSymbols()
        self.keyboard = FakeKeyboard(self)
        self.cpu = FakeCpu(self)
        self.on_serial: list = []
        self.breakpoints: set[int] = set()
        self.serial_in = bytearray()
        self._pause = threading.Event()
        self._initial_screen = screen
        self.run_calls = 0
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------
    def reset(self) -> None:
        self.pc = KMAIN
        self.cycles = 0
        self.instructions = 0
        self.state = "paused"
        self.stop_message = ""
        self.calls = {"kmain": 1, "matmul": 0}
        self.excl = {"kmain": 0, "matmul": 0}
        self.serial_out = bytearray(b"fake guest ready\r\n> ")
        self._screen = bytearray(self._initial_screen or b" \x07" * 2000)
        self._row, self._col = 0, 0

    def request_pause(self) -> None:
        self._pause.set()

    def _exec_one(self) -> None:
        sym = "matmul" if self.pc >= MATMUL else "kmain"
        self.excl[sym] += CYCLES_PER_INSN
        self.cycles += CYCLES_PER_INSN
        self.instructions += 1
        if self.pc == KMAIN + 2 * (KMAIN_LEN - 1):
            self.pc = MATMUL
            self.calls["matmul"] += 1
        elif self.pc == MATMUL + 2 * (MATMUL_LEN - 1):
            self.pc = KMAIN
        else:
            self.pc += 2

    def run_until_stop(self, max_cycles: int | None = None, wait_for_input: bool = False) -> StopReason:
        """Like Machine.run_until_stop: max_cycles is absolute; a breakpoint we sit on is
        stepped over."""
        self.run_calls += 1
        self.state = "running"
        budget = max_cycles
        first = True
        n = 0
        while True:
            if self._pause.is_set():
                self._pause.clear()
                self.state = "paused"
                return StopReason.PAUSED
            if not first and self.pc in self.breakpoints:
                self.state = "paused"
                self.stop_message = f"breakpoint at {self.symbols.format(self.pc)}"
                return StopReason.BREAKPOINT
            if budget is not None and self.cycles >= budget:
                self.state = "paused"
                return StopReason.CYCLE_LIMIT
            first = False
            self._exec_one()
            n += 1
            if n % self.insns_per_run == 0:
                time.sleep(0.002)  # a real guest takes time; let other threads in

    def step(self) -> StopReason:
        self._exec_one()
        return StopReason.STEP

    def step_over(self) -> StopReason:
        if self.pc == KMAIN + 2 * (KMAIN_LEN - 1):  # the call: run the callee through
            self._exec_one()
            while self.pc != KMAIN:
                self._exec_one()
        else:
            self._exec_one()
        return StopReason.STEP

    def run_to(self, target) -> StopReason:
        addr = self.resolve(target)
        temp = addr not in self.breakpoints
        self.breakpoints.add(addr)
        try:
            return self.run_until_stop()
        finally:
            if temp:
                self.breakpoints.discard(addr)

    def resolve(self, target) -> int:
        return self.symbols.address_of(target) if isinstance(target, str) else target

    def add_breakpoint(self, target) -> int:
        addr = self.resolve(target)
        self.breakpoints.add(addr)
        return addr

    def remove_breakpoint(self, target) -> None:
        self.breakpoints.discard(self.resolve(target))

    def profile_table(self) -> list[dict]:
        total = max(1, self.cycles)
        rows = [("kmain", self.calls["kmain"], self.excl["kmain"], self.excl["kmain"] + self.excl["matmul"]),
                ("matmul", self.calls["matmul"], self.excl["matmul"], self.excl["matmul"])]
        return [{"name": n, "calls": c, "exclusive_cycles": e, "inclusive_cycles": i,
                 "exclusive_pct": round(100.0 * e / total, 3)} for n, c, e, i in rows]

    # --- inspection -----------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "protected"

    @property
    def cpl(self) -> int:
        return 0

    gdtr = (0x7C50, 0x17)
    idtr = (0x2000, 0x7FF)

    def regs(self) -> dict[str, int]:
        return {"eax": self.instructions & 0xFFFFFFFF, "ebx": 0, "ecx": self.cycles & 0xFFFFFFFF,
                "edx": 0, "esi": 0, "edi": 0, "ebp": 0x9FF00, "esp": 0x9FFF0, "eip": self.pc,
                "eflags": 0x202, "cs": 0x08, "ds": 0x10, "es": 0x10, "ss": 0x10, "fs": 0x10, "gs": 0x10,
                "cr0": 0x11, "cr2": 0, "cr3": 0, "cr4": 0x600}

    def disasm(self, addr: int, count: int):
        return [(addr + 2 * i, b"\x01\xc0", "add eax, eax") for i in range(count)]

    def read_mem(self, addr: int, n: int) -> bytes:
        return bytes((addr + i) & 0xFF for i in range(n))

    def screen_bytes(self) -> bytes:
        return bytes(self._screen)

    def cursor(self):
        return (self._row, self._col, True)

    # --- guest I/O ------------------------------------------------------------------------
    def guest_echo(self, ch: str) -> None:
        """The fake guest's echo of a typed character on VGA and COM1."""
        for b in ch.encode():
            self.serial_out.append(b)
            for cb in self.on_serial:
                cb(b)
        if ch == "\n":
            self._row, self._col = self._row + 1, 0
            return
        i = (self._row * 80 + self._col) * 2
        self._screen[i] = ord(ch)
        self._screen[i + 1] = 0x0F
        self._col += 1

    def send_serial(self, data: bytes) -> None:
        self.serial_in += data
