/* interrupts.c - GDT, IDT, the 8259 PICs, the 8254 PIT, and what happens on an exception.
 *
 * GDT: stage 2's flat table lives in its own memory; the kernel installs its own copy
 * (null, 0x08 code, 0x10 data, all base 0 limit 4 GiB) so it depends on nothing below 1 MiB.
 * IDT: 48 interrupt gates (type 0xE: IF is cleared on entry) - vectors 0..31 are the CPU's
 * exceptions, 32..47 the 16 IRQs.  The rest are left not-present: an `int n` to them raises
 * #NP (11) and is reported like any unexpected exception.
 * PIC: the BIOS leaves IRQ 0..7 on vectors 8..15, which collide with CPU exceptions (8 = #DF),
 * so both 8259s are re-initialised (ICW1..ICW4) to put IRQ 0..15 on vectors 32..47.
 * PIT: channel 0 as a rate generator (mode 2) at 100 Hz drives IRQ0, the kernel's tick.
 */
#include "../runtime.h"

struct isr_frame {                  /* as built by isr_common in isr.S, lowest address first */
    uint32_t gs, fs, es, ds;
    uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
    uint32_t vector, err;
    uint32_t eip, cs, eflags;       /* pushed by the CPU */
};

struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t zero, type_attr;
    uint16_t offset_hi;
} __attribute__((packed));

struct table_ptr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

extern const uint32_t isr_stub_table[48];
void isr_dispatch(struct isr_frame *f);

static const uint64_t gdt[3] __attribute__((aligned(8))) = {
    0,                              /* null: loading it into DS is allowed, using it #GPs */
    0x00CF9A000000FFFFull,          /* 0x08 code: present, ring 0, exec/read, 4 KiB granular, 32-bit */
    0x00CF92000000FFFFull,          /* 0x10 data: present, ring 0, read/write */
};
static struct idt_gate idt[256] __attribute__((aligned(8)));
static irq_handler_t irq_handlers[16];
static volatile uint64_t ticks;
static volatile int in_exception;

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_EOI 0x20

static void io_wait(void)
{
    outb(0x80, 0);                  /* the POST code port: a harmless ~1 us delay for old PICs */
}

static void load_gdt(void)
{
    struct table_ptr p = { sizeof gdt - 1, (uint32_t)(uintptr_t)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "ljmp $0x08, $1f\n"          /* CS reloads only through a far jump */
        "1:\n\t"
        "movw $0x10, %%ax\n\t"
        "movw %%ax, %%ds\n\t"
        "movw %%ax, %%es\n\t"
        "movw %%ax, %%fs\n\t"
        "movw %%ax, %%gs\n\t"
        "movw %%ax, %%ss\n\t"
        :: "m"(p) : "eax", "memory");
}

static void set_gate(int vec, uint32_t handler)
{
    idt[vec].offset_lo = handler & 0xFFFF;
    idt[vec].selector = 0x08;
    idt[vec].zero = 0;
    idt[vec].type_attr = 0x8E;      /* present, DPL 0, 32-bit interrupt gate */
    idt[vec].offset_hi = handler >> 16;
}

static void pic_remap(void)
{
    outb(PIC1_CMD, 0x11); io_wait();   /* ICW1: edge triggered, cascade, ICW4 follows */
    outb(PIC2_CMD, 0x11); io_wait();
    outb(PIC1_DATA, 0x20); io_wait();  /* ICW2: vector bases 32 and 40 */
    outb(PIC2_DATA, 0x28); io_wait();
    outb(PIC1_DATA, 0x04); io_wait();  /* ICW3: the slave hangs on master IRQ2 */
    outb(PIC2_DATA, 0x02); io_wait();  /*       and knows its cascade identity is 2 */
    outb(PIC1_DATA, 0x01); io_wait();  /* ICW4: 8086 mode, normal EOI */
    outb(PIC2_DATA, 0x01); io_wait();
    outb(PIC1_DATA, 0xF8);             /* unmask IRQ0 (timer), IRQ1 (keyboard), IRQ2 (cascade) */
    outb(PIC2_DATA, 0xFF);
}

static void pit_init(void)
{
    uint16_t divisor = (uint16_t)((1193182 + TIMER_HZ / 2) / TIMER_HZ);
    outb(0x43, 0x34);               /* channel 0, low then high byte, mode 2, binary */
    outb(0x40, divisor & 0xFF);
    outb(0x40, divisor >> 8);
}

static void timer_irq(int irq)
{
    (void)irq;
    ticks++;
}

