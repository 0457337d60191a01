; VGA test image: mode 13h (320x200, 256 colours, chain 4) set with INT 10h, DAC entries set
; through the ports and INT 10h AX=1010h, a pattern drawn with direct writes to A000:0 and
; pixels with INT 10h AH=0Ch, read back with AH=0Dh.  Prints a transcript on COM1, then "DONE",
; then waits for one byte on COM1 (the test takes QEMU's screendump meanwhile) and powers off
; through isa-debug-exit.  Expected transcript: vga_mode13.expected.
%define IMG_SECTORS 16
%define BODY_SECTORS 6
%include "bios_lib.inc"

main:
        PUTS "vga_mode13"
        call nl
        mov ax, 0x0013
        int 0x10
        SHOW8 "al=", al
        mov ah, 0x0F
        int 0x10
        SHOW16 " 0f ax=", ax
        ; the PEL mask: written 0Fh, read back
        mov dx, 0x3C6
        mov al, 0x0F
        out dx, al
        in al, dx
        SHOW8 " pel=", al
        ; default DAC entries 20h and 40h (grey ramp, hue wheel)
        mov dx, 0x3C7
        mov al, 0x20
        out dx, al
        mov dx, 0x3C9
        mov cx, 3
.d1:    in al, dx
        SHOW8 " ", al
        loop .d1
        call nl
        ; DAC 1..63: a red ramp through the ports (entry i = (i, 63-i, i/2)); entry 64 gets
        ; values above 3Fh (the DAC keeps 6 bits?)
        mov dx, 0x3C8
        mov al, 1
        out dx, al
        mov dx, 0x3C9
        mov bl, 1
.ramp:  mov al, bl
        out dx, al
        mov al, 63
        sub al, bl
        out dx, al
        mov al, bl
        shr al, 1
        out dx, al
        inc bl
        cmp bl, 64
        jb .ramp
        mov al, 0x7F
        out dx, al
        mov al, 0xC5
        out dx, al
        mov al, 0x40
        out dx, al
        mov dx, 0x3C7
        mov al, 64
        out dx, al
        mov dx, 0x3C9
        mov cx, 3
.d2:    in al, dx
        SHOW8 " ", al
        loop .d2
        mov dx, 0x3C7
        in al, dx
        SHOW8 " st=", al
        mov dx, 0x3C8
        in al, dx
        SHOW8 " wi=", al
        ; entry 200 via INT 10h AX=1010h: (10h, 20h, 30h)
        mov ax, 0x1010
        mov bx, 200
        mov dh, 0x10
        mov cx, 0x2030
        int 0x10
        mov ax, 0x1015
        mov bx, 200
        int 0x10
        SHOW8 " 15 dh=", dh
        SHOW16 " cx=", cx
        call nl
        ; the pattern: pixel (x, y) = (x + y) & 3Fh on the top half, x ^ y below
        push es
        mov ax, 0xA000
        mov es, ax
        xor di, di
        xor dx, dx                ; y
.row:   xor cx, cx                ; x
.col:   mov ax, cx
        cmp dx, 100
        jae .xor
        add ax, dx
        and al, 0x3F
        jmp .put
.xor:   xor ax, dx
.put:   stosb
        inc cx
        cmp cx, 320
        jb .col
        inc dx
        cmp dx, 200
        jb .row
        ; read back through the window
        mov al, [es:321]
        SHOW8 "a0141=", al
        mov al, [es:320*150+7]
        SHOW8 " a0...=", al
        pop es
        ; a white diagonal (entry 15) and a box of entry 200 with INT 10h AH=0Ch
        mov cx, 0
.diag:  mov dx, cx
        mov ax, 0x0C0F
        xor bh, bh
        int 0x10
        inc cx
        cmp cx, 200
        jb .diag
        mov dx, 20
.by:    mov cx, 250
.bx:    mov ax, 0x0CC8
        int 0x10
        inc cx
        cmp cx, 300
        jb .bx
        inc dx
        cmp dx, 60
        jb .by
        mov ax, 0x0D00
        mov cx, 260
        mov dx, 30
        int 0x10
        SHOW8 " 0d=", al
        mov ax, 0x0D00
        mov cx, 5
        mov dx, 150
        int 0x10
        SHOW8 " 0d=", al
        call nl
        PUTS "DONE"
        call nl
        ; wait for the host's byte on COM1, then power off
        mov dx, 0x3FD
.wait:  in al, dx
        test al, 1
        jz .wait
        EXIT 0
%include "bios_end.inc"
