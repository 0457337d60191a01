; BIOS test image: INT 10h text services (mode set, cursor, teletype with BEL/BS/CR/LF and
; scrolling, write char/attribute, scroll windows, write string, read char) and the CRTC
; cursor registers, reading the results back from 0xB8000 and the ports.
; Expected transcript: tests/test_bios_images.py (checked under qemu-system-i386 -m 64).
%define IMG_SECTORS 16
%define BODY_SECTORS 8
%include "bios_lib.inc"

; CELL row, col -> print " cc:aa" of the text cell (direct read of 0xB8000)
%macro CELL 2
        push es
        push ax
        push bx
        mov ax, 0xB800
        mov es, ax
        mov bx, ((%1) * 80 + (%2)) * 2
        mov ax, [es:bx]
        call space
        call hex8
        mov al, ':'
        call putc
        mov al, ah
        call hex8
        pop bx
        pop ax
        pop es
%endmacro

%macro GOTO 2
        mov ah, 0x02
        mov bh, 0
        mov dx, ((%1) << 8) | (%2)
        int 0x10
%endmacro

%macro TTY 1
        mov ax, 0x0E00 | (%1)
        mov bx, 0x0007
        int 0x10
%endmacro

main:
        PUTS "bios_video"
        call nl
        mov ah, 0x0F
        int 0x10
        SHOW16 "0f ax=", ax
        SHOW16 " bx=", bx
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 " 03 cx=", cx
        call crtc
        call nl

        ; ---- mode 3: clears, cursor home
        mov ax, 0x0003
        int 0x10
        SHOW16 "00 ax=", ax
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 " 03 cx=", cx
        SHOW16 " dx=", dx
        CELL 0, 0
        CELL 24, 79
        call crtc
        call nl

        ; ---- teletype, BS, CR, LF, BEL
        TTY 'H'
        TTY 'i'
        TTY 7
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 "tty dx=", dx
        TTY 8
        TTY 8
        TTY 8
        mov ah, 0x03
        int 0x10
        SHOW16 " bs dx=", dx
        TTY 'J'
        TTY 10
        mov ah, 0x03
        int 0x10
        SHOW16 " lf dx=", dx
        TTY 13
        mov ah, 0x03
        int 0x10
        SHOW16 " cr dx=", dx
        CELL 0, 0
        CELL 0, 1
        CELL 0, 2
        call crtc
        call nl

        ; ---- 08h read char/attr, 09h / 0Ah write n times
        GOTO 2, 5
        mov ax, 0x0958
        mov bx, 0x001E
        mov cx, 3
        int 0x10
        GOTO 2, 6
        mov ah, 0x08
        mov bh, 0
        int 0x10
        SHOW16 "08 ax=", ax
        mov ah, 0x03
        int 0x10
        SHOW16 " dx=", dx
        GOTO 2, 7
        mov ax, 0x0A59
        mov bx, 0x0070
        mov cx, 2
        int 0x10
        CELL 2, 5
        CELL 2, 6
        CELL 2, 7
        CELL 2, 8
        CELL 2, 9
        call nl
        ; 09h across the end of the row wraps to the next one
        GOTO 3, 78
        mov ax, 0x0921
        mov bx, 0x0024
        mov cx, 4
        int 0x10
        CELL 3, 79
        CELL 4, 0
        CELL 4, 1
        CELL 4, 2
        call nl

        ; ---- teletype wraps at column 80 and scrolls at the bottom
        GOTO 24, 78
        mov ax, 0x0941            ; bottom row attr 0x1E, so we can see what the scroll keeps
        mov bx, 0x001E
        mov cx, 2
        int 0x10
        TTY 'a'
        TTY 'b'
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 "wrap dx=", dx
        TTY 'c'
        TTY 10
        mov ah, 0x03
        int 0x10
        SHOW16 " dx=", dx
        CELL 0, 0
        CELL 1, 5
        CELL 23, 78
        CELL 23, 79
        CELL 24, 0
        CELL 24, 1
        CELL 24, 79
        call nl

        ; ---- 06h / 07h scroll windows
        mov ax, 0x0003
        int 0x10
        mov cx, 10
        mov bl, '0'
