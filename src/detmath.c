/* Deterministic transcendental functions (see detmath.h for the contract and accuracy). Each
 * function widens its float argument to double, reduces the argument exactly or with an error
 * far below float resolution (Cody-Waite with split constants whose products with the reduction
 * integer are exact), evaluates a fixed polynomial by Horner's rule and rounds once to float.
 * Polynomials are Taylor expansions (coefficients 1/n! for exp, sin and cos; for erf, expansions
 * about the centres of sixteen intervals of width 1/4 on [0, 4), coefficients
 * erf^(n)(c) / n! = 2/sqrt(pi) (-1)^(n-1) H_(n-1)(c) e^(-c^2) / n! computed with 60-digit decimal
 * arithmetic and printed as round-tripping doubles). The truncation errors (below 1e-14
 * relative) are far smaller than half a float ulp (3e-8), so only values within 1e-14 of a
 * rounding boundary can round the other way: <= 1 ulp overall, and the same bits everywhere
 * because only correctly rounded IEEE operations are used. */
/* No multiply-add contraction. Clang honours the standard pragma; GCC ignores it (and warns),
 * so the build passes -ffp-contract=off for this file (GCC's default in ISO C mode anyway). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "detmath.h"

#include <math.h> /* NAN only: no libm function is called */
#include <stdint.h>
#include <string.h>

/* Nearest integer of |y| < 2^51 under round-to-nearest-even (adding 1.5 * 2^52 leaves no
 * fraction bits). */
static double round_nearest(double y)
{
    const double shifter = 0x1.8p52;
    return (y + shifter) - shifter; /* not foldable under IEEE semantics (no -ffast-math) */
}

/* 2^k as a double, for -1022 <= k <= 1023. */
static double pow2i(int k)
{
    const uint64_t bits = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ---- exp ------------------------------------------------------------------------------------ */

/* ln 2 split so that k * LN2_HI is exact for |k| < 2^21. */
static const double LN2_HI = 0x1.62e42fee00000p-1;
static const double LN2_LO = 0x1.a39ef35793c76p-33;
static const double LOG2E = 0x1.71547652b82fep+0;

/* 1/n! for n <= 13: the exp polynomials' coefficients. */
static const double inv_fact[14] = {
    1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333,
    0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05,
    2.7557319223985893e-06, 2.755731922398589e-07, 2.505210838544172e-08,
    2.08767569878681e-09, 1.6059043836821613e-10};

/* e^r for |r| <= ln(2)/2 by the Taylor polynomial of degree `deg` (11 or 13): truncation below
 * 1.4e-14 and 5e-18 relative. */
static double exp_poly(double r, int deg)
{
    double p = inv_fact[deg];
    for (int i = deg - 1; i >= 0; i--)
        p = p * r + inv_fact[i];
    return p;
}

/* e^x for -700 < x < 700 (callers clamp), as x = k ln2 + r; the scaling by 2^k is exact. */
static double exp_double(double x, int deg)
{
    const double k = round_nearest(x * LOG2E);
    const double r = (x - k * LN2_HI) - k * LN2_LO;
    return exp_poly(r, deg) * pow2i((int)k);
}

float ecl_det_expf(float x)
{
    if (x != x)
        return x;
    if (x < -110.0f)
        return 0.0f; /* below half the smallest subnormal float */
    if (x > 89.0f)
        return INFINITY;
    return (float)exp_double((double)x, 11);
}

/* Four lanes at a time, with the same operations as exp_double(x, 11) per lane. */
#if defined(__GNUC__) || defined(__clang__)
typedef float v4f_ __attribute__((vector_size(16)));
typedef double v4d_ __attribute__((vector_size(32)));
typedef int64_t v4l_ __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) int expf4(const float *x, float *y)
{
    static const double shifter = 0x1.8p52;
    v4f_ xf;
    memcpy(&xf, x, sizeof xf);
    const v4d_ xd = __builtin_convertvector(xf, v4d_);
    const v4l_ in_range = (xd >= -110.0) & (xd <= 89.0); /* false for NaN */
    int64_t ok[4];
    memcpy(ok, &in_range, sizeof ok);
    if (!(ok[0] & ok[1] & ok[2] & ok[3]))
        return 0;
    const v4d_ shifted = xd * LOG2E + shifter;
    const v4d_ k = shifted - shifter; /* round_nearest(x * LOG2E) */
    const v4d_ r = (xd - k * LN2_HI) - k * LN2_LO;
    v4d_ p = r * inv_fact[11] + inv_fact[10];
    for (int i = 9; i >= 0; i--)
        p = p * r + inv_fact[i];
    /* the low bits of `shifted` hold k (|k| < 2^51): 2^k without a float-to-int conversion */
    v4l_ kbits;
    memcpy(&kbits, &shifted, sizeof kbits);
    const v4l_ scale_bits = ((kbits - INT64_C(0x4338000000000000)) + 1023) << 52;
    v4d_ scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    const v4f_ out = __builtin_convertvector(p * scale, v4f_);
    memcpy(y, &out, sizeof out);
    return 1;
}
#endif

