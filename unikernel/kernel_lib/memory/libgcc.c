/* libgcc.c - 64-bit division for a 32-bit CPU.
 *
 * i386 has no 64-by-64 divide instruction, so for `uint64_t / uint64_t` the compiler calls
 * __udivdi3 and friends, normally from libgcc or compiler-rt - which -nostdlib leaves out.
 * This is the plain shift-and-subtract long division, with a fast path when both numbers
 * fit in 32 bits (the common case: cycle averages, printf digits).
 */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem);
uint64_t __udivdi3(uint64_t num, uint64_t den);
uint64_t __umoddi3(uint64_t num, uint64_t den);
int64_t __divdi3(int64_t num, int64_t den);
int64_t __moddi3(int64_t num, int64_t den);

uint64_t __udivmoddi4(uint64_t num, uint64_t den, uint64_t *rem)
{
    if (den == 0) {                 /* as the hardware would: raise #DE */
        volatile uint32_t zero = 0;
        return (uint32_t)num / zero;
    }
    if ((num >> 32) == 0 && (den >> 32) == 0) {
        if (rem)
            *rem = (uint32_t)num % (uint32_t)den;
        return (uint32_t)num / (uint32_t)den;
    }
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((num >> i) & 1);
        if (r >= den) {
            r -= den;
            q |= (uint64_t)1 << i;
        }
    }
    if (rem)
        *rem = r;
    return q;
}

uint64_t __udivdi3(uint64_t num, uint64_t den)
{
    return __udivmoddi4(num, den, 0);
}

uint64_t __umoddi3(uint64_t num, uint64_t den)
{
    uint64_t r;
    __udivmoddi4(num, den, &r);
    return r;
}

int64_t __divdi3(int64_t num, int64_t den)
{
    int neg = (num < 0) != (den < 0);
    uint64_t q = __udivmoddi4(num < 0 ? -(uint64_t)num : (uint64_t)num,
                              den < 0 ? -(uint64_t)den : (uint64_t)den, 0);
    return neg ? -(int64_t)q : (int64_t)q;
}

int64_t __moddi3(int64_t num, int64_t den)
{
    uint64_t r;
    __udivmoddi4(num < 0 ? -(uint64_t)num : (uint64_t)num,
                 den < 0 ? -(uint64_t)den : (uint64_t)den, &r);
    return num < 0 ? -(int64_t)r : (int64_t)r;
}
