; CPUID dump: every basic leaf 0..7, leaf 4 subleaves 0..4, hypervisor leaves 0x40000000..2 and
; extended leaves 0x80000000..0x80000008.  Under qemu-system-i386 (-cpu qemu32, TCG) and under
; BareFlow the transcript must be the same (docs/devices.md, "CPUID").
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
kmain:
        xor ebp, ebp
.basic: mov eax, ebp
        xor ecx, ecx
        call leaf
        inc ebp
        cmp ebp, 8
        jb .basic
        mov ebp, 0
.sub:   mov eax, 4
        mov ecx, ebp
        call leaf
        inc ebp
        cmp ebp, 5
        jb .sub
        mov ebp, 0x40000000
.hv:    mov eax, ebp
        xor ecx, ecx
        call leaf
        inc ebp
        cmp ebp, 0x40000003
        jb .hv
        mov ebp, 0x80000000
.ext:   mov eax, ebp
        xor ecx, ecx
        call leaf
        inc ebp
        cmp ebp, 0x80000009
        jb .ext
        KPUTS msg_done
        mov al, 0
        jmp kexit

leaf:                                   ; EAX = leaf, ECX = subleaf: print "eeeeeeee.cc: a b c d"
        call khex8
        push eax
        mov al, '.'
        call kputc
        mov eax, ecx
        call khex2
        mov al, ':'
        call kputc
        pop eax
        cpuid
        call kspace
        call khex8
        mov eax, ebx
        call kspace
        call khex8
        mov eax, ecx
        call kspace
        call khex8
        mov eax, edx
        call kspace
        call khex8
        call knl
        ret
KSTR msg_done, {"cpuid done", 13, 10}
%include "bios_end.inc"
