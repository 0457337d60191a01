/* codeheap.c - the executable code heap and the "[jit]" decision log.
 *
 * One region the app hands over (jit_code_init), page aligned, code handed out from its
 * bottom in whole 4 KiB pages and data (symbol files) from its top: every generated
 * function starts on a page of its own, so writing the next function never touches a page
 * that holds code already executed (an emulator or a real CPU with a decoded-code cache
 * would otherwise have to throw translations away).  Write phase: jit_code_begin() ..
 * jit_code_commit(); execute phase afterwards, the chunk is never written again.  Chunks
 * are not freed (a run generates a few dozen kernels at most), an abandoned chunk is reused
 * by the next jit_code_begin.
 */
#include <stdarg.h>

#include "../jit_codegen.h"
#include "../runtime.h"

#define PAGE 4096u

static uint8_t *heap_lo, *heap_hi, *heap_top, *data_bottom;
static uint8_t *open_chunk;
static size_t nfuncs, code_bytes;

int jit_code_init(void *mem, size_t bytes)
{
    uintptr_t lo = ((uintptr_t)mem + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    uintptr_t hi = ((uintptr_t)mem + bytes) & ~(uintptr_t)15;
    if (!mem || hi < lo + 2 * PAGE)
        return -1;
    heap_lo = heap_top = (uint8_t *)lo;
    heap_hi = data_bottom = (uint8_t *)hi;
    open_chunk = NULL;
    nfuncs = code_bytes = 0;
    return 0;
}

void *jit_code_data(size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    if (!heap_lo || (size_t)(data_bottom - heap_top) < bytes + PAGE)
        return NULL;
    data_bottom -= bytes;
    memset(data_bottom, 0, bytes);
    return data_bottom;
}

void *jit_code_begin(size_t cap)
{
    if (!heap_lo)
        return NULL;
    cap = (cap + PAGE - 1) & ~(size_t)(PAGE - 1);
    /* code never shares a page with data */
    uint8_t *limit = (uint8_t *)((uintptr_t)data_bottom & ~(uintptr_t)(PAGE - 1));
    if (limit < heap_top || (size_t)(limit - heap_top) < cap)
        return NULL;
    open_chunk = heap_top;
    return heap_top;
}

void *jit_code_commit(void *chunk, size_t used, const char *name)
{
    uint8_t *c = chunk;
    if (c != open_chunk || used == 0)
        return NULL;
    heap_top = c + ((used + PAGE - 1) & ~(size_t)(PAGE - 1));
    open_chunk = NULL;
    nfuncs++;
    code_bytes += used;
    jit_gdb_publish(name, c, (uint32_t)used);
    return c;
}

void jit_code_abandon(void *chunk)
{
    if (chunk == open_chunk)
        open_chunk = NULL;                      /* heap_top did not move: the pages are reused */
}

void jit_code_get_stats(struct jit_code_stats *st)
{
    st->heap_bytes = (size_t)(heap_hi - heap_lo);
    st->used_bytes = (size_t)(heap_top - heap_lo) + (size_t)(heap_hi - data_bottom);
    st->functions = nfuncs;
    st->code_bytes = code_bytes;
}

/* ---------------------------------------------------------------- decision log */
static char log_buf[4096];
static size_t log_len;
static int log_dropped;

void jit_log(const char *fmt, ...)
{
    char line[192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    if (log_len + (size_t)n + 8 >= sizeof log_buf) {
        log_dropped++;
        return;
    }
    memcpy(log_buf + log_len, "[jit] ", 6);
    memcpy(log_buf + log_len + 6, line, (size_t)n);
    log_len += 6 + (size_t)n;
    log_buf[log_len++] = '\n';
}

void jit_log_flush(void)
{
    log_buf[log_len] = 0;
    if (log_len)
        console_puts(log_buf);
    if (log_dropped)
        kprintf("[jit] (%d decision lines dropped: log full)\n", log_dropped);
    log_len = 0;
    log_dropped = 0;
}
