/* llama_jit.c - machine code generated at run time for the model actually loaded.
 *
 * The JIT runtime (kernel_lib/jit) ranks the profiled kernels by self cycles and asks the
 * generators registered here for code, most expensive first.  Each generator writes x86-32
 * with kernel_lib's encoder into the code heap (jit_codegen.h), specialised to what the
 * running program knows and a compiler could not:
 *
 *   matmul_NxD   one kernel per (n, d) pair the model uses (q/k/v/o, the classifier, w1/w3,
 *                w2): trip counts and strides are constants, the inner loop is fully unrolled,
 *                four rows in flight with packed SSE, and the weights are repacked once into
 *                16-byte-aligned copies so every multiply takes its operand from memory
 *                (mulps xmm, [esi+disp]).  The horizontal sums of the four rows are done
 *                together by a transpose (unpcklps/unpckhps/movlhps/movhlps).
 *   expf_array   bf_expf over an array, in x87 with the precision control set to 53 bits:
 *                the same IEEE double operations in the same order as llama_math.c's
 *                bf_exp (reduction, 13 Horner steps, scaling), so the results are the same
 *                bits, at the x87's price; arguments outside (-100, 100) and NaN call bf_expf.
 *   silu_H       the FFN's SwiGLU for hidden size H: the exp loop, then 1/(1+e), v*s*g packed.
 *
 * The bits must not change (the tiers' choice depends on timing, which differs between QEMU
 * and the emulator), so the sums keep llama_kernels.h's canonical order: lane j of an SSE
 * accumulator sums i = j, j+4, ..., then (l0 + l2) + (l1 + l3).  Every kernel is checked on
 * its first call against tier 0 (memcmp of the outputs); a kernel that differs is dropped
 * (its shape falls back to the compiled SSE tier) and the decision is a "[jit]" line.
 * Shapes the generator does not handle (n or d not a multiple of 4, x not 16-byte aligned)
 * use the compiled SSE tier, which gives the same bits.
 */
#include "jit_codegen.h"
#include "jit_runtime.h"
#include "llama_kernels.h"
#include "llama_math.h"
#include "llama_model.h"
#include "runtime.h"

typedef void (*mm_kernel)(float *xout, const float *x, const float *w);
typedef void (*silu_kernel)(float *hb, const float *hb2, const float *he);

/* Data the generated code reads and writes by absolute address: never on a code page. */
static struct {
    double reduce[3];            /* 1/ln2, ln2_hi, ln2_lo */
    double poly[14];
    uint32_t scale[2];           /* 2^k as a double: low word 0, high word (k+1023) << 20 */
    float tmpf, sub;
    int32_t tmpk;
    uint16_t cw_saved, cw_53;    /* the caller's x87 control word; PC = 53 bits, RC nearest */
    float ones[4] __attribute__((aligned(16)));
    /* the packed-double variant: every constant twice, 16-byte aligned */
    double reduce2[3][2] __attribute__((aligned(16)));
    double poly2[14][2];
    int32_t bias[4];             /* 1023 */
    uint32_t abs_mask[4], sign[4];
    float hundred[4];
} xd __attribute__((aligned(16)));

static struct llama_model *model;

/* Everything the generator keeps lives in one arena llama_alloc_state reserves in every mode
 * (so the heap figures the kernel prints are the same whatever the JIT decides): the code
 * heap (code pages and symbol files), the first-call check buffer, the repacked weights. */
#define CODE_HEAP_BYTES (256u * 1024 + 4096 + 32u * 1024)
static uint8_t *arena_top, *arena_end;

static size_t check_floats(const struct llama_config *c)
{
    size_t n = (size_t)c->vocab_size;
    if ((size_t)2 * c->hidden_dim > n)
        n = (size_t)2 * c->hidden_dim;
    if ((size_t)c->dim > n)
        n = (size_t)c->dim;
    return n;
}

size_t llama_jit_arena_bytes(const struct llama_config *c)
{
    size_t d = (size_t)c->dim, h = (size_t)c->hidden_dim, kv = (size_t)c->kv_dim;
    size_t l = (size_t)c->n_layers, v = (size_t)c->vocab_size;
    size_t floats = l * (2 * d * d + 2 * d * kv + 3 * d * h) + d * v + check_floats(c);
    return CODE_HEAP_BYTES + 4 * floats + 16 * (5 * l + 4);
}

static void *arena_alloc(size_t bytes)
{
    uint8_t *p = (uint8_t *)(((uintptr_t)arena_top + 15) & ~(uintptr_t)15);
    if (!arena_top || p > arena_end || (size_t)(arena_end - p) < bytes)
        return NULL;
    arena_top = p + bytes;
    return p;
}