#if defined(__GNUC__) || defined(__clang__)
/* Sixteen lanes: expf4's operations on four vectors in lock-step, so that four Horner chains
 * are in flight at once (one chain is bound by its latency). Returns 0 if a value needs the
 * scalar path. */
static inline __attribute__((always_inline)) int expf16(const float *x, float *y)
{
    static const double shifter = 0x1.8p52;
    v4d_ xd[4], shifted[4], r[4], p[4];
    int64_t all = -1;
    for (int j = 0; j < 4; j++) {
        v4f_ xf;
        memcpy(&xf, x + 4 * j, sizeof xf);
        xd[j] = __builtin_convertvector(xf, v4d_);
        const v4l_ in_range = (xd[j] >= -110.0) & (xd[j] <= 89.0); /* false for NaN */
        all &= in_range[0] & in_range[1] & in_range[2] & in_range[3];
    }
    if (!all)
        return 0;
    for (int j = 0; j < 4; j++) {
        shifted[j] = xd[j] * LOG2E + shifter;
        const v4d_ k = shifted[j] - shifter;
        r[j] = (xd[j] - k * LN2_HI) - k * LN2_LO;
        p[j] = r[j] * inv_fact[11] + inv_fact[10];
    }
    for (int i = 9; i >= 0; i--)
        for (int j = 0; j < 4; j++)
            p[j] = p[j] * r[j] + inv_fact[i];
    for (int j = 0; j < 4; j++) {
        v4l_ kbits;
        memcpy(&kbits, &shifted[j], sizeof kbits);
        const v4l_ scale_bits = ((kbits - INT64_C(0x4338000000000000)) + 1023) << 52;
        v4d_ scale;
        memcpy(&scale, &scale_bits, sizeof scale);
        const v4f_ out = __builtin_convertvector(p[j] * scale, v4f_);
        memcpy(y + 4 * j, &out, sizeof out);
    }
    return 1;
}
#endif

static inline __attribute__((always_inline)) void expf_n(const float *x, float *y, int n)
{
    int i = 0;
#if defined(__GNUC__) || defined(__clang__)
    for (; i + 16 <= n; i += 16)
        if (!expf16(x + i, y + i))
            for (int j = i; j < i + 16; j++)
                y[j] = ecl_det_expf(x[j]);
    for (; i + 4 <= n; i += 4)
        if (!expf4(x + i, y + i))
            for (int j = i; j < i + 4; j++)
                y[j] = ecl_det_expf(x[j]);
#endif
    for (; i < n; i++)
        y[i] = ecl_det_expf(x[i]);
}

void ecl_det_expf_n(const float *x, float *y, int n) { expf_n(x, y, n); }

#if defined(ECL_DET_HAVE_AVX2)
/* The same operations on 256-bit registers (call only where the CPU has AVX2). */
__attribute__((target("avx2"))) void ecl_det_expf_n_avx2(const float *x, float *y, int n)
{
    expf_n(x, y, n);
}
#endif

float ecl_det_pow10000f(float e)
{
    static const double LN10000 = 0x1.26bb1bbb55516p+3;
    if (e != e)
        return e;
    return (float)exp_double((double)e * LN10000, 13);
}

/* ---- erf, GELU ------------------------------------------------------------------------------ */

/* Maclaurin coefficients of erf on |t| < 1/4: 2/sqrt(pi) (-1)^n / (n! (2n+1)); the first
 * omitted term is below 3e-16 relative. Relative accuracy near 0 (no cancellation). */
static const double erf_maclaurin[8] = {
    1.1283791670955126,    -0.37612638903183754,  0.11283791670955126,
    -0.026866170645131252, 0.005223977625442188,  -0.0008548327023450853,
    0.00012055332981789664, -1.492565035840625e-05};

/* Taylor coefficients (degree 11) of erf about c = (2i + 1) / 8 for the interval
 * [i/4, (i+1)/4), i = 1..15 (row i - 1); truncation error below 5e-15. */
