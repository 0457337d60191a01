; Firmware tables: scan the F segment (and the EBDA) for the MP floating pointer, the ACPI RSDP
; and the SMBIOS entry point; print where they are, check every checksum, dump the MP
; configuration table, walk the RSDT (each table's header; FADT fields, MADT entries and the
; small tables byte by byte) and the SMBIOS structures.  The whole RSDP and every table's
; address in high RAM are printed (the DSDT is QEMU's byte for byte, so they are QEMU's).
%define IMG_SECTORS 40
%define BODY_SECTORS 16
%include "bios_lib.inc"
main:
%include "core_pm_entry.inc"
        jmp kmain
%include "kern_lib.inc"
kmain:
        mov esi, 0x9FC00
        mov edi, 0xA0000
        call scan
        mov esi, 0xF0000
        mov edi, 0x100000
        call scan
        ; ---- MP
        mov esi, [mp_at]
        test esi, esi
        jz .nomp
        KPUTS m_mpfp
        mov ecx, 16
        call hexbytes
        call sumline
        mov esi, [esi + 4]
        KPUTS m_mpct
        mov ecx, 4
        call kputn
        call kspace
        movzx eax, word [esi + 4]
        call khex4
        call kspace
        push esi
        movzx ecx, word [esi + 4]
        call checksum
        pop esi
        call okbad
        call kspace
        push esi
        add esi, 8
        mov ecx, 20
        call kputn
        pop esi
        call knl
        push esi
        mov ecx, 44
        call hexbytes
        pop esi
        call knl
        movzx ebx, word [esi + 34]      ; entry count
        add esi, 44
.mpe:   test ebx, ebx
        jz .nomp
        mov ecx, 8
        cmp byte [esi], 0
        jne .e8
        mov ecx, 20
.e8:    call hexbytes
        call knl
        add esi, ecx
        dec ebx
        jmp .mpe
.nomp:
        ; ---- ACPI
        mov esi, [rsdp_at]
        test esi, esi
        jz .noacpi
        KPUTS m_rsdp
        mov ecx, 20                     ; all of it, the checksum and the RSDT's address too
        call hexbytes
        call kspace
        mov ecx, 20
        call sumline
        mov esi, [esi + 16]             ; RSDT
        call header
        mov ebx, [esi + 4]
        sub ebx, 36
        shr ebx, 2
        lea edi, [esi + 36]
.rs:    test ebx, ebx
        jz .noacpi
        mov esi, [edi]
        call table
        add edi, 4
        dec ebx
        jmp .rs
.noacpi:
        ; ---- SMBIOS
        mov esi, [sm_at]
        test esi, esi
        jz .nosm
        KPUTS m_smep
        mov ecx, 0x18                   ; up to the structure table address
        call hexbytes
        call knl
        push esi
        movzx ecx, byte [esi + 5]
        call checksum
        call okbad
        call kspace
        pop esi
        push esi
        add esi, 0x10
        mov ecx, 15
        call checksum
        call okbad
        pop esi
        call kspace
        mov eax, [esi + 0x18]
        call khex8
        call kspace
        movzx eax, word [esi + 0x1C]
        call khex4
        call knl
        mov edi, [esi + 0x18]           ; structures
        movzx ebx, word [esi + 0x1C]
.st:    test ebx, ebx
        jz .nosm
        mov esi, edi
        movzx ecx, byte [esi + 1]
        call hexbytes
        call knl
        add edi, ecx
.str:   cmp byte [edi], 0
        jne .s1
        add edi, 2                      ; no strings: the structure ends 00 00
        jmp .end
.s1:    mov al, '"'
        call kputc
        mov esi, edi
.s2:    lodsb
        test al, al
        jz .s3
        call kputc
        jmp .s2
.s3:    mov al, '"'
        call kputc
        call knl
        mov edi, esi
        cmp byte [edi], 0
        jne .s1
        inc edi                         ; the terminating NUL
.end:   dec ebx
        jmp .st
.nosm:
        KPUTS m_done
        mov al, 0
        jmp kexit

scan:                                   ; ESI..EDI in 16-byte steps
.l:     cmp dword [esi], "_MP_"
        jne .r
        KPUTS m_found_mp
        mov [mp_at], esi
        call show_at
.r:     cmp dword [esi], "RSD "
        jne .s
        cmp dword [esi + 4], "PTR "
        jne .s
        KPUTS m_found_rsdp
        mov [rsdp_at], esi
        call show_at
