; BIOS test image: INT 14h on COM1 (init, status, send, receive with nothing arriving -> the
; timeout), a missing port and an unknown function.  Expected transcript: bios_serial.expected.
%define IMG_SECTORS 16
%define BODY_SECTORS 4
%include "bios_lib.inc"

main:
        PUTS "bios_serial"
        call nl
        mov ax, 0x00E3            ; 9600 baud, no parity, 1 stop bit, 8 bits
        xor dx, dx
        int 0x14
        call show_cf
        SHOW16 " 00 ax=", ax
        mov ax, 0x0300
        xor dx, dx
        int 0x14
        call show_cf
        SHOW16 " 03 ax=", ax
        call nl
        mov ax, 0x015A            ; send 'Z'
        xor dx, dx
        int 0x14
        call show_cf
        SHOW16 " 01 ax=", ax
        mov ax, 0x0200
        xor dx, dx
        int 0x14
        call show_cf
        SHOW16 " 02 ax=", ax
        call nl
        mov ax, 0x0300
        mov dx, 1                 ; COM2: not there
        int 0x14
        call show_cf
        SHOW16 " com2 ax=", ax
        mov ax, 0x0300
        mov dx, 4
        int 0x14
        call show_cf
        SHOW16 " dx4 ax=", ax
        clc
        mov ax, 0x0400
        xor dx, dx
        int 0x14
        call show_cf
        SHOW16 " 04 ax=", ax
        call nl
        ; the divisor the init programmed (read with DLAB set, printed after clearing it)
        mov dx, 0x3FB
        in al, dx
        mov bl, al
        or al, 0x80
        out dx, al
        mov dx, 0x3F8
        in al, dx
        mov cl, al
        inc dx
        in al, dx
        mov ch, al
        mov dx, 0x3FB
        mov al, bl
        out dx, al
        SHOW8 "lcr=", bl
        SHOW16 " divisor=", cx
        call nl
        PUTS "done"
        call nl
        EXIT 0

%include "bios_end.inc"
