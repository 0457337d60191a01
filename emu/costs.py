"""The documented instruction cost model: modelled cycles for a basic block of guest code.

Why this exists: BareFlow's clock is a *modelled* cycle count, not host time, so that the same
image and input give the same cycles, the same RDTSC values and the same profile every run.
Every instruction is priced by class from one coherent public table: the Pentium (P5) column
of MAME's i386 core, ``src/devices/cpu/i386/cycles.h`` (BSD-3-Clause, Ville Linde, Barry
Rodewald, Carl, Philip Bennett).  The numbers are transcribed from that file as facts into
emu/cost_tables.py; the code is ours.  Instructions the P5 did not have (SSE/SSE2, CMOV, FCOMI, FXSAVE, ...) are
priced from LLVM's in-order Atom model ``llvm/lib/Target/X86/X86ScheduleAtom.td`` (Apache-2.0
with LLVM exception).  docs/cycle-model.md explains every choice; keep the two in step.

The native fast path (emu/fastpath.c) calls :meth:`CostModel.block` once per newly seen
translation block and then only adds the cached numbers, so clarity matters more than speed
here; a block is still priced in a fraction of a millisecond.

No price is cached at module level (only the two stateless capstone decoders are shared, made
at the first decode): a price depends only on the bytes, the address and the mode, never on
what was priced before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .capstone_lazy import CX as X, capstone   # loaded at the first decode, not at import

from .cost_tables import (  # also re-exported: tests import P5, ATOM... from here
    _ACC_FORMS, _ALU, _IO_CLASSES, _ROT, _SIMPLE, _SREGS, _SSE, _STRING, _X87,
    _X87_ATOM, ATOM, DEFAULT_CYCLES, MAME_CODE, P5, SIMD_DEFAULT, simd_groups,
)

END_KINDS = ("call", "ret", "iret", "jcc", "jmp", "int", "hlt", "other")


@dataclass(frozen=True)
class BlockCost:
    """The price of one basic block, as the native fast path caches it (see module doc)."""

    address: int
    size: int
    total: int                 # modelled cycles of the whole block, final Jcc counted NOT taken
    insn_addrs: tuple[int, ...]
    prefix: tuple[int, ...]    # prefix[i] = cycles of the instructions before insn i
    n_insns: int
    taken_extra: int           # extra cycles when the final conditional branch is taken
    branch_target: int | None  # static target of the final Jcc/JMP/CALL if direct
    ends_with: str             # one of END_KINDS
    fallthrough: int           # address + size
    rdtsc_addrs: tuple[int, ...]
    io_addrs: tuple[int, ...]
    classes: tuple[str, ...] = ()  # cost class of each instruction (for traces, docs, tests)

    def cycles_before(self, addr: int) -> int:
        """Cycles of the instructions of this block that precede the one at `addr`.

        Why: RDTSC and port I/O need the exact clock in the middle of a block.
        """
        try:
            return self.prefix[self.insn_addrs.index(addr)]
        except ValueError:
            raise ValueError(f"0x{addr:08x} is not an instruction of the block at "
                             f"0x{self.address:08x}") from None


@dataclass(frozen=True)
class _Priced:
    cls: str
    cycles: int
    taken_extra: int = 0


class CostModel:
    """Prices instructions and blocks with the Pentium column of MAME's cycles.h.

    `mode32` is the default for :meth:`insn_cycles`; :meth:`block` takes the mode of each block
    explicitly.  mode32=False means 16-bit real-mode code: capstone decodes it as 16-bit and
    the real-mode column of the table is used.  `protected` (keyword) overrides the column for
    the rare 16-bit protected-mode code (between setting CR0.PE and the far jump).
    `table` replaces the Pentium column (same keys) - for experiments and tests only.
    """

    def __init__(self, mode32: bool = True, *, table: dict[str, tuple[int, int]] | None = None):
        self.mode32 = mode32
        self.table = {**MAME_CODE, **(P5 if table is None else table)}
        self._decoders: tuple[Any, Any] | None = None   # capstone's, made at the first decode
        self._memo: dict[tuple[bytes, bool, bool], _Priced] = {}

    @property
    def _cs32(self) -> Any:
        return (self._decoders or self._make_decoders())[0]

    @property
    def _cs16(self) -> Any:
        return (self._decoders or self._make_decoders())[1]

    def _make_decoders(self) -> tuple[Any, Any]:
        """The 32- and 16-bit decoders (detail on).  Made when the first block is priced, not
        in the constructor: a run whose prices all come from the cache (emu/pricecache.py)
        and the interrupt prices (`interrupt_cycles`, a table row) never load capstone."""
        self._decoders = _shared_decoders()
        return self._decoders

    # -- public -------------------------------------------------------------------------------
    def block(self, code: bytes, address: int, mode32: bool, *,
              protected: bool | None = None) -> BlockCost:
        """Price the block `code` (exactly the block's bytes) that starts at linear `address`."""
        prot = mode32 if protected is None else protected
        cs = self._cs32 if mode32 else self._cs16
        code = bytes(code)
        addrs: list[int] = []
        prefix: list[int] = []
        classes: list[str] = []
        rdtsc: list[int] = []
        io: list[int] = []
        total = 0
        last_raw = None
        last_priced = None
        end = 0
        memo = self._memo
        # disasm_lite finds the instruction boundaries cheaply; each distinct encoding is then
        # decoded with detail and priced once per model (its price depends only on the bytes
        # and the mode, never on the address, so the memo cannot make two runs differ).
        for addr, size, _mnem, _ops in cs.disasm_lite(code, address):
            off = addr - address
            raw = code[off:off + size]
            key = (raw, mode32, prot)
            priced = memo.get(key)
            if priced is None:
                priced = self._price(next(cs.disasm(raw, addr, 1)), prot)
                memo[key] = priced
            addrs.append(addr)
            prefix.append(total)
            classes.append(priced.cls)
            total += priced.cycles
            if priced.cls == "RDTSC":
                rdtsc.append(addr)
            elif priced.cls in _IO_CLASSES:
                io.append(addr)
            last_raw, last_priced = (raw, addr), priced
            end = off + size
        if end < len(code):
            # Bytes capstone cannot decode (or a truncated last instruction): QEMU raises #UD on
            # the first of them, so they are one instruction at the documented default price.
            addrs.append(address + end)
            prefix.append(total)
            classes.append("UNDECODABLE")
            total += DEFAULT_CYCLES
            last_raw = None
        ends_with, target, taken_extra = "other", None, 0
        if last_raw is not None:
            ends_with, target = self._ending(next(cs.disasm(last_raw[0], last_raw[1], 1)), mode32)
            if ends_with == "jcc":
                taken_extra = last_priced.taken_extra
        return BlockCost(
            address=address, size=len(code), total=total, insn_addrs=tuple(addrs),
            prefix=tuple(prefix), n_insns=len(addrs), taken_extra=taken_extra,
            branch_target=target, ends_with=ends_with, fallthrough=address + len(code),
            rdtsc_addrs=tuple(rdtsc), io_addrs=tuple(io), classes=tuple(classes))

    def insn_cycles(self, insn, *, protected: bool | None = None) -> int:
        """Modelled cycles of one capstone instruction (detail on); Jcc counted not taken."""
        prot = self.mode32 if protected is None else protected
        return self._price(insn, prot).cycles

    def classify(self, insn, *, protected: bool | None = None) -> tuple[str, int]:
        """(cost class, cycles) of one instruction: the class names the table row used."""
        prot = self.mode32 if protected is None else protected
        p = self._price(insn, prot)
        return p.cls, p.cycles

    def interrupt_cycles(self, protected: bool, kind: str) -> int:
        """Cycles of delivering an interrupt that no instruction of a block paid for.

        kind "software" (INT n / INT3 / INTO): 0, the instruction's own row (INT 16, INT3 13,
        INTO 13) already covers the delivery.  "hardware" (an IRQ) and "exception" (a fault
        or trap raised by an instruction): the processor does the work of an INT n (push the
        flags, CS and IP, read the vector, load CS:IP), so it is priced with the INT row of
        the same column.  MAME's own delivery routine charges a flat placeholder instead.
        """
        if kind == "software":
            return 0
        if kind not in ("hardware", "exception"):
            raise ValueError(f"unknown interrupt kind {kind!r}")
        return self._p5("INT", protected)

    def decode(self, code: bytes, address: int, mode32: bool) -> list:
        """Capstone instructions of `code` (detail on) - a convenience for tools and tests."""
        cs = self._cs32 if mode32 else self._cs16
        return list(cs.disasm(bytes(code), address))

    # -- pricing ------------------------------------------------------------------------------
    def _p5(self, cls: str, prot: bool) -> int:
        real, pm = self.table[cls]
        value = pm if prot else real
        # A 0 in the table means "not valid in this mode" (e.g. ARPL raises #UD in real mode);
        # the fault itself is the machine's business, the instruction costs the other column.
        return value if value else (real or pm)

    def _price(self, insn, prot: bool) -> _Priced:
        cls = self._p5_class(insn)
        if cls is not None:
            cycles = self._p5(cls, prot)
            taken = 0
            if cls.endswith("_NOBRANCH"):
                taken = self._p5(cls[: -len("_NOBRANCH")], prot) - cycles
            if insn.prefix[0] == 0xF0:          # LOCK: MAME charges the prefix separately
                cycles += self._p5("LOCK", prot)
                cls = "LOCK+" + cls
            return _Priced(cls, cycles, max(taken, 0))
        atom = self._atom_class(insn)
        if atom is not None:
            return _Priced("ATOM:" + atom, ATOM[atom])
        return _Priced("DEFAULT", DEFAULT_CYCLES)

    @staticmethod
    def _kinds(insn) -> tuple[str, ...]:
        out = []
        for op in insn.operands:
            t = op.type
            out.append("m" if t == X.X86_OP_MEM else "i" if t == X.X86_OP_IMM else "r")
        return tuple(out)

    def _p5_class(self, insn) -> str | None:  # noqa: C901 - one flat decision table is clearer
        """Row of the Pentium column for `insn`, or None if the P5 had no such instruction."""
        op0 = insn.opcode[0]
        op1 = insn.opcode[1]
        name = insn.mnemonic.split()[-1]
        reg_field = (insn.modrm >> 3) & 7
        rep = insn.prefix[0] in (0xF2, 0xF3)

        # ---- string instructions (opcode decides: movsd/cmpsd are also SSE2 names)
        if op0 in _STRING:
            base = _STRING[op0]
            return ("REP_" + base) if rep else base

        # ---- control transfer, by opcode
        if 0x70 <= op0 <= 0x7F:
            return "JCC_DISP8_NOBRANCH"
        if op0 == 0x0F and 0x80 <= op1 <= 0x8F:
            return "JCC_FULL_DISP_NOBRANCH"
        if op0 == 0xE3:
            return "JCXZ_NOBRANCH"
        if op0 in (0xE0, 0xE1, 0xE2):
            return {0xE0: "LOOPNZ", 0xE1: "LOOPZ", 0xE2: "LOOP"}[op0]
        if op0 == 0xEB:
            return "JMP_SHORT"
        if op0 == 0xE9:
            return "JMP"
        if op0 == 0xEA:
            return "JMP_INTERSEG"
        if op0 == 0xE8:
            return "CALL"
        if op0 == 0x9A:
            return "CALL_INTERSEG"
        if op0 == 0xFF and reg_field in (2, 3, 4, 5):
            mem = insn.modrm < 0xC0
            return {2: "CALL_MEM" if mem else "CALL_REG",
                    3: "CALL_MEM_INTERSEG" if mem else "CALL_REG_INTERSEG",
                    4: "JMP_MEM" if mem else "JMP_REG",
                    5: "JMP_MEM_INTERSEG" if mem else "JMP_REG_INTERSEG"}[reg_field]
        if op0 in (0xC3, 0xC2, 0xCB, 0xCA):
            return {0xC3: "RET", 0xC2: "RET_IMM", 0xCB: "RET_INTERSEG",
                    0xCA: "RET_IMM_INTERSEG"}[op0]
        if op0 == 0xCF:
            return "IRET"
        if op0 == 0xCD:
            return "INT"
        if op0 in (0xCC, 0xF1):
            return "INT3"
        if op0 == 0xCE:
            return "INTO_OF0"

        # ---- port I/O
        if op0 in (0xE4, 0xE5):
            return "IN_VAR"
        if op0 in (0xEC, 0xED):
            return "IN"
        if op0 in (0xE6, 0xE7):
            return "OUT_VAR"
        if op0 in (0xEE, 0xEF):
            return "OUT"

        # ---- push / pop, by opcode form
        if 0x50 <= op0 <= 0x57:
            return "PUSH_REG_SHORT"
        if 0x58 <= op0 <= 0x5F:
            return "POP_REG_SHORT"
        if op0 in (0x68, 0x6A):
            return "PUSH_IMM"
        if op0 == 0xFF and reg_field == 6:
            return "PUSH_RM"
        if op0 == 0x8F:
            return "POP_RM"
        if op0 in (0x06, 0x0E, 0x16, 0x1E) or (op0 == 0x0F and op1 in (0xA0, 0xA8)):
            return "PUSH_SREG"
        if op0 in (0x07, 0x17, 0x1F) or (op0 == 0x0F and op1 in (0xA1, 0xA9)):
            return "POP_SREG"

        if name in _SIMPLE:
            return _SIMPLE[name]
        if name in _X87:
            return _X87[name]

        k = self._kinds(insn)
        mem = "m" in k
        if name in _ALU or name in ("cmp", "test"):
            pre = {"cmp": "CMP", "test": "TEST"}.get(name, "ALU")
            if k[-1] == "i":
                if k[0] == "m":
                    return pre + "_IMM_MEM"
                # the short accumulator forms (04/05, 3C/3D, A8/A9 ...) have their own row
                return pre + ("_IMM_ACC" if _is_acc_form(op0) else "_IMM_REG")
            if k[0] == "m":
                return pre + "_REG_MEM"
            if k[1] == "m":
                return pre + ("_REG_MEM" if pre == "TEST" else "_MEM_REG")
            return pre + "_REG_REG"
        if name in ("inc", "dec", "neg", "not"):
            return name.upper() + ("_MEM" if mem else "_REG")
        if name == "mov":
            return self._mov_class(insn, k, op0)
        if name in ("movsx", "movsxd", "movzx"):
            return ("MOVZX" if name == "movzx" else "MOVSX") + ("_MEM_REG" if mem else "_REG_REG")
        if name == "xchg":
            if op0 == 0x90:
                return "NOP"
            return "XCHG_REG_MEM" if mem else "XCHG_REG_REG"
        if name in ("mul", "imul", "div", "idiv"):
            size = insn.operands[0].size * 8
            if len(k) == 1:
                return f"{name.upper()}{size}_ACC_{'MEM' if mem else 'REG'}"
            if len(k) == 2:
                return f"IMUL{size}_REG_{'MEM' if mem else 'REG'}"
            return f"IMUL{size}_{'MEM' if mem else 'REG'}_IMM_REG"
        if name in _ROT:
            return "ROTATE_MEM" if k[0] == "m" else "ROTATE_REG"
        if name in ("rcl", "rcr"):
            return "ROTATE_CARRY_MEM" if k[0] == "m" else "ROTATE_CARRY_REG"
        if name in ("shld", "shrd"):
            return name.upper() + ("_MEM" if k[0] == "m" else "_REG")
        if name in ("bsf", "bsr"):
            return name.upper() + "_BASE"
        if name in ("bt", "btc", "btr", "bts"):
            src = "IMM" if k[-1] == "i" else "REG"
            return f"{name.upper()}_{src}_{'MEM' if k[0] == 'm' else 'REG'}"
        if name.startswith("set") and op0 == 0x0F and 0x90 <= op1 <= 0x9F:
            return "SETCC_MEM" if mem else "SETCC_REG"
        if name == "cmpxchg":
            return "CMPXCHG_REG_MEM_T" if k[0] == "m" else "CMPXCHG_REG_REG_T"
        if name in ("arpl", "lar", "lsl", "lldt", "lmsw", "ltr", "sldt", "smsw", "str",
                    "verr", "verw"):
            return name.upper() + ("_MEM" if mem else "_REG")
        return None

    def _mov_class(self, insn, k: tuple[str, ...], op0: int) -> str:
        regs = [insn.reg_name(op.reg) if op.type == X.X86_OP_REG else "" for op in insn.operands]
        dst, src = regs[0], regs[1]
        if src.startswith("cr"):
            return "MOV_CR_REG"
        if dst.startswith("cr"):
            return {"cr0": "MOV_REG_CR0", "cr2": "MOV_REG_CR2", "cr3": "MOV_REG_CR3"}.get(
                dst, "MOV_REG_CR4")
        if src.startswith("dr"):
            return "MOV_REG_DR0_3" if src[-1] in "0123" else "MOV_REG_DR6_7"
        if dst.startswith("dr"):
            return "MOV_DR0_3_REG" if dst[-1] in "0123" else "MOV_DR6_7_REG"
        if src.startswith("tr"):
            return "MOV_REG_TR6_7"
        if dst.startswith("tr"):
            return "MOV_TR6_7_REG"
        if dst in _SREGS:
            return "MOV_MEM_SREG" if k[1] == "m" else "MOV_REG_SREG"
        if src in _SREGS:
            return "MOV_SREG_MEM" if k[0] == "m" else "MOV_SREG_REG"
        if op0 in (0xA0, 0xA1):      # mov acc, moffs: MAME charges this row for the load
            return "MOV_IMM_MEM"
        if op0 in (0xA2, 0xA3):      # mov moffs, acc
            return "MOV_MEM_ACC"
        if k[1] == "i":
            return "MOV_IMM_MEM" if k[0] == "m" else "MOV_IMM_REG"
        if k[0] == "m":
            return "MOV_REG_MEM"
        if k[1] == "m":
            return "MOV_MEM_REG"
        return "MOV_REG_REG"

    def _atom_class(self, insn) -> str | None:
        """Atom itinerary class for instructions newer than the Pentium, else None."""
        name = insn.mnemonic.split()[-1]
        if name in _X87_ATOM:
            return _X87_ATOM[name]
        if name.startswith("fcmov"):
            return "FCMOV"
        if name.startswith("cmov"):
            return "CMOV32_RM" if "m" in self._kinds(insn) else "CMOV32_RR"
        if name in ("movd", "movq"):
            return self._movdq_class(insn)
        if insn.opcode[0] == 0x0F and insn.opcode[1] == 0xC2 and name.startswith("cmp"):
            # cmpltss, cmpeqpd ...: the itinerary has no class of their own; priced as ADD
            stem = {"ss": "SSE_ALU_F32S", "sd": "SSE_ALU_F64S",
                    "ps": "SSE_ALU_F32P", "pd": "SSE_ALU_F64P"}.get(name[-2:])
        else:
            stem = _SSE.get(name)
        if stem is None:
            groups = set(insn.groups)
            if groups & simd_groups():
                return SIMD_DEFAULT
            return None
        if stem in ATOM:
            return stem
        k = self._kinds(insn)
        if stem == "SSE_INTSH_P" and k[-1] == "i":
            return "SSE_INTSH_P_RI"
        if stem == "SSE_PSHUF":
            return "SSE_PSHUF_MI" if "m" in k else "SSE_PSHUF_RI"
        if stem == "SSE_PALIGN":
            return "SSE_PALIGNRM" if "m" in k else "SSE_PALIGNRR"
        if stem in ("SSE_MOV_S", "SSE_MOVA_P", "SSE_MOVU_P") and k and k[0] == "m":
            return stem + "_MR"
        suffix = "_RM" if "m" in k else "_RR"
        return stem + suffix if stem + suffix in ATOM else SIMD_DEFAULT

    def _movdq_class(self, insn) -> str:
        """movd/movq: to a general register is slow on the Atom (3), the other forms are 1."""
        k = self._kinds(insn)
        if k[0] == "r":
            dst = insn.reg_name(insn.operands[0].reg)
            if not dst.startswith(("xmm", "mm")):
                return "SSE_MOVD_ToGP"
            if k[1] == "r" and insn.reg_name(insn.operands[1].reg).startswith(("xmm", "mm")):
                return "SSE_MOVQ_RR"
        return "SSE_MOVDQ"

    # -- block endings ------------------------------------------------------------------------
    def _ending(self, insn, mode32: bool) -> tuple[str, int | None]:
        op0, op1 = insn.opcode[0], insn.opcode[1]
        reg_field = (insn.modrm >> 3) & 7
        nxt = insn.address + insn.size
        raw = bytes(insn.bytes)
        if 0x70 <= op0 <= 0x7F or op0 in (0xE0, 0xE1, 0xE2, 0xE3):
            return "jcc", _rel_target(nxt, raw[-1:], mode32)
        if op0 == 0x0F and 0x80 <= op1 <= 0x8F:
            return "jcc", _rel_target(nxt, raw[-_rel_size(insn, mode32):], mode32)
        if op0 == 0xEB:
            return "jmp", _rel_target(nxt, raw[-1:], mode32)
        if op0 == 0xE9:
            return "jmp", _rel_target(nxt, raw[-_rel_size(insn, mode32):], mode32)
        if op0 == 0xE8:
            return "call", _rel_target(nxt, raw[-_rel_size(insn, mode32):], mode32)
        if op0 in (0xEA, 0x9A):
            kind = "jmp" if op0 == 0xEA else "call"
            # Far direct: the linear target is known only in real mode (selector * 16 + offset).
            if mode32:
                return kind, None
            off_len = _rel_size(insn, mode32)
            off = int.from_bytes(raw[-2 - off_len:-2], "little")
            sel = int.from_bytes(raw[-2:], "little")
            return kind, ((sel << 4) + off) & 0xFFFFFFFF
        if op0 == 0xFF and reg_field in (2, 3):
            return "call", None
        if op0 == 0xFF and reg_field in (4, 5):
            return "jmp", None
        if op0 in (0xC3, 0xC2, 0xCB, 0xCA):
            return "ret", None
        if op0 == 0xCF:
            return "iret", None
        if op0 in (0xCD, 0xCC, 0xCE, 0xF1):
            return "int", None
        if op0 == 0xF4:
            return "hlt", None
        return "other", None


_DECODERS: tuple[Any, Any] | None = None


def _shared_decoders() -> tuple[Any, Any]:
    """One pair of capstone decoders for every model of the process: a decoder keeps no state
    between calls (its options are fixed here), so sharing it cannot make two prices differ,
    and a model made per test or per machine does not open capstone again."""
    global _DECODERS
    if _DECODERS is None:
        cs32 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        cs32.detail = True
        cs16 = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16)
        cs16.detail = True
        _DECODERS = (cs32, cs16)
    return _DECODERS


def _is_acc_form(op0: int) -> bool:
    return op0 in _ACC_FORMS


def _rel_size(insn, mode32: bool) -> int:
    """Bytes of the rel16/rel32 (or far offset) immediate: operand size, 0x66 toggles it."""
    wide = mode32 != (insn.prefix[2] == 0x66)
    return 4 if wide else 2


def _rel_target(nxt: int, disp_bytes: bytes, mode32: bool) -> int:
    """Linear target of a relative branch.

    Why not capstone's operand: in 16-bit mode capstone may wrap the target to 16 bits, but the
    block address we are given is linear (CS*16 + IP).  IP wrap-around inside the 64 KiB segment
    is not modelled (the CS base is not known here); no real boot code relies on it.
    """
    disp = int.from_bytes(disp_bytes, "little", signed=True)
    return (nxt + disp) & 0xFFFFFFFF
