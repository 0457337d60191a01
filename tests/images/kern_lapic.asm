; Local APIC: reset registers, the IA32_APIC_BASE MSR, the timer (periodic ticks counted,
; one-shot expiry), self-IPIs with TPR blocking, IRR/ISR/TMR, INIT/SIPI to an absent CPU, the
; error status register, the PIC through LINT0 in ExtINT mode (virtual wire) and LINT0 masked,
; and the IMCR ports.  Only values that do not depend on host timing are printed, so QEMU
; (host-timed) and BareFlow (cycle clock) print the same transcript.
%define IMG_SECTORS 32
%define BODY_SECTORS 12
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%include "kern_idt.inc"
%macro REG 1                            ; print "name=value "
        KPUTS %%n
        mov eax, [APIC + %1]
        call khex8
        call kspace
        jmp %%e
%%n:    db %str(%1), "=", 0
%%e:
%endmacro
kmain:
        call kidt_init
        mov al, 0xFF                    ; PIC: everything masked for now
        out 0x21, al
        out 0xA1, al
        mov ecx, 0x1B
        rdmsr
        KPUTS m_msr
        call khex8
        call knl
        REG 0x20
        REG 0x30
        REG 0x80
        REG 0x90
        REG 0xA0
        REG 0xB0
        call knl
        REG 0xD0
        REG 0xE0
        REG 0xF0
        REG 0x280
        REG 0x300
        REG 0x310
        call knl
        REG 0x320
        REG 0x330
        REG 0x340
        REG 0x350
        REG 0x360
        REG 0x370
        call knl
        REG 0x380
        REG 0x390
        REG 0x3E0
        call knl
        call dump_vec
        ; IMCR
        mov al, 0x70
        out 0x22, al
        in al, 0x23
        KPUTS m_imcr
        call khex2
        in al, 0x22
        call kspace
        call khex2
        call knl

        ; ---- timer, periodic: vector 0x40, divide by 16, 100000 ticks
        mov ecx, 0x40
        mov eax, timer_isr
        call kset_gate
        mov ecx, 0x41
        mov eax, ipi_isr
        call kset_gate
        mov ecx, 0xFF
        mov eax, spurious_isr
        call kset_gate
        mov dword [APIC + 0xF0], 0x1FF
        mov dword [APIC + 0x3E0], 0x3
        mov dword [APIC + 0x320], 0x20040
        mov dword [APIC + 0x380], 100000
        sti
.w1:    hlt
        cmp dword [ticks], 5
        jb .w1
        cli
        mov dword [APIC + 0x320], 0x30040   ; mask it, then take any tick already pending
        sti
        nop
        nop
        cli
        KPUTS m_periodic
        REG 0x320
        mov eax, [APIC + 0x390]
        cmp eax, 100000
        ja .bad1
        KPUTS m_le
        jmp .d1
.bad1:  KPUTS m_gt
.d1:    call knl
        ; divide values: write each, read back
        xor ebx, ebx
.dv:    mov [APIC + 0x3E0], ebx
        mov eax, [APIC + 0x3E0]
        call khex2
        call kspace
        inc ebx
        cmp ebx, 16
        jb .dv
        call knl
        ; ---- timer, one-shot: divide by 1 (0xB), 20000 ticks
        mov dword [ticks], 0
        mov dword [tick_limit], 100
        mov dword [APIC + 0x3E0], 0xB
        mov dword [APIC + 0x320], 0x00040
        mov dword [APIC + 0x380], 20000
        sti
.w2:    hlt
        cmp dword [ticks], 1
        jb .w2
        cli
        KPUTS m_oneshot
        mov eax, [APIC + 0x390]
        call khex8
        call knl
        ; count keeps 0, no second tick: wait with a self-IPI loop of 200000 iterations
        mov ecx, 2000000
.spin:  loop .spin
        mov eax, [ticks]
        KPUTS m_ticks
        call khex8
        call knl
        ; a 0 initial count stops the timer
        mov dword [APIC + 0x380], 0
        mov dword [APIC + 0x320], 0x20040
        mov eax, [APIC + 0x390]
        call khex8
        call knl
        mov dword [APIC + 0x320], 0x10000

        ; ---- self-IPI with IF=0: IRR shows it, then delivered on STI
        mov dword [APIC + 0x310], 0
        mov dword [APIC + 0x300], 0x44041
        KPUTS m_ipi
        REG 0x300
        call knl
        call dump_vec
        sti
        nop
        cli
        KPUTS m_after
        mov eax, [ipis]
        call khex8
        call knl
        ; TPR 0x50 blocks vector 0x41; PPR follows
        mov dword [APIC + 0x80], 0x50
        mov dword [APIC + 0x300], 0x44041
        sti
        nop
        nop
        cli
        KPUTS m_tpr
        mov eax, [ipis]
        call khex8
        call kspace
        REG 0xA0
        REG 0x220
        call knl
        mov dword [APIC + 0x80], 0x30
        sti
        nop
        cli
        KPUTS m_tpr0
        mov eax, [ipis]
        call khex8
        call kspace
        REG 0xA0
        call knl
        mov dword [APIC + 0x80], 0
        ; level-triggered self-IPI sets TMR while in service (checked inside the handler)
        mov dword [APIC + 0x300], 0x4C041
        sti
        nop
        cli
        ; destination shorthand "all excluding self": nothing arrives
        mov dword [APIC + 0x300], 0xC4041
        sti
        nop
        cli
        KPUTS m_allx
        mov eax, [ipis]
        call khex8
        call knl
        ; ---- INIT / SIPI to APIC ID 1 (not present), then the error status register
        mov dword [APIC + 0x310], 0x01000000
        mov dword [APIC + 0x300], 0x00004500
        REG 0x300
        mov dword [APIC + 0x300], 0x00004610
        REG 0x300
        mov dword [APIC + 0x280], 0
        REG 0x280
        call knl
        mov dword [APIC + 0x310], 0
        ; ---- virtual wire: PIC IRQ0 (vector 0x20) through LINT0 ExtINT
        mov ecx, 0x20
        mov eax, pic_isr
        call kset_gate
        mov al, 0x11
        out 0x20, al
        mov al, 0x20
        out 0x21, al
        mov al, 4
        out 0x21, al
        mov al, 1
        out 0x21, al
        mov al, 0xFE
        out 0x21, al
        mov al, 0x34
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        mov dword [APIC + 0x350], 0x700
        sti