/* ------------------------------------------------------------------ emitters */
static struct x86_mem A(const void *p) { return x86_abs(p); }

/* One pass of bf_expf: ecx = n > 0, esi = in, edi = out.  neg: -in[i], else in[i] - xmm7.
 * Clobbers eax, edx, xmm0; the x87 must be in 53-bit precision. */
static void emit_exp_loop(struct jit_asm *a, int neg)
{
    size_t top = x86_size(a);
    if (neg) {
        x86_mov_rm(a, EAX, x86_m(ESI, 0));
        x86_alu_ri(a, ALU_XOR, EAX, (int32_t)0x80000000u);          /* exact negation */
        x86_mov_mr(a, A(&xd.tmpf), EAX);
    } else {
        x86_sse_rm(a, 0xF3, SSE_MOVU_LD, 0, x86_m(ESI, 0));         /* movss xmm0, [esi] */
        x86_sse_rr(a, 0xF3, SSE_SUB, 0, 7);                         /* subss xmm0, xmm7 */
        x86_sse_rm(a, 0xF3, SSE_MOVU_ST, 0, A(&xd.tmpf));
        x86_mov_rm(a, EAX, A(&xd.tmpf));
    }
    /* |x| < 100 and not NaN: the inline path; otherwise bf_expf itself */
    x86_mov_rr(a, EDX, EAX);
    x86_alu_ri(a, ALU_AND, EDX, 0x7fffffff);
    x86_alu_ri(a, ALU_CMP, EDX, 0x42C80000);                       /* 100.0f */
    size_t to_slow = x86_jcc(a, CC_AE);
    x87_fld_m32(a, A(&xd.tmpf));                                   /* x */
    x87_fld_st(a, 0);                                              /* x x */
    x87_fmul_m64(a, A(&xd.reduce[0]));                             /* x/ln2 x */
    x87_fistp_m32(a, A(&xd.tmpk));                                 /* x   (k, nearest even) */
    x87_fild_m32(a, A(&xd.tmpk));                                  /* kd x */
    x87_fld_st(a, 0);                                              /* kd kd x */
    x87_fmul_m64(a, A(&xd.reduce[1]));                             /* kd*hi kd x */
    x87_fsubp_sti_st0(a, 2);                                       /* kd (x - kd*hi) */
    x87_fmul_m64(a, A(&xd.reduce[2]));                             /* kd*lo y */
    x87_fsubp_sti_st0(a, 1);                                       /* r = y - kd*lo */
    x87_fld_m64(a, A(&xd.poly[0]));                                /* p r */
    for (int j = 1; j < 14; j++) {
        x87_fmul_st0_sti(a, 1);                                    /* r*p r */
        x87_fadd_m64(a, A(&xd.poly[j]));                           /* c + r*p r */
    }
    x87_fstp_st(a, 1);                                             /* p */
    x86_mov_rm(a, EAX, A(&xd.tmpk));
    x86_alu_ri(a, ALU_ADD, EAX, 1023);
    x86_shl_ri(a, EAX, 20);
    x86_mov_mr(a, A(&xd.scale[1]), EAX);
    x87_fmul_m64(a, A(&xd.scale[0]));                              /* p * 2^k */
    x87_fstp_m32(a, x86_m(EDI, 0));                                /* one rounding to float */
    size_t next = x86_size(a);
    x86_alu_ri(a, ALU_ADD, ESI, 4);
    x86_alu_ri(a, ALU_ADD, EDI, 4);
    x86_alu_ri(a, ALU_SUB, ECX, 1);
    x86_jcc_to(a, CC_NE, top);
    size_t to_done = x86_jmp(a);
    /* slow path: out[i] = bf_expf(x); the callee may clobber eax/ecx/edx and every xmm */
    x86_bind(a, to_slow, x86_size(a));
    x86_alu_ri(a, ALU_SUB, ESP, 12);                               /* ESP 16-aligned at the call */
    x86_mov_mr(a, x86_m(ESP, 0), EAX);
    x86_mov_mr(a, x86_m(ESP, 4), ECX);
    x86_mov_ri(a, EAX, (uint32_t)(uintptr_t)bf_expf);
    x86_call_r(a, EAX);
    x86_mov_rm(a, ECX, x86_m(ESP, 4));
    x86_alu_ri(a, ALU_ADD, ESP, 12);
    x87_fstp_m32(a, x86_m(EDI, 0));                                /* float return is in st0 */
    x86_sse_rm(a, 0xF3, SSE_MOVU_LD, 7, A(&xd.sub));               /* restore xmm7 */
    size_t back = x86_jmp(a);
    x86_bind(a, back, next);
    x86_bind(a, to_done, x86_size(a));
}

