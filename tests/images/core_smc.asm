; Self-modifying code: a function is called, rewritten in place with different instructions
; of the SAME length (same pc, same block size), called again, restored, called a third
; time.  The guest prints what each call returned and the RDTSC cycles each timed call took;
; the emulator must run the new bytes (Unicorn re-translates) and charge their price
; (BareFlow re-prices), so the second delta differs from the first by exactly the price
; difference of the two bodies (tests/test_jit_smc.py computes it with the cost model).
%define IMG_SECTORS 8
%define BODY_SECTORS 4
%include "bios_lib.inc"
; TIMED n: results[n] = (f(), rdtsc cycles around the call); the same instructions each time
%macro TIMED 1
        rdtsc
        mov ebx, eax
        call func
        mov [results + 8 * %1], eax
        rdtsc
        sub eax, ebx
        mov [results + 8 * %1 + 4], eax
%endmacro

main:
%include "core_pm_entry.inc"
        mov esp, 0x90000
        TIMED 0                          ; body A: returns 1
        mov esi, body_b
        call patch
        TIMED 1                          ; body B: returns 9
        mov esi, body_a
        call patch
        TIMED 2                          ; body A again: returns 1
        mov ecx, 3
        mov esi, results
.p:     lodsd
        call puthex
        lodsd
        call puthex
        mov al, 13
        call pputc
        mov al, 10
        call pputc
        loop .p
        mov al, 0x10
        out 0xF4, al
        cli
        hlt


patch:                                   ; copy FUNC_LEN bytes from ESI over func
        mov edi, func
        mov ecx, FUNC_LEN
        rep movsb
        ret

pputc:                                    ; AL on COM1 (polled)
        push edx
        push eax
        mov dx, 0x3FD
.w:     in al, dx
        test al, 0x20
        jz .w
        pop eax
        mov dx, 0x3F8
        out dx, al
        pop edx
        ret

puthex:                                  ; EAX as 8 hex digits and a space
        push ecx
        mov ecx, 8
.h:     rol eax, 4
        push eax
        and eax, 0xF
        mov al, [hexdigits + eax]
        call pputc
        pop eax
        loop .h
        mov al, ' '
        call pputc
        pop ecx
        ret

        align 16
func:                                    ; the function that gets rewritten (body A)
        mov eax, 1
        nop
        nop
        nop
        ret
FUNC_LEN equ $ - func
body_a: mov eax, 1                       ; 5 + 3 + 1 bytes
        nop
        nop
        nop
        ret
body_b: xor eax, eax                     ; 2 + 1 + 3 + 1 + 1 + 1 bytes: the same length
        inc eax
        imul eax, eax, 7
        inc eax
        inc eax
        ret
%if (body_b - body_a) != FUNC_LEN
%error "bodies must have the same length"
%endif
hexdigits: db "0123456789ABCDEF"
        align 4
results: times 6 dd 0
%include "bios_end.inc"
