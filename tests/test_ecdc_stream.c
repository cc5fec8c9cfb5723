/* Tests of the incremental .ecdc writer and reader (src/ecdc_stream.c) with the tiny24 and
 * tiny48 models: a writer given the length makes exactly encodec_compress()'s bytes and the
 * reference's golden files, whatever the push sizes; the reader decodes the golden files to
 * encodec_decompress()'s audio from pieces of any size down to single bytes, and hands out a
 * frame's audio as soon as the frame's last byte is in; live streams (length unknown) round
 * trip to the audio of the known-length file, push by push as fast as the codec itself; the
 * hand-made live streams check the format as documented; truncated, damaged, foreign and
 * trailing input fails with its specific error, and the _max_ bounds hold. Push sizes and
 * damage are drawn from a printed seed (ENCODEC_TEST_SEED repeats a run). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    encodec_model *model;
    encodec_encoder *enc, *enc2;
    encodec_decoder *dec, *dec2;
    int ch;
    float *excerpt; /* interleaved */
    size_t excerpt_len;
    uint8_t *golden;
    size_t golden_len;
    float bandwidth; /* of the golden file */
} side;

typedef struct {
    side s24, s48;
    uint32_t rng;
} fixture;

/* ---- helpers ------------------------------------------------------------------------------ */

static uint8_t *read_data(const char *name, size_t *len)
{
    char *path = tu_data_path(name);
    uint8_t *d = tu_read_file(path, len);
    free(path);
    return d;
}

static size_t rnd(fixture *f, size_t lo, size_t hi) /* inclusive */
{
    return lo + tu_rand(&f->rng) % (uint32_t)(hi - lo + 1);
}

static void open_side(side *s, const char *model, const char *golden, const char *ecdc,
                      float bandwidth)
{
    s->model = tu_load_model(model);
    s->ch = encodec_model_channels(s->model);
    assert_int_equal(encodec_encoder_create(s->model, &s->enc), ENCODEC_OK);
    assert_int_equal(encodec_encoder_create(s->model, &s->enc2), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(s->model, &s->dec), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(s->model, &s->dec2), ENCODEC_OK);
    s->bandwidth = bandwidth;
    assert_int_equal(encodec_encoder_set_bandwidth(s->enc, bandwidth), ENCODEC_OK);
    assert_int_equal(encodec_encoder_set_bandwidth(s->enc2, bandwidth), ENCODEC_OK);
    tu_golden *g = tu_golden_open(golden);
    int64_t shape[8];
    int nd;
    size_t n;
    const float *planar = tu_golden_f32(g, "excerpt.audio", shape, &nd, &n);
    assert_int_equal(nd, 2);
    assert_int_equal(shape[0], s->ch);
    s->excerpt_len = (size_t)shape[1];
    s->excerpt = malloc(n * sizeof(float));
    assert_non_null(s->excerpt);
    for (size_t t = 0; t < s->excerpt_len; t++)
        for (int c = 0; c < s->ch; c++)
            s->excerpt[t * s->ch + c] = planar[(size_t)c * s->excerpt_len + t];
    tu_golden_close(g);
    s->golden = read_data(ecdc, &s->golden_len);
}

