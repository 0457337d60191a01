; 50,000 x ud2 through a real-mode IVT handler that skips it: a loop that lives in exceptions.
        org 0x7C00
        bits 16
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        mov word [6*4], handler
        mov word [6*4+2], 0
        mov si, 50000
.loop:  ud2
        dec si
        jnz .loop
        mov dx, 0x3F8
        mov al, 'U'
        out dx, al
        xor ax, ax
        out 0xF4, al
        hlt
handler:
        push bp
        mov bp, sp
        add word [bp+2], 2      ; return past the 2-byte ud2
        pop bp
        iret
        times 510-($-$$) db 0
        dw 0xAA55
