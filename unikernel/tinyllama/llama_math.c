/* llama_math.c - freestanding expf, sqrtf, powf, sinf, cosf (see llama_math.h for why).
 *
 * Method: widen to double, reduce the argument with Cody-Waite constants (fdlibm's split of
 * ln 2 and pi/2, whose high parts have trailing zero bits so k*hi is exact), evaluate a
 * Taylor polynomial in Horner form whose truncation error is far below a float ulp, and
 * round to float once.  sqrtf is the SSE instruction, which IEEE 754 requires to be correctly
 * rounded.  Compiles unchanged for the i386 unikernel and for the host test.
 */
#include <stdint.h>

#include "llama_math.h"

static const double LN2_HI = 6.93147180369123816490e-01;   /* 0x3fe62e42 fee00000 */
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;
static const double TWO_OVER_PI = 6.36619772367581382433e-01;
static const double PIO2_1 = 1.57079632673412561417e+00;   /* first 33 bits of pi/2 */
static const double PIO2_2 = 6.07710050650619224932e-11;   /* next 33 bits */
static const double PIO2_3 = 2.02226624879595063154e-21;   /* the rest */
static const double ROUND_MAGIC = 6755399441055744.0;       /* 1.5 * 2^52 */

union dbits { double d; uint64_t u; };
union fbits { float f; uint32_t u; };

static float f_from_bits(uint32_t u) { union fbits b; b.u = u; return b.f; }
static uint32_t f_bits(float f) { union fbits b; b.f = f; return b.u; }

#define F_INF f_from_bits(0x7f800000u)
#define F_NAN f_from_bits(0x7fc00000u)

float bf_sqrtf(float x)
{
    float r;
    __asm__("sqrtss %1, %0" : "=x"(r) : "x"(x));
    return r;
}

/* round-to-nearest integer of v (|v| < 2^51) as a double, and its low 32 bits as an int */
static double round_nearest(double v, int32_t *low)
{
    union dbits b;
    b.d = v + ROUND_MAGIC;
    *low = (int32_t)(uint32_t)b.u;
    return b.d - ROUND_MAGIC;
}

double bf_exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.7)
        return (double)F_INF;
    if (x < -708.0)
        return 0.0;
    int32_t k;
    double kd = round_nearest(x * INV_LN2, &k);
    double r = (x - kd * LN2_HI) - kd * LN2_LO;              /* |r| <= 0.3466 */
    /* Taylor to r^13: truncation < 4e-18 relative */
    double p = 1.0 / 6227020800.0;
    p = 1.0 / 479001600.0 + r * p;
    p = 1.0 / 39916800.0 + r * p;
    p = 1.0 / 3628800.0 + r * p;
    p = 1.0 / 362880.0 + r * p;
    p = 1.0 / 40320.0 + r * p;
    p = 1.0 / 5040.0 + r * p;
    p = 1.0 / 720.0 + r * p;
    p = 1.0 / 120.0 + r * p;
    p = 1.0 / 24.0 + r * p;
    p = 1.0 / 6.0 + r * p;
    p = 0.5 + r * p;
    p = 1.0 + r * p;
    p = 1.0 + r * p;
    union dbits s;                                           /* 2^k, k in [-1022, 1023] */
    s.u = (uint64_t)(uint32_t)(k + 1023) << 52;
    return p * s.d;
}

const double bf_exp_reduce[3] = {INV_LN2, LN2_HI, LN2_LO};
const double bf_exp_poly[14] = {
    1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
    1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0,
};

