/* boot_info.h - what stage 2 hands the kernel (EBX at the kernel entry).
 *
 * Stage 2 (boot/stage2.asm) fills this structure at physical 0x5000 with fixed offsets;
 * the _Static_asserts below keep the two in step.  The kernel copies it into its own BSS
 * first thing, so low memory may be reused afterwards.
 */
#ifndef BAREFLOW_BOOT_INFO_H
#define BAREFLOW_BOOT_INFO_H

#include <stdint.h>
#include <stddef.h>

#define KERNEL_BOOT_MAGIC  0x42464C57u   /* "BFLW" in EAX at the kernel entry */
#define BOOT_INFO_MAGIC    0x464E4942u   /* "BINF" */
#define BOOT_INFO_VERSION  1u
#define BOOT_MMAP_MAX      32
#define BOOT_CMDLINE_MAX   256

/* E820 range types (ACPI) */
#define E820_USABLE    1u
#define E820_RESERVED  2u
#define E820_ACPI      3u
#define E820_NVS       4u
#define E820_BAD       5u

/* A20 methods reported by stage 2 */
#define A20_ALREADY_ON 0u
#define A20_PORT_92    1u
#define A20_KBC_8042   2u

/* One INT 15h E820 entry, exactly as the BIOS returns it (24 bytes). */
struct boot_mmap_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type;
    uint32_t acpi_attr;
} __attribute__((packed));

struct boot_info {
    uint32_t magic;            /* BOOT_INFO_MAGIC */
    uint32_t version;          /* BOOT_INFO_VERSION */
    uint32_t boot_drive;       /* BIOS drive number (0x80 = first hard disk) */
    uint32_t mmap_count;       /* valid entries in mmap[] */
    uint32_t kernel_addr;      /* where the kernel image was loaded (1 MiB) */
    uint32_t kernel_end;       /* first byte after the kernel's BSS */
    uint32_t model_addr;       /* model blob (0 size: absent) */
    uint32_t model_size;
    uint32_t tokenizer_addr;   /* tokenizer blob (0 size: absent) */
    uint32_t tokenizer_size;
    uint32_t a20_method;       /* A20_* */
    uint32_t mem_top;          /* end of the usable E820 range that holds 1 MiB */
    char cmdline[BOOT_CMDLINE_MAX];   /* NUL-terminated */
    struct boot_mmap_entry mmap[BOOT_MMAP_MAX];
} __attribute__((packed));

_Static_assert(offsetof(struct boot_info, mem_top) == 44, "stage2 BI_MEM_TOP");
_Static_assert(offsetof(struct boot_info, cmdline) == 48, "stage2 BI_CMDLINE");
_Static_assert(offsetof(struct boot_info, mmap) == 304, "stage2 BI_MMAP");
_Static_assert(sizeof(struct boot_mmap_entry) == 24, "E820 entry size");

#endif
