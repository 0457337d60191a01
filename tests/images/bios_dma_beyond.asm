; BIOS test image: INT 13h AH=42h whose buffer runs past the end of RAM (issue 12 item 8).
; Run with 2 MiB of RAM (qemu -m 2 / --memory 2) on an image padded (sparse) to 8 MiB: the
; buffer at FFFF:0010 (1 MiB, A20 on) gets 4096 sectors = 2 MiB, so the second half lies beyond
; RAM.  Prints CF, AH and the DAP's count afterwards; then a small read within RAM still works.
%define IMG_SECTORS 16
%define BODY_SECTORS 4
%include "bios_lib.inc"

%macro STATUS 0
        call show_cf
        SHOW8 " ah=", ah
%endmacro

main:
        PUTS "bios_dma_beyond"
        call nl
        in al, 0x92                ; A20 on: FFFF:0010 is 1 MiB, not 0
        or al, 2
        and al, 0xFE
        out 0x92, al
        ; ---- 4096 sectors to FFFF:0010: 1 MiB .. 3 MiB, RAM ends at 2 MiB
        mov dword [dap + 8], 0
        mov word [dap + 2], 4096
        mov word [dap + 4], 0x0010
        mov word [dap + 6], 0xFFFF
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        call nl
        ; ---- 129 sectors (64 KiB + 512) well inside RAM, then 128 (exactly 64 KiB)
        mov word [dap + 2], 129
        mov word [dap + 4], 0
        mov word [dap + 6], 0x2000
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        mov word [dap + 2], 128
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        call nl
        ; ---- 127 sectors entirely beyond RAM? not reachable with seg:off under 2 MiB; one
        ; sector at FFFF:FFF0 (just under 1 MiB + 64 KiB) within RAM: works
        mov dword [dap + 8], 1
        mov word [dap + 2], 1
        mov word [dap + 4], 0x2000
        mov word [dap + 6], 0
        mov ah, 0x42
        mov dl, 0x80
        mov si, dap
        int 0x13
        STATUS
        SHOW16 " n=", [dap + 2]
        SHOW16 " w=", [0x2000 + 510]
        call nl
        EXIT 0

dap:    db 16, 0
        dw 0, 0, 0
        dq 0
%include "bios_end.inc"
