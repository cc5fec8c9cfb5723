/* Streaming equals whole-signal processing: for random chunkings (seeded; the seed is printed
 * and can be set with ENCODEC_TEST_SEED), sample by sample, with empty pushes, for every
 * bandwidth, on tiny24 (causal) and tiny48 (segmented). Also the stream life cycle (flush with
 * nothing pushed, flush twice, push after flush, reset mid-stream), buffer bounds and the
 * reported latencies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static uint32_t rng_state;
static unsigned rnd(unsigned n) { return tu_rand(&rng_state) % n; }

typedef struct {
    encodec_model *m;
    float *pcm; /* interleaved */
    size_t len;
} signal;

static signal load_signal(const char *model, const char *golden, const char *tensor)
{
    signal s;
    s.m = tu_load_model(model);
    tu_golden *g = tu_golden_open(golden);
    int64_t shape[8];
    const float *x = tu_golden_f32(g, tensor, shape, NULL, NULL);
    const int ch = (int)shape[0];
    s.len = (size_t)shape[1];
    s.pcm = malloc(s.len * ch * sizeof *s.pcm);
    for (size_t t = 0; t < s.len; t++)
        for (int c = 0; c < ch; c++)
            s.pcm[t * ch + c] = x[c * s.len + t];
    tu_golden_close(g);
    return s;
}

/* Encode s.pcm[0, len) pushing chunks of 1..max_chunk samples (0-length pushes mixed in). */
static size_t encode_chunked(encodec_encoder *e, const float *pcm, size_t len, int ch,
                             unsigned max_chunk, int32_t *codes, float *scales)
{
    const int K = encodec_encoder_codebooks(e);
    size_t frames = 0, done = 0, n;
    while (done < len) {
        size_t chunk = max_chunk == 1 ? 1 : 1 + rnd(max_chunk);
        if (rnd(10) == 0)
            chunk = 0;
        if (chunk > len - done)
            chunk = len - done;
        const size_t cap = encodec_encoder_max_frames(e, chunk);
        assert_int_equal(encodec_encoder_push(e, pcm + done * ch, chunk, codes + frames * K,
                                              scales + frames, cap, &n),
                         ENCODEC_OK);
        assert_true(n <= cap);
        frames += n;
        done += chunk;
    }
    const size_t cap = encodec_encoder_max_frames(e, 0);
    assert_int_equal(encodec_encoder_flush(e, codes + frames * K, scales + frames, cap, &n), 0);
    assert_int_equal(n, cap); /* the bound is exact at the end of a stream */
    return frames + n;
}

static size_t decode_chunked(encodec_decoder *d, const int32_t *codes, const float *scales,
                             size_t frames, int K, int ch, unsigned max_chunk, float *pcm)
{
    size_t out = 0, done = 0, n;
    while (done < frames) {
        size_t chunk = 1 + rnd(max_chunk);
        if (rnd(10) == 0)
            chunk = 0;
        if (chunk > frames - done)
            chunk = frames - done;
        const size_t cap = encodec_decoder_max_samples(d, chunk);
        assert_int_equal(encodec_decoder_push(d, codes + done * K, scales + done, chunk, K,
                                              pcm + out * ch, cap, &n),
                         ENCODEC_OK);
        out += n;
        done += chunk;
    }
    assert_int_equal(encodec_decoder_flush(d, pcm + out * ch, encodec_decoder_max_samples(d, 0), &n), 0);
    return out + n;
}

