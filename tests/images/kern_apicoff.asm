; IA32_APIC_BASE: read it, clear the global enable bit, then CPUID leaf 1's APIC bit, the MSR,
; the APIC's registers and the 8259 reaching the CPU; then try to enable it again.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%include "kern_idt.inc"
kmain:
        call kidt_init
        mov ecx, 0x08
        mov eax, irq0_isr
        call kset_gate
        call show
        mov dword [APIC + 0x350], 0x10700   ; LINT0 masked
        mov ecx, 0x1B
        rdmsr
        and eax, ~0x800
        wrmsr
        call show
        ; the 8259 (SeaBIOS's IRQ0 at vector 08h, 18.2 Hz) reaches the CPU through an unmasked
        ; ExtINT LINT0 (QEMU applies the LVT even now)
        mov dword [APIC + 0x350], 0x700
        mov al, 0xFE
        out 0x21, al
        sti
.w:     hlt
        cmp dword [irq0], 2
        jb .w
        cli
        mov al, 0xFF
        out 0x21, al
        KPUTS m_flow
        mov ecx, 0x1B
        rdmsr
        or eax, 0x800
        wrmsr
        call show
        mov al, 0
        jmp kexit
show:                                   ; MSR, CPUID.1 EDX bit 9, APIC version and SVR
        mov ecx, 0x1B
        rdmsr
        call khex8
        call kspace
        mov eax, 1
        cpuid
        mov eax, edx
        shr eax, 9
        and eax, 1
        call khex2
        call kspace
        mov eax, [APIC + 0x30]
        call khex8
        call kspace
        mov eax, [APIC + 0xF0]
        call khex8
        call knl
        ret
irq0_isr:
        push eax
        mov eax, [irq0]
        cmp eax, 2
        jae .s
        inc dword [irq0]
.s:     mov al, 0x20
        out 0x20, al
        pop eax
        iret
irq0:   dd 0
KSTR m_flow, {"apic off, lint0 extint: 8259 irq0 reaches the cpu; enable again:", 13, 10}
%include "bios_end.inc"
