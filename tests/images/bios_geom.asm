; BIOS test image: the disk geometry INT 13h reports.  The test copies this image, pads it
; (sparse) to several sizes and patches partition tables into it, then compares the line
; below under QEMU and BareFlow: QEMU's geometry guess and SeaBIOS's translation, end to end.
%define IMG_SECTORS 8
%define BODY_SECTORS 2
%include "bios_lib.inc"

main:
        push es
        mov ax, 0x0800
        mov dl, 0x80
        int 0x13
        pop es
        call show_cf
        SHOW16 " 08 cx=", cx
        SHOW16 " dx=", dx
        mov ax, 0x1500
        mov dl, 0x80
        int 0x13
        call show_cf
        SHOW16 " 15 ax=", ax
        SHOW16 " cx=", cx
        SHOW16 " dx=", dx
        mov word [edd], 26
        mov ah, 0x48
        mov dl, 0x80
        mov si, edd
        int 0x13
        SHOW16 " 48 infos=", [edd + 2]
        SHOW32 " c=", [edd + 4]
        SHOW32 " h=", [edd + 8]
        SHOW32 " s=", [edd + 12]
        SHOW32 " n=", [edd + 16]
        call nl
        ; last logical CHS sector that exists: reading it must work or fail like QEMU
        mov ax, 0x0800
        mov dl, 0x80
        push es
        int 0x13
        pop es
        mov ax, 0x0201
        mov dl, 0x80
        mov bx, 0x1000
        int 0x13
        call show_cf
        SHOW16 " last ax=", ax
        call nl
        ; the fixed disk parameter table IVT 41h points at (in the EBDA)
        PUTS "fdpt="
        push es
        les di, [0x41 * 4]
        mov cx, 16
        call hexdump
        pop es
        call nl
        EXIT 0

edd:    times 32 db 0

%include "bios_end.inc"
