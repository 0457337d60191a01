; Local APIC register write masks and the error status register: each writable register is
; written with all ones and read back (then restored), and a read of an undefined register is
; followed by an ESR read, then an ESR write and read.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
kmain:
        mov esi, regs
.l:     mov ebx, [esi]
        cmp ebx, -1
        je .done
        mov eax, ebx
        call khex4
        mov al, '='
        call kputc
        mov edx, [APIC + ebx]           ; save
        mov dword [APIC + ebx], 0xFFFFFFFF
        mov eax, [APIC + ebx]
        call khex8
        call kspace
        mov [APIC + ebx], edx           ; restore
        mov eax, [APIC + ebx]
        call khex8
        call knl
        add esi, 4
        jmp .l
.done:  ; ESR after reading EOI, after writing the current count (read-only), after writing
        ; the version register, then after reading an undefined register (0x40), writing ESR, ...
        KPUTS m_esr0
        mov eax, [APIC + 0xB0]
        mov eax, [APIC + 0x280]
        call khex8
        call kspace
        mov dword [APIC + 0x390], 0
        mov eax, [APIC + 0x280]
        call khex8
        call kspace
        mov dword [APIC + 0x30], 0
        mov eax, [APIC + 0x280]
        call khex8
        call kspace
        mov dword [APIC + 0x100], 0
        mov eax, [APIC + 0x280]
        call khex8
        call knl
        KPUTS m_esr
        mov dword [APIC + 0x40], 0      ; write to an undefined register
        mov eax, [APIC + 0x280]
        call khex8
        call kspace
        mov eax, [APIC + 0x40]          ; read of an undefined register
        mov eax, [APIC + 0x280]
        call khex8
        call kspace
        mov dword [APIC + 0x280], 0     ; ESR write
        mov eax, [APIC + 0x280]
        call khex8
        call knl
        ; byte and word reads of the version register
        KPUTS m_narrow
        movzx eax, byte [APIC + 0x30]
        call khex8
        call kspace
        movzx eax, word [APIC + 0x30]
        call khex8
        call knl
        mov al, 0
        jmp kexit
regs:   dd 0x20, 0x80, 0xD0, 0xE0, 0xF0, 0x310, 0x330, 0x340, 0x360, 0x370, 0x3E0, -1
KSTR m_esr, "esr after undefined write, undefined read, esr write: "
KSTR m_esr0, "esr after eoi read, count write, version write, isr write: "
KSTR m_narrow, "narrow reads of 0x30: "
%include "bios_end.inc"
