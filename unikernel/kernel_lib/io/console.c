/* console.c - input from whichever of the keyboard and COM1 has a key.
 *
 * A person at the machine types on the PS/2 keyboard; a test harness or the emulator's host
 * terminal writes to the serial line.  The console reads both, so the same app works either
 * way.  Serial terminals send CR (and sometimes CR LF) for Enter and DEL for backspace; both
 * are normalised here to '\n' and '\b'.
 */
#include "../runtime.h"

static int last_was_cr;

int console_getchar_nonblocking(void)
{
    int c = keyboard_getchar_nonblocking();
    if (c >= 0)
        return c;
    c = serial_getchar_nonblocking();
    if (c < 0)
        return -1;
    if (c == '\n' && last_was_cr) {  /* the LF of a CR LF pair: already delivered */
        last_was_cr = 0;
        return -1;
    }
    last_was_cr = c == '\r';
    if (c == '\r')
        return '\n';
    if (c == 0x7F)
        return '\b';
    return c;
}

int console_getchar(void)
{
    int c;
    while ((c = console_getchar_nonblocking()) < 0) {
        uint32_t flags;
        __asm__ volatile("pushfl; popl %0" : "=r"(flags));
        if (flags & 0x200)
            __asm__ volatile("hlt");   /* the keyboard IRQ or the next timer tick wakes us */
        else
            __asm__ volatile("pause");
    }
    return c;
}

int console_readline(char *buf, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return -1;
    for (;;) {
        int c = console_getchar();
        if (c == '\n') {
            console_putchar('\n');
            break;
        }
        if (c == '\b') {
            if (n > 0) {
                n--;
                console_puts("\b \b");
            }
            continue;
        }
        if (c < 0x20 || c > 0x7E || n + 1 >= size)
            continue;               /* control keys, arrows, or the line is full */
        buf[n++] = (char)c;
        console_putchar((char)c);
    }
    buf[n] = 0;
    return (int)n;
}