/* The same bf_expf with SSE2 packed doubles, two elements per step: ecx = n, esi = in,
 * edi = out; xmm7 = sub in every lane (SUB mode), xmm6 = 100.0f in every lane.  cvtpd2dq
 * rounds to nearest even like bf_exp's 1.5*2^52 trick, the Horner steps are the same IEEE
 * double operations in the same order, 2^k is built in the exponent field.  A pair with an
 * argument outside (-100, 100) (or NaN), and an odd last element, go one element at a time
 * through bf_expf.  Clobbers eax, edx, xmm0-5. */
static void emit_exp_loop_pd(struct jit_asm *a, int neg)
{
    size_t top = x86_size(a);
    x86_alu_ri(a, ALU_CMP, ECX, 2);
    size_t to_one = x86_jcc(a, CC_L);
    x86_sse_rm(a, 0xF2, SSE_MOVU_LD, 0, x86_m(ESI, 0));            /* movsd: two floats */
    if (neg)
        x86_sse_rm(a, 0, SSE_XOR, 0, A(xd.sign));
    else
        x86_sse_rr(a, 0, SSE_SUB, 0, 7);                           /* subps: x - sub */
    x86_sse_rr(a, 0, SSE_MOVA_LD, 1, 0);
    x86_sse_rm(a, 0, SSE_AND, 1, A(xd.abs_mask));
    x86_sse_rri(a, 0, SSE_CMP, 1, 6, 1);                           /* |x| < 100 (NaN: false) */
    x86_sse_rr(a, 0, SSE_MOVMSK, EAX, 1);
    x86_alu_ri(a, ALU_AND, EAX, 3);
    x86_alu_ri(a, ALU_CMP, EAX, 3);
    size_t to_one2 = x86_jcc(a, CC_NE);
    x86_sse_rr(a, 0, SSE_CVT_F, 0, 0);                             /* cvtps2pd: x (exact) */
    x86_sse_rr(a, 0x66, SSE_MOVA_LD, 1, 0);
    x86_sse_rm(a, 0x66, SSE_MUL, 1, A(xd.reduce2[0]));             /* x / ln2 */
    x86_sse_rr(a, 0xF2, SSE_CVT_DQ, 2, 1);                         /* k (nearest even) */
    x86_sse_rr(a, 0xF3, SSE_CVT_DQ, 3, 2);                         /* kd */
    x86_sse_rr(a, 0x66, SSE_MOVA_LD, 4, 3);
    x86_sse_rm(a, 0x66, SSE_MUL, 4, A(xd.reduce2[1]));
    x86_sse_rr(a, 0x66, SSE_SUB, 0, 4);                            /* x - kd*hi */
    x86_sse_rm(a, 0x66, SSE_MUL, 3, A(xd.reduce2[2]));
    x86_sse_rr(a, 0x66, SSE_SUB, 0, 3);                            /* r = (x - kd*hi) - kd*lo */
    x86_sse_rm(a, 0x66, SSE_MOVA_LD, 1, A(xd.poly2[0]));
    for (int j = 1; j < 14; j++) {
        x86_sse_rr(a, 0x66, SSE_MUL, 1, 0);                        /* p*r */
        x86_sse_rm(a, 0x66, SSE_ADD, 1, A(xd.poly2[j]));           /* c + r*p */
    }
    x86_sse_rm(a, 0x66, SSE_PADDD, 2, A(xd.bias));
    x86_sse_rr(a, 0x66, SSE_PXOR, 5, 5);
    x86_sse_rr(a, 0x66, SSE_PUNPCKLDQ, 2, 5);                      /* k+1023 as two qwords */
    x86_sse_rri(a, 0x66, SSE_PSHIFTQ, 6 /* /6 = psllq */, 2, 52);  /* 2^k */
    x86_sse_rr(a, 0x66, SSE_MUL, 1, 2);
    x86_sse_rr(a, 0x66, SSE_CVT_F, 1, 1);                          /* cvtpd2ps: one rounding */
    x86_sse_rm(a, 0xF2, SSE_MOVU_ST, 1, x86_m(EDI, 0));
    x86_alu_ri(a, ALU_ADD, ESI, 8);
    x86_alu_ri(a, ALU_ADD, EDI, 8);
    x86_alu_ri(a, ALU_SUB, ECX, 2);
    size_t back = x86_jmp(a);
    x86_bind(a, back, top);
    /* one element through bf_expf (an odd tail, or a pair with a rare argument) */
    x86_bind(a, to_one, x86_size(a));
    x86_alu_ri(a, ALU_CMP, ECX, 0);
    size_t to_done = x86_jcc(a, CC_LE);
    x86_bind(a, to_one2, x86_size(a));
    if (neg) {
        x86_mov_rm(a, EAX, x86_m(ESI, 0));
        x86_alu_ri(a, ALU_XOR, EAX, (int32_t)0x80000000u);
    } else {
        x86_sse_rm(a, 0xF3, SSE_MOVU_LD, 0, x86_m(ESI, 0));
        x86_sse_rr(a, 0xF3, SSE_SUB, 0, 7);
        x86_sse_rm(a, 0xF3, SSE_MOVU_ST, 0, A(&xd.tmpf));
        x86_mov_rm(a, EAX, A(&xd.tmpf));
    }
    x86_alu_ri(a, ALU_SUB, ESP, 12);
    x86_mov_mr(a, x86_m(ESP, 0), EAX);
    x86_mov_mr(a, x86_m(ESP, 4), ECX);
    x86_mov_ri(a, EAX, (uint32_t)(uintptr_t)bf_expf);
    x86_call_r(a, EAX);
    x86_mov_rm(a, ECX, x86_m(ESP, 4));
    x86_alu_ri(a, ALU_ADD, ESP, 12);
    x87_fstp_m32(a, x86_m(EDI, 0));
    x86_sse_rm(a, 0xF3, SSE_MOVU_LD, 7, A(&xd.sub));               /* the callee may clobber */
    x86_shufps(a, 7, 7, 0);
    x86_sse_rm(a, 0, SSE_MOVA_LD, 6, A(xd.hundred));
    x86_alu_ri(a, ALU_ADD, ESI, 4);
    x86_alu_ri(a, ALU_ADD, EDI, 4);
    x86_alu_ri(a, ALU_SUB, ECX, 1);
    size_t again = x86_jmp(a);
    x86_bind(a, again, top);
    x86_bind(a, to_done, x86_size(a));
}

