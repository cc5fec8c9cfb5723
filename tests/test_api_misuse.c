/* API misuse: every public function of encodec.h is called with NULL handles, NULL buffers,
 * zero, negative and huge sizes, out-of-range values (bandwidths not offered, codes outside
 * [0, bins), 0 or too many codebooks, bad scales) and in the wrong order (push after flush,
 * flush twice, decoding a header-less or damaged stream, LM mode without an LM; the
 * incremental .ecdc writer and reader likewise), on the 24 kHz
 * (causal) and 48 kHz (segmented) tiny models. Each call must return its specific documented
 * ENCODEC_E* code, leave outputs in their documented state and never crash; a call refused with
 * ENCODEC_EBUFFER must not have consumed anything (the stream continues as if it never
 * happened). The getters' values for NULL handles are pinned down too. A check of what a doc
 * comment promises is a doc_mismatch(): it names the promise when it fails. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

/* A disagreement between a doc comment and the behaviour. */
#define doc_mismatch(cond, ...)                                                                \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            print_message("DOC MISMATCH (%s:%d): ", __FILE__, __LINE__);                       \
            print_message(__VA_ARGS__);                                                        \
            print_message("\n");                                                               \
            fail_msg("the library does not do what its header says");                        \
        }                                                                                      \
    } while (0)

/* Every error code the header declares. */
static const int all_codes[] = {
    ENCODEC_OK, ENCODEC_EINVAL, ENCODEC_ENOMEM, ENCODEC_EIO, ENCODEC_ESTATE, ENCODEC_EBANDWIDTH,
    ENCODEC_EBUFFER, ENCODEC_EUNSUPPORTED, ENCODEC_ECODE, ENCODEC_ELENGTH,
    ENCODEC_EWEIGHTS_TRUNCATED, ENCODEC_EWEIGHTS_HEADER, ENCODEC_EWEIGHTS_JSON,
    ENCODEC_EWEIGHTS_DTYPE, ENCODEC_EWEIGHTS_SHAPE, ENCODEC_EWEIGHTS_OFFSET,
    ENCODEC_EWEIGHTS_OVERLAP, ENCODEC_EWEIGHTS_MISSING, ENCODEC_EWEIGHTS_CONFIG,
    ENCODEC_EWEIGHTS_VALUE, ENCODEC_EECDC_MAGIC, ENCODEC_EECDC_VERSION, ENCODEC_EECDC_HEADER,
    ENCODEC_EECDC_MODEL, ENCODEC_EECDC_TRUNCATED, ENCODEC_EECDC_TRAILING, ENCODEC_EECDC_CORRUPT};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

/* A model with a golden signal (interleaved) and handles on it. */
typedef struct {
    const char *name;
    encodec_model *m;
    encodec_encoder *e;
    encodec_decoder *d;
    float *pcm;
    size_t len;
    int ch, hop, max_k, bins;
} fixture;

static void fixture_open(fixture *f, const char *model, const char *golden)
{
    memset(f, 0, sizeof *f);
    f->name = model;
    char model_file[64];
    snprintf(model_file, sizeof model_file, "%s.safetensors", model);
    f->m = tu_load_model(model_file);
    assert_int_equal(encodec_encoder_create(f->m, &f->e), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(f->m, &f->d), ENCODEC_OK);
    tu_golden *g = tu_golden_open(golden);
    int64_t shape[8];
    const float *x = tu_golden_f32(g, "excerpt.audio", shape, NULL, NULL);
    f->ch = (int)shape[0];
    f->len = (size_t)shape[1];
    f->pcm = malloc(f->len * f->ch * sizeof *f->pcm);
    for (size_t t = 0; t < f->len; t++)
        for (int c = 0; c < f->ch; c++)
            f->pcm[t * f->ch + c] = x[c * f->len + t];
    tu_golden_close(g);
    f->hop = encodec_model_hop_length(f->m);
    f->max_k = encodec_model_max_codebooks(f->m);
    f->bins = 1024; /* the tiny models' codebook size (not exposed by the API) */
}

static void fixture_close(fixture *f)
{
    encodec_encoder_free(f->e);
    encodec_decoder_free(f->d);
    encodec_model_free(f->m);
    free(f->pcm);
}

/* ---- strings ------------------------------------------------------------------------------ */

static void test_strerror_and_version(void **state)
{
    (void)state;
    const char *unknown = encodec_strerror(12345);
    assert_non_null(unknown);
    for (size_t i = 0; i < N_CODES; i++) {
        const char *m = encodec_strerror(all_codes[i]);
        assert_non_null(m);
        assert_true(strlen(m) > 0);
        if (strcmp(m, unknown) == 0)
            fail_msg("code %d has the unknown-code message", all_codes[i]);
    }
    /* every code with a message of its own (including any declared after this test was
     * written) has a distinct one; the others, and values far outside, are "unknown" */
    for (int c = -99; c <= 99; c++) {
        const char *m = encodec_strerror(c);
        assert_non_null(m);
        if (strcmp(m, unknown) == 0)
            continue;
        for (int o = -99; o < c; o++)
            if (strcmp(m, encodec_strerror(o)) == 0)
                fail_msg("codes %d and %d share the message \"%s\"", c, o, m);
    }
    const int others[] = {1, 2, 99, -100, -1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        assert_non_null(encodec_strerror(others[i]));
        assert_string_equal(encodec_strerror(others[i]), unknown);
    }
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ENCODEC_VERSION_MAJOR, ENCODEC_VERSION_MINOR,
             ENCODEC_VERSION_PATCH);
    assert_non_null(encodec_version());
    assert_string_equal(encodec_version(), want);
}

/* ---- NULL handles ------------------------------------------------------------------------- */

