/* main.c - TinyLlama inside the unikernel: real llama2.c inference that profiles and
 * optimises itself.
 *
 * Protocol (serial and screen alike): "> " (no newline), one line read from COM1 or the
 * keyboard - whichever types - and echoed; the continuation streamed token by token and a
 * newline; then the figures, every line starting "[jit] " or "[stats] " (the only lines that
 * carry RDTSC measurements, so everything else is identical on QEMU and on BareFlow's
 * emulator); then "> " again.  "quit" returns to the kernel, which powers off with status 0.
 *
 * Command line (key=value): prompt="..." runs that prompt first; exit=1 then returns instead of
 * reading lines (batch mode, for tests and benchmarks); steps=N tokens to generate (default
 * 128); temp=T (0 = greedy, the default) topp=P (0.9) seed=N (42) as llama2.c's sampler;
 * tier=0|1|2 pins every hot kernel to that tier; jit=off keeps tier 0 and never promotes;
 * jit=aot adapts among the compiled tiers only (no run-time code generation); tier=3 pins
 * the generated code (generated before the first token, for measurements);
 * ids=1 adds a "[stats] token_ids=..." line (the generated ids, for the tests).
 *
 * Bad input never faults: a bad model or tokenizer blob is reported once at boot and then
 * for every prompt (quit still works); a bad prompt (non-ASCII byte, more tokens than
 * seq_len, a line too long) gets a one-line "error: ..." and the "> " prompt again.
 */
#include "app.h"
#include "jit_codegen.h"
#include "jit_runtime.h"
#include "llama_model.h"
#include "llama_sampler.h"
#include "llama_tokenizer.h"
#include "runtime.h"

#define LINE_CAP 512
#define ERR_CAP 160

struct options {
    long steps;
    float temperature, topp;
    uint32_t seed;
    int tier;                    /* -1: adaptive */
    int jit_on;
    int codegen;                 /* adaptive mode may generate code (jit=on, the default) */
    int show_ids;
    int batch_exit;
    const char *prompt;
};

static struct llama_model model;
static struct llama_tokenizer tokenizer;
static struct llama_sampler sampler;
static int ready;
static char load_error[ERR_CAP];
static struct options opt;
static int prompt_tokens[LINE_CAP + 2];
static int out_ids[LINE_CAP * 2];    /* generated ids shown with ids=1 (first ones only) */

/* ------------------------------------------------------------------ option parsing */

/* "[-]digits[.digits]" -> float, rounded once like strtod + a float cast (exact for <= 15
 * digits: integer mantissa and 10^k are exact doubles).  0 ok, -1 not a number. */
static int parse_float(const char *s, float *out)
{
    int neg = 0, digits = 0, frac = 0, seen_dot = 0;
    double mant = 0.0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s; s++) {
        if (*s == '.' && !seen_dot) {
            seen_dot = 1;
            continue;
        }
        if (*s < '0' || *s > '9' || digits >= 15)
            return -1;
        mant = mant * 10.0 + (*s - '0');
        digits++;
        frac += seen_dot;
    }
    if (!digits)
        return -1;
    double p10 = 1.0;
    for (int i = 0; i < frac; i++)
        p10 *= 10.0;
    double v = mant / p10;
    *out = (float)(neg ? -v : v);
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    long v = 0;
    int any = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        any = 1;
        if (v > hi)
            return -1;
    }
    if (!any || *s || v < lo)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(const struct cmdline *cl, struct options *o)
{
    const char *v;
    long n;
    o->steps = 128;
    o->temperature = 0.0f;
    o->topp = 0.9f;
    o->seed = 42;
    o->tier = -1;
    o->jit_on = 1;
    o->codegen = 1;
    o->show_ids = 0;
    o->batch_exit = 0;
    o->prompt = cmdline_get(cl, "prompt");
    if ((v = cmdline_get(cl, "steps"))) {
        if (parse_long(v, 0, 1000000, &n)) {
            kprintf("error: steps=%s is not a number 0..1000000\n", v);
            return -1;
        }
        o->steps = n;
    }
    if ((v = cmdline_get(cl, "temp")) &&
        (parse_float(v, &o->temperature) || o->temperature < 0.0f || o->temperature > 100.0f)) {
        kprintf("error: temp=%s is not a number 0..100\n", v);
        return -1;
    }
    if ((v = cmdline_get(cl, "topp")) &&
        (parse_float(v, &o->topp) || o->topp < 0.0f || o->topp > 1.0f)) {
        kprintf("error: topp=%s is not a number 0..1\n", v);
        return -1;
    }
    if ((v = cmdline_get(cl, "seed"))) {
        if (parse_long(v, 0, 2147483647L, &n)) {
            kprintf("error: seed=%s is not a number 0..2147483647\n", v);
            return -1;
        }
        o->seed = (uint32_t)n;
    }
    if ((v = cmdline_get(cl, "tier"))) {
        if (parse_long(v, 0, LLAMA_TIERS, &n)) {
            kprintf("error: tier=%s is not one of 0, 1, 2, 3\n", v);
            return -1;
        }
        o->tier = (int)n;
    }
    if ((v = cmdline_get(cl, "jit"))) {
        if (strcmp(v, "off") && strcmp(v, "on") && strcmp(v, "aot")) {
            kprintf("error: jit=%s is not on, aot or off\n", v);
            return -1;
        }
        o->jit_on = strcmp(v, "off") != 0;
        o->codegen = strcmp(v, "on") == 0;
    }
    o->show_ids = cmdline_get_int(cl, "ids", 0) != 0;
    o->batch_exit = cmdline_get_int(cl, "exit", 0) != 0;
    return 0;
}