static void close_side(side *s)
{
    encodec_encoder_free(s->enc);
    encodec_encoder_free(s->enc2);
    encodec_decoder_free(s->dec);
    encodec_decoder_free(s->dec2);
    encodec_model_free(s->model);
    free(s->excerpt);
    free(s->golden);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->rng = tu_seed();
    open_side(&f->s24, "tiny24.safetensors", "tiny24.golden.safetensors",
              "tiny24_excerpt_bw1.5_nolm.ecdc", 1.5f);
    open_side(&f->s48, "tiny48.safetensors", "tiny48.golden.safetensors",
              "tiny48_excerpt_bw3_nolm.ecdc", 3.0f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close_side(&f->s24);
    close_side(&f->s48);
    free(f);
    return 0;
}

/* A test signal: noise with a loud and a quiet stretch (segments get different scales). */
static float *make_signal(fixture *f, size_t n, int ch)
{
    float *x = malloc((n ? n : 1) * ch * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n * ch; i++) {
        float a = (i / ch) % 30000 < 20000 ? 0.4f : 0.02f;
        x[i] = a * ((float)(tu_rand(&f->rng) % 2001) / 1000.0f - 1.0f);
    }
    return x;
}

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes;

static uint8_t *room(bytes *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    return b->data + b->len;
}

/* LSB-first bit packing (spec 7.1), to build expected streams from the format's description. */
typedef struct {
    bytes b;
    uint64_t acc;
    int n;
} packer;

static void pack(packer *p, uint32_t v, int bits)
{
    p->acc |= (uint64_t)v << p->n;
    p->n += bits;
    while (p->n >= 8) {
        *room(&p->b, 1) = (uint8_t)p->acc;
        p->b.len++;
        p->acc >>= 8;
        p->n -= 8;
    }
}

static void pack_align(packer *p)
{
    if (p->n)
        pack(p, 0, 8 - p->n);
}

static void pack_bytes(packer *p, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pack(p, d[i], 8);
}

static void pack_length(packer *p, uint64_t al)
{
    for (int k = 0; k < 8; k++)
        pack(p, (uint8_t)(al >> (56 - 8 * k)), 8);
}

/* The reference layout (spec 7, 8) of n samples, built here from encodec_encode()'s codes and
 * scales at the encoder's bandwidth: what encodec_compress() and the reference write. */
static uint8_t *reference_bytes(side *s, const float *pcm, size_t n, size_t *len)
{
    const int K = encodec_encoder_codebooks(s->enc);
    assert_int_equal(encodec_encoder_reset(s->enc), ENCODEC_OK);
    size_t nf = encodec_encoder_max_frames(s->enc, n), got;
    int32_t *codes = malloc(nf * K * sizeof *codes);
    float *scales = malloc(nf * sizeof *scales);
    assert_int_equal(encodec_encode(s->enc, pcm, n, codes, scales, nf, &got), ENCODEC_OK);
    char json[160];
    snprintf(json, sizeof json, "{\"m\": \"%s\", \"al\": %zu, \"nc\": %d, \"lm\": false}",
             encodec_model_name(s->model), n, K);
    packer p = {0};
    const uint8_t fixed[9] = {'E', 'C', 'D', 'C', 0, 0, 0, 0, (uint8_t)strlen(json)};
    pack_bytes(&p, fixed, 9);
    pack_bytes(&p, (const uint8_t *)json, strlen(json));
    const int segmented = s->ch == 2; /* tiny48: 1 s segments, 1 % overlap, scales */
    const size_t seg = segmented ? 48000 : n, stride = segmented ? 47520 : n;
    size_t t = 0;
    for (size_t off = 0; off < n; off += stride) {
        const size_t ls = n - off < seg ? n - off : seg, frames = (ls + 319) / 320;
        if (segmented) {
            uint32_t bits;
            memcpy(&bits, &scales[t], 4);
            for (int k = 0; k < 4; k++)
                pack(&p, (uint8_t)(bits >> (24 - 8 * k)), 8);
        }
        for (size_t i = 0; i < frames; i++, t++)
            for (int k = 0; k < K; k++)
                pack(&p, (uint32_t)codes[t * K + k], 10);
        pack_align(&p);
    }
    assert_int_equal(t, got);
    free(codes);
    free(scales);
    *len = p.b.len;
    return p.b.data;
}

/* Push sizes: max_push 0 means everything at once, else 0..max_push at random. */
static size_t next_piece(fixture *f, size_t left, size_t max_push, size_t min)
{
    size_t c = max_push ? rnd(f, min, max_push) : left;
    return c < left ? c : left;
}

/* Run pcm through a writer; the bytes (malloc'd) of the whole stream. */
static uint8_t *write_stream_lm(fixture *f, encodec_encoder *enc, const float *pcm, size_t n,
                                int ch, uint64_t announce, size_t max_push, int use_lm,
                                size_t *len)
{
    encodec_ecdc_writer *w;
    assert_int_equal(encodec_ecdc_writer_create(enc, announce, use_lm, &w), ENCODEC_OK);
    bytes b = {0};
    for (size_t done = 0; done < n;) {
        size_t c = next_piece(f, n - done, max_push, 0), got = 12345;
        size_t cap = encodec_ecdc_writer_max_bytes(w, c);
        assert_int_equal(encodec_ecdc_writer_push(w, pcm + done * ch, c, room(&b, cap), cap, &got),
                         ENCODEC_OK);
        assert_true(got <= cap);
        b.len += got;
        done += c;
    }
    size_t cap = encodec_ecdc_writer_max_bytes(w, 0), got = 12345;
    assert_int_equal(encodec_ecdc_writer_finish(w, room(&b, cap), cap, &got), ENCODEC_OK);
    assert_true(got <= cap);
    b.len += got;
    encodec_ecdc_writer_free(w);
    *len = b.len;
    return b.data;
}

static uint8_t *write_stream(fixture *f, encodec_encoder *enc, const float *pcm, size_t n,
                             int ch, uint64_t announce, size_t max_push, size_t *len)
{
    return write_stream_lm(f, enc, pcm, n, ch, announce, max_push, 0, len);
}

/* Feed a stream to a reader in pieces of 1..max_piece bytes (0: all at once); the first error
 * of the pushes or the finish, and the audio (malloc'd) in *pcm. */
static int read_stream(fixture *f, encodec_decoder *dec, int ch, const uint8_t *data, size_t len,
                       size_t max_piece, float **pcm, size_t *n_samples)
{
    encodec_ecdc_reader *r;
    assert_int_equal(encodec_ecdc_reader_create(dec, &r), ENCODEC_OK);
    float *out = malloc(sizeof(float));
    size_t n = 0, got, pos = 0;
    int rc = ENCODEC_OK;
    while (pos < len) {
        size_t c = next_piece(f, len - pos, max_piece, 1);
        size_t need = encodec_ecdc_reader_max_samples(r, c);
        out = realloc(out, ((n + need) * ch + 1) * sizeof(float));
        assert_non_null(out);
        got = 12345;
        rc = encodec_ecdc_reader_push(r, data + pos, c, need ? out + n * ch : NULL, need, &got);
        if (rc < 0) {
            assert_int_equal(got, 0);
            break;
        }
        assert_true(got <= need);
        n += got;
        pos += c;
    }
    size_t need = encodec_ecdc_reader_max_samples(r, 0);
    out = realloc(out, ((n + need) * ch + 1) * sizeof(float));
    int rc2 = encodec_ecdc_reader_finish(r, need ? out + n * ch : NULL, need, &got);
    if (rc == ENCODEC_OK) {
        rc = rc2;
        n += rc2 == ENCODEC_OK ? got : 0;
    } else {
        assert_int_equal(rc2, rc); /* the finish repeats the error */
    }
    /* after the finish only ESTATE */
    uint8_t byte = 0;
    assert_int_equal(encodec_ecdc_reader_push(r, &byte, 1, out, 1 << 20, &got), ENCODEC_ESTATE);
    encodec_ecdc_reader_free(r);
    *pcm = out;
    *n_samples = n;
    return rc;
}

/* The same with encodec_ecdc_reader_push_partial and an output of min_samples + extra: each
 * call must use some bytes or give some audio, and every byte is eventually taken. */
static int read_partial(fixture *f, encodec_decoder *dec, int ch, const uint8_t *data,
                        size_t len, size_t max_piece, size_t extra, float **pcm,
                        size_t *n_samples)
{
    encodec_ecdc_reader *r;
    assert_int_equal(encodec_ecdc_reader_create(dec, &r), ENCODEC_OK);
    const size_t cap = encodec_ecdc_reader_min_samples(r) + extra;
    assert_true(cap > 0);
    float *buf = malloc(cap * ch * sizeof *buf), *out = NULL;
    size_t n = 0, pos = 0, used, got;
    int rc = ENCODEC_OK;
    if (len) /* less than the minimum: refused, nothing taken */
        assert_int_equal(encodec_ecdc_reader_push_partial(r, data, len, &used, buf,
                                                          cap - extra - 1, &got),
                         ENCODEC_EBUFFER);
    while (pos < len && rc == ENCODEC_OK) {
        size_t c = next_piece(f, len - pos, max_piece, 1);
        while (c > 0) {
            rc = encodec_ecdc_reader_push_partial(r, data + pos, c, &used, buf, cap, &got);
            if (rc < 0) {
                assert_int_equal(used + got, 0);
                break;
            }
            assert_true(used <= c && got <= cap && used + got > 0);
            out = realloc(out, ((n + got) * ch + 1) * sizeof *out);
            memcpy(out + n * ch, buf, got * ch * sizeof *out);
            n += got;
            pos += used;
            c -= used;
        }
    }
    int rc2 = encodec_ecdc_reader_finish(r, buf, cap, &got);
    if (rc == ENCODEC_OK) {
        rc = rc2;
        assert_int_equal(got, 0);
    }
    encodec_ecdc_reader_free(r);
    free(buf);
    *pcm = out;
    *n_samples = n;
    return rc;
}

static int decompress(side *s, const uint8_t *data, size_t len, float **pcm, size_t *n)
{
    *pcm = NULL;
    *n = 0;
    return encodec_decompress(s->dec2, data, len, pcm, n);
}

static void assert_same_audio(const float *a, size_t na, const float *b, size_t nb, int ch)
{
    assert_int_equal(na, nb);
    if (na)
        assert_memory_equal(a, b, na * ch * sizeof(float));
}

/* Read with several piece sizes (all at once, bytes, random); each must give
 * encodec_decompress()'s result. */
static void check_reads(fixture *f, side *s, const uint8_t *data, size_t len, int n_pieces)
{
    float *want = NULL, *got = NULL;
    size_t n_want = 0, n_got = 0;
    int rc_want = decompress(s, data, len, &want, &n_want);
    const size_t pieces[] = {0, rnd(f, 2, 64), 1, 3, 200};
    for (int i = 0; i < n_pieces; i++) {
        int rc = read_stream(f, s->dec, s->ch, data, len, pieces[i], &got, &n_got);
        assert_int_equal(rc, rc_want);
        if (rc == ENCODEC_OK)
            assert_same_audio(got, n_got, want, n_want, s->ch);
        free(got);
        /* a small output, decoded as far as it takes */
        rc = read_partial(f, s->dec, s->ch, data, len, pieces[i], i == 2 ? 0 : rnd(f, 0, 2000),
                          &got, &n_got);
        assert_int_equal(rc, rc_want);
        if (rc == ENCODEC_OK)
            assert_same_audio(got, n_got, want, n_want, s->ch);
        free(got);
    }
    encodec_buffer_free(want);
}

/* ---- writer: known length ---------------------------------------------------------------- */

static void check_writer_identity(fixture *f, side *s, const float *pcm, size_t n)
{
    size_t want_len = 0, len, c_len;
    uint8_t *want = reference_bytes(s, pcm, n, &want_len), *c = NULL;
    /* (encodec_compress refuses 48 kHz lengths whose second-to-last segment is short) */
    if (encodec_compress(s->enc, pcm, n, 0, &c, &c_len) == ENCODEC_OK) {
        assert_int_equal(c_len, want_len);
        assert_memory_equal(c, want, want_len);
    } else {
        print_message("encodec_compress refuses %zu samples\n", n);
    }
    encodec_buffer_free(c);
    const size_t pushes[] = {0, 1, 7, 320, 1000, 5000, 60000};
    for (size_t i = 0; i < sizeof pushes / sizeof *pushes; i++) {
        if (pushes[i] == 1 && n > 50000)
            continue; /* slow and adds nothing */
        uint8_t *b = write_stream(f, s->enc, pcm, n, s->ch, n, pushes[i], &len);
        assert_int_equal(len, want_len);
        assert_memory_equal(b, want, len);
        free(b);
    }
    free(want);
}

/* Each test starts from the golden files' bandwidths (a failed test may have left others). */
static fixture *start(void **state)
{
    fixture *f = *state;
    assert_int_equal(encodec_encoder_set_bandwidth(f->s24.enc, f->s24.bandwidth), ENCODEC_OK);
    assert_int_equal(encodec_encoder_set_bandwidth(f->s48.enc, f->s48.bandwidth), ENCODEC_OK);
    return f;
}

static void test_writer_golden(void **state)
{
    fixture *f = start(state);
    side *sides[] = {&f->s24, &f->s48};
    for (int i = 0; i < 2; i++) {
        side *s = sides[i];
        size_t len;
        uint8_t *b = write_stream(f, s->enc, s->excerpt, s->excerpt_len, s->ch, s->excerpt_len,
                                  777, &len);
        assert_int_equal(len, s->golden_len);
        assert_memory_equal(b, s->golden, len);
        free(b);
        check_writer_identity(f, s, s->excerpt, s->excerpt_len);
    }
}

/* Every bandwidth, and 48 kHz lengths around segment boundaries (short last segments, a
 * second-to-last segment that is not full). */
static void test_writer_lengths(void **state)
{
    fixture *f = start(state);
    const size_t l24[] = {1, 319, 320, 321, 2240, 9601};
    const size_t l48[] = {1, 300, 47520, 47521, 47620, 48000, 48001, 95040, 95041, 95540};
    float *x = make_signal(f, 100000, 2);
    for (int b = 0; b < encodec_model_num_bandwidths(f->s24.model); b++) {
        assert_int_equal(encodec_encoder_set_bandwidth(
                             f->s24.enc, encodec_model_bandwidth(f->s24.model, b)), ENCODEC_OK);
        for (size_t i = 0; i < sizeof l24 / sizeof *l24; i++)
            check_writer_identity(f, &f->s24, x, l24[i]);
    }
    for (int b = 0; b < encodec_model_num_bandwidths(f->s48.model); b += 3) {
        assert_int_equal(encodec_encoder_set_bandwidth(
                             f->s48.enc, encodec_model_bandwidth(f->s48.model, b)), ENCODEC_OK);
        for (size_t i = 0; i < sizeof l48 / sizeof *l48; i++)
            check_writer_identity(f, &f->s48, x, l48[i]);
    }
    assert_int_equal(encodec_encoder_set_bandwidth(f->s24.enc, f->s24.bandwidth), ENCODEC_OK);
    assert_int_equal(encodec_encoder_set_bandwidth(f->s48.enc, f->s48.bandwidth), ENCODEC_OK);
    free(x);
}

static void test_writer_errors(void **state)
{
    fixture *f = start(state);
    side *s = &f->s24;
    encodec_ecdc_writer *w = (encodec_ecdc_writer *)s;
    float x[2000];
    memset(x, 0, sizeof x);
    for (int i = 0; i < 2000; i++)
        x[i] = 0.3f * (float)((i * 37) % 100) / 100.0f;
    uint8_t out[4096];
    size_t got;

    assert_int_equal(encodec_ecdc_writer_create(NULL, 10, 0, &w), ENCODEC_EINVAL);
    assert_null(w);
    assert_int_equal(encodec_ecdc_writer_create(s->enc, 10, 0, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_create(s->enc, ((uint64_t)1 << 53) + 1, 0, &w),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_create(s->enc, 10, 2, &w), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_create(s->enc, 10, 1, &w), ENCODEC_EUNSUPPORTED);
    assert_null(w);
    encodec_ecdc_writer_free(NULL);
    assert_int_equal(encodec_ecdc_writer_max_bytes(NULL, 10), 0);

    /* announced 1000: too many samples, too early a finish, too small a buffer: nothing is
     * consumed, and the stream comes out exactly as encodec_compress() makes it */
    bytes b = {0};
    assert_int_equal(encodec_ecdc_writer_create(s->enc, 1000, 0, &w), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_writer_push(w, x, 1001, out, sizeof out, &got), ENCODEC_ELENGTH);
    assert_int_equal(encodec_ecdc_writer_push(w, NULL, 10, out, sizeof out, &got), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_push(w, x, 10, NULL, 10, &got), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_writer_push(w, x, 10, out, sizeof out, NULL), ENCODEC_EINVAL);
    size_t cap = encodec_ecdc_writer_max_bytes(w, 600);
    assert_true(cap > 0 && cap < sizeof out);
    assert_int_equal(encodec_ecdc_writer_push(w, x, 600, out, cap - 1, &got), ENCODEC_EBUFFER);
    assert_int_equal(got, 0);
    assert_int_equal(encodec_ecdc_writer_push(w, x, 600, room(&b, cap), cap, &got), ENCODEC_OK);
    b.len += got;
    assert_int_equal(encodec_ecdc_writer_finish(w, out, sizeof out, &got), ENCODEC_ELENGTH);
    assert_int_equal(encodec_ecdc_writer_push(w, x + 600, 401, out, sizeof out, &got),
                     ENCODEC_ELENGTH);
    /* the bandwidth is in the header: changing it mid-stream is refused */
    assert_int_equal(encodec_encoder_set_bandwidth(s->enc, 3.0f), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_writer_push(w, x + 600, 400, out, sizeof out, &got),
                     ENCODEC_ESTATE);
    assert_int_equal(encodec_encoder_set_bandwidth(s->enc, s->bandwidth), ENCODEC_OK);
    cap = encodec_ecdc_writer_max_bytes(w, 400);
    assert_int_equal(encodec_ecdc_writer_push(w, x + 600, 400, room(&b, cap), cap, &got),
                     ENCODEC_OK);
    b.len += got;
    cap = encodec_ecdc_writer_max_bytes(w, 0);
    assert_int_equal(encodec_ecdc_writer_finish(w, out, cap - 1, &got), ENCODEC_EBUFFER);
    assert_int_equal(encodec_ecdc_writer_finish(w, room(&b, cap), cap, &got), ENCODEC_OK);
    b.len += got;
    assert_int_equal(encodec_ecdc_writer_push(w, x, 1, out, sizeof out, &got), ENCODEC_ESTATE);
    assert_int_equal(encodec_ecdc_writer_push(w, x, 0, out, sizeof out, &got), ENCODEC_ESTATE);
    assert_int_equal(encodec_ecdc_writer_finish(w, out, sizeof out, &got), ENCODEC_OK);
    assert_int_equal(got, 0);
    assert_int_equal(encodec_ecdc_writer_max_bytes(w, 10), 0);
    encodec_ecdc_writer_free(w);
    uint8_t *want;
    size_t want_len;
    assert_int_equal(encodec_compress(s->enc, x, 1000, 0, &want, &want_len), ENCODEC_OK);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    encodec_buffer_free(want);
    free(b.data);

    /* a header-only finish of a known length is refused; of a live stream it is an empty
     * stream */
    assert_int_equal(encodec_ecdc_writer_create(s->enc, 5, 0, &w), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_writer_finish(w, out, sizeof out, &got), ENCODEC_ELENGTH);
    encodec_ecdc_writer_free(w);
}

/* ---- reader: known length ---------------------------------------------------------------- */

static void test_reader_golden(void **state)
{
    fixture *f = start(state);
    side *sides[] = {&f->s24, &f->s48};
    for (int i = 0; i < 2; i++) {
        side *s = sides[i];
        check_reads(f, s, s->golden, s->golden_len, 5);
        /* random piece sizes, several draws */
        float *want, *got;
        size_t n_want, n_got;
        assert_int_equal(decompress(s, s->golden, s->golden_len, &want, &n_want), ENCODEC_OK);
        assert_int_equal(n_want, s->excerpt_len);
        for (int round = 0; round < 10; round++) {
            assert_int_equal(read_stream(f, s->dec, s->ch, s->golden, s->golden_len,
                                         rnd(f, 1, 64), &got, &n_got),
                             ENCODEC_OK);
            assert_same_audio(got, n_got, want, n_want, s->ch);
            free(got);
        }
        encodec_buffer_free(want);
    }
    /* against the reference's own decoded audio too */
    tu_golden *g = tu_golden_open("tiny24.golden.safetensors");
    size_t n_ref, n;
    const float *ref = tu_golden_f32(g, "excerpt.bw1.5.decoded", NULL, NULL, &n_ref);
    float *pcm;
    assert_int_equal(read_stream(f, f->s24.dec, 1, f->s24.golden, f->s24.golden_len, 5, &pcm, &n),
                     ENCODEC_OK);
    assert_int_equal(n, 36000);
    assert_true(tu_max_abs_diff(pcm, ref, n) <= 1e-4);
    free(pcm);
    tu_golden_close(g);
}

/* Frame-major codes and per-frame scales of a known-length stream, via encodec_decompress's
 * reader: decode the golden codes through a streaming decoder, frame by frame, and record the
 * audio it has given after each frame. */
typedef struct {
    size_t *after;  /* [n_frames + 1] samples out after k frames */
    float *audio;   /* all of it, flushed */
    size_t n_audio;
} decoder_trace;

static void trace_decoder(side *s, const int32_t *codes, const float *scales, size_t n_frames,
                          int K, decoder_trace *tr)
{
    tr->after = calloc(n_frames + 1, sizeof *tr->after);
    size_t cap = (n_frames + 2) * 320;
    tr->audio = malloc(cap * s->ch * sizeof(float));
    size_t n = 0, got;
    assert_int_equal(encodec_decoder_reset(s->dec2), ENCODEC_OK);
    for (size_t t = 0; t < n_frames; t++) {
        assert_int_equal(encodec_decoder_push(s->dec2, codes + t * K, scales ? scales + t : NULL,
                                              1, K, tr->audio + n * s->ch, cap - n, &got),
                         ENCODEC_OK);
        n += got;
        tr->after[t + 1] = n;
    }
    assert_int_equal(encodec_decoder_flush(s->dec2, tr->audio + n * s->ch, cap - n, &got),
                     ENCODEC_OK);
    tr->n_audio = n + got;
    assert_int_equal(encodec_decoder_reset(s->dec2), ENCODEC_OK);
}

/* Byte by byte through the golden files: after each byte the reader has handed out exactly the
 * audio a streaming decoder gives for the frames whose last bit is in (all of it, trimmed,
 * once the last frame is in). Frame ends follow the reference layout (spec 7). */
static void check_latency(side *s, const char *golden, const char *const *tensors,
                          const size_t *seg_frames, int n_seg)
{
    tu_golden *g = tu_golden_open(golden);
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(s->golden, s->golden_len, &info), ENCODEC_OK);
    const int K = info.n_codebooks;
    size_t F = 0;
    for (int j = 0; j < n_seg; j++)
        F += seg_frames[j];
    int32_t *codes = malloc(F * K * sizeof *codes);
    float *scales = malloc(F * sizeof *scales);
    size_t *end = malloc(F * sizeof *end); /* bytes needed for frame t */
    const float *seg_scales = s->ch == 2 ? tu_golden_f32(g, "excerpt.scales", NULL, NULL, NULL)
                                         : NULL;
    size_t t0 = 0, pos = info.header_size;
    for (int j = 0; j < n_seg; j++) {
        int64_t shape[8];
        const int32_t *c = tu_golden_i32(g, tensors[j], shape, NULL, NULL); /* [K][T] */
        assert_int_equal(shape[0], K);
        assert_int_equal(shape[1], seg_frames[j]);
        if (seg_scales)
            pos += 4;
        for (size_t t = 0; t < seg_frames[j]; t++) {
            for (int k = 0; k < K; k++)
                codes[(t0 + t) * K + k] = c[(size_t)k * seg_frames[j] + t];
            scales[t0 + t] = seg_scales ? seg_scales[j] : 1.0f;
            end[t0 + t] = pos + ((t + 1) * K * 10 + 7) / 8;
        }
        pos += (seg_frames[j] * K * 10 + 7) / 8;
        t0 += seg_frames[j];
    }
    assert_int_equal(pos, s->golden_len);
    decoder_trace tr;
    trace_decoder(s, codes, seg_scales ? scales : NULL, F, K, &tr);

    encodec_ecdc_reader *r;
    assert_int_equal(encodec_ecdc_reader_create(s->dec, &r), ENCODEC_OK);
    float *out = malloc((tr.n_audio + 1) * s->ch * sizeof(float));
    size_t n = 0, done = 0, got;
    for (size_t p = 0; p < s->golden_len; p++) {
        size_t need = encodec_ecdc_reader_max_samples(r, 1);
        assert_int_equal(encodec_ecdc_reader_push(r, s->golden + p, 1,
                                                  need ? out + n * s->ch : NULL, need, &got),
                         ENCODEC_OK);
        n += got;
        while (done < F && end[done] <= p + 1)
            done++;
        size_t want = done == F ? info.audio_length : tr.after[done];
        if (want > info.audio_length)
            want = info.audio_length;
        assert_int_equal(n, want);
    }
    assert_int_equal(encodec_ecdc_reader_finish(r, NULL, 0, &got), ENCODEC_OK);
    assert_int_equal(got, 0);
    assert_memory_equal(out, tr.audio, n * s->ch * sizeof(float));
    encodec_ecdc_reader_free(r);
    free(out);
    free(tr.after);
    free(tr.audio);
    free(codes);
    free(scales);
    free(end);
    tu_golden_close(g);
}

static void test_reader_latency(void **state)
{
    fixture *f = start(state);
    const char *t24[] = {"excerpt.bw1.5.codes"};
    const size_t f24[] = {113};
    check_latency(&f->s24, "tiny24.golden.safetensors", t24, f24, 1);
    const char *t48[] = {"excerpt.bw3.seg0.codes", "excerpt.bw3.seg1.codes"};
    const size_t f48[] = {150, 6};
    check_latency(&f->s48, "tiny48.golden.safetensors", t48, f48, 2);
}

/* ---- damage ------------------------------------------------------------------------------ */

/* An exact-size copy (so that ASan sees any overread) fed to reader and decompress. */
static int read_copy(fixture *f, side *s, const uint8_t *data, size_t len, size_t max_piece)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    float *pcm;
    size_t n;
    int rc = read_stream(f, s->dec, s->ch, copy, len, max_piece, &pcm, &n);
    free(pcm);
    free(copy);
    return rc;
}

