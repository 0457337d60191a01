; BareFlow stage 2: from 16-bit real mode to the 32-bit kernel at 1 MiB.
;
; Stage 1 has put the disk header (LBA 1) at 0x7E00 and us at 0x8000, and jumps
; here with DL = boot drive.  In order, stage 2:
;   1. sets up COM1 so that every message also goes to the serial line;
;   2. checks the header (magic, version, checksum);
;   3. asks the BIOS for the memory map (INT 15h EAX=E820h) into the boot info;
;   4. turns the A20 line on (port 0x92 first, the 8042 output port as fall-back),
;      proving it with the wrap-around test each time;
;   5. loads the kernel, the model and the tokenizer to their addresses at or
;      above 1 MiB.  Real mode cannot address that far, and the BIOS can only
;      read into low memory, so each chunk is read into a bounce buffer at
;      0x10000 and copied up through "unreal mode" (see enter_unreal);
;   6. fills the boot info structure (0x5000, layout = unikernel/kernel_lib/boot_info.h);
;   7. loads a flat GDT, sets CR0.PE, far-jumps into 32-bit code and jumps to
;      the kernel entry with EAX = 0x42464C57 ("BFLW") and EBX = &boot_info.
; Any failure prints one line on the screen and COM1, then halts (cli; hlt).

bits 16
org 0x8000

; ---- The disk header (docs/disk-layout.md), read by stage 1 to 0x7E00 ----
HDR             equ 0x7E00
HDR_VERSION     equ HDR + 8         ; u16, must be 1
HDR_KERNEL_LBA  equ HDR + 20
HDR_KERNEL_BYTES equ HDR + 24
HDR_KERNEL_ADDR equ HDR + 28
HDR_KERNEL_ENTRY equ HDR + 32
HDR_KERNEL_END  equ HDR + 36
HDR_MODEL_LBA   equ HDR + 40
HDR_MODEL_BYTES equ HDR + 44
HDR_MODEL_ADDR  equ HDR + 48
HDR_TOK_LBA     equ HDR + 52
HDR_TOK_BYTES   equ HDR + 56
HDR_TOK_ADDR    equ HDR + 60
HDR_CMDLINE     equ HDR + 128       ; 256 bytes, NUL-terminated

; ---- The boot info handed to the kernel (struct boot_info in boot_info.h) ----
BI              equ 0x5000
BI_MAGIC        equ BI + 0
BI_VERSION      equ BI + 4
BI_DRIVE        equ BI + 8
BI_MMAP_COUNT   equ BI + 12
BI_KERNEL_ADDR  equ BI + 16
BI_KERNEL_END   equ BI + 20
BI_MODEL_ADDR   equ BI + 24
BI_MODEL_SIZE   equ BI + 28
BI_TOK_ADDR     equ BI + 32
BI_TOK_SIZE     equ BI + 36
BI_A20          equ BI + 40
BI_MEM_TOP      equ BI + 44
BI_CMDLINE      equ BI + 48         ; 256 bytes
BI_MMAP         equ BI + 304        ; 32 entries of 24 bytes
BI_BYTES        equ 304 + 32 * 24
MMAP_MAX        equ 32
BOOT_INFO_MAGIC equ 0x464E4942      ; "BINF"
KERNEL_MAGIC    equ 0x42464C57      ; "BFLW", in EAX at the kernel entry

BOUNCE_SEG      equ 0x1000          ; bounce buffer 0x10000..0x17FFF
CHUNK_SECTORS   equ 64              ; 32 KiB per INT 13h call
COM1            equ 0x3F8

CODE_SEL        equ 0x08
DATA_SEL        equ 0x10

stage2:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    cld
    mov [boot_drive], dl

    call serial_init
    mov si, msg_hello
    call puts
    movzx eax, byte [boot_drive]
    call print_hex8
    mov si, msg_crlf
    call puts

    ; ---- 2. the header: version and a checksum over its 128 dwords (sum = 0) ----
    cmp word [HDR_VERSION], 1
    jne bad_header
    mov si, HDR
    mov cx, 128
    xor edx, edx
