/* The 48 kHz-style model (tiny48: stereo, non-causal, time group norm, volume normalisation,
 * 1 s segments with overlap-add) against the reference's golden vectors: per-layer traces,
 * segment scales and latents, codes, decoded audio after overlap-add, and .ecdc files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rvq.h"
#include "seanet.h"
#include "testutil.h"

static const char *inputs[] = {"excerpt", "synth", "short"};
static const char *bandwidths[] = {"3", "6", "12", "24"};

typedef struct {
    encodec_model *model;
    tu_golden *golden;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->model = tu_load_model("tiny48.safetensors");
    f->golden = tu_golden_open("tiny48.golden.safetensors");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    encodec_model_free(f->model);
    tu_golden_close(f->golden);
    free(f);
    return 0;
}

static void test_layer_traces(void **state)
{
    fixture *f = *state;
    tu_collector enc, dec;
    tu_collector_init(&enc, 2000);
    tu_collector_init(&dec, 2000);
    tu_run_stream(f->model, 0, tu_golden_f32(f->golden, "short.trace.normalized_input", NULL, NULL, NULL),
               2, 300, &enc, 1);
    tu_check_traces(f->golden, &enc, "enc");
    tu_run_stream(f->model, 1, tu_golden_f32(f->golden, "short.trace.quantized", NULL, NULL, NULL), 2,
               1, &dec, 1);
    tu_check_traces(f->golden, &dec, "dec");
    tu_collector_free(&enc);
    tu_collector_free(&dec);
}

/* Interleave a golden [C][L] tensor. */
static float *interleave(const float *planar, int channels, size_t len)
{
    float *x = malloc(len * channels * sizeof *x);
    for (size_t t = 0; t < len; t++)
        for (int c = 0; c < channels; c++)
            x[t * channels + c] = planar[c * len + t];
    return x;
}

/* Codes, scales and latents through the public encoder; latents per segment from the scales. */
static void test_encoder(void **state)
{
    fixture *f = *state;
    encodec_encoder *enc;
    assert_int_equal(encodec_encoder_create(f->model, &enc), ENCODEC_OK);
    for (int i = 0; i < 3; i++) {
        char name[64];
        int64_t shape[8];
        size_t n_scales;
        snprintf(name, sizeof name, "%s.audio", inputs[i]);
        const float *audio = tu_golden_f32(f->golden, name, shape, NULL, NULL);
        const size_t len = (size_t)shape[1];
        float *pcm = interleave(audio, 2, len);
        snprintf(name, sizeof name, "%s.scales", inputs[i]);
        const float *want_scales = tu_golden_f32(f->golden, name, NULL, NULL, &n_scales);
        for (int b = 0; b < 4; b++) {
            snprintf(name, sizeof name, "%s.bw%s.seg0.codes", inputs[i], bandwidths[b]);
            if (!tu_golden_has(f->golden, name))
                continue;
            assert_int_equal(encodec_encoder_set_bandwidth(enc, (float)atof(bandwidths[b])), 0);
            const int K = encodec_encoder_codebooks(enc);
            size_t max = encodec_encoder_max_frames(enc, len), frames;
            int32_t *codes = malloc(max * K * sizeof *codes);
            float *scales = malloc(max * sizeof *scales);
            assert_int_equal(encodec_encode(enc, pcm, len, codes, scales, max, &frames), ENCODEC_OK);
            assert_int_equal(frames, max);
            size_t first = 0, diff = 0, total = 0;
            for (size_t j = 0; j < n_scales; j++) {
                snprintf(name, sizeof name, "%s.bw%s.seg%zu.codes", inputs[i], bandwidths[b], j);
                const int32_t *want = tu_golden_i32(f->golden, name, shape, NULL, NULL);
                const int T = (int)shape[1];
                assert_int_equal(shape[0], K);
                for (int t = 0; t < T; t++) {
                    assert_float_equal(scales[first + t], want_scales[j], 0); /* bit-exact */
                    for (int k = 0; k < K; k++)
                        diff += codes[(first + t) * K + k] != want[k * T + t];
                }
                first += T;
                total += (size_t)T * K;
            }
            assert_int_equal(first, frames);
            print_message("%s bw%s: %zu/%zu codes differ end to end\n", inputs[i], bandwidths[b],
                          diff, total);
            if (b == 0)
                assert_int_equal(diff, 0);
            else
                assert_true(diff * 100 <= 15 * total);
            free(codes);
            free(scales);
        }
        /* latent of every segment from the golden scale */
        for (size_t j = 0; j < n_scales; j++) {
            const size_t off = j * 47520, seg = len - off < 48000 ? len - off : 48000;
            float *x = malloc(2 * seg * sizeof *x);
            for (int c = 0; c < 2; c++)
                for (size_t t = 0; t < seg; t++)
                    x[c * seg + t] = audio[c * len + off + t] / want_scales[j];
            tu_collector col;
            tu_collector_init(&col, 200);
            tu_run_stream(f->model, 0, x, 2, (int)seg, &col, 0);
            snprintf(name, sizeof name, "%s.seg%zu.latent", inputs[i], j);
            double d = tu_collector_compare(&col, TU_SLOT_OUT,
                                            tu_golden_f32(f->golden, name, shape, NULL, NULL), shape);
            print_message("%s seg%zu latent: max abs diff %.3g\n", inputs[i], j, d);
            assert_true(d <= 1e-4);
            tu_collector_free(&col);
            free(x);
        }
        free(pcm);
    }
    encodec_encoder_free(enc);
}

