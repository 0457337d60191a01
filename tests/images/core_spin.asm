; Spins forever with interrupts on and the PIT running: only --max-cycles ends it (exit 67).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
        sti
.l:     inc eax
        jmp .l
msg:    db "spinning", 13, 10, 0
%include "bios_end.inc"
