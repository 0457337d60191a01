; BIOS test image: INT 13h on a 200-sector raw image (geometry, CHS and LBA reads and writes,
; reads past the end, status codes, EDD).  Sectors after the body hold their own LBA as a dword
; followed by a fill byte, so every read can be checked by content.
; Expected transcript: tests/test_bios_images.py (checked under qemu-system-i386 -m 64).
%define IMG_SECTORS 200
%define BODY_SECTORS 7
%include "bios_lib.inc"

; print " ah=XX al=XX cf=N" after an INT 13h (flags still those of the int)
%macro STATUS 0
        call show_cf
        SHOW8 " ah=", ah
        SHOW8 " al=", al
%endmacro

; print dword at [0x1000] and the byte at [0x1000+4]: the LBA tag of the sector read there
%macro TAG 1
        PUTS " tag="
        push eax
        mov eax, [%1]
        call hex32
        mov al, [%1 + 4]
        call space
        call hex8
        pop eax
%endmacro

main:
        PUTS "bios_disk"
        SHOW8 " dl=", [boot_drive]
        call nl
        mov dl, [boot_drive]

        ; ---- 08h: parameters
        push es
        mov ax, 0x0800
        mov bx, 0x1234
        mov di, 0x5678
        int 0x13
        call show_cf
        SHOW16 " 08 ax=", ax
        SHOW16 " bx=", bx
        SHOW16 " cx=", cx
        SHOW16 " dx=", dx
        SHOW16 " es=", es
        SHOW16 " di=", di
        pop es
        call nl
        ; 08h on a drive that is not there
        mov ax, 0x0800
        mov dl, 0x81
        int 0x13
        call show_cf
        SHOW16 " 08/81 ax=", ax
        mov ah, 0x01
        mov dl, 0x80
        int 0x13
        call show_cf
        SHOW16 " 01 ax=", ax
        call nl

        ; ---- 15h: size
        mov ax, 0x1500
        mov dl, 0x80
        int 0x13
        call show_cf
        SHOW16 " 15 ax=", ax
        SHOW16 " cx=", cx
        SHOW16 " dx=", dx
        call nl

        ; ---- 41h: extensions
        mov ah, 0x41
        mov bx, 0x55AA
        mov dl, 0x80
        int 0x13
        call show_cf
        SHOW16 " 41 ax=", ax
        SHOW16 " bx=", bx
        SHOW16 " cx=", cx
        call nl

        ; ---- 48h: EDD parameters (26-byte buffer: EDD 1.x part only)
        mov di, edd
        mov cx, 32
        mov al, 0xEE
        rep stosb
        mov word [edd], 26
        mov ah, 0x48
        mov dl, 0x80
        mov si, edd
        int 0x13
        call show_cf
        SHOW16 " 48 ax=", ax
        PUTS " buf="
        mov di, edd
        mov cx, 28
        call hexdump
        call nl
        ; 48h with a too-small buffer
        mov word [edd], 20
        mov ah, 0x48
        mov dl, 0x80
        mov si, edd
        int 0x13
        call show_cf
        SHOW16 " 48/20 ax=", ax
        call nl
        ; 48h with the EDD 3.0 (T13, 74 bytes) and Phoenix (66 bytes) buffers: all but the
        ; DPTE pointer (its address is the BIOS's business), then the DPTE it points at
        mov word [edd], 74
        call edd3
        mov word [edd], 66
        call edd3

        ; ---- 02h: CHS reads
        mov ax, 0x0201            ; C0 H0 S10 = LBA 9
        mov cx, 0x000A
        mov dx, 0x0080
        mov bx, 0x1000
        int 0x13
        STATUS
        TAG 0x1000
        call nl
        mov ax, 0x0203            ; C0 H3 S5 = LBA 3*63+4 = 193, 3 sectors
        mov cx, 0x0005
        mov dx, 0x0380
        mov bx, 0x1000
        int 0x13
        STATUS
        TAG 0x1000
        TAG 0x1400
        call nl
        ; across the end of the image: LBA 198..201
        mov byte [0x1400], 0x55
        mov ax, 0x0204
        mov cx, 0x0010            ; S16
        mov dx, 0x0380            ; H3: 3*63+15 = 204? no: see below
        mov bx, 0x1000
        int 0x13
        STATUS
        call nl
        mov ax, 0x0204            ; C0 H3 S10 = LBA 198, 4 sectors: 198,199 exist; 200,201 do not
        mov cx, 0x000A
        mov dx, 0x0380
        mov bx, 0x1000
        int 0x13
        STATUS
        TAG 0x1000
        TAG 0x1200
        call nl
        mov ah, 0x01
        mov dl, 0x80
        int 0x13
        call show_cf
        SHOW16 " 01 ax=", ax
        call nl
        ; beyond the geometry, bad sector 0, count 0, head too big, count > 128
        mov ax, 0x0201
        mov cx, 0x0101            ; C1
        mov dx, 0x0080
        int 0x13
        STATUS
        mov ax, 0x0201
        mov cx, 0x0000            ; S0
        mov dx, 0x0080
        int 0x13
        STATUS
        mov ax, 0x0200            ; count 0
        mov cx, 0x0001
        mov dx, 0x0080
        int 0x13
        STATUS
        call nl
        mov ax, 0x0201
        mov cx, 0x0001
        mov dx, 0x1080            ; H16
        int 0x13
        STATUS
        mov ax, 0x0281            ; 129 sectors
        mov cx, 0x0001
        mov dx, 0x0080
        int 0x13
        STATUS
        mov ax, 0x0201
        mov cx, 0x0040            ; S64
        mov dx, 0x0080
        int 0x13
        STATUS
        call nl

        ; ---- 42h: LBA reads
        mov dword [dap + 8], 150
        mov word [dap + 2], 2
        mov word [dap + 4], 0x1000
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        TAG 0x1000
        TAG 0x1200
        call nl
        mov dword [dap + 8], 197  ; 197..200: one past the end
        mov word [dap + 2], 4
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        TAG 0x1000
        TAG 0x1400
        call nl
        mov dword [dap + 8], 200  ; first LBA past the end
        mov word [dap + 2], 1
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        mov dword [dap + 8], 5
        mov word [dap + 2], 0     ; nothing to do
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        call nl

        ; ---- 43h / 03h: writes, read back
        mov di, 0x3000
        mov cx, 512
        mov al, 0xA5
        rep stosb
        mov dword [0x3000], 0xC0FFEE
        mov dword [dap + 8], 120
        mov word [dap + 2], 1
        mov word [dap + 4], 0x3000
        mov ax, 0x4300
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        mov ax, 0x0201            ; LBA 120 = H1 S58
        mov cx, 0x003A
        mov dx, 0x0180
        mov bx, 0x1000
        int 0x13
        STATUS
        TAG 0x1000
        call nl
        mov dword [0x3000], 0xBEEF
        mov ax, 0x0301            ; write LBA 121 = H1 S59
        mov cx, 0x003B
        mov dx, 0x0180
        mov bx, 0x3000
        int 0x13
        STATUS
        mov dword [dap + 8], 121
        mov word [dap + 4], 0x1000
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        TAG 0x1000
        call nl

        ; ---- 00h reset, 04h verify, unknown function, status after it
        mov ah, 0x00
        mov dl, 0x80
        int 0x13
        STATUS
        mov ax, 0x0401
        mov cx, 0x0001
        mov dx, 0x0080
        int 0x13
        STATUS
        mov ax, 0x2000
        mov dl, 0x80
        int 0x13
        STATUS
        mov ah, 0x01
        mov dl, 0x80
        int 0x13
        STATUS
        call nl
        ; floppy DMA: a buffer crossing a 64 KiB boundary is refused (AH=09h) before the media
        push es
        mov ax, 0x1000
        mov es, ax
        mov bx, 0xFF00
        mov ax, 0x0202
        mov cx, 0x0001
        xor dx, dx
        int 0x13
        call show_cf
        SHOW16 " dma ax=", ax
        mov ax, 0x0F00
        mov es, ax
        mov bx, 0xFE00
        mov ax, 0x0202
        mov cx, 0x0001
        xor dx, dx
        int 0x13
        call show_cf
        SHOW16 " nodma ax=", ax
        pop es
        call nl
        PUTS "done"
        call nl
        EXIT 0

edd3:
        mov di, edd + 2
        mov cx, 80
        mov al, 0xEE
        rep stosb
        mov ah, 0x48
        mov dl, 0x80
        mov si, edd
        int 0x13
        call show_cf
        SHOW16 " 48/", [edd]
        PUTS " buf="
        mov di, edd
        mov cx, 26
        call hexdump
        PUTS " |"
        mov di, edd + 30
        mov cx, 46
        call hexdump
        call nl
        PUTS " dpte="
        push es
        les di, [edd + 26]
        mov cx, 16
        call hexdump
        pop es
        call nl
        ret

        align 4
dap:    db 16, 0
        dw 1
        dw 0x1000, 0
        dq 0
edd:    times 96 db 0

%include "bios_end_tagged.inc"