static uint8_t *with_metadata(const side *s, const char *json, size_t *len)
{
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(s->golden, s->golden_len, &info), ENCODEC_OK);
    size_t n = strlen(json), payload = s->golden_len - info.header_size;
    *len = 9 + n + payload;
    uint8_t *b = malloc(*len);
    memcpy(b, "ECDC\0\0\0", 7);
    b[7] = (uint8_t)(n >> 8);
    b[8] = (uint8_t)n;
    memcpy(b + 9, json, n);
    memcpy(b + 9 + n, s->golden + info.header_size, payload);
    return b;
}

static void test_reader_damage(void **state)
{
    fixture *f = start(state);
    side *sides[] = {&f->s24, &f->s48};
    for (int i = 0; i < 2; i++) {
        side *s = sides[i];
        /* every truncation point, whole and byte by byte */
        for (size_t cut = 0; cut < s->golden_len; cut++) {
            assert_int_equal(read_copy(f, s, s->golden, cut, 0), ENCODEC_EECDC_TRUNCATED);
            if (cut % 7 == 0)
                assert_int_equal(read_copy(f, s, s->golden, cut, 1), ENCODEC_EECDC_TRUNCATED);
        }
        /* trailing bytes */
        uint8_t *b = malloc(s->golden_len + 5);
        memcpy(b, s->golden, s->golden_len);
        memcpy(b + s->golden_len, "abcde", 5);
        for (size_t extra = 1; extra <= 5; extra++) {
            assert_int_equal(read_copy(f, s, b, s->golden_len + extra, 0), ENCODEC_EECDC_TRAILING);
            assert_int_equal(read_copy(f, s, b, s->golden_len + extra, 1), ENCODEC_EECDC_TRAILING);
        }
        /* one flipped bit in the header or the first scale, and in every few payload bytes:
         * the same verdict (and audio) as encodec_decompress */
        for (size_t p = 0; p < s->golden_len; p += p < 75 ? 1 : rnd(f, 1, 11)) {
            memcpy(b, s->golden, s->golden_len);
            b[p] ^= (uint8_t)(1u << rnd(f, 0, 7));
            check_reads(f, s, b, s->golden_len, p < 75 ? 2 : 1);
        }
        free(b);
        /* garbage, with and without a valid magic */
        for (int round = 0; round < 200; round++) {
            size_t len = rnd(f, 1, 600);
            uint8_t *g = malloc(len);
            for (size_t k = 0; k < len; k++)
                g[k] = (uint8_t)tu_rand(&f->rng);
            if (round % 2 && len > 5)
                memcpy(g, "ECDC\0", 5);
            assert_true(read_copy(f, s, g, len, rnd(f, 1, 50)) < 0 || round % 2);
            free(g);
        }
    }
    side *s = &f->s24;
    size_t len;
    /* another model's stream */
    assert_int_equal(read_copy(f, s, f->s48.golden, f->s48.golden_len, 0), ENCODEC_EECDC_MODEL);
    assert_int_equal(read_copy(f, &f->s48, s->golden, s->golden_len, 3), ENCODEC_EECDC_MODEL);
    uint8_t *b = with_metadata(
        s, "{\"m\": \"encodec_24khz\", \"al\": 36000, \"nc\": 2, \"lm\": false}", &len);
    assert_int_equal(read_copy(f, s, b, len, 0), ENCODEC_EECDC_MODEL);
    free(b);
    /* more codebooks than the model has (32) */
    b = with_metadata(s, "{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 33, \"lm\": false}", &len);
    assert_int_equal(read_copy(f, s, b, len, 1), ENCODEC_EECDC_MODEL);
    free(b);
    /* header problems */
    b = with_metadata(s, "{\"m\": \"tiny24\", \"al\": 36000, \"nc\": 2}", &len);
    assert_int_equal(read_copy(f, s, b, len, 2), ENCODEC_EECDC_HEADER);
    free(b);
    b = with_metadata(s, "{\"m\": \"tiny24\", \"al\": 0, \"nc\": 2, \"lm\": false}", &len);
    assert_int_equal(read_copy(f, s, b, len, 2), ENCODEC_EECDC_HEADER);
    free(b);
    b = with_metadata(
        s, "{\"m\": \"tiny24\", \"al\": 0, \"nc\": 2, \"lm\": false, \"live\": false}", &len);
    assert_int_equal(read_copy(f, s, b, len, 2), ENCODEC_EECDC_HEADER);
    free(b);
    /* LM-coded, and no LM here */
    size_t lm_len;
    uint8_t *lm = read_data("tiny24_excerpt_bw1.5_lm.ecdc", &lm_len);
    assert_int_equal(read_copy(f, s, lm, lm_len, 0), ENCODEC_EUNSUPPORTED);
    free(lm);
    b = malloc(s->golden_len);
    memcpy(b, s->golden, s->golden_len);
    b[0] = 'X';
    assert_int_equal(read_copy(f, s, b, 1, 0), ENCODEC_EECDC_MAGIC); /* known from 1 byte */
    b[0] = 'E';
    b[4] = 1;
    assert_int_equal(read_copy(f, s, b, s->golden_len, 1), ENCODEC_EECDC_VERSION);
    free(b);
}

