/* Entropy-coded .ecdc (lm = true) through the public API: with the tiny LMs attached, compress
 * and decompress round-trip to exactly the audio of the bit-packed path (the coding is
 * lossless), for the 24 kHz model and the segmented 48 kHz one (LM state reset per segment);
 * streams use fewer codebooks than the LM has; errors without an LM or with too many
 * codebooks. (Byte-exactness of the coder and container against the reference is covered by
 * test_ecdc with the golden intervals: the reference's float32 LM rounds differently, so its
 * LM streams are not expected to decode here, see the golden README.) */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static float *interleave(const float *planar, int channels, size_t len)
{
    float *x = malloc(len * channels * sizeof *x);
    for (size_t t = 0; t < len; t++)
        for (int c = 0; c < channels; c++)
            x[t * channels + c] = planar[c * len + t];
    return x;
}

static void round_trip(const char *model_name, const char *lm_name, const char *golden,
                       float bandwidth)
{
    encodec_model *m = tu_load_model(model_name);
    char *lm_path = tu_data_path(lm_name);
    char msg[256];
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    assert_int_equal(encodec_encoder_set_bandwidth(e, bandwidth), 0);
    tu_golden *g = tu_golden_open(golden);
    int64_t shape[8];
    const float *audio = tu_golden_f32(g, "excerpt.audio", shape, NULL, NULL);
    const int ch = (int)shape[0];
    const size_t len = (size_t)shape[1];
    float *pcm = interleave(audio, ch, len);

    uint8_t *plain, *coded;
    size_t plain_size, coded_size, n1, n2;
    float *a1, *a2;
    /* without an LM attached, lm mode is refused both ways */
    assert_int_equal(encodec_compress(e, pcm, len, 1, &coded, &coded_size), ENCODEC_EUNSUPPORTED);
    assert_int_equal(encodec_compress(e, pcm, len, 0, &plain, &plain_size), 0);
    assert_int_equal(encodec_model_has_lm(m), 0);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    assert_int_equal(encodec_model_load_lm_file(m, lm_path, msg, sizeof msg), ENCODEC_OK);
    assert_int_equal(encodec_model_has_lm(m), 1);
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    assert_int_equal(encodec_encoder_set_bandwidth(e, bandwidth), 0);
    assert_int_equal(encodec_compress(e, pcm, len, 1, &coded, &coded_size), 0);
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(coded, coded_size, &info), 0);
    assert_int_equal(info.use_lm, 1);
    print_message("%s: %zu bytes bit-packed, %zu bytes LM-coded (random LM)\n", model_name,
                  plain_size, coded_size);
    assert_int_equal(encodec_decompress(d, plain, plain_size, &a1, &n1), 0);
    assert_int_equal(encodec_decompress(d, coded, coded_size, &a2, &n2), 0);
    assert_int_equal(n1, len);
    assert_int_equal(n2, len);
    assert_memory_equal(a1, a2, len * ch * sizeof *a1); /* lossless: same codes, same audio */
    /* encoded with 2 threads: the same bytes (decoded above with 1) */
    uint8_t *coded2;
    size_t coded2_size;
    assert_int_equal(encodec_encoder_set_threads(e, 2), 0);
    assert_int_equal(encodec_compress(e, pcm, len, 1, &coded2, &coded2_size), 0);
    assert_int_equal(coded2_size, coded_size);
    assert_memory_equal(coded2, coded, coded_size);
    encodec_buffer_free(coded2);
    /* The LM is computed the same way on every kernel path: a file LM-coded on any path
     * decodes on any other to the codes of its bit-packed twin (the codes themselves may
     * differ between paths by float rounding in the encoder). */
    assert_int_equal(encodec_encoder_set_threads(e, 1), 0);
    for (int enc_isa = ENCODEC_KERNELS_PORTABLE; enc_isa <= ENCODEC_KERNELS_NEON; enc_isa++) {
        if (!encodec_kernels_supported((encodec_kernels)enc_isa))
            continue;
        uint8_t *p3, *c3;
        size_t p3_size, c3_size;
        assert_int_equal(encodec_encoder_set_kernels(e, (encodec_kernels)enc_isa), 0);
        assert_int_equal(encodec_compress(e, pcm, len, 0, &p3, &p3_size), 0);
        assert_int_equal(encodec_compress(e, pcm, len, 1, &c3, &c3_size), 0);
        for (int dec_isa = ENCODEC_KERNELS_PORTABLE; dec_isa <= ENCODEC_KERNELS_NEON; dec_isa++) {
            if (!encodec_kernels_supported((encodec_kernels)dec_isa))
                continue;
            float *b1, *b2;
            size_t m1, m2;
            assert_int_equal(encodec_decoder_set_kernels(d, (encodec_kernels)dec_isa), 0);
            assert_int_equal(encodec_decompress(d, p3, p3_size, &b1, &m1), 0);
            assert_int_equal(encodec_decompress(d, c3, c3_size, &b2, &m2), 0);
            assert_int_equal(m1, m2);
            assert_memory_equal(b1, b2, m1 * ch * sizeof *b1);
            encodec_buffer_free(b1);
            encodec_buffer_free(b2);
        }
        encodec_buffer_free(p3);
        encodec_buffer_free(c3);
    }
    /* every truncation of the LM stream fails cleanly */
    for (size_t cut = 0; cut < coded_size; cut += 1 + cut / 8) {
        float *x;
        size_t n;
        assert_true(encodec_decompress(d, coded, cut, &x, &n) < 0);
    }
    encodec_buffer_free(coded);
    /* a codebook count beyond the LM's tables */
    assert_int_equal(encodec_encoder_set_bandwidth(e, encodec_model_bandwidth(m, 3)), 0);
    assert_int_equal(encodec_compress(e, pcm, len, 1, &coded, &coded_size) == ENCODEC_EUNSUPPORTED, 1);
    encodec_buffer_free(plain);
    encodec_buffer_free(a1);
    encodec_buffer_free(a2);
    free(pcm);
    free(lm_path);
    tu_golden_close(g);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(m);
}

static void test_tiny24(void **state)
{
    (void)state;
    round_trip("tiny24.safetensors", "tiny24_lm.safetensors", "tiny24.golden.safetensors", 1.5f);
}

static void test_tiny48(void **state)
{
    (void)state;
    round_trip("tiny48.safetensors", "tiny48_lm.safetensors", "tiny48.golden.safetensors", 3.0f);
}

static void test_lm_attach_errors(void **state)
{
    (void)state;
    encodec_model *m = tu_load_model("tiny24.safetensors");
    char msg[256];
    assert_int_equal(encodec_model_load_lm_file(m, "/nonexistent_lm.safetensors", msg, sizeof msg),
                     ENCODEC_EIO);
    char *codec = tu_data_path("tiny48.safetensors"); /* a codec file is not an LM */
    assert_true(encodec_model_load_lm_file(m, codec, msg, sizeof msg) < 0);
    assert_int_equal(encodec_model_has_lm(m), 0);
    assert_int_equal(encodec_model_load_lm_file(NULL, codec, msg, sizeof msg), ENCODEC_EINVAL);
    free(codec);
    encodec_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny24),
        cmocka_unit_test(test_tiny48),
        cmocka_unit_test(test_lm_attach_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
