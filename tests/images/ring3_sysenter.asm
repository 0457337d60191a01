; Ring-3 test image with SYSENTER/SYSEXIT system calls: protected mode with a TSS, the SYSENTER
; MSRs (CS 0x174, ESP 0x175, EIP 0x176) set with WRMSR, an IRET to ring 3; the user code asks
; the kernel to print twice and to exit with SYSENTER (EDX:ECX = where SYSEXIT returns to), the
; kernel answers on its SYSENTER stack and returns with SYSEXIT.  COM1 transcript compared with
; QEMU by tests/emu/test_page_walk.py (the journey's "first system call" by SYSENTER).
%define IMG_SECTORS 16
%define BODY_SECTORS 6
%include "bios_lib.inc"

KCODE equ 0x08
KDATA equ 0x10
UCODE equ 0x18 | 3
UDATA equ 0x20 | 3
TSSSEL equ 0x28
KSTACK equ 0x90000
SSTACK equ 0x88000
USTACK equ 0x80000

main:
        cli
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp KCODE:pm32

        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF       ; 08 kernel code
        dq 0x00CF92000000FFFF       ; 10 kernel data
        dq 0x00CFFA000000FFFF       ; 18 user code, DPL 3
        dq 0x00CFF2000000FFFF       ; 20 user data, DPL 3
tss_desc:
        dw 0x67, 0                  ; 28 TSS: limit 67h, base patched below
        db 0, 0x89, 0, 0
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt
idt_desc:
        dw 256 * 8 - 1
        dd idt

        align 4
tss:    times 0x68 db 0

        bits 32
pm32:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, KSTACK
        ; TSS: SS0:ESP0 = kernel stack, I/O map base beyond the limit (no port for ring 3)
        mov dword [tss + 4], KSTACK
        mov word [tss + 8], KDATA
        mov word [tss + 0x66], 0x68
        mov eax, tss
        mov [tss_desc + 2], ax
        shr eax, 16
        mov [tss_desc + 4], al
        mov [tss_desc + 7], ah
        mov ax, TSSSEL
        ltr ax
        ; IDT: every vector -> fault handler (DPL 0): system calls come by SYSENTER
        mov edi, idt
        mov ecx, 256
.fill:  mov eax, fault
        mov [edi], ax
        mov word [edi + 2], KCODE
        mov word [edi + 4], 0x8E00
        shr eax, 16
        mov [edi + 6], ax
        add edi, 8
        loop .fill
        lidt [idt_desc]
        xor edx, edx
        mov ecx, 0x174              ; IA32_SYSENTER_CS
        mov eax, KCODE
        wrmsr
        mov ecx, 0x175              ; IA32_SYSENTER_ESP
        mov eax, SSTACK
        wrmsr
        mov ecx, 0x176              ; IA32_SYSENTER_EIP
        mov eax, sysenter_entry
        wrmsr
        mov esi, msg_k
        call kputs
        ; to ring 3: SS, ESP, EFLAGS, CS, EIP
        push dword UDATA
        push dword USTACK
        push dword 0x002
        push dword UCODE
        push dword user
        iret

; ---- ring 3 -------------------------------------------------------------------------------
user:
        mov ax, UDATA
        mov ds, ax
        mov es, ax
        mov eax, 1                  ; write(ESI)
        mov esi, msg_u
        mov ecx, esp                ; SYSEXIT returns to EDX with ESP = ECX
        mov edx, .r1
        sysenter
.r1:    mov eax, 1
        mov esi, msg_u2
        mov ecx, esp
        mov edx, .r2
        sysenter
.r2:    mov eax, 2                  ; exit
        sysenter
        jmp $

; ---- ring 0 -------------------------------------------------------------------------------
sysenter_entry:                     ; CS=0x08 SS=0x10 ESP=SSTACK, IF clear; EAX = 1: print DS:ESI; 2: exit
        push ecx
        push edx
        mov bx, KDATA
        mov ds, bx
        mov es, bx
        cmp eax, 2
        je .exit
        push esi
        mov esi, msg_sys
        call kputs
        mov eax, esp
        call khex
        mov esi, msg_sep
        call kputs
        pop esi
        call kputs
        pop edx
        pop ecx
        mov bx, UDATA
        mov ds, bx
        mov es, bx
        sysexit
.exit:  mov esi, msg_exit
        call kputs
        mov al, 0
        out 0xF4, al
        hlt

fault:
        mov ax, KDATA
        mov ds, ax
        mov esi, msg_fault
        call kputs
        mov al, 3
        out 0xF4, al
        hlt

kputc:  push edx
        push eax
        mov dx, 0x3FD
.w:     in al, dx
        test al, 0x20
        jz .w
        pop eax
        mov dx, 0x3F8
        out dx, al
        pop edx
        ret
kputs:  push eax
.l:     lodsb
        test al, al
        jz .d
        call kputc
        jmp .l
.d:     pop eax
        ret
khex:   push ecx
        mov ecx, 8
.h:     rol eax, 4
        push eax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .p
        add al, 7
.p:     call kputc
        pop eax
        loop .h
        pop ecx
        ret

msg_k:     db "ring 0: SYSENTER MSRs set, IRET to ring 3", 13, 10, 0
msg_sys:   db "sysenter, kernel ESP=", 0
msg_sep:   db ": ", 0
msg_u:     db "hello from ring 3", 13, 10, 0
msg_u2:    db "still in ring 3", 13, 10, 0
msg_exit:  db "exit by sysenter: ring 0, power off", 13, 10, 0
msg_fault: db "unexpected fault", 13, 10, 0

        align 8
idt:
%include "bios_end.inc"