static void test_reader_api(void **state)
{
    fixture *f = start(state);
    side *s = &f->s24;
    encodec_ecdc_reader *r = (encodec_ecdc_reader *)s;
    encodec_ecdc_info info;
    float pcm[64];
    size_t got;
    assert_int_equal(encodec_ecdc_reader_create(NULL, &r), ENCODEC_EINVAL);
    assert_null(r);
    assert_int_equal(encodec_ecdc_reader_create(s->dec, NULL), ENCODEC_EINVAL);
    encodec_ecdc_reader_free(NULL);
    assert_int_equal(encodec_ecdc_reader_max_samples(NULL, 5), 0);
    assert_int_equal(encodec_ecdc_reader_create(s->dec, &r), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_reader_info(r, NULL), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push(r, NULL, 3, pcm, 64, &got), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden, 3, NULL, 64, &got), ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden, 3, pcm, 64, NULL), ENCODEC_EINVAL);
    /* header bytes yield no audio: no output buffer needed */
    encodec_ecdc_info pi;
    assert_int_equal(encodec_ecdc_probe(s->golden, s->golden_len, &pi), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_max_samples(r, 9), 0);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden, 9, NULL, 0, &got), ENCODEC_OK);
    assert_int_equal(got, 0);
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_EECDC_TRUNCATED);
    assert_int_equal(encodec_ecdc_reader_max_samples(r, pi.header_size - 9), 0);
    assert_true(encodec_ecdc_reader_max_samples(r, pi.header_size - 8) > 0);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden + 9, pi.header_size - 9, NULL, 0,
                                              &got),
                     ENCODEC_OK);
    assert_int_equal(got, 0);
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_OK);
    assert_string_equal(info.model_name, "tiny24");
    assert_int_equal(info.audio_length, 36000);
    assert_int_equal(info.n_codebooks, 2);
    assert_int_equal(info.use_lm, 0);
    assert_int_equal(info.header_size, pi.header_size);
    /* too small an output buffer: nothing consumed */
    const size_t rest = s->golden_len - pi.header_size;
    size_t need = encodec_ecdc_reader_max_samples(r, rest);
    assert_true(need >= 36000);
    float *out = malloc(need * sizeof(float));
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden + pi.header_size, rest, out, need - 1,
                                              &got),
                     ENCODEC_EBUFFER);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden + pi.header_size, rest, out, need,
                                              &got),
                     ENCODEC_OK);
    assert_int_equal(got, 36000);
    float *want;
    size_t n_want;
    assert_int_equal(decompress(s, s->golden, s->golden_len, &want, &n_want), ENCODEC_OK);
    assert_same_audio(out, got, want, n_want, 1);
    encodec_buffer_free(want);
    assert_int_equal(encodec_ecdc_reader_max_samples(r, 10), 0);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden, 0, NULL, 0, &got), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_finish(r, NULL, 0, &got), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_finish(r, NULL, 0, &got), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_push(r, s->golden, 1, out, need, &got), ENCODEC_ESTATE);
    size_t used = 7;
    assert_int_equal(encodec_ecdc_reader_push_partial(r, s->golden, 1, &used, out, need, &got),
                     ENCODEC_ESTATE);
    assert_int_equal(used + got, 0);
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_OK);
    encodec_ecdc_reader_free(r);
    /* push_partial: arguments, and the smallest output */
    assert_int_equal(encodec_ecdc_reader_min_samples(NULL), 0);
    assert_int_equal(encodec_ecdc_reader_create(s->dec, &r), ENCODEC_OK);
    const size_t min = encodec_ecdc_reader_min_samples(r);
    assert_true(min >= 320 && min <= need);
    assert_int_equal(encodec_ecdc_reader_push_partial(NULL, s->golden, 3, &used, out, min, &got),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push_partial(r, s->golden, 3, NULL, out, min, &got),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push_partial(r, NULL, 3, &used, out, min, &got),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push_partial(r, s->golden, 3, &used, out, min, NULL),
                     ENCODEC_EINVAL);
    assert_int_equal(encodec_ecdc_reader_push_partial(r, s->golden, 3, &used, out, min - 1,
                                                      &got),
                     ENCODEC_EBUFFER);
    assert_int_equal(used + got, 0);
    /* with the smallest output, a whole-stream call stops where the output is full */
    assert_int_equal(encodec_ecdc_reader_push_partial(r, s->golden, s->golden_len, &used, out,
                                                      min, &got),
                     ENCODEC_OK);
    assert_true(used < s->golden_len && got > 0 && got <= min);
    encodec_ecdc_reader_free(r);
    free(out);
}

