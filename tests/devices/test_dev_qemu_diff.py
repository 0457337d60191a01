"""Differential test: the same port I/O script runs on qemu-system-i386 (a tiny boot sector
executes it, reporting every IN result on the 0xE9 debug console) and on BareFlow's device
models; the bytes must be identical.

Only timing-independent behaviour is compared (PIT counters, 0x3DA and the RTC time registers
depend on when the script runs).  Each block first brings its device to a defined state, since
QEMU runs SeaBIOS before the script while the models start from reset.  The script runs with
interrupts off, so IRQs only show up as IRR bits in the PIC, which are compared too.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bareflow.devices.a20 import FastA20
from bareflow.devices.bus import Bus
from bareflow.devices.cmos import Cmos
from bareflow.devices.debugcon import DebugCon
from bareflow.devices.debug_exit import DebugExit
from bareflow.devices.pic import Pic
from bareflow.devices.pit import Pit
from bareflow.devices.ps2 import I8042
from bareflow.devices.uart import Uart16550
from bareflow.devices.vga import VgaText
from bareflow.devices.base.clock import Clock

OUT8, IN8, OUT16, IN16, IN_DISCARD, WAIT_IRQ0 = 1, 2, 3, 4, 6, 7

pytestmark = pytest.mark.skipif(not (shutil.which("nasm") and shutil.which("qemu-system-i386")),
                                reason="needs nasm and qemu-system-i386")


def script() -> list[tuple[int, int, int]]:
    s: list[tuple[int, int, int]] = []
    o = lambda port, val: s.append((OUT8, port, val))  # noqa: E731
    i = lambda port: s.append((IN8, port, 0))  # noqa: E731
    # -- quiet the interrupt sources SeaBIOS may have left running -------------------
    o(0x70, 0x0B); o(0x71, 0x02); o(0x70, 0x0C); i(0x71)          # RTC: no interrupts
    # PIT channel 0: stop SeaBIOS's 18.2 Hz tick.  Under QEMU the last edge is raised by a host
    # timer, so a fixed delay loses the race on a loaded machine (the edge then lands after the
    # 8259's ICW1 below and shows as IRR bit 0).  WAIT_IRQ0 waits for that edge itself.
    s.append((WAIT_IRQ0, 0, 0))
    o(0x4D0, 0x00); o(0x4D1, 0x00)
    # -- 8259A ---------------------------------------------------------------------
    for port, val in ((0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01),
                      (0xA0, 0x11), (0xA1, 0x28), (0xA1, 0x02), (0xA1, 0x01)):
        o(port, val)
    i(0x21); i(0xA1)
    o(0x21, 0xFB); o(0xA1, 0xFF); i(0x21); i(0xA1)
    o(0x20, 0x0A); i(0x20); o(0x20, 0x0B); i(0x20)
    o(0x20, 0x0C); i(0x20)                                         # poll: nothing pending
    o(0x4D0, 0xFF); o(0x4D1, 0xFF); i(0x4D0); i(0x4D1); o(0x4D0, 0); o(0x4D1, 0)
    o(0x20, 0xC3); o(0x20, 0x0A); i(0x20)                          # set priority
    s.append((OUT16, 0x20, 0x0000)); s.append((IN16, 0x20, 0))     # word access split
    o(0x21, 0x00); o(0xA1, 0x00)
    # -- 16550A in loopback --------------------------------------------------------
    b = 0x3F8
    # divisor 0xFFFF: a character takes 5.7 s, so QEMU's FIFO timeout cannot fire mid-script
    o(b + 3, 0x80); o(b, 0xFF); o(b + 1, 0xFF); i(b); i(b + 1); o(b + 3, 0x03)
    o(b + 1, 0x00); o(b + 2, 0x00); o(b + 4, 0x1B)                 # loop, OUT2, RTS, DTR
    i(b + 2); i(b + 5); i(b + 6); i(b + 4); i(b + 3)
    o(b, 0x41); i(b + 5); i(b); i(b + 5)
    o(b, 0x01); o(b, 0x02); i(b + 5); i(b + 5); i(b)               # overrun, no FIFO
    o(b + 2, 0x87); i(b + 2)                                       # FIFO on, trigger 8
    o(b + 1, 0x01)
    for k in range(7):
        o(b, 0x30 + k)
    i(b + 2); o(0x20, 0x0A); i(0x20); i(0xA0)
    o(b, 0x37); i(b + 2)
    for _ in range(8):
        i(b)
    i(b + 2); i(b + 5)
    for k in range(17):
        o(b, k)
    i(b + 5); i(b + 2)
    o(b + 2, 0x87); i(b + 5)
    o(b + 1, 0x00); o(b + 1, 0x0F); i(b + 2); i(b + 2)             # THRI re-trigger
    o(b, 0x11); o(b, 0x12); i(b + 2); i(b + 5); i(b + 2); i(b); i(b + 2); i(b + 2)
    o(b + 4, 0x14); i(b + 6); o(b + 4, 0x18); i(b + 6)
    o(b + 7, 0xA5); i(b + 7)
    o(b + 2, 0x00); i(b + 2)                                       # FIFO off
    o(b + 1, 0x00); o(b + 4, 0x00); i(b + 6); i(b + 4)
    o(0x20, 0x0A); i(0x20)
    # -- 8042 + keyboard -----------------------------------------------------------
    o(0x64, 0xAD)
    for _ in range(4):
        s.append((IN_DISCARD, 0x60, 0))                            # drain SeaBIOS leftovers
    o(0x64, 0xAA); i(0x64); i(0x60); i(0x64)
    o(0x64, 0x60); o(0x60, 0x01); o(0x64, 0x20); i(0x60)
    o(0x64, 0xAB); i(0x60); o(0x64, 0xA9); i(0x60); o(0x64, 0xC0); i(0x60)
    o(0x60, 0xFF); i(0x64); i(0x60); i(0x60); i(0x64)
    o(0x60, 0xEE); i(0x60)
    o(0x60, 0xF2); i(0x60); i(0x60); i(0x60)
    o(0x60, 0xF0); i(0x60); o(0x60, 0x00); i(0x60); i(0x60)
    o(0x60, 0xED); i(0x60); o(0x60, 0x02); i(0x60)
    o(0x60, 0xF5); i(0x60); o(0x60, 0xF4); i(0x60)
    o(0x64, 0x60); o(0x60, 0x41); o(0x60, 0xF2); i(0x60); i(0x60); i(0x60)
    o(0x60, 0xF0); i(0x60); o(0x60, 0x00); i(0x60); i(0x60)
    o(0x64, 0xD2); o(0x60, 0x5C); i(0x64); i(0x60); i(0x60)
    for cmd_bytes in ((0x42,), (0xF3, 0x20), (0xF6,), (0xF7,), (0xFA,), (0xFB, 0x1C), (0x00,),
                      (0x05,), (0xED, 0xF4), (0xF0, 0x07), (0xF0, 0x03), (0xF0, 0x00)):
        for byte in cmd_bytes:
            o(0x60, byte)
        for _ in range(3):
            i(0x64); i(0x60)
    o(0x60, 0xF0); o(0x60, 0x02)
    for _ in range(2):
        i(0x60)
    o(0x64, 0xA1); i(0x64)                                         # unsupported: no reply
    o(0x64, 0xD0); i(0x60)
    o(0x64, 0xA8); o(0x64, 0x20); i(0x60); o(0x64, 0xA7); o(0x64, 0x20); i(0x60)
    o(0x64, 0xAD); o(0x64, 0x20); i(0x60); o(0x64, 0xAE); o(0x64, 0x20); i(0x60)
    o(0x64, 0x60); o(0x60, 0x61); o(0x60, 0xEE); i(0x64)
    o(0x20, 0x0A); i(0x20); i(0x60); i(0x64)
    # -- VGA CRTC / misc -----------------------------------------------------------
    for idx in (0x0A, 0x0B, 0x0C, 0x0D, 0x01, 0x11, 0x09):
        o(0x3D4, idx); i(0x3D5)
    o(0x3D4, 0x0E); o(0x3D5, 0x03); o(0x3D4, 0x0F); o(0x3D5, 0x21)
    o(0x3D4, 0x0E); i(0x3D5); o(0x3D4, 0x0F); i(0x3D5); i(0x3D4)
    s.append((OUT16, 0x3D4, 0x0A0F)); o(0x3D4, 0x0F); i(0x3D5)
    o(0x3D4, 0x0A); o(0x3D5, 0x2E); i(0x3D5); o(0x3D5, 0x0D)
    o(0x3D4, 0x01); o(0x3D5, 0x27); i(0x3D5)                        # CR0-7 locked
    i(0x3CC); i(0x3C2); i(0x3CA)
    for idx in range(5):
        o(0x3C4, idx); i(0x3C5)                                    # sequencer, mode 3
    for idx in range(9):
        o(0x3CE, idx); i(0x3CF)                                    # graphics ctl, mode 3
    for idx in range(21):
        s.append((IN_DISCARD, 0x3DA, 0)); o(0x3C0, 0x20 | idx); i(0x3C1)  # attribute ctl
    s.append((IN_DISCARD, 0x3DA, 0)); i(0x3C0)
    for idx in range(0x19):
        o(0x3D4, idx); i(0x3D5)                                    # every mode 3 CRTC value
    o(0x3C8, 0x10); o(0x3C9, 0x11); o(0x3C9, 0x22); o(0x3C9, 0x33)
    o(0x3C7, 0x10); i(0x3C9); i(0x3C9); i(0x3C9); i(0x3C7); i(0x3C8)
    # -- port 0x92, RTC RAM, PIT status ------------------------------------------------
    i(0x92)
    o(0x70, 0x40); o(0x71, 0x99); o(0x70, 0x41); o(0x71, 0x42)
    o(0x70, 0x40); i(0x71); o(0x70, 0x41); i(0x71); i(0x70)
    o(0x70, 0x0B); i(0x71); o(0x70, 0x0D); i(0x71)
    o(0x43, 0xB0); o(0x42, 0xFF); o(0x42, 0xFF)
    o(0x43, 0xE8); s.append((IN8, 0x42, 0x7F))                     # status, OUT bit masked
    o(0x43, 0x96); o(0x43, 0xE8); s.append((IN8, 0x42, 0x7F))
    o(0x20, 0x0A); i(0x20); i(0xA0)
    # -- PIC poll / ISR / EOI with real sources: UART THRI on IRQ4, 8042 on IRQ1 ------------
    # Silence PIT channel 0 first (mode 0, no count written: OUT stays low, no edge): under QEMU
    # the 18.2 Hz tick SeaBIOS programmed would otherwise set IRR bit 0 whenever 55 ms of host
    # time pass, which a loaded machine makes happen at random.
    o(0x43, 0x30)
    for port, val in ((0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01),
                      (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01),
                      (0x21, 0x00), (0xA1, 0x00)):
        o(port, val)
    o(b + 1, 0x02); o(0x20, 0x0A); i(0x20)                         # THRI -> IRQ4 request
    o(0x64, 0xAA)                                                  # 0x55 -> IRQ1 request
    o(0x20, 0x0A); i(0x20)
    o(0x20, 0x0C); i(0x20)                                         # poll acks IRQ1 first
    o(0x20, 0x0B); i(0x20)
    o(0x20, 0x0C); i(0x20)                                         # IRQ4 below IRQ1: 0
    o(0x20, 0x20); o(0x20, 0x0C); i(0x20)                          # EOI, then IRQ4
    o(0x20, 0x0B); i(0x20); o(0x20, 0x64); i(0x20)                 # specific EOI 4
    i(0x60); o(b + 1, 0x00)
    o(0x20, 0x0A); i(0x20)
    # -- RTC encodings (QEMU started with -rtc base=2024-01-01T00:00:00; seconds skipped) -----
    def rtc_fields():
        for idx in (0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32):
            o(0x70, idx); i(0x71)
    o(0x70, 0x0B); o(0x71, 0x02); rtc_fields()                     # BCD, 24 h
    o(0x70, 0x0B); o(0x71, 0x06); rtc_fields()                     # binary, 24 h
    o(0x70, 0x0B); o(0x71, 0x04); o(0x70, 0x04); i(0x71)           # binary, 12 h
    o(0x70, 0x0B); o(0x71, 0x00); o(0x70, 0x04); i(0x71)           # BCD, 12 h
    o(0x70, 0x0B); o(0x71, 0x82)                                   # SET, BCD, 24 h
    for idx, val in ((0x04, 0x15), (0x02, 0x30), (0x07, 0x15), (0x08, 0x06), (0x09, 0x24)):
        o(0x70, idx); o(0x71, val)
    o(0x70, 0x0B); i(0x71); o(0x71, 0x02); rtc_fields()
    o(0x70, 0x0B); o(0x71, 0x00)
    o(0x70, 0x04); o(0x71, 0x81)                                   # 1 PM in 12 h BCD
    o(0x70, 0x0B); o(0x71, 0x02); o(0x70, 0x04); i(0x71)
    return s


ASM = """
bits 16
org 0x7c00
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov ax, 0x0200 + NSECT
    mov cx, 2
    xor dh, dh
    mov bx, table
    int 0x13
    cli
    mov si, table
