; BIOS test image for a floppy boot (QEMU -drive if=floppy, BareFlow boot drive 00h): the
; image is drive A:, there is no hard disk.  The test pads this image to several sizes.
; Expected transcripts: tests/test_bios_images.py.
%define IMG_SECTORS 40
%define BODY_SECTORS 6
%include "bios_lib.inc"

%macro STATUS 0
        call show_cf
        SHOW8 " ah=", ah
        SHOW8 " al=", al
%endmacro

main:
        PUTS "bios_floppy"
        SHOW8 " dl=", [boot_drive]
        SHOW16 " equip=", [0x410]
        SHOW8 " hd=", [0x475]
        call nl
        push es
        mov ax, 0x0800
        xor dx, dx
        mov bx, 0x1234
        int 0x13
        call show_cf
        SHOW16 " 08 ax=", ax
        SHOW16 " bx=", bx
        SHOW16 " cx=", cx
        SHOW16 " dx=", dx
        PUTS " tbl="
        mov cx, 11
        call hexdump
        pop es
        call nl
        mov ax, 0x1500
        xor dx, dx
        int 0x13
        call show_cf
        SHOW16 " 15 ax=", ax
        mov ax, 0x4100
        mov bx, 0x55AA
        xor dx, dx
        int 0x13
        call show_cf
        SHOW16 " 41 ax=", ax
        mov ax, 0x0800
        mov dx, 0x0080
        int 0x13
        call show_cf
        SHOW16 " 08/80 ax=", ax
        mov ax, 0x0201
        mov cx, 0x0001
        mov dx, 0x0080
        mov bx, 0x1000
        int 0x13
        call show_cf
        SHOW16 " 02/80 ax=", ax
        call nl
        ; reads: sector 20 (LBA 19), the last sector of the image, one past it,
        ; the last sector of a 1.44 MB disk, sector 19 (beyond 18/track)
        mov ax, 0x0201
        mov cx, 0x0002            ; C0 S2 H1 = LBA 19
        mov dx, 0x0100
        mov bx, 0x1000
        int 0x13
        STATUS
        SHOW32 " tag=", [0x1000]
        mov ax, 0x0202            ; LBA 38, 39 (39 = last of the 40-sector image)
        mov cx, 0x0103            ; C1 H0 S3 = 36+2 = 38
        mov dx, 0x0000
        mov bx, 0x1000
        int 0x13
        STATUS
        SHOW32 " tag=", [0x1200]
        call nl
        mov ax, 0x0203            ; LBA 38..40: one past a 40-sector image
        mov cx, 0x0103
        mov dx, 0x0000
        mov bx, 0x1000
        int 0x13
        STATUS
        mov ax, 0x0100
        xor dx, dx
        int 0x13
        STATUS
        mov ax, 0x0201
        mov cx, 0x4F12            ; C79 H1 S18: last of 1.44 MB
        mov dx, 0x0100
        mov bx, 0x1000
        int 0x13
        STATUS
        mov ax, 0x0201
        mov cx, 0x0013            ; S19
        mov dx, 0x0000
        int 0x13
        STATUS
        mov ax, 0x0201
        mov cx, 0x5001            ; C80
        mov dx, 0x0000
        int 0x13
        STATUS
        call nl
        mov ax, 0x0212            ; 18 sectors from S1 H1: a whole track
        mov cx, 0x0001
        mov dx, 0x0100
        mov bx, 0x1000
        int 0x13
        STATUS
        mov ax, 0x0214            ; 20 sectors from C0 H1 S1: crosses to the next cylinder
        mov cx, 0x0001
        mov dx, 0x0100
        mov bx, 0x1000
        int 0x13
        STATUS
        mov ax, 0x0203            ; 3 sectors from S17: crosses the track end
        mov cx, 0x0011
        mov dx, 0x0000
        mov bx, 0x1000
        int 0x13
        STATUS
        SHOW32 " tag=", [0x1400]
        call nl
        SHOW8 "bda 48f=", [0x48F]
        SHOW8 " 490=", [0x490]
        SHOW8 " 441=", [0x441]
        SHOW8 " 43e=", [0x43E]
        SHOW8 " 43f=", [0x43F]
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

%include "bios_end_tagged.inc"
