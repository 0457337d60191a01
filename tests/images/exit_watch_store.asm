; Stores in one translated block, the second one watched by the debugger in the tests
; (tests/emu/test_unicorn_exit_check.py), then a power-off through isa-debug-exit (status 3).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
%include "core_pm_entry.inc"
        mov eax, 0x55555555
        mov ebx, 0x66666666
        jmp .block
.block:
        mov [0x7000], eax
        inc eax
        mov [0x7004], eax
        add ebx, eax
        mov [0x7008], ebx
        mov [0x700c], eax
        mov al, 0x01
        out 0xf4, al
        hlt
msg:    db "stores, one of them watched", 13, 10, 0
%include "bios_end.inc"
