; VGA test image: 80x25 text after INT 10h AX=0003h, drawn with INT 10h AH=09h (every
; attribute, box-drawing characters that use the 9th dot column, blink-bit backgrounds) with
; the cursor hidden; prints "DONE" on COM1, waits for a byte, powers off.  The test compares
; BareFlow's --screen-png with QEMU's screendump (720x400, 9x16 cells).
%define IMG_SECTORS 16
%define BODY_SECTORS 4
%include "bios_lib.inc"

main:
        mov ax, 0x0003
        int 0x10
        mov ah, 0x01
        mov cx, 0x2000              ; cursor off
        int 0x10
        ; row r (0-15), col c (0-15): char 'A'+c with attribute 16*r + c ... as 256 cells
        xor bl, bl                  ; attribute = cell number
.cell:  mov al, bl
        xor ah, ah
        mov cl, 16
        div cl                      ; al = row, ah = col
        mov dh, al
        mov dl, ah
        shl dl, 2                   ; 4 columns per cell
        mov ah, 0x02
        xor bh, bh
        int 0x10
        mov ah, 0x09
        mov al, bl
        mov cx, 3
        int 0x10
        inc bl
        jnz .cell
        ; a box of double lines and blocks on row 18 (C4h, CDh, DBh, B1h use the 9th column)
        mov dx, 0x1200
        mov ah, 0x02
        int 0x10
        mov ah, 0x09
        mov al, 0xC4
        mov bl, 0x1E
        mov cx, 20
        int 0x10
        mov dx, 0x1214
        mov ah, 0x02
        int 0x10
        mov ah, 0x09
        mov al, 0xB1
        mov bl, 0x4F
        mov cx, 20
        int 0x10
        mov dx, 0x1228
        mov ah, 0x02
        int 0x10
        mov ah, 0x09
        mov al, 0xDB
        mov bl, 0x0A
        mov cx, 20
        int 0x10
        mov dx, 0x1400
        mov ah, 0x02
        int 0x10
        mov si, msg
.m:     lodsb
        test al, al
        jz .md
        mov ah, 0x0E
        int 0x10
        jmp .m
.md:    PUTS "DONE"
        call nl
        mov dx, 0x3FD
.wait:  in al, dx
        test al, 1
        jz .wait
        EXIT 0
msg:    db "Hello from text mode: 9x16 cells, rendered with the VGA BIOS font.", 0
%include "bios_end.inc"
