; The BIOS32 service directory and the 32-bit PCI BIOS, called as an OS does: find "_32_" in
; E0000-FFFFF (checksum), ask it for "$PCI" and for an unknown service, then far-call the PCI
; BIOS for the installation check, find device / find class code (found, next index, absent),
; configuration reads of every width (and an unaligned one), a write read back and restored,
; the IRQ routing options (buffer too small, then the copy) and unsupported functions.
; Every result register and CF is printed.
%define IMG_SECTORS 40
%define BODY_SECTORS 16
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"

; print "AX=.. BX=.. CX=.. DX=.. CF" after a call (all registers preserved)
regs:   pushfd
        push eax
        KPUTS m_eax
        call khex8
        KPUTS m_ebx
        mov eax, ebx
        call khex8
        KPUTS m_ecx
        mov eax, ecx
        call khex8
        KPUTS m_edx
        mov eax, edx
        call khex8
        KPUTS m_cf
        mov eax, [esp + 4]
        and eax, 1
        call khex2
        call knl
        pop eax
        popfd
        ret

%macro PCI 0
        call far [pci_ptr]
        call regs
%endmacro

kmain:
        mov ax, cs
        mov [b32_ptr + 4], ax
        mov [pci_ptr + 4], ax
        mov esi, 0xE0000
.scan:  cmp dword [esi], '_32_'
        jne .next
        movzx ecx, byte [esi + 9]
        shl ecx, 4
        xor eax, eax
        xor edx, edx
.sum:   add al, [esi + edx]
        inc edx
        cmp edx, ecx
        jb .sum
        test al, al
        jz .found
.next:  add esi, 16
        cmp esi, 0x100000
        jb .scan
        KPUTS m_none
        jmp .out
.found: KPUTS m_dir
        mov eax, esi
        call khex8
        call kspace
        mov eax, [esi + 4]
        call khex8
        call kspace
        movzx eax, byte [esi + 8]
        call khex2
        call knl
        mov eax, [esi + 4]
        mov [b32_ptr], eax
        ; unknown service, then "$PCI"
        mov eax, 'XYZW'
        xor ebx, ebx
        call far [b32_ptr]
        KPUTS m_b32
        and eax, 0xFF
        call regs
        mov eax, 0x49435024
        xor ebx, ebx
        call far [b32_ptr]
        KPUTS m_b32
        call regs
        add ebx, edx
        mov [pci_ptr], ebx
        ; installation check
        KPUTS m_b101
        mov eax, 0xB101
        xor edi, edi
        PCI
        KPUTS m_edi
        mov eax, edi
        call khex8
        call knl
        ; find device
        mov esi, fd_list
.fd:    mov dx, [esi]
        test dx, dx
        jz .fd_done
        mov cx, [esi + 2]
        push esi
        mov si, [esi + 4]
        KPUTS m_b102
        mov eax, 0xB102
        mov ebx, 0x12345678
        PCI
        pop esi
        add esi, 6
        jmp .fd
.fd_done:
        ; find class code
        mov esi, fc_list
.fc:    mov ecx, [esi]
        test ecx, ecx
        jz .fc_done
        push esi
        mov si, [esi + 4]
        KPUTS m_b103
        mov eax, 0xB103
        xor ebx, ebx
        PCI
        pop esi
        add esi, 8
        jmp .fc
.fc_done:
        ; configuration reads: BX = bus:devfn, DI = register
        mov esi, rd_list
.rd:    mov al, [esi]
        test al, al
        jz .rd_done
        push esi
        movzx ebx, word [esi + 1]
        movzx edi, byte [esi + 3]
        mov ah, 0xB1
        mov ecx, 0xAAAAAAAA
        KPUTS m_rd
        PCI
        pop esi
        add esi, 4
        jmp .rd
