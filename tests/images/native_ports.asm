; Native port path test image (emu/fastports.py): every register the C hooks answer, read in
; the states where they may and may not answer, in real mode, in flat protected mode and
; through a code segment whose base is not 0.  The transcript, cycles and instruction count
; must be identical with the native answers on and off (tests/emu/test_native_ports.py).
; Not compared with QEMU: the RTC time registers and UIP depend on the host's clock there.
%define IMG_SECTORS 24
%define BODY_SECTORS 8
%include "bios_lib.inc"

%macro CMOS_RD 1                   ; AL = CMOS[%1] (index written natively, data read natively)
        mov al, %1
        out 0x70, al
        in al, 0x71
%endmacro
%macro CMOS_WR 2
        mov al, %1
        out 0x70, al
        mov al, %2
        out 0x71, al
%endmacro

main:
        cli                         ; IRQ8 must stay pending (register C is read by this code)
        mov si, msg_rtc
        call puts
        CMOS_WR 0x0B, 0x02          ; 24 h, BCD, no interrupts
        CMOS_WR 0x00, 0x00          ; seconds = 0: the second boundaries are now + k * 1 s
        CMOS_WR 0x04, 0x23          ; 23 h
        CMOS_WR 0x07, 0x31          ; 31 Dec 2099 (the century register stays 20)
        CMOS_WR 0x08, 0x12
        CMOS_WR 0x09, 0x99
        mov bl, 0x02
        call dump_rtc               ; 24 h BCD
        mov bl, 0x06
        call dump_rtc               ; 24 h binary
        mov bl, 0x00
        call dump_rtc               ; 12 h BCD (23 h -> 0x91)
        mov bl, 0x04
        call dump_rtc               ; 12 h binary
        mov bl, 0x82
        call dump_rtc               ; SET: the time is frozen
        mov bl, 0x02
        call dump_rtc               ; running again
        ; register C: 0 with IRQ8 low (native), then with a flag pending (the device answers)
        CMOS_RD 0x0C
        call hex8
        CMOS_WR 0x0B, 0x42          ; PIE at 1024 Hz: PF, IRQF and IRQ8 at the first period
        mov ecx, 0x300000
.spin:  dec ecx                     ; wait past the first period (a few ms of guest time)
        jnz .spin
        CMOS_RD 0x0C                ; the device clears it (IRQF|PF) ...
        call hex8
        CMOS_RD 0x0C                ; ... then 0 with IRQ8 low again
        call hex8
        CMOS_WR 0x0B, 0x02
        ; port 0x70 reads 0xFF; a word read of 0x70 goes to the device (split)
        in al, 0x70
        call hex8
        mov al, 0x0D
        out 0x70, al
        in ax, 0x70
        call hex16
        call nl

        ; UIP: wait until just before the next second boundary, then count the polls while
        ; UIP is set and read the seconds just after (exact cycle of each IN)
        mov si, msg_uip
        call puts
        CMOS_WR 0x00, 0x00
        mov ecx, 49500000
.near:  dec ecx
        jnz .near
        xor bp, bp
        xor di, di
.poll:  inc bp                      ; polls before UIP rises
        CMOS_RD 0x0A
        test al, 0x80
        jz .poll
.inuip: inc di                      ; polls while UIP is set
        CMOS_RD 0x0A
        test al, 0x80
        jnz .inuip
        CMOS_RD 0x00
        call hex8
        call space
        mov ax, bp
        call hex16
        call space
        mov ax, di
        call hex16
        call nl

        ; VGA input status 1: count polls until vertical retrace starts and while it lasts,
        ; then the attribute flip-flop the read resets
        mov si, msg_vga
        call puts
        mov dx, 0x3DA
        xor bp, bp
.vr0:   inc bp
        in al, dx
        test al, 0x08
        jz .vr0
        xor di, di
.vr1:   inc di
        in al, dx
        test al, 0x08
        jnz .vr1
        mov ax, bp
        call hex16
        call space
        mov ax, di
        call hex16
        call space
        mov dx, 0x3C0
        mov al, 0x20                ; index (flip-flop -> data)
        out dx, al
        in al, dx                   ; 0: the flip-flop points at data
        call hex8
        mov dx, 0x3DA
        in al, dx                   ; resets the flip-flop (native)
        mov dx, 0x3C0
        in al, dx                   ; the index again
        call hex8
        call nl

        ; 16550A: every register, DLAB, loopback, FIFO, overrun.  Results are stored at
        ; `results` and printed afterwards (printing with DLAB or loopback on would not show)
        mov si, msg_uart
        call puts
        mov di, results
        mov dx, 0x3F9
        mov cx, 7
