; BIOS test image: memory services (INT 12h, INT 11h, INT 15h E820/E801/88h/24xx/C0h/C1h),
; unsupported INT 15h functions and the BIOS data area fields SeaBIOS leaves at boot.
; Expected transcript: tests/test_bios_images.py (checked under qemu-system-i386 -m 64).
%define IMG_SECTORS 32
%define BODY_SECTORS 8
%include "bios_lib.inc"

main:
        PUTS "bios_mem"
        call nl
        ; ---- INT 12h / INT 11h
        int 0x12
        SHOW16 "int12 ax=", ax
        int 0x11
        SHOW16 " int11 ax=", ax
        call nl

        ; ---- E820
        xor ebx, ebx
.e820:
        mov di, buf
        mov dword [di + 20], 0x12345678   ; must stay: only 20 bytes are returned
        mov eax, 0xE820
        mov edx, 0x534D4150
        mov ecx, 24
        int 0x15
        jc .e820_cf
        PUTS "e820 "
        push eax
        mov eax, [buf + 4]
        call hex32
        mov eax, [buf]
        call hex32
        call space
        mov eax, [buf + 12]
        call hex32
        mov eax, [buf + 8]
        call hex32
        call space
        mov eax, [buf + 16]
        call hex8
        pop eax
        SHOW32 " eax=", eax
        SHOW32 " ecx=", ecx
        SHOW32 " ebx=", ebx
        SHOW32 " pad=", [buf + 20]
        call nl
        test ebx, ebx
        jnz .e820
        jmp .e820_done
.e820_cf:
        PUTS "e820 cf=1"
        SHOW8 " ah=", ah
        call nl
.e820_done:
        ; E820 with a bad signature: SeaBIOS answers "unsupported"
        xor ebx, ebx
        mov eax, 0xE820
        mov edx, 0x12345678
        mov ecx, 20
        mov di, buf
        int 0x15
        call show_cf
        SHOW8 " ah=", ah
        ; E820 with a continuation value past the end
        mov ebx, 100
        mov eax, 0xE820
        mov edx, 0x534D4150
        mov ecx, 20
        int 0x15
        call show_cf
        SHOW8 " ah=", ah
        call nl

        ; ---- E801 / 88h
        mov ax, 0xE801
        xor bx, bx
        xor cx, cx
        xor dx, dx
        int 0x15
        call show_cf
        SHOW16 " e801 ax=", ax
        SHOW16 " bx=", bx
        SHOW16 " cx=", cx
        SHOW16 " dx=", dx
        call nl
        mov ah, 0x88
        int 0x15
        call show_cf
        SHOW16 " 88 ax=", ax
        call nl

        ; ---- A20 (INT 15h AX=2400h..2403h)
        mov ax, 0x2403
        int 0x15
        call show_cf
        SHOW16 " 2403 ax=", ax
        SHOW16 " bx=", bx
        mov ax, 0x2402
        int 0x15
        call show_cf
        SHOW16 " 2402 ax=", ax
        call nl
        mov ax, 0x2400
        int 0x15
        call show_cf
        SHOW16 " 2400 ax=", ax
        mov ax, 0x2402
        int 0x15
        SHOW16 " 2402 ax=", ax
        mov ax, 0x2401
        int 0x15
        call show_cf
        SHOW16 " 2401 ax=", ax
        mov ax, 0x2402
        int 0x15
        SHOW16 " 2402 ax=", ax
        mov ax, 0x2405
        int 0x15
        call show_cf
        SHOW16 " 2405 ax=", ax
        call nl

        ; ---- C0h configuration table, C1h EBDA segment
        push es
        mov ah, 0xC0
        int 0x15
        call show_cf
        SHOW16 " c0 ax=", ax
        PUTS " table="
        mov di, bx
        mov cx, 10
        call hexdump
        pop es
        push es
        mov ah, 0xC1
        int 0x15
        call show_cf
        SHOW16 " c1 es=", es
        pop es
        call nl

        ; ---- unsupported INT 15h functions
        mov ax, 0x4F1E
        stc
        int 0x15
        call show_cf
        SHOW16 " 4f ax=", ax
        mov ax, 0x2200
        int 0x15
        call show_cf
        SHOW16 " 22 ax=", ax
        mov ax, 0xE9FF
        int 0x15
        call show_cf
        SHOW16 " e9 ax=", ax
        call nl

        ; ---- 86h wait 1000 us
        mov ah, 0x86
        xor cx, cx
        mov dx, 1000
        int 0x15
        call show_cf
        SHOW16 " 86 ax=", ax
        call nl

        ; ---- BDA fields
        SHOW16 "bda com1=", [0x400]
        SHOW16 " com2=", [0x402]
        SHOW16 " lpt1=", [0x408]
        SHOW16 " ebda=", [0x40E]
        SHOW16 " equip=", [0x410]
        SHOW16 " mem=", [0x413]
        call nl
        SHOW16 "bda kbf=", [0x417]
        SHOW16 " head=", [0x41A]
        SHOW16 " tail=", [0x41C]
        SHOW16 " kbstart=", [0x480]
        SHOW16 " kbend=", [0x482]
        SHOW8 " kbf3=", [0x496]
        SHOW8 " kbled=", [0x497]
        call nl
        SHOW8 "bda mode=", [0x449]
        SHOW16 " cols=", [0x44A]
        SHOW16 " pagesz=", [0x44C]
        SHOW16 " pagestart=", [0x44E]
        SHOW16 " cur0=", [0x450]
        SHOW16 " curshape=", [0x460]
        SHOW8 " page=", [0x462]
        SHOW16 " crtc=", [0x463]
        SHOW8 " msr=", [0x465]
        SHOW8 " pal=", [0x466]
        call nl
        SHOW8 "bda rows=", [0x484]
        SHOW16 " chh=", [0x485]
        SHOW8 " vctl=", [0x487]
        SHOW8 " vsw=", [0x488]
        SHOW8 " vmode=", [0x489]
        SHOW8 " dcc=", [0x48A]
        SHOW8 " hdcount=", [0x475]
        SHOW8 " hdstat=", [0x474]
        SHOW8 " midnight=", [0x470]
        call nl
        ; EBDA: first word = its size in KiB
        push es
        mov ax, [0x40E]
        mov es, ax
        SHOW16 "ebda size=", [es:0]
        pop es
        call nl
        PUTS "done"
        call nl
        EXIT 0

buf:    times 32 db 0

%include "bios_end.inc"
