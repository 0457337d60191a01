; BIOS test image: the VGA registers a VGA BIOS loads for mode 3 (DAC palette, attribute
; controller) and INT 10h AH=10h (palette registers, overscan, blink, DAC, colour
; paging), read back through the ports and the BIOS.  Expected: bios_vga.expected.
%define IMG_SECTORS 16
%define BODY_SECTORS 6
%include "bios_lib.inc"

main:
        PUTS "bios_vga"
        call nl
        call dump
        ; ---- AH=10h
        mov ax, 0x1000            ; palette register 1 := 3Fh
        mov bx, 0x3F01
        int 0x10
        mov ax, 0x1007
        mov bx, 0x0001
        int 0x10
        SHOW8 "07 bh=", bh
        mov ax, 0x1001            ; overscan := 15h
        mov bh, 0x15
        int 0x10
        mov ax, 0x1008
        xor bh, bh
        int 0x10
        SHOW8 " 08 bh=", bh
        mov ax, 0x1003            ; blink off
        mov bl, 0
        int 0x10
        mov ax, 0x1007
        mov bl, 0x10
        int 0x10
        SHOW8 " mode=", bh
        mov ax, 0x1003            ; blink on
        mov bl, 1
        int 0x10
        mov ax, 0x1007
        mov bl, 0x10
        int 0x10
        SHOW8 " mode=", bh
        mov ax, 0x1007            ; index > 14h: BH untouched
        mov bx, 0x7715
        int 0x10
        SHOW8 " 07/15 bh=", bh
        call nl
        mov ax, 0x1009            ; all 16 + overscan
        mov dx, buf
        int 0x10
        PUTS "09 "
        mov di, buf
        mov cx, 17
        call hexdump
        call nl
        mov ax, 0x1010            ; DAC 5 := (1,2,3)
        mov bx, 5
        mov dh, 1
        mov cx, 0x0203
        int 0x10
        mov ax, 0x1015
        mov bx, 5
        xor cx, cx
        xor dx, dx
        int 0x10
        SHOW16 "15 cx=", cx
        SHOW16 " dx=", dx
        mov si, rgbs              ; DAC 250..251 := block
        mov di, buf
        mov cx, 6
        rep movsb
        mov ax, 0x1012
        mov bx, 250
        mov cx, 2
        mov dx, buf
        int 0x10
        mov di, buf
        mov cx, 8
        xor al, al
        rep stosb
        mov ax, 0x1017
        mov bx, 249
        mov cx, 3
        mov dx, buf
        int 0x10
        PUTS " 17 "
        mov di, buf
        mov cx, 9
        call hexdump
        call nl
        mov ax, 0x101A
        int 0x10
        SHOW16 "1a bx=", bx
        mov ax, 0x1013            ; paging mode 1 (16 pages of 16), then page 3
        mov bx, 0x0100
        int 0x10
        mov ax, 0x1013
        mov bx, 0x0301
        int 0x10
        mov ax, 0x101A
        int 0x10
        SHOW16 " 1a bx=", bx
        call nl
        ; ---- a mode set loads it all again
        mov ax, 0x0003
        int 0x10
        call dump
        PUTS "done"
        call nl
        EXIT 0

; dump: attribute registers 00h-14h, DAC entries 0-63 (+ a sum of 64-255).  (Not the PEL
; mask: QEMU's stdvga reads port 3C6h as 00h whatever was written.)
dump:
        PUTS "attr="
        xor bx, bx
.a:     mov dx, 0x3DA
        in al, dx
        mov al, bl
        mov dx, 0x3C0
        out dx, al
        inc dx
        in al, dx
        call hex8
        inc bl
        cmp bl, 21
        jb .a
        mov dx, 0x3DA
        in al, dx
        mov al, 0x20
        mov dx, 0x3C0
        out dx, al
        call nl
        mov dx, 0x3C7
        xor al, al
        out dx, al
        mov dx, 0x3C9
        mov cx, 192
.d:     in al, dx
        call hex8
        dec cx
        test cx, 63
        jnz .n
        call nl
.n:     test cx, cx
        jnz .d
        xor bx, bx
        mov cx, 576
.s:     in al, dx
        xor ah, ah
        add bx, ax
        loop .s
        SHOW16 "rest=", bx
        call nl
        ret

rgbs:   db 0x3F, 0x00, 0x11, 0x22, 0x33, 0x3E
buf:    times 32 db 0

%include "bios_end.inc"
