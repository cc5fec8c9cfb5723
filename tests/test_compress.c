/* End-to-end tests of encodec_compress / encodec_decompress (src/compress.c) with the tiny24
 * model: decompressing the reference's .ecdc gives the reference's decoded audio (trimmed to
 * the original length), compressing the excerpt at 1.5 kbps gives the reference's file byte for
 * byte (codes at the lowest bandwidth match exactly), a compress/decompress round trip works,
 * and streams for another model, with too many codebooks, damaged or LM-coded without an LM
 * fail with their specific errors. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    encodec_model *model;
    encodec_encoder *enc;
    encodec_decoder *dec;
    tu_golden *g;
    uint8_t *nolm, *lm;
    size_t nolm_len, lm_len;
} fixture;

static uint8_t *read_data(const char *name, size_t *len)
{
    char *path = tu_data_path(name);
    uint8_t *d = tu_read_file(path, len);
    free(path);
    return d;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->model = tu_load_model("tiny24.safetensors");
    assert_int_equal(encodec_encoder_create(f->model, &f->enc), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(f->model, &f->dec), ENCODEC_OK);
    f->g = tu_golden_open("tiny24.golden.safetensors");
    f->nolm = read_data("tiny24_excerpt_bw1.5_nolm.ecdc", &f->nolm_len);
    f->lm = read_data("tiny24_excerpt_bw1.5_lm.ecdc", &f->lm_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    encodec_encoder_free(f->enc);
    encodec_decoder_free(f->dec);
    encodec_model_free(f->model);
    tu_golden_close(f->g);
    free(f->nolm);
    free(f->lm);
    free(f);
    return 0;
}

/* decompress(data) must give the first n samples of the golden decode `decoded`. */
static void check_decompress(fixture *f, const uint8_t *data, size_t len, const char *decoded,
                             size_t n)
{
    float *pcm = NULL;
    size_t n_samples = 0;
    assert_int_equal(encodec_decompress(f->dec, data, len, &pcm, &n_samples), ENCODEC_OK);
    assert_non_null(pcm);
    assert_int_equal(n_samples, n);
    size_t n_ref;
    const float *ref = tu_golden_f32(f->g, decoded, NULL, NULL, &n_ref);
    assert_true(n_ref >= n);
    double err = tu_max_abs_diff(pcm, ref, n);
    printf("decompress vs %s: max abs diff %.3g\n", decoded, err);
    assert_true(err <= 1e-4);
    encodec_buffer_free(pcm);
}

static void test_decompress_golden(void **state)
{
    fixture *f = *state;
    check_decompress(f, f->nolm, f->nolm_len, "excerpt.bw1.5.decoded", 36000);
}

static void test_compress_golden(void **state)
{
    fixture *f = *state;
    size_t n;
    const float *audio = tu_golden_f32(f->g, "excerpt.audio", NULL, NULL, &n);
    assert_int_equal(n, 36000);
    assert_int_equal(encodec_encoder_set_bandwidth(f->enc, 1.5f), ENCODEC_OK);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(encodec_compress(f->enc, audio, n, 0, &out, &out_len), ENCODEC_OK);
    assert_int_equal(out_len, f->nolm_len);
    assert_memory_equal(out, f->nolm, out_len);
    encodec_buffer_free(out);
}

/* compress then decompress the synthetic input: same as the reference's decode of its codes */
static void test_roundtrip_synth(void **state)
{
    fixture *f = *state;
    size_t n;
    const float *audio = tu_golden_f32(f->g, "synth.audio", NULL, NULL, &n);
    assert_int_equal(encodec_encoder_set_bandwidth(f->enc, 1.5f), ENCODEC_OK);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(encodec_compress(f->enc, audio, n, 0, &out, &out_len), ENCODEC_OK);
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(out, out_len, &info), ENCODEC_OK);
    assert_string_equal(info.model_name, "tiny24");
    assert_int_equal(info.audio_length, n);
    assert_int_equal(info.n_codebooks, 2);
    assert_int_equal(info.use_lm, 0);
    /* header, then 10 bits per code */
    size_t frames = (n + 319) / 320;
    assert_int_equal(out_len, info.header_size + (frames * 2 * 10 + 7) / 8);
    check_decompress(f, out, out_len, "synth.bw1.5.decoded", n);
    encodec_buffer_free(out);
}