static void emit_prologue(struct jit_asm *a)
{
    x86_push(a, EBP);
    x86_push(a, EBX);
    x86_push(a, ESI);
    x86_push(a, EDI);
}

static void emit_epilogue(struct jit_asm *a)
{
    x86_pop(a, EDI);
    x86_pop(a, ESI);
    x86_pop(a, EBX);
    x86_pop(a, EBP);
    x86_ret(a);
}

#define ARG(i) x86_m(ESP, 20 + 4 * (i))                             /* after emit_prologue */

/* void expf_array(float *out, const float *in, int n, float sub, int neg); two instruction
 * selections of the same IEEE operations: SSE2 packed doubles (variant 0) and the x87 with
 * 53-bit precision (variant 1).  Which is faster depends on the machine (an emulator may
 * price the x87 low, QEMU's TCG runs it in software floatx80), so both are A/B-tested. */
static void *gen_expf_array(int x87)
{
    void *chunk = jit_code_begin(4096);
    if (!chunk)
        return NULL;
    struct jit_asm a;
    x86_init(&a, chunk, 4096);
    emit_prologue(&a);
    x86_mov_rm(&a, EDI, ARG(0));
    x86_mov_rm(&a, ESI, ARG(1));
    x86_mov_rm(&a, ECX, ARG(2));
    x86_sse_rm(&a, 0xF3, SSE_MOVU_LD, 7, ARG(3));
    x86_sse_rm(&a, 0xF3, SSE_MOVU_ST, 7, A(&xd.sub));
    x86_mov_rm(&a, EBX, ARG(4));
    x86_alu_ri(&a, ALU_CMP, ECX, 0);
    size_t empty = x86_jcc(&a, CC_LE);
    if (x87) {
        x87_fnstcw(&a, A(&xd.cw_saved));
        x87_fldcw(&a, A(&xd.cw_53));
    } else {
        x86_shufps(&a, 7, 7, 0);                                   /* sub in every lane */
        x86_sse_rm(&a, 0, SSE_MOVA_LD, 6, A(xd.hundred));
    }
    x86_alu_ri(&a, ALU_CMP, EBX, 0);
    size_t to_neg = x86_jcc(&a, CC_NE);
    if (x87)
        emit_exp_loop(&a, 0);
    else
        emit_exp_loop_pd(&a, 0);
    size_t to_end = x86_jmp(&a);
    x86_bind(&a, to_neg, x86_size(&a));
    if (x87)
        emit_exp_loop(&a, 1);
    else
        emit_exp_loop_pd(&a, 1);
    x86_bind(&a, to_end, x86_size(&a));
    if (x87)
        x87_fldcw(&a, A(&xd.cw_saved));
    x86_bind(&a, empty, x86_size(&a));
    emit_epilogue(&a);
    if (a.overflow) {
        jit_code_abandon(chunk);
        return NULL;
    }
    return jit_code_commit(chunk, x86_size(&a), x87 ? "expf_x87" : "expf_pd");
}

