; Reset test guest: counts its boots in CMOS byte 50h (battery-backed: it survives a reset) and
; resets the machine a different way each time: 8042 command FEh, port CF9h = 06h, a far jump to
; the reset vector F000:FFF0, a triple fault, port 92h bit 0; then prints "done" and exits.
; Run without -no-reboot (QEMU) / without --no-reboot (bareflow-emu run).
%define IMG_SECTORS 40
%define BODY_SECTORS 4
%include "bios_lib.inc"

main:
        mov al, 0x50
        out 0x70, al
        in al, 0x71
        inc al
        mov bl, al
        mov al, 0x50
        out 0x70, al
        mov al, bl
        out 0x71, al
        PUTS "boot "
        mov al, bl
        call hex8
        ; the machine state after the reset: what the BIOS left in the IVT and BDA, A20
        PUTS " ivt19="
        mov ax, [0x19 * 4 + 2]
        call hex16
        PUTS " kbdflags="
        mov al, [0x417]
        call hex8
        PUTS " pic="
        in al, 0x21
        call hex8
        in al, 0xA1
        call hex8
        call nl
        cmp bl, 1
        je .kbc
        cmp bl, 2
        je .cf9
        cmp bl, 3
        je .vector
        cmp bl, 4
        je .triple
        cmp bl, 5
        je .port92
        PUTS "done"
        call nl
        EXIT 0
.kbc:   PUTS "8042 FEh"
        call nl
        mov al, 0xFE
        out 0x64, al
        jmp $
.cf9:   PUTS "CF9h 06h"
        call nl
        mov dx, 0xCF9
        mov al, 0x06
        out dx, al
        jmp $
.vector: PUTS "jmp F000:FFF0"
        call nl
        jmp 0xF000:0xFFF0
.triple: PUTS "triple fault"
        call nl
        lidt [zero_idt]
        int3
        jmp $
.port92: PUTS "port 92h bit 0"
        call nl
        in al, 0x92
        or al, 1
        out 0x92, al
        jmp $
zero_idt: dw 0
        dd 0
%include "bios_end.inc"
