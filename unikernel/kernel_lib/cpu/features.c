/* features.c - CPUID, RDTSC, and turning on the FPU and SSE.
 *
 * CPUID leaf 0 gives the highest leaf and the vendor string (EBX, EDX, ECX in that order);
 * leaf 1 gives family/model/stepping in EAX and the feature bits in EDX and ECX;
 * leaves 0x80000002..4 hold a 48-byte brand string when 0x80000000 says they exist.
 * SSE instructions raise #UD until the OS declares it saves their state: CR4.OSFXSR
 * (bit 9) and CR4.OSXMMEXCPT (bit 10, SIMD exceptions as #XM), with CR0.EM (bit 2,
 * "emulate the FPU") clear and CR0.MP (bit 1) set.
 */
#include "../runtime.h"

static struct cpu_info info;
static int detected;

uint64_t cpu_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

void cpu_cpuid(uint32_t leaf, uint32_t *eax, uint32_t *ebx, uint32_t *ecx, uint32_t *edx)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(0));
    if (eax) *eax = a;
    if (ebx) *ebx = b;
    if (ecx) *ecx = c;
    if (edx) *edx = d;
}

void cpu_detect(void)
{
    uint32_t a, b, c, d;
    memset(&info, 0, sizeof info);
    cpu_cpuid(0, &a, &b, &c, &d);
    info.max_leaf = a;
    memcpy(info.vendor + 0, &b, 4);
    memcpy(info.vendor + 4, &d, 4);
    memcpy(info.vendor + 8, &c, 4);
    if (info.max_leaf >= 1) {
        cpu_cpuid(1, &a, &b, &c, &d);
        info.stepping = a & 0xF;
        info.model = (a >> 4) & 0xF;
        info.family = (a >> 8) & 0xF;
        if (info.family == 0xF)
            info.family += (a >> 20) & 0xFF;
        if (info.family == 0x6 || info.family >= 0xF)
            info.model |= ((a >> 16) & 0xF) << 4;
        info.edx1 = d;
        info.ecx1 = c;
    }
    d = info.edx1;
    c = info.ecx1;
    info.has_fpu = !!(d & (1u << 0));
    info.has_tsc = !!(d & (1u << 4));
    info.has_cx8 = !!(d & (1u << 8));
    info.has_apic = !!(d & (1u << 9));
    info.has_cmov = !!(d & (1u << 15));
    info.has_mmx = !!(d & (1u << 23));
    info.has_fxsr = !!(d & (1u << 24));
    info.has_sse = !!(d & (1u << 25));
    info.has_sse2 = !!(d & (1u << 26));
    info.has_sse3 = !!(c & (1u << 0));
    info.has_ssse3 = !!(c & (1u << 9));
    info.has_sse41 = !!(c & (1u << 19));
    info.has_sse42 = !!(c & (1u << 20));
    cpu_cpuid(0x80000000u, &a, NULL, NULL, NULL);
    info.max_ext_leaf = a >= 0x80000000u ? a : 0;
    if (info.max_ext_leaf >= 0x80000004u) {
        uint32_t *w = (uint32_t *)info.brand;
        for (uint32_t i = 0; i < 3; i++)
            cpu_cpuid(0x80000002u + i, &w[i * 4], &w[i * 4 + 1], &w[i * 4 + 2], &w[i * 4 + 3]);
        info.brand[48] = 0;
        char *p = info.brand;       /* some CPUs right-align the brand with spaces */
        while (*p == ' ')
            p++;
        memmove(info.brand, p, strlen(p) + 1);
    }
    detected = 1;
}

const struct cpu_info *cpu_get_info(void)
{
    if (!detected)
        cpu_detect();
    return &info;
}

int cpu_enable_sse(void)
{
    uint32_t cr0, cr4;
    const struct cpu_info *ci = cpu_get_info();
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    cr0 &= ~(1u << 2);              /* EM = 0: FPU instructions run, not trap */
    cr0 |= (1u << 1) | (1u << 5);   /* MP = 1 (WAIT honours TS), NE = 1 (x87 errors as #MF) */
    cr0 &= ~(1u << 3);              /* TS = 0: no lazy-switch trap, there is one task */
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0));
    __asm__ volatile("fninit");
    if (!ci->has_sse || !ci->has_fxsr)
        return -1;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    cr4 |= (1u << 9) | (1u << 10);  /* OSFXSR, OSXMMEXCPT */
    __asm__ volatile("mov %0, %%cr4" :: "r"(cr4));
    info.sse_enabled = 1;
    return 0;
}

void cpu_features_string(char *buf, size_t size)
{
    static const struct { int bit; int ecx; const char *name; } names[] = {
        {0, 0, "fpu"}, {4, 0, "tsc"}, {5, 0, "msr"}, {6, 0, "pae"}, {8, 0, "cx8"},
        {9, 0, "apic"}, {11, 0, "sep"}, {13, 0, "pge"}, {15, 0, "cmov"}, {16, 0, "pat"},
        {19, 0, "clflush"}, {23, 0, "mmx"}, {24, 0, "fxsr"}, {25, 0, "sse"}, {26, 0, "sse2"},
        {0, 1, "sse3"}, {1, 1, "pclmulqdq"}, {9, 1, "ssse3"}, {12, 1, "fma"},
        {13, 1, "cx16"}, {19, 1, "sse4.1"}, {20, 1, "sse4.2"}, {22, 1, "movbe"},
        {23, 1, "popcnt"}, {25, 1, "aes"}, {28, 1, "avx"}, {30, 1, "rdrand"},
    };
    const struct cpu_info *ci = cpu_get_info();
    size_t len = 0;
    if (size)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        uint32_t word = names[i].ecx ? ci->ecx1 : ci->edx1;
        if (!(word & (1u << names[i].bit)))
            continue;
        int n = snprintf(buf + len, size - len, "%s%s", len ? " " : "", names[i].name);
        if (n < 0 || len + (size_t)n >= size)
            break;
        len += (size_t)n;
    }
}
