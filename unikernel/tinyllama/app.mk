# app.mk - TinyLlama's additions to unikernel/Makefile (included by it).
# The scalar tiers must stay scalar: without these flags clang's loop and SLP vectorizers turn
# tiers 0 and 1 into SSE code, and the JIT's A/B test would compare near-identical code.
# Tier 2 (llama_kernels_sse.c) uses intrinsics, which these flags do not affect.
APP_CFLAGS += -fno-vectorize -fno-slp-vectorize
# clang assumes the i386 SysV 16-byte stack alignment and spills SSE registers with movaps; the
# kernel (built without SSE) does not promise that alignment, so realign where it matters.
APP_CFLAGS += -mstackrealign
