/* jit_codegen.h - run-time code generation: an x86-32 encoder, an executable code heap, and
 * GDB's JIT compilation interface so debuggers and the BareFlow emulator can name the code.
 *
 * The encoder writes the instructions the generated kernels need (integer ALU, x87, SSE/SSE2
 * scalar and packed, any [base + index*scale + disp32] or absolute operand) into a buffer.
 * The code heap hands out page-aligned chunks: a chunk is written (write phase), then
 * jit_code_commit() publishes it and from then on it is only executed (execute phase) - ring
 * 0 without paging cannot enforce W^X, so the two phases are kept apart by construction, and
 * every function gets its own 4 KiB pages so that writing one never invalidates the
 * translations of another in an emulator.
 *
 * jit_code_commit() registers the function with GDB's JIT interface (__jit_debug_descriptor,
 * __jit_debug_register_code): an in-memory ELF32 with a .text section at the function's
 * address and one FUNC symbol.  gdb attached to the machine reads it like a JIT'd function
 * of any VM; the BareFlow emulator hooks __jit_debug_register_code and shows "jit:NAME".
 */
#ifndef BAREFLOW_JIT_CODEGEN_H
#define BAREFLOW_JIT_CODEGEN_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- encoder */
enum { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI };
#define X86_NOREG (-1)
enum { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_L = 0xC, CC_GE = 0xD, CC_LE = 0xE, CC_G = 0xF };

struct jit_asm {
    uint8_t *start, *p, *end;
    int overflow;                /* set when an instruction did not fit: discard the code */
};

/* A memory operand: [base + index*scale + disp]; base X86_NOREG = absolute disp32. */
struct x86_mem {
    int base, index, scale;
    int32_t disp;
};
static inline struct x86_mem x86_m(int base, int32_t disp)
{
    struct x86_mem m = {base, X86_NOREG, 1, disp};
    return m;
}
static inline struct x86_mem x86_abs(const void *addr)
{
    struct x86_mem m = {X86_NOREG, X86_NOREG, 1, (int32_t)(uintptr_t)addr};
    return m;
}

void x86_init(struct jit_asm *a, void *buf, size_t cap);
size_t x86_size(const struct jit_asm *a);
void x86_u8(struct jit_asm *a, uint8_t b);
void x86_u32(struct jit_asm *a, uint32_t v);
/* integer */
void x86_push(struct jit_asm *a, int r);
void x86_pop(struct jit_asm *a, int r);
void x86_ret(struct jit_asm *a);
void x86_mov_rr(struct jit_asm *a, int dst, int src);
void x86_mov_rm(struct jit_asm *a, int dst, struct x86_mem m);      /* load */
void x86_mov_mr(struct jit_asm *a, struct x86_mem m, int src);      /* store */
void x86_mov_ri(struct jit_asm *a, int r, uint32_t imm);
void x86_mov_mi(struct jit_asm *a, struct x86_mem m, uint32_t imm);
void x86_alu_rr(struct jit_asm *a, int op, int dst, int src);
void x86_alu_ri(struct jit_asm *a, int op, int r, int32_t imm);
void x86_shl_ri(struct jit_asm *a, int r, int n);
void x86_lea(struct jit_asm *a, int r, struct x86_mem m);
void x86_call_r(struct jit_asm *a, int r);
/* branches: return the position of the rel32 to patch with x86_bind */
size_t x86_jcc(struct jit_asm *a, int cc);
size_t x86_jmp(struct jit_asm *a);
void x86_bind(struct jit_asm *a, size_t at, size_t target);   /* target = x86_size() there */
void x86_jcc_to(struct jit_asm *a, int cc, size_t target);    /* backward branch */
/* SSE / SSE2: prefix 0 (ps), 0xF3 (ss), 0x66 (pd/int), 0xF2 (sd); op = byte after 0x0F */
enum {
    SSE_MOVU_LD = 0x10, SSE_MOVU_ST = 0x11, SSE_MOVHL = 0x12, SSE_UNPCKL = 0x14,
    SSE_UNPCKH = 0x15, SSE_MOVLH = 0x16, SSE_MOVA_LD = 0x28, SSE_MOVA_ST = 0x29,
    SSE_XOR = 0x57, SSE_ADD = 0x58, SSE_MUL = 0x59, SSE_SUB = 0x5C, SSE_MIN = 0x5D,
    SSE_DIV = 0x5E, SSE_MAX = 0x5F, SSE_MOVMSK = 0x50, SSE_AND = 0x54, SSE_CVT_F = 0x5A,
    SSE_CMP = 0xC2, SSE_CVT_DQ = 0xE6, SSE_PADDD = 0xFE, SSE_PXOR = 0xEF, SSE_PUNPCKLDQ = 0x62,
    SSE_PSHIFTQ = 0x73,
};
void x86_sse_rr(struct jit_asm *a, int prefix, int op, int xdst, int xsrc);
void x86_sse_rm(struct jit_asm *a, int prefix, int op, int xreg, struct x86_mem m);
void x86_shufps(struct jit_asm *a, int xdst, int xsrc, uint8_t imm);
/* two-register form with an immediate (cmpps, pshufd; psllq with xdst = the /digit) */
void x86_sse_rri(struct jit_asm *a, int prefix, int op, int xdst, int xsrc, uint8_t imm);
/* x87 */
void x87_fld_m32(struct jit_asm *a, struct x86_mem m);
void x87_fld_m64(struct jit_asm *a, struct x86_mem m);
void x87_fstp_m32(struct jit_asm *a, struct x86_mem m);
void x87_fld_st(struct jit_asm *a, int i);
void x87_fstp_st(struct jit_asm *a, int i);
void x87_fmul_m64(struct jit_asm *a, struct x86_mem m);
void x87_fadd_m64(struct jit_asm *a, struct x86_mem m);
void x87_fmul_st0_sti(struct jit_asm *a, int i);   /* st0 = st0 * st(i) */
void x87_fsubp_sti_st0(struct jit_asm *a, int i);  /* st(i) = st(i) - st0, pop */
void x87_fistp_m32(struct jit_asm *a, struct x86_mem m);
void x87_fild_m32(struct jit_asm *a, struct x86_mem m);
void x87_fnstcw(struct jit_asm *a, struct x86_mem m);
void x87_fldcw(struct jit_asm *a, struct x86_mem m);