static void check_model(const char *model, const char *golden, const char *tensor, int rounds)
{
    signal s = load_signal(model, golden, tensor);
    const int ch = encodec_model_channels(s.m);
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(s.m, &e), 0);
    assert_int_equal(encodec_decoder_create(s.m, &d), 0);
    for (int b = 0; b < encodec_model_num_bandwidths(s.m); b++) {
        assert_int_equal(encodec_encoder_set_bandwidth(e, encodec_model_bandwidth(s.m, b)), 0);
        const int K = encodec_encoder_codebooks(e);
        const size_t max = encodec_encoder_max_frames(e, s.len);
        int32_t *whole = malloc(max * K * sizeof *whole), *part = malloc(max * K * sizeof *part);
        float *ws = malloc(max * sizeof *ws), *ps = malloc(max * sizeof *ps);
        size_t n_whole;
        assert_int_equal(encodec_encode(e, s.pcm, s.len, whole, ws, max, &n_whole), 0);
        const size_t max_pcm = encodec_decoder_max_samples(d, n_whole);
        float *audio = malloc(max_pcm * ch * sizeof *audio), *audio2 = malloc(max_pcm * ch * sizeof *audio2);
        size_t n_audio;
        assert_int_equal(encodec_decode(d, whole, ws, n_whole, K, audio, max_pcm, &n_audio), 0);
        for (int r = 0; r < rounds; r++) {
            const unsigned max_chunk = r == 0 ? 5000 : 1 + rnd(2000);
            size_t n = encode_chunked(e, s.pcm, s.len, ch, max_chunk, part, ps);
            assert_int_equal(n, n_whole);
            assert_memory_equal(part, whole, n * K * sizeof *whole);
            assert_memory_equal(ps, ws, n * sizeof *ws);
            assert_int_equal(encodec_encoder_reset(e), 0);
            size_t m = decode_chunked(d, whole, ws, n_whole, K, ch, 1 + rnd(40), audio2);
            assert_int_equal(m, n_audio);
            const double diff = tu_max_abs_diff(audio, audio2, m * ch);
            if (diff > 1e-5)
                fail_msg("%s bw %g: streaming decode differs by %g", model,
                         encodec_model_bandwidth(s.m, b), diff);
            assert_int_equal(encodec_decoder_reset(d), 0);
        }
        print_message("%s bw %g: %zu frames, %d chunkings identical\n", model,
                      encodec_model_bandwidth(s.m, b), n_whole, rounds);
        free(whole);
        free(part);
        free(ws);
        free(ps);
        free(audio);
        free(audio2);
    }
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(s.m);
    free(s.pcm);
}

static void test_random_chunks_tiny24(void **state)
{
    (void)state;
    rng_state = tu_seed();
    check_model("tiny24.safetensors", "tiny24.golden.safetensors", "excerpt.audio", 3);
    check_model("tiny24.safetensors", "tiny24.golden.safetensors", "short.audio", 2);
}

static void test_random_chunks_tiny48(void **state)
{
    (void)state;
    rng_state = tu_seed();
    check_model("tiny48.safetensors", "tiny48.golden.safetensors", "excerpt.audio", 2);
    check_model("tiny48.safetensors", "tiny48.golden.safetensors", "synth.audio", 2);
}

/* Sample by sample, and frame by frame, on a short signal; checks the latencies too. */
static void test_sample_by_sample(void **state)
{
    (void)state;
    signal s = load_signal("tiny24.safetensors", "tiny24.golden.safetensors", "synth.audio");
    const size_t len = 3000;
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(s.m, &e), 0);
    assert_int_equal(encodec_decoder_create(s.m, &d), 0);
    assert_int_equal(encodec_encoder_set_bandwidth(e, 24.0f), 0);
    const int K = 32;
    int32_t whole[10 * 32], part[10 * 32];
    size_t n_whole, n, frames = 0, startup, steady;
    assert_int_equal(encodec_encode(e, s.pcm, len, whole, NULL, 10, &n_whole), 0);
    assert_int_equal(encodec_encoder_latency(e, &startup, &steady), 0);
    print_message("encoder start-up %zu samples, steady %zu\n", startup, steady);
    assert_true(startup >= 320 && startup <= 8 * 320);
    assert_int_equal(steady, 0);
    for (size_t t = 0; t < len; t++) {
        assert_int_equal(encodec_encoder_push(e, s.pcm + t, 1, part + frames * K, NULL, 10 - frames, &n), 0);
        if (frames == 0 && n > 0)
            assert_int_equal(t + 1, startup); /* the first frame comes exactly at start-up */
        if (frames > 0 && n > 0)             /* then each frame as soon as its hop is in */
            assert_int_equal((t + 1) % 320, 0);
        frames += n;
    }
    assert_int_equal(encodec_encoder_flush(e, part + frames * K, NULL, 10 - frames, &n), 0);
    frames += n;
    assert_int_equal(frames, n_whole);
    assert_memory_equal(part, whole, frames * K * sizeof *part);

    float audio[10 * 320], audio2[10 * 320];
    size_t n_audio, out = 0;
    assert_int_equal(encodec_decode(d, whole, NULL, n_whole, K, audio, 3200, &n_audio), 0);
    assert_int_equal(encodec_decoder_latency(d, &startup, &steady), 0);
    print_message("decoder start-up %zu frames, steady %zu\n", startup, steady);
    assert_true(startup >= 1 && startup <= 8);
    for (size_t t = 0; t < n_whole; t++) {
        assert_int_equal(encodec_decoder_push(d, whole + t * K, NULL, 1, K, audio2 + out, 3200 - out, &n), 0);
        if (t + 1 < startup)
            assert_int_equal(n, 0);
        if (t + 1 > startup)
            assert_int_equal(n, 320); /* once running: a frame in, its hop out */
        out += n;
    }
    assert_int_equal(encodec_decoder_flush(d, audio2 + out, 3200 - out, &n), 0);
    out += n;
    assert_int_equal(out, n_audio);
    assert_memory_equal(audio, audio2, out * sizeof *audio);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(s.m);
    free(s.pcm);
}