/* ------------------------------------------------------------------ output */

/* run.c's safe_printf: a lone byte that is neither printable nor white space is dropped. */
static void put_piece(const char *p, int n)
{
    if (n == 1) {
        unsigned char c = (unsigned char)p[0];
        if (!((c >= 32 && c < 127) || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
              c == '\r'))
            return;
    }
    for (int i = 0; i < n; i++)
        console_putchar(p[i]);
}

static void print_figures(int generated, uint64_t cycles, int forwards)
{
    for (int i = 0; i < jit_func_count(); i++) {
        struct jit_func_stats st;
        if (jit_get_stats(i, &st))
            continue;
        /* the seed API's figures; for a tiered kernel the level is the tier in its slot
         * (a pinned tier is registered alone, so the runtime would call it 0) */
        int level = st.tiered ? llama_slot_tier(st.name) : jit_get_optimization_level(st.name);
        kprintf("[jit] %s calls=%llu avg_cycles=%llu level=%d\n", st.name,
                (unsigned long long)jit_get_call_count(st.name),
                (unsigned long long)jit_get_avg_cycles(st.name), level);
    }
    for (int i = 0; i < jit_func_count(); i++) {
        struct jit_func_stats st;
        if (!jit_get_stats(i, &st) && st.tiered && (st.promotions || st.reverts))
            kprintf("[jit] %s promotions=%u reverts=%u\n", st.name, st.promotions, st.reverts);
    }
    jit_log_flush();                              /* the optimiser's decisions, in order */
    llama_jit_report();
    struct heap_stats hs;
    heap_get_stats(&hs);
    kprintf("[stats] tokens=%d cycles_per_token=%llu heap_peak=%u\n", generated,
            (unsigned long long)(forwards ? cycles / (uint64_t)forwards : 0),
            (unsigned)hs.high_water);
    if (opt.show_ids) {
        kprintf("[stats] token_ids=");
        int shown = generated < (int)(sizeof out_ids / sizeof out_ids[0])
                        ? generated : (int)(sizeof out_ids / sizeof out_ids[0]);
        for (int i = 0; i < shown; i++)
            kprintf(i ? " %d" : "%d", out_ids[i]);
        kprintf("\n");
    }
}

/* ------------------------------------------------------------------ one prompt */

/* Returns 0, or -1 when the prompt was refused (the message is printed). */
static int run_prompt(const char *text, int n)
{
    if (!ready) {
        kprintf("error: %s\n", load_error);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c > 0x7e) {
            kprintf("error: byte 0x%02x at column %d is not printable ASCII\n", c, i + 1);
            return -1;
        }
    }
    if (n > LINE_CAP) {
        kprintf("error: prompt longer than %d characters\n", LINE_CAP);
        return -1;
    }
    const struct llama_config *c = &model.c;
    int nt = tok_encode(&tokenizer, text, n, prompt_tokens);
    if (nt > c->seq_len) {
        kprintf("error: prompt is %d tokens, longer than seq_len %d\n", nt, c->seq_len);
        return -1;
    }
    sampler_reset(&sampler, opt.temperature, opt.topp, opt.seed);
    int token = prompt_tokens[0], pos = 0, generated = 0, forwards = 0;
    uint64_t cycles = 0;
    while (pos < c->seq_len) {
        if (pos >= nt - 1 && generated >= opt.steps)
            break;
        uint64_t t0 = cpu_rdtsc();
        float *logits = llama_forward(&model, token, pos);
        /* the optimiser's time (and any code it generates) counts as the token's */
        if (opt.jit_on && opt.tier < 0)
            jit_optimize_hot_functions();
        cycles += cpu_rdtsc() - t0;
        forwards++;
        int next;
        if (pos < nt - 1) {
            next = prompt_tokens[pos + 1];
        } else {
            next = sampler_sample(&sampler, logits);
            if (next == TOK_BOS || next == TOK_EOS)
                break;
            if (generated < (int)(sizeof out_ids / sizeof out_ids[0]))
                out_ids[generated] = next;
            generated++;
            char byte;
            int len;
            const char *p = tok_decode(&tokenizer, token, next, &len, &byte);
            put_piece(p, len);
        }
        pos++;
        token = next;
    }
    console_putchar('\n');
    print_figures(generated, cycles, forwards);
    return 0;
}

/* ------------------------------------------------------------------ input */

