/* Tests of the LSB-first bit packer (src/bitpack.c), the arithmetic coder and the CDF
 * quantisation (src/arith.c) against the reference's golden vectors: CDFs from `ac.pdf` and
 * `lm.probs` equal the stored `ac.cdf` / `lm.cdf` exactly; coding `ac.symbols` gives `ac.bytes`
 * byte for byte; decoding `ac.bytes` (in one piece or byte by byte) gives the symbols back and
 * consumes exactly the bytes written. Also seeded random round trips of the packer, the coder's
 * bound on pending bits, and damaged input that must fail cleanly. */
#include "testutil.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arith.h"
#include "bitpack.h"


/* ---- CDF quantisation --------------------------------------------------------------------- */

static void check_cdfs(const char *golden, const char *pdf_name, const char *cdf_name)
{
    tu_golden *g = tu_golden_open(golden);
    int64_t pshape[8], cshape[8];
    int pd, cd;
    size_t np, nc;
    const float *pdf = tu_golden_f32(g, pdf_name, pshape, &pd, &np);
    const int32_t *want = tu_golden_i32(g, cdf_name, cshape, &cd, &nc);
    assert_int_equal(np, nc);
    const int n = (int)pshape[pd - 1];
    assert_int_equal(n, (int)cshape[cd - 1]);
    int32_t *cdf = malloc((size_t)n * sizeof *cdf);
    assert_non_null(cdf);
    size_t rows = np / (size_t)n, bad = 0;
    for (size_t r = 0; r < rows; r++) {
        assert_int_equal(ecl_quantize_cdf(pdf + r * (size_t)n, n, cdf), ENCODEC_OK);
        for (int i = 0; i < n; i++) {
            if (cdf[i] != want[r * (size_t)n + (size_t)i]) {
                if (bad++ < 5)
                    printf("%s row %zu entry %d: got %d want %d\n", golden, r, i, cdf[i],
                           want[r * (size_t)n + (size_t)i]);
            }
        }
    }
    if (bad)
        fail_msg("%s: %zu CDF entries differ from %s", golden, bad, cdf_name);
    free(cdf);
    tu_golden_close(g);
}

static void test_cdf_ac(void **state)
{
    (void)state;
    check_cdfs("tiny24.golden.safetensors", "ac.pdf", "ac.cdf");
}

static void test_cdf_lm24(void **state)
{
    (void)state;
    check_cdfs("tiny24.golden.safetensors", "lm.probs", "lm.cdf");
}

static void test_cdf_lm48(void **state)
{
    (void)state;
    check_cdfs("tiny48.golden.safetensors", "lm.probs", "lm.cdf");
}