static const double erf_taylor[15][12] = {
    /* c = 0.375 */
    {0.4041169094348223, 0.9803528095459079, -0.36763230357971544,
     -0.2348761939537071, 0.16658338755955857, 0.04547535005217834,
     -0.050106655439071245, -0.005458894072522925, 0.011248911770528577,
     0.00012404231100207624, -0.0020091097103080136, 0.00011668692026611574},
    /* c = 0.625 */
    {0.623240882188418, 0.7634995357606049, -0.47718720985037805,
     -0.055671841149210775, 0.1764598536425877, -0.027413411065883696,
     -0.04134483366596429, 0.01391000864651355, 0.0066861683631174625,
     -0.0036333583983661714, -0.0007344823536473329, 0.0006780134599198432},
    /* c = 0.875 */
    {0.7840750610598597, 0.5247450452901482, -0.45915191462887966,
     0.09292360177013041, 0.11239656243519451, -0.0672158773833572,
     -0.010367785745906018, 0.018595726765847267, -0.0018461468559063715,
     -0.0032568627602662854, 0.000898154868541066, 0.0003900529044120407},
    /* c = 1.125 */
    {0.8883882317017078, 0.3182739585007693, -0.35805820331336546,
     0.16245233298476766, 0.027973297133856677, -0.061323683605665806,
     0.015536835449762896, 0.009606894225829976, -0.006031260883106729,
     -0.0003601919898013683, 0.0011532673547020597, -0.0001769550878579247},
    /* c = 1.375 */
    {0.9481700727820903, 0.1703597736875156, -0.23424468882033395,
     0.15793770685613426, -0.03050061052348098, -0.030605976268925736,
     0.022161235262852557, -0.001419062360662139, -0.004261033441276509,
     0.001577911232741016, 0.00032359146722315554, -0.0003391015230725006},
    /* c = 1.625 */
    {0.9784437332399837, 0.08047225902251116, -0.13076742091158064,
     0.11484061964670864, -0.049718863159090555, -0.0021349248406037306,
     0.014414781131084502, -0.006184261515478821, -0.000576525430283408,
     0.0014106850333898903, -0.00035597922602355293, -0.00012566368868411414},
    /* c = 1.875 */
    {0.9919900576701199, 0.03354582842421607, -0.06289842829540514,
     0.0674410925611844, -0.04225988151097533, 0.011462583364876176,
     0.004105187133212477, -0.004928393908239107, 0.001430501687370122,
     0.00036225644575338666, -0.0003901575782455417, 7.37299378240623e-05},
    /* c = 2.125 */
    {0.9973459706405177, 0.012340820614333696, -0.026224243805459103,
     0.033037405186289164, -0.026360828408612536, 0.012495482591433906,
     -0.0018214125933023405, -0.0018692572567887945, 0.0013833456162338344,
     -0.0002897798521792673, -0.00012277167237649306, 9.485303104752515e-05},
    /* c = 2.375 */
    {0.9992170617821089, 0.004006477861670219, -0.009515384921466771,
     0.013730533505098981, -0.013133213563482782, 0.00835739283377895,
     -0.0031140790431462596, 0.0001232696283780691, 0.0005941113102532914,
     -0.00033752784148497275, 5.4705936215888043e-05, 3.1608810695225705e-05},
    /* c = 2.625 */
    {0.9997946242638588, 0.001147875125882675, -0.003013172205442022,
     0.004890426317562647, -0.005414293806653633, 0.004217880601717521,
     -0.0022468338447285286, 0.0006808680974231771, 3.464470636501039e-05,
     -0.00015260043098965162, 7.395616736023192e-05, -1.0326282078167697e-05},
    /* c = 2.875 */
    {0.9999521451602562, 0.00029022828286249803, -0.0008344063132296819,
     0.001502536006069391, -0.001881760070981522, 0.0017132632798079331,
     -0.0011400746242208634, 0.0005285700413700108, -0.00013560801204451028,
     -1.6139055904620542e-05, 3.338804817529197e-05, -1.4811906943601079e-05},
    /* c = 3.125 */
    {0.9999901032653747, 6.475868323471298e-05, -0.00020237088510847805,
     0.0004000197828977583, -0.0005575739490749213, 0.0005769615014743242,
     -0.00045231517761577534, 0.00026648105109162697, -0.00011126364024766743,
     2.5450656904174918e-05, 3.873542145587109e-06, -6.36552916703948e-06},
    /* c = 3.375 */
    {0.9999981847185726, 1.2751740799765088e-05, -4.303712519920718e-05,
     9.258295143162778e-05, -0.00014188802214113615, 0.00016377394446104548,
     -0.0001464088816143732, 0.0001021861966850395, -5.484627167849354e-05,
     2.126516551455692e-05, -4.603538423927069e-06, -6.548557786086127e-07},
    /* c = 3.625 */
    {0.9999997048598075, 2.2159202846331124e-06, -8.032711031795032e-06,
     1.8673744898626958e-05, -3.1168592284829685e-05, 3.959233534341495e-05,
     -3.952911393067182e-05, 3.151412148928749e-05, -2.0089148185951398e-05,
     1.0055179082432725e-05, -3.7186007128168107e-06, 8.055029835948156e-07},
    /* c = 3.875 */
    {0.999999957486056, 3.398223817809154e-07, -1.3168117294010471e-06,
     3.2884895070257334e-06, -5.9325111767286764e-06, 8.208845471821727e-06,
     -9.021089087308752e-06, 8.033147329562849e-06, -5.849020956804992e-06,
     3.4746560653893003e-06, -1.6530325028002647e-06, 5.960564526364828e-07},
};

