/* Language model for entropy coding: probabilities against the golden vectors (tiny24 and tiny48
 * streams, per-segment reset, the sliding window with past_context 4), CDF quantisation of the
 * golden probabilities, bit-identity between frame-by-frame and whole-sequence evaluation and
 * across thread counts, a fingerprint of the exact output bits (the same on every machine and
 * compiler: that is what makes LM-coded streams portable), the deterministic math functions
 * against double-precision libm, load errors with their codes, attachment to a codec model, and
 * a full-size LM with random weights built from the real checkpoint's key list (timed). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arith.h"
#include "detmath.h"
#include "lm.h"
#include "testutil.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static ecl_lm *load_lm_file(const char *name)
{
    char *path = tu_data_path(name), msg[512];
    size_t len;
    uint8_t *buf = tu_read_file(path, &len);
    ecl_lm *lm = NULL;
    int err = ecl_lm_load(buf, len, path, &lm, msg, sizeof msg);
    if (err)
        fail_msg("loading %s: %d %s", path, err, msg);
    free(buf);
    free(path);
    return lm;
}

/* LM inputs for frames 0..n-1 of a stream from codes [K][T] (codebook-major, as stored):
 * frame 0 sees zeros, frame t the codes of frame t-1 plus one. */
static int32_t *lm_inputs(const int32_t *codes, int K, int T, int n)
{
    int32_t *prev = calloc((size_t)n * K, sizeof *prev);
    for (int t = 1; t < n; t++)
        for (int k = 0; k < K; k++)
            prev[(size_t)t * K + k] = codes[(size_t)k * T + (t - 1)] + 1;
    return prev;
}

/* Frames 0..n-1 through ecl_lm_step from a fresh state. */
static float *run_steps(const ecl_lm *lm, int past_context, const int32_t *prev, int K, int n,
                        encodec_kernels isa, int n_threads)
{
    ecl_lm_state *st;
    assert_int_equal(ecl_lm_state_create(lm, past_context, &st), ENCODEC_OK);
    assert_int_equal(ecl_lm_state_set_exec(st, isa, n_threads), ENCODEC_OK);
    float *probs = malloc((size_t)n * K * lm->card * sizeof *probs);
    for (int t = 0; t < n; t++)
        assert_int_equal(ecl_lm_step(lm, st, prev + (size_t)t * K, K,
                                     probs + (size_t)t * K * lm->card),
                         ENCODEC_OK);
    assert_int_equal(ecl_lm_state_offset(st), n);
    ecl_lm_state_free(st);
    return probs;
}

/* FNV-1a over the bit patterns of n floats. */
/* Frames 0..n-1 through ecl_lm_steps in blocks of varying sizes (1..ECL_LM_BLOCK). */
static float *run_blocks(const ecl_lm *lm, int past_context, const int32_t *prev, int K, int n,
                         encodec_kernels isa, int n_threads, unsigned seed)
{
    ecl_lm_state *st;
    assert_int_equal(ecl_lm_state_create(lm, past_context, &st), ENCODEC_OK);
    assert_int_equal(ecl_lm_state_set_exec(st, isa, n_threads), ENCODEC_OK);
    float *probs = malloc((size_t)n * K * lm->card * sizeof *probs);
    for (int t = 0; t < n;) {
        seed = seed * 1103515245u + 12345u;
        int b = 1 + (int)(seed >> 16) % ECL_LM_BLOCK;
        b = b > n - t ? n - t : b;
        assert_int_equal(ecl_lm_steps(lm, st, prev + (size_t)t * K, b, K,
                                      probs + (size_t)t * K * lm->card),
                         ENCODEC_OK);
        t += b;
    }
    assert_int_equal(ecl_lm_state_offset(st), n);
    ecl_lm_state_free(st);
    return probs;
}

