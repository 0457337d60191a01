"""The unikernel's x86-32 encoder (unikernel/kernel_lib/jit/x86.c) against capstone.

x86.c is freestanding C with no dependency on the kernel, so the host compiler builds it with
a small driver that emits one instruction of every form the code generator uses; capstone
decodes the bytes in 32-bit mode and each instruction must read back as intended (addressing
modes with and without SIB, disp8/disp32, absolute operands, ESP/EBP bases, SSE prefixes,
x87 stack forms, branch targets)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import capstone
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "unikernel" / "kernel_lib"

DRIVER = r"""
#include <stdio.h>
#include "jit_codegen.h"
int main(void) {
    static unsigned char buf[4096];
    struct jit_asm a;
    x86_init(&a, buf, sizeof buf);
    x86_push(&a, EBP);
    x86_mov_rm(&a, EDI, x86_m(ESP, 20));
    x86_mov_rm(&a, EAX, x86_m(EBP, 0));
    x86_mov_mr(&a, x86_m(ESI, 0x1234), ECX);
    x86_mov_rm(&a, EDX, x86_abs((void *)0x124f70));
    x86_mov_ri(&a, ECX, 43);
    x86_alu_ri(&a, ALU_XOR, EAX, (int)0x80000000u);
    x86_alu_ri(&a, ALU_ADD, ESI, 4);
    x86_alu_ri(&a, ALU_CMP, EDX, 0x42C80000);
    x86_alu_rr(&a, ALU_SUB, EBX, ECX);
    x86_shl_ri(&a, EAX, 20);
    x86_lea(&a, EAX, (struct x86_mem){EBX, ECX, 4, 8});
    x86_call_r(&a, EAX);
    x86_sse_rm(&a, 0, SSE_MOVU_LD, 5, x86_m(ESI, 0x2b0));
    x86_sse_rm(&a, 0, SSE_MUL, 5, x86_m(ESI, 16));
    x86_sse_rr(&a, 0, SSE_ADD, 3, 5);
    x86_sse_rr(&a, 0, SSE_XOR, 2, 2);
    x86_sse_rr(&a, 0, SSE_UNPCKL, 4, 1);
    x86_sse_rr(&a, 0, SSE_UNPCKH, 0, 1);
    x86_sse_rr(&a, 0, SSE_MOVLH, 4, 2);
    x86_sse_rr(&a, 0, SSE_MOVHL, 2, 0);
    x86_sse_rm(&a, 0, SSE_MOVU_ST, 4, x86_m(EDI, 0));
    x86_sse_rm(&a, 0xF3, SSE_MOVU_LD, 7, x86_m(ESP, 32));
    x86_sse_rr(&a, 0xF3, SSE_SUB, 0, 7);
    x86_sse_rr(&a, 0, SSE_DIV, 1, 0);
    x86_sse_rm(&a, 0, SSE_MOVA_LD, 0, x86_abs((void *)0x124f90));
    x86_shufps(&a, 1, 1, 0x55);
    x87_fld_m32(&a, x86_abs((void *)0x124f80));
    x87_fld_st(&a, 0);
    x87_fmul_m64(&a, x86_m(EBX, 8));
    x87_fistp_m32(&a, x86_m(ESP, 0));
    x87_fild_m32(&a, x86_m(ESP, 0));
    x87_fsubp_sti_st0(&a, 2);
    x87_fmul_st0_sti(&a, 1);
    x87_fadd_m64(&a, x86_abs((void *)0x124fa0));
    x87_fstp_st(&a, 1);
    x87_fstp_m32(&a, x86_m(EDI, 0));
    x87_fnstcw(&a, x86_abs((void *)0x124fb0));
    x87_fldcw(&a, x86_abs((void *)0x124fb2));
    size_t top = x86_size(&a);
    x86_alu_ri(&a, ALU_SUB, ECX, 1);
    x86_jcc_to(&a, CC_NE, top);
    size_t fwd = x86_jcc(&a, CC_AE);
    x86_pop(&a, EBP);
    x86_bind(&a, fwd, x86_size(&a));
    x86_ret(&a);
    fwrite(buf, 1, x86_size(&a), stdout);
    return a.overflow;
}
"""

EXPECTED = [
    "push ebp",
    "mov edi, dword ptr [esp + 0x14]",
    "mov eax, dword ptr [ebp]",
    "mov dword ptr [esi + 0x1234], ecx",
    "mov edx, dword ptr [0x124f70]",
    "mov ecx, 0x2b",
    "xor eax, 0x80000000",
    "add esi, 4",
    "cmp edx, 0x42c80000",
    "sub ebx, ecx",
    "shl eax, 0x14",
    "lea eax, [ebx + ecx*4 + 8]",
    "call eax",
    "movups xmm5, xmmword ptr [esi + 0x2b0]",
    "mulps xmm5, xmmword ptr [esi + 0x10]",
    "addps xmm3, xmm5",
    "xorps xmm2, xmm2",
    "unpcklps xmm4, xmm1",
    "unpckhps xmm0, xmm1",
    "movlhps xmm4, xmm2",
    "movhlps xmm2, xmm0",
    "movups xmmword ptr [edi], xmm4",
    "movss xmm7, dword ptr [esp + 0x20]",
    "subss xmm0, xmm7",
    "divps xmm1, xmm0",
    "movaps xmm0, xmmword ptr [0x124f90]",
    "shufps xmm1, xmm1, 0x55",
    "fld dword ptr [0x124f80]",
    "fld st(0)",
    "fmul qword ptr [ebx + 8]",
    "fistp dword ptr [esp]",
    "fild dword ptr [esp]",
    "fsubp st(2)",          # capstone's name for DE EA: st(2) = st(2) - st(0), pop (Intel SDM)
    "fmul st(1)",
    "fadd qword ptr [0x124fa0]",
    "fstp st(1)",
    "fstp dword ptr [edi]",
    "fnstcw word ptr [0x124fb0]",
    "fldcw word ptr [0x124fb2]",
    "sub ecx, 1",
]


@pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler")
def test_encoder_output_decodes_as_intended(tmp_path):
    src = tmp_path / "drv.c"
    src.write_text(DRIVER)
    exe = tmp_path / "drv"
    subprocess.run(["cc", "-O1", "-std=gnu11", "-I", str(LIB), str(src), str(LIB / "jit" / "x86.c"),
                    "-o", str(exe)], check=True)
    code = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    insns = list(md.disasm(code, 0x1000))
    assert sum(i.size for i in insns) == len(code)          # every byte decodes
    text = [f"{i.mnemonic} {i.op_str}".strip() for i in insns]
    assert text[:len(EXPECTED)] == EXPECTED
    loop_top = insns[len(EXPECTED) - 1].address
    jne, jae, pop, ret = insns[len(EXPECTED):]
    assert jne.mnemonic == "jne" and int(jne.op_str, 16) == loop_top
    assert jae.mnemonic == "jae" and int(jae.op_str, 16) == ret.address
    assert pop.mnemonic == "pop" and ret.mnemonic == "ret"
