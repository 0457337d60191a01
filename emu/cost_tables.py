"""The instruction tables of the cycle cost model (emu/costs.py prices with them).

Why a module of its own: the tables are transcribed facts - the Pentium column of MAME's i386
core ``src/devices/cpu/i386/cycles.h`` (BSD-3-Clause, Ville Linde, Barry Rodewald, Carl,
Philip Bennett) and the latencies of LLVM's in-order Atom model
``llvm/lib/Target/X86/X86ScheduleAtom.td`` (Apache-2.0 with LLVM exception) - plus the
mnemonic -> row maps that pick a row.  Keeping them apart from the decision code in
emu/costs.py lets each be read and checked on its own; docs/cycle-model.md lists every row
(tests/test_costs.py checks they agree).  emu/pricecache.py hashes this file together with
costs.py, so changing a number here starts a fresh price cache.
"""

from __future__ import annotations

from .capstone_lazy import CX as X   # read only when SIMD groups are first asked for

# ---------------------------------------------------------------------------------------------
# MAME cycles.h, Pentium column: class -> (real mode, protected mode).
# MAME names read SOURCE_DEST: ALU_REG_MEM is "reg into mem" (read-modify-write), ALU_MEM_REG is
# "mem into reg" (load-op), MOV_REG_MEM a store, MOV_MEM_REG a load.  A memory operand costs what
# the _MEM entry says: MAME adds nothing for address generation, so neither do we.
# ---------------------------------------------------------------------------------------------
P5: dict[str, tuple[int, int]] = {
    "MOV_REG_REG": (1, 1), "MOV_REG_MEM": (1, 1), "MOV_MEM_REG": (1, 1),
    "MOV_IMM_REG": (1, 1), "MOV_IMM_MEM": (1, 1), "MOV_ACC_MEM": (1, 1), "MOV_MEM_ACC": (1, 1),
    "MOV_REG_SREG": (2, 2), "MOV_MEM_SREG": (3, 3), "MOV_SREG_REG": (1, 1), "MOV_SREG_MEM": (1, 1),
    "MOVSX_REG_REG": (3, 3), "MOVSX_MEM_REG": (3, 3), "MOVZX_REG_REG": (3, 3), "MOVZX_MEM_REG": (3, 3),
    "PUSH_RM": (2, 2), "PUSH_REG_SHORT": (1, 1), "PUSH_SREG": (1, 1), "PUSH_IMM": (1, 1),
    "PUSHA": (5, 5), "POP_RM": (3, 3), "POP_REG_SHORT": (1, 1), "POP_SREG": (3, 3), "POPA": (5, 5),
    "XCHG_REG_REG": (3, 3), "XCHG_REG_MEM": (3, 3),
    "IN": (7, 19), "IN_VAR": (7, 19), "OUT": (12, 24), "OUT_VAR": (12, 24),
    "LEA": (1, 1), "LDS": (4, 4), "LES": (4, 4), "LFS": (4, 4), "LGS": (4, 4), "LSS": (4, 4),
    "CLC": (2, 2), "CLD": (2, 2), "CLI": (7, 7), "CLTS": (10, 10), "CMC": (2, 2), "LAHF": (2, 2),
    "POPF": (6, 6), "PUSHF": (9, 9), "SAHF": (2, 2), "STC": (2, 2), "STD": (2, 2), "STI": (7, 7),
    "ALU_REG_REG": (1, 1), "ALU_REG_MEM": (3, 3), "ALU_MEM_REG": (2, 2),
    "ALU_IMM_REG": (1, 1), "ALU_IMM_MEM": (3, 3), "ALU_IMM_ACC": (1, 1),
    "INC_REG": (1, 1), "INC_MEM": (3, 3), "DEC_REG": (1, 1), "DEC_MEM": (3, 3),
    "CMP_REG_REG": (1, 1), "CMP_REG_MEM": (2, 2), "CMP_MEM_REG": (2, 2),
    "CMP_IMM_REG": (1, 1), "CMP_IMM_MEM": (2, 2), "CMP_IMM_ACC": (1, 1),
    "TEST_REG_REG": (1, 1), "TEST_REG_MEM": (2, 2), "TEST_IMM_REG": (1, 1),
    "TEST_IMM_MEM": (2, 2), "TEST_IMM_ACC": (1, 1),
    "NEG_REG": (1, 1), "NEG_MEM": (3, 3),
    "AAA": (3, 3), "AAS": (3, 3), "DAA": (3, 3), "DAS": (3, 3),
    "MUL8_ACC_REG": (11, 11), "MUL8_ACC_MEM": (11, 11), "MUL16_ACC_REG": (11, 11),
    "MUL16_ACC_MEM": (11, 11), "MUL32_ACC_REG": (10, 10), "MUL32_ACC_MEM": (10, 10),
    "IMUL8_ACC_REG": (11, 11), "IMUL8_ACC_MEM": (11, 11), "IMUL16_ACC_REG": (11, 11),
    "IMUL16_ACC_MEM": (11, 11), "IMUL32_ACC_REG": (10, 10), "IMUL32_ACC_MEM": (10, 10),
    "IMUL8_REG_REG": (10, 10), "IMUL8_REG_MEM": (10, 10), "IMUL16_REG_REG": (10, 10),
    "IMUL16_REG_MEM": (10, 10), "IMUL32_REG_REG": (10, 10), "IMUL32_REG_MEM": (10, 10),
    "IMUL16_REG_IMM_REG": (10, 10), "IMUL16_MEM_IMM_REG": (10, 10),
    "IMUL32_REG_IMM_REG": (10, 10), "IMUL32_MEM_IMM_REG": (10, 10),
    "DIV8_ACC_REG": (17, 17), "DIV8_ACC_MEM": (17, 17), "DIV16_ACC_REG": (25, 25),
    "DIV16_ACC_MEM": (25, 25), "DIV32_ACC_REG": (41, 41), "DIV32_ACC_MEM": (41, 41),
    "IDIV8_ACC_REG": (22, 22), "IDIV8_ACC_MEM": (22, 22), "IDIV16_ACC_REG": (30, 30),
    "IDIV16_ACC_MEM": (30, 30), "IDIV32_ACC_REG": (46, 46), "IDIV32_ACC_MEM": (46, 46),
    "AAD": (10, 10), "AAM": (18, 18), "CBW": (3, 3), "CWD": (2, 2),
    "ROTATE_REG": (1, 1), "ROTATE_MEM": (3, 3), "ROTATE_CARRY_REG": (7, 7), "ROTATE_CARRY_MEM": (8, 8),
    "SHLD_REG": (4, 4), "SHLD_MEM": (4, 4), "SHRD_REG": (4, 4), "SHRD_MEM": (4, 4),
    "NOT_REG": (1, 1), "NOT_MEM": (3, 3),
    "CMPS": (5, 5), "INS": (9, 22), "LODS": (2, 2), "MOVS": (4, 4), "OUTS": (13, 25),
    "SCAS": (4, 4), "STOS": (3, 3), "XLAT": (4, 4),
    "REP_CMPS_BASE": (0, 0), "REP_INS_BASE": (0, 0), "REP_LODS_BASE": (0, 0),
    "REP_MOVS_BASE": (0, 0), "REP_OUTS_BASE": (0, 0), "REP_SCAS_BASE": (0, 0),
    "REP_STOS_BASE": (0, 0),
    "REP_CMPS": (5, 5), "REP_INS": (9, 22), "REP_LODS": (2, 2), "REP_MOVS": (4, 4),
    "REP_OUTS": (13, 25), "REP_SCAS": (4, 4), "REP_STOS": (3, 3),
    "BSF_BASE": (6, 6), "BSF": (1, 1), "BSR_BASE": (7, 7), "BSR": (1, 1),
    "BT_IMM_REG": (4, 4), "BT_IMM_MEM": (4, 4), "BT_REG_REG": (4, 4), "BT_REG_MEM": (9, 9),
    "BTC_IMM_REG": (7, 7), "BTC_IMM_MEM": (8, 8), "BTC_REG_REG": (7, 7), "BTC_REG_MEM": (13, 13),
    "BTR_IMM_REG": (7, 7), "BTR_IMM_MEM": (8, 8), "BTR_REG_REG": (7, 7), "BTR_REG_MEM": (13, 13),
    "BTS_IMM_REG": (7, 7), "BTS_IMM_MEM": (8, 8), "BTS_REG_REG": (7, 7), "BTS_REG_MEM": (13, 13),
    "CALL": (1, 1), "CALL_REG": (2, 2), "CALL_MEM": (2, 2),
    "CALL_INTERSEG": (4, 13), "CALL_REG_INTERSEG": (4, 14), "CALL_MEM_INTERSEG": (4, 14),
    "JMP_SHORT": (1, 1), "JMP": (1, 1), "JMP_REG": (2, 2), "JMP_MEM": (2, 2),
    "JMP_INTERSEG": (3, 3), "JMP_REG_INTERSEG": (4, 4), "JMP_MEM_INTERSEG": (4, 4),
    "RET": (2, 2), "RET_IMM": (2, 2), "RET_INTERSEG": (4, 4), "RET_IMM_INTERSEG": (4, 4),
    "JCC_DISP8": (1, 1), "JCC_FULL_DISP": (1, 1),
    "JCC_DISP8_NOBRANCH": (1, 1), "JCC_FULL_DISP_NOBRANCH": (1, 1),
    "JCXZ": (1, 1), "JCXZ_NOBRANCH": (1, 1),
    "LOOP": (5, 5), "LOOPZ": (8, 8), "LOOPNZ": (8, 8),
    "SETCC_REG": (2, 2), "SETCC_MEM": (2, 2), "ENTER": (11, 11), "LEAVE": (3, 3),
    "INT": (16, 16), "INT3": (13, 13), "INTO_OF1": (13, 13), "INTO_OF0": (4, 4),
    "BOUND_IN_RANGE": (8, 8), "BOUND_OUT_RANGE": (8, 8), "IRET": (8, 8), "HLT": (4, 4),
    "MOV_REG_CR0": (16, 16), "MOV_REG_CR2": (4, 4), "MOV_REG_CR3": (4, 4), "MOV_CR_REG": (4, 4),
    "MOV_REG_DR0_3": (10, 10), "MOV_REG_DR6_7": (10, 10),
    "MOV_DR6_7_REG": (11, 11), "MOV_DR0_3_REG": (11, 11),
    "MOV_REG_TR6_7": (4, 4), "MOV_TR6_7_REG": (3, 3),
    "NOP": (1, 1), "WAIT": (1, 1),
    "ARPL_REG": (0, 7), "ARPL_MEM": (0, 7), "LAR_REG": (8, 8), "LAR_MEM": (8, 8),
    "LGDT": (6, 6), "LIDT": (6, 6), "LLDT_REG": (9, 9), "LLDT_MEM": (9, 9),
    "LMSW_REG": (8, 8), "LMSW_MEM": (8, 8), "LSL_REG": (8, 8), "LSL_MEM": (8, 8),
    "LTR_REG": (10, 10), "LTR_MEM": (10, 10), "SGDT": (4, 4), "SIDT": (4, 4),
    "SLDT_REG": (2, 2), "SLDT_MEM": (2, 2), "SMSW_REG": (4, 4), "SMSW_MEM": (4, 4),
    "STR_REG": (2, 2), "STR_MEM": (2, 2), "VERR_REG": (7, 7), "VERR_MEM": (7, 7),
    "VERW_REG": (7, 7), "VERW_MEM": (7, 7), "LOCK": (1, 1),
    # i486+ and Pentium+ rows
    "BSWAP": (1, 1), "CMPXCHG": (5, 5), "INVD": (15, 15), "XADD": (4, 4),
    "CMPXCHG8B": (10, 10), "CPUID": (14, 14), "CPUID_EAX1": (14, 14), "RDTSC": (20, 20),
    "RSM": (82, 82), "RDMSR": (20, 20),
    "CMPXCHG_REG_REG_T": (6, 6), "CMPXCHG_REG_REG_F": (9, 9),
    "CMPXCHG_REG_MEM_T": (7, 7), "CMPXCHG_REG_MEM_F": (10, 10),
    # x87 (one entry per operation: register and memory forms cost the same)
    "FABS": (1, 1), "FADD": (3, 3), "FBLD": (48, 48), "FBSTP": (148, 148), "FCHS": (1, 1),
    "FCLEX": (9, 9), "FCOM": (4, 4), "FCOS": (124, 124), "FDECSTP": (1, 1), "FDISI": (1, 1),
    "FDIV": (39, 39), "FDIVR": (39, 39), "FENI": (1, 1), "FFREE": (1, 1), "FIADD": (7, 7),
    "FICOM": (8, 8), "FIDIV": (42, 42), "FILD": (3, 3), "FIMUL": (7, 7), "FINCSTP": (1, 1),
    "FINIT": (16, 16), "FIST": (6, 6), "FISUB": (7, 7), "FLD": (1, 1), "FLDZ": (2, 2),
    "FLD1": (2, 2), "FLDL2E": (5, 5), "FLDL2T": (5, 5), "FLDLG2": (5, 5), "FLDLN2": (5, 5),
    "FLDPI": (5, 5), "FLDCW": (7, 7), "FLDENV": (37, 37), "FMUL": (3, 3), "FNOP": (1, 1),
    "FPATAN": (173, 173), "FPREM": (16, 16), "FPREM1": (20, 20), "FPTAN": (173, 173),
    "FRNDINT": (9, 9), "FRSTOR": (75, 75), "FSAVE": (127, 127), "FSCALE": (20, 20),
    "FSETPM": (1, 1), "FSIN": (126, 126), "FSINCOS": (137, 137), "FSQRT": (70, 70),
    "FST": (1, 1), "FSTCW": (2, 2), "FSTENV": (48, 48), "FSTSW": (2, 2), "FSUB": (3, 3),
    "FSUBR": (3, 3), "FTST": (4, 4), "FUCOM": (4, 4), "FXAM": (21, 21), "FXCH": (1, 1),
    "FXTRACT": (13, 13), "FYL2X": (111, 111), "FYL2XPI": (103, 103),
}