/* ---- live streams ------------------------------------------------------------------------ */

/* Live write of n samples; checks the header and that the reference layout's tools refuse
 * it. */
static uint8_t *write_live(fixture *f, side *s, const float *pcm, size_t n, size_t max_push,
                           size_t *len)
{
    uint8_t *b = write_stream(f, s->enc, pcm, n, s->ch, 0, max_push, len);
    char want[128];
    snprintf(want, sizeof want,
             "{\"m\": \"%s\", \"al\": 0, \"nc\": %d, \"lm\": false, \"live\": true}",
             encodec_model_name(s->model), encodec_encoder_codebooks(s->enc));
    const size_t n_meta = strlen(want);
    assert_true(*len >= 9 + n_meta);
    assert_memory_equal(b, "ECDC\0", 5);
    assert_int_equal(((size_t)b[5] << 24) | ((size_t)b[6] << 16) | ((size_t)b[7] << 8) | b[8],
                     n_meta);
    assert_memory_equal(b + 9, want, n_meta);
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_probe(b, *len, &info), ENCODEC_EECDC_HEADER);
    float *pcm_out;
    size_t n_out;
    assert_int_equal(decompress(s, b, *len, &pcm_out, &n_out), ENCODEC_EECDC_HEADER);
    return b;
}

/* Live round trips for lengths, push sizes and piece sizes: the audio of the known-length
 * file, bit for bit; for 48 kHz the live file is the known-length file with the header changed
 * and the end mark and length inserted before the segments the flush made. */