void interrupts_init(void)
{
    load_gdt();
    for (int v = 0; v < 48; v++)
        set_gate(v, isr_stub_table[v]);
    struct table_ptr p = { sizeof idt - 1, (uint32_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(p));
    pic_remap();
    pit_init();
    irq_handlers[0] = timer_irq;
}

void interrupts_enable(void) { __asm__ volatile("sti" ::: "memory"); }
void interrupts_disable(void) { __asm__ volatile("cli" ::: "memory"); }

uint64_t timer_ticks(void)
{
    uint64_t t;
    uint32_t flags;
    __asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) :: "memory");
    t = ticks;                      /* two 32-bit reads: keep IRQ0 out of the middle */
    if (flags & 0x200)
        __asm__ volatile("sti" ::: "memory");
    return t;
}

void irq_set_handler(int irq, irq_handler_t h)
{
    if (irq >= 0 && irq < 16)
        irq_handlers[irq] = h;
}

static const char *const exc_mnemonic[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
    "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};
static const char *const exc_name[32] = {
    "Divide Error", "Debug", "Non-Maskable Interrupt", "Breakpoint", "Overflow",
    "BOUND Range Exceeded", "Invalid Opcode", "Device Not Available", "Double Fault",
    "Coprocessor Segment Overrun", "Invalid TSS", "Segment Not Present", "Stack-Segment Fault",
    "General Protection Fault", "Page Fault", "Reserved", "x87 Floating-Point Error",
    "Alignment Check", "Machine Check", "SIMD Floating-Point Exception",
    "Virtualization Exception", "Control Protection Exception", "Reserved", "Reserved",
    "Reserved", "Reserved", "Reserved", "Reserved", "Hypervisor Injection Exception",
    "VMM Communication Exception", "Security Exception", "Reserved",
};

static void exception_report(const struct isr_frame *f)
{
    uint32_t cr0, cr2, cr3, cr4;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    /* Same privilege level: the CPU pushed no SS:ESP, so the interrupted ESP is just above
     * the EFLAGS it pushed. */
    uint32_t esp = (uint32_t)(uintptr_t)&f->eflags + 4;
    vga_set_color(VGA_WHITE, VGA_RED);
    kprintf("\n*** EXCEPTION %s (%u) %s err=0x%08x eip=0x%08x\n",
            exc_mnemonic[f->vector], f->vector, exc_name[f->vector], f->err, f->eip);
    kprintf("    eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x\n", f->eax, f->ebx, f->ecx, f->edx);
    kprintf("    esi=0x%08x edi=0x%08x ebp=0x%08x esp=0x%08x\n", f->esi, f->edi, f->ebp, esp);
    kprintf("    cs=%04x ds=%04x es=%04x fs=%04x gs=%04x eflags=0x%08x\n",
            f->cs & 0xFFFF, f->ds & 0xFFFF, f->es & 0xFFFF, f->fs & 0xFFFF, f->gs & 0xFFFF,
            f->eflags);
    kprintf("    cr0=0x%08x cr2=0x%08x cr3=0x%08x cr4=0x%08x\n", cr0, cr2, cr3, cr4);
    if (f->vector == 13 || f->vector == 10 || f->vector == 11 || f->vector == 12) {
        /* Selector error code: bit 0 external, bit 1 IDT, bit 2 LDT, bits 3.. the index. */
        if (f->err)
            kprintf("    error code: %s selector index %u%s\n",
                    (f->err & 2) ? "IDT" : (f->err & 4) ? "LDT" : "GDT", f->err >> 3,
                    (f->err & 1) ? " (external event)" : "");
    }
    kprintf("*** halted (debug-exit status 0x%02x)\n", HALT_EXCEPTION_BASE + f->vector);
}

void isr_dispatch(struct isr_frame *f)
{
    if (f->vector < 32) {
        if (in_exception) {         /* a fault inside the report: say so with no formatting */
            serial_puts("\n*** EXCEPTION while reporting an exception\n");
            halt_forever(HALT_EXCEPTION_BASE + 8);
        }
        in_exception = 1;
        exception_report(f);
        halt_forever(HALT_EXCEPTION_BASE + (int)f->vector);
    }
    int irq = (int)f->vector - 32;
    if (irq == 7 || irq == 15) {
        /* Spurious IRQ: the PIC raised INTR, then the request went away.  The in-service
         * register (OCW3 0x0B) tells: no bit set = spurious, and no EOI is owed to that chip
         * (but the master still owes one for the cascade when the slave was spurious). */
        uint16_t cmd = irq == 7 ? PIC1_CMD : PIC2_CMD;
        outb(cmd, 0x0B);
        if (!(inb(cmd) & 0x80)) {
            if (irq == 15)
                outb(PIC1_CMD, PIC_EOI);
            return;
        }
    }
    if (irq_handlers[irq])
        irq_handlers[irq](irq);
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}
