; BareFlow stage 1: the master boot record (LBA 0, exactly 512 bytes).
;
; The BIOS loads this sector at 0x7C00 and jumps to it in 16-bit real mode with the
; boot drive number in DL.  There is room for very little, so stage 1 does one job:
;   1. give itself known segments (CS=DS=ES=SS=0) and a stack just below 0x7C00;
;   2. ask INT 13h AH=41h whether the LBA "extensions" exist (AH=42h reads);
;      if not, fall back to the old cylinder/head/sector reads (AH=02h);
;   3. read the disk header (LBA 1) to 0x7E00 and check its magic "BFLOWHDR";
;   4. read stage 2 (header.stage2_lba, header.stage2_sectors) to 0x8000;
;   5. jump to stage 2 with DL = boot drive.
; Any failure prints a message on the screen (INT 10h) and on COM1, then halts.
; The header layout is documented in docs/disk-layout.md.

bits 16
org 0x7C00

HDR_ADDR        equ 0x7E00          ; where the disk header (LBA 1) is read
STAGE2_ADDR     equ 0x8000          ; where stage 2 is read and entered
HDR_STAGE2_LBA  equ HDR_ADDR + 12   ; u32
HDR_STAGE2_SECT equ HDR_ADDR + 16   ; u32 (stage 2 is at most 64 sectors)
COM1            equ 0x3F8

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00                  ; stack grows down from just below us
    jmp 0x0000:.flat                ; some BIOSes enter at 07C0:0000 - normalise CS
.flat:
    sti
    cld
    mov [boot_drive], dl

    ; --- Are the INT 13h extensions there? (AH=41h, BX=55AAh -> BX=AA55h, CX bit 0) ---
    mov ah, 0x41
    mov bx, 0x55AA
    int 0x13
    jc .chs
    cmp bx, 0xAA55
    jne .chs
    test cl, 1                      ; bit 0: "fixed disk access subset" (AH=42h)
    jz .chs
    mov byte [use_lba], 1
    jmp .read_header
.chs:
    ; CHS fall-back needs the geometry: AH=08h -> CL[5:0]=sectors/track, DH=max head.
    mov ah, 0x08
    mov dl, [boot_drive]
    xor di, di                      ; ES:DI=0 works around buggy BIOSes
    int 0x13
    push word 0                     ; for floppies ES:DI now points at the BIOS's diskette
    pop es                          ; parameter table: ES must be 0 again (flags unchanged)
    jc disk_error
    and cl, 0x3F
    mov [spt], cl
    inc dh
    mov [heads], dh

.read_header:
    mov eax, 1                      ; LBA 1: the BareFlow disk header
    mov bx, HDR_ADDR
    mov cx, 1
    call read_sectors
    mov si, HDR_ADDR                ; compare the 8-byte magic
    mov di, magic
    mov cx, 8
    repe cmpsb
    jne bad_header

    mov eax, [HDR_STAGE2_LBA]
    mov cx, [HDR_STAGE2_SECT]
    test cx, cx
    jz bad_header
    cmp cx, 64                      ; 0x8000 + 64*512 = 0x10000: keep stage 2 in segment 0
    ja bad_header
    mov bx, STAGE2_ADDR
    call read_sectors

    mov dl, [boot_drive]
    jmp 0x0000:STAGE2_ADDR

; read_sectors: EAX = first LBA, CX = count, ES:BX = buffer (ES=0).
; One sector per call: slower, but the same loop serves LBA and CHS and never
; crosses a track or a 64 KiB DMA boundary by surprise.
read_sectors:
.next:
    push eax
    push cx
    push bx
    mov di, 3                       ; three tries, with a disk reset in between
.retry:
    cmp byte [use_lba], 0
    je .do_chs
    mov word [dap_count], 1
    mov [dap_buf], bx
    mov [dap_lba], eax
    mov si, dap
    mov ah, 0x42
    mov dl, [boot_drive]
    push eax
    int 0x13
    pop eax
    jnc .ok
    jmp .failed
.do_chs:
    push eax
    xor edx, edx                    ; sector = lba % spt + 1, track = lba / spt
    movzx ecx, byte [spt]
    div ecx
    inc dl
    mov cl, dl                      ; CL[5:0] = sector
    xor edx, edx                    ; head = track % heads, cylinder = track / heads
    movzx esi, byte [heads]
    div esi
    mov dh, dl                      ; DH = head
    mov ch, al                      ; CH = cylinder low 8 bits
    shl ah, 6
    or cl, ah                       ; CL[7:6] = cylinder bits 9:8
    mov dl, [boot_drive]
    mov ax, 0x0201                  ; AH=02h read, AL=1 sector
    int 0x13
    pop eax
    jnc .ok
.failed:
    push eax
    xor ah, ah                      ; AH=00h reset the disk system, then retry
    mov dl, [boot_drive]
    int 0x13
    pop eax
    dec di
    jnz .retry
    jmp disk_error
.ok:
    pop bx
    pop cx
    pop eax
    add bx, 512
    inc eax
    loop .next
    ret

disk_error:
    mov si, msg_disk
    jmp fatal
bad_header:
    mov si, msg_header
fatal:
    lodsb
    test al, al
    jz .halt
    push si
    mov ah, 0x0E                    ; INT 10h teletype on the screen
    xor bx, bx
    int 0x10
    mov dx, COM1 + 5                ; and COM1: wait for THRE (LSR bit 5), then send
    mov ah, al
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov al, ah
    mov dx, COM1
    out dx, al
    pop si
    jmp fatal
.halt:
    cli
    mov al, 0x71                    ; debug-exit status "bad boot": ends QEMU/BareFlow runs
    out 0xF4, al                    ; (isa-debug-exit); nothing listens there on a real PC
.hang:
    hlt
    jmp .hang

magic       db "BFLOWHDR"
msg_disk    db "stage1: disk read error", 13, 10, 0
msg_header  db "stage1: bad disk header", 13, 10, 0

boot_drive  db 0
use_lba     db 0
spt         db 0
heads       db 0
align 4
dap:                                ; INT 13h AH=42h disk address packet
            db 16, 0                ; packet size, reserved
dap_count   dw 0                    ; sectors to transfer
dap_buf     dw 0, 0                 ; buffer offset, segment
dap_lba     dd 0, 0                 ; 64-bit starting LBA

times 0x1BE - ($ - $$) db 0         ; leave the partition table empty
times 510 - ($ - $$) db 0
dw 0xAA55
