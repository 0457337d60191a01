; PCI configuration write masks: for every function, each dword of the header's writable
; registers (command/status, cache line/latency, interrupt line/pin) and of the device-specific
; area 0x40-0xFC is written with all ones, read back and restored (the i440FX's SMRAM dword
; 0x70 is skipped: its lock bit would stick).  Printed where the read-back differs from the
; value before the write.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
kmain:
        mov esi, fns
.f:     mov ebp, [esi]
        cmp ebp, -1
        je .done
        mov eax, ebp
        shr eax, 8
        call khex4
        mov al, ':'
        call kputc
        mov ebx, 0x04
        call probe
        mov ebx, 0x0C
        call probe
        mov ebx, 0x3C
        call probe
        mov ebx, 0x40
.r:     cmp ebp, 0x80000000             ; host bridge: skip SMRAM
        jne .p
        cmp ebx, 0x70
        je .n
.p:     call probe
.n:     add ebx, 4
        cmp ebx, 0x100
        jb .r
        call knl
        add esi, 4
        jmp .f
.done:  mov dx, 0xCF8
        xor eax, eax
        out dx, eax
        mov al, 0
        jmp kexit
probe:                                  ; EBP = 0x80000000 | bdf << 8, EBX = register
        push esi
        mov dx, 0xCF8
        mov eax, ebp
        or eax, ebx
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        mov esi, eax                    ; before
        mov eax, 0xFFFFFFFF
        out dx, eax
        in eax, dx
        mov edi, eax                    ; after
        mov eax, esi
        out dx, eax                     ; restore
        cmp edi, esi
        je .same
        call kspace
        mov eax, ebx
        call khex2
        mov al, '='
        call kputc
        mov eax, edi
        call khex8
.same:  pop esi
        ret
fns:    dd 0x80000000, 0x80000800, 0x80000900, 0x80000B00, 0x80001000, -1
%include "bios_end.inc"
