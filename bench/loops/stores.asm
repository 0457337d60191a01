; Guest stores: 2,000,000 x 8 dword stores to one data page (16 M stores), then 'K' on COM1 and
; isa-debug-exit.  Unicorn 2.1.4 sends every store through its slow path (tools/unicorn/).
        org 0x7C00
        bits 16
        xor ax, ax
        mov ds, ax
        mov bx, 0x8000
        mov eax, 0x12345678
        mov ecx, 2000000
.loop:  mov [bx], eax
        mov [bx+4], eax
        mov [bx+8], eax
        mov [bx+12], eax
        mov [bx+16], eax
        mov [bx+20], eax
        mov [bx+24], eax
        mov [bx+28], eax
        dec ecx
        jnz .loop
        mov dx, 0x3F8
        mov al, 'K'
        out dx, al
        xor ax, ax
        out 0xF4, al
        hlt
        times 510-($-$$) db 0
        dw 0xAA55