/* Decoder on the stored codes and scales: segments, scale, linear overlap-add. */
/* Decode every stored code set with `model`; each within tol of the stored audio. Returns the
 * largest difference. */
static double check_decoder(fixture *f, encodec_model *model, double tol)
{
    double worst = 0;
    encodec_decoder *dec;
    assert_int_equal(encodec_decoder_create(model, &dec), ENCODEC_OK);
    for (int i = 0; i < 3; i++) {
        char name[64];
        int64_t shape[8];
        size_t n_scales;
        snprintf(name, sizeof name, "%s.scales", inputs[i]);
        const float *want_scales = tu_golden_f32(f->golden, name, NULL, NULL, &n_scales);
        for (int b = 0; b < 4; b++) {
            snprintf(name, sizeof name, "%s.bw%s.decoded", inputs[i], bandwidths[b]);
            if (!tu_golden_has(f->golden, name))
                continue;
            const float *want = tu_golden_f32(f->golden, name, shape, NULL, NULL);
            const size_t want_len = (size_t)shape[1];
            int32_t *codes = malloc(2000 * 16 * sizeof *codes);
            float *scales = malloc(2000 * sizeof *scales);
            size_t frames = 0;
            int K = 0;
            for (size_t j = 0; j < n_scales; j++) {
                snprintf(name, sizeof name, "%s.bw%s.seg%zu.codes", inputs[i], bandwidths[b], j);
                const int32_t *c = tu_golden_i32(f->golden, name, shape, NULL, NULL);
                K = (int)shape[0];
                for (int t = 0; t < shape[1]; t++) {
                    for (int k = 0; k < K; k++)
                        codes[(frames + t) * K + k] = c[k * shape[1] + t];
                    scales[frames + t] = want_scales[j];
                }
                frames += (size_t)shape[1];
            }
            size_t max = encodec_decoder_max_samples(dec, frames), got;
            float *pcm = malloc(max * 2 * sizeof *pcm);
            assert_int_equal(encodec_decode(dec, codes, scales, frames, K, pcm, max, &got), 0);
            assert_int_equal(got, want_len);
            float *want_i = interleave(want, 2, want_len);
            double d = tu_max_abs_diff(pcm, want_i, 2 * want_len);
            if (tol <= 1e-4)
                print_message("%s bw%s: decoded max abs diff %.3g\n", inputs[i], bandwidths[b], d);
            assert_true(d <= tol);
            worst = d > worst ? d : worst;
            free(want_i);
            free(pcm);
            free(codes);
            free(scales);
        }
    }
    encodec_decoder_free(dec);
    return worst;
}

