; Guest disk writes: LBA 20 through INT 13h AH=03h (fill B1h), LBA 21 through ATA PIO WRITE
; SECTORS (fill A7h); then reads both back through the other path and prints their first bytes.
; The tests check that the image file never changes (default) or does (--no-snapshot).
%define IMG_SECTORS 64
%define BODY_SECTORS 3
%include "bios_lib.inc"

main:
        ; fill 0x3000 with B1h and 0x3200 with A7h
        mov di, 0x3000
        mov cx, 512
        mov al, 0xB1
        rep stosb
        mov cx, 512
        mov al, 0xA7
        rep stosb
        ; INT 13h AH=03h: LBA 20 = C0 H0 S21
        mov ax, 0x0301
        mov cx, 21
        xor dh, dh
        mov dl, [boot_drive]
        mov bx, 0x3000
        int 0x13
        PUTS "int13 write"
        call show_cf
        call nl
        ; ATA: WRITE SECTORS LBA 21, 1 sector
        mov dx, 0x1F6
        mov al, 0xE0
        out dx, al
        mov dx, 0x1F2
        mov al, 1
        out dx, al
        inc dx
        mov al, 21
        out dx, al
        inc dx
        xor al, al
        out dx, al
        inc dx
        out dx, al
        mov dx, 0x1F7
        mov al, 0x30
        out dx, al
.w1:    in al, dx
        test al, 0x80
        jnz .w1
        mov si, 0x3200
        mov cx, 256
        mov dx, 0x1F0
        rep outsw
        mov dx, 0x1F7
.w2:    in al, dx
        test al, 0x80
        jnz .w2
        PUTS "ata write st="
        call hex8
        call nl
        ; read LBA 21 through INT 13h, LBA 20 through ATA
        mov ax, 0x0201
        mov cx, 22
        xor dh, dh
        mov dl, [boot_drive]
        mov bx, 0x4000
        int 0x13
        PUTS "int13 read of the ATA write:"
        mov al, [0x4000]
        call hex8
        call nl
        mov dx, 0x1F6
        mov al, 0xE0
        out dx, al
        mov dx, 0x1F2
        mov al, 1
        out dx, al
        inc dx
        mov al, 20
        out dx, al
        inc dx
        xor al, al
        out dx, al
        inc dx
        out dx, al
        mov dx, 0x1F7
        mov al, 0x20
        out dx, al
.w3:    in al, dx
        test al, 0x80
        jnz .w3
        mov di, 0x4200
        mov cx, 256
        mov dx, 0x1F0
        rep insw
        PUTS "ata read of the int13 write:"
        mov al, [0x4200]
        call hex8
        call nl
        EXIT 0
%include "bios_end.inc"
