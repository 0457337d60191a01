/* format.c - a small printf: vsnprintf, snprintf, and kprintf to the console.
 *
 * Freestanding code has no libc, so this is the one formatter for the kernel and the app.
 * It formats into a buffer and never allocates.  Floats (%f) use the x87 and go through
 * 32-bit integers, so |value| must stay below 2^32 (larger values print as "big").
 */
#include "../runtime.h"

struct out {
    char *buf;
    size_t size, len;
};

static void emit(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_padded(struct out *o, const char *s, size_t n, int width, int left, char pad,
                        const char *prefix)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    int fill = width - (int)(n + plen);
    if (pad == '0' && !left) {      /* zeros go between the sign/0x and the digits */
        for (size_t i = 0; i < plen; i++)
            emit(o, prefix[i]);
        for (; fill > 0; fill--)
            emit(o, '0');
    } else {
        if (!left)
            for (; fill > 0; fill--)
                emit(o, ' ');
        for (size_t i = 0; i < plen; i++)
            emit(o, prefix[i]);
    }
    for (size_t i = 0; i < n; i++)
        emit(o, s[i]);
    for (; fill > 0; fill--)
        emit(o, ' ');
}

/* Digits of v in `base` into the end of tmp[]; returns the start. */
static char *utoa(char *end, uint64_t v, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    *--p = 0;
    do {
        *--p = digits[v % base];
        v /= base;
    } while (v);
    return p;
}

static void format_float(struct out *o, double v, int prec, int width, int left, char pad,
                         const char *sign_flag)
{
    char tmp[48];
    const char *prefix = "";
    if (prec < 0)
        prec = 6;
    if (prec > 9)
        prec = 9;
    if (v != v) {
        emit_padded(o, "nan", 3, width, left, ' ', NULL);
        return;
    }
    if (v < 0) {
        prefix = "-";
        v = -v;
    } else if (sign_flag) {
        prefix = sign_flag;
    }
    uint32_t scale = 1;
    for (int i = 0; i < prec; i++)
        scale *= 10;
    double rounded = v + 0.5 / scale;
    if (rounded >= 4294967295.0) {
        emit_padded(o, "big", 3, width, left, ' ', prefix);
        return;
    }
    uint32_t ip = (uint32_t)rounded;
    uint32_t fp = (uint32_t)((rounded - ip) * scale);
    if (fp >= scale)
        fp = scale - 1;
    char *p = utoa(tmp + 24, ip, 10, 0);
    size_t n = strlen(p);
    memmove(tmp, p, n);
    if (prec > 0) {
        tmp[n++] = '.';
        for (int i = prec - 1; i >= 0; i--) {
            tmp[n + i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        n += prec;
    }
    emit_padded(o, tmp, n, width, left, pad, prefix);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { buf, size, 0 };
    char tmp[32];
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(&o, *fmt);
            continue;
        }
        fmt++;
        int left = 0, plus = 0, space = 0, width = 0, prec = -1, lng = 0;
        char pad = ' ';
        for (;; fmt++) {
            if (*fmt == '-') left = 1;
            else if (*fmt == '0') pad = '0';
            else if (*fmt == '+') plus = 1;
            else if (*fmt == ' ') space = 1;
            else break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            prec = 0;
            if (*fmt == '*') {
                prec = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    prec = prec * 10 + (*fmt++ - '0');
            }
        }
        while (*fmt == 'l' || *fmt == 'z' || *fmt == 'h') {
            if (*fmt == 'l')
                lng++;
            fmt++;
        }
        const char *sign = plus ? "+" : space ? " " : NULL;
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng >= 2 ? va_arg(ap, long long) : (int64_t)va_arg(ap, long);
            const char *prefix = sign;
            uint64_t u = (uint64_t)v;
            if (v < 0) {
                prefix = "-";
                u = (uint64_t)0 - u;
            }
            char *p = utoa(tmp + sizeof tmp, u, 10, 0);
            emit_padded(&o, p, strlen(p), width, left, pad, prefix);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t u = lng >= 2 ? va_arg(ap, unsigned long long) : (uint64_t)va_arg(ap, unsigned long);
            unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
            char *p = utoa(tmp + sizeof tmp, u, base, *fmt == 'X');
            emit_padded(&o, p, strlen(p), width, left, pad, NULL);
            break;
        }
        case 'p': {
            char *p = utoa(tmp + sizeof tmp, (uintptr_t)va_arg(ap, void *), 16, 0);
            size_t n = strlen(p);
            while (n < 8) {         /* always 8 digits: addresses line up */
                *--p = '0';
                n++;
            }
            emit_padded(&o, p, n, width, left, ' ', "0x");
            break;
        }
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            emit_padded(&o, tmp, 1, width, left, ' ', NULL);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            size_t n = strlen(s);
            if (prec >= 0 && (size_t)prec < n)
                n = (size_t)prec;
            emit_padded(&o, s, n, width, left, ' ', NULL);
            break;
        }
        case 'f':
            format_float(&o, va_arg(ap, double), prec, width, left, pad, sign);
            break;
        case '%':
            emit(&o, '%');
            break;
        case 0:
            fmt--;                  /* a lone '%' at the end */
            break;
        default:                    /* unknown: print it as written */
            emit(&o, '%');
            emit(&o, *fmt);
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void console_putchar(char c)
{
    vga_putchar(c);
    serial_putchar(c);
}

void console_puts(const char *str)
{
    vga_puts(str);
    serial_puts(str);
}

int vkprintf(const char *fmt, va_list ap)
{
    char buf[512];                  /* longer output is cut, never overflowed */
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    console_puts(buf);
    return n;
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vkprintf(fmt, ap);
    va_end(ap);
    return n;
}
