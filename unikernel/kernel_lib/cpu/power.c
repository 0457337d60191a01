/* power.c - ending the run: debug exit, ACPI/port shutdowns, halt.
 *
 * QEMU's isa-debug-exit device (and the BareFlow emulator's) ends the emulator when a value
 * is written to port 0xF4; the process exit code is (value << 1) | 1.  On a real PC nothing
 * listens there, so we go on to the well-known "soft off" ports: PIIX4 ACPI PM1a control
 * in QEMU's i440fx machine (0x604), Bochs/old QEMU (0xB004), VirtualBox (0x4004) - writing
 * SLP_TYP/SLP_EN there is what an ACPI S5 transition does.  If nothing turned us off: halt.
 */
#include "../runtime.h"

static void debug_exit(int status)
{
    outl(0xF4, (uint32_t)status);
}

static void __attribute__((noreturn)) hang(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void power_off(int status)
{
    __asm__ volatile("cli");
    debug_exit(status);
    outw(0x604, 0x2000);            /* QEMU i440fx / PIIX4: SLP_TYP=0 (S5), SLP_EN */
    outw(0xB004, 0x2000);           /* Bochs, old QEMU */
    outw(0x4004, 0x3400);           /* VirtualBox */
    hang();
}

void halt_forever(int status)
{
    __asm__ volatile("cli");
    debug_exit(status);             /* lets test harnesses finish; real hardware just halts */
    hang();
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    __asm__ volatile("cli");
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    vga_set_color(VGA_WHITE, VGA_RED);
    kprintf("\n*** PANIC: %s\n", buf);
    halt_forever(HALT_PANIC);
}