# ---------------------------------------------------------------------------------------------
# LLVM X86ScheduleAtom.td (itinerary version, llvm-project commit 2c9c9da6): latency in cycles
# of the Atom (Bonnell) itinerary class.  "_RR" register source, "_RM" memory source,
# "_MR" memory destination.  Used only for instructions the Pentium column does not have.
# ---------------------------------------------------------------------------------------------
ATOM: dict[str, int] = {
    "SSE_ALU_F32S_RR": 5, "SSE_ALU_F32S_RM": 5, "SSE_ALU_F64S_RR": 5, "SSE_ALU_F64S_RM": 5,
    "SSE_MUL_F32S_RR": 4, "SSE_MUL_F32S_RM": 4, "SSE_MUL_F64S_RR": 5, "SSE_MUL_F64S_RM": 5,
    "SSE_DIV_F32S_RR": 34, "SSE_DIV_F32S_RM": 34, "SSE_DIV_F64S_RR": 62, "SSE_DIV_F64S_RM": 62,
    "SSE_COMIS_RR": 9, "SSE_COMIS_RM": 10, "SSE_HADDSUB_RR": 8, "SSE_HADDSUB_RM": 9,
    "SSE_ALU_F32P_RR": 5, "SSE_ALU_F32P_RM": 5, "SSE_ALU_F64P_RR": 6, "SSE_ALU_F64P_RM": 7,
    "SSE_MUL_F32P_RR": 5, "SSE_MUL_F32P_RM": 5, "SSE_MUL_F64P_RR": 9, "SSE_MUL_F64P_RM": 10,
    "SSE_DIV_F32P_RR": 70, "SSE_DIV_F32P_RM": 70, "SSE_DIV_F64P_RR": 125, "SSE_DIV_F64P_RM": 125,
    "SSE_BIT_P_RR": 1, "SSE_BIT_P_RM": 1,
    "SSE_INTALU_P_RR": 1, "SSE_INTALU_P_RM": 1, "SSE_INTALUQ_P_RR": 2, "SSE_INTALUQ_P_RM": 3,
    "SSE_INTMUL_P_RR": 5, "SSE_INTMUL_P_RM": 5,
    "SSE_INTSH_P_RR": 2, "SSE_INTSH_P_RM": 3, "SSE_INTSH_P_RI": 1, "SSE_INTSHDQ_P_RI": 1,
    "SSE_SHUFP": 1, "SSE_PSHUF_RI": 1, "SSE_PSHUF_MI": 1, "SSE_PACK": 1, "SSE_UNPCK": 1,
    "SSE_SQRTPS_RR": 70, "SSE_SQRTPS_RM": 70, "SSE_SQRTSS_RR": 34, "SSE_SQRTSS_RM": 34,
    "SSE_SQRTPD_RR": 125, "SSE_SQRTPD_RM": 125, "SSE_SQRTSD_RR": 62, "SSE_SQRTSD_RM": 62,
    "SSE_RSQRTPS_RR": 9, "SSE_RSQRTPS_RM": 10, "SSE_RSQRTSS_RR": 4, "SSE_RSQRTSS_RM": 4,
    "SSE_RCPP_RR": 9, "SSE_RCPP_RM": 10, "SSE_RCPS_RR": 4, "SSE_RCPS_RM": 4,
    "SSE_MOVMSK": 3, "SSE_MASKMOV": 2, "SSE_PEXTRW": 4, "SSE_PINSRW": 1,
    "SSE_MOV_S_RR": 1, "SSE_MOV_S_RM": 1, "SSE_MOV_S_MR": 1,
    "SSE_MOVA_P_RR": 1, "SSE_MOVA_P_RM": 1, "SSE_MOVA_P_MR": 1,
    "SSE_MOVU_P_RR": 1, "SSE_MOVU_P_RM": 3, "SSE_MOVU_P_MR": 2,
    "SSE_MOV_LH": 1, "SSE_LDDQU": 3, "SSE_MOVDQ": 1, "SSE_MOVD_ToGP": 3, "SSE_MOVQ_RR": 1,
    "SSE_MOVNT": 1, "SSE_PREFETCH": 1, "SSE_LFENCE": 1, "SSE_MFENCE": 1, "SSE_SFENCE": 1,
    "SSE_LDMXCSR": 5, "SSE_STMXCSR": 15, "SSE_PSHUFB_RR": 4, "SSE_PSHUFB_RM": 5,
    "SSE_PMADD": 5, "SSE_PALIGNRR": 1, "SSE_PALIGNRM": 1, "SSE_PABS_RR": 1, "SSE_PABS_RM": 1,
    "SSE_CVT_PD_RR": 7, "SSE_CVT_PD_RM": 8, "SSE_CVT_PS_RR": 6, "SSE_CVT_PS_RM": 7,
    "SSE_CVT_Scalar_RR": 6, "SSE_CVT_Scalar_RM": 7,
    "SSE_CVT_SS2SI32_RR": 8, "SSE_CVT_SS2SI32_RM": 9, "SSE_CVT_SD2SI_RR": 8, "SSE_CVT_SD2SI_RM": 9,
    "MMX_CVT_PS_RR": 5, "MMX_CVT_PS_RM": 5, "MMX_PSADBW": 4, "MMX_EMMS": 5,
    "CMOV32_RR": 1, "CMOV32_RM": 1, "FCMOV": 9, "FCOMI": 9, "FUCOMI": 9,
    "F2XM1": 99, "FXSAVE": 140, "FXRSTOR": 141, "MOVBE": 1, "SYS_ENTER_EXIT": 88,
    "RDTSCP": 30, "RDPMC": 46,
}

