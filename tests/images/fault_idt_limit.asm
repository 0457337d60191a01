; Fault explainer test: an IDT with limit 0.  `int 0x30` cannot be delivered -> #GP, which
; cannot be delivered either -> #DF -> triple fault (exit 65).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        lidt [idt0]
        int 0x30
        mov al, 0x55
        out 0xF4, al
        hlt
idt0:   dw 0
        dd 0
%include "bios_end.inc"
