/* x86.c - a small x86-32 encoder for the run-time code generator (see jit_codegen.h).
 *
 * Only what the generated kernels use, each instruction written from the Intel SDM's opcode
 * tables: ModRM/SIB with any base, index, scale and 8/32-bit displacement (absolute when
 * there is no base), the integer moves and ALU forms, near branches with rel32, SSE/SSE2
 * register and memory forms, and the x87 loads, stores and arithmetic of the exp kernel.
 * Running out of buffer sets `overflow` instead of writing past the end.
 */
#include "../jit_codegen.h"

void x86_init(struct jit_asm *a, void *buf, size_t cap)
{
    a->start = a->p = (uint8_t *)buf;
    a->end = a->start + cap;
    a->overflow = 0;
}

size_t x86_size(const struct jit_asm *a)
{
    return (size_t)(a->p - a->start);
}

void x86_u8(struct jit_asm *a, uint8_t b)
{
    if (a->p < a->end)
        *a->p++ = b;
    else
        a->overflow = 1;
}

void x86_u32(struct jit_asm *a, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        x86_u8(a, (uint8_t)(v >> (8 * i)));
}

static void modrm_reg(struct jit_asm *a, int reg, int rm)
{
    x86_u8(a, (uint8_t)(0xC0 | (reg & 7) << 3 | (rm & 7)));
}

static int scale_bits(int scale)
{
    return scale == 8 ? 3 : scale == 4 ? 2 : scale == 2 ? 1 : 0;
}

/* ModRM (+SIB, +disp) for a memory operand with `reg` in the reg field. */
static void modrm_mem(struct jit_asm *a, int reg, struct x86_mem m)
{
    reg &= 7;
    if (m.base == X86_NOREG && m.index == X86_NOREG) {          /* [disp32] */
        x86_u8(a, (uint8_t)(reg << 3 | 5));
        x86_u32(a, (uint32_t)m.disp);
        return;
    }
    if (m.base == X86_NOREG) {                                   /* [index*s + disp32] */
        x86_u8(a, (uint8_t)(reg << 3 | 4));
        x86_u8(a, (uint8_t)(scale_bits(m.scale) << 6 | (m.index & 7) << 3 | 5));
        x86_u32(a, (uint32_t)m.disp);
        return;
    }
    int mod = (m.disp == 0 && m.base != EBP) ? 0 : (m.disp >= -128 && m.disp <= 127) ? 1 : 2;
    if (m.index != X86_NOREG || m.base == ESP) {
        int idx = m.index == X86_NOREG ? 4 : m.index;
        x86_u8(a, (uint8_t)(mod << 6 | reg << 3 | 4));
        x86_u8(a, (uint8_t)(scale_bits(m.scale) << 6 | (idx & 7) << 3 | (m.base & 7)));
    } else {
        x86_u8(a, (uint8_t)(mod << 6 | reg << 3 | (m.base & 7)));
    }
    if (mod == 1)
        x86_u8(a, (uint8_t)(int8_t)m.disp);
    else if (mod == 2)
        x86_u32(a, (uint32_t)m.disp);
}

void x86_push(struct jit_asm *a, int r) { x86_u8(a, (uint8_t)(0x50 + r)); }
void x86_pop(struct jit_asm *a, int r) { x86_u8(a, (uint8_t)(0x58 + r)); }
void x86_ret(struct jit_asm *a) { x86_u8(a, 0xC3); }

void x86_mov_rr(struct jit_asm *a, int dst, int src)
{
    x86_u8(a, 0x89);
    modrm_reg(a, src, dst);
}

void x86_mov_rm(struct jit_asm *a, int dst, struct x86_mem m)
{
    x86_u8(a, 0x8B);
    modrm_mem(a, dst, m);
}

void x86_mov_mr(struct jit_asm *a, struct x86_mem m, int src)
{
    x86_u8(a, 0x89);
    modrm_mem(a, src, m);
}

void x86_mov_ri(struct jit_asm *a, int r, uint32_t imm)
{
    x86_u8(a, (uint8_t)(0xB8 + r));
    x86_u32(a, imm);
}

void x86_mov_mi(struct jit_asm *a, struct x86_mem m, uint32_t imm)
{
    x86_u8(a, 0xC7);
    modrm_mem(a, 0, m);
    x86_u32(a, imm);
}

void x86_alu_rr(struct jit_asm *a, int op, int dst, int src)
{
    x86_u8(a, (uint8_t)(op << 3 | 1));                           /* op r/m32, r32 */
    modrm_reg(a, src, dst);
}

