"""INT 16h and the IRQ1 (INT 09h) handler: scancodes from the 8042 into the BDA ring buffer.

The IRQ1 handler reads port 64h/60h through the bus like firmware, translates scancode set 1
(the 8042 translates the keyboard's set 2) into (scan, ascii) keycodes with the US layout and
the shift/ctrl/alt/lock state kept in the BDA, and queues them in the 16-slot ring at
0x41E..0x43D (head 0x41A, tail 0x41C; one slot always stays free).  The keycode tables and the
state machine follow SeaBIOS src/kbd.c (modern version): the same key gives the same word.

BDA flags: 0x417 (16 bits) = KF0_*; 0x496 = KF1_* (E0/E1 prefix seen, right ctrl/alt).
"""
from __future__ import annotations

from . import cost
from .frame import BiosCpu, rd8, rd16, set_zf, wr8, wr16
from .rom import KBD_BUF_START

# BDA 0x417 (word)
KF0_RSHIFT, KF0_LSHIFT, KF0_CTRLACTIVE, KF0_ALTACTIVE = 0x0001, 0x0002, 0x0004, 0x0008
KF0_SCROLLACTIVE, KF0_NUMACTIVE, KF0_CAPSACTIVE = 0x0010, 0x0020, 0x0040
KF0_LCTRL, KF0_LALT, KF0_SCROLL, KF0_NUM, KF0_CAPS = 0x0100, 0x0200, 0x1000, 0x2000, 0x4000
# BDA 0x496
KF1_LAST_E1, KF1_LAST_E0, KF1_RCTRL, KF1_RALT = 0x01, 0x02, 0x04, 0x08

BDA_FLAG0, BDA_BREAK, BDA_HEAD, BDA_TAIL = 0x417, 0x471, 0x41A, 0x41C
BDA_START, BDA_END, BDA_FLAG1, BDA_LED = 0x480, 0x482, 0x496, 0x497

# scancode -> (normal, shift, control, alt) keycodes; 0 = the combination gives no key.
_LETTERS = "qwertyuiop" + "asdfghjkl" + "zxcvbnm"
_LETTER_SC = list(range(0x10, 0x1A)) + list(range(0x1E, 0x27)) + list(range(0x2C, 0x33))
KEYMAP: dict[int, tuple[int, int, int, int]] = {
    0x01: (0x011B, 0x011B, 0x011B, 0x01F0),                 # Esc
    0x02: (0x0231, 0x0221, 0, 0x7800), 0x03: (0x0332, 0x0340, 0x0300, 0x7900),
    0x04: (0x0433, 0x0423, 0, 0x7A00), 0x05: (0x0534, 0x0524, 0, 0x7B00),
    0x06: (0x0635, 0x0625, 0, 0x7C00), 0x07: (0x0736, 0x075E, 0x071E, 0x7D00),
    0x08: (0x0837, 0x0826, 0, 0x7E00), 0x09: (0x0938, 0x092A, 0, 0x7F00),
    0x0A: (0x0A39, 0x0A28, 0, 0x8000), 0x0B: (0x0B30, 0x0B29, 0, 0x8100),
    0x0C: (0x0C2D, 0x0C5F, 0x0C1F, 0x8200), 0x0D: (0x0D3D, 0x0D2B, 0, 0x8300),
    0x0E: (0x0E08, 0x0E08, 0x0E7F, 0x0EF0),                 # Backspace
    0x0F: (0x0F09, 0x0F00, 0x9400, 0xA5F0),                 # Tab
    0x1A: (0x1A5B, 0x1A7B, 0x1A1B, 0x1AF0), 0x1B: (0x1B5D, 0x1B7D, 0x1B1D, 0x1BF0),
    0x1C: (0x1C0D, 0x1C0D, 0x1C0A, 0x1CF0),                 # Enter
    0x27: (0x273B, 0x273A, 0, 0x27F0), 0x28: (0x2827, 0x2822, 0, 0x28F0),
    0x29: (0x2960, 0x297E, 0, 0x29F0), 0x2B: (0x2B5C, 0x2B7C, 0x2B1C, 0x2BF0),
    0x33: (0x332C, 0x333C, 0, 0x33F0), 0x34: (0x342E, 0x343E, 0, 0x34F0),
    0x35: (0x352F, 0x353F, 0, 0x35F0),
    0x37: (0x372A, 0x372A, 0x9600, 0x37F0),                 # keypad *
    0x39: (0x3920, 0x3920, 0x3920, 0x3920),                 # space
    0x47: (0x4700, 0x4737, 0x7700, 0), 0x48: (0x4800, 0x4838, 0x8D00, 0),
    0x49: (0x4900, 0x4939, 0x8400, 0), 0x4A: (0x4A2D, 0x4A2D, 0x8E00, 0x4AF0),
    0x4B: (0x4B00, 0x4B34, 0x7300, 0), 0x4C: (0x4C00, 0x4C35, 0x8F00, 0),
    0x4D: (0x4D00, 0x4D36, 0x7400, 0), 0x4E: (0x4E2B, 0x4E2B, 0x9000, 0x4EF0),
    0x4F: (0x4F00, 0x4F31, 0x7500, 0), 0x50: (0x5000, 0x5032, 0x9100, 0),
    0x51: (0x5100, 0x5133, 0x7600, 0), 0x52: (0x5200, 0x5230, 0x9200, 0),
    0x53: (0x5300, 0x532E, 0x9300, 0),
    0x56: (0x565C, 0x567C, 0, 0),
    0x57: (0x8500, 0x8700, 0x8900, 0x8B00), 0x58: (0x8600, 0x8800, 0x8A00, 0x8C00),   # F11, F12
}
for _ch, _sc in zip(_LETTERS, _LETTER_SC):
    KEYMAP[_sc] = ((_sc << 8) | ord(_ch), (_sc << 8) | ord(_ch.upper()),
                   (_sc << 8) | (ord(_ch) - 0x60), _sc << 8)
