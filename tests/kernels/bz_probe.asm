; A minimal Linux boot-protocol image ("HdrS", protocol 2.15, LOADED_HIGH): its real-mode setup
; prints on COM1 what the loader handed over -- segment registers, SP, general registers, IF,
; the setup header fields a loader fills (vid_mode, type_of_loader, loadflags, ramdisk,
; heap_end_ptr, cmd_line_ptr), the command line, the first bytes of the protected-mode kernel
; at 1 MiB and of the initrd (copied down with INT 15h AH=87h) -- then exits (isa-debug-exit).
        bits 16
        org 0
SETUP_SECTS equ 2

        times 0x1F1 - ($ - $$) db 0
hdr:    db SETUP_SECTS          ; 1F1 setup_sects
        dw 0                    ; 1F3 root_flags
        dd 0x100                ; 1F4 syssize
        dw 0                    ; 1F8 ram_size
        dw 0xFFFF               ; 1FA vid_mode
        dw 0                    ; 1FC root_dev
        dw 0xAA55               ; 1FE boot_flag
        jmp short setup         ; 200 jump
        db "HdrS"               ; 202 header
        dw 0x020F               ; 206 version
        dd 0                    ; 208 realmode_swtch
        dw 0                    ; 20C start_sys_seg
        dw 0                    ; 20E kernel_version
        db 0                    ; 210 type_of_loader
        db 0x01                 ; 211 loadflags: LOADED_HIGH
        dw 0                    ; 212 setup_move_size
        dd 0x100000             ; 214 code32_start
        dd 0                    ; 218 ramdisk_image
        dd 0                    ; 21C ramdisk_size
        dd 0                    ; 220 bootsect_kludge
        dw 0                    ; 224 heap_end_ptr
        db 0                    ; 226 ext_loader_ver
        db 0                    ; 227 ext_loader_type
        dd 0                    ; 228 cmd_line_ptr
        dd 0x37FFFFFF           ; 22C initrd_addr_max
        dd 0                    ; 230 kernel_alignment
        db 0                    ; 234 relocatable_kernel
        db 0                    ; 235 min_alignment
        dw 0                    ; 236 xloadflags
        dd 2048                 ; 238 cmdline_size
        times 0x268 - ($ - $$) db 0

; CS = setup segment + 20h, so a label L is at CS:(L - 200h) until DS is set
setup:
        mov [cs:r_sp - 0x200], sp
        mov [cs:r_eax - 0x200], eax
        mov [cs:r_ebx - 0x200], ebx
        mov [cs:r_ecx - 0x200], ecx
        mov [cs:r_edx - 0x200], edx
        mov [cs:r_esi - 0x200], esi
        mov [cs:r_edi - 0x200], edi
        mov [cs:r_ebp - 0x200], ebp
        pushf
        pop word [cs:r_flags - 0x200]
        mov [cs:r_ds - 0x200], ds
        mov [cs:r_ss - 0x200], ss
        mov [cs:r_es - 0x200], es
        mov ax, cs
        mov [cs:r_cs - 0x200], ax
        sub ax, 0x20
        mov ds, ax                ; DS = the setup segment: labels are offsets from the file start
        mov si, s1
        call puts
        mov ax, [r_cs]
        call hex16
        mov si, s_ds
        call puts
        mov ax, [r_ds]
        call hex16
        mov si, s_es
        call puts
        mov ax, [r_es]
        call hex16
        mov si, s_ss
        call puts
        mov ax, [r_ss]
        call hex16
        mov si, s_sp
        call puts
        mov ax, [r_sp]
        call hex16
        mov si, s_if
        call puts
        mov ax, [r_flags]
        and ax, 0x0600
        call hex16
        call nl
        mov si, s_regs
        call puts
        mov eax, [r_eax]
        call hex32
        call space
        mov eax, [r_ebx]
        call hex32
        call space
        mov eax, [r_ecx]
        call hex32
        call space
        mov eax, [r_edx]
        call hex32
        call space
        mov eax, [r_edi]
        call hex32
        call space
        mov eax, [r_ebp]
        call hex32
        call nl
        ; the header as the loader left it (ES = the setup segment)
        mov si, s_hdr
        call puts
        mov ax, [es:0x1FA]
        call hex16
        call space
        mov al, [es:0x210]
        call hex8
        call space
        mov al, [es:0x211]
        call hex8
        call space
        mov eax, [es:0x218]
        call hex32
        call space
        mov eax, [es:0x21C]
        call hex32
        call space
        mov ax, [es:0x224]
        call hex16
        call space
        mov eax, [es:0x228]
        call hex32
        call nl
        ; the command line (linear address < 1 MiB here)
        mov si, s_cmd
        call puts
        mov eax, [es:0x228]
        mov ebx, eax
        shr ebx, 4
        and ax, 15
        mov si, ax
        push ds
        mov ds, bx
