; HLT with interrupts disabled: nothing can wake the CPU.  BareFlow exits 66.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
        cli
        hlt
msg:    db "halting with IF=0", 13, 10, 0
%include "bios_end.inc"