next:
    lodsb
    test al, al
    jz done
    mov bl, al
    lodsw
    mov dx, ax
    lodsw
    cmp bl, 1
    je do_out8
    cmp bl, 2
    je do_in8
    cmp bl, 3
    je do_out16
    cmp bl, 6
    je do_discard
    cmp bl, 7
    je do_wait_irq0
    in ax, dx
    mov dx, 0xe9
    out dx, al
    mov al, ah
    out dx, al
    jmp next
do_out8: out dx, al
    jmp next
do_out16: out dx, ax
    jmp next
do_in8: mov cl, al
    in al, dx
    test cl, cl
    jz .raw
    and al, cl
.raw:
    mov dx, 0xe9
    out dx, al
    jmp next
do_discard:
    in al, dx
    jmp next
; Load PIT ch0 with mode 0, count 0xFFFF (OUT low now, one rising edge ~55 ms later, then no
; timer at all), clear the 8259's IRR with ICW1, and poll the IRR until that edge is latched.
; Should a stalled host let the edge come before the ICW1, the poll times out and it starts over.
do_wait_irq0:
    mov al, 0x30
    out 0x43, al
    mov al, 0xff
    out 0x40, al
    out 0x40, al
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    xor bp, bp
.poll:
    mov al, 0x0a
    out 0x20, al
    in al, 0x20
    test al, 1
    jnz next
    mov cx, 64