/* void swiglu_H(float *hb, const float *hb2, const float *he): hb = (hb * (1/(1+he))) * hb2,
 * unrolled for the model's hidden size (he = exp(-hb) comes from the expf slot). */
static void *gen_silu(int n)
{
    size_t cap = 256 + (size_t)n * 20;
    void *chunk = jit_code_begin(cap);
    if (!chunk)
        return NULL;
    struct jit_asm a;
    x86_init(&a, chunk, cap);
    emit_prologue(&a);
    x86_mov_rm(&a, ESI, ARG(0));                                   /* hb */
    x86_mov_rm(&a, EBX, ARG(1));                                   /* hb2 */
    x86_mov_rm(&a, EDI, ARG(2));                                   /* he */
    int n4 = n & ~3;
    for (int i = 0; i < n; i += (i < n4 ? 4 : 1)) {
        int packed = i < n4;
        int pfx = packed ? 0 : 0xF3;
        int32_t off = 4 * i;
        x86_sse_rm(&a, pfx, packed ? SSE_MOVA_LD : SSE_MOVU_LD, 0, A(xd.ones));
        x86_sse_rm(&a, pfx, SSE_MOVU_LD, 1, x86_m(EDI, off));
        x86_sse_rr(&a, pfx, SSE_ADD, 0, 1);                        /* 1 + e */
        x86_sse_rm(&a, pfx, packed ? SSE_MOVA_LD : SSE_MOVU_LD, 1, A(xd.ones));
        x86_sse_rr(&a, pfx, SSE_DIV, 1, 0);                        /* 1 / (1 + e) */
        x86_sse_rm(&a, pfx, SSE_MOVU_LD, 2, x86_m(ESI, off));
        x86_sse_rr(&a, pfx, SSE_MUL, 2, 1);                        /* v * s */
        x86_sse_rm(&a, pfx, SSE_MOVU_LD, 3, x86_m(EBX, off));
        x86_sse_rr(&a, pfx, SSE_MUL, 2, 3);                        /* (v * s) * g */
        x86_sse_rm(&a, pfx, SSE_MOVU_ST, 2, x86_m(ESI, off));
    }
    emit_epilogue(&a);
    if (a.overflow) {
        jit_code_abandon(chunk);
        return NULL;
    }
    char name[32];
    snprintf(name, sizeof name, "swiglu_%d", n);
    return jit_code_commit(chunk, x86_size(&a), name);
}

/* void matmul_NxD(float *xout, const float *x, const float *w_packed), n % 4 == d % 4 == 0,
 * x and w_packed 16-byte aligned. */
static void *gen_matmul(int n, int d)
{
    size_t cap = 256 + (size_t)(n / 4) * 64;
    void *chunk = jit_code_begin(cap);
    if (!chunk)
        return NULL;
    struct jit_asm a;
    x86_init(&a, chunk, cap);
    emit_prologue(&a);
    x86_mov_rm(&a, EDI, ARG(0));
    x86_mov_rm(&a, EDX, ARG(1));
    x86_mov_rm(&a, ESI, ARG(2));
    x86_mov_ri(&a, ECX, (uint32_t)(d / 4));
    size_t top = x86_size(&a);
    for (int r = 0; r < 4; r++)
        x86_sse_rr(&a, 0, SSE_XOR, r, r);                          /* four row accumulators */
    for (int c = 0; c < n / 4; c++) {
        x86_sse_rm(&a, 0, SSE_MOVA_LD, 4, x86_m(EDX, 16 * c));      /* x[4c..4c+3] */
        for (int r = 0; r < 4; r++) {
            x86_sse_rr(&a, 0, SSE_MOVA_LD, 5, 4);
            x86_sse_rm(&a, 0, SSE_MUL, 5, x86_m(ESI, 4 * (r * n + 4 * c)));
            x86_sse_rr(&a, 0, SSE_ADD, r, 5);
        }
    }
    /* (l0 + l2) + (l1 + l3) for the four rows at once */
    x86_sse_rr(&a, 0, SSE_MOVA_LD, 4, 0);
    x86_sse_rr(&a, 0, SSE_UNPCKL, 4, 1);                           /* a0l0 a1l0 a0l1 a1l1 */
    x86_sse_rr(&a, 0, SSE_UNPCKH, 0, 1);                           /* a0l2 a1l2 a0l3 a1l3 */
    x86_sse_rr(&a, 0, SSE_ADD, 0, 4);                              /* u01: e0 e1 o0 o1 */
    x86_sse_rr(&a, 0, SSE_MOVA_LD, 4, 2);
    x86_sse_rr(&a, 0, SSE_UNPCKL, 4, 3);
    x86_sse_rr(&a, 0, SSE_UNPCKH, 2, 3);
    x86_sse_rr(&a, 0, SSE_ADD, 2, 4);                              /* u23: e2 e3 o2 o3 */
    x86_sse_rr(&a, 0, SSE_MOVA_LD, 4, 0);
    x86_sse_rr(&a, 0, SSE_MOVLH, 4, 2);                            /* e0 e1 e2 e3 */
    x86_sse_rr(&a, 0, SSE_MOVHL, 2, 0);                            /* o0 o1 o2 o3 */
    x86_sse_rr(&a, 0, SSE_ADD, 4, 2);
    x86_sse_rm(&a, 0, SSE_MOVU_ST, 4, x86_m(EDI, 0));
    x86_alu_ri(&a, ALU_ADD, ESI, 16 * n);
    x86_alu_ri(&a, ALU_ADD, EDI, 16);
    x86_alu_ri(&a, ALU_SUB, ECX, 1);
    x86_jcc_to(&a, CC_NE, top);
    emit_epilogue(&a);
    if (a.overflow) {
        jit_code_abandon(chunk);
        return NULL;
    }
    char name[32];
    snprintf(name, sizeof name, "matmul_%dx%d", n, d);
    return jit_code_commit(chunk, x86_size(&a), name);
}

