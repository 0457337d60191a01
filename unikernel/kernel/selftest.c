/* selftest.c - test=lib: unit tests of kernel_lib, run inside the real kernel.
 *
 * The library is 32-bit freestanding code; testing it on the 64-bit host would test a
 * different program.  So the tests run here, on the target, and print one line per failure
 * plus a summary the pytest suite matches:  "selftest: N passed, 0 failed".
 */
#include "jit_runtime.h"
#include "runtime.h"
#include "selftest.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (cond) {                                                                            \
            passed++;                                                                          \
        } else {                                                                               \
            failed++;                                                                          \
            kprintf("selftest: FAIL %s:%d: ", __FILE__, __LINE__);                             \
            kprintf(__VA_ARGS__);                                                              \
            kprintf("\n");                                                                     \
        }                                                                                      \
    } while (0)

static void check_fmt(const char *want, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    CHECK(strcmp(buf, want) == 0, "format \"%s\": got \"%s\", want \"%s\"", fmt, buf, want);
}

static void test_format(void)
{
    check_fmt("42 -7 4294967295", "%d %i %u", 42, -7, 0xFFFFFFFFu);
    check_fmt("ff FF 0x000000ff 17", "%x %X %p %o", 255, 255, (void *)0xFF, 15);
    check_fmt("[   12] [12   ] [00012] [+12]", "[%5d] [%-5d] [%05d] [%+d]", 12, 12, 12, 12);
    check_fmt("-0042", "%05d", -42);
    check_fmt("18446744073709551615 -9223372036854775808", "%llu %lld",
              0xFFFFFFFFFFFFFFFFull, (long long)0x8000000000000000ull);
    check_fmt("123456789abcdef0", "%llx", 0x123456789ABCDEF0ull);
    check_fmt("abc|ab|  abc|(null)", "%s|%.2s|%5s|%s", "abc", "abc", "abc", (char *)0);
    check_fmt("3.14 -0.500 2 100%", "%.2f %.3f %.0f %d%%", 3.14159, -0.5, 2.0, 100);
    char small[6];
    int n = snprintf(small, sizeof small, "%s", "truncated");
    CHECK(n == 9 && strcmp(small, "trunc") == 0, "snprintf truncation: %d \"%s\"", n, small);
}

static void test_divide(void)
{
    volatile uint64_t a = 0xFFFFFFFFFFFFFFFFull, b = 0x100000001ull;
    CHECK(a / b == 0xFFFFFFFFull && a % b == 0, "u64 division");
    volatile int64_t c = -1000000000000ll, d = 7;
    CHECK(c / d == -142857142857ll && c % d == -1, "s64 division");
}

