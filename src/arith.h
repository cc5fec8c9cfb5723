/* The reference's integer arithmetic coder (spec 9.2-9.5) and its CDF quantisation (spec 9.1).
 * The coder works on 64-bit integers with total_range_bits 24 and emits/consumes single bits
 * through the LSB-first bit packer; it has no carry handling, so the number of pending bits
 * (max_bit) is bounded exactly where the reference asserts it. The decoder is incremental: when
 * its bit reader runs dry it keeps its state and asks for more input. */
#ifndef ECL_ARITH_H
#define ECL_ARITH_H

#include <stdint.h>

#include "bitpack.h"
#include "encodec.h"

#define ECL_AC_RANGE_BITS 24
#define ECL_AC_TOTAL (UINT64_C(1) << ECL_AC_RANGE_BITS)
/* The reference asserts max_bit <= 61 after every symbol. */
#define ECL_AC_MAX_BIT 61

/* Errors: a stream the encoder cannot represent (max_bit past the bound, as in the reference),
 * and a payload no symbol fits (damaged stream or mismatched CDFs). No dedicated public code
 * exists for either; these are the closest. */
#define ECL_AC_EOVERFLOW ENCODEC_EUNSUPPORTED
#define ECL_AC_ECORRUPT ENCODEC_EECDC_CORRUPT

/* Quantised CDF of a float32 pdf over n symbols (spec 9.1, roundoff 1e-8, min_range 2,
 * total_range_bits 24), computed with exactly the reference's float32 operations. cdf[i] is the
 * end of symbol i's range, so symbol s owns [s ? cdf[s-1] : 0, cdf[s]). The rare CDF that
 * would end past 2^24 has its last entries lowered to end at 2^24 (see arith.c).
 * ENCODEC_EINVAL for n outside 1..2^22 or a pdf entry outside [0, 1] (NaN included). */
int ecl_quantize_cdf(const float *pdf, int n, int32_t *cdf);
/* The same with the vector path (AVX2 where the CPU has it; identical results) allowed or not:
 * for tests. */
int ecl_quantize_cdf_simd(const float *pdf, int n, int32_t *cdf, int allow_simd);

typedef struct {
    uint64_t low, high; /* current interval, < 2^(max_bit + 1) */
    int max_bit;        /* highest pending bit, -1 when none */
} ecl_ac_encoder;

void ecl_ac_encoder_init(ecl_ac_encoder *e);
/* Encode a symbol given by its range [range_low, range_high) in units of 2^-24 (that is
 * [cdf[s-1] or 0, cdf[s])). ENCODEC_EINVAL for an empty range or one past 2^24,
 * ECL_AC_EOVERFLOW past the max_bit bound, or a bit writer error; after an error the encoder
 * must not be used further. */
int ecl_ac_encode_range(ecl_ac_encoder *e, ecl_bitwriter *w, uint32_t range_low,
                        uint32_t range_high);
/* Encode symbol s (0 <= s < n) with a quantised CDF of n entries. */
int ecl_ac_encode(ecl_ac_encoder *e, ecl_bitwriter *w, const int32_t *cdf, int n, int s);
/* The K codes of a frame, code k with the CDF cdfs[k * n .. (k + 1) * n). */
int ecl_ac_encode_frame(ecl_ac_encoder *e, ecl_bitwriter *w, const int32_t *cdfs, int n,
                        const int32_t *codes, int K);
/* End of a segment: emit the pending bits, pad the byte with zeros, and reset the encoder. */
int ecl_ac_encoder_finish(ecl_ac_encoder *e, ecl_bitwriter *w);

typedef struct {
    uint64_t low, high, current;
    int max_bit;
} ecl_ac_decoder;

void ecl_ac_decoder_init(ecl_ac_decoder *d);
/* Decode one symbol with a quantised CDF of n entries, pulling bits from r.
 * Returns 1 and sets *s; 0 when r ran out of bits (state kept: feed r and call again with the
 * same CDF); ENCODEC_EINVAL for CDF entries outside [0, 2^24]; ECL_AC_ECORRUPT when no symbol
 * fits or max_bit would overflow. */
int ecl_ac_decode(ecl_ac_decoder *d, ecl_bitreader *r, const int32_t *cdf, int n, int *s);
/* Codes *k .. K-1 of a frame (code k with cdfs[k * n ..]), *k advancing with each symbol: 1 when
 * the frame is complete; 0 when r ran out (feed it and call again: it resumes at *k); or
 * ecl_ac_decode's errors. */
int ecl_ac_decode_frame(ecl_ac_decoder *d, ecl_bitreader *r, const int32_t *cdfs, int n,
                        int32_t *codes, int K, int *k);

#endif