static uint64_t fingerprint(const float *v, size_t n, uint64_t h)
{
    const uint8_t *b = (const uint8_t *)v;
    for (size_t i = 0; i < n * sizeof(float); i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* xorshift64* for reproducible random weights; the seed is printed by the tests using it. */
static uint64_t rng_state;
static float rng_uniform(void) /* [-1, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((double)((rng_state * UINT64_C(2685821657736338717)) >> 11) * 0x1p-52 -
                   1.0);
}

/* ---- detmath against libm ------------------------------------------------------------------ */

static int64_t ordered(float f)
{
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : (int64_t)i;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double pow10000(double e) { return pow(10000.0, e); }

/* Every `step`-th float bit pattern of both signs inside [lo, hi]: max ulp distance from the
 * libm double result rounded to float. */
static void check_ulp(const char *name, float (*f)(float), double (*ref)(double), float lo,
                      float hi, uint32_t step, int64_t bound)
{
    int64_t worst = 0;
    float worst_x = 0;
    long n = 0, inexact = 0;
    for (int sign = 0; sign < 2; sign++)
        for (uint64_t u = 0; u < 0x7f800000u; u += step) {
            const float x = from_bits((uint32_t)u | (sign ? 0x80000000u : 0));
            if (!(x >= lo && x <= hi))
                continue;
            int64_t d = ordered(f(x)) - ordered((float)ref((double)x));
            d = d < 0 ? -d : d;
            n++;
            inexact += d != 0;
            if (d > worst) {
                worst = d;
                worst_x = x;
            }
        }
    printf("  %-5s [%g, %g]: %ld values, max %lld ulp (at %.9g), %ld not correctly rounded\n",
           name, lo, hi, n, (long long)worst, worst_x, inexact);
    assert_true(worst <= bound);
}

static void test_detmath_vs_libm(void **state)
{
    (void)state;
    check_ulp("exp", ecl_det_expf, exp, -110.0f, 89.0f, 61, 1);
    check_ulp("erf", ecl_det_erff, erf, -1e30f, 1e30f, 61, 1);
    check_ulp("sin", ecl_det_sinf, sin, -ECL_DET_TRIG_MAX, ECL_DET_TRIG_MAX, 61, 1);
    check_ulp("cos", ecl_det_cosf, cos, -ECL_DET_TRIG_MAX, ECL_DET_TRIG_MAX, 61, 1);
    check_ulp("pow", ecl_det_pow10000f, pow10000, 0.0f, 1.0f, 7, 1);
    /* the values the positional embedding actually uses: phases of 100000 frames */
    int64_t worst = 0;
    for (int half = 4; half <= 100; half += 96)
        for (int j = 0; j < half; j++) {
            const float e = (float)j / (float)(half - 1);
            const float f = ecl_det_pow10000f(e);
            for (int p = 0; p < 100000; p += 7) {
                const float phase = (float)p / f;
                int64_t d1 = llabs(ordered(ecl_det_cosf(phase)) - ordered((float)cos(phase)));
                int64_t d2 = llabs(ordered(ecl_det_sinf(phase)) - ordered((float)sin(phase)));
                worst = d1 > worst ? d1 : worst;
                worst = d2 > worst ? d2 : worst;
            }
        }
    printf("  positional phases: max %lld ulp\n", (long long)worst);
    assert_true(worst <= 1);
    /* special values */
    assert_true(isnan(ecl_det_expf(NAN)) && isnan(ecl_det_erff(NAN)));
    assert_true(isnan(ecl_det_sinf(NAN)) && isnan(ecl_det_cosf(INFINITY)));
    assert_true(isnan(ecl_det_sinf(3e8f)));
    assert_true(ecl_det_expf(-INFINITY) == 0.0f && isinf(ecl_det_expf(INFINITY)));
    assert_true(ecl_det_expf(0.0f) == 1.0f && ecl_det_cosf(0.0f) == 1.0f);
    assert_true(ecl_det_erff(INFINITY) == 1.0f && ecl_det_erff(-INFINITY) == -1.0f);
    assert_true(ecl_det_pow10000f(1.0f) == 10000.0f && ecl_det_pow10000f(0.0f) == 1.0f);
    /* the array exp gives ecl_det_expf's bits, in vector blocks and tails, special values
     * included (a NaN or out-of-range value anywhere in a block) */
    {
        enum { N = 40003 };
        float *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
        for (int i = 0; i < N; i++)
            in[i] = -120.0f + 215.0f * (float)i / N;
        in[5] = NAN, in[9] = INFINITY, in[14] = -INFINITY, in[22] = -110.0f, in[23] = 89.0f;
        in[30] = -110.00001f, in[31] = 89.00001f, in[40] = 1e-30f, in[41] = -0.0f;
        void (*fns[2])(const float *, float *, int) = {ecl_det_expf_n, NULL};
#ifdef ECL_DET_HAVE_AVX2
        if (__builtin_cpu_supports("avx2"))
            fns[1] = ecl_det_expf_n_avx2;
#endif
        for (int f = 0; f < 2 && fns[f]; f++) {
            for (int n = 0; n <= 9; n++) { /* every tail length */
                fns[f](in + n, out, N - n);
                for (int i = 0; i < N - n; i++) {
                    const float want = ecl_det_expf(in[n + i]);
                    assert_memory_equal(&out[i], &want, sizeof want);
                }
            }
            memcpy(out, in, N * sizeof *in); /* in place */
            fns[f](out, out, N);
            for (int i = 0; i < N; i++) {
                const float want = ecl_det_expf(in[i]);
                assert_memory_equal(&out[i], &want, sizeof want);
            }
        }
        free(in);
        free(out);
    }
    /* GELU: PyTorch's float formula with libm erf */
    double gelu_err = 0;
    for (float x = -12.0f; x <= 12.0f; x += 0.001953125f) {
        const float want = x * 0.5f * (1.0f + (float)erf((double)(x * 0.70710678f)));
        gelu_err = fmax(gelu_err, fabs((double)ecl_det_gelu(x) - want));
    }
    printf("  gelu: max abs diff from libm-based float formula %.3g\n", gelu_err);
    assert_true(gelu_err <= 1e-6);
}

/* ---- golden probabilities ------------------------------------------------------------------- */

typedef struct {
    double max_err;
    int cdf_differ, cdf_total;
} golden_stats;

/* Compare n frames of probabilities with a golden tensor [n][K][card]; count CDFs that differ
 * from `golden_cdf` (may be NULL). */
static void compare_golden(const ecl_lm *lm, const float *probs, const float *want, int n, int K,
                           const int32_t *golden_cdf, golden_stats *gs, const char *what)
{
    const size_t total = (size_t)n * K * lm->card;
    const double err = tu_max_abs_diff(probs, want, total);
    gs->max_err = err > gs->max_err ? err : gs->max_err;
    int differ = 0, entries = 0, worst = 0;
    if (golden_cdf) {
        int32_t *cdf = malloc((size_t)lm->card * sizeof *cdf);
        for (int i = 0; i < n * K; i++) {
            const int32_t *g = golden_cdf + (size_t)i * lm->card;
            assert_int_equal(ecl_quantize_cdf(probs + (size_t)i * lm->card, lm->card, cdf), 0);
            differ += memcmp(cdf, g, (size_t)lm->card * sizeof *cdf) != 0;
            for (int j = 0; j < lm->card; j++) {
                const int dj = abs(cdf[j] - g[j]);
                entries += dj != 0;
                worst = dj > worst ? dj : worst;
            }
        }
        free(cdf);
        gs->cdf_differ += differ;
        gs->cdf_total += n * K;
    }
    printf("  %-28s %2d frames: max abs error %.3g", what, n, err);
    if (golden_cdf)
        printf(", CDFs differing from PyTorch's: %d of %d (%d of %d entries, by up to %d)",
               differ, n * K, entries, n * K * lm->card, worst);
    printf("\n");
    assert_true(err <= 1e-6);
}

static void test_golden_tiny24(void **state)
{
    (void)state;
    ecl_lm *lm = load_lm_file("tiny24_lm.safetensors");
    tu_golden *g = tu_golden_open("tiny24.golden.safetensors");
    int64_t cs[8], ps[8], ws[8];
    const int32_t *codes = tu_golden_i32(g, "excerpt.bw1.5.codes", cs, NULL, NULL);
    const float *want = tu_golden_f32(g, "lm.probs", ps, NULL, NULL);
    const float *want_w = tu_golden_f32(g, "lm.window.probs", ws, NULL, NULL);
    const int32_t *gcdf = tu_golden_i32(g, "lm.cdf", NULL, NULL, NULL);
    const int K = (int)cs[0], T = (int)cs[1];
    assert_int_equal(K, 2);
    assert_int_equal(ps[2], lm->card);
    const char *pc_text = tu_golden_metadata(g, "lm_window_past_context");
    assert_non_null(pc_text);
    const int pc = atoi(pc_text);
    assert_int_equal(pc, 4);
    golden_stats gs = {0, 0, 0};

    int32_t *prev = lm_inputs(codes, K, T, T);
    float *p = run_steps(lm, 0, prev, K, (int)ps[0], ENCODEC_KERNELS_AUTO, 1);
    compare_golden(lm, p, want, (int)ps[0], K, gcdf, &gs, "tiny24 lm.probs");
    float *pw = run_steps(lm, pc, prev, K, (int)ws[0], ENCODEC_KERNELS_AUTO, 1);
    compare_golden(lm, pw, want_w, (int)ws[0], K, NULL, &gs, "tiny24 lm.window.probs (pc 4)");
    printf("  tiny24: CDFs of our probabilities differing from golden lm.cdf: %d of %d\n",
           gs.cdf_differ, gs.cdf_total);

    /* The integer CDF of the golden probabilities is exact. */
    int32_t *cdf = malloc((size_t)lm->card * sizeof *cdf);
    for (int i = 0; i < (int)(ps[0] * K); i++) {
        assert_int_equal(ecl_quantize_cdf(want + (size_t)i * lm->card, lm->card, cdf), 0);
        assert_memory_equal(cdf, gcdf + (size_t)i * lm->card, (size_t)lm->card * sizeof *cdf);
    }
    free(cdf);
    free(p);
    free(pw);
    free(prev);
    tu_golden_close(g);
    ecl_lm_free(lm);
}

static void test_golden_tiny48_segments(void **state)
{
    (void)state;
    ecl_lm *lm = load_lm_file("tiny48_lm.safetensors");
    tu_golden *g = tu_golden_open("tiny48.golden.safetensors");
    int64_t s0[8], s1[8], ps[8], qs[8];
    const int32_t *c0 = tu_golden_i32(g, "excerpt.bw3.seg0.codes", s0, NULL, NULL);
    const int32_t *c1 = tu_golden_i32(g, "excerpt.bw3.seg1.codes", s1, NULL, NULL);
    const float *want0 = tu_golden_f32(g, "lm.probs", ps, NULL, NULL);
    const float *want1 = tu_golden_f32(g, "lm.seg1.probs", qs, NULL, NULL);
    const int32_t *gcdf = tu_golden_i32(g, "lm.cdf", NULL, NULL, NULL);
    const int K = (int)s0[0];
    golden_stats gs = {0, 0, 0};
    int32_t *prev0 = lm_inputs(c0, K, (int)s0[1], (int)s0[1]);
    int32_t *prev1 = lm_inputs(c1, K, (int)s1[1], (int)s1[1]);

    /* one state for both segments, reset in between, as a stream does */
    ecl_lm_state *st;
    assert_int_equal(ecl_lm_state_create(lm, 0, &st), ENCODEC_OK);
    const size_t fr = (size_t)K * lm->card;
    float *p = malloc((size_t)(ps[0] + qs[0]) * fr * sizeof *p);
    for (int t = 0; t < (int)ps[0]; t++)
        assert_int_equal(ecl_lm_step(lm, st, prev0 + t * K, K, p + t * fr), ENCODEC_OK);
    compare_golden(lm, p, want0, (int)ps[0], K, gcdf, &gs, "tiny48 lm.probs (segment 0)");
    ecl_lm_state_reset(st);
    assert_int_equal(ecl_lm_state_offset(st), 0);
    for (int t = 0; t < (int)qs[0]; t++)
        assert_int_equal(ecl_lm_step(lm, st, prev1 + t * K, K, p + (ps[0] + t) * fr),
                         ENCODEC_OK);
    compare_golden(lm, p + ps[0] * fr, want1, (int)qs[0], K, NULL, &gs,
                   "tiny48 lm.seg1.probs (reset)");
    printf("  tiny48: CDFs of our probabilities differing from golden lm.cdf: %d of %d\n",
           gs.cdf_differ, gs.cdf_total);

    int32_t *cdf = malloc((size_t)lm->card * sizeof *cdf);
    for (int i = 0; i < (int)(ps[0] * K); i++) {
        assert_int_equal(ecl_quantize_cdf(want0 + (size_t)i * lm->card, lm->card, cdf), 0);
        assert_memory_equal(cdf, gcdf + (size_t)i * lm->card, (size_t)lm->card * sizeof *cdf);
    }
    free(cdf);
    ecl_lm_state_free(st);
    free(p);
    free(prev0);
    free(prev1);
    tu_golden_close(g);
    ecl_lm_free(lm);
}

/* Whole streams: step by step == whole sequence, bit for bit, with the real window and with a
 * window of 4 (ring wrap-around many times); and a fingerprint of the bits. */
static void test_step_equals_sequence(void **state)
{
    (void)state;
    static const char *const files[2] = {"tiny24", "tiny48"};
    static const char *const codes_name[2] = {"excerpt.bw1.5.codes", "excerpt.bw3.seg0.codes"};
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int f = 0; f < 2; f++) {
        char name[64];
        snprintf(name, sizeof name, "%s_lm.safetensors", files[f]);
        ecl_lm *lm = load_lm_file(name);
        snprintf(name, sizeof name, "%s.golden.safetensors", files[f]);
        tu_golden *g = tu_golden_open(name);
        int64_t cs[8];
        const int32_t *codes = tu_golden_i32(g, codes_name[f], cs, NULL, NULL);
        const int K = (int)cs[0], T = (int)cs[1];
        int32_t *prev = lm_inputs(codes, K, T, T);
        for (int w = 0; w < 2; w++) {
            const int pc = w ? 4 : 0;
            /* the sequence reference always runs the portable kernels */
            float *b = malloc((size_t)T * K * lm->card * sizeof *b);
            assert_int_equal(ecl_lm_forward_sequence(lm, pc, prev, T, K, b, 1), ENCODEC_OK);
            for (int isa = ENCODEC_KERNELS_PORTABLE; isa <= ENCODEC_KERNELS_NEON; isa++) {
                if (!encodec_kernels_supported((encodec_kernels)isa))
                    continue;
                float *a = run_steps(lm, pc, prev, K, T, (encodec_kernels)isa, 1);
                assert_memory_equal(a, b, (size_t)T * K * lm->card * sizeof *a);
                free(a);
                for (int threads = 1; threads <= 2; threads++) {
                    a = run_blocks(lm, pc, prev, K, T, (encodec_kernels)isa, threads,
                                   (unsigned)(isa * 7 + threads + w));
                    assert_memory_equal(a, b, (size_t)T * K * lm->card * sizeof *a);
                    free(a);
                }
            }
            h = fingerprint(b, (size_t)T * K * lm->card, h);
            free(b);
        }
        printf("  %s: %d frames, step and blocks on every kernel path == sequence (window %d "
               "and 4)\n",
               files[f], T, lm->past_context);
        free(prev);
        tu_golden_close(g);
        ecl_lm_free(lm);
    }
    /* Bits of every probability above, as produced on x86-64 (GCC and Clang, SSE2/AVX2/FMA
     * targets with -ffp-contract=off). Another value means the LM is not reproducible on this
     * build, and LM-coded streams written here would not decode elsewhere. */
    printf("  fingerprint %016llx\n", (unsigned long long)h);
    assert_true(h == UINT64_C(0x931cea91f797cae9));
}

/* ---- loading errors ------------------------------------------------------------------------- */

typedef struct {
    uint8_t *file;
    size_t len;
    cJSON *header;
    const uint8_t *data;
    size_t data_len;
} st_image;

static st_image read_image(const char *name)
{
    st_image im;
    char *path = tu_data_path(name);
    im.file = tu_read_file(path, &im.len);
    free(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | im.file[i];
    char *json = malloc(n + 1);
    memcpy(json, im.file + 8, n);
    json[n] = 0;
    im.header = cJSON_Parse(json);
    free(json);
    assert_non_null(im.header);
    im.data = im.file + 8 + n;
    im.data_len = im.len - 8 - n;
    return im;
}

static uint8_t *serialise(const cJSON *header, const uint8_t *data, size_t data_len, size_t *len)
{
    char *json = cJSON_PrintUnformatted(header);
    const size_t n = strlen(json);
    *len = 8 + n + data_len;
    uint8_t *out = malloc(*len);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(out + 8, json, n);
    if (data_len)
        memcpy(out + 8 + n, data, data_len);
    free(json);
    return out;
}

static void expect_lm_error(const uint8_t *image, size_t len, int want, const char *needle)
{
    ecl_lm *lm = (ecl_lm *)1;
    char msg[512];
    const int err = ecl_lm_load(image, len, "<test>", &lm, msg, sizeof msg);
    printf("  expected error %d: %s\n", err, msg);
    assert_int_equal(err, want);
    assert_null(lm);
    assert_non_null(strstr(msg, needle));
}

/* Set a key of the LM config JSON held in the header's metadata. */
static void set_config(cJSON *header, const char *key, cJSON *value)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(header, "__metadata__");
    cJSON *config = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(meta, "config")->valuestring);
    cJSON_DeleteItemFromObjectCaseSensitive(config, key);
    if (value)
        cJSON_AddItemToObject(config, key, value);
    char *text = cJSON_PrintUnformatted(config);
    cJSON_ReplaceItemInObjectCaseSensitive(meta, "config", cJSON_CreateString(text));
    free(text);
    cJSON_Delete(config);
}

static void test_load_errors(void **state)
{
    (void)state;
    st_image im = read_image("tiny24_lm.safetensors");
    size_t len;
    uint8_t *img;

    /* unchanged: loads */
    img = serialise(im.header, im.data, im.data_len, &len);
    ecl_lm *lm;
    char msg[512];
    assert_int_equal(ecl_lm_load(img, len, "<test>", &lm, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(lm->n_q, 3);
    assert_int_equal(lm->ff_dim, 32);
    assert_int_equal(lm->past_context, 262);
    ecl_lm_free(lm);
    free(img);

    /* missing tensor */
    cJSON *h = cJSON_Duplicate(im.header, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(h, "linears.1.bias");
    img = serialise(h, im.data, im.data_len, &len);
    expect_lm_error(img, len, ENCODEC_EWEIGHTS_MISSING, "linears.1.bias");
    free(img);
    cJSON_Delete(h);

    /* wrong shape (same byte count) */
    h = cJSON_Duplicate(im.header, 1);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "transformer.layers.1.linear1.weight");
    cJSON *shape = cJSON_CreateIntArray((const int[]){8, 32}, 2);
    cJSON_ReplaceItemInObjectCaseSensitive(t, "shape", shape);
    img = serialise(h, im.data, im.data_len, &len);
    expect_lm_error(img, len, ENCODEC_EWEIGHTS_SHAPE, "transformer.layers.1.linear1.weight");
    free(img);
    cJSON_Delete(h);

    /* NaN in a weight */
    {
        t = cJSON_GetObjectItemCaseSensitive(im.header, "emb.2.weight");
        const int begin = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valueint;
        uint8_t *data = malloc(im.data_len);
        memcpy(data, im.data, im.data_len);
        const float nan = NAN;
        memcpy(data + begin + 4 * 17, &nan, sizeof nan);
        img = serialise(im.header, data, im.data_len, &len);
        expect_lm_error(img, len, ENCODEC_EWEIGHTS_VALUE, "emb.2.weight");
        free(img);
        free(data);
    }

    /* configuration errors */
    struct {
        const char *key;
        cJSON *value;
        const char *needle;
    } cases[] = {
        {"num_heads", cJSON_CreateNumber(3), "num_heads"},
        {"dim", NULL, "\"dim\""},
        {"past_context", cJSON_CreateNumber(0), "past_context"},
        {"norm_first", cJSON_CreateTrue(), "norm_first"},
        {"max_period", cJSON_CreateNumber(5000), "max_period"},
        {"card", cJSON_CreateNumber(512), "emb.0.weight"}, /* shapes follow the config */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        h = cJSON_Duplicate(im.header, 1);
        set_config(h, cases[i].key, cases[i].value);
        img = serialise(h, im.data, im.data_len, &len);
        expect_lm_error(img, len,
                        i == 5 ? ENCODEC_EWEIGHTS_SHAPE : ENCODEC_EWEIGHTS_CONFIG,
                        cases[i].needle);
        free(img);
        cJSON_Delete(h);
    }
    /* no configuration at all */
    h = cJSON_Duplicate(im.header, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(h, "__metadata__");
    img = serialise(h, im.data, im.data_len, &len);
    expect_lm_error(img, len, ENCODEC_EWEIGHTS_CONFIG, "config");
    free(img);
    cJSON_Delete(h);
    /* truncated container */
    expect_lm_error(im.file, 5, ENCODEC_EWEIGHTS_TRUNCATED, "<test>");

    cJSON_Delete(im.header);
    free(im.file);
}

/* ---- step arguments and the public attachment ----------------------------------------------- */

static void test_step_arguments(void **state)
{
    (void)state;
    ecl_lm *lm = load_lm_file("tiny24_lm.safetensors");
    ecl_lm *other = load_lm_file("tiny48_lm.safetensors");
    ecl_lm_state *st;
    assert_int_equal(ecl_lm_state_create(lm, 0, &st), ENCODEC_OK);
    float *probs = malloc(4 * (size_t)lm->card * sizeof *probs);
    int32_t prev[4] = {0, 0, 0, 0};
    assert_int_equal(ecl_lm_step(lm, st, prev, 4, probs), ENCODEC_EINVAL); /* n_q is 3 */
    assert_int_equal(ecl_lm_step(lm, st, prev, 0, probs), ENCODEC_EINVAL);
    assert_int_equal(ecl_lm_step(other, st, prev, 2, probs), ENCODEC_EINVAL);
    assert_int_equal(ecl_lm_step(lm, st, NULL, 2, probs), ENCODEC_EINVAL);
    prev[1] = lm->card + 1;
    assert_int_equal(ecl_lm_step(lm, st, prev, 2, probs), ENCODEC_ECODE);
    prev[1] = -1;
    assert_int_equal(ecl_lm_step(lm, st, prev, 2, probs), ENCODEC_ECODE);
    /* blocks: the same checks on every frame, and a frame count within 1..ECL_LM_BLOCK */
    int32_t block[2 * 3] = {0, 0, 0, 1, lm->card + 1, 1};
    float *bprobs = malloc((ECL_LM_BLOCK + 1) * 3 * (size_t)lm->card * sizeof *bprobs);
    assert_int_equal(ecl_lm_steps(lm, st, block, 2, 3, bprobs), ENCODEC_ECODE);
    block[4] = 1;
    assert_int_equal(ecl_lm_steps(lm, st, block, 0, 3, bprobs), ENCODEC_EINVAL);
    int32_t *many = calloc(3 * (ECL_LM_BLOCK + 1), sizeof *many);
    assert_int_equal(ecl_lm_steps(lm, st, many, ECL_LM_BLOCK + 1, 3, bprobs), ENCODEC_EINVAL);
    assert_int_equal(ecl_lm_steps(other, st, block, 2, 3, bprobs), ENCODEC_EINVAL);
    assert_int_equal(ecl_lm_steps(lm, st, block, 2, 4, bprobs), ENCODEC_EINVAL);
    free(many);
    free(bprobs);
    assert_int_equal(ecl_lm_state_offset(st), 0); /* errors leave the state alone */
    prev[1] = lm->card;
    assert_int_equal(ecl_lm_step(lm, st, prev, 3, probs), ENCODEC_OK); /* all three heads */
    for (int k = 0; k < 3; k++) {
        double s = 0;
        for (int i = 0; i < lm->card; i++)
            s += probs[k * lm->card + i];
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    assert_int_equal(ecl_lm_state_set_exec(st, ENCODEC_KERNELS_AUTO, 0), ENCODEC_EINVAL);
    ecl_lm_state_free(st);
    assert_int_equal(ecl_lm_state_create(NULL, 0, &st), ENCODEC_EINVAL);
    assert_null(st);
    assert_int_equal(ecl_lm_state_create(lm, -1, &st), ENCODEC_EINVAL);
    ecl_lm_state_free(NULL);
    ecl_lm_free(NULL);
    free(probs);
    ecl_lm_free(lm);
    ecl_lm_free(other);
}

static void test_attach_to_model(void **state)
{
    (void)state;
    encodec_model *m = tu_load_model("tiny24.safetensors");
    char msg[512];
    assert_int_equal(encodec_model_has_lm(m), 0);
    char *path = tu_data_path("tiny24_lm.safetensors");
    assert_int_equal(encodec_model_load_lm_file(m, path, msg, sizeof msg), ENCODEC_OK);
    assert_string_equal(msg, "");
    assert_int_equal(encodec_model_has_lm(m), 1);
    /* replacing it works and frees the old one (checked by the sanitizer builds) */
    size_t len;
    uint8_t *buf = tu_read_file(path, &len);
    assert_int_equal(encodec_model_load_lm_memory(m, buf, len, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(encodec_model_has_lm(m), 1);

    /* card must equal the codec's bins: an LM for 512 entries is refused, the old one kept */
    st_image im = read_image("tiny24_lm.safetensors");
    set_config(im.header, "card", cJSON_CreateNumber(512));
    cJSON *item;
    cJSON_ArrayForEach(item, im.header)
    {
        if (strcmp(item->string, "__metadata__") == 0)
            continue;
        /* keep only the first 512 (or 513) rows of every card-sized tensor */
        cJSON *shape = cJSON_GetObjectItem(item, "shape");
        cJSON *offs = cJSON_GetObjectItem(item, "data_offsets");
        const int rows = cJSON_GetArrayItem(shape, 0)->valueint;
        if (rows == 1024 || rows == 1025) {
            const int begin = cJSON_GetArrayItem(offs, 0)->valueint;
            const int cols = cJSON_GetArraySize(shape) > 1
                                 ? cJSON_GetArrayItem(shape, 1)->valueint
                                 : 1;
            const int nrows = rows - 512;
            cJSON_SetNumberValue(cJSON_GetArrayItem(shape, 0), nrows);
            cJSON_SetNumberValue(cJSON_GetArrayItem(offs, 1), begin + 4 * nrows * cols);
        }
    }
    size_t ilen;
    uint8_t *img = serialise(im.header, im.data, im.data_len, &ilen);
    ecl_lm *lm512;
    assert_int_equal(ecl_lm_load(img, ilen, "<512>", &lm512, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(lm512->card, 512);
    ecl_lm_free(lm512);
    const int err = encodec_model_load_lm_memory(m, img, ilen, msg, sizeof msg);
    printf("  expected error %d: %s\n", err, msg);
    assert_int_equal(err, ENCODEC_EWEIGHTS_CONFIG);
    assert_non_null(strstr(msg, "card"));
    assert_int_equal(encodec_model_has_lm(m), 1);

    assert_int_equal(encodec_model_load_lm_file(m, "/nonexistent/lm.safetensors", msg,
                                                sizeof msg),
                     ENCODEC_EIO);
    assert_int_equal(encodec_model_load_lm_file(NULL, path, msg, sizeof msg), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_load_lm_memory(m, NULL, 10, msg, sizeof msg),
                     ENCODEC_EINVAL);
    free(img);
    cJSON_Delete(im.header);
    free(im.file);
    free(buf);
    free(path);
    encodec_model_free(m);
}

/* ---- full size ------------------------------------------------------------------------------ */

/* An LM image with the real checkpoint's keys and shapes (from shapes-lm_24khz.json, in file
 * order) and random weights scaled like PyTorch's initialisation. */
/* ---- float16 weights ------------------------------------------------------------------------ */

static int is_lm_matrix(const char *name)
{
    return strstr(name, "in_proj_weight") || strstr(name, "out_proj.weight") ||
           strstr(name, "linear1.weight") || strstr(name, "linear2.weight") ||
           (strncmp(name, "linears.", 8) == 0 && strstr(name, ".weight"));
}

/* A float16 value near f (truncated; LM weights are normal halves or flush to 0), and back. */
static uint16_t to_half(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
    const int e = (int)(u >> 23 & 0xff) - 127 + 15;
    if (e <= 0)
        return sign;
    assert_true(e < 31);
    return (uint16_t)(sign | e << 10 | (u >> 13 & 0x3ffu));
}

static float from_half(uint16_t h)
{
    const int e = h >> 10 & 0x1f;
    const uint32_t u = (uint32_t)(h & 0x8000u) << 16 |
                       (e ? (uint32_t)(e - 15 + 127) << 23 | (uint32_t)(h & 0x3ffu) << 13 : 0);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The tiny24 LM with the matrices whose names pass `pick` rounded to float16 values, stored as
 * F16 (as_f16) or as F32 holding the same values. */
static uint8_t *lm_with_half_matrices(int (*pick)(const char *), int as_f16, size_t *len)
{
    st_image im = read_image("tiny24_lm.safetensors");
    uint8_t *data = malloc(im.data_len);
    size_t at = 0;
    cJSON *entry;
    cJSON_ArrayForEach(entry, im.header)
    {
        if (strcmp(entry->string, "__metadata__") == 0)
            continue;
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
        const size_t begin = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble;
        const size_t end = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        const size_t n = (end - begin) / 4;
        const float *src = (const float *)(const void *)(im.data + begin);
        const size_t start = at;
        if (pick(entry->string) && as_f16) {
            for (size_t i = 0; i < n; i++) {
                const uint16_t h = to_half(src[i]);
                data[at++] = (uint8_t)h, data[at++] = (uint8_t)(h >> 8);
            }
            cJSON_ReplaceItemInObjectCaseSensitive(entry, "dtype", cJSON_CreateString("F16"));
        } else {
            for (size_t i = 0; i < n; i++) {
                const float f = pick(entry->string) ? from_half(to_half(src[i])) : src[i];
                memcpy(data + at, &f, sizeof f);
                at += sizeof f;
            }
        }
        cJSON_ReplaceItemInArray(offs, 0, cJSON_CreateNumber((double)start));
        cJSON_ReplaceItemInArray(offs, 1, cJSON_CreateNumber((double)at));
    }
    uint8_t *img = serialise(im.header, data, at, len);
    free(data);
    free(im.file);
    cJSON_Delete(im.header);
    return img;
}

/* A random LM of odd sizes (dim 12: every product has a column tail) whose weights are float16
 * values, with its matrices stored as F16 or as F32. */
static uint8_t *random_small_lm(int matrices_f16, size_t *len)
{
    enum { NQ = 3, CARD = 1024, D = 12, FF = 48, L = 2 };
    char names[64][48];
    int64_t shapes[64][2];
    int n_t = 0;
#define T2(r, c, ...) (snprintf(names[n_t], 48, __VA_ARGS__), shapes[n_t][0] = r, shapes[n_t++][1] = c)
    T2(D, 0, "transformer.norm_in.weight");
    T2(D, 0, "transformer.norm_in.bias");
    for (int l = 0; l < L; l++) {
        T2(3 * D, D, "transformer.layers.%d.self_attn.in_proj_weight", l);
        T2(3 * D, 0, "transformer.layers.%d.self_attn.in_proj_bias", l);
        T2(D, D, "transformer.layers.%d.self_attn.out_proj.weight", l);
        T2(D, 0, "transformer.layers.%d.self_attn.out_proj.bias", l);
        T2(FF, D, "transformer.layers.%d.linear1.weight", l);
        T2(FF, 0, "transformer.layers.%d.linear1.bias", l);
        T2(D, FF, "transformer.layers.%d.linear2.weight", l);
        T2(D, 0, "transformer.layers.%d.linear2.bias", l);
        T2(D, 0, "transformer.layers.%d.norm1.weight", l);
        T2(D, 0, "transformer.layers.%d.norm1.bias", l);
        T2(D, 0, "transformer.layers.%d.norm2.weight", l);
        T2(D, 0, "transformer.layers.%d.norm2.bias", l);
    }
    for (int k = 0; k < NQ; k++) {
        T2(CARD + 1, D, "emb.%d.weight", k);
        T2(CARD, D, "linears.%d.weight", k);
        T2(CARD, 0, "linears.%d.bias", k);
    }
#undef T2
    cJSON *header = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(header, "__metadata__");
    cJSON_AddStringToObject(meta, "config",
                            "{\"n_q\": 3, \"card\": 1024, \"dim\": 12, \"num_heads\": 4, "
                            "\"num_layers\": 2, \"hidden_scale\": 4.0, \"max_period\": 10000.0, "
                            "\"gelu\": true, \"norm_in\": true, \"norm_first\": false, "
                            "\"dropout\": 0.0, \"past_context\": 20}");
    uint8_t *data = malloc((size_t)4 * (L * (3 * D * D + D * D + 2 * FF * D) +
                                        NQ * (2 * CARD + 1) * D + 4096 + 64 * FF));
    size_t at = 0;
    rng_state = 77;
    for (int t = 0; t < n_t; t++) {
        const int64_t rows = shapes[t][0], cols = shapes[t][1] ? shapes[t][1] : 1;
        const int half = matrices_f16 && is_lm_matrix(names[t]);
        cJSON *entry = cJSON_AddObjectToObject(header, names[t]);
        cJSON_AddStringToObject(entry, "dtype", half ? "F16" : "F32");
        cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)rows));
        if (shapes[t][1])
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)cols));
        cJSON *offs = cJSON_AddArrayToObject(entry, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)at));
        const float scale = shapes[t][1] ? 1.0f / sqrtf((float)cols) : 0.1f;
        for (int64_t i = 0; i < rows * cols; i++) {
            const uint16_t h = to_half((strstr(names[t], "norm") && strstr(names[t], "weight")
                                            ? 1.0f
                                            : 0.0f) +
                                       scale * rng_uniform());
            if (half) {
                data[at++] = (uint8_t)h, data[at++] = (uint8_t)(h >> 8);
            } else {
                const float f = from_half(h);
                memcpy(data + at, &f, sizeof f);
                at += sizeof f;
            }
        }
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)at));
    }
    uint8_t *img = serialise(header, data, at, len);
    free(data);
    cJSON_Delete(header);
    return img;
}

