; BIOS test image: a guest hook on INT 15h AH=4Fh (keyboard intercept) sees every scancode the
; IRQ1 handler reads, can change it ('a' make -> 'b' make) or swallow it ('c' make, CF=0).
; Prints "ready", then every key INT 16h AH=10h returns until Esc.
%define IMG_SECTORS 8
%define BODY_SECTORS 2
%include "bios_lib.inc"

main:
        cli
        mov eax, [0x15 * 4]
        mov [old15], eax
        mov word [0x15 * 4], hook15
        mov word [0x15 * 4 + 2], 0
        sti
        PUTS "ready"
        call nl
.next:
        mov ah, 0x10
        int 0x16
        call hex16
        call space
        cmp ax, 0x011B
        jne .next
        call nl
        cli
        mov eax, [old15]
        mov [0x15 * 4], eax
        sti
        EXIT 0

hook15:
        cmp ah, 0x4F
        jne .chain
        cmp al, 0x1E              ; 'a' pressed: report 'b' instead
        jne .c
        mov al, 0x30
        stc
        retf 2
.c:     cmp al, 0x2E              ; 'c' pressed: swallow it
        jne .chain
        clc
        retf 2
.chain:
        jmp far [cs:old15]

old15:  dd 0

%include "bios_end.inc"