void x86_alu_ri(struct jit_asm *a, int op, int r, int32_t imm)
{
    if (imm >= -128 && imm <= 127) {
        x86_u8(a, 0x83);
        modrm_reg(a, op, r);
        x86_u8(a, (uint8_t)(int8_t)imm);
    } else {
        x86_u8(a, 0x81);
        modrm_reg(a, op, r);
        x86_u32(a, (uint32_t)imm);
    }
}

void x86_shl_ri(struct jit_asm *a, int r, int n)
{
    x86_u8(a, 0xC1);
    modrm_reg(a, 4, r);
    x86_u8(a, (uint8_t)n);
}

void x86_lea(struct jit_asm *a, int r, struct x86_mem m)
{
    x86_u8(a, 0x8D);
    modrm_mem(a, r, m);
}

void x86_call_r(struct jit_asm *a, int r)
{
    x86_u8(a, 0xFF);
    modrm_reg(a, 2, r);
}

size_t x86_jcc(struct jit_asm *a, int cc)
{
    x86_u8(a, 0x0F);
    x86_u8(a, (uint8_t)(0x80 | cc));
    size_t at = x86_size(a);
    x86_u32(a, 0);
    return at;
}

size_t x86_jmp(struct jit_asm *a)
{
    x86_u8(a, 0xE9);
    size_t at = x86_size(a);
    x86_u32(a, 0);
    return at;
}

void x86_bind(struct jit_asm *a, size_t at, size_t target)
{
    if (at + 4 > (size_t)(a->end - a->start))
        return;                                                  /* overflowed already */
    uint32_t rel = (uint32_t)(target - (at + 4));
    for (int i = 0; i < 4; i++)
        a->start[at + i] = (uint8_t)(rel >> (8 * i));
}

void x86_jcc_to(struct jit_asm *a, int cc, size_t target)
{
    size_t at = x86_jcc(a, cc);
    x86_bind(a, at, target);
}

static void sse_prefix(struct jit_asm *a, int prefix, int op)
{
    if (prefix)
        x86_u8(a, (uint8_t)prefix);
    x86_u8(a, 0x0F);
    x86_u8(a, (uint8_t)op);
}

void x86_sse_rr(struct jit_asm *a, int prefix, int op, int xdst, int xsrc)
{
    sse_prefix(a, prefix, op);
    modrm_reg(a, xdst, xsrc);
}

void x86_sse_rm(struct jit_asm *a, int prefix, int op, int xreg, struct x86_mem m)
{
    sse_prefix(a, prefix, op);
    modrm_mem(a, xreg, m);
}

void x86_shufps(struct jit_asm *a, int xdst, int xsrc, uint8_t imm)
{
    sse_prefix(a, 0, 0xC6);
    modrm_reg(a, xdst, xsrc);
    x86_u8(a, imm);
}

void x86_sse_rri(struct jit_asm *a, int prefix, int op, int xdst, int xsrc, uint8_t imm)
{
    sse_prefix(a, prefix, op);
    modrm_reg(a, xdst, xsrc);
    x86_u8(a, imm);
}

static void x87_mem(struct jit_asm *a, uint8_t op, int ext, struct x86_mem m)
{
    x86_u8(a, op);
    modrm_mem(a, ext, m);
}

void x87_fld_m32(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xD9, 0, m); }
void x87_fld_m64(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xDD, 0, m); }
void x87_fstp_m32(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xD9, 3, m); }
void x87_fmul_m64(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xDC, 1, m); }
void x87_fadd_m64(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xDC, 0, m); }
void x87_fistp_m32(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xDB, 3, m); }
void x87_fild_m32(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xDB, 0, m); }
void x87_fnstcw(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xD9, 7, m); }
void x87_fldcw(struct jit_asm *a, struct x86_mem m) { x87_mem(a, 0xD9, 5, m); }

void x87_fld_st(struct jit_asm *a, int i)
{
    x86_u8(a, 0xD9);
    x86_u8(a, (uint8_t)(0xC0 + i));
}

void x87_fstp_st(struct jit_asm *a, int i)
{
    x86_u8(a, 0xDD);
    x86_u8(a, (uint8_t)(0xD8 + i));
}

void x87_fmul_st0_sti(struct jit_asm *a, int i)
{
    x86_u8(a, 0xD8);
    x86_u8(a, (uint8_t)(0xC8 + i));
}

void x87_fsubp_sti_st0(struct jit_asm *a, int i)
{
    x86_u8(a, 0xDE);                                             /* SDM: DE E8+i FSUBP ST(i), ST(0) */
    x86_u8(a, (uint8_t)(0xE8 + i));
}
