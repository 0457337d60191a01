; HPET: registers at reset, the main counter (writable while stopped, running once enabled), a
; periodic timer through I/O APIC pin 2, legacy replacement (timer 0 on IRQ0 through the 8259,
; the PIT's own IRQ0 cut off and back when legacy mode ends), and a 32-bit one-shot level timer
; seen in the interrupt status register.  Counters saturate, so host timing cannot add a tick.
%define IMG_SECTORS 32
%define BODY_SECTORS 12
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%include "kern_idt.inc"
%macro HREG 1
        mov eax, [HPET + %1]
        call khex8
        call kspace
%endmacro
kmain:
        call kidt_init
        mov al, 0x30                    ; PIT channel 0 quiet (mode 0, no count)
        out 0x43, al
        mov al, 0xFF
        out 0x21, al
        out 0xA1, al
        mov ecx, 0x40
        mov eax, lapic_isr
        call kset_gate
        mov ecx, 0x50
        mov eax, pin2_isr
        call kset_gate
        mov ecx, 0x08                   ; the 8259's IRQ0 at SeaBIOS's vector 08h
        mov eax, irq0_isr
        call kset_gate
        HREG 0x000
        HREG 0x004
        HREG 0x010
        HREG 0x020
        HREG 0x0F0
        HREG 0x0F4
        call knl
        mov ebx, 0x100
.t:     HREG ebx
        HREG ebx + 4
        HREG ebx + 8
        HREG ebx + 12
        HREG ebx + 16
        call knl
        add ebx, 0x20
        cmp ebx, 0x160
        jb .t
        ; counter writable while stopped
        mov dword [HPET + 0xF0], 0x12345678
        mov dword [HPET + 0xF4], 0x9
        HREG 0x0F0
        HREG 0x0F4
        mov dword [HPET + 0xF0], 0
        mov dword [HPET + 0xF4], 0
        ; write-only bits of the general configuration
        mov dword [HPET + 0x10], 0xFFFFFFFC
        HREG 0x010
        mov dword [HPET + 0x120], 0xFFFFFFFF   ; timer 1 config: only the writable bits
        HREG 0x120
        HREG 0x128
        HREG 0x12C
        mov dword [HPET + 0x120], 0
        call knl
        ; enable: the counter runs
        mov dword [HPET + 0x10], 1
        mov eax, [HPET + 0xF0]
        mov ecx, 10000
.sp:    loop .sp
        KPUTS m_runs
        cmp eax, [HPET + 0xF0]
        jb .ok
        KPUTS m_no
        jmp .d
.ok:    KPUTS m_yes
.d:     call knl
        ; ---- timer 2 periodic, 1 ms, route 2 -> I/O APIC pin 2 (vector 0x50)
        mov eax, 0x14
        mov ecx, 0x50
        call iowrite
        mov dword [APIC + 0xF0], 0x1FF
        mov dword [HPET + 0x140], 0x44C        ; route 2 | set-value | periodic | enable
        mov eax, [HPET + 0xF0]
        add eax, 100000
        mov [HPET + 0x148], eax                ; first expiry
        mov dword [HPET + 0x148], 100000       ; period
        sti
.w1:    hlt
        cmp dword [pin2], 5
        jb .w1
        cli
        mov dword [HPET + 0x140], 0x408        ; disabled (route kept)
        sti
        nop
        nop
        cli
        KPUTS m_t2
        mov eax, [pin2]
        call khex8
        call kspace
        HREG 0x140
        call knl
        mov eax, 0x14
        mov ecx, 0x10050
        call iowrite
        ; ---- legacy replacement: timer 0 drives IRQ0 through the 8259 (LINT0 ExtINT)
        mov al, 0xFE
        out 0x21, al
        mov dword [HPET + 0x10], 3
        mov dword [HPET + 0x100], 0x4C         ; set-value | periodic | enable
        mov eax, [HPET + 0xF0]
        add eax, 100000
        mov [HPET + 0x108], eax
        mov dword [HPET + 0x108], 100000
        sti
.w2:    hlt
        cmp dword [irq0], 3
        jb .w2
        cli
        mov dword [HPET + 0x100], 0
        sti
        nop
        nop
        cli
        mov dword [irq0_limit], 1000
        KPUTS m_leg
        mov eax, [irq0]
        call khex8
        call knl
        ; the PIT at 1 kHz is cut off in legacy mode: wait 3 ms on the LAPIC timer
        mov al, 0x34
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        mov dword [APIC + 0x3E0], 0xB
        mov dword [APIC + 0x320], 0x20040
        mov dword [APIC + 0x380], 3000000
        sti
.w3:    hlt
        cmp dword [lapic], 3
        jb .w3
        cli
        mov dword [APIC + 0x320], 0x10040
        KPUTS m_pitcut
        mov eax, [irq0]
        call khex8
        call knl
        ; legacy mode off: the PIT's IRQ0 flows again
        mov eax, [irq0]
        add eax, 2
        mov [irq0_limit], eax
        mov dword [HPET + 0x10], 1
        sti
.w4:    hlt
        mov eax, [irq0]
        cmp eax, [irq0_limit]
        jb .w4
        cli
        mov al, 0x30
        out 0x43, al
        mov al, 0xFF
        out 0x21, al
        KPUTS m_pitback
        call knl
        ; ---- timer 1: 32-bit one-shot, level, polled in the status register
        mov dword [HPET + 0x120], 0x506        ; 32-bit | route 2 | enable | level
        mov eax, [HPET + 0xF0]
        add eax, 5000
        mov [HPET + 0x128], eax
.p:     test dword [HPET + 0x20], 2
        jz .p
        KPUTS m_lvl
        HREG 0x020
        HREG 0x120
        HREG 0x12C
        mov dword [HPET + 0x20], 2
        HREG 0x020
        call knl
        mov dword [HPET + 0x10], 0
        mov al, 0
        jmp kexit

iowrite:
        mov [IOAPIC], eax
        mov [IOAPIC + 0x10], ecx
        ret
lapic_isr:
        inc dword [lapic]
        mov dword [APIC + 0xB0], 0
        iret
pin2_isr:
        push eax
        mov eax, [pin2]
        cmp eax, 5
        jae .s
        inc dword [pin2]
.s:     mov dword [APIC + 0xB0], 0
        pop eax
        iret
irq0_isr:
        push eax
        mov eax, [irq0]
        cmp eax, [irq0_limit]
        jae .s
        inc dword [irq0]
.s:     mov al, 0x20
        out 0x20, al
        pop eax
        iret
lapic:  dd 0
pin2:   dd 0
irq0:   dd 0
irq0_limit: dd 3
KSTR m_runs, "counter runs: "
KSTR m_yes, "yes"
KSTR m_no, "NO"
KSTR m_t2, "timer 2 periodic via pin 2: "
KSTR m_leg, "legacy timer 0 on irq0: "
KSTR m_pitcut, "pit cut off in legacy mode: "
KSTR m_pitback, "legacy off: pit irq0 flows"
KSTR m_lvl, "timer 1 level one-shot: "
%include "bios_end.inc"