.sum:
    lodsd
    add edx, eax
    loop .sum
    test edx, edx
    jnz bad_header

    ; ---- 3. memory map ----
    call read_e820
    mov si, msg_e820
    call puts
    mov eax, [BI_MMAP_COUNT]
    call print_dec
    mov si, msg_entries
    call puts

    ; ---- 4. A20 ----
    call enable_a20
    mov si, msg_a20
    call puts
    movzx bx, byte [BI_A20]
    shl bx, 1
    mov si, [a20_names + bx]
    call puts

    ; ---- 5. disk reads: LBA extensions, or CHS geometry for the fall-back ----
    call probe_disk
    cmp byte [use_lba], 0
    je .say_chs
    mov si, msg_lba
    call puts
    jmp .said
.say_chs:
    mov si, msg_chs
    call puts
    movzx eax, byte [spt]
    call print_dec
    mov si, msg_spt
    call puts
    movzx eax, byte [heads]
    call print_dec
    mov si, msg_heads
    call puts
.said:
    call find_mem_top

    mov si, msg_kernel
    mov eax, [HDR_KERNEL_LBA]
    mov ecx, [HDR_KERNEL_BYTES]
    mov edi, [HDR_KERNEL_ADDR]
    test ecx, ecx
    jz bad_header                   ; an image without a kernel is not bootable
    mov edx, [HDR_KERNEL_END]       ; the kernel's BSS must fit too
    call load_part
    mov si, msg_model
    mov eax, [HDR_MODEL_LBA]
    mov ecx, [HDR_MODEL_BYTES]
    mov edi, [HDR_MODEL_ADDR]
    mov edx, edi
    add edx, ecx
    call load_part
    mov si, msg_tok
    mov eax, [HDR_TOK_LBA]
    mov ecx, [HDR_TOK_BYTES]
    mov edi, [HDR_TOK_ADDR]
    mov edx, edi
    add edx, ecx
    call load_part

    ; ---- 6. boot info (the E820 entries are already in place) ----
    mov dword [BI_MAGIC], BOOT_INFO_MAGIC
    mov dword [BI_VERSION], 1
    movzx eax, byte [boot_drive]
    mov [BI_DRIVE], eax
    mov eax, [HDR_KERNEL_ADDR]
    mov [BI_KERNEL_ADDR], eax
    mov eax, [HDR_KERNEL_END]
    mov [BI_KERNEL_END], eax
    mov eax, [HDR_MODEL_ADDR]
    mov [BI_MODEL_ADDR], eax
    mov eax, [HDR_MODEL_BYTES]
    mov [BI_MODEL_SIZE], eax
    mov eax, [HDR_TOK_ADDR]
    mov [BI_TOK_ADDR], eax
    mov eax, [HDR_TOK_BYTES]
    mov [BI_TOK_SIZE], eax
    mov eax, [mem_top]
    mov [BI_MEM_TOP], eax
    mov si, HDR_CMDLINE
    mov di, BI_CMDLINE
    mov cx, 255
    rep movsb
    mov byte [di], 0                ; always NUL-terminated, whatever the header says

    ; ---- 7. protected mode ----
    mov si, msg_pm
    call puts
    cli                             ; no BIOS interrupts from here on: the kernel
                                    ; installs its own IDT before it enables them
    lgdt [gdt_desc]
    mov eax, cr0
    or eax, 1                       ; CR0.PE
    mov cr0, eax
    jmp CODE_SEL:pm_entry           ; the far jump loads CS from the GDT

bits 32
pm_entry:
    mov ax, DATA_SEL
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, 0x7C00
    mov eax, KERNEL_MAGIC
    mov ebx, BI
    jmp dword [HDR_KERNEL_ENTRY]
