/* libFuzzer target for the weights loaders: the whole input is loaded as a codec model with
 * encodec_model_load_memory() and attached as an LM with encodec_model_load_lm_memory() to
 * tiny24. The loaders promise complete validation, so whatever they accept must then be usable:
 * an accepted model encodes, decodes, compresses and decompresses a short signal (the .ecdc
 * round trip reproducing the decode exactly), an accepted LM entropy-codes a stream that
 * decompresses to the same audio as the bit-packed one. Refusals must use the documented codes
 * with a message, leave *model NULL, and leave an LM attach target unchanged. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

static unsigned char *base_file; /* tiny24, reloaded after an LM was attached to it */
static size_t base_len;
static encodec_model *base;

static encodec_model *load_base(void)
{
    encodec_model *m;
    if (encodec_model_load_memory(base_file, base_len, &m, NULL, 0) != ENCODEC_OK)
        exit(2);
    return m;
}

static int is_load_error(int rc)
{
    return rc == ENCODEC_ENOMEM ||
           (rc <= ENCODEC_EWEIGHTS_TRUNCATED && rc >= ENCODEC_EWEIGHTS_VALUE);
}

/* A short test signal: a few hops (capped), a sine on every channel. */
static float *make_signal(const encodec_model *m, size_t *len)
{
    const int ch = encodec_model_channels(m), hop = encodec_model_hop_length(m);
    size_t n = (size_t)hop * 3;
    if (n > 8000)
        n = 8000;
    float *x = malloc(n * ch * sizeof *x);
    for (size_t t = 0; t < n; t++)
        for (int c = 0; c < ch; c++)
            x[t * ch + c] = 0.5f * sinf(0.05f * (float)t + (float)c);
    *len = n;
    return x;
}

/* Use an accepted model: every getter sane, encode/decode and the .ecdc round trip work. */
static void exercise_model(encodec_model *m)
{
    const int rate = encodec_model_sample_rate(m), ch = encodec_model_channels(m);
    const int hop = encodec_model_hop_length(m), nq = encodec_model_max_codebooks(m);
    const int nb = encodec_model_num_bandwidths(m);
    FUZZ_CHECK(rate > 0 && (ch == 1 || ch == 2) && hop > 0 && nq >= 1 && nb >= 1,
               "rate %d ch %d hop %d nq %d nb %d", rate, ch, hop, nq, nb);
    FUZZ_CHECK(encodec_model_frame_rate(m) > 0, "frame rate");
    FUZZ_CHECK(strlen(encodec_model_name(m)) > 0, "empty name");
    for (int i = 0; i < nb; i++) {
        const int k = encodec_model_codebooks_for_bandwidth(m, encodec_model_bandwidth(m, i));
        FUZZ_CHECK(k >= 1 && k <= nq, "bandwidth %d: %d codebooks of %d", i, k, nq);
    }

    encodec_encoder *e;
    encodec_decoder *d;
    FUZZ_CHECK(encodec_encoder_create(m, &e) == ENCODEC_OK, "encoder_create");
    FUZZ_CHECK(encodec_decoder_create(m, &d) == ENCODEC_OK, "decoder_create");
    size_t len;
    float *x = make_signal(m, &len);
    const int K = encodec_encoder_codebooks(e);
    const size_t cap = encodec_encoder_max_frames(e, len);
    int32_t *codes = malloc(cap * (size_t)K * sizeof *codes);
    float *scales = malloc(cap * sizeof *scales);
    size_t frames, samples, n;
    FUZZ_CHECK(encodec_encode(e, x, len, codes, scales, cap, &frames) == ENCODEC_OK, "encode");
    FUZZ_CHECK(frames == cap, "%zu frames, bound %zu", frames, cap);
    const size_t out_cap = encodec_decoder_max_samples(d, frames);
    float *y = malloc(out_cap * (size_t)ch * sizeof *y);
    FUZZ_CHECK(encodec_decode(d, codes, scales, frames, K, y, out_cap, &samples) == ENCODEC_OK,
               "decode");
    FUZZ_CHECK(samples >= len, "decoded %zu of %zu samples", samples, len);

    uint8_t *bytes;
    size_t n_bytes;
    float *z;
    const int rc = encodec_compress(e, x, len, 0, &bytes, &n_bytes);
    /* a model whose frame grid the container cannot describe may refuse (documented) */
    FUZZ_CHECK(rc == ENCODEC_OK || rc == ENCODEC_EUNSUPPORTED, "compress %d", rc);
    if (rc == ENCODEC_OK) {
        const int rd = encodec_decompress(d, bytes, n_bytes, &z, &n);
        FUZZ_CHECK(rd == ENCODEC_OK, "decompress of our own stream: %d", rd);
        FUZZ_CHECK(n == len, "decompressed %zu of %zu", n, len);
        FUZZ_CHECK(memcmp(z, y, len * (size_t)ch * sizeof *z) == 0,
                   "decompress differs from decode");
        encodec_buffer_free(z);
        encodec_buffer_free(bytes);
    }
    free(x);
    free(y);
    free(codes);
    free(scales);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
}