static void test_cdf_bad_input(void **state)
{
    (void)state;
    float pdf[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    int32_t cdf[4];
    assert_int_equal(ecl_quantize_cdf(pdf, 0, cdf), ENCODEC_EINVAL);
    assert_int_equal(ecl_quantize_cdf(NULL, 4, cdf), ENCODEC_EINVAL);
    pdf[2] = -0.1f;
    assert_int_equal(ecl_quantize_cdf(pdf, 4, cdf), ENCODEC_EINVAL);
    pdf[2] = 0.0f / 0.0f;
    assert_int_equal(ecl_quantize_cdf(pdf, 4, cdf), ENCODEC_EINVAL);
    /* all-zero pdf: every symbol still gets min_range = 2 */
    memset(pdf, 0, sizeof pdf);
    assert_int_equal(ecl_quantize_cdf(pdf, 4, cdf), ENCODEC_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(cdf[i], 2 * (i + 1));
}

/* The vector path gives the scalar path's CDF (and errors) for every length and position of a
 * bad entry, on random, peaked and tiny probabilities. */
static void test_cdf_paths_agree(void **state)
{
    (void)state;
    uint32_t rng = tu_seed();
    enum { MAXN = 1100 };
    float pdf[MAXN];
    int32_t a[MAXN], b[MAXN];
    for (int trial = 0; trial < 400; trial++) {
        const int n = 1 + (int)(tu_rand(&rng) % MAXN);
        double sum = 0;
        for (int j = 0; j < n; j++) {
            const uint32_t v = tu_rand(&rng);
            pdf[j] = trial % 3 == 0 ? (float)(v >> 8) : (float)(v >> 20) * ((v & 7) ? 1e-9f : 1.0f);
            sum += pdf[j];
        }
        for (int j = 0; j < n; j++)
            pdf[j] = sum > 0 ? (float)(pdf[j] / sum) : 0.0f;
        if (trial % 5 == 4) /* an entry outside [0, 1] somewhere */
            pdf[tu_rand(&rng) % (uint32_t)n] = trial % 2 ? -1e-30f : 0.0f / 0.0f;
        const int ra = ecl_quantize_cdf_simd(pdf, n, a, 0), rb = ecl_quantize_cdf_simd(pdf, n, b, 1);
        assert_int_equal(ra, rb);
        if (ra == ENCODEC_OK)
            assert_memory_equal(a, b, sizeof(int32_t) * (size_t)n);
    }
}

/* Two float32 probabilities whose exact sum is 1 + 3e-8: the reference formula ends the CDF
 * at 2^24 + 1 (one unit past the coder's range). The tail is pulled back under 2^24 with every
 * range >= 2, the other entries are the formula's, and both symbols code and decode. */
static void test_cdf_overfull(void **state)
{
    (void)state;
    enum { N = 64 };
    const uint32_t bits_a = 1055935513u, bits_b = 1057479156u;
    float pdf[N] = {0};
    memcpy(&pdf[10], &bits_a, sizeof bits_a);
    memcpy(&pdf[20], &bits_b, sizeof bits_b);
    int32_t cdf[N];
    assert_int_equal(ecl_quantize_cdf(pdf, N, cdf), ENCODEC_OK);
    /* the reference formula, entry by entry (float32 operations as in spec 9.1) */
    const float scale = (float)(16777216 - 2 * N);
    int64_t sum = 0;
    int changed = 0;
    for (int i = 0; i < N; i++) {
        const float rounded = floorf(pdf[i] / 1e-8f) * 1e-8f;
        sum += (int64_t)floorf(scale * rounded) + 2;
        assert_true(cdf[i] <= sum);
        changed += cdf[i] != sum;
        assert_true(cdf[i] - (i ? cdf[i - 1] : 0) >= 2);
    }
    assert_true(sum == (INT64_C(1) << 24) + 1); /* the case this test is about */
    assert_int_equal(cdf[N - 1], 1 << 24);
    assert_true(changed >= 1 && changed <= 44); /* symbols 20..63 only */
    for (int s = 0; s < N; s += 10) {
        ecl_bitwriter w;
        ecl_bitwriter_init_growable(&w);
        ecl_ac_encoder e;
        ecl_ac_encoder_init(&e);
        const int syms[4] = {s, 20, N - 1, 10};
        for (int k = 0; k < 4; k++)
            assert_int_equal(ecl_ac_encode(&e, &w, cdf, N, syms[k]), ENCODEC_OK);
        assert_int_equal(ecl_ac_encoder_finish(&e, &w), ENCODEC_OK);
        ecl_bitreader r;
        ecl_bitreader_init(&r);
        ecl_bitreader_feed(&r, w.buf, w.len);
        ecl_ac_decoder d;
        ecl_ac_decoder_init(&d);
        for (int k = 0; k < 4; k++) {
            int got;
            assert_int_equal(ecl_ac_decode(&d, &r, cdf, N, &got), 1);
            assert_int_equal(got, syms[k]);
        }
        ecl_bitwriter_free(&w);
    }
}

/* ---- arithmetic coder --------------------------------------------------------------------- */

typedef struct {
    tu_golden *g;
    const int32_t *cdf;     /* [n_sym][n] */
    const int32_t *symbols; /* [n_sym] */
    const uint8_t *bytes;
    size_t n_sym, n_bytes;
    int n;
} ac_golden;

static void ac_open(ac_golden *a)
{
    int64_t shape[8];
    int nd;
    a->g = tu_golden_open("tiny24.golden.safetensors");
    a->cdf = tu_golden_i32(a->g, "ac.cdf", shape, &nd, NULL);
    assert_int_equal(nd, 2);
    a->n = (int)shape[1];
    a->symbols = tu_golden_i32(a->g, "ac.symbols", NULL, NULL, &a->n_sym);
    assert_int_equal(a->n_sym, (size_t)shape[0]);
    a->bytes = tu_golden_u8(a->g, "ac.bytes", &a->n_bytes);
}

static void test_ac_encode_golden(void **state)
{
    (void)state;
    ac_golden a;
    ac_open(&a);
    ecl_bitwriter w;
    ecl_bitwriter_init_growable(&w);
    ecl_ac_encoder e;
    ecl_ac_encoder_init(&e);
    for (size_t i = 0; i < a.n_sym; i++)
        assert_int_equal(ecl_ac_encode(&e, &w, a.cdf + i * (size_t)a.n, a.n, a.symbols[i]),
                         ENCODEC_OK);
    assert_int_equal(ecl_ac_encoder_finish(&e, &w), ENCODEC_OK);
    assert_int_equal(w.len, a.n_bytes);
    assert_memory_equal(w.buf, a.bytes, a.n_bytes);
    ecl_bitwriter_free(&w);

    /* the same into a fixed buffer that is exactly large enough, then one that is too small */
    uint8_t *buf = malloc(a.n_bytes);
    assert_non_null(buf);
    ecl_bitwriter_init_fixed(&w, buf, a.n_bytes);
    ecl_ac_encoder_init(&e);
    for (size_t i = 0; i < a.n_sym; i++)
        assert_int_equal(ecl_ac_encode(&e, &w, a.cdf + i * (size_t)a.n, a.n, a.symbols[i]),
                         ENCODEC_OK);
    assert_int_equal(ecl_ac_encoder_finish(&e, &w), ENCODEC_OK);
    assert_memory_equal(buf, a.bytes, a.n_bytes);
    ecl_bitwriter_init_fixed(&w, buf, a.n_bytes - 1);
    ecl_ac_encoder_init(&e);
    int rc = ENCODEC_OK;
    for (size_t i = 0; i < a.n_sym && rc == ENCODEC_OK; i++)
        rc = ecl_ac_encode(&e, &w, a.cdf + i * (size_t)a.n, a.n, a.symbols[i]);
    if (rc == ENCODEC_OK)
        rc = ecl_ac_encoder_finish(&e, &w);
    assert_int_equal(rc, ENCODEC_EBUFFER);
    free(buf);
    tu_golden_close(a.g);
}

/* Decode all symbols, feeding `step` bytes at a time (0: everything at once). */
static void ac_decode_with_step(const ac_golden *a, size_t step)
{
    /* an exact-size copy, so ASan catches any read past the end */
    uint8_t *bytes = malloc(a->n_bytes);
    assert_non_null(bytes);
    memcpy(bytes, a->bytes, a->n_bytes);
    ecl_bitreader r;
    ecl_bitreader_init(&r);
    ecl_ac_decoder d;
    ecl_ac_decoder_init(&d);
    size_t fed = step ? 0 : a->n_bytes;
    ecl_bitreader_feed(&r, bytes, fed);
    for (size_t i = 0; i < a->n_sym; i++) {
        int s = -1, rc;
        while ((rc = ecl_ac_decode(&d, &r, a->cdf + i * (size_t)a->n, a->n, &s)) == 0) {
            assert_int_equal(ecl_bitreader_available(&r), 0);
            if (fed >= a->n_bytes)
                fail_msg("decoder wants more than the %zu bytes written (symbol %zu)",
                         a->n_bytes, i);
            size_t n = a->n_bytes - fed < step ? a->n_bytes - fed : step;
            ecl_bitreader_feed(&r, bytes + fed, n);
            fed += n;
        }
        assert_int_equal(rc, 1);
        if (s != a->symbols[i])
            fail_msg("symbol %zu: got %d want %d (step %zu)", i, s, a->symbols[i], step);
    }
    /* exactly the bytes the encoder wrote were consumed */
    assert_int_equal(fed, a->n_bytes);
    assert_int_equal(ecl_bitreader_available(&r), 0);
    free(bytes);
}

static void test_ac_decode_golden(void **state)
{
    (void)state;
    ac_golden a;
    ac_open(&a);
    ac_decode_with_step(&a, 0);
    ac_decode_with_step(&a, 1);
    ac_decode_with_step(&a, 7);
    tu_golden_close(a.g);
}

/* Every truncation of ac.bytes: the symbols that decode are right, and the decoder then asks
 * for more input instead of reading past the end. */
static void test_ac_decode_truncated(void **state)
{
    (void)state;
    ac_golden a;
    ac_open(&a);
    for (size_t cut = 0; cut < a.n_bytes; cut++) {
        uint8_t *bytes = malloc(cut ? cut : 1);
        assert_non_null(bytes);
        memcpy(bytes, a.bytes, cut);
        ecl_bitreader r;
        ecl_bitreader_init(&r);
        ecl_bitreader_feed(&r, bytes, cut);
        ecl_ac_decoder d;
        ecl_ac_decoder_init(&d);
        size_t i;
        for (i = 0; i < a.n_sym; i++) {
            int s, rc = ecl_ac_decode(&d, &r, a.cdf + i * (size_t)a.n, a.n, &s);
            if (rc == 0)
                break;
            assert_int_equal(rc, 1);
            assert_int_equal(s, a.symbols[i]);
        }
        assert_true(i < a.n_sym);
        free(bytes);
    }
    tu_golden_close(a.g);
}

/* A CDF that leaves the top of [0, 2^24) unused makes all-ones input undecodable. */
static void test_ac_decode_corrupt(void **state)
{
    (void)state;
    int32_t cdf[4] = {2, 4, 6, 8};
    uint8_t ones[8];
    memset(ones, 0xff, sizeof ones);
    ecl_bitreader r;
    ecl_bitreader_init(&r);
    ecl_bitreader_feed(&r, ones, sizeof ones);
    ecl_ac_decoder d;
    ecl_ac_decoder_init(&d);
    int s;
    assert_int_equal(ecl_ac_decode(&d, &r, cdf, 4, &s), ECL_AC_ECORRUPT);
    /* CDF entries outside [0, 2^24] are refused rather than used */
    int32_t bad[2] = {-5, 1 << 24};
    ecl_bitreader_feed(&r, ones, sizeof ones);
    ecl_ac_decoder_init(&d);
    assert_int_equal(ecl_ac_decode(&d, &r, bad, 2, &s), ENCODEC_EINVAL);
}

/* Random streams over random CDFs (built from random pdfs) round-trip, whatever the piece
 * size of the input. */
static void test_ac_random_roundtrip(void **state)
{
    (void)state;
    uint32_t rng = tu_seed();
    enum { N = 64, SYMS = 2000 };
    float pdf[N];
    int32_t *cdfs = malloc(sizeof(int32_t) * N * SYMS);
    int *syms = malloc(sizeof(int) * SYMS);
    assert_non_null(cdfs);
    assert_non_null(syms);
    for (int i = 0; i < SYMS; i++) {
        double sum = 0;
        for (int j = 0; j < N; j++) {
            /* skewed: a few likely symbols and many near-impossible ones */
            uint32_t v = tu_rand(&rng);
            pdf[j] = (v & 7) == 0 ? (float)(v >> 8) : (float)(v >> 28) * 1e-9f;
            sum += pdf[j];
        }
        for (int j = 0; j < N; j++)
            pdf[j] = (float)(pdf[j] / sum);
        assert_int_equal(ecl_quantize_cdf(pdf, N, cdfs + i * N), ENCODEC_OK);
        syms[i] = (int)(tu_rand(&rng) % N);
    }
    ecl_bitwriter w;
    ecl_bitwriter_init_growable(&w);
    ecl_ac_encoder e;
    ecl_ac_encoder_init(&e);
    for (int i = 0; i < SYMS; i++)
        assert_int_equal(ecl_ac_encode(&e, &w, cdfs + i * N, N, syms[i]), ENCODEC_OK);
    assert_int_equal(ecl_ac_encoder_finish(&e, &w), ENCODEC_OK);

    ecl_bitreader r;
    ecl_bitreader_init(&r);
    ecl_ac_decoder d;
    ecl_ac_decoder_init(&d);
    size_t fed = 0;
    for (int i = 0; i < SYMS; i++) {
        int s, rc;
        while ((rc = ecl_ac_decode(&d, &r, cdfs + i * N, N, &s)) == 0) {
            assert_true(fed < w.len);
            size_t n = 1 + tu_rand(&rng) % 5;
            if (n > w.len - fed)
                n = w.len - fed;
            ecl_bitreader_feed(&r, w.buf + fed, n);
            fed += n;
        }
        assert_int_equal(rc, 1);
        assert_int_equal(s, syms[i]);
    }
    /* the decoder consumed exactly the bytes the encoder wrote */
    assert_int_equal(fed - ecl_bitreader_available(&r), w.len);
    ecl_bitwriter_free(&w);
    free(cdfs);
    free(syms);
}

/* Property test: two million symbols drawn from their own distributions (16 random pdfs over
 * 1024 symbols, as the LM's), encoded and decoded back exactly, and the stream within 1% of
 * the ideal code length under the quantised CDFs. */
static void test_ac_millions_of_symbols(void **state)
{
    (void)state;
    uint32_t rng = tu_seed();
    enum { N = 1024, DISTS = 16, SYMS = 2000000 };
    int32_t *cdfs = malloc(sizeof(int32_t) * N * DISTS);
    int *syms = malloc(sizeof(int) * SYMS);
    float pdf[N];
    assert_non_null(cdfs);
    assert_non_null(syms);
    for (int i = 0; i < DISTS; i++) {
        double sum = 0;
        for (int j = 0; j < N; j++) { /* peaked: exponential of a random logit */
            pdf[j] = (float)exp(8.0 * (tu_rand(&rng) >> 8) / 16777216.0);
            sum += pdf[j];
        }
        for (int j = 0; j < N; j++)
            pdf[j] = (float)(pdf[j] / sum);
        assert_int_equal(ecl_quantize_cdf(pdf, N, cdfs + i * N), ENCODEC_OK);
    }
    double ideal_bits = 0;
    for (int i = 0; i < SYMS; i++) { /* sample from the quantised distribution itself */
        const int32_t *cdf = cdfs + (i % DISTS) * N;
        const uint32_t u = tu_rand(&rng) % (uint32_t)cdf[N - 1];
        int lo = 0, hi = N - 1;
        while (lo < hi) {
            const int mid = (lo + hi) / 2;
            if ((uint32_t)cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        syms[i] = lo;
        const int32_t range = cdf[lo] - (lo ? cdf[lo - 1] : 0);
        ideal_bits += -log2((double)range / (1 << 24));
    }
    ecl_bitwriter w;
    ecl_bitwriter_init_growable(&w);
    ecl_ac_encoder e;
    ecl_ac_encoder_init(&e);
    for (int i = 0; i < SYMS; i++)
        assert_int_equal(ecl_ac_encode(&e, &w, cdfs + (i % DISTS) * N, N, syms[i]), ENCODEC_OK);
    assert_int_equal(ecl_ac_encoder_finish(&e, &w), ENCODEC_OK);
    const double ratio = 8.0 * w.len / ideal_bits;
    print_message("%d symbols: %zu bytes, ideal %.0f bytes, ratio %.5f\n", SYMS, w.len,
                  ideal_bits / 8, ratio);
    assert_true(ratio < 1.01);
    ecl_bitreader r;
    ecl_bitreader_init(&r);
    ecl_bitreader_feed(&r, w.buf, w.len);
    ecl_ac_decoder d;
    ecl_ac_decoder_init(&d);
    for (int i = 0; i < SYMS; i++) {
        int sym;
        assert_int_equal(ecl_ac_decode(&d, &r, cdfs + (i % DISTS) * N, N, &sym), 1);
        if (sym != syms[i])
            fail_msg("symbol %d: decoded %d, encoded %d", i, sym, syms[i]);
    }
    ecl_bitwriter_free(&w);
    free(cdfs);
    free(syms);
}

/* The reference asserts max_bit <= 61; the coder reports the same limit instead of
 * overflowing its 64-bit state. */
static void test_ac_max_bit_bound(void **state)
{
    (void)state;
    ecl_bitwriter w;
    ecl_bitwriter_init_growable(&w);
    ecl_ac_encoder e;
    /* low and high straddle 2^61 with a tiny interval: renormalising needs bits past 62 */
    e.max_bit = 61;
    e.low = (UINT64_C(1) << 61) - 1;
    e.high = UINT64_C(1) << 61;
    assert_int_equal(ecl_ac_encode_range(&e, &w, 0, 1 << 23), ECL_AC_EOVERFLOW);
    /* an empty or out-of-range interval is refused */
    ecl_ac_encoder_init(&e);
    assert_int_equal(ecl_ac_encode_range(&e, &w, 5, 5), ENCODEC_EINVAL);
    assert_int_equal(ecl_ac_encode_range(&e, &w, 0, (1 << 24) + 1), ENCODEC_EINVAL);
    int32_t cdf[2] = {10, 20};
    assert_int_equal(ecl_ac_encode(&e, &w, cdf, 2, 2), ENCODEC_EINVAL);
    ecl_bitwriter_free(&w);

    ecl_ac_decoder d;
    d.max_bit = 62;
    d.low = 0;
    d.high = 1;
    d.current = 0;
    ecl_bitreader r;
    ecl_bitreader_init(&r);
    uint8_t zero = 0;
    ecl_bitreader_feed(&r, &zero, 1);
    int s;
    int32_t full[2] = {1 << 23, 1 << 24};
    assert_int_equal(ecl_ac_decode(&d, &r, full, 2, &s), ECL_AC_ECORRUPT);
}

/* ---- bit packer --------------------------------------------------------------------------- */

static void test_bitpack_known_bytes(void **state)
{
    (void)state;
    /* 10-bit values 0x3ff, 0x001, 0x155: LSB first gives ff 07 50 15 */
    ecl_bitwriter w;
    ecl_bitwriter_init_growable(&w);
    assert_int_equal(ecl_bitwriter_push(&w, 0x3ff, 10), ENCODEC_OK);
    assert_int_equal(ecl_bitwriter_push(&w, 0x001, 10), ENCODEC_OK);
    assert_int_equal(ecl_bitwriter_push(&w, 0x155, 10), ENCODEC_OK);
    assert_int_equal(ecl_bitwriter_flush(&w), ENCODEC_OK);
    const uint8_t want[4] = {0xff, 0x07, 0x50, 0x15};
    assert_int_equal(w.len, 4);
    assert_memory_equal(w.buf, want, 4);
    /* values wider than the width and bad widths are refused */
    assert_int_equal(ecl_bitwriter_push(&w, 0x400, 10), ENCODEC_EINVAL);
    assert_int_equal(ecl_bitwriter_push(&w, 1, 0), ENCODEC_EINVAL);
    assert_int_equal(ecl_bitwriter_push(&w, 1, 33), ENCODEC_EINVAL);
    assert_int_equal(w.len, 4);
    /* put_bytes only when aligned */
    assert_int_equal(ecl_bitwriter_push(&w, 1, 1), ENCODEC_OK);
    assert_int_equal(ecl_bitwriter_put_bytes(&w, want, 1), ENCODEC_ESTATE);
    ecl_bitwriter_free(&w);

    /* fixed buffer: a push that does not fit changes nothing */
    uint8_t buf[2];
    ecl_bitwriter_init_fixed(&w, buf, sizeof buf);
    assert_int_equal(ecl_bitwriter_push(&w, 0x3ff, 10), ENCODEC_OK);
    assert_int_equal(ecl_bitwriter_push(&w, 0x3ff, 10), ENCODEC_OK);
    assert_int_equal(w.len, 2);
    assert_int_equal(w.n_bits, 4);
    assert_int_equal(ecl_bitwriter_push(&w, 0x3ff, 10), ENCODEC_EBUFFER);
    assert_int_equal(ecl_bitwriter_push(&w, 0xf, 4), ENCODEC_EBUFFER);
    assert_int_equal(w.len, 2);
    assert_int_equal(w.n_bits, 4);
    assert_int_equal(ecl_bitwriter_push(&w, 0x7, 3), ENCODEC_OK); /* stays pending */
    assert_int_equal(ecl_bitwriter_flush(&w), ENCODEC_EBUFFER);

    ecl_bitreader r;
    ecl_bitreader_init(&r);
    uint32_t v;
    assert_int_equal(ecl_bitreader_read(&r, 0, &v), ENCODEC_EINVAL);
    assert_int_equal(ecl_bitreader_read(&r, 33, &v), ENCODEC_EINVAL);
}

static void test_bitpack_random_roundtrip(void **state)
{
    (void)state;
    uint32_t rng = tu_seed();
    for (int round = 0; round < 50; round++) {
        const int n = 1 + (int)(tu_rand(&rng) % 500);
        uint32_t *vals = malloc(sizeof *vals * (size_t)n);
        int *widths = malloc(sizeof *widths * (size_t)n);
        assert_non_null(vals);
        assert_non_null(widths);
        ecl_bitwriter w;
        ecl_bitwriter_init_growable(&w);
        size_t total_bits = 0;
        for (int i = 0; i < n; i++) {
            widths[i] = 1 + (int)(tu_rand(&rng) % 32);
            vals[i] = tu_rand(&rng);
            if (widths[i] < 32)
                vals[i] &= (UINT32_C(1) << widths[i]) - 1;
            total_bits += (size_t)widths[i];
            assert_int_equal(ecl_bitwriter_push(&w, vals[i], widths[i]), ENCODEC_OK);
            assert_int_equal(w.len, total_bits / 8);
        }
        assert_int_equal(ecl_bitwriter_flush(&w), ENCODEC_OK);
        assert_int_equal(w.len, (total_bits + 7) / 8);
        /* exact-size copy, read back in random pieces */
        uint8_t *bytes = malloc(w.len);
        assert_non_null(bytes);
        memcpy(bytes, w.buf, w.len);
        ecl_bitreader r;
        ecl_bitreader_init(&r);
        size_t fed = 0;
        for (int i = 0; i < n; i++) {
            uint32_t v;
            int rc;
            while ((rc = ecl_bitreader_read(&r, widths[i], &v)) == 0) {
                assert_true(fed < w.len);
                size_t piece = tu_rand(&rng) % 4; /* empty pieces too */
                if (piece > w.len - fed)
                    piece = w.len - fed;
                ecl_bitreader_feed(&r, bytes + fed, piece);
                fed += piece;
            }
            assert_int_equal(rc, 1);
            if (v != vals[i])
                fail_msg("round %d value %d (width %d): got %#x want %#x", round, i, widths[i],
                         v, vals[i]);
        }
        assert_int_equal(fed - ecl_bitreader_available(&r), w.len);
        free(bytes);
        free(vals);
        free(widths);
        ecl_bitwriter_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cdf_ac),
        cmocka_unit_test(test_cdf_lm24),
        cmocka_unit_test(test_cdf_lm48),
        cmocka_unit_test(test_cdf_bad_input),
        cmocka_unit_test(test_cdf_overfull),
        cmocka_unit_test(test_cdf_paths_agree),
        cmocka_unit_test(test_ac_encode_golden),
        cmocka_unit_test(test_ac_decode_golden),
        cmocka_unit_test(test_ac_decode_truncated),
        cmocka_unit_test(test_ac_decode_corrupt),
        cmocka_unit_test(test_ac_random_roundtrip),
        cmocka_unit_test(test_ac_millions_of_symbols),
        cmocka_unit_test(test_ac_max_bit_bound),
        cmocka_unit_test(test_bitpack_known_bytes),
        cmocka_unit_test(test_bitpack_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