bits 16

; ------------------------------------------------------------------------------
; read_e820: INT 15h EAX=E820h, 24 bytes per entry, into BI_MMAP.
; EBX is the BIOS's continuation value: 0 after the last entry.
read_e820:
    mov di, BI                      ; start from a zeroed boot info
    mov cx, BI_BYTES
    xor al, al
    rep stosb
    mov di, BI_MMAP
    xor ebx, ebx
    xor bp, bp
.next:
    mov dword [di + 20], 1          ; ACPI 3 attribute "valid", in case the BIOS gives 20 bytes
    mov eax, 0xE820
    mov edx, 0x534D4150             ; "SMAP"
    mov ecx, 24
    int 0x15
    jc .end                         ; CF on a later call also means "no more"
    cmp eax, 0x534D4150
    jne .fail
    mov eax, [di + 8]               ; skip empty entries
    or eax, [di + 12]
    jz .skip
    inc bp
    add di, 24
    cmp bp, MMAP_MAX
    jae .done
.skip:
    test ebx, ebx
    jnz .next
    jmp .done
.end:
    test bp, bp
    jz .fail
.done:
    mov [BI_MMAP_COUNT], bp
    ret
.fail:
    mov si, msg_no_e820
    jmp fatal

; find_mem_top: the end of the usable (type 1) E820 range that holds 1 MiB.
; Everything we load above 1 MiB must end below it.
find_mem_top:
    mov si, BI_MMAP
    mov cx, [BI_MMAP_COUNT]
.next:
    cmp dword [si + 16], 1
    jne .skip
    cmp dword [si + 4], 0           ; base above 4 GiB: not ours
    jne .skip
    mov eax, [si]
    cmp eax, 0x100000
    ja .skip
    mov edx, [si + 12]              ; end = base + length, clamped to 4 GiB
    add eax, [si + 8]
    adc edx, 0
    jz .no_clamp
    mov eax, 0xFFFFF000
.no_clamp:
    cmp eax, 0x100000
    jbe .skip
    mov [mem_top], eax
    ret
.skip:
    add si, 24
    loop .next
    mov si, msg_no_high
    jmp fatal

; ------------------------------------------------------------------------------
; A20: with the line off, address 0x100500 wraps to 0x000500.
; a20_check: ZF=1 if A20 is off.  Writes two different bytes through both names
; of the same address and sees whether the second write overwrote the first.
a20_check:
    push ds
    push es
    xor ax, ax
    mov ds, ax                      ; DS:0500 = 0x000500
    not ax
    mov es, ax                      ; ES:0510 = 0x100500
    mov al, [0x0500]
    mov ah, [es:0x0510]
    push ax
    mov byte [0x0500], 0x00
    mov byte [es:0x0510], 0xFF
    cmp byte [0x0500], 0xFF         ; equal -> the write wrapped -> A20 off
    pop ax
    mov [es:0x0510], ah
    mov [0x0500], al
    pop es
    pop ds
    ret

enable_a20:
%ifdef TEST_A20_OFF
    ; Test builds only (nasm -DTEST_A20_OFF): start with A20 off, as on an old BIOS, so the
    ; code below really runs under SeaBIOS (which turns A20 on before booting us).
    in al, 0x92
    and al, 0xFC
    out 0x92, al
%endif
    mov byte [BI_A20], 0
    call a20_check
    jnz .done                       ; already on (SeaBIOS turns it on)
%ifndef TEST_SKIP_PORT92
    ; Fast A20: port 0x92 bit 1.  Bit 0 would reset the machine: keep it 0.
    mov byte [BI_A20], 1
    in al, 0x92
    or al, 2
    and al, 0xFE
    out 0x92, al
    call a20_check
    jnz .done
