/* Arithmetic coder and CDF quantisation, integer-exact with the reference (spec 9). The coder
 * state lives in 64-bit integers; every product range * delta stays below 2^49, so the
 * reference's double-precision ceil/floor become exact shifts. The CDF quantisation is the one
 * float computation that decides bitstream bytes: it must be built without FMA contraction or
 * reassociation (-ffp-contract=off, no -ffast-math); it is written as single float32 operations
 * separated by floorf, so no multiply-add exists for a compiler to fuse. */
#include "arith.h"

#include <math.h>

#if defined(__clang__) || !defined(__GNUC__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Float32 part of spec 9.1 for one entry: floor(scale * (floor(p / 1e-8) * 1e-8)). */
static inline float quantized_range(float p, float scale)
{
    const float roundoff = 1e-8f;
    float q = p / roundoff; /* true division, as PyTorch's CPU kernel does */
    q = floorf(q);
    float rounded = q * roundoff;
    float scaled = scale * rounded;
    return floorf(scaled);
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ARITH_HAVE_AVX2 1
/* Eight entries with the same IEEE operations (floor and the conversion of integers below 2^24
 * are exact). Returns 0 if one is outside [0, 1] or NaN. */
__attribute__((target("avx2"))) static int quantized_ranges8(const float *pdf, float scale,
                                                             int32_t *out)
{
    const __m256 p = _mm256_loadu_ps(pdf), roundoff = _mm256_set1_ps(1e-8f);
    const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(p, _mm256_setzero_ps(), _CMP_GE_OQ),
                                    _mm256_cmp_ps(p, _mm256_set1_ps(1.0f), _CMP_LE_OQ));
    if (_mm256_movemask_ps(ok) != 0xff)
        return 0;
    const __m256 q = _mm256_floor_ps(_mm256_div_ps(p, roundoff));
    const __m256 scaled = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_mul_ps(q, roundoff));
    _mm256_storeu_si256((__m256i *)(void *)out, _mm256_cvttps_epi32(_mm256_floor_ps(scaled)));
    return 1;
}
#endif

int ecl_quantize_cdf_simd(const float *pdf, int n, int32_t *cdf, int allow_simd)
{
    if (!pdf || !cdf || n < 1 || n > (1 << 22))
        return ENCODEC_EINVAL;
    /* (1 - min_range * n / 2^24) * 2^24 evaluated by the reference in double: exact, and an
     * integer below 2^24, so exact in float32 too */
    const float scale = (float)(16777216 - 2 * n);
    int64_t sum = 0;
    int i = 0;
#ifdef ARITH_HAVE_AVX2
    if (allow_simd && __builtin_cpu_supports("avx2"))
        for (int32_t r[8]; i + 8 <= n; i += 8) {
            if (!quantized_ranges8(pdf + i, scale, r))
                return ENCODEC_EINVAL;
            for (int j = 0; j < 8; j++) {
                sum += (int64_t)r[j] + 2;
                if (sum > INT32_MAX)
                    return ENCODEC_EINVAL;
                cdf[i + j] = (int32_t)sum;
            }
        }
#else
    (void)allow_simd;
#endif
    for (; i < n; i++) {
        const float p = pdf[i];
        if (!(p >= 0.0f && p <= 1.0f))
            return ENCODEC_EINVAL;
        sum += (int64_t)quantized_range(p, scale) + 2;
        if (sum > INT32_MAX)
            return ENCODEC_EINVAL;
        cdf[i] = (int32_t)sum;
    }
    /* A pdf whose float32 entries sum to a little over 1 (a peaked softmax: rounding errors
     * that the floors of small entries do not absorb) ends a few units past 2^24, where the
     * reference's coder leaves its interval (it asserts or writes a wrong bit). Pull the tail
     * back under 2^24 keeping every range >= 2: only the last symbols change, by those units. */
    const int64_t total = INT64_C(1) << ECL_AC_RANGE_BITS;
    for (int j = n - 1; j >= 0 && cdf[j] > total - 2 * (int64_t)(n - 1 - j); j--)
        cdf[j] = (int32_t)(total - 2 * (int64_t)(n - 1 - j));
    return ENCODEC_OK;
}

int ecl_quantize_cdf(const float *pdf, int n, int32_t *cdf)
{
    return ecl_quantize_cdf_simd(pdf, n, cdf, 1);
}

void ecl_ac_encoder_init(ecl_ac_encoder *e)
{
    e->low = 0;
    e->high = 0;
    e->max_bit = -1;
}

int ecl_ac_encode_range(ecl_ac_encoder *e, ecl_bitwriter *w, uint32_t range_low,
                        uint32_t range_high)
{
    if (range_low >= range_high || range_high > ECL_AC_TOTAL)
        return ENCODEC_EINVAL;
    while (e->high - e->low + 1 < ECL_AC_TOTAL) {
        /* high < 2^(max_bit + 1) must stay representable after doubling */
        if (e->max_bit + 1 > ECL_AC_MAX_BIT + 1)
            return ECL_AC_EOVERFLOW;
        e->low *= 2;
        e->high = e->high * 2 + 1;
        e->max_bit++;
    }
    uint64_t delta = e->high - e->low + 1;
    uint64_t eff_low = ((uint64_t)range_low * delta + ECL_AC_TOTAL - 1) >> ECL_AC_RANGE_BITS;
    uint64_t eff_high = ((uint64_t)(range_high - 1) * delta) >> ECL_AC_RANGE_BITS;
    e->high = e->low + eff_high;
    e->low = e->low + eff_low;
    while (e->max_bit >= 0) {
        uint64_t b1 = e->low >> e->max_bit;
        if (b1 != e->high >> e->max_bit)
            break;
        e->low -= b1 << e->max_bit;
        e->high -= b1 << e->max_bit;
        e->max_bit--;
        int rc = ecl_bitwriter_push(w, (uint32_t)b1, 1);
        if (rc < 0)
            return rc;
    }
    if (e->max_bit > ECL_AC_MAX_BIT)
        return ECL_AC_EOVERFLOW;
    return ENCODEC_OK;
}

