/* Hostile signals through both models: silence, DC, full-scale square waves, huge values,
 * a single sample, NaN and infinities. Nothing may crash; NaN/Inf input is refused; codes stay
 * in range; finite input gives finite output of the right length and an .ecdc file that
 * decodes to that length. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { SILENCE, DC, SQUARE, HUGE_VALUES, SINGLE, NAN_INF, N_KINDS };
static const char *names[] = {"silence", "DC", "square", "huge", "single sample", "NaN/Inf"};

static void fill(float *x, size_t n, int ch, int kind)
{
    for (size_t t = 0; t < n * ch; t++) {
        switch (kind) {
        case SILENCE: x[t] = 0.0f; break;
        case DC: x[t] = 0.5f; break;
        case SQUARE: x[t] = (t / 37) % 2 ? 1.0f : -1.0f; break;
        case HUGE_VALUES: x[t] = (t % 3 ? 1e30f : -1e30f); break;
        case SINGLE: x[t] = 0.25f; break;
        case NAN_INF: x[t] = t % 5 == 0 ? NAN : (t % 5 == 1 ? INFINITY : 0.1f); break;
        }
    }
}

static void run(const char *model_name)
{
    encodec_model *m = tu_load_model(model_name);
    const int ch = encodec_model_channels(m);
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    assert_int_equal(encodec_encoder_set_bandwidth(e, encodec_model_bandwidth(m, 1)), 0);
    const int K = encodec_encoder_codebooks(e);
    for (int kind = 0; kind < N_KINDS; kind++) {
        const size_t len = kind == SINGLE ? 1 : 50000;
        float *x = malloc(len * ch * sizeof *x);
        fill(x, len, ch, kind);
        const size_t max = encodec_encoder_max_frames(e, len);
        int32_t *codes = malloc(max * K * sizeof *codes);
        float *scales = malloc(max * sizeof *scales);
        size_t frames;
        if (kind == NAN_INF) {
            uint8_t *bytes;
            size_t size;
            assert_int_equal(encodec_encode(e, x, len, codes, scales, max, &frames), ENCODEC_EINVAL);
            assert_int_equal(frames, 0);
            assert_int_equal(encodec_compress(e, x, len, 0, &bytes, &size), ENCODEC_EINVAL);
            print_message("%s, %s: refused\n", model_name, names[kind]);
            free(x);
            free(codes);
            free(scales);
            continue;
        }
        assert_int_equal(encodec_encode(e, x, len, codes, scales, max, &frames), ENCODEC_OK);
        for (size_t i = 0; i < frames * K; i++)
            assert_true(codes[i] >= 0 && codes[i] < 1024);
        const size_t max_pcm = encodec_decoder_max_samples(d, frames);
        float *y = malloc(max_pcm * ch * sizeof *y);
        size_t n;
        int rc = encodec_decode(d, codes, scales, frames, K, y, max_pcm, &n);
        assert_int_equal(rc, ENCODEC_OK);
        assert_true(n >= len);
        for (size_t i = 0; i < n * ch; i++)
            assert_true(isfinite(y[i]));
        uint8_t *bytes;
        size_t size;
        float *back;
        size_t nb;
        assert_int_equal(encodec_compress(e, x, len, 0, &bytes, &size), ENCODEC_OK);
        assert_int_equal(encodec_decompress(d, bytes, size, &back, &nb), ENCODEC_OK);
        assert_int_equal(nb, len);
        encodec_buffer_free(back);
        encodec_buffer_free(bytes);
        print_message("%s, %s: %zu frames, decode %s\n", model_name, names[kind], frames,
                      encodec_strerror(rc));
        free(x);
        free(codes);
        free(scales);
        free(y);
    }
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(m);
}

static void test_tiny24(void **state)
{
    (void)state;
    run("tiny24.safetensors");
}

static void test_tiny48(void **state)
{
    (void)state;
    run("tiny48.safetensors");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tiny24), cmocka_unit_test(test_tiny48)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
