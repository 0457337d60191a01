; BIOS test image: real keystrokes through IRQ1.  Prints "ready", then every key INT 16h
; AH=10h returns (AX) with the shift flags (BDA 0x417) after it, until Esc; then the flags.
; The test types the same keys under QEMU (monitor `sendkey`) and on the 8042 model.
%define IMG_SECTORS 8
%define BODY_SECTORS 2
%include "bios_lib.inc"

main:
        PUTS "ready"
        call nl
.next:
        mov ah, 0x10
        int 0x16
        call hex16
        push ax
        mov al, '/'
        call putc
        mov ax, [0x417]
        call hex16
        call space
        pop ax
        cmp ax, 0x011B
        jne .next
        call nl
        SHOW16 "kbf=", [0x417]
        SHOW8 " kbf3=", [0x496]
        SHOW16 " head=", [0x41A]
        SHOW16 " tail=", [0x41C]
        call nl
        EXIT 0

%include "bios_end.inc"
