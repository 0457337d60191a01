; What a guest sees of its drives: CMOS 10h-3Fh (floppy/disk types, geometry, boot order), the
; BDA (equipment word, hard disk count), INT 13h AH=08h/15h for 00h, 80h, 81h, 82h, the first
; bytes of LBA 0 of 81h, and the ATA serial numbers of the primary master and slave.
; Booted from hard disk 80h; the tests give it a second disk (--hdb / -hdb) and a floppy.
%define IMG_SECTORS 64
%define BODY_SECTORS 4
%include "bios_lib.inc"

%macro DISK 1
        PUTS " "
        mov al, %1
        call hex8
        PUTS ":08"
        mov ah, 0x08
        mov dl, %1
        xor di, di
        mov es, di
        int 0x13
        call show_cf
        PUTS " ax="
        call hex16
        PUTS " bx="
        mov ax, bx
        call hex16
        PUTS " cx="
        mov ax, cx
        call hex16
        PUTS " dx="
        mov ax, dx
        call hex16
        xor ax, ax
        mov es, ax
        PUTS " 15"
        mov ah, 0x15
        mov dl, %1
        int 0x13
        call show_cf
        PUTS " ax="
        call hex16
        PUTS " cx="
        mov ax, cx
        call hex16
        PUTS " dx="
        mov ax, dx
        call hex16
        call nl
%endmacro

serial: ; DL = device byte (A0h/B0h): IDENTIFY, print words 10-13 (the serial's first chars)
        mov al, dl
        mov dx, 0x1F6
        out dx, al
        mov dx, 0x1F7
        mov al, 0xEC
        out dx, al
.w:     in al, dx
        test al, 0x80
        jnz .w
        test al, 0x08
        jz .none
        mov di, 0x3000
        mov cx, 256
        mov dx, 0x1F0
        rep insw
        mov si, 0x3000 + 20
        mov cx, 10
.l:     lodsw
        xchg al, ah
        call putc
        xchg al, ah
        call putc
        loop .l
        PUTS " sectors="
        mov eax, [0x3000 + 120]
        call hex32
        ret
.none:  PUTS "none st="
        call hex8
        ret

main:
        PUTS "cmos"
        mov bl, 0x10
.c:     call space
        mov al, bl
        out 0x70, al
        in al, 0x71
        call hex8
        inc bl
        cmp bl, 0x40
        jb .c
        call nl
        PUTS "bda equip="
        mov ax, [0x410]
        call hex16
        PUTS " hds="
        mov al, [0x475]
        call hex8
        call nl
        DISK 0x00
        DISK 0x80
        DISK 0x81
        DISK 0x82
        PUTS "81 lba0:"
        mov ax, 0x0201
        mov cx, 1
        mov dx, 0x0081
        mov bx, 0x4000
        int 0x13
        call show_cf
        mov di, 0x4000
        mov cx, 8
        call space
        call hexdump
        call nl
        PUTS "ata0 "
        mov dl, 0xA0
        call serial
        call nl
        PUTS "ata1 "
        mov dl, 0xB0
        call serial
        call nl
        EXIT 0
%include "bios_end.inc"