static int pick_first_head(const char *name) { return strcmp(name, "linears.0.weight") == 0; }

/* Matrices stored as float16 stay float16 in memory (all of them, or none), converted exactly
 * in the kernels: the same probabilities, bit for bit, as float32 storage of the same values,
 * on every kernel path. */
static void test_f16_weights(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_open("tiny24.golden.safetensors");
    int64_t cs[8];
    const int32_t *codes = tu_golden_i32(g, "excerpt.bw1.5.codes", cs, NULL, NULL);
    const int K = (int)cs[0], T = (int)cs[1];
    int32_t *prev = lm_inputs(codes, K, T, T);
    size_t len_h, len_f, len_m;
    uint8_t *img_h = lm_with_half_matrices(is_lm_matrix, 1, &len_h);
    uint8_t *img_f = lm_with_half_matrices(is_lm_matrix, 0, &len_f);
    uint8_t *img_m = lm_with_half_matrices(pick_first_head, 1, &len_m);
    ecl_lm *lm_h, *lm_f, *lm_m;
    char msg[256];
    assert_int_equal(ecl_lm_load(img_h, len_h, "<f16>", &lm_h, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(ecl_lm_load(img_f, len_f, "<f32>", &lm_f, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(ecl_lm_load(img_m, len_m, "<mixed>", &lm_m, msg, sizeof msg), ENCODEC_OK);
    assert_true(lm_h->f16 && lm_h->head.f16 && !lm_h->head.f32);
    assert_true(!lm_f->f16 && !lm_m->f16); /* one float16 tensor alone is widened at load */
    const size_t n = (size_t)T * K * lm_f->card;
    float *want = malloc(n * sizeof *want);
    assert_int_equal(ecl_lm_forward_sequence(lm_f, 0, prev, T, K, want, 1), ENCODEC_OK);
    float *seq = malloc(n * sizeof *seq);
    assert_int_equal(ecl_lm_forward_sequence(lm_h, 0, prev, T, K, seq, 1), ENCODEC_OK);
    assert_memory_equal(seq, want, n * sizeof *seq);
    for (int isa = ENCODEC_KERNELS_PORTABLE; isa <= ENCODEC_KERNELS_NEON; isa++) {
        if (!encodec_kernels_supported((encodec_kernels)isa))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            float *a = run_steps(lm_h, 0, prev, K, T, (encodec_kernels)isa, threads);
            assert_memory_equal(a, want, n * sizeof *a);
            free(a);
        }
    }
    /* a float16 file with a NaN or infinity in a matrix is refused */
    uint8_t *bad = malloc(len_h);
    memcpy(bad, img_h, len_h);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--)
        hn = (hn << 8) | bad[i];
    cJSON *header = cJSON_ParseWithLength((const char *)bad + 8, (size_t)hn);
    cJSON *head0 = cJSON_GetObjectItemCaseSensitive(header, "linears.0.weight");
    const size_t off = (size_t)cJSON_GetArrayItem(
                           cJSON_GetObjectItemCaseSensitive(head0, "data_offsets"), 0)
                           ->valuedouble;
    bad[8 + hn + off + 7] = 0x7c; /* element 3: exponent all ones */
    expect_lm_error(bad, len_h, ENCODEC_EWEIGHTS_VALUE, "linears.0.weight");
    /* odd sizes: column tails in every product */
    {
        size_t lh, lf;
        uint8_t *ih = random_small_lm(1, &lh), *iff = random_small_lm(0, &lf);
        ecl_lm *sh, *sf;
        assert_int_equal(ecl_lm_load(ih, lh, "<f16>", &sh, msg, sizeof msg), ENCODEC_OK);
        assert_int_equal(ecl_lm_load(iff, lf, "<f32>", &sf, msg, sizeof msg), ENCODEC_OK);
        assert_true(sh->f16 && !sf->f16);
        enum { K3 = 3, T3 = 40 };
        int32_t p3[T3 * K3];
        for (int i = 0; i < T3 * K3; i++)
            p3[i] = i < K3 ? 0 : 1 + (int)((rng_uniform() + 1.0f) * 511.9f);
        float *ref = malloc((size_t)T3 * K3 * 1024 * sizeof *ref);
        assert_int_equal(ecl_lm_forward_sequence(sf, 0, p3, T3, K3, ref, 1), ENCODEC_OK);
        for (int isa = ENCODEC_KERNELS_PORTABLE; isa <= ENCODEC_KERNELS_NEON; isa++) {
            if (!encodec_kernels_supported((encodec_kernels)isa))
                continue;
            for (int f = 0; f < 2; f++) {
                float *a = run_steps(f ? sh : sf, 0, p3, K3, T3, (encodec_kernels)isa, 1);
                assert_memory_equal(a, ref, (size_t)T3 * K3 * 1024 * sizeof *a);
                free(a);
                a = run_blocks(f ? sh : sf, 0, p3, K3, T3, (encodec_kernels)isa, 1, 5u + f);
                assert_memory_equal(a, ref, (size_t)T3 * K3 * 1024 * sizeof *a);
                free(a);
            }
        }
        free(ref);
        free(ih);
        free(iff);
        ecl_lm_free(sh);
        ecl_lm_free(sf);
    }
    printf("  float16 matrices: identical to float32 storage of the same values on every "
           "path (tiny24 LM, %d frames; dim-12 LM, 40 frames)\n", T);
    cJSON_Delete(header);
    free(bad);
    free(want);
    free(seq);
    free(prev);
    free(img_h);
    free(img_f);
    free(img_m);
    ecl_lm_free(lm_h);
    ecl_lm_free(lm_f);
    ecl_lm_free(lm_m);
    tu_golden_close(g);
}

static uint8_t *random_full_size_lm(uint64_t seed, size_t *len)
{
    char *path = tu_data_path("shapes-lm_24khz.json");
    size_t jlen;
    uint8_t *text = tu_read_file(path, &jlen);
    free(path);
    cJSON *shapes = cJSON_ParseWithLength((const char *)text, jlen);
    assert_non_null(shapes);
    free(text);
    cJSON *header = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(header, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddStringToObject(meta, "config",
                            "{\"n_q\": 32, \"card\": 1024, \"dim\": 200, \"num_heads\": 8, "
                            "\"num_layers\": 5, \"hidden_scale\": 4.0, \"max_period\": 10000.0, "
                            "\"gelu\": true, \"norm_in\": true, \"norm_first\": false, "
                            "\"dropout\": 0.0, \"past_context\": 262}");
    size_t total = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, shapes)
    {
        size_t n = 1;
        cJSON *dimv;
        cJSON_ArrayForEach(dimv, item) n *= (size_t)dimv->valueint;
        cJSON *entry = cJSON_AddObjectToObject(header, item->string);
        cJSON_AddStringToObject(entry, "dtype", "F32");
        cJSON_AddItemToObject(entry, "shape", cJSON_Duplicate(item, 1));
        cJSON *offs = cJSON_AddArrayToObject(entry, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)total));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(total + 4 * n)));
        total += 4 * n;
    }
    float *data = malloc(total);
    size_t at = 0;
    rng_state = seed;
    cJSON_ArrayForEach(item, shapes)
    {
        const int nd = cJSON_GetArraySize(item);
        const int rows = cJSON_GetArrayItem(item, 0)->valueint;
        const int cols = nd > 1 ? cJSON_GetArrayItem(item, 1)->valueint : 1;
        const int is_norm = strstr(item->string, "norm") != NULL;
        const int is_emb = strncmp(item->string, "emb.", 4) == 0;
        const float scale = nd > 1 ? (is_emb ? 1.7f : 1.0f / sqrtf((float)cols)) : 0.1f;
        for (size_t i = 0; i < (size_t)rows * cols; i++) {
            const float u = rng_uniform();
            data[at++] = is_norm && strstr(item->string, "weight") ? 1.0f + 0.2f * u
                                                                     : scale * u;
        }
    }
    uint8_t *img = serialise(header, (const uint8_t *)data, total, len);
    free(data);
    cJSON_Delete(header);
    cJSON_Delete(shapes);
    return img;
}

