; The local APIC timer the way a tick-driven kernel (Linux) uses it, for the native MMIO path's
; on/off equivalence test (tests/emu/test_native_lapic.py; emu/fastpath_lapic.c): the same
; instructions write EOI and the next initial count from the handler hundreds of times while the
; main line computes and reads the current count; one-shot and periodic modes, a lower-priority
; self-IPI that becomes deliverable at the EOI, a level-triggered vector (its EOI goes to the I/O
; APIC), a zero initial count stopping the timer, and the HPET main counter read running, stopped
; and after a counter write.  Printed figures depend only on the cycle clock (BareFlow's
; transcript; not compared with QEMU, whose APIC clock is host time).
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
        mov al, 0xFF                    ; the 8259 masked: only the local APIC interrupts
        out 0x21, al
        out 0xA1, al
        mov ecx, 0x40
        mov eax, oneshot_isr
        call kset_gate
        mov ecx, 0x48
        mov eax, periodic_isr
        call kset_gate
        mov ecx, 0x30
        mov eax, ipi_isr
        call kset_gate
        mov ecx, 0x50
        mov eax, level_isr
        call kset_gate
        mov ecx, 0xFF
        mov eax, spurious_isr
        call kset_gate
        mov dword [APIC + 0xF0], 0x1FF
        mov dword [APIC + 0x80], 0

        ; ---- one-shot, divide by 1, re-armed from the handler (EOI first, as Linux)
        mov dword [APIC + 0x3E0], 0xB
        mov dword [APIC + 0x320], 0x00040
        mov dword [rearm], 7000
        mov dword [APIC + 0x380], 7000
        sti
        xor edi, edi                    ; checksum of current-count reads
.c1:    mov eax, [APIC + 0x390]
        xor edi, eax
        rol edi, 3
        mov ecx, 50
.c1s:   imul eax, eax, 13
        loop .c1s
        cmp dword [ticks], 300
        jb .c1
        mov dword [rearm], 0            ; the next re-arm writes 0: the timer stops
.c1w:   cmp dword [ticks], 301
        jb .c1w
        mov ecx, 20000                  ; no tick comes any more
.c1x:   loop .c1x
        cli
        KPUTS m_oneshot
        mov eax, [ticks]
        call khex8
        call kspace
        mov eax, edi
        call khex8
        call kspace
        mov eax, [APIC + 0x390]
        call khex8
        call knl

        ; ---- one-shot, divide by 16, the handler re-arms BEFORE its EOI
        mov dword [ticks], 0
        mov dword [APIC + 0x3E0], 0x3
        mov dword [APIC + 0x320], 0x00040
        mov dword [rearm], 900
        mov byte [arm_first], 1
        mov dword [APIC + 0x380], 900
        sti
        xor edi, edi
.c2:    mov eax, [APIC + 0x390]
        add edi, eax
        mov ecx, 30