/* ------------------------------------------------------------------ kernels per shape/matrix */
#define MAX_SHAPES 8
static struct shape {
    int n, d;
    mm_kernel fn;                /* NULL: not generated (declined) or rejected */
    int rejected;
} shapes[MAX_SHAPES];
static int nshapes;

#define MAX_MATS 128             /* open addressing on the weight pointer */
static struct mat {
    const float *w;              /* key: the weights in the blob */
    float *packed;               /* 16-byte-aligned copy */
    struct shape *shape;
    int checked;                 /* first call compared with tier 0 */
} mats[MAX_MATS];
static float *check_buf;         /* tier 0's answer on a first call */
static size_t check_len;         /* floats */
static int nmats, rejects;

static struct shape *shape_for(int n, int d)
{
    for (int i = 0; i < nshapes; i++)
        if (shapes[i].n == n && shapes[i].d == d)
            return &shapes[i];
    if (nshapes == MAX_SHAPES || n % 4 || d % 4)
        return NULL;
    struct shape *s = &shapes[nshapes++];
    s->n = n;
    s->d = d;
    s->fn = (mm_kernel)gen_matmul(n, d);
    if (!s->fn)
        jit_log("matmul_%dx%d: not generated (code heap full)", n, d);
    return s;
}

static struct mat *mat_find(const float *w)
{
    uint32_t h = ((uint32_t)(uintptr_t)w >> 2) * 2654435761u;
    for (uint32_t k = 0; k < MAX_MATS; k++) {
        struct mat *m = &mats[(h + k) & (MAX_MATS - 1)];
        if (m->w == w || !m->w)
            return m;
    }
    return NULL;
}

/* Specialise for one weight matrix: its shape's kernel and a 16-byte-aligned copy. */
static struct mat *mat_prepare(const float *w, int n, int d)
{
    struct mat *m = mat_find(w);
    if (!m || m->w)
        return m;
    struct shape *s = shape_for(n, d);
    if (!s || !s->fn)
        return NULL;
    float *p = arena_alloc((size_t)n * d * sizeof(float));
    if (!p)
        return NULL;
    size_t words = (size_t)n * d;                                 /* rep movsd: 4 bytes a step */
    void *dst = p;
    const void *src = w;
    __asm__ volatile("rep movsl" : "+D"(dst), "+S"(src), "+c"(words) :: "memory");
    m->w = w;
    m->packed = p;
    m->shape = s;
    nmats++;
    return m;
}

static int need_check_buf(size_t n)
{
    return check_buf && check_len >= n ? 0 : -1;
}

/* The first-call checks are one-time work: keep them out of the A/B trial of the slot that
 * is running (matmul, or ffn when the FFN's matrices are checked). */
static const char *check_owner = "matmul";

static void exclude_check(uint64_t t0)
{
    jit_profile_exclude(check_owner, cpu_rdtsc() - t0);
}

