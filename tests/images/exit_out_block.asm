; isa-debug-exit written in the middle of a translated block, stores after it in the same block
; (tests/emu/test_unicorn_exit_check.py: stock and patched Unicorn must agree on what the rest
; of the block leaves behind).  Powers off with status (5 << 1) | 1 = 11.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
%include "core_pm_entry.inc"
        mov eax, 0x11111111
        mov ebx, 0x22222222
        mov dword [0x7000], 0
        jmp .block
.block:                                 ; one block: the OUT, then stores and register work
        mov al, 0x05
        out 0xf4, al
        mov [0x7000], ebx
        mov [0x7004], eax
        inc ebx
        mov [0x7008], ebx
        add eax, ebx
        mov [0x700c], eax
        hlt
msg:    db "out to isa-debug-exit, then stores", 13, 10, 0
%include "bios_end.inc"