.c2s:   loop .c2s
        cmp dword [ticks], 150
        jb .c2
        cli
        mov dword [APIC + 0x320], 0x10040
        KPUTS m_oneshot16
        mov eax, [ticks]
        call khex8
        call kspace
        mov eax, edi
        call khex8
        call knl

        ; ---- periodic, divide by 2; every 4th tick sends a self-IPI at 0x30 (blocked by the
        ; tick's own priority class until the EOI), every 16th a level-triggered one at 0x50
        mov dword [ticks], 0
        mov dword [APIC + 0x3E0], 0x0
        mov dword [APIC + 0x320], 0x20048
        mov dword [APIC + 0x380], 6000
        sti
        xor edi, edi
.c3:    mov eax, [APIC + 0x390]
        xor edi, eax
        ror edi, 5
        mov ecx, 40
.c3s:   loop .c3s
        cmp dword [pticks], 200
        jb .c3
        cli
        mov dword [APIC + 0x320], 0x10048
        KPUTS m_periodic
        mov eax, [pticks]
        call khex8
        call kspace
        mov eax, [ipis]
        call khex8
        call kspace
        mov eax, [levels]
        call khex8
        call kspace
        mov eax, edi
        call khex8
        call knl

        ; ---- the HPET main counter: running, stopped, written, running again
        mov dword [HPET + 0x10], 1
        xor edi, edi
        mov ebx, 500
.h1:    mov eax, [HPET + 0xF0]
        xor edi, eax
        rol edi, 7
        mov eax, [HPET + 0xF4]
        add edi, eax
        dec ebx
        jnz .h1
        mov dword [HPET + 0x10], 0
        mov eax, [HPET + 0xF0]
        mov [stopped], eax
        mov eax, [HPET + 0xF0]
        sub eax, [stopped]              ; stopped: 0
        add edi, eax
        mov dword [HPET + 0x148], 0x1234    ; stopped: a comparator write only stores
        mov dword [HPET + 0xF0], 0xFFFFE000
        mov dword [HPET + 0xF4], 0x12
        mov dword [HPET + 0x140], 0x100     ; timer 2: 32-bit, one-shot, interrupt disabled
        mov dword [HPET + 0x120], 0         ; timer 1: 64-bit, one-shot, interrupt disabled
        mov dword [HPET + 0x10], 1
        mov ebx, 600                        ; Linux's hpet_calibrate: read, write a comparator ahead
.h2:    mov eax, [HPET + 0xF0]
        xor edi, eax
        rol edi, 1
        lea ecx, [eax + 0x180]              ; crosses the 32-bit wrap on the way (the wrap event)
        mov [HPET + 0x148], ecx
        add eax, 40                         ; close ahead: many of these events expire
        mov [HPET + 0x128], eax
        mov dword [HPET + 0x12C], 0x12
        mov eax, [HPET + 0xF4]
        xor edi, eax
        dec ebx
        jnz .h2
        mov eax, [HPET + 0x148]
        xor edi, eax
        mov eax, [HPET + 0x128]
        xor edi, eax
        ; timer 1 enabled, level, 64-bit, route 2: its expiry sets the interrupt status the
        ; guest polls -- when it fires (the comparator write's re-arm) is seen in the checksum
        mov dword [HPET + 0x120], 0x406     ; route 2, enable, level
        mov ebx, 300
.h3:    mov eax, [HPET + 0xF0]
        mov ecx, ebx
        and ecx, 15
        lea eax, [eax + ecx + 20]
        mov [HPET + 0x128], eax
        mov dword [HPET + 0x12C], 0x12
        xor ecx, ecx
.h3p:   inc ecx
        test dword [HPET + 0x20], 2
        jz .h3p
        mov eax, [HPET + 0xF0]
        xor edi, eax
        rol edi, 3
        add edi, ecx
        mov dword [HPET + 0x20], 2          ; write one to clear: the level drops
        dec ebx
        jnz .h3
        mov dword [HPET + 0x120], 0
        KPUTS m_hpet
        mov eax, edi
        call khex8
        call knl
        mov al, 0
        jmp kexit

oneshot_isr:
        push eax
        inc dword [ticks]
        mov eax, [rearm]
        cmp byte [arm_first], 0
        jne .first
        mov dword [APIC + 0xB0], 0      ; EOI
        mov [APIC + 0x380], eax         ; the next expiry (0: stop)
        pop eax
        iret
.first: mov [APIC + 0x380], eax
        mov dword [APIC + 0xB0], 0
        pop eax
        iret
periodic_isr:
        push eax
        inc dword [pticks]
        mov eax, [pticks]
        test eax, 3
        jnz .n1
        mov dword [APIC + 0x310], 0
        mov dword [APIC + 0x300], 0x44030   ; fixed, edge, self: vector 0x30
.n1:    test eax, 15
        jnz .n2
        mov dword [APIC + 0x300], 0x4C050   ; level: TMR set, its EOI goes to the I/O APIC
.n2:    mov dword [APIC + 0xB0], 0
        pop eax
        iret
ipi_isr:
        inc dword [ipis]
        mov dword [APIC + 0xB0], 0
        iret
level_isr:
        inc dword [levels]
        mov dword [APIC + 0xB0], 0
        iret
spurious_isr:
        inc dword [spurious]
        iret

ticks:  dd 0
pticks: dd 0
ipis:   dd 0
levels: dd 0
spurious: dd 0
rearm:  dd 0
stopped: dd 0
arm_first: db 0
KSTR m_oneshot, "one-shot: ticks, checksum, count "
KSTR m_oneshot16, "one-shot /16 re-armed before EOI: "
KSTR m_periodic, "periodic: ticks, ipis, level, checksum "
KSTR m_hpet, "hpet counter checksum "
%include "bios_end.inc"