static void check_live(fixture *f, side *s, const float *pcm, size_t n, int thorough)
{
    uint8_t *known = NULL;
    size_t known_len = 0;
    float *want = NULL, *got;
    size_t n_want = 0, n_got, len;
    if (n) {
        known = reference_bytes(s, pcm, n, &known_len);
        assert_int_equal(decompress(s, known, known_len, &want, &n_want), ENCODEC_OK);
    }
    const size_t pushes[] = {0, 5, 333, 4000, 50000};
    for (size_t i = 0; i < sizeof pushes / sizeof *pushes; i++) {
        uint8_t *b = write_live(f, s, pcm, n, pushes[i], &len);
        const size_t pieces[] = {rnd(f, 2, 100), 0, 1};
        for (int j = 0; j < (thorough ? 3 : 1); j++) {
            assert_int_equal(read_stream(f, s->dec, s->ch, b, len, pieces[j], &got, &n_got),
                             ENCODEC_OK);
            assert_int_equal(n_got, n);
            assert_same_audio(got, n_got, want, n_want, s->ch);
            free(got);
        }
        if (s->ch == 2 && n) {
            encodec_ecdc_info info;
            assert_int_equal(encodec_ecdc_probe(known, known_len, &info), ENCODEC_OK);
            const size_t stride = 47520, seg = 48000;
            const size_t full = n >= seg ? (n - seg) / stride + 1 : 0;
            const size_t x = full * (4 + (150 * (size_t)info.n_codebooks * 10 + 7) / 8);
            const size_t hl = 9 + (size_t)b[8] + ((size_t)b[7] << 8);
            assert_int_equal(len, hl + known_len - info.header_size + 12);
            assert_memory_equal(b + hl, known + info.header_size, x);
            assert_memory_equal(b + hl + x, "\xff\xff\xff\xff", 4);
            for (int k = 0; k < 8; k++)
                assert_int_equal(b[hl + x + 4 + k], (uint8_t)(n >> (56 - 8 * k)));
            assert_memory_equal(b + hl + x + 12, known + info.header_size + x,
                                known_len - info.header_size - x);
        }
        /* every truncation point fails as such */
        if (i == 2 && thorough)
            for (size_t cut = 0; cut < len; cut++)
                assert_int_equal(read_copy(f, s, b, cut, cut % 3 ? 0 : 1),
                                 ENCODEC_EECDC_TRUNCATED);
        if (i == 3 && thorough) { /* trailing bytes, and damage never crashes */
            uint8_t *t = malloc(len + 1);
            memcpy(t, b, len);
            t[len] = 0;
            assert_int_equal(read_copy(f, s, t, len + 1, 1), ENCODEC_EECDC_TRAILING);
            for (int round = 0; round < 100; round++) {
                memcpy(t, b, len);
                t[rnd(f, 0, len - 1)] ^= (uint8_t)(1u << rnd(f, 0, 7));
                read_copy(f, s, t, len, rnd(f, 0, 30));
            }
            free(t);
        }
        free(b);
    }
    free(known);
    encodec_buffer_free(want);
}

static void test_live24(void **state)
{
    fixture *f = start(state);
    check_live(f, &f->s24, f->s24.excerpt, f->s24.excerpt_len, 1);
    float *x = make_signal(f, 10000, 1);
    const size_t lengths[] = {0, 1, 319, 320, 321, 2240, 2241, 9600, 9999};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
        check_live(f, &f->s24, x, lengths[i], lengths[i] == 0 || lengths[i] == 321);
    assert_int_equal(encodec_encoder_set_bandwidth(f->s24.enc, 6.0f), ENCODEC_OK);
    check_live(f, &f->s24, x, 9999, 0);
    assert_int_equal(encodec_encoder_set_bandwidth(f->s24.enc, f->s24.bandwidth), ENCODEC_OK);
    free(x);
}

static void test_live48(void **state)
{
    fixture *f = start(state);
    check_live(f, &f->s48, f->s48.excerpt, f->s48.excerpt_len, 1);
    float *x = make_signal(f, 100000, 2);
    const size_t lengths[] = {0, 1, 300, 47520, 47521, 48000, 48001, 95040, 95541};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
        check_live(f, &f->s48, x, lengths[i], lengths[i] == 0 || lengths[i] == 300);
    free(x);
}

/* Push by push: the reader hands out, for the bytes of each writer push, exactly what a
 * streaming decoder gives for the frames the encoder returned to that push. */
