/* isr.S - the entry stubs for interrupt vectors 0..47.
 *
 * The CPU pushes EFLAGS, CS, EIP - and for some exceptions an error code - then jumps to the
 * gate's handler.  Every stub makes the stack look the same (pushes a 0 where the CPU pushed
 * no error code, then the vector number) and jumps to isr_common, which saves the general and
 * segment registers and calls the C function isr_dispatch(struct isr_frame *) with a pointer
 * to all of it (the layout is struct isr_frame in interrupts.c).
 */
    .text

.macro ISR_NOERR n
    .align 4
isr_stub_\n:
    pushl $0
    pushl $\n
    jmp isr_common
.endm

.macro ISR_ERR n
    .align 4
isr_stub_\n:
    pushl $\n                     /* the CPU already pushed the error code */
    jmp isr_common
.endm

/* Exceptions with an error code: #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14, #AC 17,
   #CP 21, #VC 29, #SX 30. */
ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31
/* Hardware interrupts after the PIC remap: IRQ 0..15 = vectors 32..47. */
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
ISR_NOERR \n
.endr

isr_common:
    pushal                        /* eax ecx edx ebx esp ebp esi edi */
    pushl %ds
    pushl %es
    pushl %fs
    pushl %gs
    movw $0x10, %ax               /* the kernel's data segment, whatever was loaded */
    movw %ax, %ds
    movw %ax, %es
    cld                           /* C code assumes DF = 0 */
    movl %esp, %ebx               /* the frame; EBX is callee-saved, it survives the call */
    andl $-16, %esp               /* an interrupt can arrive at any stack alignment, and the C */
    subl $12, %esp                /* ABI wants ESP 16-byte aligned at the call (SSE spills) */
    pushl %ebx                    /* argument: the frame */
    call isr_dispatch
    movl %ebx, %esp
    popl %gs
    popl %fs
    popl %es
    popl %ds
    popal
    addl $8, %esp                 /* drop the vector number and the error code */
    iret

    .section .rodata
    .align 4
    .global isr_stub_table
isr_stub_table:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .long isr_stub_\n
.endr
