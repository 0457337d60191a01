/* vga.c - 80x25 colour text mode.
 *
 * The screen is 2000 16-bit cells at physical 0xB8000: low byte = character (code page 437),
 * high byte = attribute (background << 4 | foreground).  The blinking hardware cursor is not
 * part of that memory: it lives in the CRT controller, reached through an index port (0x3D4)
 * and a data port (0x3D5); registers 0x0E/0x0F hold the cell index of the cursor and
 * 0x0A/0x0B its first/last scan line (bit 5 of 0x0A hides it).
 */
#include "../runtime.h"

#define VGA_MEM     ((volatile uint16_t *)0xB8000)
#define CRTC_INDEX  0x3D4
#define CRTC_DATA   0x3D5

static int row, col;
static uint8_t attr = (VGA_BLACK << 4) | VGA_LIGHT_GREY;

static void crtc_write(uint8_t reg, uint8_t val)
{
    outb(CRTC_INDEX, reg);
    outb(CRTC_DATA, val);
}

static void update_cursor(void)
{
    uint16_t pos = (uint16_t)(row * VGA_COLS + col);
    crtc_write(0x0F, (uint8_t)(pos & 0xFF));
    crtc_write(0x0E, (uint8_t)(pos >> 8));
}

void vga_set_color(enum vga_color fg, enum vga_color bg)
{
    attr = (uint8_t)((bg << 4) | (fg & 0x0F));
}

void vga_clear(void)
{
    for (int i = 0; i < VGA_COLS * VGA_ROWS; i++)
        VGA_MEM[i] = (uint16_t)(attr << 8 | ' ');
    row = col = 0;
    update_cursor();
}

void vga_init(void)
{
    attr = (VGA_BLACK << 4) | VGA_LIGHT_GREY;
    crtc_write(0x0A, 14);           /* cursor visible (bit 5 = 0), scan lines 14..15: an underline */
    crtc_write(0x0B, 15);
    vga_clear();
}

/* Move every line up one and blank the last: the screen memory is the only copy. */
static void scroll(void)
{
    for (int i = 0; i < VGA_COLS * (VGA_ROWS - 1); i++)
        VGA_MEM[i] = VGA_MEM[i + VGA_COLS];
    for (int i = VGA_COLS * (VGA_ROWS - 1); i < VGA_COLS * VGA_ROWS; i++)
        VGA_MEM[i] = (uint16_t)(attr << 8 | ' ');
    row = VGA_ROWS - 1;
}

static void put_raw(char c)
{
    switch (c) {
    case '\n':
        col = 0;
        row++;
        break;
    case '\r':
        col = 0;
        break;
    case '\b':
        if (col > 0) {
            col--;
            VGA_MEM[row * VGA_COLS + col] = (uint16_t)(attr << 8 | ' ');
        }
        break;
    case '\t':
        col = (col + 8) & ~7;
        break;
    default:
        VGA_MEM[row * VGA_COLS + col] = (uint16_t)(attr << 8 | (uint8_t)c);
        col++;
    }
    if (col >= VGA_COLS) {
        col = 0;
        row++;
    }
    if (row >= VGA_ROWS)
        scroll();
}

void vga_putchar(char c)
{
    put_raw(c);
    update_cursor();
}

void vga_puts(const char *str)
{
    while (*str)
        put_raw(*str++);
    update_cursor();               /* once per string: four port writes saved per character */
}

void vga_set_cursor(int r, int c)
{
    if (r < 0 || r >= VGA_ROWS || c < 0 || c >= VGA_COLS)
        return;
    row = r;
    col = c;
    update_cursor();
}

void vga_get_cursor(int *r, int *c)
{
    if (r)
        *r = row;
    if (c)
        *c = col;
}