.s:     cmp dword [esi], "_SM_"
        jne .n
        KPUTS m_found_sm
        mov [sm_at], esi
        call show_at
.n:     add esi, 16
        cmp esi, edi
        jb .l
        ret
show_at: mov eax, esi
        call khex8
        call knl
        ret

header:                                 ; ESI = ACPI table: one line with its header
        mov ecx, 4
        call kputn
        call kspace
        mov eax, [esi + 4]
        call khex8
        call kspace
        movzx eax, byte [esi + 8]
        call khex2
        call kspace
        push esi
        mov ecx, [esi + 4]
        call checksum
        call okbad
        pop esi
        call kspace
        push esi
        add esi, 10
        mov ecx, 6
        call kputn
        call kspace
        add esi, 6
        mov ecx, 8
        call kputn
        call kspace
        mov eax, [esi + 8]
        call khex8
        call kspace
        add esi, 12
        mov ecx, 4
        call kputn
        call kspace
        mov eax, [esi + 4]
        call khex8
        pop esi
        call knl
        ret

table:                                  ; ESI = a table the RSDT points to
        push ebx
        push edi
        mov eax, esi
        call khex8
        call kspace
        call header
        cmp dword [esi], "FACP"
        jne .madt
        ; FADT: bytes 36..115 (FIRMWARE_CTRL and DSDT addresses included)
        push esi
        add esi, 36
        mov ecx, [esi - 36 + 4]
        sub ecx, 36
        call hexbytes
        pop esi
        call knl
        mov edi, esi
        mov esi, [edi + 36]             ; FACS
        KPUTS m_facs
        mov ecx, 4
        call kputn
        call kspace
        mov eax, [esi + 4]
        call khex8
        call kspace
        mov ecx, 24                     ; signature .. flags (the waking vector too)
        call hexbytes
        call knl
        mov esi, [edi + 40]             ; DSDT: signature, revision, checksum, OEM IDs
        KPUTS m_dsdt
        mov ecx, 4
        call kputn
        call kspace
        movzx eax, byte [esi + 8]
        call khex2
        call kspace
        push esi
        mov ecx, [esi + 4]
        call checksum
        call okbad
        pop esi
        call kspace
        add esi, 10
        mov ecx, 18
        call kputn
        call kspace
        sub esi, 10
        mov eax, [esi + 4]              ; length, and a hash of every byte of the AML
        call khex8
        call kspace
        mov ecx, [esi + 4]
        xor eax, eax
.dh:    rol eax, 5
        xor al, [esi]
        inc esi
        loop .dh
        call khex8
        call knl
        jmp .done
.madt:  mov ecx, [esi + 4]             ; other tables: the body after the header
        sub ecx, 36
        add esi, 36
        call hexbytes
        call knl
.done:  pop edi
        pop ebx
        ret

hexbytes:                               ; ESI, ECX: bytes in hex, a space between groups of 16
        push esi
        push ecx
        push edx
        xor edx, edx
        jecxz .d
.l:     test edx, edx
        jz .nos
        test edx, 15
        jnz .nos
        call knl
        call kspace
.nos:   lodsb
        call khex2
        inc edx
        loop .l
.d:     pop edx
        pop ecx
        pop esi
        ret
checksum:                               ; ESI, ECX -> AL = byte sum
        push esi
        push ecx
        xor ah, ah
        jecxz .d
.l:     add ah, [esi]
        inc esi
        loop .l
.d:     mov al, ah
        pop ecx
        pop esi
        ret
okbad:  push esi                        ; AL == 0 ? "sum-ok" : "sum-BAD"
        mov esi, m_ok
        test al, al
        jz .p
        mov esi, m_bad
.p:     call kputs
        pop esi
        ret
sumline:                                ; checksum of ESI, ECX on the line, newline
        call kspace
        push eax
        call checksum
        call okbad
        pop eax
        call knl
        ret

mp_at:   dd 0
rsdp_at: dd 0
sm_at:   dd 0
KSTR m_found_mp, "_MP_ at "
KSTR m_found_rsdp, "RSD PTR at "
KSTR m_found_sm, "_SM_ at "
KSTR m_mpfp, "mpfp "
KSTR m_mpct, "mpct "
KSTR m_rsdp, "rsdp "
KSTR m_facs, "facs "
KSTR m_dsdt, "dsdt "
KSTR m_smep, "smbios "
KSTR m_ok, "sum-ok"
KSTR m_bad, "sum-BAD"
KSTR m_done, {"tables done", 13, 10}
%include "bios_end.inc"