for _i in range(10):                                           # F1..F10
    KEYMAP[0x3B + _i] = ((0x3B + _i) << 8, (0x54 + _i) << 8, (0x5E + _i) << 8, (0x68 + _i) << 8)
#: E0 1C (keypad Enter) and E0 35 (keypad /) have their own keycodes.
KEY_EXT_ENTER = (0xE00D, 0xE00D, 0xE00A, 0xA600)
KEY_EXT_SLASH = (0xE02F, 0xE02F, 0x9500, 0xA400)


class Keyboard:
    """The BDA keyboard state machine, INT 16h and the IRQ1 handler."""

    def __init__(self, bus, trace=None) -> None:
        self.bus = bus
        self.trace = trace

    # -- ring buffer ----------------------------------------------------------------------
    @staticmethod
    def enqueue(cpu: BiosCpu, keycode: int) -> bool:
        start, end = rd16(cpu, BDA_START), rd16(cpu, BDA_END)
        head, tail = rd16(cpu, BDA_HEAD), rd16(cpu, BDA_TAIL)
        new_tail = tail + 2
        if new_tail >= end:
            new_tail = start
        if new_tail == head:
            return False                       # full: one slot always stays free
        wr16(cpu, 0x400 + tail, keycode)
        wr16(cpu, BDA_TAIL, new_tail)
        return True

    @staticmethod
    def _peek(cpu: BiosCpu) -> int | None:
        head, tail = rd16(cpu, BDA_HEAD), rd16(cpu, BDA_TAIL)
        return None if head == tail else rd16(cpu, 0x400 + head)

    @staticmethod
    def _advance(cpu: BiosCpu) -> None:
        start, end = rd16(cpu, BDA_START), rd16(cpu, BDA_END)
        head = rd16(cpu, BDA_HEAD) + 2
        wr16(cpu, BDA_HEAD, start if head >= end else head)

    @staticmethod
    def _translate(keycode: int, extended: bool) -> int:
        """What AH=00h/01h (non-extended) or 10h/11h return for a stored keycode."""
        ascii_ = keycode & 0xFF
        if not extended:
            if ascii_ == 0xE0 and keycode & 0xFF00:
                keycode &= 0xFF00
            elif keycode in (0xE00D, 0xE00A):
                keycode = 0x1C00 | ascii_
            elif keycode == 0xE02F:
                keycode = 0x352F
        if ascii_ == 0xF0 and keycode & 0xFF00:
            keycode &= 0xFF00
        return keycode

    # -- INT 16h --------------------------------------------------------------------------
    def int16(self, cpu: BiosCpu) -> int | None:
        self._sync_leds(cpu)
        ah = cpu.get("ah")
        if ah in (0x00, 0x10):
            key = self._peek(cpu)
            if key is None:
                return None                    # wait for IRQ1 to fill the buffer
            cpu.set("ax", self._translate(key, ah == 0x10))
            self._advance(cpu)
        elif ah in (0x01, 0x11):
            key = self._peek(cpu)
            set_zf(cpu, key is None)
            if key is not None:
                cpu.set("ax", self._translate(key, ah == 0x11))
        elif ah == 0x02:
            cpu.set("al", rd8(cpu, BDA_FLAG0))
        elif ah == 0x05:
            cpu.set("al", 0 if self.enqueue(cpu, cpu.get("cx")) else 1)
        elif ah == 0x09:
            cpu.set("al", 0x30)                # AH=10h-12h and 0Ah supported
        elif ah == 0x12:
            f0, f1 = rd16(cpu, BDA_FLAG0), rd8(cpu, BDA_FLAG1)
            rr = KF1_RCTRL | KF1_RALT
            cpu.set("ax", (f0 & ~(rr << 8) & 0xFFFF) | ((f1 & rr) << 8))
        elif ah == 0x92:
            cpu.set("ah", 0x80)
        elif ah == 0x6F and cpu.get("al") == 0x08:
            cpu.set("ah", 2)
        # anything else: registers untouched, as SeaBIOS's warn_unimplemented
        return cost.SERVICE

    @staticmethod
    def _sync_leds(cpu: BiosCpu) -> None:
        """Keep BDA 0x497's LED bits in step with the lock states (the LED command itself is
        not sent to the keyboard: it has no visible effect on an emulated one)."""
        want = (rd8(cpu, BDA_FLAG0) >> 4) & 0x07
        led = rd8(cpu, BDA_LED)
        if led & 0x07 != want:
            wr8(cpu, BDA_LED, (led & ~0x07) | want)

    # -- IRQ1 -----------------------------------------------------------------------------
    def irq1(self, cpu: BiosCpu, intercept_hooked: bool = False) -> tuple[int, int | None]:
        """Read one byte from the 8042 and process it.  Returns (cycles, chain vector or None):
        a non-None vector means "call this software interrupt, then EOI" (Ctrl-Break, PrtScr).

        With `intercept_hooked` (the guest owns INT 15h) the key is not processed here: the
        scancode is left in AL, the guest's AX pushed, and the caller sends the CPU through
        the guest's AH=4Fh intercept; `after_intercept` finishes (chain vector -1 = "redirected")."""
        chain = None
        status = self.bus.io_read(0x64, 1)
        if status & 0x21 == 0x01:             # output buffer full, and not mouse data
            key = self.bus.io_read(0x60, 1)
            if intercept_hooked:
                ss, sp = cpu.get("ss"), (cpu.get("sp") - 2) & 0xFFFF
                wr16(cpu, (ss << 4) + sp, cpu.get("ax"))
                cpu.set("sp", sp)
                cpu.set("ax", 0x4F00 | key)
                return cost.SERVICE, -1
            chain = self.process_key(cpu, key)
        if chain is None:
            self.bus.io_write(0x20, 1, 0x20)   # EOI
        return cost.SERVICE, chain

    def after_intercept(self, cpu: BiosCpu) -> tuple[int, int | None]:
        """Back from the guest's INT 15h AH=4Fh: CF=1 means "process AL" (maybe changed)."""
        chain = self.process_key(cpu, cpu.get("al")) if cpu.get("flags") & 1 else None
        ss, sp = cpu.get("ss"), cpu.get("sp")
        cpu.set("ax", rd16(cpu, (ss << 4) + sp))
        cpu.set("sp", (sp + 2) & 0xFFFF)
        if chain is None:
            self.bus.io_write(0x20, 1, 0x20)
        return cost.SERVICE, chain

    def process_key(self, cpu: BiosCpu, scancode: int) -> int | None:
        """One set-1 byte: update shift state or queue a keycode (SeaBIOS __process_key)."""
        flags1 = rd8(cpu, BDA_FLAG1)
        if scancode in (0xE0, 0xE1):
            wr8(cpu, BDA_FLAG1, flags1 | (KF1_LAST_E0 if scancode == 0xE0 else KF1_LAST_E1))
            return None
        release = bool(scancode & 0x80)
        scancode &= 0x7F
        if flags1 & (KF1_LAST_E0 | KF1_LAST_E1):
            if flags1 & KF1_LAST_E1 and scancode == 0x1D:
                return None                    # second byte of Pause
            wr8(cpu, BDA_FLAG1, flags1 & ~(KF1_LAST_E0 | KF1_LAST_E1))
        e0 = bool(flags1 & KF1_LAST_E0)

        def setflag(set0: int, set1: int = 0, toggle: int = 0) -> None:
            f0, f1 = rd16(cpu, BDA_FLAG0), rd8(cpu, BDA_FLAG1)
            if release:
                f0 &= ~set0
                f1 &= ~set1
            else:
                f0 = (f0 ^ toggle) | set0
                f1 |= set1
            wr16(cpu, BDA_FLAG0, f0)
            wr8(cpu, BDA_FLAG1, f1)

        if scancode == 0x3A:
            setflag(KF0_CAPS, 0, KF0_CAPSACTIVE)
            return None
        if scancode in (0x2A, 0x36):
            if not e0:                         # E0 2A / E0 36 are fake shifts
                setflag(KF0_LSHIFT if scancode == 0x2A else KF0_RSHIFT)
            return None
        if scancode == 0x1D:
            setflag(KF0_CTRLACTIVE, KF1_RCTRL) if e0 else setflag(KF0_CTRLACTIVE | KF0_LCTRL)
            return None
        if scancode == 0x38:
            setflag(KF0_ALTACTIVE, KF1_RALT) if e0 else setflag(KF0_ALTACTIVE | KF0_LALT)
            return None
        if scancode == 0x45:
            if not flags1 & KF1_LAST_E1:       # E1 1D 45 is Pause, not Num Lock
                setflag(KF0_NUM, 0, KF0_NUMACTIVE)
            return None
        if scancode == 0x46:
            if e0:                             # Ctrl-Break
                if not release:
                    return None
                wr16(cpu, BDA_HEAD, KBD_BUF_START)
                wr16(cpu, BDA_TAIL, KBD_BUF_START + 2)
                wr16(cpu, 0x400 + KBD_BUF_START, 0)
                wr8(cpu, BDA_BREAK, 0x80)
                return 0x1B
            setflag(KF0_SCROLL, 0, KF0_SCROLLACTIVE)
            return None
        if scancode == 0x37 and e0:            # PrtScr
            return None if release else 0x05
        if scancode == 0x54:                   # SysReq (INT 15h AH=85h not called)
            return None
        if scancode == 0x53 and not release and \
                rd16(cpu, BDA_FLAG0) & (KF0_CTRLACTIVE | KF0_ALTACTIVE) == KF0_CTRLACTIVE | KF0_ALTACTIVE:
            # Ctrl+Alt+Del: warm-boot flag, then reset the machine the way firmware can on
            # any PC -- pulse the CPU reset line through the 8042 (command FEh)
            wr16(cpu, 0x472, 0x1234)
            self.bus.io_write(0x64, 1, 0xFE)
            return None
        if release:
            return None
        if scancode == 0 or scancode not in KEYMAP:
            return None
        info = KEYMAP[scancode]
        if e0 and scancode in (0x1C, 0x35):
            info = KEY_EXT_ENTER if scancode == 0x1C else KEY_EXT_SLASH
        f0 = rd16(cpu, BDA_FLAG0)
        if f0 & KF0_ALTACTIVE:
            keycode = info[3]
        elif f0 & KF0_CTRLACTIVE:
            keycode = info[2]
        else:
            useshift = 1 if f0 & (KF0_RSHIFT | KF0_LSHIFT) else 0
            ascii_ = info[0] & 0xFF
            if (f0 & KF0_NUMACTIVE and 0x47 <= scancode <= 0x53) or \
                    (f0 & KF0_CAPSACTIVE and ord("a") <= ascii_ <= ord("z")):
                useshift ^= 1
            keycode = info[1] if useshift else info[0]
        if e0 and 0x47 <= scancode <= 0x53:    # grey cursor keys
            keycode = ((scancode + 0x50) << 8) if f0 & KF0_ALTACTIVE else (keycode & 0xFF00) | 0xE0
        if keycode:
            self.enqueue(cpu, keycode)
        return None
