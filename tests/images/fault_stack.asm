; Fault explainer test: a stack overflow into a double fault.  SS is a 4 KiB expand-up data
; segment (selector 0x18) and ESP = 8, so the 16-byte #GP frame does not fit: #GP(0x48) from
; a bad selector -> #SS while pushing its frame -> #DF (two contributory faults), whose frame
; does not fit either -> triple fault (exit 65).  A kernel avoids this with a task gate for
; #DF (its own stack); BareFlow does not emulate task switches, like the test says.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
%include "fault_idt.inc"
        lidt [idt_desc]
        lgdt [small_gdt_desc]
        mov ax, 0x18
        mov ss, ax
        mov esp, 8
        mov ax, 0x48
        mov ds, ax                  ; #GP(0x48): beyond the GDT limit 0x1f
        mov al, 0x55
        out 0xF4, al
        hlt
handler:
        mov al, 0x0D
        out 0xF4, al
        cli
        hlt
        align 8
small_gdt:
        dq 0
        dq 0x00CF9A000000FFFF       ; 0x08 code 32-bit flat
        dq 0x00CF92000000FFFF       ; 0x10 data 32-bit flat
        dq 0x0040920800000FFF       ; 0x18 data, base 0x80000, limit 0xFFF bytes, 32-bit (B=1)
small_gdt_end:
small_gdt_desc:
        dw small_gdt_end - small_gdt - 1
        dd small_gdt
%include "fault_idt_data.inc"
%include "bios_end.inc"
