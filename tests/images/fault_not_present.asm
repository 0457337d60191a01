; Fault explainer test: not-present gates.  The IDT is valid except entries 13 (#GP) and 8
; (#DF), whose P bit is clear.  `mov ds, 0x48` raises #GP(0x48); gate 13 is not present ->
; #NP; #GP then #NP make a double fault; gate 8 is not present -> triple fault (exit 65).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%define FAULT_ABSENT_A 13
%define FAULT_ABSENT_B 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
%include "fault_idt.inc"
        lidt [idt_desc]
        mov ax, 0x48
        mov ds, ax
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
