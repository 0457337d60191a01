; HPET expiries that change nothing, and their neighbours that do, for the native quiet expiry's
; on/off equivalence test (tests/emu/test_native_hpet_expiry.py; emu/fastpath_hpetexp.c):
;   1. Linux's __hpet_calibrate with interrupts off: read the main counter, write timer 2's
;      comparator (64-bit one-shot, interrupt disabled, high half 0xFFFFFFFF) just ahead --
;      every write arms an expiry one tick later that does nothing;
;   2. the same while the PIT's channel 0 (mode 2) holds the 8259's line 0 high: timer 2's
;      route is GSI 0, so its expiry lowers that line (a real change: the PIT's next rising
;      edge latches IRQ0 again), except during the PIT's one low tick;
;   3. the same with timer 2's interrupt enabled (edge, GSI 10): every expiry pulses the line;
;   4. timer 1 level-triggered on GSI 11 (I/O APIC pin 11 level, masked: its IRR holds the
;      level), then timer 2 (interrupt disabled) on GSI 11: its expiry lowers the held line;
;   5. timer 2 periodic with its interrupt disabled (the period is re-armed at each expiry);
;   6. timer 2 32-bit one-shot across the counter's 32-bit wrap (the wrap event re-arms);
;   7. the local APIC timer ticking natively while timer 1 (level, enabled) is re-armed just
;      ahead by native comparator writes and polled (the tick's deadline must see it).
; Printed: checksums of counter reads, the 8259s' IRRs, the HPET status and comparators
; (BareFlow's transcript; not compared with QEMU, whose HPET counts host time).
%define IMG_SECTORS 32
%define BODY_SECTORS 12
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%include "kern_idt.inc"
%macro IOAPIC_W 2
        mov dword [IOAPIC], %1
        mov dword [IOAPIC + 0x10], %2
%endmacro
; calibrate N: ebx iterations of Linux's loop on timer 2, checksum in edi
%macro CALIBRATE 1
        mov eax, [HPET + 0x148]         ; t = the comparator's low half
        mov [tcmp], eax
        mov ebx, %1
%%l:    mov eax, [HPET + 0xF0]          ; m
        xor edi, eax
        rol edi, 1
        add eax, [tcmp]
        add eax, 3                      ; hp_delta
        mov [HPET + 0x148], eax         ; t + m + delta
        mov ecx, 3
%%w:    imul edx, ecx, 7
        loop %%w
        dec ebx
        jnz %%l
%endmacro
%macro REPORT 1
        KPUTS %1
        mov eax, edi
        call khex8
        call kspace
        call irrs
        mov eax, [HPET + 0x20]
        call khex8
        call kspace
        mov eax, [HPET + 0x148]
        call khex8
        call knl
%endmacro
kmain:
        call kidt_init
        mov al, 0x30                    ; PIT channel 0 quiet (mode 0, no count)
        out 0x43, al
        mov al, 0xFF                    ; both 8259s masked: their IRRs are read, not taken
        out 0x21, al
        out 0xA1, al
        cli
        mov dword [HPET + 0x10], 1      ; the HPET runs
        xor edi, edi

        ; ---- 1. Linux's calibrate loop
        CALIBRATE 3000
        REPORT m_cal

        ; ---- 2. the PIT holds IRQ0 high (mode 2): timer 2's expiry on GSI 0 lowers it
        mov al, 0x34
        out 0x43, al
        mov al, 0x40                    ; count 0x140: ~27,000 cycles a period
        out 0x40, al
        mov al, 0x01
        out 0x40, al
        CALIBRATE 3000
        REPORT m_pit
        mov al, 0x30                    ; the PIT quiet again (its output stays as it was)
        out 0x43, al

        ; ---- 3. timer 2's interrupt enabled, edge, GSI 10: each expiry pulses IRQ10
        mov dword [HPET + 0x140], (10 << 9) | 0x4
        CALIBRATE 1000
        REPORT m_edge
        mov dword [HPET + 0x140], 0     ; back to quiet, route 0

        ; ---- 4. timer 1 level on GSI 11 (pin 11 level, masked), then timer 2 on GSI 11
        IOAPIC_W 0x10 + 2 * 11, 0x18031 ; vector 0x31, level, masked
        mov dword [HPET + 0x120], (11 << 9) | 0x6   ; route 11, enable, level
        mov eax, [HPET + 0xF0]
        add eax, 200
        mov [HPET + 0x128], eax
        mov dword [HPET + 0x12C], 0
.t1:    test dword [HPET + 0x20], 2     ; wait for its status bit: the line is held
        jz .t1
        mov dword [HPET + 0x140], (11 << 9)         ; timer 2 quiet on GSI 11
        CALIBRATE 500
        REPORT m_level
        mov dword [HPET + 0x120], 0     ; timer 1 off (the line drops)
        mov dword [HPET + 0x20], 2
        mov dword [HPET + 0x140], 0

        ; ---- 5. timer 2 periodic, interrupt disabled: set value + period 700 ticks
        mov dword [HPET + 0x140], 0x48  ; periodic, set-value
        mov eax, [HPET + 0xF0]
        add eax, 700
        mov [HPET + 0x148], eax
        mov dword [HPET + 0x14C], 0
        mov dword [HPET + 0x148], 700   ; the period
        mov ebx, 20000
.p:     mov eax, [HPET + 0xF0]
        add edi, eax
        rol edi, 5
        dec ebx
        jnz .p
        mov eax, [HPET + 0x140]
        xor edi, eax
        REPORT m_periodic
        mov dword [HPET + 0x140], 0

        ; ---- 6. 32-bit one-shot across the counter's 32-bit wrap, then Linux's loop again
        mov dword [HPET + 0x10], 0
        mov dword [HPET + 0xF0], 0xFFFFD000
        mov dword [HPET + 0xF4], 0x3
        mov dword [HPET + 0x140], 0x100 ; 32-bit, one-shot, interrupt disabled
        mov dword [HPET + 0x148], 0x900 ; after the wrap: the wrap event first
        mov dword [HPET + 0x10], 1
        mov ebx, 6000
.wr:    mov eax, [HPET + 0xF0]
        xor edi, eax
        rol edi, 3
        dec ebx
        jnz .wr
        CALIBRATE 1000
        REPORT m_wrap
        mov dword [HPET + 0x10], 0

        ; ---- 7. the local APIC timer ticking (periodic, taken natively) while timer 1 (level,
        ;      enabled, GSI 12) is re-armed natively a little ahead and polled: a tick's new
        ;      deadline must not step over the comparator's expiry
        mov dword [HPET + 0x140], 0
        mov dword [HPET + 0xF0], 0
        mov dword [HPET + 0xF4], 0
        mov dword [HPET + 0x120], 0
        mov dword [HPET + 0x12C], 0
        mov dword [HPET + 0x128], 0xFFFFFFF0
        mov dword [HPET + 0x10], 1
        mov dword [HPET + 0x120], (12 << 9) | 0x6
        mov ecx, 0x40
        mov eax, tick_isr
        call kset_gate
        mov dword [APIC + 0xF0], 0x1FF
        mov dword [APIC + 0x3E0], 0xB   ; divide by 1
        mov dword [APIC + 0x320], 0x20040   ; periodic, vector 0x40
        mov dword [APIC + 0x380], 9973
        sti
        mov ebx, 600
.q:     mov eax, [HPET + 0xF0]
        mov ecx, ebx
        and ecx, 63
        lea eax, [eax + ecx + 30]
        mov [HPET + 0x128], eax
        xor ecx, ecx
.qp:    inc ecx
        test dword [HPET + 0x20], 2
        jz .qp
        add edi, ecx
        rol edi, 3
        mov dword [HPET + 0x20], 2      ; the level drops
        dec ebx
        jnz .q
        cli
        mov dword [APIC + 0x320], 0x10040
        mov dword [APIC + 0x380], 0
        mov dword [HPET + 0x120], 0
        KPUTS m_ticks
        mov eax, [ticks]
        call khex8
        call kspace
        REPORT m_poll
        mov dword [HPET + 0x10], 0
        mov al, 0
        jmp kexit

tick_isr:
        inc dword [ticks]
        mov dword [APIC + 0xB0], 0
        iret

; the 8259s' IRRs (OCW3 read IRR), master in the low byte
irrs:
        mov al, 0x0A
        out 0xA0, al
        in al, 0xA0
        mov ah, al
        mov al, 0x0A
        out 0x20, al
        in al, 0x20
        movzx eax, ax
        call khex8
        call kspace
        ret

tcmp:   dd 0
ticks:  dd 0
KSTR m_cal, "calibrate: "
KSTR m_pit, "PIT high: "
KSTR m_edge, "edge on GSI 10: "
KSTR m_level, "level held on GSI 11: "
KSTR m_periodic, "periodic: "
KSTR m_wrap, "32-bit wrap: "
KSTR m_ticks, "LAPIC ticks while polling: "
KSTR m_poll, ""
%include "bios_end.inc"
