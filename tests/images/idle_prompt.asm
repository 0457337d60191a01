; A guest waiting at its prompt: prints "> " on COM1, then sleeps in HLT with interrupts on,
; woken by the BIOS's timer tick (IRQ0, 18.2 Hz) and by COM1's receive interrupt (IRQ4), whose
; handler echoes each byte it reads.  What an idle session costs, and how fast a byte typed on
; COM1 comes back, are measured on it (tests/session/test_idle.py).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
        cli
        mov word [0x0C * 4], com1_irq       ; IRQ4 = vector 0Ch (the BIOS's PIC base 08h)
        mov word [0x0C * 4 + 2], 0
        mov dx, 0x3F9
        mov al, 1                           ; IER: interrupt when a received byte is ready
        out dx, al
        mov dx, 0x3FC
        in al, dx
        or al, 8                            ; MCR OUT2: the PC's gate of the UART's IRQ line
        out dx, al
        in al, 0x21
        and al, 0xEF                        ; unmask IRQ4 at the master 8259
        out 0x21, al
        sti
.wait:  hlt
        jmp .wait

com1_irq:
        push ax
        push dx
.more:  mov dx, 0x3FD
        in al, dx
        test al, 1                          ; LSR DR: a byte to read
        jz .done
        mov dx, 0x3F8
        in al, dx
        call putc
        jmp .more
.done:  mov al, 0x20                        ; EOI
        out 0x20, al
        pop dx
        pop ax
        iret

msg:    db "waiting", 13, 10, "> ", 0
%include "bios_end.inc"