static void test_decoder(void **state) { check_decoder(*state, ((fixture *)*state)->model, 1e-4); }

/* The checkpoint converted with --f16 (group norm: the file's float16 values are kept as they
 * are) decodes close to the reference: measured max abs diff 1.9e-3 (audio range 1.4); bound
 * at about 3x, far under a wrong layout's error. */
static void test_f16_weights(void **state)
{
    fixture *f = *state;
    encodec_model *m = tu_load_model_f16("tiny48");
    assert_non_null(m->decoder.conv_in.weight.f16);
    assert_non_null(m->decoder.resample[0].weight.f16);
    print_message("float16 weights: decoded max abs diff %.3g\n", check_decoder(f, m, 6e-3));
    encodec_model_free(m);
}

/* The reference's .ecdc files decode to its audio; ours for the excerpt decode the same. */
static void test_ecdc(void **state)
{
    fixture *f = *state;
    encodec_decoder *dec;
    encodec_encoder *enc;
    assert_int_equal(encodec_decoder_create(f->model, &dec), ENCODEC_OK);
    assert_int_equal(encodec_encoder_create(f->model, &enc), ENCODEC_OK);
    char *path = tu_data_path("tiny48_excerpt_bw3_nolm.ecdc");
    size_t size;
    uint8_t *file = tu_read_file(path, &size);
    float *pcm;
    size_t n;
    assert_int_equal(encodec_decompress(dec, file, size, &pcm, &n), ENCODEC_OK);
    int64_t shape[8];
    const float *want = tu_golden_f32(f->golden, "excerpt.bw3.decoded", shape, NULL, NULL);
    assert_int_equal(n, 49440);
    float *want_i = interleave(want, 2, (size_t)shape[1]);
    double d = tu_max_abs_diff(pcm, want_i, 2 * n);
    print_message("decompressed reference file: max abs diff %.3g\n", d);
    assert_true(d <= 1e-4);
    encodec_buffer_free(pcm);

    /* A damaged scale (zero, negative, infinite, NaN) is a damaged payload. */
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(file, size, &info), ENCODEC_OK);
    const uint8_t bad_scales[][4] = {{0, 0, 0, 0}, {0xbf, 0x80, 0, 0}, {0x7f, 0x80, 0, 0},
                                     {0x7f, 0xc0, 0, 0}};
    for (int i = 0; i < 4; i++) {
        uint8_t *damaged = malloc(size);
        memcpy(damaged, file, size);
        memcpy(damaged + info.header_size, bad_scales[i], 4);
        float *x;
        size_t nx;
        assert_int_equal(encodec_decompress(dec, damaged, size, &x, &nx), ENCODEC_EECDC_CORRUPT);
        free(damaged);
    }

    /* Our file: the same bytes, scales included. */
    const float *audio = tu_golden_f32(f->golden, "excerpt.audio", shape, NULL, NULL);
    float *x = interleave(audio, 2, (size_t)shape[1]);
    uint8_t *ours;
    size_t ours_size;
    assert_int_equal(encodec_encoder_set_bandwidth(enc, 3.0f), 0);
    assert_int_equal(encodec_compress(enc, x, (size_t)shape[1], 0, &ours, &ours_size), ENCODEC_OK);
    assert_int_equal(ours_size, size);
    size_t differing = 0;
    for (size_t i = 0; i < size; i++)
        differing += ours[i] != file[i];
    print_message("our .ecdc: %zu of %zu bytes differ from the reference\n",
                  differing, size);
    assert_int_equal(differing, 0);
    encodec_buffer_free(ours);
    free(x);
    free(want_i);
    free(file);
    free(path);
    encodec_decoder_free(dec);
    encodec_encoder_free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_traces),
        cmocka_unit_test(test_encoder),
        cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_ecdc),
        cmocka_unit_test(test_f16_weights),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