%endif
    ; The 8042 way: read the controller's output port (D0h), set bit 1, write it back (D1h).
    mov byte [BI_A20], 2
    call kbc_wait_in
    mov al, 0xAD                    ; disable the keyboard while we talk to the controller
    out 0x64, al
    call kbc_wait_in
    mov al, 0xD0
    out 0x64, al
    call kbc_wait_out
    in al, 0x60
    push ax
    call kbc_wait_in
    mov al, 0xD1
    out 0x64, al
    call kbc_wait_in
    pop ax
    or al, 2
    out 0x60, al
    call kbc_wait_in
    mov al, 0xAE
    out 0x64, al
    call kbc_wait_in
    call a20_check
    jnz .done
    mov si, msg_no_a20
    jmp fatal
.done:
    ret

; Wait until the 8042 input buffer is empty (status bit 1 = 0) / output full (bit 0 = 1).
; Bounded loops: a missing controller must give an error, not a hang.
kbc_wait_in:
    mov ecx, 0x100000
.loop:
    in al, 0x64
    test al, 2
    jz .ok
    loop .loop, ecx
.ok:
    ret
kbc_wait_out:
    mov ecx, 0x100000
.loop:
    in al, 0x64
    test al, 1
    jnz .ok
    loop .loop, ecx
.ok:
    ret

; ------------------------------------------------------------------------------
; Unreal mode: load DS and ES from a flat 4 GiB descriptor in protected mode, then
; go back to real mode.  Real-mode segment loads change only the base, so the 4 GiB
; limit stays in the hidden descriptor cache and 32-bit offsets reach all memory.
; Called before every copy because a BIOS call may have passed through protected
; mode itself and left 64 KiB limits behind.
enter_unreal:
    cli
    push ds
    push es
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    mov bx, DATA_SEL
    mov ds, bx
    mov es, bx
    and al, 0xFE
    mov cr0, eax
    pop es                          ; back to base 0, limit still 4 GiB
    pop ds
    sti
    ret

; probe_disk: prefer INT 13h AH=42h; otherwise learn the CHS geometry.
probe_disk:
    mov ah, 0x41
    mov bx, 0x55AA
    mov dl, [boot_drive]
    int 0x13
    jc .chs
    cmp bx, 0xAA55
    jne .chs
    test cl, 1
    jz .chs
    mov byte [use_lba], 1
    ret
.chs:
    mov byte [use_lba], 0
    push es
    mov ah, 0x08
    mov dl, [boot_drive]
    xor di, di
    int 0x13
    pop es
    jc disk_error
    and cl, 0x3F
    mov [spt], cl
    inc dh
    mov [heads], dh
    ret

; load_part: SI = name, EAX = first LBA, ECX = bytes, EDI = destination,
; EDX = end of the memory the part needs (must be <= mem_top).  0 bytes: nothing.
load_part:
    test ecx, ecx
    jz .ret
    mov [part_lba], eax
    mov [part_dest], edi
    cmp edx, edi                    ; end below start: addr + size wrapped past 4 GiB
    jb .too_big
    cmp edx, [mem_top]
    ja .too_big
    cmp edi, 0x100000               ; never below 1 MiB: that is us and the BIOS
    jb .too_big
    push ecx
    call puts                       ; "kernel: N bytes at 0x..."
    pop eax
    push eax
    call print_dec
    mov si, msg_bytes_at
    call puts
    mov eax, [part_dest]
    call print_hex
    mov si, msg_crlf
    call puts
    pop ecx
    add ecx, 511
    shr ecx, 9
    mov [part_left], ecx
.chunk:
    mov ecx, [part_left]
    cmp ecx, CHUNK_SECTORS
    jbe .n_ok
    mov ecx, CHUNK_SECTORS
