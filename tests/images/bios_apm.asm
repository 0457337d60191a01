; BIOS test image: INT 15h AH=53h (APM) as SeaBIOS answers it, ending with the classic
; "APM power off" (AX=5307h BX=1 CX=3): the machine switches off (exit status 0), so
; "still here" must never be printed.  5300h's CX is not printed: SeaBIOS offers protected-
; mode interfaces (CX=3) that BareFlow does not (CX=0; see docs/bios.md).
%define IMG_SECTORS 16
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov ax, 0x5300
        xor bx, bx
        int 0x15
        call show_cf
        SHOW16 " 00 ax=", ax
        SHOW16 " bx=", bx
        mov ax, 0x5301
        xor bx, bx
        int 0x15
        call show_cf
        SHOW16 " 01 ax=", ax
        mov ax, 0x530E
        xor bx, bx
        mov cx, 0x0102
        int 0x15
        call show_cf
        SHOW16 " 0e ax=", ax
        mov ax, 0x530A
        mov bx, 1
        int 0x15
        call show_cf
        SHOW16 " 0a bx=", bx
        SHOW16 " cx=", cx
        SHOW16 " dx=", dx
        SHOW16 " si=", si
        mov ax, 0x530B
        int 0x15
        call show_cf
        SHOW16 " 0b ax=", ax
        mov ax, 0x5310
        int 0x15
        call show_cf
        SHOW16 " 10 bx=", bx
        SHOW16 " cx=", cx
        mov ax, 0x5305
        int 0x15
        call show_cf
        SHOW16 " 05 ax=", ax
        mov ax, 0x5399
        int 0x15
        call show_cf
        SHOW16 " 99 ax=", ax
        mov ax, 0x5304
        int 0x15
        call show_cf
        SHOW16 " 04 ax=", ax
        mov ax, 0x5308
        mov bx, 1
        mov cx, 1
        int 0x15
        call show_cf
        SHOW16 " 08 ax=", ax
        call nl
        mov ax, 0x5307
        mov bx, 1
        mov cx, 3
        int 0x15
        PUTS "still here"
        call nl
        EXIT 0
%include "bios_end.inc"
