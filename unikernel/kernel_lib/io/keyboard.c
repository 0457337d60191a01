/* keyboard.c - the 8042 PS/2 controller and the keyboard behind it.
 *
 * Port 0x64 read = status (bit 0: output buffer full - a byte waits at 0x60; bit 1: input
 * buffer full - the controller has not taken our last byte yet; bit 5: the byte is from the
 * mouse port).  Port 0x64 write = controller command, port 0x60 = data both ways.
 * With "translation" on (controller configuration bit 6) the keyboard's scancode set 2 reaches
 * us as set 1: one byte per key press (make code), the same | 0x80 on release (break code),
 * 0xE0 before the extended keys (arrows, right ctrl).
 * IRQ1 fires when a byte arrives; the handler decodes it into a small ring buffer.
 */
#include "../runtime.h"

#define KBC_DATA   0x60
#define KBC_STATUS 0x64
#define KBC_CMD    0x64
#define ST_OUT_FULL 0x01
#define ST_IN_FULL  0x02
#define ST_AUX      0x20

/* Scancode set 1 -> ASCII, without and with shift.  0 = not a character key. */
static const char map_plain[0x3A] = {
    0, 27, '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', '\b', '\t',
    'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\n', 0, 'a', 's',
    'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`', 0, '\\', 'z', 'x', 'c', 'v',
    'b', 'n', 'm', ',', '.', '/', 0, '*', 0, ' ',
};
static const char map_shift[0x3A] = {
    0, 27, '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', '\b', '\t',
    'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\n', 0, 'A', 'S',
    'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~', 0, '|', 'Z', 'X', 'C', 'V',
    'B', 'N', 'M', '<', '>', '?', 0, '*', 0, ' ',
};

#define SC_LCTRL  0x1D
#define SC_LSHIFT 0x2A
#define SC_RSHIFT 0x36
#define SC_CAPS   0x3A
#define SC_F1     0x3B

static int shift, ctrl, caps, extended;

#define RING 64
static volatile int ring[RING];
static volatile unsigned ring_head, ring_tail;

static int wait_in_empty(void)
{
    for (int i = 0; i < 100000; i++)
        if (!(inb(KBC_STATUS) & ST_IN_FULL))
            return 0;
    return -1;
}

static int read_data(void)
{
    for (int i = 0; i < 1000000; i++)
        if (inb(KBC_STATUS) & ST_OUT_FULL)
            return inb(KBC_DATA);
    return -1;
}

static void kbc_command(uint8_t cmd)
{
    wait_in_empty();
    outb(KBC_CMD, cmd);
}

static void kbc_data(uint8_t v)
{
    wait_in_empty();
    outb(KBC_DATA, v);
}

/* Decode one set-1 byte; returns a key code or -1 (modifier, release, prefix). */
static int decode(uint8_t sc)
{
    if (sc == 0xE0) {
        extended = 1;
        return -1;
    }
    int release = sc & 0x80;
    uint8_t code = sc & 0x7F;
    if (extended) {
        extended = 0;
        if (code == SC_LCTRL) {     /* right ctrl */
            ctrl = !release;
            return -1;
        }
        if (release)
            return -1;
        switch (code) {
        case 0x48: return KEY_UP;
        case 0x50: return KEY_DOWN;
        case 0x4B: return KEY_LEFT;
        case 0x4D: return KEY_RIGHT;
        case 0x1C: return '\n';     /* keypad enter */
        default: return -1;
        }
    }
    switch (code) {
    case SC_LSHIFT:
    case SC_RSHIFT:
        shift = !release;
        return -1;
    case SC_LCTRL:
        ctrl = !release;
        return -1;
    case SC_CAPS:
        if (!release)
            caps = !caps;
        return -1;
    }
    if (release)
        return -1;
    if (code >= SC_F1 && code < SC_F1 + 10)
        return KEY_F1 + (code - SC_F1);
    if (code >= sizeof map_plain)
        return -1;
    char c = map_plain[code];
    if (!c)
        return -1;
    int letter = c >= 'a' && c <= 'z';
    if (letter && ctrl)
        return c & 0x1F;            /* ctrl-A = 1 ... ctrl-Z = 26 */
    int upper = letter ? (shift ^ caps) : shift;
    return upper ? map_shift[code] : c;
}

static void push_key(int k)
{
    unsigned next = (ring_head + 1) % RING;
    if (next != ring_tail) {        /* full: drop the key rather than overwrite */
        ring[ring_head] = k;
        ring_head = next;
    }
}

static void keyboard_irq(int irq)
{
    (void)irq;
    uint8_t st = inb(KBC_STATUS);
    if (!(st & ST_OUT_FULL))
        return;
    uint8_t sc = inb(KBC_DATA);
    if (st & ST_AUX)
        return;                     /* a mouse byte: not ours */
    int k = decode(sc);
    if (k >= 0)
        push_key(k);
}

int keyboard_init(void)
{
    kbc_command(0xAD);              /* disable the keyboard port while we configure */
    kbc_command(0xA7);              /* and the mouse port */
    while (inb(KBC_STATUS) & ST_OUT_FULL)
        inb(KBC_DATA);              /* drop stale bytes */
    kbc_command(0xAA);              /* controller self-test: 0x55 = passed */
    int ok = read_data() == 0x55;
    kbc_command(0x20);              /* read the configuration byte */
    int cfg = read_data();
    if (cfg < 0)
        cfg = 0;
    cfg |= 0x01;                    /* IRQ1 on */
    cfg &= ~0x02;                   /* IRQ12 off */
    cfg |= 0x40;                    /* translation: we decode set 1 */
    cfg &= ~0x10;                   /* keyboard clock enabled */
    kbc_command(0x60);
    kbc_data((uint8_t)cfg);
    kbc_command(0xAE);              /* keyboard port on */
    kbc_data(0xFF);                 /* keyboard reset: 0xFA (ack), then 0xAA (self-test passed) */
    ok = ok && read_data() == 0xFA && read_data() == 0xAA;
    kbc_data(0xF4);                 /* enable scanning */
    ok = ok && read_data() == 0xFA;
    shift = ctrl = caps = extended = 0;
    ring_head = ring_tail = 0;
    irq_set_handler(1, keyboard_irq);
    return ok ? 0 : -1;
}

int keyboard_getchar_nonblocking(void)
{
    uint32_t flags;
    __asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) :: "memory");
    /* With IRQ1 masked or interrupts off, nobody empties the controller: poll it here. */
    while (ring_head == ring_tail && (inb(KBC_STATUS) & ST_OUT_FULL))
        keyboard_irq(1);
    int k = -1;
    if (ring_head != ring_tail) {
        k = ring[ring_tail];
        ring_tail = (ring_tail + 1) % RING;
    }
    if (flags & 0x200)
        __asm__ volatile("sti" ::: "memory");
    return k;
}

int keyboard_getchar(void)
{
    int k;
    while ((k = keyboard_getchar_nonblocking()) < 0) {
        uint32_t flags;
        __asm__ volatile("pushfl; popl %0" : "=r"(flags));
        if (flags & 0x200)
            __asm__ volatile("hlt");   /* sleep until the next interrupt (IRQ1 or the tick) */
        else
            __asm__ volatile("pause");
    }
    return k;
}
