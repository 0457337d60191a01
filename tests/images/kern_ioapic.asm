; I/O APIC: registers as SeaBIOS leaves them (ID, version, arbitration, the redirection table),
; read-only bits, the PIT routed through pin 2 (QEMU's IRQ0 -> GSI 2 override) as an edge
; interrupt, masking, pin 0 silent, and the RTC's IRQ8 as a level-triggered interrupt with the
; remote IRR set until EOI (and re-raised at EOI while the line stays high).
%define IMG_SECTORS 32
%define BODY_SECTORS 12
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%include "kern_idt.inc"
kmain:
        call kidt_init
        mov al, 0xFF
        out 0x21, al
        out 0xA1, al
        mov ecx, 0x40
        mov eax, lapic_isr
        call kset_gate
        mov ecx, 0x50
        mov eax, pit_isr
        call kset_gate
        mov ecx, 0x51
        mov eax, pin0_isr
        call kset_gate
        mov ecx, 0x52
        mov eax, rtc_isr
        call kset_gate
        mov dword [APIC + 0xF0], 0x1FF
        ; registers
        xor ebx, ebx
.r:     mov eax, ebx
        call khex2
        mov al, '='
        call kputc
        mov eax, ebx
        call ioread
        call khex8
        call kspace
        inc ebx
        cmp ebx, 3
        jb .r
        call knl
        mov ebx, 0x10
.t:     mov eax, ebx
        call ioread
        call khex8
        mov al, ':'
        call kputc
        lea eax, [ebx+1]
        call ioread
        call khex8
        call kspace
        add ebx, 2
        test ebx, 7
        jnz .t2
        call knl
.t2:    cmp ebx, 0x40
        jb .t
        ; reading an undefined register, then the ID register's writable bits
        mov eax, 0x50
        call ioread
        call khex8
        call kspace
        mov eax, 0
        mov ecx, 0xFFFFFFFF
        call iowrite
        mov eax, 0
        call ioread
        call khex8
        call kspace
        mov eax, 0
        xor ecx, ecx
        call iowrite
        ; a redirection entry: write all ones, read back; then the version register is read-only
        mov eax, 0x1E
        mov ecx, 0xFFFFFFFF
        call iowrite
        mov eax, 0x1E
        call ioread
        call khex8
        call kspace
        mov eax, 0x1F
        mov ecx, 0xFFFFFFFF
        call iowrite
        mov eax, 0x1F
        call ioread
        call khex8
        call kspace
        mov eax, 0x1E
        mov ecx, 0x10000
        call iowrite
        mov eax, 0x1F
        xor ecx, ecx
        call iowrite
        mov eax, 1
        xor ecx, ecx
        call iowrite
        mov eax, 1
        call ioread
        call khex8
        call knl
        ; ---- PIT through pin 2, edge, vector 0x50, physical destination 0
        mov eax, 0x14
        mov ecx, 0x50
        call iowrite
        mov al, 0x34
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        sti
.w1:    hlt
        cmp dword [pit], 3
        jb .w1
        cli
        mov eax, 0x14                   ; mask pin 2 and quiet the PIT before anything slow
        mov ecx, 0x10050
        call iowrite
        mov al, 0x30
        out 0x43, al
        sti                             ; take a request already in the LAPIC (not counted)
        nop
        nop
        cli
        mov dword [pit_limit], 1000     ; from now on any delivery would show
        KPUTS m_pit
        mov eax, [pit]
        call khex8
        call kspace
        mov eax, 0x14
        call ioread
        call khex8
        call knl
        ; ---- masked pin 2 and unmasked pin 0: neither delivers; the LAPIC timer paces the wait
        mov al, 0x34                    ; PIT running again (pin 2 stays masked)
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        mov eax, 0x10
        mov ecx, 0x51
        call iowrite
        mov dword [APIC + 0x3E0], 0xB
        mov dword [APIC + 0x320], 0x20040
        mov dword [APIC + 0x380], 3000000
        sti
.w2:    hlt
        cmp dword [lapic], 3
        jb .w2
        cli
        mov dword [APIC + 0x320], 0x10040
        KPUTS m_masked
        mov eax, [pit]
        call khex8
        call kspace
        mov eax, [pin0]
        call khex8
        call knl
        mov eax, 0x10
        mov ecx, 0x10000
        call iowrite
        ; ---- RTC IRQ8 through pin 8, level triggered, vector 0x52
        mov eax, 0x20
        mov ecx, 0x8052
        call iowrite
        mov al, 0x0A
        out 0x70, al
        mov al, 0x26
        out 0x71, al
        mov al, 0x0B
        out 0x70, al
        in al, 0x71
        or al, 0x40
        mov ah, al
        mov al, 0x0B
        out 0x70, al
        mov al, ah
        out 0x71, al
        sti
.w3:    hlt
        cmp dword [rtc], 4
        jb .w3
        cli
        mov al, 0x0B
        out 0x70, al
        in al, 0x71
        and al, 0xBF
        mov ah, al
        mov al, 0x0B
        out 0x70, al
        mov al, ah
        out 0x71, al
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        KPUTS m_rtc
        mov eax, [rtc]
        call khex8
        call kspace
        mov eax, 0x20
        call ioread
        call khex8
        call knl
        mov al, 0
        jmp kexit

ioread:                                 ; EAX = register -> EAX
        mov [IOAPIC], eax
        mov eax, [IOAPIC + 0x10]
        ret
iowrite:                                ; EAX = register, ECX = value
        mov [IOAPIC], eax
        mov [IOAPIC + 0x10], ecx
        ret

lapic_isr:
        inc dword [lapic]
        mov dword [APIC + 0xB0], 0
        iret
pit_isr:                                ; counts up to [pit_limit]
        push eax
        mov eax, [pit]
        cmp eax, [pit_limit]
        jae .sat
        inc dword [pit]
.sat:   pop eax
        mov dword [APIC + 0xB0], 0
        iret
pin0_isr:
        inc dword [pin0]
        mov dword [APIC + 0xB0], 0
        iret
rtc_isr:                                ; odd entries: EOI before clearing the RTC flag (the line
        pushad                          ; is still high: the I/O APIC raises it again at once)
        inc dword [rtc]
        mov eax, 0x20
        call ioread
        call khex8                      ; remote IRR set while in service
        call kspace
        mov eax, [APIC + 0x1A0]         ; TMR word 2: vector 0x52 is level
        call khex8
        call kspace
        test dword [rtc], 1
        jz .even
        mov dword [APIC + 0xB0], 0      ; EOI with the line high
        mov eax, 0x20
        call ioread
        call khex8                      ; re-delivered: remote IRR set again
        call kspace
        mov eax, [APIC + 0x220]
        call khex8                      ; and pending in the LAPIC IRR
        call knl
        popad
        iret
.even:  call rtc_pie_off                  ; no new period while we print
        mov al, 0x0C
        out 0x70, al
        in al, 0x71                     ; lowers IRQ8
        mov dword [APIC + 0xB0], 0
        mov eax, 0x20
        call ioread
        call khex8                      ; remote IRR clear
        call kspace
        mov eax, [APIC + 0x220]
        call khex8
        call knl
        cmp dword [rtc], 4
        jae .last
        call rtc_pie_on
.last:  popad
        iret
rtc_pie_off:
        mov al, 0x0B
        out 0x70, al
        in al, 0x71
        and al, 0xBF
        jmp rtc_b
rtc_pie_on:
        mov al, 0x0B
        out 0x70, al
        in al, 0x71
        or al, 0x40
rtc_b:  mov ah, al
        mov al, 0x0B
        out 0x70, al
        mov al, ah
        out 0x71, al
        ret
lapic:  dd 0
pit_limit: dd 3
pit:    dd 0
pin0:   dd 0
rtc:    dd 0
KSTR m_pit, "pit via pin 2: "
KSTR m_masked, "masked pin 2, pin 0: "
KSTR m_rtc, "rtc level irqs: "
%include "bios_end.inc"
