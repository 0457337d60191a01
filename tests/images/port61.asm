; System control port B (0x61) polled the ways real guests poll it, for the native port path
; (emu/fastports.py: IN 0x61 answered in C from what devices/pit.py publishes):
;   - GRUB 2's timer calibration (grub_pit_wait): gate off, channel 2 mode 0, gate on, poll
;     bit 5 (OUT2) with CPUID leaf 0 + RDTSC in the loop (grub_get_tsc);
;   - Linux's pit_calibrate_tsc: gate on / speaker off first, then mode 0, poll bit 5;
;   - a BIOS-style delay loop counting refresh toggles (bit 4);
;   - channel 2 in modes 1 (gate-triggered), 2, 3, 4 and 5, with a count latched and pending,
;     and a block with more than four IN/RDTSCs (the ones past the fourth go to Python).
; The transcript shows only what does not depend on the host's speed, so it is the same under
; QEMU + SeaBIOS (tests/images/port61.expected).  Where QEMU 7.2's model differs from the
; datasheet ours follows (OUT2 in modes 1, 2, 4, 5; QEMU toggles bit 4 at every read, ours with
; the refresh period), the values go into the checksum only.  How many times each loop ran, and a checksum
; of every value read, decide how long the final spin runs: any difference in any answer
; changes the instruction count, which tests/emu/test_native_ports.py compares with the
; native answers on and off.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"

%macro SUM 0                       ; fold AL into [sum]
        movzx eax, al
        mov edx, [sum]
        rol edx, 5
        add edx, eax
        mov [sum], edx
%endmacro

%macro CH2 2                       ; channel 2: control word %1, 16-bit count %2 (LSB, MSB)
        mov al, %1
        out 0x43, al
        mov ax, %2
        out 0x42, al
        mov al, ah
        out 0x42, al
%endmacro

main:
        cli
        mov si, msg_low
        call puts
        ; bits 0-1 read back what was written (gate of channel 2, speaker data)
        xor bl, bl
.low:   mov al, bl
        out 0x61, al
        in al, 0x61
        SUM
        and al, 0x03
        call hex8
        call space
        inc bl
        cmp bl, 4
        jb .low
        call nl

        ; ---- GRUB: gate and speaker off, mode 0, count, gate on, poll OUT2 with RDTSC
        mov si, msg_grub
        call puts
        in al, 0x61
        and al, 0xFC
        out 0x61, al
        CH2 0xB0, 1193              ; 1 ms
        in al, 0x61
        and al, 0xFD
        or al, 0x01
        out 0x61, al
        in al, 0x61
        SUM
        and al, 0x20                ; OUT2 low while counting
        call hex8
        call space
        xor ecx, ecx
.grub:  xor eax, eax                ; grub_get_tsc: CPUID leaf 0 serialises the RDTSC
        cpuid
        rdtsc
        inc ecx
        in al, 0x61
        test al, 0x20
        jz .grub
        SUM
        add [sum], ecx
        and al, 0x20
        call hex8                   ; OUT2 high at terminal count
        call nl

        ; ---- Linux pit_calibrate_tsc: gate on, speaker off, then mode 0 and count
        mov si, msg_linux
        call puts
        in al, 0x61
        and al, 0xFD
        or al, 0x01
        out 0x61, al
        CH2 0xB0, 2386              ; 2 ms
        xor ecx, ecx
.linux: inc ecx
        in al, 0x61
        test al, 0x20
        jz .linux
        add [sum], ecx
        in al, 0x61
        and al, 0x23                ; stays high in mode 0; gate on, speaker off
        call hex8
        call nl

        ; ---- BIOS-style delay: 200 refresh toggles (bit 4), about 3 ms
        mov si, msg_refresh
        call puts
        mov bx, 200
        xor ecx, ecx
        in al, 0x61
        and al, 0x10
        mov ah, al
.ref:   inc ecx
        in al, 0x61
        and al, 0x10
        cmp al, ah
        je .ref
        mov ah, al
        dec bx
        jnz .ref
        add [sum], ecx
        mov al, 0x4B                ; 'K'
        call hex8
        call nl

        ; ---- mode 1: OUT2 low from the gate's rising edge until the count ends (checksum only:
        ; QEMU 7.2's pit_get_out shows mode 1 inverted, d < count; ours follows the datasheet)
        mov si, msg_mode1
        call puts
        mov al, 0x00
        out 0x61, al                ; gate low
        CH2 0xB2, 600
        in al, 0x61
        SUM
        mov al, 0x01
        out 0x61, al                ; rising edge: the one-shot starts, OUT low
        in al, 0x61
        SUM
        xor ecx, ecx
.m1:    inc ecx
        in al, 0x61
        test al, 0x20
        jz .m1
        add [sum], ecx
        mov al, 1
        call hex8
        call nl

        ; ---- mode 3 square wave: count four rising edges of OUT2
        mov si, msg_mode3
        call puts
        CH2 0xB6, 120
        mov bx, 4
        xor ecx, ecx
.m3lo:  inc ecx                     ; wait for low ...
        in al, 0x61
        test al, 0x20
        jnz .m3lo
.m3hi:  inc ecx                     ; ... then high
        in al, 0x61
        test al, 0x20
        jz .m3hi
        dec bx
        jnz .m3lo
        add [sum], ecx
        mov al, 4
        call hex8
        call nl

        ; ---- modes 2, 4, 5 (checksum only: QEMU shows mode 2's OUT inverted, and a mode 4/5
        ; strobe lasts one PIT tick), with a latched count pending on channel 2, and blocks of
        ; eight IN 0x61 (the fifth and later have no timed-instruction slot: Python answers)
        mov si, msg_modes
        call puts
        CH2 0xB4, 7                 ; mode 2
        call sample
        mov al, 0x80                ; latch channel 2's count: pending while 0x61 is polled
        out 0x43, al
        call sample
        in al, 0x42                 ; then read the latch
        SUM
        in al, 0x42
        SUM
        CH2 0xB8, 40                ; mode 4: the strobe comes after 40 ticks
        call sample
        CH2 0xBA, 40                ; mode 5: gate-triggered strobe
        mov al, 0x00
        out 0x61, al
        mov al, 0x03                ; gate and speaker data on
        out 0x61, al
        call sample
        mov al, 0x00
        out 0x61, al
        mov al, 0x48                ; 'H'
        call hex8
        call nl

        ; ---- spin for a while that depends on everything read above
        mov ecx, [sum]
        and ecx, 0xFFFF
        inc ecx
.spin:  dec ecx
        jnz .spin
        mov si, msg_done
        call puts
        EXIT 0

sample:                             ; 64 x 8 reads of 0x61 in one block each, into the checksum
        mov cx, 64
.s:     in al, 0x61
        mov bl, al
        in al, 0x61
        xor bl, al
        in al, 0x61
        add bl, al
        in al, 0x61
        xor bl, al
        in al, 0x61
        add bl, al
        in al, 0x61
        xor bl, al
        in al, 0x61
        add bl, al
        in al, 0x61
        add al, bl
        SUM
        dec cx
        jnz .s
        ret

sum:        dd 0
msg_low:     db "port B low bits: ", 0
msg_grub:    db "grub mode 0: ", 0
msg_linux:   db "linux mode 0: ", 0
msg_refresh: db "refresh toggles: ", 0
msg_mode1:   db "mode 1: ", 0
msg_mode3:   db "mode 3 edges: ", 0
msg_modes:   db "modes 2 4 5: ", 0
msg_done:    db "done", 13, 10, 0

%include "bios_end.inc"
