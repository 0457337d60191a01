; A multiboot (v1) test kernel: prints on COM1 what the loader handed over -- EAX, the segment
; selectors, CR0, IF, and every field of the multiboot information structure (memory, boot
; device, command line, modules with their first bytes, the memory map, the loader name) --
; then exits through isa-debug-exit.  Built two ways (tests/test_kernel_boot.py):
;   nasm -f elf32 + ld.lld -Ttext=0x100000  -> an ELF kernel (QEMU loads its segments)
;   nasm -f bin -DAOUT                       -> the "a.out kludge" (header addresses, flag 16)
        bits 32
%ifdef AOUT
        org 0x100000
%define FLAGS 0x00010003
%else
        section .text
        global start
%define FLAGS 0x00000003
%endif

mb_header:
        dd 0x1BADB002
        dd FLAGS
        dd -(0x1BADB002 + FLAGS)
%ifdef AOUT
        dd mb_header            ; header_addr
        dd 0x100000             ; load_addr
        dd load_end             ; load_end_addr
        dd bss_end              ; bss_end_addr
        dd start                ; entry_addr
%endif

start:
        mov [saved_eax], eax
        mov [saved_ebx], ebx
        mov esp, stack_top
        mov esi, s_magic
        call puts
        mov eax, [saved_eax]
        call hex32
        mov esi, s_cs
        call puts
        mov ax, cs
        call hex16
        mov esi, s_ds
        call puts
        mov ax, ds
        call hex16
        mov esi, s_es
        call puts
        mov ax, es
        call hex16
        mov esi, s_ss
        call puts
        mov ax, ss
        call hex16
        mov esi, s_cr0
        call puts
        mov eax, cr0
        call hex32
        mov esi, s_if
        call puts
        pushfd
        pop eax
        shr eax, 9
        and eax, 1
        call hex8
        call nl

        mov ebx, [saved_ebx]
        mov esi, s_flags
        call puts
        mov eax, [ebx]
        call hex32
        mov esi, s_mem
        call puts
        mov eax, [ebx + 4]
        call hex32
        mov al, ' '
        call putc
        mov eax, [ebx + 8]
        call hex32
        mov esi, s_bootdev
        call puts
        mov eax, [ebx + 12]
        call hex32
        call nl
        mov esi, s_cmdline
        call puts
        mov eax, [ebx + 16]
        call hex32
        mov al, ' '
        call putc
        mov esi, [ebx + 16]
        call puts
        call nl
        mov esi, s_loader
        call puts
        mov eax, [ebx + 64]
        call hex32
        mov al, ' '
        call putc
        mov esi, [ebx + 64]
        call puts
        call nl
        ; modules
        mov esi, s_mods
        call puts
        mov eax, [ebx + 20]
        call hex32
        mov al, ' '
        call putc
        mov eax, [ebx + 24]
        call hex32
        call nl
        mov ecx, [ebx + 20]
        mov edi, [ebx + 24]
.mod:   jecxz .mods_done
        push ecx
        mov esi, s_mod
        call puts
        mov eax, [edi]
        call hex32
        mov al, ' '
        call putc
        mov eax, [edi + 4]
        call hex32
        mov al, ' '
        call putc
        mov eax, [edi + 8]
        call hex32
        mov al, ' '
        call putc
        mov esi, [edi + 8]
        call puts
        mov al, ' '
        call putc
        mov esi, [edi]
        mov eax, [esi]
        call hex32
        call nl
        add edi, 16
        pop ecx
        dec ecx
        jmp .mod
.mods_done:
        ; memory map
        mov esi, s_mmap
        call puts
        mov eax, [ebx + 44]
        call hex32
        mov al, ' '
        call putc
        mov eax, [ebx + 48]
        call hex32
        call nl
        mov edi, [ebx + 48]
        mov edx, edi
        add edx, [ebx + 44]
.e:     cmp edi, edx
        jae .e_done
        mov esi, s_ent
        call puts
        mov eax, [edi]
        call hex32
        mov al, ' '
        call putc
        mov eax, [edi + 8]
        call hex32
        mov eax, [edi + 4]
        call hex32
        mov al, ' '
        call putc
        mov eax, [edi + 16]
        call hex32
        mov eax, [edi + 12]
        call hex32
        mov al, ' '
        call putc
        mov eax, [edi + 20]
        call hex32
        call nl
        mov eax, [edi]
        lea edi, [edi + eax + 4]
        jmp .e
.e_done:
        ; bss is zero, A20 is on
        mov esi, s_bss
        call puts
        mov eax, [bss_probe]
        call hex32
        mov esi, s_a20
        call puts
        mov dword [0x100000 + 0x7F0], 0x12345678
        mov eax, [0x7F0]
        cmp eax, 0x12345678
        setne al
        movzx eax, al
        call hex8
        call nl
        mov al, 0
        out 0xF4, al
        cli
        hlt

putc:   push edx
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
puts:   push eax
        push esi
.l:     lodsb
        test al, al
        jz .d
        call putc
        jmp .l
.d:     pop esi
        pop eax
        ret
nl:     push eax
        mov al, 13
        call putc
        mov al, 10
        call putc
        pop eax
        ret
hex4:   push eax
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .p
        add al, 7
.p:     call putc
        pop eax
        ret
hex8:   push eax
        shr al, 4
        call hex4
        pop eax
        jmp hex4
hex16:  xchg al, ah
        call hex8
        xchg al, ah
        jmp hex8
hex32:  push eax
        shr eax, 16
        call hex16
        pop eax
        jmp hex16

s_magic: db "eax=", 0
s_cs:    db " cs=", 0
s_ds:    db " ds=", 0
s_es:    db " es=", 0
s_ss:    db " ss=", 0
s_cr0:   db " cr0=", 0
s_if:    db " if=", 0
s_flags: db "flags=", 0
s_mem:   db " mem=", 0
s_bootdev: db " boot_device=", 0
s_cmdline: db "cmdline=", 0
s_loader: db "loader=", 0
s_mods:  db "mods=", 0
s_mod:   db " mod ", 0
s_mmap:  db "mmap=", 0
s_ent:   db " ", 0
s_bss:   db "bss=", 0
s_a20:   db " a20_on=", 0
%ifdef AOUT
load_end:
saved_eax: equ load_end
saved_ebx: equ load_end + 4
bss_probe: equ load_end + 8
stack_top: equ load_end + 0x1000
bss_end: equ load_end + 0x1000
%else
        section .bss
saved_eax: resd 1
saved_ebx: resd 1
bss_probe: resd 1
        resb 4096
stack_top:
%endif