/* Replace the metadata of the golden stream (payload kept). */
static uint8_t *with_metadata(const fixture *f, const char *json, size_t *len)
{
    size_t n = strlen(json), payload = f->nolm_len - 59;
    *len = 9 + n + payload;
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    memcpy(b, "ECDC\0\0\0", 7);
    b[7] = (uint8_t)(n >> 8);
    b[8] = (uint8_t)n;
    memcpy(b + 9, json, n);
    memcpy(b + 9 + n, f->nolm + 59, payload);
    return b;
}

static int decompress_rc(fixture *f, const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size, for ASan */
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    float *pcm = (float *)copy;
    size_t n = 123;
    int rc = encodec_decompress(f->dec, copy, len, &pcm, &n);
    if (rc < 0) {
        assert_null(pcm);
        assert_int_equal(n, 0);
    }
    encodec_buffer_free(rc == ENCODEC_OK ? pcm : NULL);
    free(copy);
    return rc;
}

static void test_errors(void **state)
{
    fixture *f = *state;
    float *pcm;
    size_t n;
    uint8_t *out;
    size_t out_len;
    float x[320] = {0};

    /* a stream made for the other tiny model */
    size_t len48;
    uint8_t *s48 = read_data("tiny48_excerpt_bw3_nolm.ecdc", &len48);
    assert_int_equal(decompress_rc(f, s48, len48), ENCODEC_EECDC_MODEL);
    free(s48);
    size_t len;
    uint8_t *b = with_metadata(f, "{\"m\": \"encodec_24khz\", \"al\": 36000, \"nc\": 2, \"lm\": false}",
                               &len);
    assert_int_equal(decompress_rc(f, b, len), ENCODEC_EECDC_MODEL);
    free(b);
    /* more codebooks than the model has (32) */
    b = with_metadata(f, "{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 33, \"lm\": false}", &len);
    assert_int_equal(decompress_rc(f, b, len), ENCODEC_EECDC_MODEL);
    free(b);
    /* LM-coded, but the model has no LM */
    assert_int_equal(encodec_model_has_lm(f->model), 0);
    assert_int_equal(decompress_rc(f, f->lm, f->lm_len), ENCODEC_EUNSUPPORTED);
    assert_int_equal(encodec_compress(f->enc, x, 320, 1, &out, &out_len), ENCODEC_EUNSUPPORTED);
    /* damage */
    assert_int_equal(decompress_rc(f, f->nolm, f->nolm_len - 1), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(decompress_rc(f, f->nolm, 30), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(decompress_rc(f, f->nolm, 0), ENCODEC_EECDC_TRUNCATED);
    b = malloc(f->nolm_len + 1);
    assert_non_null(b);
    memcpy(b, f->nolm, f->nolm_len);
    b[f->nolm_len] = 0x55;
    assert_int_equal(decompress_rc(f, b, f->nolm_len + 1), ENCODEC_EECDC_TRAILING);
    b[0] = 'R';
    assert_int_equal(decompress_rc(f, b, f->nolm_len), ENCODEC_EECDC_MAGIC);
    b[0] = 'E';
    b[4] = 1;
    assert_int_equal(decompress_rc(f, b, f->nolm_len), ENCODEC_EECDC_VERSION);
    free(b);
    b = with_metadata(f, "{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2}", &len);
    assert_int_equal(decompress_rc(f, b, len), ENCODEC_EECDC_HEADER);
    free(b);
    /* bad arguments */
    assert_int_equal(encodec_decompress(NULL, f->nolm, f->nolm_len, &pcm, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decompress(f->dec, NULL, 5, &pcm, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decompress(f->dec, f->nolm, f->nolm_len, NULL, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decompress(f->dec, f->nolm, f->nolm_len, &pcm, NULL),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(NULL, x, 320, 0, &out, &out_len), ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(f->enc, NULL, 320, 0, &out, &out_len), ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(f->enc, x, 0, 0, &out, &out_len), ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(f->enc, x, 320, 0, NULL, &out_len), ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(f->enc, x, 320, 0, &out, NULL), ENCODEC_EINVAL);
    encodec_buffer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decompress_golden),
        cmocka_unit_test(test_compress_golden),
        cmocka_unit_test(test_roundtrip_synth),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