.rd_done:
        ; write the VGA's interrupt line (02.0 reg 3Ch), read it back, restore it
        KPUTS m_wr
        mov eax, 0xB10B
        mov ebx, 0x0010
        mov edi, 0x3C
        mov ecx, 0x5A
        PCI
        KPUTS m_rd
        mov eax, 0xB10A
        mov ecx, 0
        PCI
        KPUTS m_wr
        mov eax, 0xB10C
        mov ebx, 0x0010
        mov edi, 0x3C
        mov ecx, 0x01FF
        PCI
        KPUTS m_rd
        mov eax, 0xB10A
        PCI
        mov eax, 0xB10B
        mov ecx, 0
        PCI
        KPUTS m_wr
        mov eax, 0xB10D
        mov ebx, 0x0008
        mov edi, 0x62
        mov ecx, 0x12345678
        PCI
        ; IRQ routing options: too small a buffer, then a big enough one (SeaBIOS copies from
        ; CS:5CA0h, which is its $PIR only with a code segment based at F0000h -- where its
        ; own globals cannot be read: with a flat CS the caller gets low memory)
        mov word [opt], 16
        mov dword [opt + 2], route_buf
        mov [opt + 6], ds
        KPUTS m_b10e
        mov eax, 0xB10E
        xor ebx, ebx
        mov edi, opt
        PCI
        movzx eax, word [opt]
        call khex4
        call knl
        mov word [opt], 512
        KPUTS m_b10e
        mov eax, 0xB10E
        mov ebx, 0xFFFF
        mov edi, opt
        PCI
        movzx ecx, word [opt]
        mov eax, ecx
        call khex4
        call knl
        mov esi, route_buf
        jecxz .rbd
.rb:    lodsb
        call khex2
        loop .rb
.rbd:   call knl
        ; unsupported
        KPUTS m_uns
        mov eax, 0xB106
        PCI
        KPUTS m_uns
        mov eax, 0xB10F
        PCI
        KPUTS m_uns
        mov eax, 0xB001
        PCI
.out:   KPUTS m_done
        mov al, 0
        call kexit

        align 4
b32_ptr: dd 0
        dw 0
pci_ptr: dd 0
        dw 0
opt:    times 8 db 0
; vendor, device, index
fd_list: dw 0x8086, 0x7000, 0
        dw 0x8086, 0x7010, 0
        dw 0x8086, 0x7113, 0
        dw 0x8086, 0x1237, 0
        dw 0x1234, 0x1111, 0
        dw 0x1234, 0x1111, 1
        dw 0x10EC, 0x8139, 0
        dw 0
; class code, index
fc_list: dd 0x010180, 0
        dd 0x030000, 0
        dd 0x068000, 0
        dd 0x060100, 0
        dd 0x060000, 0
        dd 0x060000, 1
        dd 0x020000, 0
        dd 0
; function, bus:devfn, register
rd_list: db 0x08
        dw 0x0000
        db 0x00
        db 0x08
        dw 0x000B
        db 0x3C
        db 0x09
        dw 0x0009
        db 0x02
        db 0x0A
        dw 0x0010
        db 0x10
        db 0x0A
        dw 0x0008
        db 0x60
        db 0x09
        dw 0x0000
        db 0x03
        db 0x0A
        dw 0x0000
        db 0x02
        db 0x0A
        dw 0x0018
        db 0x00
        db 0x0A
        dw 0x0100
        db 0x00
        db 0

KSTR m_none, {"no _32_", 13, 10}
KSTR m_dir, "_32_ at "
KSTR m_b32, "bios32 "
KSTR m_b101, "B101 "
KSTR m_b102, "B102 "
KSTR m_b103, "B103 "
KSTR m_b10e, "B10E "
KSTR m_rd, "read "
KSTR m_wr, "write "
KSTR m_uns, "other "
KSTR m_edi, "    EDI="
KSTR m_eax, "AX="
KSTR m_ebx, " BX="
KSTR m_ecx, " CX="
KSTR m_edx, " DX="
KSTR m_cf, " CF="
KSTR m_done, {"pcibios done", 13, 10}
route_buf: times 512 db 0xEE
%include "bios_end.inc"
