; Paging on (32-bit tables, a 4 MiB PSE page and a 4 KiB page table): the IDT and the stack
; live at LINEAR addresses 0x400000/0x401000 that map to physical 0x200000/0x201000, so
; interrupt delivery must read the gate and push the frame through the page tables.  Then a
; read and a write of unmapped pages raise #PF: the handler prints CR2 and the error code the
; CPU pushed, and what it sees at the linear stack.  Byte-identical under QEMU and BareFlow.
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
PD      equ 0x10000
PT      equ 0x11000
main:
%include "core_pm_entry.inc"
        ; page directory and one page table, cleared
        mov edi, PD
        xor eax, eax
        mov ecx, 2048
        rep stosd
        mov dword [PD + 0], 0x00000083          ; 0-4 MiB: one 4 MiB page, identity (PS|RW|P)
        mov dword [PD + 4], PT | 3              ; 4-8 MiB: through the page table
        mov dword [PT + 0], 0x00200003          ; 0x400000 -> 0x200000 (the IDT)
        mov dword [PT + 4], 0x00201003          ; 0x401000 -> 0x201000 (the stack)
        mov dword [PT + 8], 0x00202001          ; 0x402000 -> 0x202000, read-only
        ; the IDT at physical 0x200000 (written before paging): vectors 14 and 0x30
        mov edi, 0x200000
        xor eax, eax
        mov ecx, 0x31 * 2
        rep stosd
        mov eax, pf_handler
        mov edi, 0x200000 + 14 * 8
        call gate
        mov eax, int30_handler
        mov edi, 0x200000 + 0x30 * 8
        call gate
        mov dword [0x202000], 0x600DF00D        ; a marker on the read-only page
        ; paging on
        mov eax, cr4
        or eax, 0x10                            ; PSE
        mov cr4, eax
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80010000                      ; PG, WP
        mov cr0, eax
        jmp .paged
.paged:
        lidt [idt_desc]
        mov esp, 0x402000                       ; linear top of the stack page
        mov esi, msg_on
        call pputs
        mov eax, 0x12345678
        int 0x30
        mov esi, msg_back
        call pputs
        mov eax, [0x402000]                     ; readable through the mapping
        call phex
        mov esi, msg_crlf
        call pputs
        mov dword [resume], .r1
        mov eax, [0x800000]                     ; PDE 2 not present: #PF, error code 0
.r1:    mov dword [resume], .r2
        mov dword [0x402000], 1                 ; read-only with WP: #PF, error code 3
.r2:    mov dword [resume], .r3
        mov eax, [0x403000]                     ; PTE not present: #PF, error code 0
.r3:
        mov esi, msg_end
        call pputs
        mov al, 0x21
        out 0xF4, al
        hlt

gate:   ; EAX = handler, EDI = gate address: 32-bit interrupt gate, selector 0x08
        mov [edi], ax
        mov word [edi + 2], 0x08
        mov word [edi + 4], 0x8E00
        shr eax, 16
        mov [edi + 6], ax
        ret

int30_handler:
        push eax
        mov esi, msg_int
        call pputs
        mov eax, esp                            ; the frame sits at linear 0x401FF0...
        call phex
        mov esi, msg_sp
        call pputs
        mov eax, [esp]                          ; the pushed EAX, read back through the mapping
        call phex
        mov esi, msg_crlf
        call pputs
        pop eax
        iret

pf_handler:
        mov esi, msg_pf
        call pputs
        mov eax, cr2
        call phex
        mov esi, msg_err
        call pputs
        mov eax, [esp]                          ; the error code the CPU pushed
        call phex
        mov esi, msg_crlf
        call pputs
        add esp, 4
        mov eax, [resume]                       ; go on after the faulting instruction
        mov [esp], eax
        iret

pputs:  ; ESI = string (32-bit, polled COM1)
        lodsb
        test al, al
        jz .done
        mov ah, al
        mov dx, 0x3FD
.w:     in al, dx
        test al, 0x20
        jz .w
        mov al, ah
        mov dx, 0x3F8
        out dx, al
        jmp pputs
.done:  ret

phex:   ; EAX as 8 hex digits
        mov ecx, 8
.l:     rol eax, 4
        push eax
        and eax, 0xF
        mov al, [hexd + eax]
        mov ah, al
        mov dx, 0x3FD
.w:     in al, dx
        test al, 0x20
        jz .w
        mov al, ah
        mov dx, 0x3F8
        out dx, al
        pop eax
        loop .l
        ret

        align 4
idt_desc: dw 0x31 * 8 - 1
        dd 0x400000
resume: dd 0
hexd:   db "0123456789ABCDEF"
msg_on:   db "paging on", 13, 10, 0
msg_int:  db "int 0x30: esp=", 0
msg_sp:   db " [esp]=", 0
msg_back: db "back; [0x402000]=", 0
msg_pf:   db "#PF cr2=", 0
msg_err:  db " error=", 0
msg_end:  db "done", 13, 10, 0
msg_crlf: db 13, 10, 0
%include "bios_end.inc"