.c:     lodsb
        test al, al
        jz .cd
        call putc
        jmp .c
.cd:    pop ds
        mov al, '|'
        call putc
        call nl
        ; the kernel at 1 MiB (A20 is on: FFFF:0010)
        mov si, s_kern
        call puts
        push ds
        mov ax, 0xFFFF
        mov ds, ax
        mov eax, [0x10]
        pop ds
        call hex32
        ; the initrd: INT 15h AH=87h copies its first 16 bytes to 0x30000
        mov eax, [es:0x21C]
        test eax, eax
        jz .nord
        mov si, s_rd
        call puts
        push es
        mov eax, [es:0x218]
        mov [gdt_src + 2], ax
        shr eax, 16
        mov [gdt_src + 4], al
        mov [gdt_src + 7], ah
        mov ax, ds
        mov es, ax
        mov si, gdt
        mov cx, 8
        mov ah, 0x87
        int 0x15
        pop es
        push ds
        mov ax, 0x3000
        mov ds, ax
        mov eax, [0]
        pop ds
        call hex32
.nord:  call nl
        mov al, 0
        out 0xF4, al
        cli
        hlt

gdt:    times 16 db 0
gdt_src: dw 0xFFFF, 0
        db 0, 0x93, 0, 0
gdt_dst: dw 0xFFFF, 0
        db 3, 0x93, 0, 0
        times 16 db 0

putc:   push dx
        push ax
        mov dx, 0x3FD
.w:     in al, dx
        test al, 0x20
        jz .w
        pop ax
        mov dx, 0x3F8
        out dx, al
        pop dx
        ret
puts:   push ax
.l:     lodsb
        test al, al
        jz .d
        call putc
        jmp .l
.d:     pop ax
        ret
space:  push ax
        mov al, ' '
        call putc
        pop ax
        ret
nl:     push ax
        mov al, 13
        call putc
        mov al, 10
        call putc
        pop ax
        ret
hex4:   push ax
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .p
        add al, 7
.p:     call putc
        pop ax
        ret
hex8:   push ax
        shr al, 4
        call hex4
        pop ax
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

s1:     db "cs=", 0
s_ds:   db " ds=", 0
s_es:   db " es=", 0
s_ss:   db " ss=", 0
s_sp:   db " sp=", 0
s_if:   db " if_df=", 0
s_regs: db "eax ebx ecx edx edi ebp=", 0
s_hdr:  db "vid_mode loader loadflags ramdisk size heap_end cmd_line=", 0
s_cmd:  db "cmdline=|", 0
s_kern: db "kernel=", 0
s_rd:   db " initrd=", 0
r_sp:   dw 0
r_flags: dw 0
r_cs:   dw 0
r_ds:   dw 0
r_es:   dw 0
r_ss:   dw 0
r_eax:  dd 0
r_ebx:  dd 0
r_ecx:  dd 0
r_edx:  dd 0
r_esi:  dd 0
r_edi:  dd 0
r_ebp:  dd 0
        times (SETUP_SECTS + 1) * 512 - ($ - $$) db 0
kernel: db 0xEB, 0xFE, "PMKERNEL"
        times 0x20000 - ($ - $$) db 0x90