/* Reads one line with echo.  Returns its length, or -1 (too long) / -2 (bad byte, in *bad). */
static int read_line(char *buf, int cap, int *bad)
{
    int n = 0, overflow = 0;
    *bad = -1;
    for (;;) {
        int c = console_getchar();                /* keyboard or COM1; CR LF -> '\n' */
        if (c > 0xff)
            continue;                             /* arrows and function keys */
        if (c == '\n')
            break;
        if (c == '\b') {
            if (n > 0) {
                n--;
                console_puts("\b \b");
            }
            continue;
        }
        if (c < 0x20 || c > 0x7e) {
            if (*bad < 0)
                *bad = c;
            continue;
        }
        if (n < cap - 1) {
            buf[n++] = (char)c;
            console_putchar((char)c);
        } else {
            overflow = 1;
        }
    }
    console_putchar('\n');
    buf[n] = 0;
    if (*bad >= 0)
        return -2;
    return overflow ? -1 : n;
}

/* ------------------------------------------------------------------ boot */

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

/* What stage 2 loaded, with a checksum a test can compare with the file (byte-exact load). */
static void describe_blob(const char *what, uint32_t addr, uint32_t size)
{
    if (!size)
        kprintf("app: no %s blob in this image\n", what);
    else
        kprintf("app: %s blob: %u bytes at 0x%08x, FNV-1a 0x%08x\n", what, size, addr,
                fnv1a((const void *)(uintptr_t)addr, size));
}

static int load(const struct boot_info *bi)
{
    if (llama_load(&model, (const void *)(uintptr_t)bi->model_addr, bi->model_size, load_error,
                   sizeof load_error))
        return -1;
    if (tok_load(&tokenizer, (const void *)(uintptr_t)bi->tokenizer_addr, bi->tokenizer_size,
                 model.c.vocab_size, load_error, sizeof load_error))
        return -1;
    if (llama_alloc_state(&model, load_error, sizeof load_error))
        return -1;
    if (sampler_init(&sampler, model.c.vocab_size)) {
        snprintf(load_error, sizeof load_error, "not enough heap for the sampler");
        return -1;
    }
    return 0;
}

/* Everything back to the heap, so the kernel's closing heap line shows 0 bytes in use. */
static int finish(int rc)
{
    llama_free_state(&model);
    tok_free(&tokenizer);
    sampler_free(&sampler);
    return rc;
}

int app_main(const struct boot_info *bi, const struct cmdline *cl)
{
    /* before any float code: the app is compiled for SSE2 (scalar float and double math) */
    const struct cpu_info *ci = cpu_get_info();
    if (!ci->sse_enabled || !ci->has_sse2) {
        kprintf("error: this CPU has no SSE2; TinyLlama is built for it\n");
        return 3;
    }
    if (parse_options(cl, &opt))
        return 2;
    describe_blob("model", bi->model_addr, bi->model_size);
    describe_blob("tokenizer", bi->tokenizer_addr, bi->tokenizer_size);
    llama_register_tiers(opt.tier == 3 ? 2 : opt.tier >= 0 ? opt.tier : (opt.jit_on ? -1 : 0));
    jit_set_verbose(0);                           /* promotions are reported with the figures */
    jit_set_threshold(20, 80, 400);
    jit_set_trial_calls(4);                       /* interleaved A/B: 4 calls of each side */
    ready = load(bi) == 0;
    if (ready && opt.tier < 0 && opt.jit_on && opt.codegen)
        llama_jit_setup(&model);
    if (ready && opt.tier == 3 && llama_jit_setup(&model) == 0)
        llama_jit_pin();                          /* generated code in every slot it covers */
    if (ready) {
        const struct llama_config *c = &model.c;
        kprintf("tinyllama: dim %d, hidden %d, %d layers, %d heads (%d kv), vocab %d%s, "
                "seq_len %d\n", c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                c->vocab_size, c->shared_classifier ? "" : " (separate classifier)", c->seq_len);
        kprintf("tinyllama: tiers %s\n", opt.tier >= 0 ? (opt.tier == 0 ? "pinned to 0"
                                                          : opt.tier == 1 ? "pinned to 1"
                                                          : opt.tier == 2 ? "pinned to 2"
                                                                          : "pinned to 3 (generated)")
                                         : !opt.jit_on ? "0 (JIT off)"
                                         : opt.codegen ? "adaptive (JIT on, code generation)"
                                                       : "adaptive (JIT on, compiled tiers only)");
    } else {
        kprintf("error: %s\n", load_error);
    }
    if (opt.prompt) {
        kprintf("> %s\n", opt.prompt);
        int rc = run_prompt(opt.prompt, (int)strlen(opt.prompt));
        if (opt.batch_exit)
            return finish(rc ? 1 : 0);
    } else if (opt.batch_exit) {
        kprintf("error: exit=1 needs a prompt=\"...\"\n");
        return finish(1);
    }
    static char line[LINE_CAP];
    for (;;) {
        kprintf("> ");
        int bad;
        int n = read_line(line, sizeof line, &bad);
        if (n == -2) {
            kprintf("error: byte 0x%02x in the input is not printable ASCII\n", bad);
            continue;
        }
        if (n == -1) {
            kprintf("error: line longer than %d characters\n", LINE_CAP - 1);
            continue;
        }
        if (strcmp(line, "quit") == 0)
            return finish(0);
        run_prompt(line, n);
    }
}