.fill:  push cx
        mov ah, 0x02
        mov bh, 0
        mov dh, bl
        sub dh, '0'
        mov dl, 0
        int 0x10
        mov ah, 0x09
        mov al, bl
        mov bh, 0
        push bx
        mov bl, 0x07
        mov cx, 80
        int 0x10
        pop bx
        inc bl
        pop cx
        loop .fill
        mov ax, 0x0602            ; up 2 lines, rows 1..6, cols 10..20, attr 4F
        mov bh, 0x4F
        mov cx, 0x010A
        mov dx, 0x0614
        int 0x10
        PUTS "06"
        CELL 1, 10
        CELL 4, 20
        CELL 5, 15
        CELL 6, 10
        CELL 6, 21
        CELL 7, 10
        call nl
        mov ax, 0x0701            ; down 1 line, rows 0..3, cols 0..3, attr 2A
        mov bh, 0x2A
        mov cx, 0x0000
        mov dx, 0x0303
        int 0x10
        PUTS "07"
        CELL 0, 0
        CELL 1, 0
        CELL 3, 3
        CELL 3, 4
        CELL 4, 0
        call nl
        mov ax, 0x0600            ; AL=0: clear the window
        mov bh, 0x17
        mov cx, 0x0800
        mov dx, 0x094F
        int 0x10
        mov ax, 0x0620            ; more lines than the window: clears too
        mov bh, 0x31
        mov cx, 0x0000
        mov dx, 0x0001
        int 0x10
        PUTS "clr"
        CELL 8, 0
        CELL 9, 79
        CELL 7, 0
        CELL 0, 0
        CELL 1, 1
        CELL 0, 2
        call nl

        ; ---- 13h write string
        push es
        push bp
        xor ax, ax
        mov es, ax
        mov bp, str1
        mov ax, 0x1301            ; attr in BL, update cursor
        mov bx, 0x002F
        mov cx, 5
        mov dx, 0x0C03
        int 0x10
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 "13 dx=", dx
        mov bp, str2
        mov ax, 0x1302            ; char/attr pairs, cursor not moved
        mov bx, 0
        mov cx, 2
        mov dx, 0x0D00
        int 0x10
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 " dx=", dx
        pop bp
        pop es
        CELL 12, 3
        CELL 12, 7
        CELL 13, 0
        CELL 13, 1
        call nl

        ; ---- 01h cursor shape, 05h page, 12h, 1Ah, unknown
        mov ah, 0x01
        mov cx, 0x0D0E
        int 0x10
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 "01 cx=", cx
        call crtc
        mov ah, 0x01
        mov cx, 0x2000
        int 0x10
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 " cx=", cx
        call crtc
        mov ah, 0x01
        mov cx, 0x0607
        int 0x10
        call crtc
        mov ah, 0x01
        mov cx, 0x0406
        int 0x10
        call crtc
        call nl
        ; ---- tab, and the attribute a teletype scroll gives the new bottom line
        GOTO 5, 1
        TTY 9
        mov ah, 0x03
        mov bh, 0
        int 0x10
        SHOW16 "tab dx=", dx
        CELL 5, 1
        CELL 5, 2
        GOTO 24, 0
        mov ax, 0x0951
        mov bx, 0x005C
        mov cx, 80
        int 0x10
        GOTO 24, 3
        TTY 10
        CELL 23, 3
        CELL 24, 0
        CELL 24, 3
        CELL 24, 79
        call nl
        mov ax, 0x0500
        int 0x10
        SHOW16 "05 ax=", ax
        SHOW8 " page=", [0x462]
        mov ah, 0x12
        mov bx, 0xFF10
        mov cx, 0xFFFF
        int 0x10
        SHOW16 " 12 ax=", ax
        SHOW16 " bx=", bx
        SHOW16 " cx=", cx
        mov ax, 0x1A00
        mov bx, 0xFFFF
        int 0x10
        SHOW16 " 1a ax=", ax
        SHOW16 " bx=", bx
        call nl
        PUTS "done"
        call nl
        EXIT 0

; crtc: print " crtc=SSEE LLLL" (cursor start/end regs 0A/0B and location 0E/0F)
crtc:
        push ax
        push dx
        PUTS " crtc="
        mov dx, 0x3D4
        mov al, 0x0A
        out dx, al
        inc dx
        in al, dx
        call hex8
        dec dx
        mov al, 0x0B
        out dx, al
        inc dx
        in al, dx
        call hex8
        call space
        dec dx
        mov al, 0x0E
        out dx, al
        inc dx
        in al, dx
        call hex8
        dec dx
        mov al, 0x0F
        out dx, al
        inc dx
        in al, dx
        call hex8
        pop dx
        pop ax
        ret

str1:   db "Hello"
str2:   db "A", 0x4E, "B", 0x5F

%include "bios_end.inc"
