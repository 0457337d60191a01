/* serial.c - the 16550 UART on COM1 (I/O base 0x3F8).
 *
 * Registers (offset from the base): 0 THR/RBR (or divisor low with LCR.DLAB=1),
 * 1 IER (or divisor high), 2 FCR (write) / IIR (read), 3 LCR, 4 MCR, 5 LSR.
 * Baud = 115200 / divisor.  We poll: LSR bit 5 (THRE) says the transmitter can take a byte,
 * LSR bit 0 (DR) says a received byte is waiting.
 */
#include "../runtime.h"

#define COM1 0x3F8
#define REG_DATA 0
#define REG_IER  1
#define REG_FCR  2
#define REG_LCR  3
#define REG_MCR  4
#define REG_LSR  5
#define LSR_DR   0x01
#define LSR_THRE 0x20

static int serial_ok, loopback_ok;

void serial_init(void)
{
    outb(COM1 + REG_IER, 0x00);        /* no UART interrupts: we poll */
    outb(COM1 + REG_LCR, 0x80);        /* DLAB=1: offsets 0/1 are the divisor latch */
    outb(COM1 + REG_DATA, 0x01);       /* divisor 1 = 115200 baud */
    outb(COM1 + REG_IER, 0x00);
    outb(COM1 + REG_LCR, 0x03);        /* DLAB=0, 8 data bits, no parity, 1 stop bit */
    outb(COM1 + REG_FCR, 0xC7);        /* FIFOs on, both cleared, RX trigger at 14 bytes */
    /* Loopback self-test: with MCR bit 4 the UART feeds THR straight back into RBR. */
    outb(COM1 + REG_MCR, 0x1E);
    outb(COM1 + REG_DATA, 0xAE);
    for (int i = 0; i < 100000 && !(inb(COM1 + REG_LSR) & LSR_DR); i++)
        ;
    int ok = (inb(COM1 + REG_LSR) & LSR_DR) && inb(COM1 + REG_DATA) == 0xAE;
    outb(COM1 + REG_MCR, 0x0B);        /* normal mode: DTR, RTS, OUT2 (the IRQ gate) */
    serial_ok = 1;                     /* transmit anyway: QEMU-style UARTs always accept */
    loopback_ok = ok;
}

int serial_loopback_ok(void)
{
    return loopback_ok;
}

static void tx(uint8_t b)
{
    /* Bounded wait: a UART that never drains must not hang the kernel. */
    for (int i = 0; i < 1000000 && !(inb(COM1 + REG_LSR) & LSR_THRE); i++)
        ;
    outb(COM1 + REG_DATA, b);
}

void serial_putchar(char c)
{
    if (!serial_ok)
        return;
    if (c == '\n')
        tx('\r');
    tx((uint8_t)c);
}

void serial_puts(const char *str)
{
    while (*str)
        serial_putchar(*str++);
}

void serial_write(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        serial_putchar(buf[i]);
}

int serial_getchar_nonblocking(void)
{
    if (inb(COM1 + REG_LSR) & LSR_DR)
        return inb(COM1 + REG_DATA);
    return -1;
}

int serial_getchar(void)
{
    int c;
    while ((c = serial_getchar_nonblocking()) < 0)
        __asm__ volatile("pause");
    return c;
}