# Rows MAME prices in its code rather than in cycles.h (i386ops.hxx, mov_cr_r32: a CR4 write is
# CYCLES(1), marked TODO there).  Kept apart so the transcribed table above stays exact.
MAME_CODE: dict[str, tuple[int, int]] = {"MOV_REG_CR4": (1, 1)}

#: Price of an instruction no rule below recognises (see docs/cycle-model.md, "Unknown").
DEFAULT_CYCLES = 1
#: Price of a SIMD instruction (SSE/MMX group) that has no Atom class mapping below.
SIMD_DEFAULT = "SSE_ALU_F32S_RR"

_ALU = {"add", "or", "adc", "sbb", "and", "sub", "xor"}
_ROT = {"rol", "ror", "shl", "sal", "shr", "sar"}
_STRING = {0xA4: "MOVS", 0xA5: "MOVS", 0xA6: "CMPS", 0xA7: "CMPS", 0xAA: "STOS", 0xAB: "STOS",
           0xAC: "LODS", 0xAD: "LODS", 0xAE: "SCAS", 0xAF: "SCAS", 0x6C: "INS", 0x6D: "INS",
           0x6E: "OUTS", 0x6F: "OUTS"}
_SIMPLE = {
    "clc": "CLC", "cld": "CLD", "cli": "CLI", "clts": "CLTS", "cmc": "CMC", "lahf": "LAHF",
    "sahf": "SAHF", "stc": "STC", "std": "STD", "sti": "STI", "popf": "POPF", "popfd": "POPF",
    "popfw": "POPF", "pushf": "PUSHF", "pushfd": "PUSHF", "pushfw": "PUSHF",
    "pushal": "PUSHA", "pushaw": "PUSHA", "pusha": "PUSHA", "pushad": "PUSHA",
    "popal": "POPA", "popaw": "POPA", "popa": "POPA", "popad": "POPA",
    "aaa": "AAA", "aas": "AAS", "daa": "DAA", "das": "DAS", "aad": "AAD", "aam": "AAM",
    "cbw": "CBW", "cwde": "CBW", "cwd": "CWD", "cdq": "CWD", "xlatb": "XLAT", "xlat": "XLAT",
    "lea": "LEA", "lds": "LDS", "les": "LES", "lfs": "LFS", "lgs": "LGS", "lss": "LSS",
    "enter": "ENTER", "leave": "LEAVE", "hlt": "HLT", "nop": "NOP", "pause": "NOP",
    "wait": "WAIT", "lgdt": "LGDT", "lidt": "LIDT", "sgdt": "SGDT", "sidt": "SIDT",
    "bswap": "BSWAP", "cmpxchg8b": "CMPXCHG8B", "cpuid": "CPUID", "rdtsc": "RDTSC",
    "rsm": "RSM", "rdmsr": "RDMSR", "invd": "INVD", "bound": "BOUND_IN_RANGE", "xadd": "XADD",
    # Not in the table; priced as the nearest row of the same column (documented).
    "wrmsr": "RDMSR", "wbinvd": "INVD", "invlpg": "INVD",
}
_X87 = {
    "fabs": "FABS", "fadd": "FADD", "faddp": "FADD", "fsub": "FSUB", "fsubp": "FSUB",
    "fsubr": "FSUBR", "fsubrp": "FSUBR", "fmul": "FMUL", "fmulp": "FMUL", "fdiv": "FDIV",
    "fdivp": "FDIV", "fdivr": "FDIVR", "fdivrp": "FDIVR", "fiadd": "FIADD", "fisub": "FISUB",
    "fisubr": "FISUB", "fimul": "FIMUL", "fidiv": "FIDIV", "fidivr": "FIDIV",
    "fcom": "FCOM", "fcomp": "FCOM", "fcompp": "FCOM", "fucom": "FUCOM", "fucomp": "FUCOM",
    "fucompp": "FUCOM", "ficom": "FICOM", "ficomp": "FICOM", "fld": "FLD", "fild": "FILD",
    "fbld": "FBLD", "fst": "FST", "fstp": "FST", "fist": "FIST", "fistp": "FIST",
    "fisttp": "FIST", "fbstp": "FBSTP", "fxch": "FXCH", "fchs": "FCHS", "fldz": "FLDZ",
    "fld1": "FLD1", "fldl2e": "FLDL2E", "fldl2t": "FLDL2T", "fldlg2": "FLDLG2",
    "fldln2": "FLDLN2", "fldpi": "FLDPI", "fldcw": "FLDCW", "fnstcw": "FSTCW", "fstcw": "FSTCW",
    "fnstsw": "FSTSW", "fstsw": "FSTSW", "fnclex": "FCLEX", "fclex": "FCLEX", "fninit": "FINIT",
    "finit": "FINIT", "fldenv": "FLDENV", "fnstenv": "FSTENV", "fstenv": "FSTENV",
    "frstor": "FRSTOR", "fnsave": "FSAVE", "fsave": "FSAVE", "fsqrt": "FSQRT", "fsin": "FSIN",
    "fcos": "FCOS", "fsincos": "FSINCOS", "fptan": "FPTAN", "fpatan": "FPATAN",
    "fprem": "FPREM", "fprem1": "FPREM1", "frndint": "FRNDINT", "fscale": "FSCALE",
    "fxtract": "FXTRACT", "fyl2x": "FYL2X", "fyl2xp1": "FYL2XPI", "ftst": "FTST",
    "fxam": "FXAM", "fnop": "FNOP", "ffree": "FFREE", "ffreep": "FFREE", "fincstp": "FINCSTP",
    "fdecstp": "FDECSTP", "fsetpm": "FSETPM", "fndisi": "FDISI", "fneni": "FENI",
}
_X87_ATOM = {"f2xm1": "F2XM1", "fcomi": "FCOMI", "fcomip": "FCOMI", "fcompi": "FCOMI",
             "fucomi": "FUCOMI", "fucomip": "FUCOMI", "fucompi": "FUCOMI",
             "fxsave": "FXSAVE", "fxrstor": "FXRSTOR", "movbe": "MOVBE",
             "sysenter": "SYS_ENTER_EXIT", "sysexit": "SYS_ENTER_EXIT", "rdtscp": "RDTSCP",
             "rdpmc": "RDPMC"}

