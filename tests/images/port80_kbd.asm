; The POST port and the 8042's status register, as Linux's delay loops and keyboard probes use
; them: 3,000 x (OUT 0x80; IN 0x64), then controller commands that change the status (read the
; command byte: OBF set; read it from 0x60: OBF clear; self-test), each status read printed.
; emu/fastports.py answers OUT 0x80 (nobody claims the port) and IN 0x64 (devices/ps2.py
; publishes its status) in C: tests/emu/test_native_paging.py runs it both ways.
%define IMG_SECTORS 4
%define BODY_SECTORS 2
%include "bios_lib.inc"
main:
        cli
        xor ebx, ebx
        mov cx, 3000
.l:     mov al, cl
        out 0x80, al
        in al, 0x64
        movzx eax, al
        add ebx, eax
        loop .l
        mov eax, ebx
        SHOW32 "sum ", eax
        mov al, 0x20                    ; read the command byte
        out 0x64, al
        in al, 0x64
        SHOW8 "status ", al
        in al, 0x60
        SHOW8 "cmd ", al
        in al, 0x64
        SHOW8 "status ", al
        mov al, 0xAA                    ; self-test
        out 0x64, al
        in al, 0x64
        SHOW8 "status ", al
        in al, 0x60
        SHOW8 "test ", al
        in al, 0x64
        SHOW8 "status ", al
        mov ax, 0x1234
        out 0x80, ax                    ; a wide write: dropped too
        EXIT 0
%include "bios_end.inc"
