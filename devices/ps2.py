"""Intel 8042 keyboard controller (ports 0x60/0x64) with a PS/2 keyboard behind it.

References: QEMU hw/input/pckbd.c (controller) and hw/input/ps2.c (keyboard).  Modelled:
- status register (OBF, SYS after self-test, CMD, UNLOCKED, AUX OBF), command byte (IRQ1/IRQ12
  enables, SYS, interface disables, translation), output port (reset, A20, OBF bits);
- controller commands 0x20 (read command byte), 0x60 (write it), 0xA7/0xA8 (aux port off/on),
  0xA9 (aux test: 00), 0xAA (self-test: 55, sets SYS), 0xAB (kbd test: 00), 0xAD/0xAE (kbd
  interface off/on), 0xC0 (input port), 0xD0/0xD1 (read/write output port: A20 and, with bit 0
  low, CPU reset), 0xD2/0xD3 (write kbd/aux output buffer), 0xD4 (write to aux device), 0xDD/0xDF
  (A20 off/on), 0xF0-0xFF pulse (0xFE = CPU reset);
- keyboard commands 0xED (LEDs), 0xEE (echo), 0xF0 (get/set scan code set), 0xF2 (identify:
  FA AB 83, or FA AB 41 when translating, as QEMU), 0xF3 (typematic), 0xF4 (enable), 0xF5
  (disable + defaults), 0xF6 (defaults), 0xFA and 0x00 (acknowledged), 0xFC (+ key), 0xFF
  (reset: FA AA); commands are acknowledged with 0xFA; the rest (0x05, 0xF7-0xF9, 0xFB, 0xFD,
  0xFE, unknown) get 0xFE, exactly QEMU 7.2's list;
- the keyboard produces set 2; the controller translates to set 1 when command byte bit 6 is
  set (F0 folded into bit 7).  Set 1 selected with F0 01 is produced by the keyboard (and
  translated once more if bit 6 is also set, as on real hardware); set 3 is accepted but keys
  still come out in set 2 (not modelled).
- Command replies go ahead of pending key codes (QEMU's command-reply queue) and appear at
  once; a new byte to the keyboard discards replies not yet read (QEMU ps2_cqueue_reset);
  controller replies have priority over keyboard data.
No mouse is attached: bytes sent with 0xD4 are consumed and nothing answers (a driver sees its
usual time-out), which keeps them from reaching the keyboard.

Host keys are paced (docs/architecture.md "Input pacing"): `type_text`/`press`/
`press_make_break` queue set 2 bytes; the first enters the output buffer as soon as it is free,
each next one KEY_DELAY_CYCLES (1 ms of guest time, QEMU's `kbd-throttle` interval) after the
guest read the previous key byte from port 0x60.  Like every device method they run on the
emulator thread only: host input from other threads waits in the machine's input door
(emu/inputdoor.py), so the chip holds no lock or queue of its own.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .base.clock import CPU_HZ, Clock
from .base.native import NO_NATIVE, NativePorts
from .bus import IrqSink
from .scancodes import XLATE, set1_to_set2, text_to_set2

#: Guest time between the guest reading one host key byte and the next one arriving.
KEY_DELAY_CYCLES = CPU_HZ // 1000

# status register
STAT_OBF, STAT_IBF, STAT_SYS, STAT_CMD, STAT_UNLOCKED, STAT_AUX_OBF = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# command byte ("mode")
MODE_KBD_INT, MODE_AUX_INT, MODE_SYS, MODE_DISABLE_KBD, MODE_DISABLE_AUX, MODE_XLATE = (
    0x01, 0x02, 0x04, 0x10, 0x20, 0x40)
# output port
OUT_RESET, OUT_A20, OUT_OBF, OUT_AUX_OBF, OUT_ONES = 0x01, 0x02, 0x10, 0x20, 0xCC

ACK, RESEND, POR, ECHO = 0xFA, 0xFE, 0xAA, 0xEE

# output-buffer sources
SRC_NONE, SRC_CTRL, SRC_KBD, SRC_HOST = 0, 1, 2, 3

_REPLY_QUEUE_MAX = 16


class I8042:
    """8042 controller + PS/2 keyboard.  Callbacks: `on_a20(enabled)`, `on_reset_cpu()`."""

    name = "i8042"
    wide_io = False
    PORTS = (0x60, 0x64)

    def __init__(self, *, clock: Clock, irq: IrqSink, kbd_irq: int = 1, aux_irq: int = 12,
                 on_a20: Callable[[bool], None] | None = None,
                 on_reset_cpu: Callable[[], None] | None = None,
                 key_delay: int = KEY_DELAY_CYCLES) -> None:
        self.clock = clock
        self.irq = irq
        self.kbd_irq = kbd_irq
        self.aux_irq = aux_irq
        self.on_a20 = on_a20
        self.on_reset_cpu = on_reset_cpu
        self.key_delay = key_delay
        self._host: list[int] = []  # set 2 bytes typed by the host, not yet delivered
        self._host_event = None
        self._kbd_level = 0
        self._aux_level = 0
        self.reset()

    # -- the native port path ---------------------------------------------------------------
    _native: NativePorts = NO_NATIVE
    _status = 0

    @property
    def status(self) -> int:
        return self._status

    @status.setter
    def status(self, value: int) -> None:
        """Every change is published: a one-byte IN 0x64 only reads it (no side effect), so
        the machine's native port path answers it without calling `io_read` (Linux polls it
        ~17,000 times in a boot)."""
        self._status = value
        self._native.publish_reads(0x64, (value & 0xFF,))

    def attach_native(self, native: NativePorts) -> None:
        self._native = native
        native.publish_reads(0x64, (self._status & 0xFF,))

    # -- contract -------------------------------------------------------------------------
    def ports(self) -> Iterable[int]:
        return self.PORTS

    def reset(self) -> None:
        """QEMU kbd_reset + ps2_reset_keyboard.  Host keys still queued are kept."""
        self.mode = MODE_KBD_INT | MODE_AUX_INT
        self.status = STAT_CMD | STAT_UNLOCKED
        self.outport = OUT_RESET | OUT_A20 | OUT_ONES
        self.write_cmd = 0          # controller command waiting for its data byte
        self.obdata = 0
        self.ob_src = SRC_NONE
        self.ctrl_data: int | None = None   # controller reply slot (QEMU cbdata)
        self.ctrl_aux = 0
        # keyboard
        self.scan_enabled = 1
        self.scancode_set = 2
        self.leds = 0
        self.kbd_write_cmd = -1     # keyboard command waiting for its argument
        self.replies: list[int] = []
        self.need_high_bit = 0
        self._last_take: int | None = None
        Clock.cancel(self._host_event)
        self._host_event = None
        self._update_lines()

    def io_read(self, port: int, size: int) -> int:
        if size != 1:
            # each byte of a wide access hits one port: 0x60/0x61 or 0x64/0x65 (not ours)
            return self.io_read(port, 1) | 0xFFFFFF00 & ((1 << (8 * size)) - 1)
        if port == 0x64:
            return self.status
        return self._read_data()

    def io_write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == 0x64:
            self._write_command(value)
        else:
            self._write_data(value)

    # -- controller -----------------------------------------------------------------------
    def _read_data(self) -> int:
        if self.status & STAT_OBF:
            src = self.ob_src
            self.status &= ~(STAT_OBF | STAT_AUX_OBF)
            self.outport &= ~(OUT_OBF | OUT_AUX_OBF)
            self.ob_src = SRC_NONE
            self._update_lines()
            if src == SRC_HOST:
                self._last_take = self.clock.now()
            value = self.obdata
            self._fill()
            # _fill may have put the next byte in obdata; the guest gets the one it read.
            return value
        return self.obdata

    def _write_command(self, val: int) -> None:
        if (val & 0xF0) == 0xF0:  # pulse output port bits 3-0 (0 = pulse); bit 0 = reset
            val = 0xFE if not (val & 1) else 0xFF
        if val == 0x20:
            self._ctrl_reply(self.mode)
        elif val in (0x60, 0xD1, 0xD2, 0xD3, 0xD4):
            self.write_cmd = val
        elif val == 0xA7:
            self.mode |= MODE_DISABLE_AUX
        elif val == 0xA8:
            self.mode &= ~MODE_DISABLE_AUX
            self._fill()
        elif val in (0xA9, 0xAB):
            self._ctrl_reply(0x00)
        elif val == 0xAA:
            self.status |= STAT_SYS
            self._ctrl_reply(0x55)
        elif val == 0xAD:
            self.mode |= MODE_DISABLE_KBD
        elif val == 0xAE:
            self.mode &= ~MODE_DISABLE_KBD
            self._fill()
        elif val == 0xC0:
            self._ctrl_reply(0x80)
        elif val == 0xD0:
            self._ctrl_reply(self.outport)
        elif val == 0xDD:
            self.outport &= ~OUT_A20
            self._a20(False)
        elif val == 0xDF:
            self.outport |= OUT_A20
            self._a20(True)
        elif val == 0xFE:
            if self.on_reset_cpu is not None:
                self.on_reset_cpu()
        # 0xFF and unknown commands: ignored (QEMU logs them)

    def _write_data(self, val: int) -> None:
        cmd = self.write_cmd
        self.write_cmd = 0
        if cmd == 0:
            self._keyboard_command(val)
            self.mode &= ~MODE_DISABLE_KBD  # sending to the keyboard re-enables its port
            self._fill()
        elif cmd == 0x60:
            self.mode = val
            self._update_lines()
            self._fill()
        elif cmd == 0xD1:
            self.outport = val
            self._a20(bool(val & OUT_A20))
            if not (val & OUT_RESET) and self.on_reset_cpu is not None:
                self.on_reset_cpu()
        elif cmd == 0xD2:
            self._ctrl_reply(val)
        elif cmd == 0xD3:
            self._ctrl_reply(val, aux=1)
        elif cmd == 0xD4:
            self.mode &= ~MODE_DISABLE_AUX  # no mouse attached: nobody answers

    def _a20(self, enabled: bool) -> None:
        if self.on_a20 is not None:
            self.on_a20(enabled)

    def _ctrl_reply(self, value: int, aux: int = 0) -> None:
        self.ctrl_data = value & 0xFF
        self.ctrl_aux = aux
        self._fill()

    def _update_lines(self) -> None:
        obf = self.status & STAT_OBF
        aux = self.status & STAT_AUX_OBF
        mode = self.mode
        kbd = 1 if (obf and not aux and mode & MODE_KBD_INT and not mode & MODE_DISABLE_KBD) else 0
        auxl = 1 if (obf and aux and mode & MODE_AUX_INT) else 0
        if kbd != self._kbd_level:
            self._kbd_level = kbd
            (self.irq.raise_irq if kbd else self.irq.lower_irq)(self.kbd_irq)
        if auxl != self._aux_level:
            self._aux_level = auxl
            (self.irq.raise_irq if auxl else self.irq.lower_irq)(self.aux_irq)

    def _fill(self) -> None:
        """Move the next byte into the empty output buffer: controller reply, then keyboard
        reply, then (paced) host key byte."""
        if self.status & STAT_OBF:
            return
        kbd_open = not (self.mode & MODE_DISABLE_KBD)
        if self.ctrl_data is not None:
            self.obdata = self.ctrl_data
            self.ctrl_data = None
            self.ob_src = SRC_CTRL
            aux = self.ctrl_aux
        elif kbd_open and self.replies:
            self.obdata = self.replies.pop(0)
            self.ob_src = SRC_KBD
            aux = 0
        elif kbd_open and self.scan_enabled and self._host:
            now = self.clock.now()
            due = now if self._last_take is None else self._last_take + self.key_delay
            if due > now:
                if self._host_event is None:
                    self._host_event = self.clock.schedule(due, self._on_host_due, "i8042.key")
                return
            byte = self._next_host_byte()
            if byte is None:
                return
            self.obdata = byte
            self.ob_src = SRC_HOST
            aux = 0
        else:
            return
        self.status |= STAT_OBF | (STAT_AUX_OBF if aux else 0)
        self.outport |= OUT_OBF | (OUT_AUX_OBF if aux else 0)
        self._update_lines()

    def _on_host_due(self, cycle: int) -> None:
        self._host_event = None
        self._fill()

    def _next_host_byte(self) -> int | None:
        """Pop one byte of the host's set 2 stream as the guest sees it: the keyboard sends it
        in set 1 if F0 01 selected that (F0 folded into bit 7), and the controller translates
        whatever the keyboard sends when command-byte bit 6 is set, so set 1 with translation
        on is translated twice, as on real hardware and QEMU."""
        host = self._host
        xlate = self.mode & MODE_XLATE
        if self.scancode_set != 1 and not xlate:
            return host.pop(0)
        while host:
            b = host.pop(0)
            if b == 0xF0:
                self.need_high_bit = 0x80
                continue
            out = XLATE[b] | self.need_high_bit
            self.need_high_bit = 0
            if self.scancode_set == 1 and xlate:
                out = XLATE[out]
            return out
        return None

    # -- keyboard -------------------------------------------------------------------------
    def _reply(self, *values: int) -> None:
        for v in values:
            if len(self.replies) < _REPLY_QUEUE_MAX:
                self.replies.append(v)

    def _reset_keyboard(self) -> None:
        self.scan_enabled = 1
        self.scancode_set = 2
        self.leds = 0
        self.replies.clear()
        self.need_high_bit = 0

    @property
    def translate(self) -> bool:
        return bool(self.mode & MODE_XLATE)

    def _keyboard_command(self, val: int) -> None:
        """A byte the host sends to the keyboard (QEMU ps2_write_keyboard).  Like QEMU's
        command-reply queue, a new byte discards replies the host has not read yet; if such a
        reply already sits in the output buffer, the first new reply takes its place there
        (OBF and IRQ1 stay up, as in QEMU where the buffer is read from the queue)."""
        self.replies.clear()
        in_buffer = bool(self.status & STAT_OBF) and self.ob_src == SRC_KBD
        pending = self.kbd_write_cmd
        if pending != -1:
            self.kbd_write_cmd = -1
            if pending == 0xF0:
                if val == 0:
                    s = self.scancode_set
                    self._reply(ACK, XLATE[s] if self.translate else s)
                elif 1 <= val <= 3:
                    self.scancode_set = val
                    self._reply(ACK)
                else:
                    self._reply(RESEND)
            elif pending == 0xED:
                self.leds = val
                self._reply(ACK)
            else:  # 0xF3 typematic rate/delay, 0xFC key for make/break mode
                self._reply(ACK)
        elif val == 0xEE:
            self._reply(ECHO)
        elif val == 0xF2:
            self._reply(ACK, 0xAB, 0x41 if self.translate else 0x83)
        elif val in (0xED, 0xF0, 0xF3, 0xFC):
            self.kbd_write_cmd = val
            self._reply(ACK)
        elif val == 0xF4:
            self.scan_enabled = 1
            self._reply(ACK)
        elif val in (0xF5, 0xF6):
            self._reset_keyboard()
            self.scan_enabled = 1 if val == 0xF6 else 0
            self._reply(ACK)
        elif val in (0x00, 0xFA):  # 0xFA: all keys typematic/make/break
            self._reply(ACK)
        elif val == 0xFF:
            self._reset_keyboard()
            self._reply(ACK, POR)
        else:  # 0x05, 0xF7-0xF9, 0xFB, 0xFD, 0xFE and anything unknown: QEMU answers RESEND
            self._reply(RESEND)
        if in_buffer:
            if self.replies:
                self.obdata = self.replies.pop(0)
            else:
                self.status &= ~(STAT_OBF | STAT_AUX_OBF)
                self.outport &= ~(OUT_OBF | OUT_AUX_OBF)
                self.ob_src = SRC_NONE
                self._update_lines()

    # -- host side ------------------------------------------------------------------------
    def type_text(self, text: str) -> None:
        """Type `text` on a US keyboard ('\\n' = Enter; Shift for capitals and symbols), one
        key at a time, make then break.  Raises ValueError (before queueing anything) for a
        character no key produces."""
        self._post(text_to_set2(text))

    def press_make_break(self, set1_codes: Iterable[int]) -> None:
        """Queue a set 1 make/break byte sequence (E0/E1 prefixes allowed), e.g. from the TUI's
        key map.  Converted to the set 2 bytes the keyboard sends."""
        self._post(set1_to_set2(set1_codes))

    def press(self, make: int | Iterable[int]) -> None:
        """Press and release one key given by its set 1 make code (or E0-prefixed codes)."""
        makes = [make] if isinstance(make, int) else list(make)
        breaks = [c if c in (0xE0, 0xE1) else c | 0x80 for c in makes]
        self.press_make_break(makes + breaks)

    def _post(self, codes: list[int]) -> None:
        """The keys join the paced queue; the first enters the output buffer if it is free."""
        if codes:
            self._host.extend(codes)
            self._fill()

    def keys_pending(self) -> bool:
        """Host key bytes not yet delivered to the guest."""
        return bool(self._host) or self.ob_src == SRC_HOST

    # -- convenience / snapshots ----------------------------------------------------------
    def program_like_bios(self, command_byte: int = 0x61) -> None:
        """State SeaBIOS leaves: self-test done (SYS set), command byte 0x61 (translate, IRQ1
        on, aux port off), keyboard reset and scanning."""
        self.io_write(0x64, 1, 0xAA)
        self.io_read(0x60, 1)
        self.io_write(0x64, 1, 0x60)
        self.io_write(0x60, 1, command_byte)

    _FIELDS = ("mode", "status", "outport", "write_cmd", "obdata", "ob_src", "ctrl_aux",
               "scan_enabled", "scancode_set", "leds", "kbd_write_cmd",
               "need_high_bit", "_kbd_level", "_aux_level")

    def state(self) -> dict[str, Any]:
        """Read-only (any thread may look)."""
        d: dict[str, Any] = {f: int(getattr(self, f)) for f in self._FIELDS}
        d["ctrl_data"] = self.ctrl_data
        d["replies"] = list(self.replies)
        d["host"] = list(self._host)
        d["last_take"] = self._last_take
        d["host_event"] = None if self._host_event is None else self._host_event.cycle
        return d

    def load_state(self, state: dict[str, Any]) -> None:
        for f in self._FIELDS:
            setattr(self, f, int(state[f]))
        self.ctrl_data = state["ctrl_data"]
        self.replies = [int(x) for x in state["replies"]]
        self._host = [int(x) for x in state["host"]]
        self._last_take = state["last_take"]
        Clock.cancel(self._host_event)
        self._host_event = None
        if state["host_event"] is not None:
            self._host_event = self.clock.schedule(int(state["host_event"]), self._on_host_due,
                                                   "i8042.key")