static void test_null_handles(void **state)
{
    (void)state;
    int32_t codes[64] = {0};
    float pcm[4096] = {0}, scales[64];
    size_t n = 77, a = 77, b = 77;
    uint8_t *out = (uint8_t *)&n;
    size_t out_size = 77;
    float *audio = pcm;
    encodec_ecdc_info info;

    /* destructors accept NULL */
    encodec_model_free(NULL);
    encodec_encoder_free(NULL);
    encodec_decoder_free(NULL);
    encodec_buffer_free(NULL);

    /* model getters: an empty name, EINVAL, a negative bandwidth, 0 frames, no LM */
    assert_non_null(encodec_model_name(NULL));
    assert_string_equal(encodec_model_name(NULL), "");
    assert_int_equal(encodec_model_sample_rate(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_channels(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_hop_length(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_frame_rate(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_max_codebooks(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_num_bandwidths(NULL), ENCODEC_EINVAL);
    assert_true(encodec_model_bandwidth(NULL, 0) < 0.0f);
    assert_int_equal(encodec_model_codebooks_for_bandwidth(NULL, 1.5f), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_frames_for_samples(NULL, 1000), 0);
    assert_int_equal(encodec_model_has_lm(NULL), 0);

    /* creation: the out pointer is cleared when it exists */
    encodec_encoder *e = (encodec_encoder *)&n;
    encodec_decoder *d = (encodec_decoder *)&n;
    assert_int_equal(encodec_encoder_create(NULL, &e), ENCODEC_EINVAL);
    assert_null(e);
    assert_int_equal(encodec_decoder_create(NULL, &d), ENCODEC_EINVAL);
    assert_null(d);

    /* encoder */
    assert_int_equal(encodec_encoder_set_bandwidth(NULL, 1.5f), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_codebooks(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_set_threads(NULL, 1), ENCODEC_EINVAL);
    assert_int_equal(encodec_encode(NULL, pcm, 320, codes, scales, 64, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_push(NULL, pcm, 320, codes, scales, 64, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_flush(NULL, codes, scales, 64, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_reset(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_max_frames(NULL, 320), 0);
    assert_int_equal(encodec_encoder_latency(NULL, &a, &b), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_latency(NULL, NULL, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_state_size(NULL), 0);

    /* decoder */
    assert_int_equal(encodec_decoder_set_threads(NULL, 1), ENCODEC_EINVAL);
    assert_int_equal(encodec_decode(NULL, codes, NULL, 1, 1, pcm, 4096, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_push(NULL, codes, NULL, 1, 1, pcm, 4096, &n),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_flush(NULL, pcm, 4096, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_reset(NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_max_samples(NULL, 3), 0);
    assert_int_equal(encodec_decoder_latency(NULL, &a, &b), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_state_size(NULL), 0);

    /* .ecdc: outputs are cleared before the arguments are judged */
    static const uint8_t hdr[] = "ECDC";
    assert_int_equal(encodec_ecdc_probe(NULL, 10, &info), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_probe(hdr, 4, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(NULL, pcm, 320, 0, &out, &out_size), ENCODEC_EINVAL);
    assert_null(out);
    assert_int_equal(out_size, 0);
    assert_int_equal(encodec_decompress(NULL, hdr, 4, &audio, &n), ENCODEC_EINVAL);
    assert_null(audio);
    assert_int_equal(n, 0);

    /* loaders */
    char msg[128];
    encodec_model *m = (encodec_model *)&n;
    assert_int_equal(encodec_model_load_file(NULL, &m, msg, sizeof msg), ENCODEC_EINVAL);
    assert_null(m);
    assert_true(strlen(msg) > 0);
    assert_int_equal(encodec_model_load_file("x", NULL, msg, sizeof msg), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_load_memory(hdr, 4, NULL, NULL, 0), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_load_lm_file(NULL, "x", msg, sizeof msg), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_load_lm_memory(NULL, hdr, 4, NULL, 0), ENCODEC_EINVAL);
}

/* ---- model loading ------------------------------------------------------------------------ */

/* A file image built from a JSON header text and data bytes. */
static uint8_t *image(const char *json, uint64_t declared_len, const void *data, size_t data_len,
                      size_t *len)
{
    const size_t n = strlen(json);
    *len = 8 + n + data_len;
    uint8_t *out = malloc(*len);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(declared_len >> (8 * i));
    memcpy(out + 8, json, n);
    if (data_len)
        memcpy(out + 8 + n, data, data_len);
    return out;
}

static void expect_memory_load(const uint8_t *data, size_t len, int want)
{
    encodec_model *m = (encodec_model *)&len;
    char msg[256] = "untouched";
    const int err = encodec_model_load_memory(data, len, &m, msg, sizeof msg);
    if (err != want)
        fail_msg("load of %zu bytes: %s (%d), expected %s (%d); %s", len, encodec_strerror(err),
                 err, encodec_strerror(want), want, msg);
    assert_null(m);
    assert_true(strlen(msg) > 0); /* a message on failure */
}

static void test_model_load_misuse(void **state)
{
    (void)state;
    char msg[256];
    encodec_model *m;

    /* files: missing, a directory, empty */
    char *dir = tu_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/does-not-exist.safetensors", dir);
    assert_int_equal(encodec_model_load_file(path, &m, msg, sizeof msg), ENCODEC_EIO);
    assert_null(m);
    assert_non_null(strstr(msg, "does-not-exist"));
    assert_int_equal(encodec_model_load_file(dir, &m, msg, sizeof msg), ENCODEC_EIO);
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    tu_write_file(path, "", 0);
    assert_int_equal(encodec_model_load_file(path, &m, msg, sizeof msg),
                     ENCODEC_EWEIGHTS_TRUNCATED);
    /* msg NULL, or of size 0 or 1, is allowed and never overrun */
    assert_int_equal(encodec_model_load_file(path, &m, NULL, 0), ENCODEC_EWEIGHTS_TRUNCATED);
    msg[0] = 'x';
    assert_int_equal(encodec_model_load_file(path, &m, msg, 0), ENCODEC_EWEIGHTS_TRUNCATED);
    assert_int_equal(msg[0], 'x');
    msg[1] = 'y';
    assert_int_equal(encodec_model_load_file(path, &m, msg, 1), ENCODEC_EWEIGHTS_TRUNCATED);
    assert_int_equal(msg[0], 0);
    assert_int_equal(msg[1], 'y');

    /* memory: NULL with a size, nothing, fewer than 8 bytes */
    static const uint8_t zeros[16] = {0};
    assert_int_equal(encodec_model_load_memory(NULL, 10, &m, msg, sizeof msg), ENCODEC_EINVAL);
    assert_null(m);
    expect_memory_load(NULL, 0, ENCODEC_EWEIGHTS_TRUNCATED);
    for (size_t n = 1; n < 8; n++)
        expect_memory_load(zeros, n, ENCODEC_EWEIGHTS_TRUNCATED);

    /* header length past the end / absurd; not JSON; JSON of the wrong form */
    size_t len;
    uint8_t *img = image("{}", 1000, NULL, 0, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_HEADER);
    free(img);
    img = image("{}", UINT64_MAX, NULL, 0, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_HEADER);
    free(img);
    img = image("{\"a\": ", 6, NULL, 0, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_JSON);
    free(img);
    img = image("[1, 2]", 6, NULL, 0, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_JSON);
    free(img);

    /* one tensor per container check; the configuration is judged after the container */
    const float one = 1.0f, nan_v = NAN;
    const char *bf16 = "{\"t\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}";
    img = image(bf16, strlen(bf16), &one, 4, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_DTYPE);
    free(img);
    const char *outside = "{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}";
    img = image(outside, strlen(outside), &one, 4, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_OFFSET);
    free(img);
    const char *overlap = "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                          " \"u\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}";
    img = image(overlap, strlen(overlap), &one, 4, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_OVERLAP);
    free(img);
    const char *noconf = "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}";
    img = image(noconf, strlen(noconf), &nan_v, 4, &len);
    expect_memory_load(img, len, ENCODEC_EWEIGHTS_CONFIG);
    free(img);

    /* the real model with one thing changed in its header or data */
    char *model_path = tu_data_path("tiny24.safetensors");
    size_t file_len;
    uint8_t *file = tu_read_file(model_path, &file_len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | file[i];
    char *hdr = calloc(hl + 1, 1);
    memcpy(hdr, file + 8, hl);
    const uint8_t *data = file + 8 + hl;
    const size_t data_len = file_len - 8 - hl;
    struct {
        const char *find, *replace;
        int want;
    } edits[] = {
        /* shape with the same element count */
        {"\"shape\":[1024,2]", "\"shape\":[2,1024]", ENCODEC_EWEIGHTS_SHAPE},
        /* a required tensor renamed away */
        {"quantizer.vq.layers.0._codebook.embed\"", "quantizer.vq.layers.0._codebook.embex\"",
         ENCODEC_EWEIGHTS_MISSING},
        /* a dtype the container knows but the model refuses */
        {"\"dtype\":\"F32\"", "\"dtype\":\"I32\"", ENCODEC_EWEIGHTS_DTYPE},
        /* an unsupported configuration */
        {"\\\"channels\\\": 1", "\\\"channels\\\": 3", ENCODEC_EWEIGHTS_CONFIG},
        {"\\\"target_bandwidths\\\": [1.5", "\\\"target_bandwidths\\\": [0",
         ENCODEC_EWEIGHTS_CONFIG},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        /* the header is compact JSON written by encodec-convert: plain text edits suffice */
        const char *at = strstr(hdr, edits[i].find);
        if (!at)
            fail_msg("edit %zu: \"%s\" not in the header", i, edits[i].find);
        const size_t pre = (size_t)(at - hdr), fl = strlen(edits[i].find);
        char *edited = malloc(hl + strlen(edits[i].replace) + 1);
        memcpy(edited, hdr, pre);
        strcpy(edited + pre, edits[i].replace);
        strcat(edited, at + fl);
        img = image(edited, strlen(edited), data, data_len, &len);
        expect_memory_load(img, len, edits[i].want);
        free(img);
        free(edited);
    }
    /* a NaN in the first tensor's data */
    uint8_t *copy = malloc(file_len);
    memcpy(copy, file, file_len);
    memcpy(copy + 8 + hl, &nan_v, 4);
    expect_memory_load(copy, file_len, ENCODEC_EWEIGHTS_VALUE);
    free(copy);
    /* truncated by one byte: the last tensor's data leaves the file */
    expect_memory_load(file, file_len - 1, ENCODEC_EWEIGHTS_OFFSET);

    /* success clears msg */
    strcpy(msg, "stale");
    assert_int_equal(encodec_model_load_memory(file, file_len, &m, msg, sizeof msg), ENCODEC_OK);
    assert_non_null(m);
    assert_string_equal(msg, "");
    /* an LM file is not a codec model, and a codec model is not an LM */
    char *lm_path = tu_data_path("tiny24_lm.safetensors");
    encodec_model *m2 = (encodec_model *)&len;
    assert_int_equal(encodec_model_load_file(lm_path, &m2, msg, sizeof msg),
                     ENCODEC_EWEIGHTS_CONFIG);
    assert_null(m2);
    assert_int_equal(encodec_model_load_lm_file(m, model_path, msg, sizeof msg),
                     ENCODEC_EWEIGHTS_CONFIG);
    assert_int_equal(encodec_model_has_lm(m), 0);
    encodec_model_free(m);

    free(lm_path);
    free(hdr);
    free(file);
    free(model_path);
    tu_rmtree(dir);
    free(dir);
}

/* ---- model getters ------------------------------------------------------------------------ */

static void test_model_getters(void **state)
{
    (void)state;
    encodec_model *m = tu_load_model("tiny24.safetensors");
    const int nb = encodec_model_num_bandwidths(m);
    assert_true(nb >= 1);
    assert_true(encodec_model_bandwidth(m, -1) < 0.0f);
    assert_true(encodec_model_bandwidth(m, nb) < 0.0f);
    assert_true(encodec_model_bandwidth(m, INT_MAX) < 0.0f);
    assert_true(encodec_model_bandwidth(m, INT_MIN) < 0.0f);
    for (int i = 0; i < nb; i++) {
        const float bw = encodec_model_bandwidth(m, i);
        assert_true(bw > 0.0f);
        const int k = encodec_model_codebooks_for_bandwidth(m, bw);
        assert_true(k >= 1 && k <= encodec_model_max_codebooks(m));
        /* nearby values are not offered */
        assert_int_equal(encodec_model_codebooks_for_bandwidth(m, nextafterf(bw, 0.0f)),
                         ENCODEC_EBANDWIDTH);
        assert_int_equal(encodec_model_codebooks_for_bandwidth(m, nextafterf(bw, 1e9f)),
                         ENCODEC_EBANDWIDTH);
    }
    const float bad[] = {0.0f, -1.5f, 7.0f, 1e30f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(encodec_model_codebooks_for_bandwidth(m, bad[i]), ENCODEC_EBANDWIDTH);
    assert_int_equal(encodec_model_frames_for_samples(m, 0), 0);
    assert_int_equal(encodec_model_frames_for_samples(m, 1), 1);
    assert_int_equal(encodec_model_frames_for_samples(m, 320), 1);
    assert_int_equal(encodec_model_frames_for_samples(m, 321), 2);
    /* the largest count must not wrap around to a small number */
    doc_mismatch(encodec_model_frames_for_samples(m, SIZE_MAX) == SIZE_MAX / 320 + 1,
                 "encodec_model_frames_for_samples(m, SIZE_MAX) = %zu, ceil(SIZE_MAX / 320) = %zu",
                 encodec_model_frames_for_samples(m, SIZE_MAX), SIZE_MAX / 320 + 1);
    encodec_model_free(m);
}

/* ---- encoder ------------------------------------------------------------------------------ */

static void encoder_misuse(const char *model, const char *golden)
{
    fixture f;
    fixture_open(&f, model, golden);
    encodec_encoder *e = f.e;
    const size_t cap = encodec_encoder_max_frames(e, f.len);
    int32_t *codes = calloc(cap * f.max_k, sizeof *codes);
    int32_t *ref = calloc(cap * f.max_k, sizeof *ref);
    float *scales = calloc(cap, sizeof *scales);
    size_t n = 77, n_ref;

    /* bandwidths: every offered one works, anything else is refused and changes nothing */
    const int k0 = encodec_encoder_codebooks(e);
    assert_int_equal(k0,
                     encodec_model_codebooks_for_bandwidth(f.m, encodec_model_bandwidth(f.m, 0)));
    const float bad_bw[] = {0.0f, -1.5f, 2.0f, 1e30f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_bw / sizeof bad_bw[0]; i++) {
        assert_int_equal(encodec_encoder_set_bandwidth(e, bad_bw[i]), ENCODEC_EBANDWIDTH);
        assert_int_equal(encodec_encoder_codebooks(e), k0);
    }
    for (int i = encodec_model_num_bandwidths(f.m) - 1; i >= 0; i--) {
        const float bw = encodec_model_bandwidth(f.m, i);
        assert_int_equal(encodec_encoder_set_bandwidth(e, bw), ENCODEC_OK);
        assert_int_equal(encodec_encoder_codebooks(e),
                         encodec_model_codebooks_for_bandwidth(f.m, bw));
    }
    const int K = encodec_encoder_codebooks(e);

    /* threads: at least 1 */
    assert_int_equal(encodec_encoder_set_threads(e, 0), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_set_threads(e, -1), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_set_threads(e, INT_MIN), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_set_threads(e, INT_MAX), ENCODEC_EINVAL); /* no such machine */
    assert_int_equal(encodec_encoder_set_threads(e, 1), ENCODEC_OK);

    /* latency: either pointer may be NULL */
    size_t su = 0, st = 0;
    assert_int_equal(encodec_encoder_latency(e, NULL, NULL), ENCODEC_OK);
    assert_int_equal(encodec_encoder_latency(e, &su, NULL), ENCODEC_OK);
    assert_int_equal(encodec_encoder_latency(e, NULL, &st), ENCODEC_OK);
    assert_true(su >= 1);
    assert_true(encodec_encoder_state_size(e) > 0);

    /* the reference: one whole-signal encode */
    assert_int_equal(encodec_encode(e, f.pcm, f.len, ref, scales, cap, &n_ref), ENCODEC_OK);
    assert_int_equal(n_ref, cap);

    /* encode: NULL buffers, no samples, too small a buffer */
    assert_int_equal(encodec_encode(e, NULL, f.len, codes, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encode(e, f.pcm, f.len, NULL, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encode(e, f.pcm, f.len, codes, NULL, cap, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_encode(e, f.pcm, 0, codes, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encode(e, f.pcm, f.len, codes, NULL, cap - 1, &n), ENCODEC_EBUFFER);
    assert_int_equal(encodec_encode(e, f.pcm, f.len, codes, NULL, 0, &n), ENCODEC_EBUFFER);
    n = 77;
    assert_int_equal(encodec_encode(e, f.pcm, f.len, codes, NULL, 0, &n), ENCODEC_EBUFFER);
    doc_mismatch(n == 0, "encodec_encode() refused with EBUFFER leaves *n_frames = %zu "
                         "(encodec_encoder_push() sets it to 0)", n);
    /* huge sizes are refused before any sample is read (pcm here is far shorter) */
    assert_int_equal(encodec_encode(e, f.pcm, (size_t)1 << 36, codes, NULL, cap, &n),
                     ENCODEC_EBUFFER);
    int rc = encodec_encode(e, f.pcm, SIZE_MAX / 2, codes, NULL, cap, &n);
    assert_true(rc == ENCODEC_EBUFFER || rc == ENCODEC_EINVAL);
    /* Counts within a hop (a segment stride) of SIZE_MAX overflow the frame count: it wraps to
     * 0 for tiny24, and for segmented models the count's loop never ends (encodec_encode() and
     * encodec_encoder_max_frames() hang), so SIZE_MAX itself is only tried on tiny24. */
    if (strcmp(model, "tiny24") == 0) {
        rc = encodec_encode(e, f.pcm, SIZE_MAX, codes, NULL, cap, &n);
        assert_true(rc == ENCODEC_EBUFFER || rc == ENCODEC_EINVAL);
        doc_mismatch(encodec_encoder_max_frames(e, SIZE_MAX) >=
                         encodec_encoder_max_frames(e, 1u << 30),
                     "encodec_encoder_max_frames(e, SIZE_MAX) = %zu wraps around (for 2^30: %zu)",
                     encodec_encoder_max_frames(e, SIZE_MAX),
                     encodec_encoder_max_frames(e, 1u << 30));
    }

    /* push: NULL buffers; 0 samples with or without pcm */
    assert_int_equal(encodec_encoder_reset(e), ENCODEC_OK);
    assert_int_equal(encodec_encoder_push(e, NULL, 10, codes, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_push(e, f.pcm, 10, NULL, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_push(e, f.pcm, 10, codes, NULL, cap, NULL), ENCODEC_EINVAL);
    n = 77;
    assert_int_equal(encodec_encoder_push(e, NULL, 0, codes, NULL, 0, &n), ENCODEC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_push(e, f.pcm, 0, codes, NULL, 0, &n), ENCODEC_OK);
    assert_int_equal(n, 0);
    rc = encodec_encoder_push(e, f.pcm, SIZE_MAX, codes, NULL, cap, &n);
    assert_true(rc == ENCODEC_EBUFFER || rc == ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_push(e, f.pcm, (size_t)1 << 36, codes, NULL, cap, &n),
                     ENCODEC_EBUFFER);
    assert_int_equal(n, 0);

    /* a stream where refused pushes and flushes (EBUFFER) are interleaved: nothing consumed */
    size_t got = 0, done = 0;
    const size_t step = f.len / 3 + 1;
    while (done < f.len) {
        const size_t chunk = f.len - done < step ? f.len - done : step;
        const size_t need = encodec_encoder_max_frames(e, chunk);
        if (need > 0) {
            n = 77;
            assert_int_equal(encodec_encoder_push(e, f.pcm + done * f.ch, chunk, codes + got * K,
                                                  NULL, need - 1, &n),
                             ENCODEC_EBUFFER);
            assert_int_equal(n, 0);
        }
        assert_int_equal(encodec_encoder_push(e, f.pcm + done * f.ch, chunk, codes + got * K,
                                              NULL, need, &n),
                         ENCODEC_OK);
        got += n;
        done += chunk;
    }
    const size_t rest = encodec_encoder_max_frames(e, 0);
    assert_true(rest > 0);
    assert_int_equal(encodec_encoder_flush(e, codes + got * K, NULL, rest - 1, &n),
                     ENCODEC_EBUFFER);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_flush(e, NULL, NULL, rest, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_encoder_flush(e, codes + got * K, NULL, rest, NULL), ENCODEC_EINVAL);
    /* the refused flush did not end the stream */
    assert_int_equal(encodec_encoder_push(e, f.pcm, 0, codes + got * K, NULL, rest, &n),
                     ENCODEC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_flush(e, codes + got * K, NULL, rest, &n), ENCODEC_OK);
    got += n;
    assert_int_equal(got, n_ref);
    assert_memory_equal(codes, ref, n_ref * K * sizeof *codes);

    /* after the flush: pushes are refused, a second flush returns nothing */
    assert_int_equal(encodec_encoder_push(e, f.pcm, 100, codes, NULL, cap, &n), ENCODEC_ESTATE);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_push(e, f.pcm, 0, codes, NULL, cap, &n), ENCODEC_ESTATE);
    n = 77;
    assert_int_equal(encodec_encoder_flush(e, codes, NULL, cap, &n), ENCODEC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_flush(e, codes, NULL, 0, &n), ENCODEC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_encoder_max_frames(e, 0), 0);

    /* encode in the middle of a stream starts afresh and leaves the encoder reset */
    assert_int_equal(encodec_encoder_reset(e), ENCODEC_OK);
    assert_int_equal(encodec_encoder_push(e, f.pcm, f.len / 2, codes, NULL, cap, &n), ENCODEC_OK);
    assert_int_equal(encodec_encode(e, f.pcm, f.len, codes, NULL, cap, &n), ENCODEC_OK);
    assert_int_equal(n, n_ref);
    assert_memory_equal(codes, ref, n_ref * K * sizeof *codes);
    assert_int_equal(encodec_encoder_push(e, f.pcm, f.len, codes, NULL, cap, &n), ENCODEC_OK);
    got = n;
    assert_int_equal(encodec_encoder_flush(e, codes + got * K, NULL, cap - got, &n), ENCODEC_OK);
    assert_int_equal(got + n, n_ref);
    assert_memory_equal(codes, ref, n_ref * K * sizeof *codes);
    /* a flush with nothing pushed gives no frames */
    assert_int_equal(encodec_encoder_reset(e), ENCODEC_OK);
    assert_int_equal(encodec_encoder_max_frames(e, 0), 0);
    assert_int_equal(encodec_encoder_flush(e, codes, NULL, 0, &n), ENCODEC_OK);
    assert_int_equal(n, 0);

    free(codes);
    free(ref);
    free(scales);
    fixture_close(&f);
}

static void test_encoder_misuse24(void **state)
{
    (void)state;
    encoder_misuse("tiny24", "tiny24.golden.safetensors");
}

static void test_encoder_misuse48(void **state)
{
    (void)state;
    encoder_misuse("tiny48", "tiny48.golden.safetensors");
}

/* ---- decoder ------------------------------------------------------------------------------ */

static void decoder_misuse(const char *model, const char *golden)
{
    fixture f;
    fixture_open(&f, model, golden);
    encodec_decoder *d = f.d;
    const int K = encodec_encoder_codebooks(f.e);
    const size_t T = encodec_encoder_max_frames(f.e, f.len);
    int32_t *codes = calloc(T * f.max_k, sizeof *codes);
    float *scales = calloc(T, sizeof *scales);
    size_t n = 77, got;
    assert_int_equal(encodec_encode(f.e, f.pcm, f.len, codes, scales, T, &n), ENCODEC_OK);
    const size_t cap = encodec_decoder_max_samples(d, T);
    assert_true(cap >= f.len);
    float *ref = calloc(cap * f.ch, sizeof *ref), *pcm = calloc(cap * f.ch, sizeof *pcm);
    size_t n_ref;
    assert_int_equal(encodec_decode(d, codes, scales, T, K, ref, cap, &n_ref), ENCODEC_OK);

    assert_int_equal(encodec_decoder_set_threads(d, 0), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_set_threads(d, -5), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_set_threads(d, INT_MAX), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_set_threads(d, 1), ENCODEC_OK);
    size_t su = 0;
    assert_int_equal(encodec_decoder_latency(d, NULL, NULL), ENCODEC_OK);
    assert_int_equal(encodec_decoder_latency(d, &su, NULL), ENCODEC_OK);
    assert_true(su >= 1);
    assert_true(encodec_decoder_state_size(d) > 0);

    /* decode: NULL buffers, no frames */
    assert_int_equal(encodec_decode(d, NULL, scales, T, K, pcm, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decode(d, codes, scales, T, K, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decode(d, codes, scales, T, K, pcm, cap, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_decode(d, codes, scales, 0, K, pcm, cap, &n), ENCODEC_EINVAL);
    /* codebook counts: 0, negative, one too many */
    const int bad_k[] = {0, -1, INT_MIN, f.max_k + 1, INT_MAX};
    for (size_t i = 0; i < sizeof bad_k / sizeof bad_k[0]; i++) {
        assert_int_equal(encodec_decode(d, codes, scales, 1, bad_k[i], pcm, cap, &n),
                         ENCODEC_ECODE);
        assert_int_equal(encodec_decoder_push(d, codes, scales, 1, bad_k[i], pcm, cap, &n),
                         ENCODEC_ECODE);
        assert_int_equal(n, 0);
    }
    /* code values outside [0, bins), first and last position */
    const int32_t bad_code[] = {-1, f.bins, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_code / sizeof bad_code[0]; i++)
        for (int where = 0; where < 2; where++) {
            const size_t at = where ? T * K - 1 : 0;
            const int32_t keep = codes[at];
            codes[at] = bad_code[i];
            assert_int_equal(encodec_decode(d, codes, scales, T, K, pcm, cap, &n), ENCODEC_ECODE);
            assert_int_equal(encodec_decoder_push(d, codes, scales, T, K, pcm, cap, &n),
                             ENCODEC_ECODE);
            codes[at] = keep;
        }
    /* scales must be positive and finite */
    const float bad_scale[] = {0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_scale / sizeof bad_scale[0]; i++) {
        const float keep = scales[T - 1];
        scales[T - 1] = bad_scale[i];
        assert_int_equal(encodec_decode(d, codes, scales, T, K, pcm, cap, &n), ENCODEC_EINVAL);
        scales[T - 1] = keep;
    }
    /* too small an output buffer */
    assert_int_equal(encodec_decode(d, codes, scales, T, K, pcm, cap - 1, &n), ENCODEC_EBUFFER);
    n = 77;
    assert_int_equal(encodec_decode(d, codes, scales, T, K, pcm, 0, &n), ENCODEC_EBUFFER);
    doc_mismatch(n == 0, "encodec_decode() refused with EBUFFER leaves *n_samples = %zu "
                         "(encodec_decoder_push() sets it to 0)", n);
    doc_mismatch(encodec_decoder_max_samples(d, SIZE_MAX / 4) >= encodec_decoder_max_samples(d, T),
                 "encodec_decoder_max_samples(d, SIZE_MAX / 4) = %zu wraps around",
                 encodec_decoder_max_samples(d, SIZE_MAX / 4));
    /* huge frame counts: refused before the output is written (codes are all valid zeros) */
    const size_t many = (size_t)1 << 20;
    int32_t *zeros = calloc(many * K, sizeof *zeros);
    assert_int_equal(encodec_decode(d, zeros, NULL, many, K, pcm, cap, &n), ENCODEC_EBUFFER);
    assert_int_equal(encodec_decoder_push(d, zeros, NULL, many, K, pcm, cap, &n), ENCODEC_EBUFFER);
    assert_int_equal(n, 0);
    free(zeros);
    int rc = encodec_decode(d, codes, NULL, SIZE_MAX / 4, K, pcm, cap, &n);
    assert_true(rc == ENCODEC_EINVAL || rc == ENCODEC_EBUFFER);
    rc = encodec_decoder_push(d, codes, NULL, SIZE_MAX / 4, K, pcm, cap, &n);
    assert_true(rc == ENCODEC_EINVAL || rc == ENCODEC_EBUFFER);
    assert_int_equal(encodec_decoder_reset(d), ENCODEC_OK);

    /* push: NULL buffers; 0 frames with or without codes */
    assert_int_equal(encodec_decoder_push(d, NULL, NULL, 2, K, pcm, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_push(d, codes, NULL, 2, K, NULL, cap, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_push(d, codes, NULL, 2, K, pcm, cap, NULL), ENCODEC_EINVAL);
    n = 77;
    assert_int_equal(encodec_decoder_push(d, NULL, NULL, 0, K, pcm, 0, &n), ENCODEC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_decoder_push(d, NULL, NULL, 0, 0, pcm, 0, &n), ENCODEC_OK);

    /* a stream where refused pushes (EBUFFER, ECODE) are interleaved: nothing consumed */
    got = 0;
    const size_t step = T / 3 + 1;
    for (size_t done = 0; done < T;) {
        const size_t chunk = T - done < step ? T - done : step;
        const size_t need = encodec_decoder_max_samples(d, chunk);
        if (need > 0)
            assert_int_equal(encodec_decoder_push(d, codes + done * K, scales + done, chunk, K,
                                                  pcm + got * f.ch, need - 1, &n),
                             ENCODEC_EBUFFER);
        const int32_t keep = codes[done * K];
        codes[done * K] = -1;
        assert_int_equal(encodec_decoder_push(d, codes + done * K, scales + done, chunk, K,
                                              pcm + got * f.ch, need, &n),
                         ENCODEC_ECODE);
        codes[done * K] = keep;
        assert_int_equal(encodec_decoder_push(d, codes + done * K, scales + done, chunk, K,
                                              pcm + got * f.ch, need, &n),
                         ENCODEC_OK);
        got += n;
        done += chunk;
    }
    const size_t rest = encodec_decoder_max_samples(d, 0);
    if (rest > 0) {
        assert_int_equal(encodec_decoder_flush(d, pcm + got * f.ch, rest - 1, &n), ENCODEC_EBUFFER);
        assert_int_equal(n, 0);
    }
    assert_int_equal(encodec_decoder_flush(d, NULL, rest, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_flush(d, pcm + got * f.ch, rest, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_decoder_flush(d, pcm + got * f.ch, rest, &n), ENCODEC_OK);
    got += n;
    assert_int_equal(got, n_ref);
    assert_memory_equal(pcm, ref, n_ref * f.ch * sizeof *pcm);

    /* after the flush */
    assert_int_equal(encodec_decoder_push(d, codes, scales, 1, K, pcm, cap, &n), ENCODEC_ESTATE);
    assert_int_equal(n, 0);
    n = 77;
    assert_int_equal(encodec_decoder_flush(d, pcm, cap, &n), ENCODEC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(encodec_decoder_flush(d, pcm, 0, &n), ENCODEC_OK);

    /* decode mid-stream starts afresh and leaves the decoder reset */
    assert_int_equal(encodec_decoder_reset(d), ENCODEC_OK);
    assert_int_equal(encodec_decoder_push(d, codes, scales, T / 2, K, pcm, cap, &n), ENCODEC_OK);
    assert_int_equal(encodec_decode(d, codes, scales, T, K, pcm, cap, &n), ENCODEC_OK);
    assert_int_equal(n, n_ref);
    assert_memory_equal(pcm, ref, n_ref * f.ch * sizeof *pcm);
    assert_int_equal(encodec_decoder_max_samples(d, 0), 0);

    /* "Every push of a stream must use the same number of codebooks (else ENCODEC_ECODE)." */
    assert_int_equal(encodec_decoder_reset(d), ENCODEC_OK);
    assert_int_equal(encodec_decoder_push(d, codes, scales, 1, K, pcm, cap, &n), ENCODEC_OK);
    int32_t more[64] = {0};
    rc = encodec_decoder_push(d, more, scales, 1, K + 1, pcm + n * f.ch, cap - n, &n);
    assert_int_equal(rc, ENCODEC_ECODE);

    free(codes);
    free(scales);
    free(ref);
    free(pcm);
    fixture_close(&f);
}

static void test_decoder_misuse24(void **state)
{
    (void)state;
    decoder_misuse("tiny24", "tiny24.golden.safetensors");
}

static void test_decoder_misuse48(void **state)
{
    (void)state;
    decoder_misuse("tiny48", "tiny48.golden.safetensors");
}

/* ---- .ecdc -------------------------------------------------------------------------------- */

/* An .ecdc header with the given metadata JSON (and version), followed by `extra` zero bytes. */
static uint8_t *ecdc_header(const char *json, int version, size_t extra, size_t *len)
{
    const size_t n = strlen(json);
    *len = 9 + n + extra;
    uint8_t *b = calloc(*len, 1);
    memcpy(b, "ECDC", 4);
    b[4] = (uint8_t)version;
    b[5] = (uint8_t)(n >> 24);
    b[6] = (uint8_t)(n >> 16);
    b[7] = (uint8_t)(n >> 8);
    b[8] = (uint8_t)n;
    memcpy(b + 9, json, n);
    return b;
}

static void test_probe_misuse(void **state)
{
    (void)state;
    encodec_ecdc_info info;
    memset(&info, 0xa5, sizeof info);
    assert_int_equal(encodec_ecdc_probe(NULL, 0, &info), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"E", 1, &info), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC", 4, &info),
                     ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"X", 1, &info), ENCODEC_EECDC_MAGIC);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDX\0", 5, &info), ENCODEC_EECDC_MAGIC);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"RIFF\0\0\0\0\0\0", 10, &info),
                     ENCODEC_EECDC_MAGIC);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC\1", 5, &info),
                     ENCODEC_EECDC_VERSION);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC\377\0\0\0\0", 9, &info),
                     ENCODEC_EECDC_VERSION);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC\0\0\0", 7, &info),
                     ENCODEC_EECDC_TRUNCATED);
    /* metadata longer than the data, absurdly long, empty */
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC\0\0\0\0\5{}", 11, &info),
                     ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC\0\377\377\377\377", 9, &info),
                     ENCODEC_EECDC_HEADER);
    assert_int_equal(encodec_ecdc_probe((const uint8_t *)"ECDC\0\0\0\0\0", 9, &info),
                     ENCODEC_EECDC_HEADER);

    static const struct {
        const char *json;
        int want;
    } cases[] = {
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 2, \"lm\": false}", ENCODEC_OK},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 2, \"lm\": true}", ENCODEC_OK},
        {"not json", ENCODEC_EECDC_HEADER},
        {"[1, 2, 3]", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 2}", ENCODEC_EECDC_HEADER},
        {"{\"m\": 5, \"al\": 100, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 0, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": -3, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 1.5, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 1e300, \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": \"100\", \"nc\": 2, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 0, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": -1, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 1e12, \"lm\": false}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 2, \"lm\": 1}", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"tiny24\", \"al\": 100, \"nc\": 2, \"lm\": false} x", ENCODEC_EECDC_HEADER},
        {"{\"m\": \"0123456789012345678901234567890123456789012345678901234567890123\", "
         "\"al\": 100, \"nc\": 2, \"lm\": false}",
         ENCODEC_EECDC_HEADER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *b = ecdc_header(cases[i].json, 0, 3, &len);
        const int rc = encodec_ecdc_probe(b, len, &info);
        if (rc != cases[i].want)
            fail_msg("probe of %s: %s, expected %s", cases[i].json, encodec_strerror(rc),
                     encodec_strerror(cases[i].want));
        if (rc == ENCODEC_OK) {
            assert_string_equal(info.model_name, "tiny24");
            assert_int_equal(info.audio_length, 100);
            assert_int_equal(info.n_codebooks, 2);
            assert_int_equal(info.header_size, len - 3);
            /* every shorter prefix needs more bytes */
            for (size_t p = 0; p < info.header_size; p++)
                assert_int_equal(encodec_ecdc_probe(b, p, &info), ENCODEC_EECDC_TRUNCATED);
        }
        free(b);
    }
}

static uint8_t *read_data(const char *name, size_t *len)
{
    char *path = tu_data_path(name);
    uint8_t *b = tu_read_file(path, len);
    free(path);
    return b;
}

static void expect_decompress(encodec_decoder *d, const uint8_t *data, size_t len, int want,
                              const char *what)
{
    float *pcm = (float *)&len;
    size_t n = 77;
    const int rc = encodec_decompress(d, data, len, &pcm, &n);
    if (rc != want)
        fail_msg("decompress of %s (%zu bytes): %s, expected %s", what, len, encodec_strerror(rc),
                 encodec_strerror(want));
    if (rc != ENCODEC_OK) {
        assert_null(pcm);
        assert_int_equal(n, 0);
    }
    encodec_buffer_free(pcm);
}

static void test_decompress_misuse(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "tiny24", "tiny24.golden.safetensors");
    size_t len, len48, len_lm;
    uint8_t *file = read_data("tiny24_excerpt_bw1.5_nolm.ecdc", &len);
    uint8_t *file48 = read_data("tiny48_excerpt_bw3_nolm.ecdc", &len48);
    uint8_t *file_lm = read_data("tiny24_excerpt_bw1.5_lm.ecdc", &len_lm);
    float *pcm;
    size_t n;

    /* arguments */
    assert_int_equal(encodec_decompress(f.d, NULL, len, &pcm, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decompress(f.d, file, len, NULL, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_decompress(f.d, file, len, &pcm, NULL), ENCODEC_EINVAL);
    expect_decompress(f.d, NULL, 0, ENCODEC_EECDC_TRUNCATED, "nothing");

    /* the intact file decodes to its length */
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(file, len, &info), ENCODEC_OK);
    assert_int_equal(encodec_decompress(f.d, file, len, &pcm, &n), ENCODEC_OK);
    assert_int_equal(n, info.audio_length);
    encodec_buffer_free(pcm);

    /* a header-less stream: raw codes, raw audio */
    int32_t raw[64];
    for (int i = 0; i < 64; i++)
        raw[i] = i;
    expect_decompress(f.d, (const uint8_t *)raw, sizeof raw, ENCODEC_EECDC_MAGIC, "raw codes");
    expect_decompress(f.d, (const uint8_t *)f.pcm, 4096, ENCODEC_EECDC_MAGIC, "raw audio");
    expect_decompress(f.d, file + 1, len - 1, ENCODEC_EECDC_MAGIC, "a file without its first byte");

    /* every truncation, and one byte too many */
    for (size_t p = 0; p < len; p++)
        expect_decompress(f.d, file, p, ENCODEC_EECDC_TRUNCATED, "a truncated file");
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, file, len);
    longer[len] = 0;
    expect_decompress(f.d, longer, len + 1, ENCODEC_EECDC_TRAILING, "a file with a trailing byte");
    free(longer);

    /* another model's stream, more codebooks than the model has, another version */
    expect_decompress(f.d, file48, len48, ENCODEC_EECDC_MODEL, "a tiny48 stream");
    char json[128];
    snprintf(json, sizeof json, "{\"m\": \"tiny24\", \"al\": 320, \"nc\": %d, \"lm\": false}",
             f.max_k + 1);
    size_t hl;
    uint8_t *b = ecdc_header(json, 0, 64, &hl);
    expect_decompress(f.d, b, hl, ENCODEC_EECDC_MODEL, "too many codebooks");
    free(b);
    b = ecdc_header("{\"m\": \"tiny24\", \"al\": 320, \"nc\": 1, \"lm\": false}", 1, 2, &hl);
    expect_decompress(f.d, b, hl, ENCODEC_EECDC_VERSION, "version 1");
    free(b);

    /* LM streams need an LM (as for encodec_compress) */
    expect_decompress(f.d, file_lm, len_lm, ENCODEC_EUNSUPPORTED, "an LM stream without an LM");

    free(file);
    free(file48);
    free(file_lm);
    fixture_close(&f);
}

static void test_compress_misuse(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "tiny24", "tiny24.golden.safetensors");
    uint8_t *out = (uint8_t *)&f;
    size_t size = 77;
    const size_t n = 4000;

    assert_int_equal(encodec_compress(f.e, NULL, n, 0, &out, &size), ENCODEC_EINVAL);
    assert_null(out);
    assert_int_equal(size, 0);
    assert_int_equal(encodec_compress(f.e, f.pcm, n, 0, NULL, &size), ENCODEC_EINVAL);
    assert_int_equal(encodec_compress(f.e, f.pcm, n, 0, &out, NULL), ENCODEC_EINVAL);
    assert_null(out);
    assert_int_equal(encodec_compress(f.e, f.pcm, 0, 0, &out, &size), ENCODEC_EINVAL);
    /* longer than an .ecdc stream can describe: refused before reading */
    assert_int_equal(encodec_compress(f.e, f.pcm, SIZE_MAX, 0, &out, &size), ENCODEC_EINVAL);
    /* LM mode without an LM, with any non-zero flag */
    out = (uint8_t *)&f;
    assert_int_equal(encodec_compress(f.e, f.pcm, n, 1, &out, &size), ENCODEC_EUNSUPPORTED);
    assert_null(out);
    assert_int_equal(encodec_compress(f.e, f.pcm, n, -1, &out, &size), ENCODEC_EUNSUPPORTED);

    /* compress in the middle of a stream: the stream is abandoned, the bytes are unaffected */
    uint8_t *a, *b;
    size_t sa, sb, got;
    assert_int_equal(encodec_compress(f.e, f.pcm, n, 0, &a, &sa), ENCODEC_OK);
    int32_t codes[4096];
    assert_int_equal(encodec_encoder_push(f.e, f.pcm, 1000, codes, NULL, 64, &got), ENCODEC_OK);
    assert_int_equal(encodec_compress(f.e, f.pcm, n, 0, &b, &sb), ENCODEC_OK);
    assert_int_equal(sa, sb);
    assert_memory_equal(a, b, sa);
    encodec_buffer_free(b);
    /* after a flush too */
    assert_int_equal(encodec_encoder_flush(f.e, codes, NULL, 64, &got), ENCODEC_OK);
    assert_int_equal(encodec_compress(f.e, f.pcm, n, 0, &b, &sb), ENCODEC_OK);
    assert_int_equal(sa, sb);
    assert_memory_equal(a, b, sa);
    encodec_buffer_free(b);
    encodec_buffer_free(a);
    fixture_close(&f);
}

/* ---- incremental .ecdc writer and reader -------------------------------------------------- */

static void test_ecdc_stream_misuse(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "tiny24", "tiny24.golden.safetensors");
    encodec_ecdc_writer *w = (encodec_ecdc_writer *)&f;
    encodec_ecdc_reader *r = (encodec_ecdc_reader *)&f;
    const size_t len = 4000;
    uint8_t out[65536];
    float pcm[65536];
    size_t n = 77, total = 0;
    encodec_ecdc_info info;

    /* NULL handles */
    encodec_ecdc_writer_free(NULL);
    encodec_ecdc_reader_free(NULL);
    assert_int_equal(encodec_ecdc_writer_create(NULL, len, 0, &w), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_create(f.e, len, 0, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_push(NULL, f.pcm, 10, out, sizeof out, &n),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_finish(NULL, out, sizeof out, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_max_bytes(NULL, 10), 0);
    assert_int_equal(encodec_ecdc_reader_create(NULL, &r), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_create(f.d, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push(NULL, out, 10, pcm, 100, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_finish(NULL, pcm, 100, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_info(NULL, &info), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_max_samples(NULL, 10), 0);

    /* writer: LM not yet defined, absurd length */
    assert_int_equal(encodec_ecdc_writer_create(f.e, len, 1, &w), ENCODEC_EUNSUPPORTED);
    assert_int_equal(encodec_ecdc_writer_create(f.e, (UINT64_C(1) << 53) + 1, 0, &w),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_create(f.e, len, 0, &w), ENCODEC_OK);
    /* NULL buffers, more samples than announced, too little room, finish too early */
    assert_int_equal(encodec_ecdc_writer_push(w, NULL, 10, out, sizeof out, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm, 10, NULL, sizeof out, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm, 10, out, sizeof out, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm, len + 1, out, sizeof out, &n),
                     ENCODEC_ELENGTH);
    const size_t need = encodec_ecdc_writer_max_bytes(w, len / 2);
    assert_true(need > 0);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm, len / 2, out, need - 1, &n),
                     ENCODEC_EBUFFER);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm, len / 2, out, need, &n), ENCODEC_OK);
    total = n;
    assert_int_equal(encodec_ecdc_writer_finish(w, out + total, sizeof out - total, &n),
                     ENCODEC_ELENGTH);
    /* the bandwidth is fixed while the stream runs */
    assert_int_equal(encodec_encoder_set_bandwidth(f.e, 3.0f), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm + len / 2, len - len / 2, out + total,
                                              sizeof out - total, &n),
                     ENCODEC_ESTATE);
    assert_int_equal(encodec_encoder_set_bandwidth(f.e, 1.5f), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm + len / 2, len - len / 2, out + total,
                                              sizeof out - total, &n),
                     ENCODEC_OK);
    total += n;
    assert_int_equal(encodec_ecdc_writer_finish(w, out + total, sizeof out - total, &n),
                     ENCODEC_OK);
    total += n;
    /* after the finish */
    assert_int_equal(encodec_ecdc_writer_push(w, f.pcm, 1, out + total, sizeof out - total, &n),
                     ENCODEC_ESTATE);
    assert_int_equal(encodec_ecdc_writer_finish(w, out + total, sizeof out - total, &n),
                     ENCODEC_OK);
    assert_int_equal(n, 0);
    encodec_ecdc_writer_free(w);
    /* a stream of known length is an ordinary .ecdc file */
    assert_int_equal(encodec_ecdc_probe(out, total, &info), ENCODEC_OK);
    assert_int_equal(info.audio_length, len);

    /* reader: header not yet read, too little room, NULL pcm with room claimed */
    assert_int_equal(encodec_ecdc_reader_create(f.d, &r), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_reader_max_samples(r, 0), 0);
    assert_int_equal(encodec_ecdc_reader_push(r, NULL, 10, pcm, 100, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push(r, out, total, NULL, 100, &n), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push(r, out, total, pcm, 100, NULL), ENCODEC_EINVAL);
    const size_t room = encodec_ecdc_reader_max_samples(r, total);
    assert_true(room >= len && room <= sizeof pcm / sizeof *pcm);
    assert_int_equal(encodec_ecdc_reader_push(r, out, total, pcm, len - 1, &n), ENCODEC_EBUFFER);
    assert_int_equal(n, 0);
    /* nothing was consumed: the whole stream still decodes, to the decompressed audio */
    assert_int_equal(encodec_ecdc_reader_push(r, out, total, pcm, room, &n), ENCODEC_OK);
    size_t got = n;
    assert_int_equal(encodec_ecdc_reader_finish(r, pcm + got, 0, &n), ENCODEC_OK);
    got += n;
    assert_int_equal(got, len);
    float *ref;
    assert_int_equal(encodec_decompress(f.d, out, total, &ref, &n), ENCODEC_OK);
    assert_int_equal(n, len);
    assert_memory_equal(pcm, ref, len * sizeof *ref);
    encodec_buffer_free(ref);
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_OK);
    assert_int_equal(info.audio_length, len);
    assert_int_equal(encodec_ecdc_reader_push(r, out, 1, pcm, room, &n), ENCODEC_ESTATE);
    encodec_ecdc_reader_free(r);

    /* damage: not .ecdc (sticky), truncated, a trailing byte, LM-coded, another model */
    assert_int_equal(encodec_ecdc_reader_create(f.d, &r), ENCODEC_OK);
    static const uint8_t junk[16] = "RIFF....WAVEfmt ";
    assert_int_equal(encodec_ecdc_reader_push(r, junk, sizeof junk, pcm, room, &n),
                     ENCODEC_EECDC_MAGIC);
    assert_int_equal(encodec_ecdc_reader_push(r, out, total, pcm, room, &n), ENCODEC_EECDC_MAGIC);
    assert_int_equal(encodec_ecdc_reader_finish(r, pcm, room, &n), ENCODEC_EECDC_MAGIC);
    encodec_ecdc_reader_free(r);

    assert_int_equal(encodec_ecdc_reader_create(f.d, &r), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_push(r, out, total - 1, pcm, room, &n), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_finish(r, pcm, room, &n), ENCODEC_EECDC_TRUNCATED);
    encodec_ecdc_reader_free(r);

    out[total] = 0;
    assert_int_equal(encodec_ecdc_reader_create(f.d, &r), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_push(r, out, total + 1, pcm, room, &n),
                     ENCODEC_EECDC_TRAILING);
    encodec_ecdc_reader_free(r);

    size_t lm_len, len48;
    uint8_t *lm = read_data("tiny24_excerpt_bw1.5_lm.ecdc", &lm_len);
    uint8_t *other = read_data("tiny48_excerpt_bw3_nolm.ecdc", &len48);
    assert_int_equal(encodec_ecdc_reader_create(f.d, &r), ENCODEC_OK);
    const size_t room_lm = encodec_ecdc_reader_max_samples(r, lm_len);
    float *big = malloc((room_lm + 1) * sizeof *big);
    assert_int_equal(encodec_ecdc_reader_push(r, lm, lm_len, big, room_lm, &n),
                     ENCODEC_EUNSUPPORTED);
    encodec_ecdc_reader_free(r);
    free(big);
    assert_int_equal(encodec_ecdc_reader_create(f.d, &r), ENCODEC_OK);
    const size_t room48 = encodec_ecdc_reader_max_samples(r, len48);
    big = malloc((room48 + 1) * 2 * sizeof *big);
    assert_int_equal(encodec_ecdc_reader_push(r, other, len48, big, room48, &n),
                     ENCODEC_EECDC_MODEL);
    encodec_ecdc_reader_free(r);
    free(big);
    free(lm);
    free(other);
    fixture_close(&f);
}

/* ---- language model ----------------------------------------------------------------------- */

static void test_lm_misuse(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "tiny24", "tiny24.golden.safetensors");
    char msg[256];
    char *lm_path = tu_data_path("tiny24_lm.safetensors");
    char *dir = tu_tmpdir();
    char path[1024];

    /* arguments and files */
    assert_int_equal(encodec_model_load_lm_file(f.m, NULL, msg, sizeof msg), ENCODEC_EINVAL);
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    assert_int_equal(encodec_model_load_lm_file(f.m, path, msg, sizeof msg), ENCODEC_EIO);
    assert_non_null(strstr(msg, "missing.safetensors"));
    assert_int_equal(encodec_model_load_lm_file(f.m, dir, msg, sizeof msg), ENCODEC_EIO);
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    tu_write_file(path, "", 0);
    assert_int_equal(encodec_model_load_lm_file(f.m, path, NULL, 0), ENCODEC_EWEIGHTS_TRUNCATED);
    assert_int_equal(encodec_model_load_lm_memory(f.m, NULL, 10, msg, sizeof msg), ENCODEC_EINVAL);
    assert_int_equal(encodec_model_load_lm_memory(f.m, NULL, 0, msg, sizeof msg),
                     ENCODEC_EWEIGHTS_TRUNCATED);
    assert_int_equal(encodec_model_has_lm(f.m), 0);

    /* without an LM: LM mode is unsupported */
    uint8_t *out;
    size_t size;
    assert_int_equal(encodec_compress(f.e, f.pcm, 4000, 1, &out, &size), ENCODEC_EUNSUPPORTED);

    /* attach on a model without handles */
    encodec_encoder_free(f.e);
    encodec_decoder_free(f.d);
    strcpy(msg, "stale");
    assert_int_equal(encodec_model_load_lm_file(f.m, lm_path, msg, sizeof msg), ENCODEC_OK);
    assert_string_equal(msg, "");
    assert_int_equal(encodec_model_has_lm(f.m), 1);
    /* a failed attach leaves the attached LM in place */
    size_t lm_len;
    uint8_t *lm_file = tu_read_file(lm_path, &lm_len);
    assert_int_equal(encodec_model_load_lm_memory(f.m, lm_file, lm_len - 1, msg, sizeof msg),
                     ENCODEC_EWEIGHTS_OFFSET);
    assert_int_equal(encodec_model_has_lm(f.m), 1);
    /* attaching again replaces it (no leak, same behaviour) */
    assert_int_equal(encodec_model_load_lm_memory(f.m, lm_file, lm_len, NULL, 0), ENCODEC_OK);
    free(lm_file);
    assert_int_equal(encodec_encoder_create(f.m, &f.e), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(f.m, &f.d), ENCODEC_OK);

    /* the tiny LM has 3 tables: 1.5 kbps (2 codebooks) fits, 6 kbps (8 codebooks) does not */
    assert_int_equal(encodec_encoder_set_bandwidth(f.e, 1.5f), ENCODEC_OK);
    assert_int_equal(encodec_compress(f.e, f.pcm, 4000, 1, &out, &size), ENCODEC_OK);
    float *pcm;
    size_t n;
    assert_int_equal(encodec_decompress(f.d, out, size, &pcm, &n), ENCODEC_OK);
    assert_int_equal(n, 4000);
    encodec_buffer_free(pcm);
    /* damaged LM payloads: every truncation is reported, never a crash */
    for (size_t p = 0; p < size; p++) {
        const int rc = encodec_decompress(f.d, out, p, &pcm, &n);
        assert_int_equal(rc, ENCODEC_EECDC_TRUNCATED);
    }
    encodec_buffer_free(out);
    assert_int_equal(encodec_encoder_set_bandwidth(f.e, 6.0f), ENCODEC_OK);
    out = (uint8_t *)&n;
    assert_int_equal(encodec_compress(f.e, f.pcm, 4000, 1, &out, &size), ENCODEC_EUNSUPPORTED);
    assert_null(out);
    /* a stream claiming more codebooks than the LM has */
    size_t hl;
    uint8_t *b =
        ecdc_header("{\"m\": \"tiny24\", \"al\": 320, \"nc\": 8, \"lm\": true}", 0, 16, &hl);
    assert_int_equal(encodec_decompress(f.d, b, hl, &pcm, &n), ENCODEC_EUNSUPPORTED);
    free(b);

    free(lm_path);
    tu_rmtree(dir);
    free(dir);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_and_version),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_model_load_misuse),
        cmocka_unit_test(test_model_getters),
        cmocka_unit_test(test_encoder_misuse24),
        cmocka_unit_test(test_encoder_misuse48),
        cmocka_unit_test(test_decoder_misuse24),
        cmocka_unit_test(test_decoder_misuse48),
        cmocka_unit_test(test_probe_misuse),
        cmocka_unit_test(test_decompress_misuse),
        cmocka_unit_test(test_compress_misuse),
        cmocka_unit_test(test_ecdc_stream_misuse),
        cmocka_unit_test(test_lm_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