/* Segmented model, lengths whose last two segments are both short (length mod stride below
 * the overlap): .ecdc round trip, and decoding with the length known equals decoding every
 * segment on its own; without the length the decoder would merge the two. */
static void test_short_last_segments(void **state)
{
    (void)state;
    encodec_model *m = tu_load_model("tiny48.safetensors");
    encodec_encoder *e;
    encodec_decoder *d;
    assert_int_equal(encodec_encoder_create(m, &e), 0);
    assert_int_equal(encodec_decoder_create(m, &d), 0);
    const size_t lengths[] = {47521, 47620, 47720, 47999, 48000, 95041, 95100};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        const size_t len = lengths[i];
        float *pcm = malloc(len * 2 * sizeof *pcm);
        uint32_t rng = 5;
        for (size_t t = 0; t < len * 2; t++)
            pcm[t] = 0.2f * ((float)(tu_rand(&rng) >> 8) / 16777216.0f - 0.5f);
        uint8_t *bytes;
        size_t size, n;
        float *back;
        assert_int_equal(encodec_compress(e, pcm, len, 0, &bytes, &size), ENCODEC_OK);
        assert_int_equal(encodec_decompress(d, bytes, size, &back, &n), ENCODEC_OK);
        assert_int_equal(n, len);
        /* Independent reference: decode every segment on its own (a single segment comes
         * back as itself) and overlap-add them here with the triangle weights. */
        const size_t max = encodec_encoder_max_frames(e, len);
        int32_t *codes = malloc(max * 2 * sizeof *codes);
        float *scales = malloc(max * sizeof *scales);
        size_t frames;
        assert_int_equal(encodec_encode(e, pcm, len, codes, scales, max, &frames), 0);
        const size_t S = 47520, total = len + 48000;
        double *acc = calloc(total * 2, sizeof *acc), *wsum = calloc(total, sizeof *wsum);
        float *seg = malloc(48000 * 2 * sizeof *seg);
        size_t first = 0, n0 = 0;
        for (size_t off = 0; off < len; off += S) {
            const size_t ls = len - off < 48000 ? len - off : 48000, fr = (ls + 319) / 320;
            size_t got;
            assert_int_equal(encodec_decode(d, codes + first * 2, scales + first, fr, 2, seg,
                                            48000, &got), 0);
            if (!n0)
                n0 = got;
            for (size_t t = 0; t < got; t++) {
                const double u = (double)(t + 1) / (double)(n0 + 1);
                const double w = 0.5 - fabs(u - 0.5);
                for (int c = 0; c < 2; c++)
                    acc[(off + t) * 2 + c] += w * seg[t * 2 + c];
                wsum[off + t] += w;
            }
            first += fr;
        }
        assert_int_equal(first, frames);
        double worst = 0;
        for (size_t t = 0; t < len; t++)
            for (int c = 0; c < 2; c++) {
                const double dv = fabs(acc[t * 2 + c] / wsum[t] - back[t * 2 + c]);
                worst = dv > worst ? dv : worst;
            }
        assert_true(worst < 1e-5);
        free(acc);
        free(wsum);
        free(seg);
        print_message("tiny48, %zu samples: %zu frames, max diff to per-segment decoding %.2g\n",
                      len, frames, worst);
        encodec_buffer_free(bytes);
        encodec_buffer_free(back);
        free(pcm);
        free(codes);
        free(scales);
    }
    encodec_encoder_free(e);
    encodec_decoder_free(d);
    encodec_model_free(m);
}

