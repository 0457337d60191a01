; The 32-bit BIOS32 service directory and PCI BIOS (PCI BIOS specification 2.1) in the F segment.
; Source of the bytes in emu/bios/pcibios.py (tests/bios/test_pcibios.py re-assembles this file
; with nasm and compares).  nasm -f bin -o pcibios32.bin pcibios32.asm
;
; Placed at F000:D1CA, where SeaBIOS 1.16 has its PCI BIOS entry on QEMU 7.2 (Linux prints the
; address: "PCI: PCI BIOS revision 2.10 entry at 0xfd1ca"); the BIOS32 entry is at F000:D26C,
; also SeaBIOS's.  Both are reached by a 32-bit far call from protected mode with any code
; segment whose base + offset lands here (flat, Linux's PAGE_OFFSET alias, or base F0000h), so
; the code is position independent.  Configuration mechanism #1 (ports 0CF8h/0CFCh).
; Register behaviour is SeaBIOS's (checked by tests/images/kern_pcibios.asm under QEMU): the
; function is taken from AL alone; AH returns the status and CF is set on failure; only the
; documented outputs change (B101h: AL, BX, CL, EDX, EDI; find: BX; reads: CL/CX/ECX; B10Eh:
; the caller's size word and BX), AL and everything else are preserved.  As in SeaBIOS, the
; register number is not checked for alignment (a word access uses byte 0 or 2 of the dword,
; a dword access the whole dword), and the $PIR slots are read at CS:(F5CA0h - F0000h): right
; when CS has the base BIOS32 returned (F0000h), as the BIOS32 specification intends.

bits 32
ROM_BASE        equ 0xF0000
ENTRY_OFF       equ 0xD1CA           ; offset of this blob in the F segment
BIOS32_OFF      equ 0xD26C
PIR_SLOTS       equ 0xF5CA0          ; the $PIR table's slot entries (pcibios.py writes them)
PIR_SLOTS_LEN   equ 6 * 16

SUCCESSFUL      equ 0x00
FUNC_NOT_SUPP   equ 0x81
DEV_NOT_FOUND   equ 0x86
BAD_REGISTER    equ 0x87
BUFFER_TOO_SMALL equ 0x89

pcibios_entry:                          ; F000:D1CA, AH = B1h, AL = function
        jmp     pcibios_main

        times (BIOS32_OFF - ENTRY_OFF) - ($ - $$) db 0xCC

bios32_entry:                           ; F000:D26C: EAX = service ID, EBX = 0
        cmp     eax, 0x49435024         ; "$PCI"
        jne     .unknown
        test    ebx, ebx
        jnz     .bad
        mov     ebx, ROM_BASE           ; base of the service
        mov     ecx, 0x10000            ; its length
        mov     edx, ENTRY_OFF          ; entry point offset from the base
        mov     al, 0x00
        retf
.unknown:
        mov     al, 0x80                ; service not present
        retf
.bad:
        mov     al, 0x81                ; unimplemented BIOS32 function
        retf

pcibios_main:
        cmp     al, 0x01
        je      installation_check
        cmp     al, 0x02
        je      find_device
        cmp     al, 0x03
        je      find_class
        cmp     al, 0x0E
        je      routing_options
        cmp     al, 0x08
        jb      not_supported
        cmp     al, 0x0D
        jbe     config_access
not_supported:
        mov     ah, FUNC_NOT_SUPP
        stc
        retf

installation_check:                     ; AL=01h
        mov     edx, 0x20494350         ; "PCI "
        mov     al, 0x01                ; configuration mechanism #1
        mov     bx, 0x0210              ; interface level 2.10
        mov     cl, 0                   ; last PCI bus
        mov     edi, ROM_BASE + ENTRY_OFF   ; physical address of the 32-bit entry point
        mov     ah, SUCCESSFUL
        clc
        retf

config_access:                          ; AL=08h..0Dh, BX = bus:devfn, DI = register
        push    edx
        push    eax
        movzx   eax, bx
        shl     eax, 8
        mov     edx, edi
        mov     al, dl
        and     al, 0xFC
        or      eax, 0x80000000
        mov     dx, 0xCF8
        out     dx, eax
        mov     eax, [esp]              ; AL = function again
        mov     edx, edi
        cmp     al, 0x09
        je      .rw
        cmp     al, 0x0C
        je      .ww
        cmp     al, 0x0A
        je      .rd
        cmp     al, 0x0D
        je      .wd
        and     edx, 3                  ; bytes: 0CFCh + (reg & 3)
        add     dx, 0xCFC
        cmp     al, 0x08
        je      .rb
        mov     al, cl                  ; 0Bh: write byte
        out     dx, al
        jmp     .done
.rb:    in      al, dx
        mov     cl, al
        jmp     .done
.rw:    and     edx, 2                  ; words: 0CFCh + (reg & 2)
        add     dx, 0xCFC
        in      ax, dx
        mov     cx, ax
        jmp     .done
.ww:    and     edx, 2
        add     dx, 0xCFC
        mov     ax, cx
        out     dx, ax
        jmp     .done
.rd:    mov     dx, 0xCFC
        in      eax, dx
        mov     ecx, eax
        jmp     .done
.wd:    mov     dx, 0xCFC
        mov     eax, ecx
        out     dx, eax
.done:  pop     eax
        pop     edx
        mov     ah, SUCCESSFUL
        clc
        retf

; the SI-th function on bus 0 whose register 0 (find_device: device:vendor) or register 8
; shifted right by 8 (find_class: class code) equals EDX; BX = its bus:devfn
find_device:                            ; AL=02h: CX = device ID, DX = vendor ID, SI = index
        push    edx
        push    ecx
        push    esi
        push    ebx
        shl     ecx, 16
        mov     cx, dx
        mov     edx, ecx
        xor     ecx, ecx                ; register 0
        jmp     scan
find_class:                             ; AL=03h: ECX = class code (24 bits), SI = index
        push    edx
        push    ecx
        push    esi
        push    ebx
        mov     edx, ecx
        and     edx, 0x00FFFFFF
        mov     ecx, 8                  ; register 8, compared >> 8
scan:   push    eax
        movzx   esi, si
        xor     ebx, ebx                ; bus 0, devfn 0
.loop:  movzx   eax, bx
        shl     eax, 8
        or      eax, ecx
        or      eax, 0x80000000
        push    edx
        mov     dx, 0xCF8
        out     dx, eax
        mov     dx, 0xCFC
        in      eax, dx
        pop     edx
        cmp     eax, 0xFFFFFFFF         ; no function here
        je      .next
        test    ecx, ecx
        jz      .cmp
        shr     eax, 8
.cmp:   cmp     eax, edx
        jne     .next
        test    esi, esi
        jz      .found
        dec     esi
.next:  inc     bx
        cmp     bx, 0x100
        jb      .loop
        pop     eax
        pop     ebx
        pop     esi
        pop     ecx
        pop     edx
        mov     ah, DEV_NOT_FOUND
        stc
        retf
.found: pop     eax
        mov     [esp], bx               ; the saved EBX gets the new BX
        pop     ebx
        pop     esi
        pop     ecx
        pop     edx
        mov     ah, SUCCESSFUL
        clc
        retf

; AL=0Eh: ES:EDI -> {u16 size; u32 offset; u16 selector} (the buffer's far pointer).
; The size word always becomes the table's size; too small a buffer fails with 89h.
routing_options:
        cmp     word [es:edi], PIR_SLOTS_LEN
        mov     word [es:edi], PIR_SLOTS_LEN
        jae     .fits
        mov     ah, BUFFER_TOO_SMALL
        stc
        retf
.fits:  push    ecx
        push    esi
        push    edi
        push    es
        les     edi, [es:edi + 2]
        mov     esi, PIR_SLOTS - ROM_BASE
        mov     ecx, PIR_SLOTS_LEN
        cld
        cs rep movsb
        pop     es
        pop     edi
        pop     esi
        pop     ecx
        xor     bx, bx                  ; no IRQ is dedicated to PCI
        mov     ah, SUCCESSFUL
        clc
        retf