float ecl_det_erff(float x)
{
    if (x != x)
        return x;
    const double t = x < 0.0f ? -(double)x : (double)x;
    double r;
    if (t >= 4.0) {
        r = 1.0; /* erfc(4) = 1.5e-8 < 2^-25: rounds to 1 */
    } else if (t < 0.25) {
        const double z = t * t;
        double p = erf_maclaurin[7];
        for (int i = 6; i >= 0; i--)
            p = p * z + erf_maclaurin[i];
        r = p * t;
    } else {
        const int i = (int)(t * 4.0); /* 1..15 */
        const double h = t - (double)(2 * i + 1) * 0.125;
        const double *a = erf_taylor[i - 1];
        double p = a[11];
        for (int j = 10; j >= 0; j--)
            p = p * h + a[j];
        r = p;
    }
    return (float)(x < 0.0f ? -r : r);
}

float ecl_det_gelu(float x)
{
    const float sqrt1_2 = 0.70710678118654752440f;
    return x * 0.5f * (1.0f + ecl_det_erff(x * sqrt1_2));
}

/* ---- sin, cos ------------------------------------------------------------------------------- */

/* pi/2 = P1 + P2 + P3 with P1 and P2 of 24 significant bits, so that k * P1 and k * P2 are
 * exact for |k| < 2^29; the neglected tail (2^-101 relative) times k stays below 2^-72. */
static const double PIO2_1 = 0x1.921fb40000000p+0;
static const double PIO2_2 = 0x1.4442d00000000p-24;
static const double PIO2_3 = 0x1.8469898cc5170p-48;
static const double TWO_OVER_PI = 0.6366197723675814;

/* sin r and cos r for |r| <= pi/4 (+ a hair) by Taylor polynomials through r^15 and r^16;
 * truncation below 5e-17 and 3e-18. */
static double sin_poly(double r)
{
    static const double s[8] = {1.0, -0.16666666666666666, 0.008333333333333333,
                                -0.0001984126984126984, 2.7557319223985893e-06,
                                -2.505210838544172e-08, 1.6059043836821613e-10,
                                -7.647163731819816e-13};
    const double z = r * r;
    double p = s[7];
    for (int i = 6; i >= 0; i--)
        p = p * z + s[i];
    return p * r;
}

static double cos_poly(double r)
{
    static const double c[9] = {1.0, -0.5, 0.041666666666666664, -0.001388888888888889,
                                2.48015873015873e-05, -2.755731922398589e-07,
                                2.08767569878681e-09, -1.1470745597729725e-11,
                                4.779477332387385e-14};
    const double z = r * r;
    double p = c[8];
    for (int i = 7; i >= 0; i--)
        p = p * z + c[i];
    return p;
}

/* x = k pi/2 + r with |r| <= pi/4 (plus rounding); returns r and k mod 4. */
static double reduce_pio2(double x, int *quadrant)
{
    const double k = round_nearest(x * TWO_OVER_PI);
    const double r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    *quadrant = (int)((int64_t)k & 3);
    return r;
}

float ecl_det_sinf(float x)
{
    if (!(x >= -ECL_DET_TRIG_MAX && x <= ECL_DET_TRIG_MAX))
        return NAN;
    int q;
    const double r = reduce_pio2((double)x, &q);
    double v;
    switch (q) {
    case 0: v = sin_poly(r); break;
    case 1: v = cos_poly(r); break;
    case 2: v = -sin_poly(r); break;
    default: v = -cos_poly(r); break;
    }
    return (float)v;
}

float ecl_det_cosf(float x)
{
    if (!(x >= -ECL_DET_TRIG_MAX && x <= ECL_DET_TRIG_MAX))
        return NAN;
    int q;
    const double r = reduce_pio2((double)x, &q);
    double v;
    switch (q) {
    case 0: v = cos_poly(r); break;
    case 1: v = -sin_poly(r); break;
    case 2: v = -cos_poly(r); break;
    default: v = sin_poly(r); break;
    }
    return (float)v;
}
