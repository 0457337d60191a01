; Jump into memory no RAM backs (3 GiB): BareFlow exits 68 naming the address.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
%include "core_pm_entry.inc"
        mov eax, 0xC0000000
        jmp eax
msg:    db "jumping to 0xC0000000", 13, 10, 0
%include "bios_end.inc"
