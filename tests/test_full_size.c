/* Full-size models: a random checkpoint with exactly the shapes of the released encodec_24khz
 * and encodec_48khz models (tests/data/shapes-*.json) is written in torch.save's format,
 * converted with encodec-convert, loaded, and run: properties as the released models', whole
 * signal vs streaming identical, round-trip lengths right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static encodec_model *make_model(const char *dir, const char *shapes, const char *name)
{
    char cmd[4096], th[1024], st[1024];
    snprintf(th, sizeof th, "%s/%s.th", dir, name);
    snprintf(st, sizeof st, "%s/%s.safetensors", dir, name);
    snprintf(cmd, sizeof cmd,
             "%s %s/tools/make-random-checkpoint --seed 7 %s/%s %s && "
             "%s %s/tools/encodec-convert %s %s",
             PYTHON3, ENCODEC_SOURCE_DIR, ENCODEC_TEST_DATA, shapes, th, PYTHON3,
             ENCODEC_SOURCE_DIR, th, st);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
    encodec_model *m;
    char msg[512];
    if (encodec_model_load_file(st, &m, msg, sizeof msg) != ENCODEC_OK)
        fail_msg("%s", msg);
    return m;
}

/* max_state_mb bounds the per-stream state (encoder + decoder): its buffers must scale with one
 * push (or segment), not grow from layer to layer. */
static void run_model(encodec_model *m, size_t len, float bw, size_t max_state_mb)
{
    const int ch = encodec_model_channels(m);
    float *pcm = malloc(len * ch * sizeof *pcm);
    unsigned seed = 99;
    for (size_t i = 0; i < len * ch; i++) {
        seed = seed * 1664525u + 1013904223u;
        pcm[i] = 0.3f * ((float)(seed >> 8) / 16777216.0f - 0.5f);
    }
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    assert_int_equal(encodec_encoder_set_bandwidth(e, bw), 0);
    const size_t state = encodec_encoder_state_size(e) + encodec_decoder_state_size(d);
    print_message("%s: stream state encoder %.1f MB + decoder %.1f MB\n", encodec_model_name(m),
                  encodec_encoder_state_size(e) / 1048576.0,
                  encodec_decoder_state_size(d) / 1048576.0);
    if (state > max_state_mb << 20)
        fail_msg("stream state %zu MB > %zu MB", state >> 20, max_state_mb);
    const int K = encodec_encoder_codebooks(e);
    const size_t max = encodec_encoder_max_frames(e, len);
    int32_t *codes = malloc(max * K * sizeof *codes), *codes2 = malloc(max * K * sizeof *codes2);
    float *scales = malloc(max * sizeof *scales), *scales2 = malloc(max * sizeof *scales2);
    size_t n, a, b;
    assert_int_equal(encodec_encode(e, pcm, len, codes, scales, max, &n), 0);
    assert_int_equal(n, max);
    /* streaming in uneven chunks gives the same codes */
    size_t done = 0, frames = 0;
    for (size_t chunk = 777; done < len; chunk = chunk * 3 % 2000 + 1) {
        size_t c = chunk < len - done ? chunk : len - done;
        assert_int_equal(encodec_encoder_push(e, pcm + done * ch, c, codes2 + frames * K,
                                              scales2 + frames, max - frames, &a), 0);
        frames += a;
        done += c;
    }
    assert_int_equal(encodec_encoder_flush(e, codes2 + frames * K, scales2 + frames, max - frames, &b), 0);
    assert_int_equal(frames + b, n);
    assert_memory_equal(codes, codes2, n * K * sizeof *codes);
    const size_t max_pcm = encodec_decoder_max_samples(d, n);
    float *out = malloc(max_pcm * ch * sizeof *out);
    assert_int_equal(encodec_decode(d, codes, scales, n, K, out, max_pcm, &a), 0);
    assert_true(a >= len);
    print_message("%s: %zu samples -> %zu frames x %d codebooks -> %zu samples\n",
                  encodec_model_name(m), len, n, K, a);
    /* .ecdc round trip keeps the exact length */
    uint8_t *bytes;
    size_t size;
    float *back;
    assert_int_equal(encodec_compress(e, pcm, len, 0, &bytes, &size), 0);
    assert_int_equal(encodec_decompress(d, bytes, size, &back, &b), 0);
    assert_int_equal(b, len);
    assert_memory_equal(back, out, len * ch * sizeof *out);
    encodec_buffer_free(bytes);
    encodec_buffer_free(back);
    free(pcm);
    free(codes);
    free(codes2);
    free(scales);
    free(scales2);
    free(out);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
}

static void test_24khz(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    encodec_model *m = make_model(dir, "shapes-encodec_24khz.json", "encodec_24khz");
    assert_string_equal(encodec_model_name(m), "encodec_24khz");
    assert_int_equal(encodec_model_sample_rate(m), 24000);
    assert_int_equal(encodec_model_channels(m), 1);
    assert_int_equal(encodec_model_max_codebooks(m), 32);
    assert_int_equal(encodec_model_codebooks_for_bandwidth(m, 6.0f), 8);
    run_model(m, 24000 + 123, 6.0f, 48);
    encodec_model_free(m);
    tu_rmtree(dir);
    free(dir);
}

static void test_48khz(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    encodec_model *m = make_model(dir, "shapes-encodec_48khz.json", "encodec_48khz");
    assert_string_equal(encodec_model_name(m), "encodec_48khz");
    assert_int_equal(encodec_model_sample_rate(m), 48000);
    assert_int_equal(encodec_model_channels(m), 2);
    assert_int_equal(encodec_model_max_codebooks(m), 16);
    assert_int_equal(encodec_model_codebooks_for_bandwidth(m, 1.5f), ENCODEC_EBANDWIDTH);
    assert_int_equal(encodec_model_codebooks_for_bandwidth(m, 12.0f), 8);
    run_model(m, 48000 + 1000, 12.0f, 56); /* two segments */
    encodec_model_free(m);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_24khz),
        cmocka_unit_test(test_48khz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
