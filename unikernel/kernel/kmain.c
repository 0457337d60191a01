/* kmain.c - from "the CPU is in protected mode" to "the app runs".
 *
 * Order matters: serial and VGA first (so anything that goes wrong can be reported), then
 * the boot info check, our own GDT/IDT/PIC/PIT (so a fault is reported, not a triple-fault
 * reboot), CPU features and SSE, the memory map and the heap, the keyboard, the command
 * line, and only then interrupts on and app_main.
 *
 * Determinism: the serial output must be the same on QEMU and on the BareFlow emulator, so
 * nothing measured (RDTSC, tick counts) is printed except on lines starting "[stats] ".
 */
#include "app.h"
#include "jit_runtime.h"
#include "runtime.h"
#include "selftest.h"

#define BAREFLOW_VERSION "0.1"

extern char __kernel_start[], __kernel_end[];

static struct boot_info bi;         /* our copy: low memory is not ours to keep */
static struct cmdline cl;

void kmain(uint32_t magic, const struct boot_info *boot) __attribute__((noreturn));

static const char *e820_name(uint32_t type)
{
    switch (type) {
    case E820_USABLE: return "usable";
    case E820_RESERVED: return "reserved";
    case E820_ACPI: return "ACPI reclaimable";
    case E820_NVS: return "ACPI NVS";
    case E820_BAD: return "bad memory";
    default: return "unknown";
    }
}

static const char *a20_name(uint32_t m)
{
    switch (m) {
    case A20_ALREADY_ON: return "already on";
    case A20_PORT_92: return "port 0x92";
    case A20_KBC_8042: return "8042 output port";
    default: return "?";
    }
}

