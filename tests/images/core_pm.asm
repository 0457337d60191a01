; Core test image: real mode -> protected mode, IDT exceptions with error codes, INT n,
; PIC remap + PIT IRQ0 + HLT, RDTSC monotonic, debug exit.  Prints a transcript on COM1 that
; must be byte-identical under QEMU+SeaBIOS and BareFlow.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"

main:
        mov si, msg_real
        call rputs
        in al, 0x92                 ; fast A20
        or al, 2
        and al, 0xFE
        out 0x92, al
        cli
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm32

rputs:                             ; SI = string, polled COM1
        lodsb
        test al, al
        jz .done
        mov dx, 0x3FD
        mov ah, al
.w:     in al, dx
        test al, 0x20
        jz .w
        mov al, ah
        mov dx, 0x3F8
        out dx, al
        jmp rputs
.done:  ret

msg_real: db "real mode ok", 13, 10, 0

        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF       ; 0x08 code 32-bit flat
        dq 0x00CF92000000FFFF       ; 0x10 data 32-bit flat
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt

        bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        mov esi, msg_pm
        call pputs
        ; build the IDT: every vector -> generic stub table
        mov edi, idt
        xor ecx, ecx
.fill:  mov eax, [stubs + ecx*4]
        mov [edi], ax
        mov word [edi+2], 0x08
        mov word [edi+4], 0x8E00        ; present, DPL0, 32-bit interrupt gate
        shr eax, 16
        mov [edi+6], ax
        add edi, 8
        inc ecx
        cmp ecx, 49
        jb .fill
        lidt [idt_desc]

        int 0x30                         ; software interrupt
        xor edx, edx
        xor eax, eax
        xor ebx, ebx
        div ebx                          ; #DE (handler skips 2 bytes)
        ud2                              ; #UD (handler skips 2 bytes)
        mov ax, 0x48
        mov ds, ax                       ; #GP(0x48): beyond the GDT limit (handler skips 2 bytes)
        mov ax, 0x10
        mov ds, ax

        ; PIC: remap to 0x20/0x28, unmask IRQ0 only
        mov al, 0x11
        out 0x20, al
        out 0xA0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xA1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xA1, al
        mov al, 1
        out 0x21, al
        out 0xA1, al
        mov al, 0xFE
        out 0x21, al
        mov al, 0xFF
        out 0xA1, al
        ; PIT channel 0, mode 2, 1193 -> ~1 kHz
        mov al, 0x34
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        sti
.wait:  hlt
        cmp dword [ticks], 3
        jb .wait
        cli
        mov esi, msg_ticks
        call pputs

        rdtsc
        mov ebx, eax
        mov ecx, edx
        rdtsc
        sub eax, ebx
        sbb edx, ecx
        jc .bad
        or eax, edx
        jz .bad
        mov esi, msg_tsc
        call pputs
        jmp .out
.bad:   mov esi, msg_tscbad
        call pputs
.out:   mov al, 0x10
        out 0xF4, al                     ; QEMU exit status (0x10 << 1) | 1 = 33
        cli
        hlt

pputs:                                    ; ESI = string
        push eax
        push edx
.l:     lodsb
        test al, al
        jz .d
        mov ah, al
        mov dx, 0x3FD
.w:     in al, dx
        test al, 0x20
        jz .w
        mov al, ah
        mov dx, 0x3F8
        out dx, al
        jmp .l
.d:     pop edx
        pop eax
        ret

pputhex:                                  ; EAX as 8 hex digits
        push ecx
        push eax
        mov ecx, 8
.h:     rol eax, 4
        push eax
        and eax, 0xF
        mov al, [phexdigits + eax]
        mov [pchbuf], al
        push esi
        mov esi, pchbuf
        call pputs
        pop esi
        pop eax
        loop .h
        pop eax
        pop ecx
        ret

; common handler: [esp] = vector, then (error code if pushed by the CPU or 0 by the stub), eip, cs, eflags
isr_common:
        pushad
        mov ebx, [esp+32]                ; vector
        cmp ebx, 32
        je .irq0
        mov esi, msg_vec
        call pputs
        mov eax, ebx
        call pputhex
        mov esi, msg_err
        call pputs
        mov eax, [esp+36]
        call pputhex
        mov esi, msg_nl
        call pputs
        cmp ebx, 0x30
        je .ret
        add dword [esp+40], 2            ; skip the 2-byte faulting instruction
        jmp .ret
.irq0:  inc dword [ticks]
        mov al, 0x20
        out 0x20, al
.ret:   popad
        add esp, 8
        iret

%macro STUB_NOERR 1
stub%1: push dword 0
        push dword %1
        jmp isr_common
%endmacro
%macro STUB_ERR 1
stub%1: push dword %1
        jmp isr_common
%endmacro
%assign v 0
%rep 49
  %if v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17
    STUB_ERR v
  %else
    STUB_NOERR v
  %endif
  %assign v v+1
%endrep

stubs:
%assign v 0
%rep 49
        dd stub %+ v
  %assign v v+1
%endrep

idt_desc:
        dw 49*8 - 1
        dd idt
ticks:  dd 0
pchbuf:  db 0, 0
phexdigits: db "0123456789ABCDEF"
msg_pm: db "protected mode ok", 13, 10, 0
msg_vec: db "vector=", 0
msg_err: db " err=", 0
msg_nl: db 13, 10, 0
msg_ticks: db "3 timer ticks", 13, 10, 0
msg_tsc: db "rdtsc advances", 13, 10, 0
msg_tscbad: db "rdtsc BROKEN", 13, 10, 0
        align 8
idt:    times 49*8 db 0

%include "bios_end.inc"