# SSE/SSE2/MMX: mnemonic -> Atom class stem; "_RR"/"_RM"/"_MR" is added from the operands when
# the stem has such variants.
_SSE = {}
for _names, _stem in (
    ("addss subss minss maxss", "SSE_ALU_F32S"), ("addsd subsd minsd maxsd", "SSE_ALU_F64S"),
    ("mulss", "SSE_MUL_F32S"), ("mulsd", "SSE_MUL_F64S"),
    ("divss", "SSE_DIV_F32S"), ("divsd", "SSE_DIV_F64S"),
    ("addps subps minps maxps", "SSE_ALU_F32P"), ("addpd subpd minpd maxpd", "SSE_ALU_F64P"),
    ("mulps", "SSE_MUL_F32P"), ("mulpd", "SSE_MUL_F64P"),
    ("divps", "SSE_DIV_F32P"), ("divpd", "SSE_DIV_F64P"),
    ("sqrtss", "SSE_SQRTSS"), ("sqrtsd", "SSE_SQRTSD"), ("sqrtps", "SSE_SQRTPS"),
    ("sqrtpd", "SSE_SQRTPD"), ("rsqrtss", "SSE_RSQRTSS"), ("rsqrtps", "SSE_RSQRTPS"),
    ("rcpss", "SSE_RCPS"), ("rcpps", "SSE_RCPP"),
    ("comiss ucomiss comisd ucomisd", "SSE_COMIS"),
    ("haddps hsubps haddpd hsubpd addsubps addsubpd", "SSE_HADDSUB"),
    ("andps andnps orps xorps andpd andnpd orpd xorpd pand pandn por pxor", "SSE_BIT_P"),
    ("paddb paddw paddd psubb psubw psubd paddsb paddsw paddusb paddusw psubsb psubsw "
     "psubusb psubusw pcmpeqb pcmpeqw pcmpeqd pcmpgtb pcmpgtw pcmpgtd pavgb pavgw pminub "
     "pmaxub pminsw pmaxsw", "SSE_INTALU_P"),
    ("paddq psubq", "SSE_INTALUQ_P"),
    ("pmullw pmulhw pmulhuw pmuludq", "SSE_INTMUL_P"), ("pmaddwd", "SSE_PMADD"),
    ("psllw pslld psllq psrlw psrld psrlq psraw psrad", "SSE_INTSH_P"),
    ("pslldq psrldq", "SSE_INTSHDQ_P_RI"),
    ("shufps shufpd", "SSE_SHUFP"), ("pshufd pshuflw pshufhw pshufw", "SSE_PSHUF"),
    ("packsswb packssdw packuswb", "SSE_PACK"),
    ("unpcklps unpckhps unpcklpd unpckhpd punpcklbw punpcklwd punpckldq punpcklqdq "
     "punpckhbw punpckhwd punpckhdq punpckhqdq", "SSE_UNPCK"),
    ("movss movsd", "SSE_MOV_S"), ("movaps movapd movdqa", "SSE_MOVA_P"),
    ("movups movupd movdqu", "SSE_MOVU_P"),
    ("movlps movhps movlpd movhpd movlhps movhlps movddup movsldup movshdup", "SSE_MOV_LH"),
    ("lddqu", "SSE_LDDQU"),
    ("movntps movntpd movntdq movnti movntq", "SSE_MOVNT"),
    ("movmskps movmskpd pmovmskb", "SSE_MOVMSK"), ("maskmovdqu maskmovq", "SSE_MASKMOV"),
    ("pextrw", "SSE_PEXTRW"), ("pinsrw", "SSE_PINSRW"),
    ("prefetchnta prefetcht0 prefetcht1 prefetcht2 prefetchw prefetch", "SSE_PREFETCH"),
    ("lfence", "SSE_LFENCE"), ("mfence", "SSE_MFENCE"), ("sfence", "SSE_SFENCE"),
    ("ldmxcsr", "SSE_LDMXCSR"), ("stmxcsr", "SSE_STMXCSR"),
    ("cvtps2pd cvtpd2ps cvtdq2pd cvtpd2dq cvttpd2dq cvtpd2pi cvttpd2pi cvtpi2pd", "SSE_CVT_PD"),
    ("cvtdq2ps cvtps2dq cvttps2dq", "SSE_CVT_PS"),
    ("cvtss2sd cvtsd2ss cvtsi2ss cvtsi2sd", "SSE_CVT_Scalar"),
    ("cvtss2si cvttss2si", "SSE_CVT_SS2SI32"), ("cvtsd2si cvttsd2si", "SSE_CVT_SD2SI"),
    ("cvtpi2ps cvtps2pi cvttps2pi", "MMX_CVT_PS"), ("psadbw", "MMX_PSADBW"), ("emms", "MMX_EMMS"),
    ("pshufb", "SSE_PSHUFB"), ("palignr", "SSE_PALIGN"), ("pabsb pabsw pabsd", "SSE_PABS"),
):
    for _n in _names.split():
        _SSE[_n] = _stem
