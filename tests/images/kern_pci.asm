; PCI dump: configuration mechanism #1 (0xCF8/0xCFC).  Every function on bus 0: its 64 config
; dwords, then each BAR's size probe (write all ones, read back, restore), then a byte and a
; word access through 0xCFC+n.  The transcript must be the same under qemu-system-i386 -m 64
; -net none (SeaBIOS has programmed the BARs) and BareFlow.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
kmain:
        mov dx, 0xCF8                   ; the address register reads back what was written
        mov eax, 0x80001234
        out dx, eax
        in eax, dx
        call khex8
        call knl
        xor ebp, ebp                    ; EBP = bus/dev/fn << 8
.fn:    mov eax, ebp
        xor ebx, ebx
        call cfg_read
        cmp ax, 0xFFFF
        je .next
        call dump_fn
.next:  test ebp, 0x700                 ; function 0 without the multi-function bit: skip 1-7
        jnz .adv
        mov eax, ebp
        mov ebx, 0x0C
        call cfg_read
        test eax, 0x00800000
        jnz .adv
        add ebp, 0x800
        jmp .chk
.adv:   add ebp, 0x100
.chk:   cmp ebp, 0x10000
        jb .fn
        mov dx, 0xCF8
        xor eax, eax
        out dx, eax
        KPUTS msg_done
        mov al, 0
        jmp kexit

cfg_read:                               ; EAX = bdf<<8, EBX = register -> EAX = dword
        push edx
        or eax, ebx
        or eax, 0x80000000
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        pop edx
        ret
cfg_write:                              ; EAX = bdf<<8, EBX = register, ECX = value
        push edx
        or eax, ebx
        or eax, 0x80000000
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        mov eax, ecx
        out dx, eax
        pop edx
        ret

dump_fn:
        mov eax, ebp
        shr eax, 16
        call khex2
        mov al, ':'
        call kputc
        mov eax, ebp
        shr eax, 11
        and eax, 31
        call khex2
        mov al, '.'
        call kputc
        mov eax, ebp
        shr eax, 8
        and eax, 7
        mov ecx, 1
        call khex
        call knl
        xor ebx, ebx
.row:   mov eax, ebx
        call khex2
        mov al, ':'
        call kputc
        mov edi, 8
.col:   mov eax, ebp
        call cfg_read
        call kspace
        call khex8
        add ebx, 4
        dec edi
        jnz .col
        call knl
        cmp ebx, 0x100
        jb .row
        ; BAR probes: 0x10..0x24 and the ROM BAR 0x30
        KPUTS msg_bars
        mov ebx, 0x10
.bar:   call probe
        add ebx, 4
        cmp ebx, 0x28
        jb .bar
        mov ebx, 0x30
        call probe
        call knl
        ; narrow accesses: byte at 0xCFE (register 2), word at 0xCFE
        mov eax, ebp
        or eax, 0x80000000
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFE
        in al, dx
        call khex2
        call kspace
        in ax, dx
        call khex4
        mov dx, 0xCFD
        in al, dx
        call kspace
        call khex2
        call knl
        ret
probe:                                  ; EBX = BAR register: print the all-ones read-back
        mov eax, ebp
        call cfg_read
        mov esi, eax                    ; saved
        mov eax, ebp
        mov ecx, 0xFFFFFFFF
        call cfg_write
        mov eax, ebp
        call cfg_read
        call kspace
        call khex8
        mov eax, ebp
        mov ecx, esi
        call cfg_write
        ret
KSTR msg_bars, "sizes:"
KSTR msg_done, {"pci done", 13, 10}
%include "bios_end.inc"