.n_ok:
    mov [chunk_n], cx
    mov eax, [part_lba]
    call read_chunk
    ; copy chunk_n * 512 bytes from the bounce buffer up to part_dest
    call enter_unreal
    movzx ecx, word [chunk_n]
    shl ecx, 7                      ; dwords
    mov esi, BOUNCE_SEG * 16
    mov edi, [part_dest]
    a32 rep movsd                   ; DS:ESI -> ES:EDI with 32-bit offsets
    movzx ecx, word [chunk_n]
    add [part_lba], ecx
    shl ecx, 9
    add [part_dest], ecx
    movzx ecx, word [chunk_n]
    sub [part_left], ecx
    jnz .chunk
.ret:
    ret
.too_big:
    call puts
    mov si, msg_too_big
    jmp fatal

; read_chunk: EAX = LBA, [chunk_n] sectors into BOUNCE_SEG:0000.
read_chunk:
    cmp byte [use_lba], 0
    je .chs
    mov byte [retries], 3
.lba_try:
    mov dx, [chunk_n]
    mov [dap_count], dx
    mov word [dap_buf], 0
    mov word [dap_buf + 2], BOUNCE_SEG
    mov [dap_lba], eax
    mov si, dap
    mov dl, [boot_drive]
    push eax
    mov ah, 0x42
    int 0x13
    mov [last_error], ah
    pop eax
    jnc .ret
    call disk_reset
    jnz .lba_try
    jmp disk_error
.ret:
    ret
.chs:
    ; CHS: one sector per call into successive 512-byte slots of the bounce buffer.
    xor bx, bx
    mov cx, [chunk_n]
.chs_sector:
    push cx
    mov byte [retries], 3
.chs_try:
    push eax
    push bx
    xor edx, edx
    movzx ecx, byte [spt]
    div ecx
    inc dl
    mov cl, dl                      ; sector (1-based)
    xor edx, edx
    movzx esi, byte [heads]
    div esi
    mov dh, dl                      ; head
    mov ch, al                      ; cylinder bits 7:0
    shl ah, 6
    or cl, ah                       ; cylinder bits 9:8 in CL[7:6]
    mov dl, [boot_drive]
    pop bx
    push es
    push bx
    mov ax, BOUNCE_SEG
    mov es, ax
    mov ax, 0x0201
    int 0x13
    mov [last_error], ah
    pop bx
    pop es
    pop eax
    jnc .chs_ok
    call disk_reset
    jnz .chs_try
    jmp disk_error
.chs_ok:
    inc eax
    add bx, 512
    pop cx
    loop .chs_sector
    ret

; disk_reset: AH=00h, then ZF=0 while retries remain.
disk_reset:
    push eax
    xor ah, ah
    mov dl, [boot_drive]
    int 0x13
    pop eax
    dec byte [retries]
    ret

; ------------------------------------------------------------------------------
; Output: every character to the screen (INT 10h AH=0Eh) and to COM1.
serial_init:
    mov dx, COM1 + 1
    xor al, al
    out dx, al                      ; IER = 0: no UART interrupts
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al                      ; LCR.DLAB = 1: ports 0/1 are the divisor latch
    mov dx, COM1
    mov al, 1
    out dx, al                      ; divisor 1 = 115200 baud
    inc dx
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al                      ; 8 data bits, no parity, 1 stop bit, DLAB = 0
    mov dx, COM1 + 2
    mov al, 0xC7
    out dx, al                      ; FIFOs on and cleared, 14-byte trigger
    mov dx, COM1 + 4
    mov al, 0x03
    out dx, al                      ; DTR + RTS
    ret

putc:                               ; AL = character
    pusha
    mov ah, 0x0E
    xor bx, bx
    push ax
    int 0x10
    pop ax
    mov ah, al
    mov dx, COM1 + 5
    mov cx, 0xFFFF                  ; bounded: a missing UART must not hang the boot
.wait:
    in al, dx
    test al, 0x20                   ; LSR.THRE: the transmit holding register is empty
    jnz .send
    loop .wait
.send:
    mov al, ah
    mov dx, COM1
    out dx, al
    popa
    ret