static void check_live_latency(fixture *f, side *s, const float *pcm, size_t n)
{
    encodec_ecdc_writer *w;
    encodec_ecdc_reader *r;
    assert_int_equal(encodec_ecdc_writer_create(s->enc, 0, 0, &w), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_create(s->dec, &r), ENCODEC_OK);
    assert_int_equal(encodec_encoder_reset(s->enc2), ENCODEC_OK);
    assert_int_equal(encodec_decoder_reset(s->dec2), ENCODEC_OK);
    const int K = encodec_encoder_codebooks(s->enc2);
    const size_t fcap = encodec_encoder_max_frames(s->enc2, n) + 1;
    int32_t *codes = malloc(fcap * K * sizeof *codes);
    float *scales = malloc(fcap * sizeof *scales);
    const size_t acap = (fcap + 1) * 320 + 48000;
    float *want = malloc(acap * s->ch * sizeof(float)), *got = malloc(acap * s->ch * sizeof(float));
    size_t n_want = 0, n_got = 0, done = 0;
    bytes b = {0};
    for (int last = 0; !last;) {
        size_t c = next_piece(f, n - done, 3000, 0), nf, na, cap, len;
        last = done == n && rnd(f, 0, 3) == 0;
        cap = encodec_ecdc_writer_max_bytes(w, last ? 0 : c);
        if (last) {
            assert_int_equal(encodec_ecdc_writer_finish(w, room(&b, cap), cap, &len), ENCODEC_OK);
            assert_int_equal(encodec_encoder_flush(s->enc2, codes, scales, fcap, &nf), ENCODEC_OK);
        } else {
            assert_int_equal(encodec_ecdc_writer_push(w, pcm + done * s->ch, c, room(&b, cap), cap,
                                                      &len),
                             ENCODEC_OK);
            assert_int_equal(encodec_encoder_push(s->enc2, pcm + done * s->ch, c, codes, scales,
                                                  fcap, &nf),
                             ENCODEC_OK);
            done += c;
        }
        assert_int_equal(encodec_decoder_push(s->dec2, codes, scales, nf, K, want + n_want * s->ch,
                                              acap - n_want, &na),
                         ENCODEC_OK);
        n_want += na;
        if (last) {
            assert_int_equal(encodec_decoder_flush(s->dec2, want + n_want * s->ch, acap - n_want,
                                                   &na),
                             ENCODEC_OK);
            n_want += na;
            if (n_want > n)
                n_want = n;
        }
        size_t need = encodec_ecdc_reader_max_samples(r, len);
        assert_true(n_got + need <= acap);
        assert_int_equal(encodec_ecdc_reader_push(r, b.data + b.len, len,
                                                  need ? got + n_got * s->ch : NULL, need, &na),
                         ENCODEC_OK);
        b.len += len;
        n_got += na;
        assert_int_equal(n_got, n_want);
    }
    size_t na;
    assert_int_equal(encodec_ecdc_reader_finish(r, NULL, 0, &na), ENCODEC_OK);
    assert_int_equal(n_got, n);
    assert_memory_equal(got, want, n * s->ch * sizeof(float));
    encodec_ecdc_info info;
    assert_int_equal(encodec_ecdc_reader_info(r, &info), ENCODEC_OK);
    assert_int_equal(info.audio_length, n);
    encodec_ecdc_writer_free(w);
    encodec_ecdc_reader_free(r);
    free(codes);
    free(scales);
    free(want);
    free(got);
    free(b.data);
}

static void test_live_latency(void **state)
{
    fixture *f = start(state);
    for (int round = 0; round < 4; round++) {
        check_live_latency(f, &f->s24, f->s24.excerpt, f->s24.excerpt_len);
        check_live_latency(f, &f->s48, f->s48.excerpt, f->s48.excerpt_len);
    }
}

static const char live24[] =
    "{\"m\": \"tiny24\", \"al\": 0, \"nc\": 2, \"lm\": false, \"live\": true}";

static void pack_header(packer *p, const char *json)
{
    const uint8_t fixed[9] = {'E', 'C', 'D', 'C', 0, 0, 0, 0, (uint8_t)strlen(json)};
    pack_bytes(p, fixed, 9);
    pack_bytes(p, (const uint8_t *)json, strlen(json));
}

/* A hand-made 24 kHz live stream: `live` flagged frames (a sync after every sync_every-th), the
 * end, length al, then `tail` plain frames. Its audio must be the decode of those codes. */
static int check_handmade(fixture *f, size_t live, size_t sync_every, uint64_t al, size_t tail,
                          int expect)
{
    side *s = &f->s24;
    packer p = {0};
    pack_header(&p, live24);
    const size_t F = live + tail;
    int32_t *codes = malloc((F + 1) * 2 * sizeof *codes);
    for (size_t i = 0; i < F * 2; i++)
        codes[i] = (int32_t)(tu_rand(&f->rng) % 1024);
    int last_sync = 0;
    for (size_t t = 0; t < live; t++) {
        pack(&p, 1, 1);
        pack(&p, (uint32_t)codes[2 * t], 10);
        pack(&p, (uint32_t)codes[2 * t + 1], 10);
        last_sync = 0;
        if (sync_every && t % sync_every == sync_every - 1) {
            pack(&p, 0, 1); /* a sync: zero bits to the byte boundary */
            pack_align(&p);
            last_sync = 1;
        }
    }
    if (!last_sync) {
        pack(&p, 0, 1);
        pack_align(&p);
    }
    pack(&p, 0, 8); /* the second sync */
    pack_length(&p, al);
    for (size_t t = live; t < F; t++) {
        pack(&p, (uint32_t)codes[2 * t], 10);
        pack(&p, (uint32_t)codes[2 * t + 1], 10);
    }
    pack_align(&p);
    float *got;
    size_t n_got;
    int rc = read_stream(f, s->dec, 1, p.b.data, p.b.len, rnd(f, 0, 5), &got, &n_got);
    assert_int_equal(rc, expect);
    if (rc == ENCODEC_OK) {
        assert_int_equal(n_got, al);
        if (F) {
            float *want = malloc((F * 320 + 1) * sizeof(float));
            size_t n_want;
            assert_int_equal(encodec_decode(s->dec2, codes, NULL, F, 2, want, F * 320, &n_want),
                             ENCODEC_OK);
            assert_true(n_want >= al);
            assert_same_audio(got, n_got, want, (size_t)al, 1);
            free(want);
        }
    }
    free(got);
    free(codes);
    free(p.b.data);
    return rc;
}

static void test_live_format(void **state)
{
    fixture *f = start(state);
    /* well-formed: the length decides how many frames follow the end */
    check_handmade(f, 10, 0, 3200, 0, ENCODEC_OK);
    check_handmade(f, 10, 3, 3200, 0, ENCODEC_OK);
    check_handmade(f, 10, 1, 3201, 1, ENCODEC_OK);
    check_handmade(f, 10, 4, 3520, 1, ENCODEC_OK);
    check_handmade(f, 0, 0, 0, 0, ENCODEC_OK);
    check_handmade(f, 0, 0, 700, 3, ENCODEC_OK);
    check_handmade(f, 8, 0, 8 * 320 + 5, 1, ENCODEC_OK); /* 8 frames of 21 bits: aligned */
    /* frames before the end must lie inside the length */
    check_handmade(f, 10, 2, 3199, 0, ENCODEC_EECDC_HEADER);
    check_handmade(f, 1, 0, 0, 0, ENCODEC_EECDC_HEADER);
    check_handmade(f, 0, 0, ((uint64_t)1 << 53) + 1, 0, ENCODEC_EECDC_HEADER);
    /* the tail must hold exactly the frames the length implies */
    check_handmade(f, 10, 0, 3201, 0, ENCODEC_EECDC_TRUNCATED);
    check_handmade(f, 10, 0, 3200, 1, ENCODEC_EECDC_TRAILING);

    /* 48 kHz: the end mark in place of the first scale; then a length that leaves a full
     * segment before the mark is refused */
    side *s = &f->s48;
    size_t len;
    float *x = make_signal(f, 49440, 2);
    uint8_t *b = write_live(f, s, x, 49440, 0, &len);
    const size_t hl = 9 + b[8];
    const size_t x0 = hl + 4 + (150 * 2 * 10 + 7) / 8; /* one full segment, then the mark */
    assert_memory_equal(b + x0, "\xff\xff\xff\xff", 4);
    b[x0 + 11] = 100; /* length 100: the full segment does not fit */
    for (int k = 4; k < 11; k++)
        b[x0 + k] = 0;
    assert_int_equal(read_copy(f, s, b, len, 0), ENCODEC_EECDC_HEADER);
    b[x0 + 4] = 0x80; /* beyond 2^53 */
    assert_int_equal(read_copy(f, s, b, len, 1), ENCODEC_EECDC_HEADER);
    free(b);
    free(x);
}

