; The native idle tick's workout (tests/emu/test_native_pic.py, emu/fastpath_pic.c): a
; protected-mode kernel that HLTs between PIT ticks (1 ms) through every 8259 mode the native
; tick must compute like devices/pic.py: non-specific EOI, specific EOI, rotate on
; non-specific EOI and set priority, auto-EOI (with and without rotation), special mask mode,
; IRQ0 masked while its edge arrives (latched, delivered when unmasked), and the RTC's
; periodic interrupt on the slave (IRQ8 through the cascade, 1024 Hz beside the 1000 Hz PIT).
; Prints the tick counts (host-timing independent) and powers off through isa-debug-exit.
%define IMG_SECTORS 16
%define BODY_SECTORS 6
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%include "kern_idt.inc"
%macro WAIT_TICKS 1                     ; HLT until ticks >= %1
%%w:    hlt
        cmp dword [ticks], %1
        jb %%w
%endmacro
%macro PIC_INIT 1                       ; master: ICW1..ICW4 (ICW4 = %1), IRQ0 and IRQ2 open
        mov al, 0x11
        out 0x20, al
        mov al, 0x20
        out 0x21, al
        mov al, 4
        out 0x21, al
        mov al, %1
        out 0x21, al
        mov al, 0xFA
        out 0x21, al
%endmacro
kmain:
        call kidt_init
        mov al, 0x11                            ; both 8259s: vectors 0x20 / 0x28, all masked
        out 0x20, al
        out 0xA0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xA1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xA1, al
        mov al, 1
        out 0x21, al
        out 0xA1, al
        mov al, 0xFF
        out 0x21, al
        out 0xA1, al
        mov ecx, 0x20
        mov eax, timer_isr
        call kset_gate
        mov ecx, 0x28
        mov eax, rtc_isr
        call kset_gate
        mov al, 0x34                            ; PIT channel 0, rate generator, 1193 (1 ms)
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        mov al, 0xFE                            ; IRQ0 only
        out 0x21, al
        sti
        WAIT_TICKS 4                            ; non-specific EOI
        mov byte [eoi_mode], 1
        WAIT_TICKS 8                            ; specific EOI (OCW2 0x60)
        mov byte [eoi_mode], 3
        WAIT_TICKS 12                           ; rotate on non-specific EOI (OCW2 0xA0)
        mov al, 0xC7                            ; set priority: IRQ7 lowest again
        out 0x20, al
        mov byte [eoi_mode], 2
        cli
        PIC_INIT 3                              ; auto-EOI
        mov al, 0xFE
        out 0x21, al
        sti
        WAIT_TICKS 16
        mov al, 0x80                            ; rotate in auto-EOI mode
        out 0x20, al
        WAIT_TICKS 19
        mov al, 0x00
        out 0x20, al
        mov al, 0xC7
        out 0x20, al
        cli
        PIC_INIT 1                              ; back to normal EOI
        mov byte [eoi_mode], 0
        mov al, 0x68                            ; special mask mode on
        out 0x20, al
        sti
        WAIT_TICKS 22
        mov al, 0x48                            ; special mask mode off
        out 0x20, al
        mov al, 0xFF                            ; IRQ0 masked over a few of its edges
        out 0x21, al
        mov ecx, 200000
.busy:  dec ecx
        jnz .busy
        mov al, 0xFE                            ; unmasked: the latched request comes at once
        out 0x21, al
        WAIT_TICKS 26
        mov al, 0x0A                            ; the RTC: 1024 Hz periodic interrupt on IRQ8
        out 0x70, al
        mov al, 0x26
        out 0x71, al
        mov al, 0x0B
        out 0x70, al
        in al, 0x71
        or al, 0x40
        mov ah, al
        mov al, 0x0B
        out 0x70, al
        mov al, ah
        out 0x71, al
        mov al, 0xFE                            ; slave: IRQ8 open; master: IRQ0 and IRQ2
        out 0xA1, al
        mov al, 0xFA
        out 0x21, al
.rtcw:  hlt
        cmp dword [rtc], 6
        jb .rtcw
        cmp dword [ticks], 34
        jb .rtcw
        mov al, 0xFF
        out 0xA1, al
        mov al, 0xFE
        out 0x21, al
        WAIT_TICKS 40
        cli
        mov ebx, [ticks]
        KPUTS m_ticks
        mov eax, ebx
        call khex8
        call knl
        mov al, 0
        out 0xF4, al
.h:     hlt
        jmp .h

timer_isr:
        inc dword [ticks]
        push eax
        mov al, [eoi_mode]
        cmp al, 2
        je .done
        cmp al, 1
        je .specific
        cmp al, 3
        je .rotate
        mov al, 0x20
        out 0x20, al
        jmp .done
.specific:
        mov al, 0x60
        out 0x20, al
        jmp .done
.rotate:
        mov al, 0xA0
        out 0x20, al
.done:  pop eax
        iretd
rtc_isr:
        inc dword [rtc]
        push eax
        mov al, 0x0C                            ; read C: the RTC lowers IRQ8
        out 0x70, al
        in al, 0x71
        mov al, 0x20                            ; EOI the slave, then the master's IRQ2
        out 0xA0, al
        mov al, 0x62
        out 0x20, al
        pop eax
        iretd
        align 4
ticks:  dd 0
rtc:    dd 0
eoi_mode: db 0
m_ticks: db "pic_tick ticks=", 0
%include "bios_end.inc"
