; ACPI fixed hardware of the PIIX4 as the FADT describes it: PM1a status/enable (0x600/0x602),
; PM1a control (0x604), the PM timer (0x608, advances), GPE0 status/enable (0xAFE0/0xAFE2),
; and the ACPI enable handshake through SMI_CMD (0xB2): SCI_EN in PM1a_CNT.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
%macro INW 1
        mov dx, %1
        in ax, dx
        call khex4
        call kspace
%endmacro
%macro INB 1
        mov dx, %1
        in al, dx
        call khex2
        call kspace
%endmacro
kmain:
        KPUTS m_boot
        INW 0x600
        INW 0x602
        INW 0x604
        INB 0xB2
        INB 0xB3
        INW 0xAFE0
        INW 0xAFE2
        call knl
        ; PM1 status bits are write-one-to-clear; enable bits read back
        mov dx, 0x602
        mov ax, 0x0321
        out dx, ax
        mov dx, 0x600
        mov ax, 0xFFFF
        out dx, ax
        KPUTS m_en
        INW 0x600
        INW 0x602
        call knl
        mov dx, 0x602
        xor ax, ax
        out dx, ax
        ; GPE0 enable
        mov dx, 0xAFE2
        mov ax, 0x000F
        out dx, ax
        KPUTS m_gpe
        INW 0xAFE0
        INW 0xAFE2
        call knl
        mov dx, 0xAFE2
        xor ax, ax
        out dx, ax
        ; ACPI enable through SMI_CMD
        mov al, 0xF1
        out 0xB2, al
        KPUTS m_on
        INW 0x604
        INB 0xB2
        call knl
        mov al, 0xF0
        out 0xB2, al
        KPUTS m_off
        INW 0x604
        INB 0xB2
        call knl
        ; PM1a_CNT keeps SCI_EN writable bits
        mov dx, 0x604
        mov ax, 0x0001
        out dx, ax
        KPUTS m_cnt
        INW 0x604
        call knl
        ; PM timer: 24 bits, advances
        mov dx, 0x608
        in eax, dx
        mov ebx, eax
        mov ecx, 100000
.sp:    loop .sp
        in eax, dx
        KPUTS m_tmr
        test eax, 0xFF000000
        jnz .bad
        cmp eax, ebx
        je .bad
        KPUTS m_yes
        jmp .d
.bad:   KPUTS m_no
.d:     call knl
        mov al, 0
        jmp kexit
KSTR m_boot, "boot: "
KSTR m_en, "pm1 after en=0321 sts=ffff: "
KSTR m_gpe, "gpe0 en=000f: "
KSTR m_on, "smi_cmd f1: "
KSTR m_off, "smi_cmd f0: "
KSTR m_cnt, "cnt=0001: "
KSTR m_tmr, "pm timer "
KSTR m_yes, "advances"
KSTR m_no, "BROKEN"
%include "bios_end.inc"
