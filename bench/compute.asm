; Benchmark workload: a float matrix multiply (SSE scalar ops, like TinyLlama's tier 0) and an
; integer checksum, repeated; ends through isa-debug-exit.  Assembled by bench/run.py with
; tests/images/bios_lib.inc (boot sector + CHS body load).
%define IMG_SECTORS 16
%define BODY_SECTORS 8
%define N 48
%define REPS 240
%include "bios_lib.inc"
A equ 0x200000
B equ 0x210000
C equ 0x220000
main:
%include "core_pm_entry.inc"
        ; SSE on: CR0.EM=0, CR0.MP=1, CR4.OSFXSR|OSXMMEXCPT
        mov eax, cr0
        and eax, ~4
        or eax, 2
        mov cr0, eax
        mov eax, cr4
        or eax, 0x600
        mov cr4, eax
        fninit
        ; A[i][j] = (i*7 + j*3) % 17 - 8, B likewise with other constants
        xor ecx, ecx
.init:  mov eax, ecx
        imul eax, 7
        add eax, ecx
        xor edx, edx
        mov ebx, 17
        div ebx
        sub edx, 8
        cvtsi2ss xmm0, edx
        movss [A + ecx*4], xmm0
        lea eax, [ecx*5 + 3]
        xor edx, edx
        mov ebx, 13
        div ebx
        sub edx, 6
        cvtsi2ss xmm0, edx
        movss [B + ecx*4], xmm0
        inc ecx
        cmp ecx, N*N
        jb .init
        mov ebp, REPS
.rep:   xor esi, esi                    ; i
.i:     xor edi, edi                    ; j
.j:     xorps xmm0, xmm0
        xor ecx, ecx                    ; k
        mov eax, esi
        imul eax, N*4
        lea ebx, [A + eax]              ; &A[i][0]
        lea edx, [B + edi*4]            ; &B[0][j]
.k:     movss xmm1, [ebx + ecx*4]
        mulss xmm1, [edx]
        addss xmm0, xmm1
        add edx, N*4
        inc ecx
        cmp ecx, N
        jb .k
        mov eax, esi
        imul eax, N
        add eax, edi
        movss [C + eax*4], xmm0
        inc edi
        cmp edi, N
        jb .j
        inc esi
        cmp esi, N
        jb .i
        dec ebp
        jnz .rep
        ; checksum of C as integers -> COM1 as 8 hex digits
        xor eax, eax
        xor ecx, ecx
.sum:   cvttss2si edx, [C + ecx*4]
        imul eax, 31
        add eax, edx
        inc ecx
        cmp ecx, N*N
        jb .sum
        mov ebx, eax
        mov ecx, 8
.hex:   rol ebx, 4
        mov eax, ebx
        and eax, 15
        mov al, [digits + eax]
        mov dx, 0x3F8
        out dx, al
        loop .hex
        mov al, 10
        out dx, al
        mov al, 0
        out 0xF4, al
        cli
        hlt
digits: db "0123456789abcdef"
%include "bios_end.inc"
