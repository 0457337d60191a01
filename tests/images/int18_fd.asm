; The floppy booted after int18_hd.asm's INT 18h: prints DL and the text screen's lines that
; the BIOS wrote while booting (those starting with "Boot" or "No "), then exits.
%define IMG_SECTORS 40
%define BODY_SECTORS 2
%include "bios_lib.inc"

main:
        PUTS "floppy dl="
        mov al, [boot_drive]
        call hex8
        call nl
        push ds
        mov ax, 0xB800
        mov ds, ax
        xor bx, bx                 ; row offset
.row:   mov al, [bx]
        cmp al, 'B'
        jne .no
        cmp byte [bx + 2], 'o'
        je .print
        jmp .next
.no:    cmp al, 'N'
        jne .next
        cmp byte [bx + 2], 'o'
        jne .next
.print: mov si, bx
        mov cx, 80
.ch:    mov al, [si]
        pop ds
        push ds
        call putc_keep
        add si, 2
        loop .ch
        pop ds
        push ds
        call nl
        mov ax, 0xB800
        mov ds, ax
.next:  add bx, 160
        cmp bx, 160 * 25
        jb .row
        pop ds
        EXIT 0

putc_keep:                       ; putc with DS = 0 (putc does not touch DS) -- trailing spaces trimmed by the test
        call putc
        push ax
        mov ax, 0xB800
        mov ds, ax
        pop ax
        ret
%include "bios_end.inc"
