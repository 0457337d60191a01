; INT 18h from a hard disk boot sector: SeaBIOS tries the next boot device (the floppy in
; QEMU's default order c, a, d); tests/images/int18_fd.asm is that floppy.
        bits 16
        org 0x7C00
        mov si, msg
.l:     lodsb
        test al, al
        jz .x
        mov dx, 0x3F8
        out dx, al
        jmp .l
.x:     int 0x18
        cli
        hlt
msg:    db "hd: int 18h", 13, 10, 0
        times 510 - ($ - $$) db 0
        dw 0xAA55