/* Use an accepted LM: LM-coded and bit-packed streams decode to the same audio. */
static void exercise_lm(encodec_model *m)
{
    FUZZ_CHECK(encodec_model_has_lm(m) == 1, "has_lm after a successful attach");
    encodec_encoder *e;
    encodec_decoder *d;
    FUZZ_CHECK(encodec_encoder_create(m, &e) == ENCODEC_OK, "encoder_create");
    FUZZ_CHECK(encodec_decoder_create(m, &d) == ENCODEC_OK, "decoder_create");
    size_t len, n1, n2, s1, s2;
    float *x = make_signal(m, &len), *a, *b;
    uint8_t *plain, *coded;
    FUZZ_CHECK(encodec_compress(e, x, len, 0, &plain, &s1) == ENCODEC_OK, "compress");
    const int rc = encodec_compress(e, x, len, 1, &coded, &s2);
    /* EUNSUPPORTED: the LM has fewer tables than the 2 codebooks of 1.5 kbps */
    FUZZ_CHECK(rc == ENCODEC_OK || rc == ENCODEC_EUNSUPPORTED, "LM compress %d", rc);
    if (rc == ENCODEC_OK) {
        FUZZ_CHECK(encodec_decompress(d, plain, s1, &a, &n1) == ENCODEC_OK, "decompress");
        const int rd = encodec_decompress(d, coded, s2, &b, &n2);
        FUZZ_CHECK(rd == ENCODEC_OK, "LM decompress of our own stream: %d", rd);
        FUZZ_CHECK(n1 == n2 && memcmp(a, b, n1 * sizeof *a) == 0, "LM coding is not lossless");
        encodec_buffer_free(a);
        encodec_buffer_free(b);
        encodec_buffer_free(coded);
    }
    encodec_buffer_free(plain);
    free(x);
    encodec_encoder_free(e);
    encodec_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base) {
        base_file = fuzz_read_data("tiny24.safetensors", &base_len);
        base = load_base();
    }
    char msg[256];

    /* as a codec model */
    encodec_model *m = (encodec_model *)&msg;
    memset(msg, 'x', sizeof msg);
    int rc = encodec_model_load_memory(data, size, &m, msg, sizeof msg);
    FUZZ_CHECK(memchr(msg, 0, sizeof msg) != NULL, "message not terminated");
    if (rc == ENCODEC_OK) {
        FUZZ_CHECK(m != NULL && msg[0] == 0, "success without a model or with a message");
        exercise_model(m);
        encodec_model_free(m);
    } else {
        FUZZ_CHECK(is_load_error(rc), "load returned %d (%s)", rc, encodec_strerror(rc));
        FUZZ_CHECK(m == NULL && msg[0] != 0, "failure with a model or without a message");
    }

    /* as an LM for tiny24 */
    memset(msg, 'x', sizeof msg);
    rc = encodec_model_load_lm_memory(base, data, size, msg, sizeof msg);
    FUZZ_CHECK(memchr(msg, 0, sizeof msg) != NULL, "message not terminated");
    if (rc == ENCODEC_OK) {
        FUZZ_CHECK(msg[0] == 0, "success with a message");
        exercise_lm(base);
        /* back to a model without an LM, so that every input starts from the same state */
        encodec_model_free(base);
        base = load_base();
    } else {
        FUZZ_CHECK(is_load_error(rc), "LM load returned %d (%s)", rc, encodec_strerror(rc));
        FUZZ_CHECK(msg[0] != 0, "failure without a message");
        FUZZ_CHECK(encodec_model_has_lm(base) == 0, "a failed attach changed the model");
    }
    return 0;
}
