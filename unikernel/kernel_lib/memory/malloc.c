/* malloc.c - a first-fit allocator with an address-ordered free list.
 *
 * The heap is one range [start, end) chosen by the kernel from the E820 map.  Memory is
 * carved from the bottom upwards (`brk`); freed blocks go on a free list kept in address
 * order, so a freed block merges with its free neighbours at once, and a free block that
 * reaches `brk` is handed back to the untouched top.  Every block has a 16-byte header, so
 * payloads are 16-byte aligned (what SSE loads want).  The header's magic word catches
 * double frees and wild pointers: they stop the machine with a panic, not corrupt the heap.
 */
#include "../runtime.h"

#define HDR 16u
#define MIN_BLOCK 32u
#define MAGIC_USED 0xA110CA7Eu
#define MAGIC_FREE 0xF7EEB10Cu

struct block {
    uint32_t size;                  /* whole block, header included, multiple of 16 */
    uint32_t magic;
    struct block *next_free;        /* free blocks only, ascending addresses */
    uint32_t pad;
};
_Static_assert(sizeof(struct block) == HDR, "header size");

static uintptr_t heap_start, heap_end, heap_brk;
static struct block *free_list;
static struct heap_stats st;

void heap_init(uintptr_t start, uintptr_t end)
{
    heap_start = (start + 15) & ~(uintptr_t)15;
    heap_end = end & ~(uintptr_t)15;
    if (heap_end < heap_start)
        heap_end = heap_start;
    heap_brk = heap_start;
    free_list = NULL;
    memset(&st, 0, sizeof st);
    st.start = heap_start;
    st.end = heap_end;
}

static void account_alloc(struct block *b)
{
    st.allocs++;
    st.in_use += b->size;
    if (st.in_use > st.high_water)
        st.high_water = st.in_use;
}

void *malloc(size_t n)
{
    if (n == 0 || n > heap_end - heap_start)
        return NULL;
    uint32_t need = (uint32_t)((n + 15) & ~(size_t)15) + HDR;
    /* First fit in the free list. */
    for (struct block **link = &free_list; *link; link = &(*link)->next_free) {
        struct block *b = *link;
        if (b->size < need)
            continue;
        if (b->size - need >= MIN_BLOCK) {     /* split: the tail stays free, in place */
            struct block *rest = (struct block *)((uintptr_t)b + need);
            rest->size = b->size - need;
            rest->magic = MAGIC_FREE;
            rest->next_free = b->next_free;
            *link = rest;
            b->size = need;
        } else {
            *link = b->next_free;
        }
        b->magic = MAGIC_USED;
        b->next_free = NULL;
        st.reused++;
        account_alloc(b);
        return (void *)((uintptr_t)b + HDR);
    }
    /* Nothing fits: carve from the top. */
    if (heap_end - heap_brk < need)
        return NULL;
    struct block *b = (struct block *)heap_brk;
    heap_brk += need;
    if (heap_brk - heap_start > st.brk)
        st.brk = heap_brk - heap_start;
    b->size = need;
    b->magic = MAGIC_USED;
    b->next_free = NULL;
    account_alloc(b);
    return (void *)((uintptr_t)b + HDR);
}

void free(void *ptr)
{
    if (!ptr)
        return;
    struct block *b = (struct block *)((uintptr_t)ptr - HDR);
    if ((uintptr_t)b < heap_start || (uintptr_t)b >= heap_brk || ((uintptr_t)ptr & 15))
        panic("free(%p): not a heap pointer", ptr);
    if (b->magic != MAGIC_USED)
        panic("free(%p): %s", ptr, b->magic == MAGIC_FREE ? "double free" : "corrupted block header");
    st.frees++;
    st.in_use -= b->size;
    b->magic = MAGIC_FREE;
    /* Insert in address order, remembering the previous free block for merging. */
    struct block *prev = NULL, *next = free_list;
    while (next && next < b) {
        prev = next;
        next = next->next_free;
    }
    b->next_free = next;
    if (prev)
        prev->next_free = b;
    else
        free_list = b;
    if (next && (uintptr_t)b + b->size == (uintptr_t)next) {   /* merge with the next */
        b->size += next->size;
        b->next_free = next->next_free;
        next->magic = 0;
    }
    if (prev && (uintptr_t)prev + prev->size == (uintptr_t)b) { /* merge into the previous */
        prev->size += b->size;
        prev->next_free = b->next_free;
        b->magic = 0;
        b = prev;
    }
    if ((uintptr_t)b + b->size == heap_brk) {                  /* give the top back */
        if (prev == b) {            /* b merged into prev: find prev's predecessor */
            struct block **link = &free_list;
            while (*link != b)
                link = &(*link)->next_free;
            *link = b->next_free;
        } else if (prev) {
            prev->next_free = b->next_free;
        } else {
            free_list = b->next_free;
        }
        b->magic = 0;
        heap_brk = (uintptr_t)b;
    }
}

void *calloc(size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size)
        return NULL;
    void *p = malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *ptr, size_t size)
{
    if (!ptr)
        return malloc(size);
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    struct block *b = (struct block *)((uintptr_t)ptr - HDR);
    if (b->magic != MAGIC_USED)
        panic("realloc(%p): not an allocated block", ptr);
    if (b->size - HDR >= size)
        return ptr;
    void *n = malloc(size);
    if (n) {
        memcpy(n, ptr, b->size - HDR);
        free(ptr);
    }
    return n;
}

void heap_get_stats(struct heap_stats *out)
{
    *out = st;
}
