/* runtime.h - the public API of kernel_lib.a: I/O, memory, CPU.
 *
 * BareFlow is a unikernel: the application links this library statically and calls it
 * directly in ring 0 - no syscalls.  The names and signatures of the seed design
 * (vga_*, serial_*, keyboard_getchar, malloc/free, mem*, cpu_rdtsc, cpu_cpuid) are the
 * contract; the rest are additions the kernel and the app need.
 */
#ifndef BAREFLOW_RUNTIME_H
#define BAREFLOW_RUNTIME_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "boot_info.h"
#include "cmdline.h"

/* ---------------------------------------------------------------- I/O: VGA text */
enum vga_color {
    VGA_BLACK, VGA_BLUE, VGA_GREEN, VGA_CYAN, VGA_RED, VGA_MAGENTA, VGA_BROWN, VGA_LIGHT_GREY,
    VGA_DARK_GREY, VGA_LIGHT_BLUE, VGA_LIGHT_GREEN, VGA_LIGHT_CYAN, VGA_LIGHT_RED,
    VGA_LIGHT_MAGENTA, VGA_YELLOW, VGA_WHITE,
};
#define VGA_COLS 80
#define VGA_ROWS 25

void vga_init(void);                       /* clear, cursor on, light grey on black */
void vga_putchar(char c);                  /* \n \r \b \t handled; scrolls at the bottom */
void vga_puts(const char *str);
void vga_set_color(enum vga_color fg, enum vga_color bg);
void vga_clear(void);
void vga_set_cursor(int row, int col);     /* moves the hardware cursor (CRTC 0x0E/0x0F) */
void vga_get_cursor(int *row, int *col);

/* ---------------------------------------------------------------- I/O: COM1 16550 */
void serial_init(void);                    /* 115200 8N1, FIFOs, loopback self-test */
int serial_loopback_ok(void);              /* 1 if serial_init's loopback test passed */
void serial_putchar(char c);               /* '\n' goes out as "\r\n" */
void serial_puts(const char *str);
void serial_write(const char *buf, size_t n);
int serial_getchar(void);                  /* blocks */
int serial_getchar_nonblocking(void);      /* -1 when nothing was received */

/* ---------------------------------------------------------------- I/O: PS/2 keyboard */
int keyboard_init(void);                   /* 0 ok, -1 no controller/keyboard answered */
int keyboard_getchar(void);                /* blocks; ASCII, or KEY_* codes below */
int keyboard_getchar_nonblocking(void);    /* -1 when no key is waiting */
#define KEY_UP    0x101
#define KEY_DOWN  0x102
#define KEY_LEFT  0x103
#define KEY_RIGHT 0x104
#define KEY_F1    0x110                    /* F1..F10 = KEY_F1 + 0..9 */

/* ---------------------------------------------------------------- console = VGA + serial */
void console_putchar(char c);
void console_puts(const char *str);
/* Input from the keyboard or COM1, whichever has a key (CR -> '\n', DEL -> '\b'). */
int console_getchar(void);                 /* blocks (hlt between polls when IF=1) */
int console_getchar_nonblocking(void);     /* -1 when neither has input */
/* Reads a line with echo and backspace; returns its length, without the newline. */
int console_readline(char *buf, size_t size);
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vkprintf(const char *fmt, va_list ap);
/* %d %i %u %x %X %o %c %s %p %% with flags "-0+ ", width, precision, l/ll/z length,
 * and %f/%e-less floats: %f with precision (|value| < 2^32).  Returns the untruncated length. */
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---------------------------------------------------------------- memory */
void heap_init(uintptr_t start, uintptr_t end);
void *malloc(size_t size);                 /* 16-byte aligned; NULL when the heap is full */
void free(void *ptr);
void *calloc(size_t n, size_t size);
void *realloc(void *ptr, size_t size);
struct heap_stats {
    size_t start, end;                     /* the heap's address range */
    size_t in_use;                         /* bytes in allocated blocks (with headers) */
    size_t high_water;                     /* the largest in_use ever seen */
    size_t brk;                            /* bytes ever carved from the top (reuse keeps it low) */
    uint32_t allocs, frees, reused;        /* reused: allocations served from freed blocks */
};
void heap_get_stats(struct heap_stats *st);

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strncpy(char *dst, const char *src, size_t n);

/* ---------------------------------------------------------------- CPU */
uint64_t cpu_rdtsc(void);
void cpu_cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx);

struct cpu_info {
    char vendor[13];
    char brand[49];                        /* "" when CPUID 0x80000004 is missing */
    uint32_t max_leaf, max_ext_leaf;
    uint32_t family, model, stepping;
    uint32_t edx1, ecx1;                   /* CPUID.1 feature words */
    int has_tsc, has_fpu, has_mmx, has_fxsr, has_sse, has_sse2, has_sse3, has_ssse3;
    int has_sse41, has_sse42, has_cmov, has_cx8, has_apic;
    int sse_enabled;                       /* set by cpu_enable_sse() */
};
void cpu_detect(void);                     /* fills the info once (CPUID) */
const struct cpu_info *cpu_get_info(void);
int cpu_enable_sse(void);                  /* FPU init + CR0/CR4 bits; 0 ok, -1 no SSE */
/* Writes the names of the present features, space-separated, into buf. */
void cpu_features_string(char *buf, size_t size);

/* ---------------------------------------------------------------- interrupts and time */
void interrupts_init(void);                /* GDT, IDT (32 exceptions + 16 IRQs), PIC, PIT */
void interrupts_enable(void);
void interrupts_disable(void);
uint64_t timer_ticks(void);                /* PIT IRQ0 ticks since interrupts_init */
#define TIMER_HZ 100
/* Register a handler for IRQ 0..15 (the kernel's own timer/keyboard handlers come first). */
typedef void (*irq_handler_t)(int irq);
void irq_set_handler(int irq, irq_handler_t h);

/* The port I/O the drivers use, exported for the app's own experiments. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---------------------------------------------------------------- power */
/* Debug-exit status (port 0xF4), then the ACPI/port shutdowns, then cli;hlt. */
void power_off(int status) __attribute__((noreturn));
/* Fatal stop: debug-exit status (so test harnesses end), then cli;hlt for good. */
void halt_forever(int status) __attribute__((noreturn));
/* Prints "*** PANIC: <message>" on screen and serial, then halt_forever(HALT_PANIC). */
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Debug-exit statuses the kernel uses (QEMU's process exit code is status*2+1). */
#define HALT_EXCEPTION_BASE 0x40           /* + vector number */
#define HALT_BAD_CMDLINE    0x70
#define HALT_BAD_BOOT       0x71
#define HALT_PANIC          0x72

#endif