puts:                               ; SI = NUL-terminated string
    push ax
.next:
    lodsb
    test al, al
    jz .end
    call putc
    jmp .next
.end:
    pop ax
    ret

print_hex8:                         ; AL, as 0x%02x
    push eax
    push cx
    shl eax, 24                     ; the two digits to print on top
    mov cx, 2
    jmp print_hex_digits
print_hex:                          ; EAX, as 0x%08x
    push eax
    push cx
    mov cx, 8
print_hex_digits:
    push eax
    mov al, '0'
    call putc
    mov al, 'x'
    call putc
    pop eax
.digit:
    rol eax, 4
    push eax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    call putc
    pop eax
    loop .digit
    pop cx
    pop eax
    ret

print_dec:                          ; EAX, unsigned decimal
    pushad
    mov ebx, 10
    xor cx, cx
.div:
    xor edx, edx
    div ebx
    push dx
    inc cx
    test eax, eax
    jnz .div
.out:
    pop ax
    add al, '0'
    call putc
    loop .out
    popad
    ret

disk_error:
    mov si, msg_disk
    call puts
    movzx eax, byte [last_error]
    call print_hex8
    mov si, msg_crlf
    jmp fatal
bad_header:
    mov si, msg_header
fatal:
    call puts
.halt:
    cli
    mov al, 0x71                    ; debug-exit status "bad boot": ends QEMU/BareFlow runs
    out 0xF4, al                    ; (isa-debug-exit); nothing listens there on a real PC
.hang:
    hlt
    jmp .hang

; ------------------------------------------------------------------------------
align 8
gdt:
    dq 0                            ; the null descriptor
    dq 0x00CF9A000000FFFF           ; 0x08: code, base 0, limit 4 GiB, 32-bit, ring 0
    dq 0x00CF92000000FFFF           ; 0x10: data, base 0, limit 4 GiB, writable
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt

align 4
dap:                                ; INT 13h AH=42h disk address packet
            db 16, 0
dap_count   dw 0
dap_buf     dw 0, 0
dap_lba     dd 0, 0

part_lba    dd 0
part_dest   dd 0
part_left   dd 0
mem_top     dd 0
chunk_n     dw 0
boot_drive  db 0
use_lba     db 0
spt         db 0
heads       db 0
retries     db 0
last_error  db 0

a20_names   dw a20_0, a20_1, a20_2
a20_0       db "already on", 13, 10, 0
a20_1       db "on via port 0x92", 13, 10, 0
a20_2       db "on via the 8042 output port", 13, 10, 0

msg_hello   db "BareFlow stage2: real mode, boot drive ", 0
msg_e820    db "stage2: E820 memory map, ", 0
msg_entries db " entries", 13, 10, 0
msg_a20     db "stage2: A20 ", 0
msg_lba     db "stage2: disk reads with INT 13h AH=42h (LBA)", 13, 10, 0
msg_chs     db "stage2: disk reads with INT 13h AH=02h (CHS, ", 0
msg_spt     db " sectors/track, ", 0
msg_heads   db " heads)", 13, 10, 0
msg_kernel  db "stage2: kernel ", 0
msg_model   db "stage2: model ", 0
msg_tok     db "stage2: tokenizer ", 0
msg_bytes_at db " bytes at ", 0
msg_pm      db "stage2: entering 32-bit protected mode", 13, 10, 0
msg_crlf    db 13, 10, 0
msg_disk    db "stage2: disk read error, INT 13h status ", 0
msg_header  db "stage2: bad disk header (version or checksum)", 13, 10, 0
msg_no_e820 db "stage2: INT 15h E820 memory map not available", 13, 10, 0
msg_no_high db "stage2: no usable memory above 1 MiB", 13, 10, 0
msg_no_a20  db "stage2: cannot enable the A20 line", 13, 10, 0
msg_too_big db "does not fit in memory", 13, 10, 0
