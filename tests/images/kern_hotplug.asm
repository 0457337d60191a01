; The PIIX4's ACPI hot-plug register blocks that QEMU's DSDT reads (devices/acpi_hotplug.py):
; PCI hot-plug at AE00h-AE17h and the CPU hot-plug interface at AF00h-AF0Bh.  A script of
; writes and reads (dword, word and byte), each read printed as "rPPPP/s=VALUE".
%define IMG_SECTORS 40
%define BODY_SECTORS 16
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"

kmain:  mov esi, script
.next:  lodsb
        test al, al
        jz .end
        movzx edx, word [esi]
        mov ecx, [esi + 2]
        add esi, 6
        cmp al, 'w'
        je .w4
        cmp al, 'b'
        je .w1
        ; read: AL = size (1, 2, 4)
        push eax
        mov al, 'r'
        call kputc
        mov eax, edx
        call khex4
        mov al, '/'
        call kputc
        pop eax
        push eax
        add al, '0'
        call kputc
        mov al, '='
        call kputc
        pop eax
        cmp al, 1
        je .r1
        cmp al, 2
        je .r2
        in eax, dx
        call khex8
        jmp .nl
.r1:    in al, dx
        movzx eax, al
        call khex2
        jmp .nl
.r2:    in ax, dx
        movzx eax, ax
        call khex4
.nl:    call knl
        jmp .next
.w4:    mov eax, ecx
        out dx, eax
        jmp .next
.w1:    mov al, cl
        out dx, al
        jmp .next
.end:   KPUTS m_done
        mov al, 0
        call kexit

%macro R 2
        db %2
        dw %1
        dd 0
%endmacro
%macro W 2
        db 'w'
        dw %1
        dd %2
%endmacro
%macro WB 2
        db 'b'
        dw %1
        dd %2
%endmacro
script:
        ; PCI hot-plug: every register, then the ACPI index of slot 2, 3 and of no slot
        R 0xAE00, 4
        R 0xAE04, 4
        R 0xAE08, 4
        R 0xAE0C, 4
        R 0xAE10, 4
        R 0xAE14, 4
        W 0xAE10, 0
        W 0xAE14, 1 << 2
        R 0xAE14, 4
        R 0xAE14, 4
        W 0xAE14, 1 << 3
        R 0xAE14, 4
        W 0xAE14, 0
        R 0xAE14, 4
        R 0xAE0C, 2
        R 0xAE0E, 2
        R 0xAE10, 1
        W 0xAE10, 5
        R 0xAE10, 4
        R 0xAE0C, 4
        R 0xAE00, 4
        W 0xAE10, 0
        R 0xAE10, 4
        ; CPU hot-plug: CPU 0, its flags and data after each command, then a CPU that is not there
        W 0xAF00, 0
        R 0xAF00, 4
        R 0xAF04, 1
        R 0xAF04, 4
        R 0xAF05, 1
        R 0xAF08, 4
        WB 0xAF05, 0
        R 0xAF08, 4
        R 0xAF00, 4
        WB 0xAF05, 3
        R 0xAF08, 4
        R 0xAF00, 4
        WB 0xAF05, 1
        W 0xAF08, 0x12345678
        R 0xAF08, 4
        WB 0xAF05, 2
        W 0xAF08, 0x9ABC
        R 0xAF08, 4
        WB 0xAF04, 2
        R 0xAF04, 1
        R 0xAF06, 2
        R 0xAF09, 1
        R 0xAF0A, 2
        W 0xAF00, 1
        R 0xAF04, 1
        R 0xAF08, 4
        R 0xAF00, 4
        WB 0xAF05, 0
        W 0xAF00, 0
        R 0xAF04, 1
        R 0xAF08, 4
        db 0
KSTR m_done, {"hotplug done", 13, 10}
%include "bios_end.inc"
