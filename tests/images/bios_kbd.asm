; BIOS test image: INT 16h keyboard buffer (fed through AH=05h, the only way a headless QEMU
; run can type deterministically), INT 1Ah ticks and RTC status, and INT 19h re-boot.
; Expected transcript: tests/test_bios_images.py (checked under qemu-system-i386 -m 64).
%define IMG_SECTORS 16
%define BODY_SECTORS 6
%define REBOOT_MAGIC 0x600
%include "bios_lib.inc"

; K16 fn -> int 16h AH=fn, print " fn: ax=XXXX zf=N"
%macro K16 1
        mov ah, %1
        int 0x16
        call show_zf
        SHOW16 " ax=", ax
%endmacro

main:
        cmp word [REBOOT_MAGIC], 0x1919
        je rebooted
        PUTS "bios_kbd"
        call nl
        ; ---- empty buffer
        mov ax, 0x0100
        int 0x16
        call show_zf
        SHOW16 " 01 ax=", ax
        mov ax, 0x1100
        int 0x16
        call show_zf
        SHOW16 " 11 ax=", ax
        mov ax, 0x0200
        int 0x16
        SHOW16 " 02 ax=", ax
        mov ax, 0x1200
        int 0x16
        SHOW16 " 12 ax=", ax
        call nl
        ; ---- store keys with 05h, read them back
        mov ah, 0x05
        mov cx, 0x1E61            ; 'a'
        int 0x16
        call show_cf
        SHOW16 " 05 ax=", ax
        mov ah, 0x05
        mov cx, 0xE00D            ; keypad Enter (extended)
        int 0x16
        mov ah, 0x05
        mov cx, 0x48E0            ; grey Up (extended, E0 ascii)
        int 0x16
        mov ah, 0x05
        mov cx, 0x8500            ; F11
        int 0x16
        SHOW16 " head=", [0x41A]
        SHOW16 " tail=", [0x41C]
        call nl
        mov ax, 0x0100
        int 0x16
        call show_zf
        SHOW16 " 01 ax=", ax
        mov ax, 0x0000
        int 0x16
        SHOW16 " 00 ax=", ax
        mov ax, 0x1100
        int 0x16
        call show_zf
        SHOW16 " 11 ax=", ax
        mov ax, 0x0100
        int 0x16
        call show_zf
        SHOW16 " 01 ax=", ax
        mov ax, 0x0000
        int 0x16
        SHOW16 " 00 ax=", ax
        call nl
        mov ax, 0x0100
        int 0x16
        call show_zf
        SHOW16 " 01 ax=", ax
        mov ax, 0x0000
        int 0x16
        SHOW16 " 00 ax=", ax
        mov ax, 0x1000
        int 0x16
        SHOW16 " 10 ax=", ax
        mov ax, 0x0100
        int 0x16
        call show_zf
        SHOW16 " 01 ax=", ax
        SHOW16 " head=", [0x41A]
        SHOW16 " tail=", [0x41C]
        call nl
        ; ---- fill the 16-slot ring: 15 fit, the 16th is refused
        mov cx, 16
        mov bx, 0x1071            ; 'q'
.fill:  push cx
        mov cx, bx
        mov ah, 0x05
        int 0x16
        call hex8
        pop cx
        inc bx
        loop .fill
        SHOW16 " head=", [0x41A]
        SHOW16 " tail=", [0x41C]
        mov cx, 15
.drain: mov ah, 0x10
        int 0x16
        loop .drain
        SHOW16 " last=", ax
        mov ax, 0x1100
        int 0x16
        call show_zf
        call nl
        ; ---- unknown function
        mov ax, 0x5512
        int 0x16
        call show_cf
        SHOW16 " 55 ax=", ax
        call nl

        ; ---- INT 1Ah: set the tick count, read it back (only the high word: time moves)
        mov ah, 0x01
        mov cx, 0x0012
        mov dx, 0x3456
        int 0x1A
        call show_cf
        mov ah, 0x00
        int 0x1A
        call show_cf
        SHOW8 " 00 al=", al
        SHOW16 " cx=", cx
        mov ah, 0x02
        int 0x1A
        call show_cf
        mov ah, 0x04
        int 0x1A
        call show_cf
        mov ax, 0x0F00
        int 0x1A
        call show_cf
        SHOW16 " 0f ax=", ax
        call nl

        ; ---- INT 19h: boots the same sector again
        mov word [REBOOT_MAGIC], 0x1919
        PUTS "int19"
        call nl
        int 0x19
        PUTS "int19 returned"
        call nl
        EXIT 2

rebooted:
        PUTS "rebooted"
        SHOW8 " dl=", [boot_drive]
        call nl
        PUTS "done"
        call nl
        EXIT 0

%include "bios_end.inc"