/* ---------------------------------------------------------------- code heap */
/* Hand the code heap its memory (the app reserves it, so that the heap figures the kernel
 * prints do not depend on whether code was generated): code pages are taken from the bottom,
 * jit_code_data() blocks (the symbol files) from the top.  0 ok, -1 too small. */
int jit_code_init(void *mem, size_t bytes);
/* A 16-byte-aligned block of the heap's data part (never executed), or NULL. */
void *jit_code_data(size_t bytes);
/* Write phase: a page-aligned chunk of `cap` bytes (NULL when the heap is full). */
void *jit_code_begin(size_t cap);
/* End of the write phase: keep `used` bytes of the chunk from jit_code_begin, name the
 * function and publish it to GDB's JIT interface.  Returns the entry point. */
void *jit_code_commit(void *chunk, size_t used, const char *name);
/* Give back a chunk that failed (overflow, rejected by its first-call check): unpublished. */
void jit_code_abandon(void *chunk);
struct jit_code_stats {
    size_t heap_bytes, used_bytes, functions, code_bytes;
};
void jit_code_get_stats(struct jit_code_stats *st);

/* ---------------------------------------------------------------- GDB JIT interface */
struct jit_code_entry {
    struct jit_code_entry *next_entry, *prev_entry;
    const char *symfile_addr;
    uint64_t symfile_size;
};
struct jit_descriptor {
    uint32_t version;            /* 1 */
    uint32_t action_flag;        /* 0 none, 1 register, 2 unregister */
    struct jit_code_entry *relevant_entry, *first_entry;
};
extern struct jit_descriptor __jit_debug_descriptor;
void __jit_debug_register_code(void);
/* Build the symbol file for (name, addr, size) and announce it; 0 ok, -1 no memory. */
int jit_gdb_publish(const char *name, const void *addr, uint32_t size);

/* ---------------------------------------------------------------- decision log */
/* "[jit] " lines the optimiser wants to print: kept until the app's quiet moment, because
 * the app streams text and a line in the middle of it would change the transcript. */
void jit_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void jit_log_flush(void);

#endif