double bf_log(double x)
{
    union dbits b;
    b.d = x;
    int e = 0;
    if ((b.u >> 52) == 0) {                                  /* subnormal: scale by 2^54 */
        b.d = x * 18014398509481984.0;
        e = -54;
    }
    e += (int)((b.u >> 52) & 0x7ff) - 1023;
    b.u = (b.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;   /* m in [1, 2) */
    double m = b.d;
    if (m > 1.41421356237309504880) {
        m *= 0.5;
        e++;
    }
    double s = (m - 1.0) / (m + 1.0);                        /* |s| <= 0.1716 */
    double s2 = s * s;
    double p = 1.0 / 21.0;
    p = 1.0 / 19.0 + s2 * p;
    p = 1.0 / 17.0 + s2 * p;
    p = 1.0 / 15.0 + s2 * p;
    p = 1.0 / 13.0 + s2 * p;
    p = 1.0 / 11.0 + s2 * p;
    p = 1.0 / 9.0 + s2 * p;
    p = 1.0 / 7.0 + s2 * p;
    p = 1.0 / 5.0 + s2 * p;
    p = 1.0 / 3.0 + s2 * p;
    p = 1.0 + s2 * p;
    double lm = 2.0 * s * p;                                 /* log(m) = 2 atanh(s) */
    return e * LN2_HI + (lm + e * LN2_LO);
}

float bf_expf(float x)
{
    if (x != x)
        return x;
    if (x > 100.0f)
        return F_INF;
    if (x < -200.0f)
        return 0.0f;
    return (float)bf_exp((double)x);
}

/* 1 if y is an odd integer, 0 if an even integer, -1 if not an integer (y finite). */
static int int_parity(float y)
{
    uint32_t u = f_bits(y) & 0x7fffffffu;
    int exp = (int)(u >> 23) - 127;
    if (exp >= 24)
        return 0;                                            /* every such float is even */
    if (exp < 0)
        return u == 0 ? 0 : -1;
    uint32_t mant = (u & 0x7fffffu) | 0x800000u;
    int frac_bits = 23 - exp;
    if (mant & ((1u << frac_bits) - 1))
        return -1;
    return (int)((mant >> frac_bits) & 1u);
}

float bf_powf(float x, float y)
{
    if (y == 0.0f || x == 1.0f)
        return 1.0f;
    if (x != x || y != y)
        return x + y;
    uint32_t ux = f_bits(x);
    int neg = (ux >> 31) != 0;
    float ax = neg ? -x : x;
    float ay = y < 0 ? -y : y;
    if (ay == F_INF) {
        if (ax == 1.0f)
            return 1.0f;
        return ((ax < 1.0f) == (y < 0)) ? F_INF : 0.0f;
    }
    int par = int_parity(y);
    if (ax == 0.0f || ax == F_INF) {
        int big = (ax == F_INF) == (y > 0);                  /* 0^neg and inf^pos are inf */
        float mag = big ? F_INF : 0.0f;
        return (neg && par == 1) ? -mag : mag;
    }
    if (neg && par < 0)
        return F_NAN;                                        /* negative base, fractional power */
    double t = (double)y * bf_log((double)ax);
    double r;
    if (t > 709.0)
        r = (double)F_INF;
    else if (t < -708.0)
        r = 0.0;
    else
        r = bf_exp(t);
    float out = (float)r;
    return (neg && par == 1) ? -out : out;
}

/* x = n*pi/2 + r with |r| <= pi/4 (accurate for |x| < 2^20 * pi/2; bounded beyond). */
static double reduce(double x, int32_t *quadrant)
{
    double n = round_nearest(x * TWO_OVER_PI, quadrant);
    return ((x - n * PIO2_1) - n * PIO2_2) - n * PIO2_3;
}

static double sin_poly(double r)
{
    double r2 = r * r;
    double p = 1.0 / 6227020800.0;
    p = -1.0 / 39916800.0 + r2 * p;
    p = 1.0 / 362880.0 + r2 * p;
    p = -1.0 / 5040.0 + r2 * p;
    p = 1.0 / 120.0 + r2 * p;
    p = -1.0 / 6.0 + r2 * p;
    return r + r * r2 * p;
}

static double cos_poly(double r)
{
    double r2 = r * r;
    double p = -1.0 / 87178291200.0;
    p = 1.0 / 479001600.0 + r2 * p;
    p = -1.0 / 3628800.0 + r2 * p;
    p = 1.0 / 40320.0 + r2 * p;
    p = -1.0 / 720.0 + r2 * p;
    p = 1.0 / 24.0 + r2 * p;
    p = -0.5 + r2 * p;
    return 1.0 + r2 * p;
}

static int finite_f(float x) { return (f_bits(x) & 0x7f800000u) != 0x7f800000u; }

float bf_sinf(float x)
{
    if (!finite_f(x))
        return F_NAN;
    if (x == 0.0f)
        return x;                                            /* keeps the sign of -0 */
    double dx = x;
    if (dx > 1e15 || dx < -1e15)
        return 0.0f;                                         /* beyond any use here */
    int32_t q;
    double r = reduce(dx, &q);
    switch (q & 3) {
    case 0: return (float)sin_poly(r);
    case 1: return (float)cos_poly(r);
    case 2: return (float)-sin_poly(r);
    default: return (float)-cos_poly(r);
    }
}

float bf_cosf(float x)
{
    if (!finite_f(x))
        return F_NAN;
    double dx = x;
    if (dx > 1e15 || dx < -1e15)
        return 1.0f;
    int32_t q;
    double r = reduce(dx, &q);
    switch (q & 3) {
    case 0: return (float)cos_poly(r);
    case 1: return (float)-sin_poly(r);
    case 2: return (float)-cos_poly(r);
    default: return (float)sin_poly(r);
    }
}
