; VGA test image: mode 12h (640x480, 16 colours, planar) set with INT 10h, drawn with the
; graphics controller's write modes 0 (set/reset, data rotate, logical function, bit mask),
; 1 (latch copy), 2 and 3, the sequencer map mask, read modes 0 and 1 (colour compare and
; don't care), an attribute palette change and a DAC change, and INT 10h AH=0Ch/0Dh pixels
; (with the XOR bit).  Prints a transcript on COM1, "DONE", waits for a byte on COM1, then
; powers off.  Expected transcript: vga_mode12.expected.
%define IMG_SECTORS 16
%define BODY_SECTORS 8
%include "bios_lib.inc"

%macro GC 2
        mov dx, 0x3CE
        mov al, %1
        out dx, al
        inc dx
        mov al, %2
        out dx, al
%endmacro
%macro SEQ 2
        mov dx, 0x3C4
        mov al, %1
        out dx, al
        inc dx
        mov al, %2
        out dx, al
%endmacro

main:
        PUTS "vga_mode12"
        call nl
        mov ax, 0x0012
        int 0x10
        SHOW8 "al=", al
        mov ah, 0x0F
        int 0x10
        SHOW16 " 0f ax=", ax
        ; registers as the BIOS left them
        mov cx, 9
        xor bl, bl
.gr:    mov dx, 0x3CE
        mov al, bl
        out dx, al
        inc dx
        in al, dx
        SHOW8 " ", al
        inc bl
        loop .gr
        call nl
        push es
        mov ax, 0xA000
        mov es, ax
        ; -- write mode 2: 16 vertical bars, 40 pixels (5 bytes) wide, rows 0-99
        GC 5, 0x02
        xor di, di
        xor bx, bx                  ; row
.r2:    xor cx, cx                  ; byte in row
.c2:    mov ax, cx
        mov dl, 5
        div dl                      ; al = bar
        mov ah, [es:di]             ; load latches
        mov [es:di], al
        inc di
        inc cx
        cmp cx, 80
        jb .c2
        inc bx
        cmp bx, 100
        jb .r2
        ; -- write mode 0 with set/reset: colour 14 in plane-enabled bits, bit mask 0F0h,
        ;    rows 100-149 (only the right nibble of each byte keeps the old value: black)
        GC 5, 0x00
        GC 0, 0x0E
        GC 1, 0x0F
        GC 8, 0xF0
        mov di, 100*80
        mov cx, 50*80
.s0:    mov al, [es:di]
        mov byte [es:di], 0x00
        inc di
        loop .s0
        GC 1, 0x00
        GC 8, 0xFF
        ; -- write mode 0, rotate 2, XOR function, map mask planes 0+2: rows 150-199
        SEQ 2, 0x05
        GC 3, 0x1A                  ; function XOR (3 << 3), rotate 2
        mov di, 150*80
        mov cx, 50*80
.x0:    mov al, [es:di]
        mov byte [es:di], 0x3C
        inc di
        loop .x0
        GC 3, 0x00
        SEQ 2, 0x0F
        ; -- write mode 3: colour 12 via set/reset, bit mask from rotated data: rows 200-249
        GC 5, 0x03
        GC 0, 0x0C
        mov di, 200*80
        mov cx, 50*80
.m3:    mov al, [es:di]
        mov byte [es:di], 0x99
        inc di
        loop .m3
        GC 5, 0x00
        GC 0, 0x00
        ; -- write mode 1: copy rows 0-49 to rows 250-299 through the latches
        GC 5, 0x01
        xor si, si
        mov di, 250*80
        mov cx, 50*80
.m1:    mov al, [es:si]
        mov [es:di], al
        inc si
        inc di
        loop .m1
        GC 5, 0x00
        ; -- read mode 0: the 4 planes of byte 80*10+6 (bar 1)
        mov cx, 4
        xor bl, bl
.rp:    GC 4, bl
        mov al, [es:80*10+6]
        SHOW8 " p", al
        inc bl
        loop .rp
        GC 4, 0x00
        ; -- read mode 1: colour compare 14 (set/reset rows), don't care 0Fh then 07h
        GC 5, 0x08
        GC 2, 0x0E
        mov al, [es:100*80+3]
        SHOW8 " cc=", al
        GC 7, 0x07
        mov al, [es:100*80+3]
        SHOW8 " cc7=", al
        mov al, [es:80*3+71]         ; bar 14 in row 3
        SHOW8 " cc14=", al
        GC 7, 0x0F
        GC 5, 0x00
        pop es
        call nl
        ; -- INT 10h pixels: a diagonal of colour 9, an XOR pass, reads
        mov cx, 300
.dg:    mov dx, cx
        sub dx, 200
        mov ax, 0x0C09
        xor bh, bh
        int 0x10
        inc cx
        cmp cx, 560
        jb .dg
        mov ax, 0x0C83              ; XOR 3 onto (310, 110): 9 ^ 3 = 10
        mov cx, 310
        mov dx, 110
        int 0x10
        mov ax, 0x0D00
        int 0x10
        SHOW8 "0d=", al
        mov ax, 0x0D00
        mov cx, 47
        mov dx, 20
        int 0x10
        SHOW8 " 0d=", al
        ; SeaBIOS leaves SR index 2 = 0Fh and GR index 4 = 0
        mov dx, 0x3C4
        in al, dx
        SHOW8 " sri=", al
        mov dx, 0x3CE
        in al, dx
        SHOW8 " gri=", al
        ; -- attribute palette: colour 1 -> DAC 3Fh (white); DAC 2 := orange
        mov dx, 0x3DA
        in al, dx
        mov dx, 0x3C0
        mov al, 0x01
        out dx, al
        mov al, 0x3F
        out dx, al
        mov al, 0x20
        out dx, al
        mov dx, 0x3C8
        mov al, 2
        out dx, al
        inc dx
        mov al, 0x3F
        out dx, al
        mov al, 0x20
        out dx, al
        mov al, 0x00
        out dx, al
        call nl
        PUTS "DONE"
        call nl
        mov dx, 0x3FD
.wait:  in al, dx
        test al, 1
        jz .wait
        EXIT 0
%include "bios_end.inc"