/* A long 48 kHz stream of random codes laid out as the reference does (test_reader_long48). */
static uint8_t *random_stream48(fixture *f, side *s, size_t n, size_t *len)
{
    const int K = encodec_encoder_codebooks(s->enc);
    char json[160];
    snprintf(json, sizeof json, "{\"m\": \"%s\", \"al\": %zu, \"nc\": %d, \"lm\": false}",
             encodec_model_name(s->model), n, K);
    packer p = {0};
    const uint8_t fixed[9] = {'E', 'C', 'D', 'C', 0, 0, 0, 0, (uint8_t)strlen(json)};
    pack_bytes(&p, fixed, 9);
    pack_bytes(&p, (const uint8_t *)json, strlen(json));
    const float scale = 0.25f;
    uint32_t bits;
    memcpy(&bits, &scale, 4);
    for (size_t off = 0; off < n; off += 47520) {
        const size_t ls = n - off < 48000 ? n - off : 48000, frames = (ls + 319) / 320;
        for (int k = 0; k < 4; k++)
            pack(&p, (uint8_t)(bits >> (24 - 8 * k)), 8);
        for (size_t i = 0; i < frames * (size_t)K; i++)
            pack(&p, (uint32_t)rnd(f, 0, 1023), 10);
        pack_align(&p);
    }
    *len = p.b.len;
    return p.b.data;
}

/* Segments overlap, so the audio of the frames read is less than a hop per frame: the output
 * bound must not grow with the stream (a smallest buffer decodes two minutes). */
static void test_reader_long48(void **state)
{
    fixture *f = start(state);
    side *s = &f->s48;
    const size_t n = 48000 * 125 + 4321;
    size_t len, n_want, n_got;
    uint8_t *b = random_stream48(f, s, n, &len);
    float *want, *got;
    assert_int_equal(decompress(s, b, len, &want, &n_want), ENCODEC_OK);
    assert_int_equal(n_want, n);
    assert_int_equal(read_partial(f, s->dec, s->ch, b, len, 4000, 0, &got, &n_got), ENCODEC_OK);
    assert_same_audio(got, n_got, want, n_want, s->ch);
    free(got);
    encodec_buffer_free(want);
    free(b);
}

/* ---- entropy-coded (LM) streams ---------------------------------------------------------- */

static void check_lm_side(fixture *f, side *s, const char *model, const char *lm,
                          const float *pcm, size_t n)
{
    /* a model of its own with the LM attached; the fixture's has none */
    encodec_model *m = tu_load_model(model);
    char *path = tu_data_path(lm), msg[256];
    assert_int_equal(encodec_model_load_lm_file(m, path, msg, sizeof msg), ENCODEC_OK);
    free(path);
    encodec_encoder *enc;
    encodec_decoder *dec;
    assert_int_equal(encodec_encoder_create(m, &enc), ENCODEC_OK);
    assert_int_equal(encodec_decoder_create(m, &dec), ENCODEC_OK);
    assert_int_equal(encodec_encoder_set_bandwidth(enc, s->bandwidth), ENCODEC_OK);

    uint8_t *want, *got;
    size_t want_len, len;
    assert_int_equal(encodec_compress(enc, pcm, n, 1, &want, &want_len), ENCODEC_OK);
    const size_t pushes[] = {0, 320, 4999};
    for (int i = 0; i < 3; i++) { /* the writer's bytes are encodec_compress()'s */
        assert_int_equal(encodec_encoder_set_threads(enc, 1 + i % 2), ENCODEC_OK);
        got = write_stream_lm(f, enc, pcm, n, s->ch, n, pushes[i], 1, &len);
        assert_int_equal(len, want_len);
        assert_memory_equal(got, want, len);
        free(got);
    }
    assert_int_equal(encodec_encoder_set_threads(enc, 1), ENCODEC_OK);

    float *audio, *a;
    size_t n_audio, n_a;
    assert_int_equal(encodec_decompress(dec, want, want_len, &audio, &n_audio), ENCODEC_OK);
    assert_int_equal(n_audio, n);
    const size_t pieces[] = {0, 1, 3, 200};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(read_partial(f, dec, s->ch, want, want_len, pieces[i],
                                      i == 1 ? 0 : rnd(f, 0, 3000), &a, &n_a),
                         ENCODEC_OK);
        assert_same_audio(a, n_a, audio, n_audio, s->ch);
        free(a);
    }
    /* a plain push works once the header is in, with the bound for the rest of the stream */
    assert_int_equal(read_stream(f, dec, s->ch, want, want_len, 1, &a, &n_a), ENCODEC_OK);
    assert_same_audio(a, n_a, audio, n_audio, s->ch);
    free(a);
    /* truncated anywhere: what came is the start of the audio, then TRUNCATED */
    for (int i = 0; i < 5; i++) {
        size_t cut = rnd(f, 0, want_len - 1);
        assert_int_equal(read_partial(f, dec, s->ch, want, cut, 0, 0, &a, &n_a),
                         ENCODEC_EECDC_TRUNCATED);
        assert_true(n_a <= n_audio);
        assert_same_audio(a, n_a, audio, n_a, s->ch);
        free(a);
    }
    encodec_buffer_free(audio);

    /* refused: live LM streams, a model without an LM either way */
    encodec_ecdc_writer *w;
    encodec_ecdc_reader *r;
    assert_int_equal(encodec_ecdc_writer_create(enc, 0, 1, &w), ENCODEC_EUNSUPPORTED);
    assert_int_equal(encodec_ecdc_writer_create(s->enc, n, 1, &w), ENCODEC_EUNSUPPORTED);
    assert_null(w);
    assert_int_equal(encodec_ecdc_reader_create(s->dec, &r), ENCODEC_OK);
    size_t used, n_out, head = 9 + (size_t)want[7] * 256 + want[8];
    assert_int_equal(encodec_ecdc_reader_push(r, want, 9, NULL, 0, &n_out), ENCODEC_OK);
    assert_int_equal(encodec_ecdc_reader_push(r, want + 9, head - 9, NULL, 0, &n_out),
                     ENCODEC_EUNSUPPORTED);
    encodec_ecdc_reader_free(r);
    char json[128];
    snprintf(json, sizeof json, "{\"m\": \"%s\", \"al\": 0, \"nc\": 2, \"lm\": true, "
             "\"live\": true}", encodec_model_name(m));
    uint8_t *live = with_metadata(s, json, &len);
    assert_int_equal(encodec_ecdc_reader_create(dec, &r), ENCODEC_OK);
    float *big = malloc(encodec_ecdc_reader_min_samples(r) * s->ch * sizeof *big);
    assert_int_equal(encodec_ecdc_reader_push_partial(r, live, len, &used, big,
                                                      encodec_ecdc_reader_min_samples(r),
                                                      &n_out),
                     ENCODEC_EUNSUPPORTED);
    assert_int_equal(used, 0);
    free(big);
    free(live);
    encodec_ecdc_reader_free(r);

    encodec_buffer_free(want);
    encodec_encoder_free(enc);
    encodec_decoder_free(dec);
    encodec_model_free(m);
}

static void test_lm_streams(void **state)
{
    fixture *f = start(state);
    float *x = make_signal(f, 100000, 2);
    check_lm_side(f, &f->s24, "tiny24.safetensors", "tiny24_lm.safetensors", f->s24.excerpt,
                  f->s24.excerpt_len);
    check_lm_side(f, &f->s24, "tiny24.safetensors", "tiny24_lm.safetensors", x, 9601);
    check_lm_side(f, &f->s48, "tiny48.safetensors", "tiny48_lm.safetensors", f->s48.excerpt,
                  f->s48.excerpt_len);
    check_lm_side(f, &f->s48, "tiny48.safetensors", "tiny48_lm.safetensors", x, 95540);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_golden),
        cmocka_unit_test(test_writer_lengths),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_reader_golden),
        cmocka_unit_test(test_reader_latency),
        cmocka_unit_test(test_reader_damage),
        cmocka_unit_test(test_reader_api),
        cmocka_unit_test(test_live24),
        cmocka_unit_test(test_live48),
        cmocka_unit_test(test_live_latency),
        cmocka_unit_test(test_live_format),
        cmocka_unit_test(test_reader_long48),
        cmocka_unit_test(test_lm_streams),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