static void test_malloc(void)
{
    struct heap_stats s0, s1;
    heap_get_stats(&s0);
    char *a = malloc(100), *b = malloc(200), *c = malloc(300);
    CHECK(a && b && c, "three allocations");
    CHECK(((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0, "16-byte alignment");
    CHECK(a + 100 <= b && b + 200 <= c, "blocks do not overlap");
    memset(a, 0xAA, 100);
    memset(b, 0xBB, 200);
    memset(c, 0xCC, 300);
    free(b);
    char *d = malloc(150);          /* fits in b's hole: first fit must reuse it */
    CHECK(d == b, "freed block reused (got %p, freed %p)", (void *)d, (void *)b);
    CHECK((uint8_t)a[99] == 0xAA && (uint8_t)c[0] == 0xCC, "neighbours intact");
    free(d);
    free(a);                        /* a and d's block merge; with c freed all returns to the top */
    free(c);
    heap_get_stats(&s1);
    CHECK(s1.in_use == s0.in_use, "all bytes returned (%u vs %u)", (unsigned)s1.in_use,
          (unsigned)s0.in_use);
    char *e = malloc(600);          /* the three coalesced blocks give one 600-byte block */
    CHECK(e == a, "coalesced free space reused from the start (got %p, want %p)", (void *)e,
          (void *)a);
    heap_get_stats(&s1);
    CHECK(s1.high_water >= s0.in_use + 600, "high-water mark counts the peak");
    char *f = realloc(e, 5000);
    CHECK(f != NULL, "realloc grows");
    free(f);
    CHECK(malloc(0) == NULL && malloc((size_t)-1 / 2) == NULL, "impossible sizes refused");
    int *z = calloc(64, sizeof *z);
    int zero = 1;
    for (int i = 0; i < 64; i++)
        zero &= z[i] == 0;
    CHECK(z && zero, "calloc zeroes");
    free(z);
}

static void test_cmdline(void)
{
    static struct cmdline cl;
    char err[96];
    CHECK(cmdline_parse("  prompt=\"Once upon\" steps=40 exit=1 ", &cl, err, sizeof err) == 0,
          "valid line: %s", err);
    CHECK(cl.argc == 3, "3 arguments, got %d", cl.argc);
    CHECK(strcmp(cmdline_get(&cl, "prompt"), "Once upon") == 0, "quoted value");
    CHECK(cmdline_get_int(&cl, "steps", 0) == 40 && cmdline_get_int(&cl, "nope", -5) == -5,
          "integers and defaults");
    CHECK(cmdline_get(&cl, "missing") == NULL, "absent key");
    CHECK(cmdline_parse("", &cl, err, sizeof err) == 0 && cl.argc == 0, "empty line");
    CHECK(cmdline_parse("a=\"\" b=x", &cl, err, sizeof err) == 0 &&
          strcmp(cmdline_get(&cl, "a"), "") == 0, "empty quoted value");
    static const char *const bad[] = { "prompt=\"Once upon", "novalue", "=x", "a=\"x\"y",
                                       "a=b\"c", "a=1 !=2" };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(cmdline_parse(bad[i], &cl, err, sizeof err) != 0, "'%s' must be rejected", bad[i]);
}

/* Three tiers with known speeds: tier 1 is 10x faster than tier 0, tier 2 10x slower. */
static volatile uint32_t sink;
static void spin(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        sink += i;
}
static void tier_base(void) { spin(20000); }
static void tier_fast(void) { spin(2000); }
static void tier_slow(void) { spin(200000); }

static void test_jit(void)
{
    typedef void (*fn)(void);
    static fn slot;
    void *const tiers[] = { (void *)tier_base, (void *)tier_fast, (void *)tier_slow };
    jit_reset();
    jit_set_threshold(3, 6, 9);
    jit_set_trial_calls(3);
    CHECK(jit_register_tiers("spin", (void **)&slot, tiers, 3) == 0, "register");
    CHECK(slot == tier_base && jit_get_optimization_level("spin") == 0, "starts on tier 0");
    for (int i = 0; i < 30; i++) {
        jit_profile_begin("spin");
        slot();
        jit_profile_end("spin");
        jit_optimize_hot_functions();
    }
    struct jit_func_stats st;
    CHECK(jit_get_stats(0, &st) == 0 && st.calls == 30, "30 calls counted");
    CHECK(jit_get_call_count("spin") == 30 && jit_get_avg_cycles("spin") > 0, "seed API figures");
    CHECK(jit_get_optimization_level("spin") == 1 && slot == tier_fast,
          "faster tier kept, slower reverted: level %d", jit_get_optimization_level("spin"));
    CHECK(st.promotions == 2 && st.reverts == 1 && st.blocked_mask == 4,
          "2 promotions, 1 revert, tier 2 blocked (got %u, %u, mask %u)", st.promotions,
          st.reverts, st.blocked_mask);
    CHECK(jit_get_optimization_level("never") == -1, "unknown name");
    /* recursion is timed once */
    jit_profile_begin("outer");
    jit_profile_begin("outer");
    jit_profile_end("outer");
    jit_profile_end("outer");
    CHECK(jit_get_call_count("outer") == 1, "nested begin/end counts one call");
    jit_reset();
}

static uint32_t fnv1a(const void *data, uint32_t n)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

void selftest_blobs(const struct boot_info *bi)
{
    /* What stage 2 copied above 1 MiB, checksummed where it lies: a test compares these with
     * the FNV-1a of the files that went into the image. */
    kprintf("blobs: model %u bytes at 0x%08x fnv1a 0x%08x\n", bi->model_size, bi->model_addr,
            bi->model_size ? fnv1a((const void *)(uintptr_t)bi->model_addr, bi->model_size) : 0);
    kprintf("blobs: tokenizer %u bytes at 0x%08x fnv1a 0x%08x\n", bi->tokenizer_size,
            bi->tokenizer_addr,
            bi->tokenizer_size ? fnv1a((const void *)(uintptr_t)bi->tokenizer_addr,
                                       bi->tokenizer_size) : 0);
    power_off(0);
}

void selftest_keys(void)
{
    kprintf("keys: press keys; 'q' ends\n");
    for (;;) {
        int k = keyboard_getchar();
        kprintf("keys: 0x%03x\n", k);
        if (k == 'q')
            power_off(0);
    }
}

void selftest_input(void)
{
    char line[80];
    kprintf("input: type lines on the keyboard or COM1; 'quit' ends\n");
    for (;;) {
        kprintf("> ");
        int n = console_readline(line, sizeof line);
        kprintf("input: got \"%s\" (%d chars)\n", line, n);
        if (strcmp(line, "quit") == 0)
            power_off(0);
    }
}

/* The compiler places 16-byte aligned locals assuming ESP was aligned at the call; if the
 * kernel's entry or interrupt stubs broke the ABI, these addresses come out misaligned. */
static uintptr_t __attribute__((noinline)) aligned_local_misalignment(void)
{
    volatile char probe[16] __attribute__((aligned(16)));
    probe[0] = 1;
    uintptr_t at = (uintptr_t)&probe[0];
    __asm__("" : "+r"(at));         /* hide the address: else clang folds "at & 15" to 0 */
    return at & 15;
}

static volatile uintptr_t irq_probe;
static volatile int irq_probe_done;

static void probe_irq(int irq)
{
    (void)irq;
    if (!irq_probe_done) {
        irq_probe = aligned_local_misalignment();
        irq_probe_done = 1;
    }
}

static void test_stack_alignment(void)
{
    CHECK(aligned_local_misalignment() == 0, "stack 16-byte aligned in kernel code");
    irq_set_handler(0, probe_irq);  /* borrow the timer IRQ for one tick */
    for (int i = 0; i < 100 && !irq_probe_done; i++)
        __asm__ volatile("hlt");
    CHECK(irq_probe_done && irq_probe == 0, "stack 16-byte aligned in IRQ handlers");
}

void selftest_run(void)
{
    kprintf("selftest: kernel_lib on the target\n");
    test_format();
    test_divide();
    test_malloc();
    test_cmdline();
    test_jit();
    test_stack_alignment();
    kprintf("selftest: %d passed, %d failed\n", passed, failed);
    power_off(failed ? 1 : 0);
}
