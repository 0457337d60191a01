/* gdbjit.c - GDB's JIT compilation interface (gdb/doc "JIT Interface"), for generated code.
 *
 * A debugger puts a breakpoint on __jit_debug_register_code and, when it is hit, reads
 * __jit_debug_descriptor: action_flag says register (1) or unregister (2), relevant_entry
 * points at a jit_code_entry whose symfile_addr/size hold an object file in guest memory.
 * We write the smallest ELF32 gdb's BFD accepts: an ET_EXEC i386 file with a .text section
 * (SHT_NOBITS: the bytes are in memory already) whose sh_addr is the function's address,
 * and a symbol table with one global FUNC symbol (absolute value, size).  The BareFlow
 * emulator reads the same structures (emu/jitdebug.py) to name the code in its profile.
 */
#include "../jit_codegen.h"
#include "../runtime.h"

struct jit_descriptor __jit_debug_descriptor = {1, 0, NULL, NULL};

/* gdb's docs: must not be inlined or optimised away; the debugger breaks on it. */
__attribute__((noinline, used)) void __jit_debug_register_code(void)
{
    __asm__ volatile("" ::: "memory");
}

/* ELF32 structures (the System V gABI), only the fields we fill. */
struct elf32_ehdr {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version, entry, phoff, shoff, flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf32_shdr {
    uint32_t name, type, flags, addr, offset, size, link, info, addralign, entsize;
};
struct elf32_sym {
    uint32_t name, value, size;
    uint8_t info, other;
    uint16_t shndx;
};
_Static_assert(sizeof(struct elf32_ehdr) == 52, "ELF32 header is 52 bytes");
_Static_assert(sizeof(struct elf32_shdr) == 40, "ELF32 section header is 40 bytes");
_Static_assert(sizeof(struct elf32_sym) == 16, "ELF32 symbol is 16 bytes");

static const char SHSTR[] = "\0.text\0.symtab\0.strtab\0.shstrtab";   /* offsets 0,1,7,15,23 */

int jit_gdb_publish(const char *name, const void *addr, uint32_t size)
{
    size_t nlen = strlen(name);
    size_t strtab_size = 1 + nlen + 1;
    size_t off_sym = sizeof(struct elf32_ehdr);
    size_t off_str = off_sym + 2 * sizeof(struct elf32_sym);
    size_t off_shstr = off_str + strtab_size;
    size_t off_sh = (off_shstr + sizeof SHSTR + 3) & ~(size_t)3;
    size_t total = off_sh + 5 * sizeof(struct elf32_shdr);
    struct jit_code_entry *e = jit_code_data(sizeof *e + total);
    if (!e)
        return -1;
    uint8_t *f = (uint8_t *)(e + 1);

    struct elf32_ehdr *h = (struct elf32_ehdr *)f;
    static const uint8_t ident[16] = {0x7f, 'E', 'L', 'F', 1 /* 32-bit */, 1 /* LSB */,
                                      1 /* EV_CURRENT */};
    memcpy(h->ident, ident, 16);
    h->type = 2;                                /* ET_EXEC: addresses are absolute */
    h->machine = 3;                             /* EM_386 */
    h->version = 1;
    h->entry = (uint32_t)(uintptr_t)addr;
    h->shoff = (uint32_t)off_sh;
    h->ehsize = sizeof *h;
    h->shentsize = sizeof(struct elf32_shdr);
    h->shnum = 5;
    h->shstrndx = 4;

    struct elf32_sym *sym = (struct elf32_sym *)(f + off_sym);
    sym[1].name = 1;
    sym[1].value = (uint32_t)(uintptr_t)addr;
    sym[1].size = size;
    sym[1].info = (1 << 4) | 2;                 /* STB_GLOBAL, STT_FUNC */
    sym[1].shndx = 1;
    memcpy(f + off_str + 1, name, nlen);
    memcpy(f + off_shstr, SHSTR, sizeof SHSTR);

    struct elf32_shdr *sh = (struct elf32_shdr *)(f + off_sh);
    sh[1] = (struct elf32_shdr){1, 8 /* NOBITS */, 6 /* ALLOC|EXECINSTR */,
                                (uint32_t)(uintptr_t)addr, (uint32_t)off_sh, size, 0, 0, 16, 0};
    sh[2] = (struct elf32_shdr){7, 2 /* SYMTAB */, 0, 0, (uint32_t)off_sym,
                                2 * sizeof(struct elf32_sym), 3, 1, 4, sizeof(struct elf32_sym)};
    sh[3] = (struct elf32_shdr){15, 3 /* STRTAB */, 0, 0, (uint32_t)off_str,
                                (uint32_t)strtab_size, 0, 0, 1, 0};
    sh[4] = (struct elf32_shdr){23, 3, 0, 0, (uint32_t)off_shstr, sizeof SHSTR, 0, 0, 1, 0};

    e->symfile_addr = (const char *)f;
    e->symfile_size = total;
    e->prev_entry = NULL;
    e->next_entry = __jit_debug_descriptor.first_entry;
    if (e->next_entry)
        e->next_entry->prev_entry = e;
    __jit_debug_descriptor.first_entry = e;
    __jit_debug_descriptor.relevant_entry = e;
    __jit_debug_descriptor.action_flag = 1;     /* JIT_REGISTER_FN */
    __jit_debug_register_code();
    __jit_debug_descriptor.action_flag = 0;
    return 0;
}
