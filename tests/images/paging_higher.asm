; Paging test kernel: identity map + higher half (0xC0000000) with 4 KiB pages, a 4 MiB PSE
; page, and a #PF handler that prints the error code and CR2, then repairs the mapping and
; returns so the access is retried; the kernel runs on from 0xC0000000 as higher-half kernels
; do.  Compared byte for byte with QEMU (tests/test_paging_faults.py).
%define IMG_SECTORS 12
%define BODY_SECTORS 8
%include "bios_lib.inc"
%include "pm_print.inc"
PD   equ 0x20000
PT0  equ 0x21000
NP   equ 0x300000          ; its PTE starts not present
RO   equ 0x301000          ; its PTE starts read-only
main:
%include "core_pm_entry.inc"
        PMSG "pm32", 13, 10
        ; page table 0: identity 0-4 MiB, present + writable
        mov edi, PT0
        mov eax, 0x003
        mov ecx, 1024
.pt:    mov [edi], eax
        add eax, 0x1000
        add edi, 4
        loop .pt
        and dword [PT0 + (NP >> 12) * 4], 0xFFFFF000   ; not present
        and dword [PT0 + (RO >> 12) * 4], ~2             ; read-only
        mov dword [NP], 0x600DF00D
        mov dword [RO], 0x12345678
        ; page directory: PDE 0 and PDE 768 (0xC0000000) -> PT0; PDE 1 a 4 MiB page at 4 MiB
        mov edi, PD
        xor eax, eax
        mov ecx, 1024
        rep stosd
        mov dword [PD], PT0 | 3
        mov dword [PD + 768 * 4], PT0 | 3
        mov dword [PD + 1 * 4], 0x400000 | 0x83
        mov dword [0x400010], 0xCAFE4444
        ; IDT: vector 14 -> pf_handler, everything else -> other
        mov edi, idt
        xor ecx, ecx
.idt:   mov eax, other
        cmp ecx, 14
        jne .g
        mov eax, pf_handler
.g:     mov [edi], ax
        mov word [edi + 2], 0x08
        mov word [edi + 4], 0x8E00
        shr eax, 16
        mov [edi + 6], ax
        add edi, 8
        inc ecx
        cmp ecx, 32
        jb .idt
        lidt [idt_desc]
        mov eax, cr4
        or eax, 0x10              ; PSE
        mov cr4, eax
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80010000        ; PG | WP
        mov cr0, eax
        jmp .flush
.flush: PMSG "paging on cr3="
        mov eax, cr3
        call pm_hex32
        PMSG 13, 10
        ; run on in the higher half
        jmp 0x08:(0xC0000000 + high)
high:   call .here
.here:  pop eax
        PMSG "higher half eip="
        call pm_hex32
        PMSG 13, 10
        mov eax, [0xC0000000 + 0x7C00]     ; the boot sector through the alias
        PMSG "alias read="
        call pm_hex32
        PMSG 13, 10
        mov eax, [0x400010]
        PMSG "pse read="
        call pm_hex32
        PMSG 13, 10
        ; 1: read of a not-present page
        mov eax, [NP]
        PMSG "np read="
        call pm_hex32
        PMSG 13, 10
        ; 2: write to a read-only page (CR0.WP)
        mov dword [RO + 4], 0xAB
        mov eax, [RO + 4]
        PMSG "ro write="
        call pm_hex32
        PMSG 13, 10
        ; 3: a higher-half read of a page whose PDE is absent
        mov eax, [0xC0400000 + 0x7C00]
        PMSG "pde read="
        call pm_hex32
        PMSG 13, 10
        PMSG "done", 13, 10
        mov al, 0
        out 0xF4, al
        hlt

pf_handler:
        push eax
        PMSG "#PF err="
        mov eax, [esp + 4]
        call pm_hex32
        PMSG " cr2="
        mov eax, cr2
        call pm_hex32
        PMSG " eip="
        mov eax, [esp + 8]
        call pm_hex32
        PMSG 13, 10
        mov eax, cr2
        cmp eax, 0xC0400000
        jae .pde
        shr eax, 12
        or dword [PT0 + eax * 4], 3          ; present + writable
        jmp .fixed
.pde:   mov dword [PD + 769 * 4], PT0 | 3    ; 0xC0400000 -> PT0 (physical 0..4 MiB)
.fixed: mov eax, cr2
        invlpg [eax]
        pop eax
        add esp, 4                            ; the error code
        iret
other:
        PMSG "unexpected exception", 13, 10
        mov al, 0x11
        out 0xF4, al
        hlt

%include "pm_serial.inc"
        align 8
idt:    times 32 dq 0
idt_desc:
        dw 32 * 8 - 1
        dd idt
%include "bios_end.inc"
