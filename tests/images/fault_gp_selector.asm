; Fault explainer test: #GP on a bad selector.  A valid IDT sends every exception to one
; handler; `mov ds, 0x48` names GDT entry 9 while the GDT holds 3 (limit 0x17), so the CPU
; raises #GP(0x48) and the handler exits through isa-debug-exit with status (0x0D << 1) | 1.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
%include "fault_idt.inc"
        lidt [idt_desc]
        mov ax, 0x48
        mov ds, ax                  ; #GP(0x48): beyond the GDT limit 0x17
        mov al, 0x55
        out 0xF4, al
        hlt
handler:
        mov al, 0x0D
        out 0xF4, al
        cli
        hlt
%include "fault_idt_data.inc"
%include "bios_end.inc"
