; Triple fault: an IDT with limit 0, then int 0x30 -> #GP cannot be delivered -> #DF cannot
; be delivered -> shutdown.  QEMU -no-reboot stops; BareFlow exits 65 with the reason.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
        mov si, msg
        call puts
%include "core_pm_entry.inc"
        lidt [idt0]
        int 0x30
        mov al, 0x55
        out 0xF4, al
        hlt
idt0:   dw 0
        dd 0
msg:    db "about to triple fault", 13, 10, 0
%include "bios_end.inc"
