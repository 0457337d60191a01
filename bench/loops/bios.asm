; 20,000 x (INT 1Ah AH=00h + INT 13h AH=08h): a loop that lives in BIOS services.
        org 0x7C00
        bits 16
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        mov si, 20000
.loop:  xor ah, ah
        int 0x1A
        mov ah, 0x08
        mov dl, 0x80
        int 0x13
        dec si
        jnz .loop
        mov dx, 0x3F8
        mov al, 'B'
        out dx, al
        xor ax, ax
        out 0xF4, al
        hlt
        times 510-($-$$) db 0
        dw 0xAA55
