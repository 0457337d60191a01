; A store to memory no RAM backs (3 GiB) in the middle of a translated block, more stores after
; it in the same block: BareFlow exits 68 naming the address and the storing instruction, and
; none of the later stores happens (tests/emu/test_unicorn_exit_check.py).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
%include "core_pm_entry.inc"
        mov eax, 0x33333333
        mov ecx, 0x44444444
        jmp .block
.block:
        mov dword [0x7000], 1
        add ecx, eax
        mov [0xC0000000], eax
        mov [0x7004], eax
        inc eax
        mov [0x7008], eax
        mov [0x700c], ecx
        hlt
msg:    db "a store to unmapped memory mid-block", 13, 10, 0
%include "bios_end.inc"