static void test_life_cycle(void **state)
{
    (void)state;
    signal s = load_signal("tiny24.safetensors", "tiny24.golden.safetensors", "synth.audio");
    encodec_encoder *e, *fresh;
    assert_int_equal(encodec_encoder_create(s.m, &e), 0);
    assert_int_equal(encodec_encoder_create(s.m, &fresh), 0);
    int32_t codes[64 * 2], codes2[64 * 2];
    size_t n, n2;
    /* flush with nothing pushed: no frames; flush twice: nothing more; push after flush */
    assert_int_equal(encodec_encoder_flush(e, codes, NULL, 64, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_flush(e, codes, NULL, 64, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_push(e, s.pcm, 10, codes, NULL, 64, &n), ENCODEC_ESTATE);
    assert_int_equal(encodec_encoder_reset(e), 0);
    /* too small a buffer: refused, nothing consumed */
    assert_int_equal(encodec_encoder_push(e, s.pcm, 3200, codes, NULL, 0, &n), ENCODEC_EBUFFER);
    assert_int_equal(encodec_encoder_max_frames(e, 0), 0);
    /* reset mid-stream, then a new stream equals a fresh handle's */
    assert_int_equal(encodec_encoder_push(e, s.pcm + 5000, 1234, codes, NULL, 64, &n), 0);
    assert_int_equal(encodec_encoder_reset(e), 0);
    assert_int_equal(encodec_encoder_push(e, s.pcm, 4000, codes, NULL, 64, &n), 0);
    assert_int_equal(encodec_encoder_flush(e, codes + n * 2, NULL, 64 - n, &n2), 0);
    size_t m;
    assert_int_equal(encodec_encode(fresh, s.pcm, 4000, codes2, NULL, 64, &m), 0);
    assert_int_equal(n + n2, m);
    assert_memory_equal(codes, codes2, m * 2 * sizeof *codes);
    assert_true(encodec_encoder_state_size(e) > 0);

    encodec_decoder *d;
    assert_int_equal(encodec_decoder_create(s.m, &d), 0);
    float pcm[64 * 320];
    assert_int_equal(encodec_decoder_flush(d, pcm, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_decoder_push(d, codes, NULL, 1, 2, pcm, 64 * 320, &n), ENCODEC_ESTATE);
    assert_int_equal(encodec_decoder_reset(d), 0);
    assert_int_equal(encodec_decoder_push(d, codes, NULL, 4, 2, pcm, 10, &n), ENCODEC_EBUFFER);
    assert_int_equal(encodec_decoder_push(d, codes, NULL, 4, 2, pcm, 64 * 320, &n), 0);
    assert_int_equal(encodec_decoder_push(d, codes, NULL, 1, 3, pcm, 64 * 320, &n), ENCODEC_ECODE);
    int32_t bad[2] = {0, 1024};
    assert_int_equal(encodec_decoder_push(d, bad, NULL, 1, 2, pcm, 64 * 320, &n), ENCODEC_ECODE);
    assert_true(encodec_decoder_state_size(d) > 0);
    encodec_decoder_free(d);
    encodec_encoder_free(e);
    encodec_encoder_free(fresh);
    encodec_model_free(s.m);
    free(s.pcm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_chunks_tiny24),
        cmocka_unit_test(test_random_chunks_tiny48),
        cmocka_unit_test(test_sample_by_sample),
        cmocka_unit_test(test_short_last_segments),
        cmocka_unit_test(test_life_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
