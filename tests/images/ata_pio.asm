; ATA PIO test guest: the primary IDE channel as SeaBIOS leaves it, IDENTIFY DEVICE, READ/WRITE
; SECTORS, SET MULTIPLE MODE + READ/WRITE MULTIPLE, LBA48, READ NATIVE MAX, aborts, nIEN, SRST,
; the secondary channel (QEMU's default empty CD-ROM) -- registers, data and IRQ 14 counts on COM1.
; Only what QEMU makes deterministic is printed (never the number of status polls).
; Expected transcript: tests/images/ata_pio.expected (qemu-system-i386 -m 64, tests/test_ata.py).
%define IMG_SECTORS 2048
%define BODY_SECTORS 10
%include "bios_lib.inc"

%macro SHOWREG 2        ; SHOWREG " name=", port
        PUTS %1
        mov dx, %2
        in al, dx
        call hex8
%endmacro

%macro OUTB 2           ; OUTB port, value
        mov dx, %1
        mov al, %2
        out dx, al
%endmacro

irq_count: dw 0

irq14:
        push ax
        inc word [cs:irq_count]
        mov al, 0x20
        out 0xA0, al
        out 0x20, al
        pop ax
        iret

; wait until BSY clears on the primary channel (alternate status: does not ack the IRQ)
wait_nbsy:
        push dx
        push ax
        mov dx, 0x3F6
.w:     in al, dx
        test al, 0x80
        jnz .w
        pop ax
        pop dx
        ret

; let pending interrupts in (a few instructions with IF=1)
settle:
        sti
        push cx
        mov cx, 50
.l:     nop
        loop .l
        pop cx
        ret

regs:   ; " st= er= sc= sn= cl= ch= dh=" of the primary channel, then the IRQ count
        SHOWREG " er=", 0x1F1
        SHOWREG " sc=", 0x1F2
        SHOWREG " sn=", 0x1F3
        SHOWREG " cl=", 0x1F4
        SHOWREG " ch=", 0x1F5
        SHOWREG " dh=", 0x1F6
        SHOWREG " as=", 0x3F6
        PUTS " irq="
        mov ax, [irq_count]
        call hex16
        ret

hobregs: ; the HOB bytes (device control bit 7)
        OUTB 0x3F6, 0x80
        SHOWREG " hsc=", 0x1F2
        SHOWREG " hsn=", 0x1F3
        SHOWREG " hcl=", 0x1F4
        SHOWREG " hch=", 0x1F5
        OUTB 0x3F6, 0x00
        ret

; read one DRQ block of CX words into ES:DI, after waiting for BSY=0; prints the status seen
pio_in:
        call wait_nbsy
        SHOWREG " st=", 0x3F6
        mov dx, 0x1F0
        rep insw
        ret

pio_out:  ; CX words from DS:SI
        call wait_nbsy
        SHOWREG " st=", 0x3F6
        mov dx, 0x1F0
        rep outsw
        ret

; LBA28 setup: EAX = lba, BL = count
lba28:
        push eax
        OUTB 0x1F6, 0xE0
        pop eax
        push eax
        mov dx, 0x1F2
        push ax
        mov al, bl
        out dx, al
        pop ax
        mov dx, 0x1F3
        out dx, al
        shr eax, 8
        inc dx
        out dx, al
        shr eax, 8
        inc dx
        out dx, al
        shr eax, 8
        and al, 0x0F
        or al, 0xE0
        inc dx
        out dx, al
        pop eax
        ret

cmd:    ; AL = command
        mov dx, 0x1F7
        out dx, al
        ret

sector_tail:  ; print the first 4 and the last 2 bytes of the sector at ES:DI-512
        push di
        sub di, 512
        mov cx, 4
        PUTS " ["
        call hexdump
        PUTS " .."
        add di, 510
        mov cx, 2
        call space
        call hexdump
        PUTS "]"
        pop di
        ret

main:
        cli
        mov word [0x76 * 4], irq14
        mov word [0x76 * 4 + 2], 0
        sti
        PUTS "ata_pio"
        call nl
        ; ---- the channel as the BIOS left it
        PUTS "boot:"
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        ; ---- absent slave
        OUTB 0x1F6, 0xB0
        PUTS "slave:"
        SHOWREG " st=", 0x1F7
        SHOWREG " as=", 0x3F6
        SHOWREG " er=", 0x1F1
        SHOWREG " dh=", 0x1F6
        OUTB 0x1F6, 0xA0
        call nl
        ; ---- IDENTIFY DEVICE
        PUTS "identify:"
        mov word [irq_count], 0
        mov al, 0xEC
        call cmd
        mov di, 0x2000
        mov cx, 256
        call pio_in
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        mov di, 0x2000
        mov bx, 16
.idl:   mov cx, 32
        call hexdump
        call nl
        add di, 32
        dec bx
        jnz .idl
        ; ---- READ SECTORS, LBA 0, 2 sectors
        PUTS "read28:"
        mov word [irq_count], 0
        xor eax, eax
        mov bl, 2
        call lba28
        mov al, 0x20
        call cmd
        mov di, 0x3000
        mov cx, 256
        call pio_in
        call sector_tail
        mov cx, 256
        call pio_in
        call sector_tail
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        ; ---- WRITE SECTORS, LBA 5, 2 sectors; then read them back
        PUTS "write28:"
        mov word [irq_count], 0
        mov di, 0x4000
        mov cx, 1024
        mov al, 0x5A
.fill:  mov [di], al
        inc al
        inc di
        loop .fill
        mov eax, 5
        mov bl, 2
        call lba28
        mov al, 0x30
        call cmd
        mov si, 0x4000
        mov cx, 256
        call pio_out
        mov cx, 256
        call pio_out
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "readback:"
        mov word [irq_count], 0
        mov eax, 5
        mov bl, 2
        call lba28
        mov al, 0x20
        call cmd
        mov di, 0x5000
        mov cx, 256
        call pio_in
        call sector_tail
        mov cx, 256
        call pio_in
        call sector_tail
        call settle
        call regs
        call nl
        ; ---- SET MULTIPLE MODE 4, READ MULTIPLE 8 sectors (2 blocks), WRITE MULTIPLE 4
        PUTS "setmult4:"
        mov word [irq_count], 0
        OUTB 0x1F2, 4
        mov al, 0xC6
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "readmult:"
        mov word [irq_count], 0
        xor eax, eax
        mov bl, 8
        call lba28
        mov al, 0xC4
        call cmd
        mov di, 0x3000
        mov cx, 1024
        call pio_in
        call sector_tail
        mov cx, 1024
        call pio_in
        call sector_tail
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "writemult:"
        mov word [irq_count], 0
        mov eax, 9
        mov bl, 6
        call lba28
        mov al, 0xC5
        call cmd
        mov si, 0x4000
        mov cx, 1024
        call pio_out
        mov si, 0x4000
        mov cx, 512
        call pio_out
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "identify-mult:"
        mov al, 0xEC
        call cmd
        mov di, 0x2000
        mov cx, 256
        call pio_in
        PUTS " w59="
        mov ax, [0x2000 + 59 * 2]
        call hex16
        call nl
        PUTS "setmult3:"
        mov word [irq_count], 0
        OUTB 0x1F2, 3
        mov al, 0xC6
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "setmult0:"
        OUTB 0x1F2, 0
        mov al, 0xC6
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        PUTS " readmult:"
        xor eax, eax
        mov bl, 1
        call lba28
        mov al, 0xC4
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        ; ---- LBA48: READ SECTORS EXT at LBA 0x000000000001, 1 sector
        PUTS "read48:"
        mov word [irq_count], 0
        OUTB 0x1F6, 0x40
        OUTB 0x1F2, 0
        OUTB 0x1F2, 2
        OUTB 0x1F3, 0
        OUTB 0x1F3, 1
        OUTB 0x1F4, 0
        OUTB 0x1F4, 0
        OUTB 0x1F5, 0
        OUTB 0x1F5, 0
        mov al, 0x24
        call cmd
        mov di, 0x3000
        mov cx, 256
        call pio_in
        call sector_tail
        mov cx, 256
        call pio_in
        call sector_tail
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call hobregs
        call nl
        ; ---- READ NATIVE MAX ADDRESS (EXT and 28-bit)
        PUTS "nativemax:"
        OUTB 0x1F6, 0x40
        mov al, 0x27
        call cmd
        call wait_nbsy
        call regs
        call hobregs
        OUTB 0x1F6, 0xE0
        mov al, 0xF8
        call cmd
        call wait_nbsy
        call regs
        call nl
        ; ---- reads past the end, an unknown command
        PUTS "pastend:"
        mov word [irq_count], 0
        mov eax, 2047
        mov bl, 2
        call lba28
        mov al, 0x20
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "badcmd:"
        mov word [irq_count], 0
        mov al, 0x01
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        ; ---- nIEN: IDENTIFY without an interrupt
        PUTS "nien:"
        mov word [irq_count], 0
        OUTB 0x3F6, 0x02
        mov al, 0xEC
        call cmd
        mov di, 0x2000
        mov cx, 256
        call pio_in
        call settle
        OUTB 0x3F6, 0x00
        call settle
        call regs
        call nl
        ; ---- SRST: set, clear, wait; the signature
        PUTS "srst:"
        mov word [irq_count], 0
        OUTB 0x1F2, 0x55
        OUTB 0x3F6, 0x04
        mov cx, 1000
.sw:    loop .sw
        OUTB 0x3F6, 0x00
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        PUTS "diag:"
        mov al, 0x90
        call cmd
        call wait_nbsy
        call settle
        SHOWREG " st=", 0x1F7
        call regs
        call nl
        ; ---- secondary channel: QEMU's default empty CD-ROM at the master position
        PUTS "secondary:"
        SHOWREG " st=", 0x177
        SHOWREG " er=", 0x171
        SHOWREG " sc=", 0x172
        SHOWREG " sn=", 0x173
        SHOWREG " cl=", 0x174
        SHOWREG " ch=", 0x175
        SHOWREG " dh=", 0x176
        OUTB 0x176, 0xB0
        SHOWREG " slave=", 0x177
        OUTB 0x176, 0xA0
        call nl
        PUTS "done"
        call nl
        EXIT 0
%include "bios_end.inc"