/* One matrix product through generated code; 0 done, -1 the caller must use a compiled tier. */
static int matmul_generated(float *xout, const float *x, const float *w, int n, int d)
{
    if ((uintptr_t)x & 15)
        return -1;
    struct mat *m = mat_find(w);
    if (!m || m->w != w)
        m = mat_prepare(w, n, d);
    if (!m || !m->shape || m->shape->rejected || m->shape->n != n || m->shape->d != d)
        return -1;
    m->shape->fn(xout, x, m->packed);
    if (!m->checked) {
        uint64_t t0 = cpu_rdtsc();
        m->checked = 1;
        if (need_check_buf((size_t)d))
            return 0;
        matmul_tiers[0](check_buf, x, w, n, d);
        if (memcmp(check_buf, xout, (size_t)d * sizeof(float))) {
            m->shape->rejected = 1;
            rejects++;
            jit_log("matmul_%dx%d: first call differs from tier 0 -> rejected, SSE tier instead",
                    n, d);
            memcpy(xout, check_buf, (size_t)d * sizeof(float));
        }
        exclude_check(t0);
    }
    return 0;
}

static void matmul_jit(float *xout, const float *x, const float *w, int n, int d)
{
    if (matmul_generated(xout, x, w, n, d))
        matmul_sse(xout, x, w, n, d);
}

/* ------------------------------------------------------------------ expf and the FFN */
static expf_array_fn expf_variant[2];   /* the generated variants (pd, x87) */
static int expf_checked[2], expf_made;
static silu_kernel silu_code;
static int silu_n, silu_checked, silu_rejected;

/* The first call of each variant is compared with tier 0; a variant that differs is
 * replaced by tier 0's loop for good (and says so). */
static void expf_checked_call(int v, float *out, const float *in, int n, float sub, int neg)
{
    if (!expf_checked[v] && n > 0 && !need_check_buf((size_t)n)) {
        uint64_t t0 = cpu_rdtsc();
        expf_checked[v] = 1;
        expf_array_t0(check_buf, in, n, sub, neg);
        expf_variant[v](out, in, n, sub, neg);
        if (memcmp(check_buf, out, (size_t)n * sizeof(float))) {
            rejects++;
            jit_log("expf_%s: first call differs from tier 0 -> rejected", v ? "x87" : "pd");
            memcpy(out, check_buf, (size_t)n * sizeof(float));
            expf_variant[v] = expf_array_t0;
        }
        jit_profile_exclude("expf", cpu_rdtsc() - t0);
        return;
    }
    expf_variant[v](out, in, n, sub, neg);
}

static void expf_jit_pd(float *out, const float *in, int n, float sub, int neg)
{
    expf_checked_call(0, out, in, n, sub, neg);
}

static void expf_jit_x87(float *out, const float *in, int n, float sub, int neg)
{
    expf_checked_call(1, out, in, n, sub, neg);
}

static void swiglu_jit(const struct ffn_args *a)
{
    int h = a->hidden_dim;
    /* exp(-hb) through the expf slot: whichever exp the trials chose (not profiled here) */
    llama_expf_slot(a->he, a->hb, h, 0.0f, 1);
    if (silu_code && !silu_rejected && h == silu_n) {
        if (!silu_checked) {
            uint64_t t0 = cpu_rdtsc();
            silu_checked = 1;
            if (!need_check_buf((size_t)2 * h)) {
                float *hb = check_buf;
                memcpy(hb, a->hb, (size_t)h * sizeof(float));
                expf_array_t0(check_buf + h, hb, h, 0.0f, 1);
                if (memcmp(check_buf + h, a->he, (size_t)h * sizeof(float))) {
                    silu_rejected = 1;                 /* the exp in the slot disagrees */
                    rejects++;
                    jit_log("swiglu_%d: exp(-hb) differs from tier 0 -> rejected", h);
                    memcpy(a->he, check_buf + h, (size_t)h * sizeof(float));
                }
                swiglu_combine(hb, a->hb2, a->he, h);
                silu_code(a->hb, a->hb2, a->he);
                if (memcmp(hb, a->hb, (size_t)h * sizeof(float))) {
                    silu_rejected = 1;
                    rejects++;
                    jit_log("swiglu_%d: first call differs from tier 0 -> rejected", h);
                    memcpy(a->hb, hb, (size_t)h * sizeof(float));
                }
                jit_profile_exclude("ffn", cpu_rdtsc() - t0);
                return;
            }
        }
        silu_code(a->hb, a->hb2, a->he);
        return;
    }
    swiglu_combine(a->hb, a->hb2, a->he, h);
}

static void ffn_jit(const struct ffn_args *a)
{
    check_owner = "ffn";
    matmul_jit(a->hb, a->x, a->w1, a->dim, a->hidden_dim);
    matmul_jit(a->hb2, a->x, a->w3, a->dim, a->hidden_dim);
    swiglu_jit(a);
    matmul_jit(a->out, a->hb, a->w2, a->hidden_dim, a->dim);
    check_owner = "matmul";
}