del _names, _stem, _n

_SREGS = {"es", "cs", "ss", "ds", "fs", "gs"}
_IO_CLASSES = {"IN", "IN_VAR", "OUT", "OUT_VAR", "INS", "OUTS", "REP_INS", "REP_OUTS"}
_SIMD_GROUP_NAMES = (
    "X86_GRP_SSE1", "X86_GRP_SSE2", "X86_GRP_SSE3", "X86_GRP_SSSE3", "X86_GRP_SSE41",
    "X86_GRP_SSE42", "X86_GRP_SSE4A", "X86_GRP_MMX", "X86_GRP_3DNOW", "X86_GRP_AVX",
    "X86_GRP_AVX2", "X86_GRP_AES", "X86_GRP_PCLMUL", "X86_GRP_F16C", "X86_GRP_FMA",
    "X86_GRP_SHA")
_simd_groups: frozenset[int] | None = None


def simd_groups() -> frozenset[int]:
    """capstone's ids of the SIMD instruction groups this capstone has (the names above);
    computed at the first SIMD question, so that importing the tables loads no capstone."""
    global _simd_groups
    if _simd_groups is None:
        _simd_groups = frozenset(getattr(X, g) for g in _SIMD_GROUP_NAMES if hasattr(X, g))
    return _simd_groups
#: First opcode bytes of the short accumulator forms "op al/ax/eax, imm".
_ACC_FORMS = {0x04, 0x05, 0x0C, 0x0D, 0x14, 0x15, 0x1C, 0x1D, 0x24, 0x25, 0x2C, 0x2D,
              0x34, 0x35, 0x3C, 0x3D, 0xA8, 0xA9}