.regs:  in al, dx
        stosb
        inc dx
        loop .regs
        mov dx, 0x3FF               ; SCR written (device) and read (native)
        mov al, 0x5A
        out dx, al
        in al, dx
        stosb
        mov dx, 0x3FB               ; DLAB: divisor latch reads
        in al, dx
        or al, 0x80
        out dx, al
        mov dx, 0x3F8
        in al, dx
        stosb
        inc dx
        in al, dx
        stosb
        mov dx, 0x3FB
        mov al, 0x03
        out dx, al
        mov dx, 0x3F9               ; IER THRI: IIR announces THR empty (the device answers)
        mov al, 0x02
        out dx, al
        mov dx, 0x3FA
        in al, dx
        stosb
        in al, dx
        stosb
        mov dx, 0x3F9
        xor al, al
        out dx, al
        mov dx, 0x3FC               ; loopback: MSR from MCR
        mov al, 0x1B
        out dx, al
        mov dx, 0x3FE
        in al, dx
        stosb
        mov dx, 0x3F8               ; two bytes looped back without reading: overrun
        mov al, 0x41
        out dx, al
        mov al, 0x42
        out dx, al
        mov dx, 0x3FD
        in al, dx                   ; DR|OE: the device clears OE
        stosb
        in al, dx                   ; DR: native
        stosb
        in ax, dx                   ; a word read: split by the device
        stosw
        mov dx, 0x3F8
        in al, dx
        stosb
        mov dx, 0x3FD
        in al, dx
        stosb
        mov dx, 0x3FA               ; FIFO on: IIR bits 7:6
        mov al, 0x07
        out dx, al
        in al, dx
        stosb
        mov dx, 0x3F8
        mov al, 0x43
        out dx, al
        mov dx, 0x3FD
        in al, dx
        stosb
        mov dx, 0x3F8
        in al, dx
        stosb
        mov dx, 0x3FD
        in al, dx
        stosb
        mov dx, 0x3FA
        xor al, al
        out dx, al
        mov dx, 0x3FC
        mov al, 0x0B
        out dx, al
        mov dx, 0x3FE               ; MSR out of loopback: delta bits (device), then native
        in al, dx
        stosb
        in al, dx
        stosb
        mov cx, di
        sub cx, results
        mov di, results
        call hexdump
        call nl

        ; protected mode: flat CS, then a CS based at 0x1000
        cli
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm32

        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF       ; 0x08 code 32-bit flat
        dq 0x00CF92000000FFFF       ; 0x10 data 32-bit flat
        dq 0x00CF9A001000FFFF       ; 0x18 code 32-bit, base 0x1000
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt

msg_rtc:  db "rtc ", 0
msg_uip:  db "uip ", 0
msg_uart: db "uart ", 0
msg_pm:   db "pm ", 0
msg_vga:  db "vga ", 0
results:  times 32 db 0

; dump_rtc: BL -> register B, then the time registers, A (without UIP), B, D and a RAM byte
dump_rtc:
        mov al, 0x0B
        out 0x70, al
        mov al, bl
        out 0x71, al
        mov si, rtc_regs
.l:     lodsb
        cmp al, 0xFF
        je .d
        out 0x70, al
        in al, 0x71
        call hex8
        jmp .l
.d:     call nl
        ret
rtc_regs: db 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32, 0x0B, 0x0D, 0x10, 0x15, 0x8B, 0xFF

        bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        mov esi, msg_pm
        call pm_puts
        call pm_rtc
        jmp 0x18:(based - 0x1000)
based:                              ; CS base 0x1000: the same reads
        call pm_rtc
        jmp 0x08:back
back:
        mov al, 13
        call pm_putc
        mov al, 10
        call pm_putc
        mov dx, 0xF4
        xor al, al
        out dx, al
        hlt

pm_rtc:                             ; seconds, minutes, hour, A, B, LSR
        push ecx
        mov ecx, 4
.l:     mov al, [pm_idx + ecx - 1]
        out 0x70, al
        in al, 0x71
        and al, 0x7F
        call pm_hex8
        loop .l
        mov dx, 0x3FD
        in al, dx
        call pm_hex8
        mov al, ' '
        call pm_putc
        pop ecx
        ret
pm_idx: db 0x0B, 0x04, 0x02, 0x00
pm_hex8:
        push eax
        shl eax, 24
        push ecx
        mov ecx, 2
.h:     rol eax, 4
        push eax
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .p
        add al, 'A' - '9' - 1
.p:     call pm_putc
        pop eax
        loop .h
        pop ecx
        pop eax
        ret

%include "pm_serial.inc"
%include "bios_end.inc"