/* ------------------------------------------------------------------ generators */
static int matmul_made, ffn_made;
static void *generate(const char *name, void *ctx)
{
    (void)ctx;
    const struct llama_config *c = &model->c;
    const struct llama_weights *w = &model->w;
    if (strcmp(name, "expf") == 0) {
        /* one variant per call: packed doubles first, then the x87 against the winner */
        if (expf_made >= 2)
            return NULL;
        int v = expf_made++;
        expf_variant[v] = (expf_array_fn)gen_expf_array(v);
        return expf_variant[v] ? (v ? (void *)expf_jit_x87 : (void *)expf_jit_pd) : NULL;
    }
    if (strcmp(name, "matmul") == 0) {
        if (matmul_made++)
            return NULL;                  /* one variant */
        /* every projection of every layer and the classifier, specialised now */
        int ok = 0;
        for (int l = 0; l < c->n_layers; l++) {
            ok += mat_prepare(w->wq + (size_t)l * c->dim * c->dim, c->dim, c->dim) != NULL;
            ok += mat_prepare(w->wk + (size_t)l * c->dim * c->kv_dim, c->dim, c->kv_dim) != NULL;
            ok += mat_prepare(w->wv + (size_t)l * c->dim * c->kv_dim, c->dim, c->kv_dim) != NULL;
            ok += mat_prepare(w->wo + (size_t)l * c->dim * c->dim, c->dim, c->dim) != NULL;
        }
        ok += mat_prepare(w->wcls, c->dim, c->vocab_size) != NULL;
        return ok ? (void *)matmul_jit : NULL;
    }
    if (strcmp(name, "ffn") == 0) {
        if (ffn_made++)
            return NULL;
        int ok = 0;
        size_t hd = (size_t)c->hidden_dim * c->dim;
        for (int l = 0; l < c->n_layers; l++) {
            ok += mat_prepare(w->w1 + l * hd, c->dim, c->hidden_dim) != NULL;
            ok += mat_prepare(w->w3 + l * hd, c->dim, c->hidden_dim) != NULL;
            ok += mat_prepare(w->w2 + l * hd, c->hidden_dim, c->dim) != NULL;
        }
        silu_code = (silu_kernel)gen_silu(c->hidden_dim);
        silu_n = c->hidden_dim;
        return ok || silu_code ? (void *)ffn_jit : NULL;
    }
    return NULL;
}

void llama_jit_pin(void)
{
    void *f;
    if ((f = generate("matmul", NULL)))
        llama_matmul_slot = (matmul_fn)f;
    if ((f = generate("ffn", NULL)))
        llama_ffn_slot = (ffn_fn)f;
    if ((f = generate("expf", NULL)))             /* the packed-double variant */
        llama_expf_slot = (expf_array_fn)f;
}

int llama_jit_setup(struct llama_model *m)
{
    model = m;
    for (int i = 0; i < 3; i++)
        xd.reduce[i] = bf_exp_reduce[i];
    for (int i = 0; i < 14; i++)
        xd.poly[i] = bf_exp_poly[i];
    for (int i = 0; i < 4; i++) {
        xd.ones[i] = 1.0f;
        xd.bias[i] = 1023;
        xd.abs_mask[i] = 0x7fffffffu;
        xd.sign[i] = 0x80000000u;
        xd.hundred[i] = 100.0f;
    }
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < 3; i++)
            xd.reduce2[i][j] = bf_exp_reduce[i];
        for (int i = 0; i < 14; i++)
            xd.poly2[i][j] = bf_exp_poly[i];
    }
    uint16_t cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    xd.cw_53 = (uint16_t)((cw & ~0x0F00u) | 0x0200u);              /* PC = double, RC = nearest */
    struct llama_state *st = &m->s;
    if (!st->jit_arena) {
        jit_log("code generation off: no memory for its arena");
        return -1;
    }
    arena_top = st->jit_arena;
    arena_end = arena_top + st->jit_arena_bytes;
    void *code = arena_alloc(CODE_HEAP_BYTES);
    check_len = check_floats(&m->c);
    check_buf = arena_alloc(check_len * sizeof(float));
    if (!code || !check_buf || jit_code_init(code, CODE_HEAP_BYTES))
        return -1;
    jit_register_generator("matmul", generate, NULL);
    jit_register_generator("ffn", generate, NULL);
    jit_register_generator("expf", generate, NULL);
    return 0;
}

void llama_jit_report(void)
{
    struct jit_code_stats st;
    jit_code_get_stats(&st);
    if (!st.functions)
        return;
    kprintf("[jit] codegen: %u functions, %u bytes of code in %u KiB of code heap, "
            "%d matrices repacked, %d kernels rejected\n", (unsigned)st.functions,
            (unsigned)st.code_bytes, (unsigned)(st.used_bytes / 1024), nmats, rejects);
}