.w3:    hlt
        cmp dword [pics], 3
        jb .w3
        cli
        mov dword [APIC + 0x350], 0x10700   ; LINT0 masked: the 8259 no longer reaches the CPU
        mov dword [pic_limit], 1000
        KPUTS m_extint
        mov eax, [pics]
        call khex8
        call knl
        mov dword [ticks], 0
        mov dword [tick_limit], 3
        mov dword [APIC + 0x3E0], 0xB
        mov dword [APIC + 0x320], 0x20040
        mov dword [APIC + 0x380], 3000000   ; 3 ms at QEMU's 1 GHz APIC clock
        sti
.w4:    hlt
        cmp dword [ticks], 3
        jb .w4
        cli
        mov dword [APIC + 0x320], 0x10040
        KPUTS m_masked
        mov eax, [pics]
        call khex8
        call knl
        ; software-disabled APIC (SVR bit 8 clear): the PIC goes straight through again
        mov dword [APIC + 0xF0], 0xFF
        mov dword [APIC + 0x350], 0x700
        REG 0x350
        REG 0x320
        mov eax, [pics]
        mov [pics0], eax
        add eax, 2
        mov [pic_limit], eax
        sti
.w5:    hlt
        mov eax, [pics]
        sub eax, [pics0]
        cmp eax, 2
        jb .w5
        cli
        KPUTS m_disabled
        call knl
        mov al, 0
        jmp kexit

dump_vec:                               ; ISR, TMR, IRR words 0-7
        push ebx
        mov ebx, 0x100
.l:     mov eax, [APIC + ebx]
        call khex8
        call kspace
        add ebx, 0x10
        cmp ebx, 0x180
        jne .c
        call knl
.c:     cmp ebx, 0x200
        jne .c2
        call knl
.c2:    cmp ebx, 0x280
        jb .l
        call knl
        pop ebx
        ret

timer_isr:                              ; counts up to [tick_limit] (host timing cannot add one)
        push eax
        mov eax, [ticks]
        cmp eax, [tick_limit]
        jae .sat
        inc dword [ticks]
.sat:   pop eax
        mov dword [APIC + 0xB0], 0
        iret
ipi_isr:
        pushad
        inc dword [ipis]
        KPUTS m_inisr
        mov eax, [APIC + 0x120]        ; ISR word 2 (vectors 0x40-0x5F)
        call khex8
        call kspace
        mov eax, [APIC + 0x1A0]        ; TMR word 2
        call khex8
        call kspace
        mov eax, [APIC + 0xA0]
        call khex8
        call knl
        mov dword [APIC + 0xB0], 0
        popad
        iret
pic_isr:
        push eax
        mov eax, [pics]
        cmp eax, [pic_limit]
        jae .sat
        inc dword [pics]
.sat:
        mov al, 0x20
        out 0x20, al
        pop eax
        iret
spurious_isr:
        KPUTS m_spurious
        iret

ticks:  dd 0
tick_limit: dd 5
pic_limit:  dd 3
ipis:   dd 0
pics:   dd 0
pics0:  dd 0
KSTR m_msr, "apicbase="
KSTR m_imcr, "imcr="
KSTR m_periodic, "5 periodic ticks "
KSTR m_le, "count<=initial"
KSTR m_gt, "count>initial"
KSTR m_oneshot, "one-shot fired, count="
KSTR m_ticks, "ticks="
KSTR m_ipi, "self-ipi pending "
KSTR m_after, "delivered="
KSTR m_inisr, "in isr: "
KSTR m_tpr, "tpr 50: ipis="
KSTR m_tpr0, "tpr 30: ipis="
KSTR m_allx, "all-but-self: ipis="
KSTR m_extint, "extint pic irqs="
KSTR m_masked, "lint0 masked, pic irqs="
KSTR m_disabled, "svr disabled, lint0 extint: pic irqs flow"
KSTR m_spurious, {"spurious", 13, 10}
%include "bios_end.inc"