.d: in al, 0x80
    loop .d
    dec bp
    jnz .poll
    jmp do_wait_irq0
done:
    mov dx, 0xf4
    xor al, al
    out dx, al
    hlt
    jmp done
times 510-($-$$) db 0
dw 0xaa55
table:
"""


def build_image(tmp: Path, ops: list[tuple[int, int, int]]) -> Path:
    table = bytearray()
    for op, port, val in ops:
        table += bytes([op]) + port.to_bytes(2, "little") + val.to_bytes(2, "little")
    table += b"\x00"
    nsect = (len(table) + 511) // 512
    table += bytes(nsect * 512 - len(table))
    src = tmp / "diff.asm"
    src.write_text(ASM.replace("NSECT", str(nsect)) + "db " + ",".join(str(b) for b in table) + "\n")
    img = tmp / "diff.img"
    subprocess.run(["nasm", "-f", "bin", "-o", str(img), str(src)], check=True)
    return img


def run_qemu(img: Path, tmp: Path) -> bytes:
    out = tmp / "e9.bin"
    proc = subprocess.run(
        ["qemu-system-i386", "-display", "none", "-no-reboot", "-m", "64", "-monitor", "none",
         "-serial", "null", "-parallel", "none",
         "-rtc", "base=2024-01-01T00:00:00,clock=vm",
         "-drive", f"file={img},format=raw,if=ide", "-debugcon", f"file:{out}",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
        capture_output=True, timeout=60)
    assert proc.returncode == 1, proc.stderr.decode(errors="replace")
    return out.read_bytes()


def run_models(ops: list[tuple[int, int, int]]) -> bytes:
    clock = Clock(lambda: 0)
    pic = Pic()
    bus = Bus()
    out = bytearray()
    for dev in (pic, Pit(clock=clock, irq=pic), Uart16550(clock=clock, irq=pic),
                I8042(clock=clock, irq=pic), VgaText(clock=clock), FastA20(),
                Cmos(clock=clock, irq=pic), DebugCon(on_byte=out.append), DebugExit()):
        bus.register(dev)
    for op, port, val in ops:
        if op == OUT8:
            bus.io_write(port, 1, val)
        elif op == OUT16:
            bus.io_write(port, 2, val)
        elif op == IN8:
            v = bus.io_read(port, 1)
            out.append(v & val if val else v)
        elif op == IN_DISCARD:
            bus.io_read(port, 1)
        elif op == IN16:
            v = bus.io_read(port, 2)
            out += v.to_bytes(2, "little")
    return bytes(out)


def test_port_script_matches_qemu():
    ops = script()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        qemu = run_qemu(build_image(tmp, ops), tmp)
    ours = run_models(ops)
    # name each IN so a mismatch says which register differs
    labels = []
    for op, port, _ in ops:
        if op == IN8:
            labels.append(f"in {port:#x}")
        elif op == IN16:
            labels += [f"inw {port:#x} lo", f"inw {port:#x} hi"]
    assert len(qemu) == len(ours) == len(labels)
    diffs = [f"#{k} {labels[k]}: qemu {q:#04x} ours {o:#04x}"
             for k, (q, o) in enumerate(zip(qemu, ours)) if q != o]
    assert not diffs, "\n".join(diffs)