static uintptr_t align_up(uintptr_t v, uintptr_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void print_cpu(int sse)
{
    const struct cpu_info *ci = cpu_get_info();
    char feat[256];
    kprintf("cpu: %s family %u model %u stepping %u\n", ci->vendor, ci->family, ci->model,
            ci->stepping);
    if (ci->brand[0])
        kprintf("cpu: %s\n", ci->brand);
    cpu_features_string(feat, sizeof feat);
    kprintf("cpu features: %s\n", feat);
    if (sse == 0)
        kprintf("cpu: x87 initialised, SSE enabled (CR0.EM=0 CR0.MP=1, CR4.OSFXSR+OSXMMEXCPT)\n");
    else
        kprintf("cpu: x87 initialised, no SSE on this CPU\n");
}

static void print_memory_map(void)
{
    uint64_t usable = 0;
    kprintf("memory map (BIOS E820, %u entries):\n", bi.mmap_count);
    for (uint32_t i = 0; i < bi.mmap_count; i++) {
        const struct boot_mmap_entry *e = &bi.mmap[i];
        kprintf("  0x%016llx-0x%016llx %s\n", e->base, e->base + e->length - 1,
                e820_name(e->type));
        if (e->type == E820_USABLE)
            usable += e->length;
    }
    kprintf("memory: %u KiB usable\n", (uint32_t)(usable >> 10));
}

/* test=de|ud|gp: make the CPU raise that exception for real; the handler reports and halts. */
static void run_exception_test(const char *which)
{
    kprintf("self-test: raising %s\n", which);
    if (strcmp(which, "de") == 0) {
        /* DIV by zero -> #DE (0), no error code */
        __asm__ volatile("xorl %%edx, %%edx\n\tmovl $1, %%eax\n\txorl %%ecx, %%ecx\n\tdivl %%ecx"
                         ::: "eax", "ecx", "edx");
    } else if (strcmp(which, "ud") == 0) {
        __asm__ volatile("ud2");    /* the architecturally undefined opcode -> #UD (6) */
    } else if (strcmp(which, "gp") == 0) {
        /* Selector 0x18 = GDT index 3, past the end of our 3-entry GDT -> #GP(0x18). */
        __asm__ volatile("movw $0x18, %%ax\n\tmovw %%ax, %%ds" ::: "eax");
    }
    panic("self-test %s: no exception was raised", which);
}

void kmain(uint32_t magic, const struct boot_info *boot)
{
    uint64_t t0 = cpu_rdtsc();
    serial_init();
    vga_init();
    vga_set_color(VGA_LIGHT_CYAN, VGA_BLACK);
    kprintf("BareFlow unikernel %s - kernel_lib runtime, 32-bit protected mode\n",
            BAREFLOW_VERSION);
    vga_set_color(VGA_LIGHT_GREY, VGA_BLACK);

    if (magic != KERNEL_BOOT_MAGIC || !boot || boot->magic != BOOT_INFO_MAGIC ||
        boot->version != BOOT_INFO_VERSION) {
        kprintf("boot: bad hand-off from the boot loader (eax=0x%08x, boot info at %p)\n",
                magic, (const void *)boot);
        halt_forever(HALT_BAD_BOOT);
    }
    memcpy(&bi, boot, sizeof bi);
    bi.cmdline[BOOT_CMDLINE_MAX - 1] = 0;
    if (bi.mmap_count > BOOT_MMAP_MAX)
        bi.mmap_count = BOOT_MMAP_MAX;

    interrupts_init();
    kprintf("cpu: GDT, IDT (32 exceptions + 16 IRQs), PIC remapped to 0x20/0x28, PIT %u Hz\n",
            TIMER_HZ);
    cpu_detect();
    print_cpu(cpu_enable_sse());
    kprintf("serial: COM1 115200 8N1, FIFO on, loopback test %s\n",
            serial_loopback_ok() ? "ok" : "FAILED");

    kprintf("boot: drive 0x%02x, A20 %s, kernel 0x%08x-0x%08x (%u bytes with BSS)\n",
            bi.boot_drive, a20_name(bi.a20_method), bi.kernel_addr, bi.kernel_end,
            bi.kernel_end - bi.kernel_addr);
    print_memory_map();
    uintptr_t used_top = (uintptr_t)__kernel_end;
    if (bi.model_size) {
        kprintf("model: %u bytes at 0x%08x\n", bi.model_size, bi.model_addr);
        if (bi.model_addr + bi.model_size > used_top)
            used_top = bi.model_addr + bi.model_size;
    } else {
        kprintf("model: none in this image\n");
    }
    if (bi.tokenizer_size) {
        kprintf("tokenizer: %u bytes at 0x%08x\n", bi.tokenizer_size, bi.tokenizer_addr);
        if (bi.tokenizer_addr + bi.tokenizer_size > used_top)
            used_top = bi.tokenizer_addr + bi.tokenizer_size;
    } else {
        kprintf("tokenizer: none in this image\n");
    }
    uintptr_t heap_start = align_up(used_top, 4096);
    if (bi.mem_top <= heap_start + 65536)
        panic("not enough memory: usable RAM ends at 0x%08x", bi.mem_top);
    heap_init(heap_start, bi.mem_top);
    struct heap_stats hs;
    heap_get_stats(&hs);
    kprintf("heap: 0x%08x-0x%08x, %u KiB free\n", (uint32_t)hs.start, (uint32_t)hs.end,
            (uint32_t)((hs.end - hs.start) >> 10));

    kprintf("keyboard: 8042 %s\n", keyboard_init() == 0 ? "self-test ok, keyboard enabled"
                                                        : "did not answer (no keyboard input)");

    char err[96];
    if (cmdline_parse(bi.cmdline, &cl, err, sizeof err) != 0) {
        vga_set_color(VGA_WHITE, VGA_RED);
        kprintf("cmdline: error: %s\n", err);
        kprintf("cmdline: \"%s\"\n", bi.cmdline);
        kprintf("*** halted (debug-exit status 0x%02x)\n", HALT_BAD_CMDLINE);
        halt_forever(HALT_BAD_CMDLINE);
    }
    kprintf("cmdline: \"%s\" (%d argument%s)\n", bi.cmdline, cl.argc, cl.argc == 1 ? "" : "s");
    for (int i = 0; i < cl.argc; i++)
        kprintf("  %s = \"%s\"\n", cl.args[i].key, cl.args[i].value);

    interrupts_enable();
    const char *test = cmdline_get(&cl, "test");
    if (test) {
        if (strcmp(test, "lib") == 0)
            selftest_run();
        if (strcmp(test, "input") == 0)
            selftest_input();
        if (strcmp(test, "keys") == 0)
            selftest_keys();
        if (strcmp(test, "blobs") == 0)
            selftest_blobs(&bi);
        if (strcmp(test, "de") && strcmp(test, "ud") && strcmp(test, "gp")) {
            kprintf("cmdline: error: test=%s is not one of de, ud, gp, lib, input, keys, blobs\n", test);
            kprintf("*** halted (debug-exit status 0x%02x)\n", HALT_BAD_CMDLINE);
            halt_forever(HALT_BAD_CMDLINE);
        }
        run_exception_test(test);
    }

    kprintf("[stats] kernel init: %llu cycles (rdtsc)\n", cpu_rdtsc() - t0);
    kprintf("kernel: calling app_main\n");
    int rc = app_main(&bi, &cl);

    heap_get_stats(&hs);
    kprintf("heap: %u allocations, %u frees, %u served from freed blocks, high-water %u bytes, "
            "%u in use\n", hs.allocs, hs.frees, hs.reused, (uint32_t)hs.high_water,
            (uint32_t)hs.in_use);
    kprintf("[stats] timer ticks: %llu (%u Hz), total cycles %llu\n", timer_ticks(), TIMER_HZ,
            cpu_rdtsc() - t0);
    kprintf("kernel: app_main returned %d, powering off\n", rc);
    power_off(rc);
}