int ecl_ac_encode(ecl_ac_encoder *e, ecl_bitwriter *w, const int32_t *cdf, int n, int s)
{
    if (!cdf || s < 0 || s >= n)
        return ENCODEC_EINVAL;
    int32_t lo = s > 0 ? cdf[s - 1] : 0;
    int32_t hi = cdf[s];
    if (lo < 0 || hi < 0)
        return ENCODEC_EINVAL;
    return ecl_ac_encode_range(e, w, (uint32_t)lo, (uint32_t)hi);
}

int ecl_ac_encode_frame(ecl_ac_encoder *e, ecl_bitwriter *w, const int32_t *cdfs, int n,
                        const int32_t *codes, int K)
{
    int rc = ENCODEC_OK;
    for (int k = 0; k < K && rc == ENCODEC_OK; k++)
        rc = ecl_ac_encode(e, w, cdfs + (size_t)k * (size_t)n, n, codes[k]);
    return rc;
}

int ecl_ac_encoder_finish(ecl_ac_encoder *e, ecl_bitwriter *w)
{
    while (e->max_bit >= 0) {
        int rc = ecl_bitwriter_push(w, (uint32_t)((e->low >> e->max_bit) & 1), 1);
        if (rc < 0)
            return rc;
        e->max_bit--;
    }
    ecl_ac_encoder_init(e);
    return ecl_bitwriter_flush(w);
}

void ecl_ac_decoder_init(ecl_ac_decoder *d)
{
    d->low = 0;
    d->high = 0;
    d->current = 0;
    d->max_bit = -1;
}

int ecl_ac_decode(ecl_ac_decoder *d, ecl_bitreader *r, const int32_t *cdf, int n, int *s)
{
    if (!cdf || n < 1)
        return ENCODEC_EINVAL;
    while (d->high - d->low + 1 < ECL_AC_TOTAL) {
        /* a valid stream never gets here (the encoder enforced the bound); damage can */
        if (d->max_bit + 1 > ECL_AC_MAX_BIT + 1)
            return ECL_AC_ECORRUPT;
        uint32_t bit;
        int got = ecl_bitreader_read(r, 1, &bit);
        if (got <= 0)
            return got;
        d->low *= 2;
        d->high = d->high * 2 + 1;
        d->current = d->current * 2 + bit;
        d->max_bit++;
    }
    uint64_t delta = d->high - d->low + 1;
    /* the reference's binary search, same probes and the same decisions, so that a damaged
     * CDF or stream fails (or not) exactly like it */
    int lo_idx = 0, hi_idx = n - 1, sym = -1;
    uint64_t new_low = 0, new_high = 0;
    while (lo_idx <= hi_idx) {
        int mid = lo_idx + (hi_idx - lo_idx) / 2;
        int32_t c_lo = mid > 0 ? cdf[mid - 1] : 0;
        int32_t c_hi = cdf[mid];
        if (c_lo < 0 || c_hi < 0 || (uint64_t)c_lo > ECL_AC_TOTAL ||
            (uint64_t)c_hi > ECL_AC_TOTAL)
            return ENCODEC_EINVAL;
        uint64_t cand_low =
            d->low + (((uint64_t)c_lo * delta + ECL_AC_TOTAL - 1) >> ECL_AC_RANGE_BITS);
        if (d->current < cand_low) {
            hi_idx = mid - 1;
            continue;
        }
        /* c_hi == 0: the candidate's high lies below low <= current, so go right */
        if (c_hi > 0) {
            uint64_t cand_high =
                d->low + (((uint64_t)(c_hi - 1) * delta) >> ECL_AC_RANGE_BITS);
            if (d->current <= cand_high) {
                sym = mid;
                new_low = cand_low;
                new_high = cand_high;
                break;
            }
        }
        lo_idx = mid + 1;
    }
    if (sym < 0)
        return ECL_AC_ECORRUPT;
    d->low = new_low;
    d->high = new_high;
    while (d->max_bit >= 0) {
        uint64_t b1 = d->low >> d->max_bit;
        if (b1 != d->high >> d->max_bit)
            break;
        d->low -= b1 << d->max_bit;
        d->high -= b1 << d->max_bit;
        d->current -= b1 << d->max_bit;
        d->max_bit--;
    }
    *s = sym;
    return 1;
}

int ecl_ac_decode_frame(ecl_ac_decoder *d, ecl_bitreader *r, const int32_t *cdfs, int n,
                        int32_t *codes, int K, int *k)
{
    for (; *k < K; (*k)++) {
        int s;
        const int got = ecl_ac_decode(d, r, cdfs + (size_t)*k * (size_t)n, n, &s);
        if (got <= 0)
            return got;
        codes[*k] = s;
    }
    return 1;
}