static void test_full_size_random(void **state)
{
    (void)state;
    const uint64_t seed = (uint64_t)time(NULL) | 1;
    printf("  random full-size LM, seed %llu\n", (unsigned long long)seed);
    size_t len;
    uint8_t *img = random_full_size_lm(seed, &len);
    ecl_lm *lm;
    char msg[512];
    assert_int_equal(ecl_lm_load(img, len, "<random>", &lm, msg, sizeof msg), ENCODEC_OK);
    free(img);
    assert_int_equal(lm->dim, 200);
    assert_int_equal(lm->ff_dim, 800);
    assert_int_equal(lm->head_dim, 25);
    assert_int_equal(lm->n_q, 32);

    /* time one step once the 262-frame window is full: best of 5 blocks of 40 frames (the
     * minimum is robust against other load on the machine) */
    const int ks[3] = {2, 8, 32};
    float *probs = malloc(32 * (size_t)lm->card * sizeof *probs);
    for (int i = 0; i < 3; i++) {
        ecl_lm_state *st;
        assert_int_equal(ecl_lm_state_create(lm, 0, &st), ENCODEC_OK);
        int32_t p[32] = {0};
        double best = 1e30, t0 = 0;
        for (int t = 0; t < 270 + 5 * 40; t++) {
            if (t >= 270 && (t - 270) % 40 == 0) {
                const double t1 = now_s();
                if (t > 270 && t1 - t0 < best)
                    best = t1 - t0;
                t0 = t1;
            }
            assert_int_equal(ecl_lm_step(lm, st, p, ks[i], probs), ENCODEC_OK);
            for (int k = 0; k < ks[i]; k++)
                p[k] = 1 + (int)((rng_uniform() + 1.0f) * 511.9f);
        }
        printf("  full size (dim 200, 5 layers, window 262), %2d codebooks: %.3f ms/frame "
               "(1 thread)\n",
               ks[i], best * 1e3 / 40);
        ecl_lm_state_free(st);
    }
    free(probs);
    /* threads: 1 and 2 give the same bits, step and sequence agree (after the timing, so that
     * idle OpenMP workers spinning on a small machine do not disturb it) */
    const int K = 32, T = 12;
    int32_t *prev = calloc((size_t)T * K, sizeof *prev);
    for (int t = 1; t < T; t++)
        for (int k = 0; k < K; k++)
            prev[t * K + k] = 1 + (int)((rng_uniform() + 1.0f) * 511.9f);
    float *a = run_steps(lm, 0, prev, K, T, ENCODEC_KERNELS_PORTABLE, 1);
    float *b = run_steps(lm, 0, prev, K, T, ENCODEC_KERNELS_AUTO, 2);
    float *c = malloc((size_t)T * K * lm->card * sizeof *c);
    assert_int_equal(ecl_lm_forward_sequence(lm, 5, prev, T, K, c, 2), ENCODEC_OK);
    float *d = run_steps(lm, 5, prev, K, T, ENCODEC_KERNELS_AUTO, 1);
    float *e = run_blocks(lm, 5, prev, K, T, ENCODEC_KERNELS_AUTO, 2, 3u);
    const size_t bytes = (size_t)T * K * lm->card * sizeof *a;
    assert_memory_equal(a, b, bytes);
    assert_memory_equal(c, d, bytes);
    assert_memory_equal(c, e, bytes);
    free(e);
    for (size_t i = 0; i < (size_t)T * K * lm->card; i++)
        assert_true(a[i] >= 0.0f && a[i] <= 1.0f);
    free(a);
    free(b);
    free(c);
    free(d);
    free(prev);

    ecl_lm_free(lm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detmath_vs_libm),
        cmocka_unit_test(test_golden_tiny24),
        cmocka_unit_test(test_golden_tiny48_segments),
        cmocka_unit_test(test_step_equals_sequence),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_step_arguments),
        cmocka_unit_test(test_attach_to_model),
        cmocka_unit_test(test_f16_weights),
        cmocka_unit_test(test_full_size_random),
    };
    /* e.g. TEST_LM_FILTER=test_full_size_random to run (and profile) one test */
    if (getenv("TEST_LM_FILTER"))
        cmocka_set_test_filter(getenv("TEST_LM_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
