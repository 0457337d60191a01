/* entry.S - the first kernel instructions, at 1 MiB, in 32-bit protected mode.
 *
 * Stage 2 jumps here with EAX = 0x42464C57 ("BFLW") and EBX = &boot_info, flat segments,
 * interrupts off.  Before any C runs we need a stack of our own and a zeroed BSS (C assumes
 * static variables start at 0; the image carries no bytes for them, so whatever was in RAM
 * is there now).  Then kmain(magic, boot_info), which never returns.
 */
    .section .text.entry, "ax"
    .global _start
_start:
    cli
    movl $stack_top, %esp
    xorl %ebp, %ebp               /* a zero frame pointer ends backtraces here */
    movl %eax, %esi               /* keep magic and boot info across the BSS clear */
    movl %ebx, %edx
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    cld
    rep stosb
    subl $8, %esp                 /* the i386 C ABI wants ESP 16-byte aligned at each call: */
    pushl %edx                    /* 8 + two 4-byte arguments keep stack_top's alignment */
    pushl %esi                    /* kmain(uint32_t magic, const struct boot_info *bi) */
    call kmain
1:  cli                           /* kmain does not return; if it did, stop here */
    hlt
    jmp 1b

    .section .bss
    .align 16
stack_bottom:
    .skip 65536                   /* 64 KiB: the app's big arrays belong on the heap */
stack_top:
